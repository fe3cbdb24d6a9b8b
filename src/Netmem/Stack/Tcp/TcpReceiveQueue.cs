using Netmem.Skb;

namespace Netmem.Stack.Tcp;

/// <summary>
/// <c>sk_read_actor_t</c>: what a read of the receive queue does with each piece of in-order data.
/// <see cref="TcpReceiveQueue.Read{TActor}"/> offers it a range of one queued skb (offset relative to
/// skb->data; the skb stays the queue's, so the actor takes references on what it keeps).
/// </summary>
internal interface ITcpReadActor
{
    /// <summary>
    /// Returns the bytes used (0 .. <paramref name="length"/>): fewer than offered ends the read (the
    /// actor is full, or stops at a readable/unreadable boundary). A negative errno ends it with that
    /// error, which the caller sees only when nothing was read before it (tcp_recvmsg's rule).
    /// </summary>
    int Read(SkBuff skb, int offset, int length);
}

/// <summary>
/// <c>sk_receive_queue</c> with <c>copied_seq</c>: the in-order skbs the application has not read, and how
/// far into the first one it has read. <see cref="Read{TActor}"/> is the one walk over them
/// (<c>tcp_read_sock</c> / the loop of <c>tcp_recvmsg_locked</c>): the copying receive, the zero-copy
/// lease and devmem receive are actors on it. An skb is freed as soon as it is read to its end, so
/// nothing a reader kept (a lease's or a token's netmem reference) pins the skb or its head.
/// Single-threaded: the connection's context owns it.
/// </summary>
internal sealed class TcpReceiveQueue
{
    private SkBuff? _head, _tail;
    private int _headOffset; // bytes of _head already read (copied_seq - TCP_SKB_CB(head)->seq)

    /// <summary>Unread bytes queued.</summary>
    public long Bytes { get; private set; }
    public bool IsEmpty => _head is null;
    /// <summary>Skbs queued.</summary>
    public int Count { get; private set; }
    /// <summary>Reads ended at a readable/unreadable boundary or by an actor's error (counted per reason by the callers).</summary>
    public long ShortReads { get; private set; }

    /// <summary><c>__skb_queue_tail</c> (<c>tcp_queue_rcv</c>).</summary>
    public void Enqueue(SkBuff skb)
    {
        skb.Next = null;
        if (_tail is null) _head = skb; else _tail.Next = skb;
        _tail = skb;
        Bytes += skb.Len;
        Count++;
    }

    /// <summary>
    /// Walks the queue from the first unread byte, offering <paramref name="actor"/> at most
    /// <paramref name="maxBytes"/>. Skbs read to their end are freed (<c>tcp_eat_recv_skb</c>). Returns
    /// the bytes read; <paramref name="error"/> is the actor's errno when it stopped the walk with one.
    /// </summary>
    public int Read<TActor>(ref TActor actor, int maxBytes, out Errno error) where TActor : ITcpReadActor, allows ref struct
    {
        error = Errno.None;
        int done = 0;
        while (done < maxBytes && _head is not null)
        {
            var skb = _head;
            int avail = skb.Len - _headOffset;
            int want = Math.Min(avail, maxBytes - done);
            int used = actor.Read(skb, _headOffset, want);
            if (used < 0)
            {
                error = (Errno)(-used);
                ShortReads++;
                break;
            }
            done += used;
            Bytes -= used;
            _headOffset += used;
            if (_headOffset == skb.Len) FreeHead();
            if (used < want)
            {
                ShortReads++;
                break;
            }
        }
        return done;
    }

    /// <summary>Frees everything queued (close, reset).</summary>
    public void Purge()
    {
        while (_head is not null) FreeHead();
        Bytes = 0;
    }

    private void FreeHead()
    {
        var skb = _head!;
        _head = skb.Next;
        if (_head is null) _tail = null;
        skb.Next = null;
        _headOffset = 0;
        Count--;
        skb.Free();
    }
}
