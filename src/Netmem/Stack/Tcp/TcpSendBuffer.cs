using System.Numerics;
using System.Runtime.CompilerServices;
using Netmem.Memory;
using Netmem.Skb;

namespace Netmem.Stack.Tcp;

/// <summary>
/// The send queue's bytes (<c>sk_write_queue</c> + <c>tcp_rtx_queue</c> payload) as a run of extents in
/// stream order, each a piece of one netmem holding a reference on it (and on its completion, if any) until
/// snd.una passes it, so a retransmission references the same memory again. Three kinds live side by side:
/// <list type="bullet">
/// <item>copied bytes: application bytes copied once into host pages the buffer fills in turn (the kernel's
/// <c>sk_page_frag</c>); consecutive copies into the same page are one extent;</item>
/// <item>user memory (MSG_ZEROCOPY): pages of a <see cref="UserPageTable"/>, with the send's completion;</item>
/// <item>any netmem (<see cref="AppendNetmem"/>): net_iovs of a TX binding (devmem TX).</item>
/// </list>
/// Segments are cut at transmit time: <see cref="FitFrags"/> says how much of a range fits an skb
/// (MAX_SKB_FRAGS frags, one completion), <see cref="AddFrags"/> points the skb's frags at it. Stream
/// positions are 64-bit byte counts from the first data byte.
/// </summary>
public sealed class TcpSendBuffer : IDisposable
{
    private const int PageSize = PageArena.PageSize;
    private readonly PageArena _arena;
    private SendExtent[] _ext;   // ring, power-of-two length
    private int _head, _count;
    private NetmemRef _copyPage; // the page copies fill (one reference of the buffer's own), and how far
    private int _copyOff;

    /// <summary>
    /// How far past <see cref="Capacity"/> <see cref="Append(ReadOnlySpan{byte}, int)"/> may fill: one skb of the
    /// largest size goal, since Linux checks sk_sndbuf only when a write starts a new skb.
    /// </summary>
    public const int MaxOvershoot = 65536;

