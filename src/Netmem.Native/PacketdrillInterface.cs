using System.Runtime.InteropServices;

namespace Netmem.Native;

/// <summary>
/// packetdrill's <c>struct packetdrill_interface</c> (gtests/net/packetdrill/packetdrill.h), re-declared:
/// a userdata pointer and then function pointers in this exact order, each taking the userdata first.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PacketdrillInterface
{
    public nint Userdata;
    public nint Free;
    public nint Socket;
    public nint Bind;
    public nint Listen;
    public nint Accept;
    public nint Connect;
    public nint Read;
    public nint Readv;
    public nint Recv;
    public nint Recvfrom;
    public nint Recvmsg;
    public nint Write;
    public nint Writev;
    public nint Send;
    public nint Sendto;
    public nint Sendmsg;
    public nint Fcntl;
    public nint Ioctl;
    public nint Close;
    public nint Shutdown;
    public nint Getsockopt;
    public nint Setsockopt;
    public nint Poll;
    public nint NetdevSend;
    public nint NetdevReceive;
    public nint Usleep;
    public nint Gettimeofday;
    public nint EpollCreate;
    public nint EpollCtl;
    public nint EpollWait;
    public nint Pipe;
    public nint Splice;
}

/// <summary>Linux x86-64 <c>struct iovec</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct IoVec
{
    public nint Base;
    public nuint Len;
}

/// <summary>Linux x86-64 <c>struct msghdr</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct MsgHdr
{
    public nint Name;
    public uint NameLen;
    public nint Iov;
    public nuint IovLen;
    public nint Control;
    public nuint ControlLen;
    public int Flags;
}

/// <summary>Linux <c>struct pollfd</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PollFd
{
    public int Fd;
    public short Events;
    public short Revents;
}

/// <summary>Linux x86-64 <c>struct epoll_event</c> (packed: 12 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct EpollEvent
{
    public uint Events;
    public ulong Data;
}
