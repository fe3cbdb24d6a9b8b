using Netmem.Devices;
using Netmem.Memory;

namespace Netmem.Stack.Tcp;

// MSG_ZEROCOPY (tcp_sendmsg_locked's zerocopy branch, msg_zerocopy_realloc) and the socket's error queue.
public sealed partial class TcpConnection
{
    private SocketErrorQueue? _errorQueue;
    private uint _zckey;                  // sk_zckey: the next send id
    private ZerocopyUbuf? _lastUbuf;      // the completion the last zero-copy send used, which the next may extend
    private long _lastUbufEnd;            // where its bytes end in the stream
    private readonly Stack<ZerocopyUbuf> _ubufPool = new(); // locked: completions return them from any thread

    /// <summary>
    /// <c>sk_error_queue</c>: zero-copy completions (and any other out-of-band report). Each report raises
    /// <see cref="TcpEvents.Error"/> on the connection's thread, so sockets and pollers wake (POLLERR).
    /// </summary>
    public SocketErrorQueue ErrorQueue
    {
        get
        {
            var q = Volatile.Read(ref _errorQueue);
            if (q is not null) return q;
            var fresh = new SocketErrorQueue();
            var work = new ErrorReportWork(this);
            fresh.Reported = work.Post;
            return Interlocked.CompareExchange(ref _errorQueue, fresh, null) ?? fresh;
        }
    }

    /// <summary><c>sk_zckey</c>: the id the next zero-copy send that queues bytes will take.</summary>
    public uint ZerocopyNextId => _zckey;

    /// <summary>The send queue (for senders of other memory kinds on this thread: devmem TX).</summary>
    internal TcpSendBuffer? SendBuffer => _sndBuf;

    /// <summary>
    /// <c>tcp_sendmsg</c> with MSG_ZEROCOPY over user memory at native addresses (pinned by the caller, or by
    /// <paramref name="pin"/>, which the completion releases). Queues up to the free send buffer without copying:
    /// each iovec element is its own frag (adjacent pieces of one page share one), pages described by the
    /// <see cref="UserPageTable"/>. Returns the bytes queued, or a negative errno as <see cref="Send(ReadOnlySpan{byte}, bool, bool)"/>.
    /// A call that queues bytes takes the next send id (consecutive sends whose bytes are still unsent share one
    /// completion, as <c>msg_zerocopy_realloc</c> extends it) and takes <paramref name="pin"/>; one that queues
    /// nothing or fails takes neither. Small sends are not copied (Linux's TCP does not either); a route without
    /// scatter-gather copies now and the completion says COPIED. Without <see cref="TcpSettings.ZeroCopy"/>
    /// (SO_ZEROCOPY) the flag is ignored as Linux ignores it: the bytes are copied, no id, no completion, and
    /// <paramref name="pin"/> is not taken.
    /// </summary>
    public int SendZeroCopy(ReadOnlySpan<UserIov> iov, IZerocopyPin? pin, bool endOfRecord = false, bool more = false)
    {
        if (Error != Errno.None) return -(int)(Error == Errno.ECONNRESET || Error == Errno.ETIMEDOUT ? Error : Errno.EPIPE);
        if (_finQueued) return -(int)Errno.EPIPE;
        if (State is TcpState.Closed or TcpState.Listen) return -(int)Errno.ENOTCONN;
        long total = 0;
        foreach (var v in iov)
        {
            if (v.Length < 0 || (v.Address == 0 && v.Length > 0)) return -(int)Errno.EFAULT;
            total += v.Length;
        }
        if (!Settings.ZeroCopy) return SendIgnoringZerocopy(iov, endOfRecord, more);
        var sndBuf = _sndBuf!;
        int limit = (int)Math.Min(total, sndBuf.Free);
        if (limit <= 0) return 0;

        bool copy = LinearRoute;
        var ubuf = ExtendOrStartUbuf(limit, copy, out _);
        int done = QueueUserMemory(sndBuf, iov, limit, ubuf, copy);
        return FinishZerocopySend(ubuf, done, pin, copy, endOfRecord && done == total, more);
    }

    /// <summary>
    /// <c>msg_zerocopy_realloc</c>: the last send's completion again when its bytes are the unsent tail of the
    /// queue (the skb they are in has not gone yet), it covers fewer than 65535 ids and
    /// <paramref name="bytes"/> more keep it within SO_SNDBUF; else a fresh one from the pool. The caller holds
    /// one reference either way, which <see cref="FinishZerocopySend"/> drops. A devmem send (<paramref name="devmem"/>)
    /// extends only a devmem send's completion and vice versa, so one skb never mixes dma-buf and host memory.
    /// </summary>
    internal ZerocopyUbuf ExtendOrStartUbuf(long bytes, bool copy, out bool extended, bool devmem = false)
    {
        var last = _lastUbuf;
        if (last is not null && last.Len > 0 && last.Id + last.Len == _zckey && _sndBuf!.EndPos == _lastUbufEnd
            && _lastUbufEnd > PosOfSeq(_sndMax) && last.Len < ushort.MaxValue - 1 && last.Bytes + bytes <= _sndBuf.Capacity
            && last.Zerocopy == !copy && last.Devmem == devmem && last.RefCount > 0)
        {
            last.Get();
            extended = true;
            return last;
        }
        extended = false;
        ZerocopyUbuf? u;
        lock (_ubufPool) _ubufPool.TryPop(out u);
        u ??= new ZerocopyUbuf(this);
        u.Start(_zckey);
        u.Devmem = devmem;
        return u;
    }

