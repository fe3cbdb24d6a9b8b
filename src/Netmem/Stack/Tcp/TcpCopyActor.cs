using Netmem.Skb;

namespace Netmem.Stack.Tcp;

/// <summary>
/// The copying receive's read actor (<c>skb_copy_datagram_msg</c>): copies readable bytes into the caller's
/// buffer. Unreadable data (net_iov frags anywhere in the skb's chain) is refused with EFAULT and stays
/// queued, as <c>tcp_recvmsg_locked</c> does without MSG_SOCK_DEVMEM.
/// </summary>
internal ref struct TcpCopyActor(Span<byte> into) : ITcpReadActor
{
    private readonly Span<byte> _into = into;
    private int _done;

    public int Read(SkBuff skb, int offset, int length)
    {
        if (skb.AnyUnreadable) return -(int)Errno.EFAULT;
        skb.CopyBits(offset, _into.Slice(_done, length));
        _done += length;
        return length;
    }
}
