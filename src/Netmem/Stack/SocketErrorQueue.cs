namespace Netmem.Stack;

/// <summary>
/// <c>sk_error_queue</c>: records a socket reports out of band (MSG_ERRQUEUE), oldest first. Zero-copy
/// completions coalesce as Linux's <c>skb_zerocopy_notify_extend</c> does: a range that starts right after
/// the tail's range (and keeps the total below 2^32 ids) extends the tail instead of queueing a record, so
/// a steady sender finds one record however many sends completed; the tail's code is kept. Any thread may
/// report (a completion runs where the last reference to the memory drops); one lock guards the queue, as
/// the kernel's queue spinlock does. <see cref="Reports"/> counts <c>sk_error_report</c> wake-ups, so an
/// edge-triggered poller can tell a new report from one it has seen, even when the report coalesced.
/// </summary>
public sealed class SocketErrorQueue
{
    private readonly Lock _lock = new();
    private SockExtendedErr[] _items = new SockExtendedErr[4];
    private int _head, _count;
    private long _reports;

    /// <summary>Called after each report, outside the lock (sk_error_report): wake pollers and readers.</summary>
    public Action? Reported { get; set; }

    /// <summary>Whether a MSG_ERRQUEUE read would return a record (POLLERR).</summary>
    public bool IsEmpty => Volatile.Read(ref _count) == 0;

    public int Count => Volatile.Read(ref _count);

    /// <summary>How many reports (each a wake-up) there have been, coalesced ones included.</summary>
    public long Reports => Interlocked.Read(ref _reports);

    /// <summary>Zero-copy completions merged into the tail record instead of queued.</summary>
    public long Coalesced { get; private set; }

    /// <summary><c>__msg_zerocopy_callback</c>'s queueing: send ids [lo, lo + len - 1] completed.</summary>
    public void ReportZerocopy(uint lo, uint len, bool copied)
    {
        if (len == 0) return;
        lock (_lock)
        {
            if (!TryExtendTail(lo, len)) Enqueue(SockExtendedErr.Zerocopy(lo, lo + len - 1, copied));
            else Coalesced++;
            _reports++;
        }
        Reported?.Invoke();
    }

    /// <summary>Queues any other record (<c>sock_queue_err_skb</c>).</summary>
    public void Report(in SockExtendedErr err)
    {
        lock (_lock)
        {
            Enqueue(err);
            _reports++;
        }
        Reported?.Invoke();
    }

    /// <summary>A MSG_ERRQUEUE read: the oldest record, or false (EAGAIN) when there is none.</summary>
    public bool TryDequeue(out SockExtendedErr err)
    {
        lock (_lock)
        {
            if (_count == 0) { err = default; return false; }
            err = _items[_head];
            _items[_head] = default;
            _head = (_head + 1) % _items.Length;
            _count--;
            return true;
        }
    }

    /// <summary>The oldest record without taking it (MSG_PEEK).</summary>
    public bool TryPeek(out SockExtendedErr err)
    {
        lock (_lock)
        {
            err = _count == 0 ? default : _items[_head];
            return _count != 0;
        }
    }

    private bool TryExtendTail(uint lo, uint len)
    {
        if (_count == 0) return false;
        ref var tail = ref _items[(_head + _count - 1) % _items.Length];
        if (!tail.IsZerocopy) return false;
        uint oldLo = tail.Info, oldHi = tail.Data;
        ulong sum = (ulong)(oldHi - oldLo) + 1 + len;
        if (sum >= 1UL << 32 || lo != oldHi + 1) return false;
        tail = tail with { Data = oldHi + len };
        return true;
    }

    private void Enqueue(in SockExtendedErr err)
    {
        if (_count == _items.Length)
        {
            var n = new SockExtendedErr[_items.Length * 2]; // grows only while nobody reads; coalescing keeps it short
            for (int i = 0; i < _count; i++) n[i] = _items[(_head + i) % _items.Length];
            _items = n;
            _head = 0;
        }
        _items[(_head + _count) % _items.Length] = err;
        Volatile.Write(ref _count, _count + 1);
    }
}