    public TcpSendBuffer(PageArena arena, int capacity)
    {
        _arena = arena ?? throw new ArgumentNullException(nameof(arena));
        Capacity = capacity;
        _ext = new SendExtent[(int)Math.Min(1 << 16, BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, (capacity + MaxOvershoot) / PageSize + 2)))];
    }

    /// <summary>SO_SNDBUF in bytes: unacknowledged plus unsent bytes may not exceed it.</summary>
    public int Capacity { get; private set; }
    /// <summary>Stream position of snd.una's byte.</summary>
    public long AckedPos { get; private set; }
    /// <summary>Stream position after the last byte written (write_seq).</summary>
    public long EndPos { get; private set; }
    public int Bytes => (int)(EndPos - AckedPos);
    public int Free => Math.Max(0, Capacity - Bytes);
    /// <summary>Netmem references the buffer holds: one per extent, plus the page copies are filling.</summary>
    public int PagesHeld => _count + (_copyPage.IsNull ? 0 : 1);
    /// <summary>Extents queued (copied runs, user pieces, netmem pieces).</summary>
    public int Extents => _count;
    /// <summary>Bytes <see cref="Append(ReadOnlySpan{byte}, int)"/> and <see cref="CopyOut"/> copied (the TX path's copies).</summary>
    public long CopiedBytes { get; private set; }
    /// <summary>The most bytes one more write may queue: the capacity plus the overshoot a started skb allows.</summary>
    public int Room => (int)Math.Max(0, (long)Capacity + MaxOvershoot - Bytes);

    public void SetCapacity(int capacity) => Capacity = capacity;

    /// <summary>Copies as much of <paramref name="data"/> as fits (capacity and free arena pages allow); returns the count.</summary>
    public int Append(ReadOnlySpan<byte> data) => Append(data, Free);

    /// <summary>
    /// Copies up to <paramref name="limit"/> bytes of <paramref name="data"/> whatever the capacity says, up to
    /// <see cref="MaxOvershoot"/> past it (the caller checked the capacity when it started the skb these bytes fill).
    /// </summary>
    public int Append(ReadOnlySpan<byte> data, int limit) => Append(data, limit, null);

    /// <summary>
    /// <see cref="Append(ReadOnlySpan{byte}, int)"/> whose extents also hold <paramref name="ubuf"/> (a zero-copy
    /// send that had to copy: its completion still waits for the ACK, as the kernel's skb keeps its uarg).
    /// </summary>
    public int Append(ReadOnlySpan<byte> data, int limit, UbufInfo? ubuf)
    {
        int done = 0;
        int room = Math.Min(Math.Min(limit, data.Length), Room);
        while (done < room)
        {
            if (_copyPage.IsNull || _copyOff == PageSize)
            {
                var p = _arena.AllocPages();
                if (p.IsNull) break; // arena exhausted: the caller waits like for a full buffer
                if (!_copyPage.IsNull) _copyPage.Put();
                _copyPage = p;
                _copyOff = 0;
            }
            int n = Math.Min(room - done, PageSize - _copyOff);
            data.Slice(done, n).CopyTo(_copyPage.GetSpan(_copyOff, n));
            if (!TryExtendTail(_copyPage, _copyOff, n, ubuf))
            {
                _copyPage.Get();
                Push(_copyPage, _copyOff, n, ubuf);
            }
            _copyOff += n;
            done += n;
        }
        CopiedBytes += done;
        return done;
    }

    /// <summary>
    /// Queues [<paramref name="offset"/>, +<paramref name="length"/>) of <paramref name="netmem"/> (a user page or a
    /// net_iov, within one page) without copying: the buffer takes its own reference on the netmem (for a net_iov,
    /// its area's and binding's) and on <paramref name="ubuf"/>, both dropped when the bytes are acknowledged.
    /// Returns the bytes queued: all of them, or 0 when the buffer is <see cref="MaxOvershoot"/> past its capacity.
    /// </summary>
    public int AppendNetmem(NetmemRef netmem, int offset, int length, UbufInfo? ubuf)
    {
        if (netmem.IsNull) throw new ArgumentException("a null netmem cannot be queued", nameof(netmem));
        int size = PageSize << netmem.Order;
        if (offset < 0 || length <= 0 || offset + (long)length > size)
            throw new ArgumentOutOfRangeException(nameof(length), $"[{offset}, {offset + (long)length}) is not inside the {size}-byte {netmem}");
        if (length > Room) return 0;
        if (!TryExtendTail(netmem, offset, length, ubuf))
        {
            netmem.Get();
            Push(netmem, offset, length, ubuf);
        }
        return length;
    }

    // The tail extent continues in the same memory with the same completion: it grows, no new reference.
    private bool TryExtendTail(NetmemRef netmem, int offset, int length, UbufInfo? ubuf)
    {
        if (_count == 0) return false;
        ref var t = ref At(_count - 1);
        if (t.Netmem != netmem || t.Offset + t.Length != offset || !ReferenceEquals(t.Ubuf, ubuf) || t.Pos + t.Length != EndPos) return false;
        t.Length += length;
        EndPos += length;
        return true;
    }

    private void Push(NetmemRef netmem, int offset, int length, UbufInfo? ubuf)
    {
        if (_count == _ext.Length) Grow();
        ubuf?.Get();
        At(_count) = new SendExtent { Netmem = netmem, Offset = offset, Length = length, Pos = EndPos, Ubuf = ubuf };
        _count++;
        EndPos += length;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow()
    {
        var n = new SendExtent[_ext.Length * 2];
        for (int i = 0; i < _count; i++) n[i] = At(i);
        _ext = n;
        _head = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref SendExtent At(int i) => ref _ext[(_head + i) & (_ext.Length - 1)];

    /// <summary>The extent holding byte <paramref name="pos"/> (binary search; the caller checked the range).</summary>
    private int Find(long pos)
    {
        int lo = 0, hi = _count - 1;
        // Transmission mostly reads the unsent tail and retransmission the head: try both ends first.
        if (At(hi).Pos <= pos) return hi;
        if (At(lo).Pos + At(lo).Length > pos) return lo;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >> 1;
            if (At(mid).Pos <= pos) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    /// <summary>snd.una moved to <paramref name="pos"/>: extents wholly below it let go of their memory and completions.</summary>
    public void Ack(long pos)
    {
        if (pos <= AckedPos) return;
        if (pos > EndPos) pos = EndPos;
        AckedPos = pos;
        while (_count > 0)
        {
            ref var e = ref At(0);
            if (e.Pos + e.Length > AckedPos) break;
            var (netmem, ubuf) = (e.Netmem, e.Ubuf);
            e = default;
            _head = (_head + 1) & (_ext.Length - 1);
            _count--;
            netmem.Put();
            ubuf?.Put();
        }
    }

    /// <summary>
    /// How many bytes of [<paramref name="pos"/>, +<paramref name="len"/>) one skb can carry: at most
    /// <paramref name="maxFrags"/> frags (adjacent pieces of one netmem share a frag) and one completion
    /// (the kernel never puts two sends' <c>ubuf_info</c> in one skb). <paramref name="cut"/> is true when
    /// either stopped it short: that skb ended early, so it carries PSH (<c>tcp_mark_push</c>).
    /// </summary>
    public int FitFrags(long pos, int len, int maxFrags, out bool cut) => Walk(pos, len, maxFrags, oneUbuf: true, out cut, out _);

    /// <summary>How many frags <see cref="AddFrags"/> would use for the range (whatever its completions).</summary>
    public int FragsFor(long pos, int len)
    {
        Walk(pos, len, int.MaxValue, oneUbuf: false, out _, out int frags);
        return frags;
    }

    /// <summary>Walks the range's extents as AddFrags would cut them into frags, stopping at <paramref name="maxFrags"/> or (with <paramref name="oneUbuf"/>) a second completion.</summary>
    private int Walk(long pos, int len, int maxFrags, bool oneUbuf, out bool cut, out int frags)
    {
        cut = false;
        frags = 0;
        if (len <= 0) return 0;
        CheckRange(pos, len);
        int i = Find(pos), done = 0, lastEnd = -1;
        NetmemRef last = default;
        UbufInfo? u = null;
        while (done < len)
        {
            ref var e = ref At(i);
            int inExt = (int)(pos + done - e.Pos);
            int n = Math.Min(len - done, e.Length - inExt);
            int off = e.Offset + inExt;
            if (oneUbuf && e.Ubuf is not null)
            {
                if (u is not null && !ReferenceEquals(u, e.Ubuf)) { cut = true; break; }
                u = e.Ubuf;
            }
            if (frags == 0 || e.Netmem != last || off != lastEnd)
            {
                if (frags == maxFrags) { cut = true; break; }
                frags++;
            }
            last = e.Netmem;
            lastEnd = off + n;
            done += n;
            i++;
        }
        return done;
    }

    /// <summary>
    /// Appends frags for bytes [<paramref name="pos"/>, +<paramref name="len"/>) to <paramref name="skb"/> (each
    /// takes a reference on its netmem; pieces continuing the previous frag extend it) and grows its length; the
    /// skb takes a reference on the range's completion. The range must lie in the buffer and fit
    /// (<see cref="FitFrags"/>).
    /// </summary>
    public void AddFrags(SkBuff skb, long pos, int len)
    {
        CheckRange(pos, len);
        if (len <= 0) return;
        var sh = skb.Shinfo;
        int i = Find(pos);
        while (len > 0)
        {
            ref var e = ref At(i++);
            int inExt = (int)(pos - e.Pos);
            int n = Math.Min(len, e.Length - inExt);
            int off = e.Offset + inExt;
            if (e.Ubuf is not null) sh.SetUbuf(e.Ubuf);
            int nf = sh.NrFrags;
            if (skb.CanCoalesce(nf, e.Netmem, off)) skb.CoalesceRxFrag(nf - 1, n, n);
            else
            {
                e.Netmem.Get();
                skb.AddRxFragNetmem(e.Netmem, off, n, n);
            }
            pos += n;
            len -= n;
        }
    }

    /// <summary>
    /// Copies bytes [<paramref name="pos"/>, +<paramref name="into"/>.Length) out (a linear skb for a device
    /// without scatter-gather); <paramref name="skb"/> takes a reference on the range's completion, which is
    /// marked copied. The range must be readable (<see cref="IsReadable"/>).
    /// </summary>
    public void CopyOut(long pos, Span<byte> into, SkBuff skb)
    {
        CheckRange(pos, into.Length);
        if (into.Length == 0) return;
        int i = Find(pos);
        var sh = skb.Shinfo;
        int done = 0;
        while (done < into.Length)
        {
            ref var e = ref At(i++);
            int inExt = (int)(pos + done - e.Pos);
            int n = Math.Min(into.Length - done, e.Length - inExt);
            e.Netmem.GetSpan(e.Offset + inExt, n).CopyTo(into.Slice(done, n));
            if (e.Ubuf is not null)
            {
                sh.SetUbuf(e.Ubuf);
                e.Ubuf.MarkCopied();
            }
            done += n;
        }
        CopiedBytes += done;
    }

    /// <summary>Whether the CPU may read all of [<paramref name="pos"/>, +<paramref name="len"/>) (no device memory in it).</summary>
    public bool IsReadable(long pos, int len)
    {
        CheckRange(pos, len);
        if (len <= 0) return true;
        long end = pos + len;
        for (int i = Find(pos); i < _count && At(i).Pos < end; i++)
            if (!At(i).Netmem.IsReadable) return false;
        return true;
    }

    private void CheckRange(long pos, int len)
    {
        if (pos < AckedPos || pos + len > EndPos)
            throw new ArgumentOutOfRangeException(nameof(pos), $"send buffer holds [{AckedPos}, {EndPos}), asked [{pos}, {pos + len})");
    }

    /// <summary>Drops every reference: the extents', their completions', and the page copies were filling.</summary>
    public void Dispose()
    {
        while (_count > 0)
        {
            ref var e = ref At(0);
            var (netmem, ubuf) = (e.Netmem, e.Ubuf);
            e = default;
            _head = (_head + 1) & (_ext.Length - 1);
            _count--;
            netmem.Put();
            ubuf?.Put();
        }
        if (!_copyPage.IsNull) { _copyPage.Put(); _copyPage = default; }
        AckedPos = EndPos;
    }

    private struct SendExtent
    {
        public NetmemRef Netmem;
        public int Offset, Length;
        public long Pos;
        public UbufInfo? Ubuf;
    }
}
