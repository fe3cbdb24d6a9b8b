using Netmem.Skb;
using Netmem.Stack.Tcp;

namespace Netmem.Sockets;

/// <summary>
/// The zero-copy lease's read actor (<c>tcp_read_sock</c> with an actor that keeps references, as splice
/// does): each piece of the bytes offered becomes a lease segment holding one reference on its netmem.
/// Stops when the lease is full (at a piece boundary) and at a readable/unreadable boundary.
/// </summary>
internal readonly struct TcpLeaseActor(TcpReceiveLease lease) : ITcpReadActor
{
    public int Read(SkBuff skb, int offset, int length)
    {
        bool readable = !skb.AnyUnreadable;
        if (lease.Count > 0 && lease.IsReadable != readable) return 0; // one kind per lease
        int used = 0;
        var pieces = new SkbPieceEnumerator(skb, offset, length);
        while (pieces.MoveNext())
        {
            if (lease.IsFull) return used;
            var p = pieces.Current;
            // A head buffer is returned the way a frag of a recycling skb is (page_pool or page reference).
            lease.Add(p.Netmem, p.Offset, p.Length, p.IsLinear || p.Owner.PpRecycle, readable);
            used += p.Length;
        }
        if (pieces.Nested && used == 0) return -(int)Errno.EINVAL;
        return used;
    }
}