    /// <summary>
    /// After queueing <paramref name="done"/> bytes under <paramref name="ubuf"/>: a send that queued bytes takes
    /// its id (sk_zckey++) and the pin, the caller's reference goes, and the send is pushed as any write
    /// (<see cref="Send(ReadOnlySpan{byte}, bool, bool)"/>'s tail). Returns <paramref name="done"/>.
    /// </summary>
    internal int FinishZerocopySend(ZerocopyUbuf ubuf, int done, IZerocopyPin? pin, bool copied, bool endOfRecord, bool more)
    {
        if (done > 0)
        {
            ubuf.Len++;
            ubuf.Bytes += done;
            _zckey++;
            if (pin is not null) ubuf.AddPin(pin);
            if (copied) { ubuf.MarkCopied(); TcpStats.Inc(ref _layer.Stats.ZerocopyCopiedSends); }
            _lastUbuf = ubuf;
            _lastUbufEnd = _sndBuf!.EndPos;
            TcpStats.Inc(ref _layer.Stats.ZerocopySends);
        }
        ubuf.Put(); // a fresh one that queued nothing completes here: Len 0, no report, back to the pool
        if (done > 0) FinishWrite(done, endOfRecord, more);
        return done;
    }

    // Queues up to limit bytes of the iovec: user pages by reference (one descriptor per page run), or copies.
    private int QueueUserMemory(TcpSendBuffer sndBuf, ReadOnlySpan<UserIov> iov, int limit, ZerocopyUbuf ubuf, bool copy)
    {
        int done = 0;
        var table = UserPageTable.Shared;
        NetmemRef page = default;
        nint pageAddr = 0;
        foreach (var v in iov)
        {
            if (done == limit) break;
            int len = Math.Min(v.Length, limit - done);
            if (copy)
            {
                int n = sndBuf.Append(UserMemory.AsSpan(v.Address, len), len, ubuf);
                done += n;
                if (n < len) break;
                continue;
            }
            int off = 0;
            while (off < len)
            {
                nint a = v.Address + off;
                nint pa = a & ~(nint)(PageArena.PageSize - 1);
                int inPage = (int)(a - pa);
                int n = Math.Min(len - off, PageArena.PageSize - inPage);
                if (page.IsNull || pa != pageAddr)
                {
                    if (!page.IsNull) page.Put(); // the extents hold it now (or nothing does: it goes back)
                    ubuf.Get();                   // the descriptor's reference, dropped when its last put comes
                    page = table.Map(pa, ubuf);
                    pageAddr = pa;
                }
                if (sndBuf.AppendNetmem(page, inPage, n, ubuf) == 0) goto full;
                off += n;
                done += n;
            }
        }
    full:
        if (!page.IsNull) page.Put();
        return done;
    }

    // SO_ZEROCOPY off: Linux ignores MSG_ZEROCOPY, so this is an ordinary copying send of the iovec.
    private int SendIgnoringZerocopy(ReadOnlySpan<UserIov> iov, bool endOfRecord, bool more)
    {
        TcpStats.Inc(ref _layer.Stats.ZerocopyIgnored);
        var sndBuf = _sndBuf!;
        int done = 0;
        foreach (var v in iov)
        {
            int n = sndBuf.Append(UserMemory.AsSpan(v.Address, v.Length));
            done += n;
            if (n < v.Length) { endOfRecord = false; break; }
        }
        if (done > 0) FinishWrite(done, endOfRecord, more);
        return done;
    }

    /// <summary>What every write does once bytes are queued: busy time, record end, push mark, transmit.</summary>
    internal void FinishWrite(int queued, bool endOfRecord, bool more)
    {
        var sndBuf = _sndBuf!;
        if (queued > 0) _chrono.Start(TcpChronoType.Busy, _ctx.NowUs); // tcp_add_write_queue_tail
        if (endOfRecord) PushRecordEnd(sndBuf.EndPos);
        if (!more) _pushMarkPos = sndBuf.EndPos; // tcp_mark_push on the tail
        if (State is TcpState.Established or TcpState.CloseWait || _passiveFastOpen) WriteXmit(cork: more);
    }

    internal void ReturnUbuf(ZerocopyUbuf ubuf)
    {
        lock (_ubufPool) _ubufPool.Push(ubuf);
    }

    /// <summary>Wakes the connection's socket on its own thread after an error-queue report from any thread.</summary>
    private sealed class ErrorReportWork(TcpConnection c) : StackWork
    {
        public void Post() => c._ctx.Post(this);
        protected internal override void Run(StackContext context) => c.Notify(TcpEvents.Error);
    }
}
