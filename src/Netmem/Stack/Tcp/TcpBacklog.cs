using Netmem.Skb;

namespace Netmem.Stack.Tcp;

/// <summary>
/// Segments for one connection that arrived on another context's RX queue (a steering change, a
/// reassembled datagram), queued for the connection's own context, as RPS's <c>enqueue_to_backlog</c>
/// hands a packet to another CPU. Any thread enqueues; the owner drains in arrival order. Rare, so a lock.
/// </summary>
internal sealed class TcpBacklog(TcpConnection connection) : StackWork
{
    /// <summary>Segments held at most (beyond that they are dropped and counted as <see cref="TcpDropReason.BacklogFull"/>).</summary>
    public const int Limit = 1024;

    private readonly Lock _lock = new();
    private SkBuff? _head, _tail;
    private int _count;

    /// <summary>Queues <paramref name="skb"/> (data at the TCP header) and wakes the owner; false when full.</summary>
    public bool Enqueue(SkBuff skb)
    {
        lock (_lock)
        {
            if (_count >= Limit) return false;
            skb.Next = null;
            if (_tail is null) _head = skb; else _tail.Next = skb;
            _tail = skb;
            _count++;
        }
        connection.Context.Post(this);
        return true;
    }

    protected internal override void Run(StackContext context)
    {
        SkBuff? list;
        lock (_lock)
        {
            list = _head;
            _head = _tail = null;
            _count = 0;
        }
        while (list is not null)
        {
            var skb = list;
            list = skb.Next;
            skb.Next = null;
            connection.Layer.ReceiveHandedOff(connection, skb);
        }
    }
}
