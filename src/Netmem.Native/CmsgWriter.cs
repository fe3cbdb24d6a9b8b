using System.Runtime.InteropServices;
using static Netmem.Native.LinuxAbi;

namespace Netmem.Native;

/// <summary>
/// <c>put_cmsg</c> into a caller's <c>msg_control</c> (glibc x86-64 layout: a 16-byte cmsghdr, entries
/// CMSG_SPACE apart). A cmsg that does not fit is cut and MSG_CTRUNC set, as the kernel does; devmem
/// records are only written when they fit whole (put_cmsg_notrunc), so they are never cut.
/// </summary>
internal unsafe ref struct CmsgWriter(MsgHdr* msg)
{
    private readonly MsgHdr* _msg = msg;
    private readonly nuint _size = msg->Control == 0 ? 0 : msg->ControlLen;

    /// <summary>Bytes written so far (what msg_controllen becomes).</summary>
    public nuint Used { get; private set; }

    public void Put(int level, int type, scoped ReadOnlySpan<byte> data)
    {
        nuint left = _size - Used;
        if (left < (nuint)CmsgHdrSize)
        {
            _msg->Flags |= MSG_CTRUNC;
            return;
        }
        nuint len = (nuint)CmsgLen(data.Length);
        if (left < len)
        {
            _msg->Flags |= MSG_CTRUNC;
            len = left;
        }
        byte* c = (byte*)_msg->Control + Used;
        *(nuint*)c = len;
        *(int*)(c + 8) = level;
        *(int*)(c + 12) = type;
        data[..(int)(len - (nuint)CmsgHdrSize)].CopyTo(new Span<byte>(c + CmsgHdrSize, (int)(len - (nuint)CmsgHdrSize)));
        Used += Math.Min((nuint)CmsgSpace(data.Length), left);
    }
}

/// <summary><c>struct netdev_queue_id</c> as bind-rx takes it here: { __u32 type (NETDEV_QUEUE_TYPE_RX = 0); __u32 id; }.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NetdevQueueId
{
    public uint Type;
    public uint Id;
}
