using Netmem.Skb;
using Netmem.Stack.Tcp;
using Netmem.Zcrx;

namespace Netmem.Sockets;

/// <summary>
/// io_uring zero-copy receive's read actor (<c>io_zcrx_recv_skb</c>): each net_iov frag of the interface
/// queue becomes a completion holding one pp reference and one user reference on it; bytes in the skb's
/// head (the packet was not header split) or in page frags (it landed on another queue, or in host pages)
/// are copied into fresh area buffers (the copy fallback). A net_iov of another provider is EFAULT. Stops
/// when the completion buffer is full; with nothing read that is ENOSPC (ENOMEM when the area has no free
/// buffer for a copy).
/// </summary>
internal ref struct TcpZcrxActor(ZcrxIfq ifq, Span<ZcrxCompletion> into) : ITcpReadActor
{
    private readonly ZcrxIfq _ifq = ifq;
    private readonly Span<ZcrxCompletion> _into = into;
    public int Count;
    /// <summary>Zero-copy completions and their bytes in this read (counted by the caller once).</summary>
    public int ZeroCopy;
    public long ZeroCopyBytes;

    public int Read(SkBuff skb, int offset, int length)
    {
        int used = 0;
        var pieces = new SkbPieceEnumerator(skb, offset, length);
        while (pieces.MoveNext())
        {
            var p = pieces.Current;
            if (Count == _into.Length) return Stop(used, Errno.ENOSPC);
            if (p.Netmem.IsNetIov)
            {
                if (!_ifq.OwnsPoolNetIov(p.Netmem))
                {
                    _ifq.CountForeign();
                    return Stop(used, Errno.EFAULT);
                }
                _into[Count++] = _ifq.CompleteZeroCopy(p.Netmem, p.Offset, p.Length);
                ZeroCopy++;
                ZeroCopyBytes += p.Length;
                used += p.Length;
                continue;
            }
            int n = _ifq.CopyChunk(p.Netmem.GetSpan(p.Offset, p.Length), _into, ref Count, p.IsLinear);
            if (n < 0) return Stop(used, (Errno)(-n));
            used += n;
            if (n < p.Length) return used;
        }
        if (pieces.Nested && used == 0) return -(int)Errno.EINVAL;
        return used;
    }

    // What was read stands; with nothing read in the whole call, the reason is the error.
    private readonly int Stop(int used, Errno why) => used > 0 || Count > 0 ? used : -(int)why;
}
