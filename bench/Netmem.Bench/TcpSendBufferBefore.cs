using Netmem.Memory;
using Netmem.Skb;

namespace Netmem.Bench;

/// <summary>
/// The send buffer as it was before MSG_ZEROCOPY (a ring of copied pages only), kept as the baseline of
/// <see cref="TcpSendBufferBench"/>.
/// The send queue's bytes (<c>sk_write_queue</c> + <c>tcp_rtx_queue</c> payload) as a ring of host pages.
/// Application bytes are copied once into the tail page; a segment is built by pointing skb frags at the
/// pages (one page reference per frag), so a retransmission references the same pages again. Stream
/// positions are 64-bit byte counts from the first data byte; bytes below <see cref="AckedPos"/> are
/// acknowledged and their pages are released as soon as no unacknowledged byte lives on them (an skb
/// still in flight keeps its own reference).
/// </summary>
internal sealed class TcpSendBufferBefore : IDisposable
{
    private const int PageSize = PageArena.PageSize;
    private readonly PageArena _arena;
    private NetmemRef[] _pages;
    private int _head, _count;
    private long _firstPagePos; // stream position of byte 0 of _pages[_head]

    /// <summary>
    /// How far past <see cref="Capacity"/> <see cref="Append(ReadOnlySpan{byte}, int)"/> may fill: one skb of the
    /// largest size goal, since Linux checks sk_sndbuf only when a write starts a new skb.
    /// </summary>
    public const int MaxOvershoot = 65536;

    public TcpSendBufferBefore(PageArena arena, int capacity)
    {
        _arena = arena ?? throw new ArgumentNullException(nameof(arena));
        Capacity = capacity;
        _pages = new NetmemRef[PagesFor(capacity)];
    }

    private static int PagesFor(int capacity) => (capacity + MaxOvershoot) / PageSize + 2;

    /// <summary>SO_SNDBUF in bytes: unacknowledged plus unsent bytes may not exceed it.</summary>
    public int Capacity { get; private set; }
    /// <summary>Stream position of snd.una's byte.</summary>
    public long AckedPos { get; private set; }
    /// <summary>Stream position after the last byte written (write_seq).</summary>
    public long EndPos { get; private set; }
    public int Bytes => (int)(EndPos - AckedPos);
    public int Free => Math.Max(0, Capacity - Bytes);
    public int PagesHeld => _count;

    public void SetCapacity(int capacity)
    {
        Capacity = capacity;
        int need = PagesFor(capacity);
        if (need > _pages.Length)
        {
            var n = new NetmemRef[need];
            for (int i = 0; i < _count; i++) n[i] = _pages[(_head + i) % _pages.Length];
            _pages = n;
            _head = 0;
        }
    }

    /// <summary>Copies as much of <paramref name="data"/> as fits (capacity and free arena pages allow); returns the count.</summary>
    public int Append(ReadOnlySpan<byte> data) => Append(data, Free);

    /// <summary>
    /// Copies up to <paramref name="limit"/> bytes of <paramref name="data"/> whatever the capacity says, up to
    /// <see cref="MaxOvershoot"/> past it (the caller checked the capacity when it started the skb these bytes fill).
    /// </summary>
    public int Append(ReadOnlySpan<byte> data, int limit)
    {
        int done = 0;
        int room = (int)Math.Min(Math.Min(limit, data.Length), Math.Max(0, (long)Capacity + MaxOvershoot - Bytes));
        while (done < room)
        {
            int inPage = (int)((EndPos - _firstPagePos) % PageSize);
            if (_count == 0 || (inPage == 0 && EndPos - _firstPagePos == (long)_count * PageSize))
            {
                if (_count == _pages.Length) break;
                var p = _arena.AllocPages();
                if (p.IsNull) break; // arena exhausted: the caller waits like for a full buffer
                if (_count == 0) _firstPagePos = EndPos;
                _pages[(_head + _count) % _pages.Length] = p;
                _count++;
                inPage = (int)((EndPos - _firstPagePos) % PageSize);
            }
            var page = _pages[(_head + (int)((EndPos - _firstPagePos) / PageSize)) % _pages.Length];
            int n = Math.Min(room - done, PageSize - inPage);
            data.Slice(done, n).CopyTo(page.GetSpan(inPage, n));
            done += n;
            EndPos += n;
        }
        return done;
    }

    /// <summary>snd.una moved to <paramref name="pos"/>: pages wholly below it are released.</summary>
    public void Ack(long pos)
    {
        if (pos <= AckedPos) return;
        if (pos > EndPos) pos = EndPos;
        AckedPos = pos;
        while (_count > 0 && _firstPagePos + PageSize <= AckedPos)
        {
            _pages[_head].Put();
            _pages[_head] = default;
            _head = (_head + 1) % _pages.Length;
            _count--;
            _firstPagePos += PageSize;
        }
        if (_count == 0) _firstPagePos = AckedPos;
    }

    /// <summary>
    /// Appends frags for bytes [<paramref name="pos"/>, +<paramref name="len"/>) to <paramref name="skb"/>
    /// (each takes a page reference) and grows its length. The range must lie in the buffer and fit the free frag slots.
    /// </summary>
    public void AddFrags(SkBuff skb, long pos, int len)
    {
        if (pos < AckedPos || pos + len > EndPos) throw new ArgumentOutOfRangeException(nameof(pos), $"send buffer holds [{AckedPos}, {EndPos}), asked [{pos}, {pos + len})");
        while (len > 0)
        {
            long rel = pos - _firstPagePos;
            var page = _pages[(_head + (int)(rel / PageSize)) % _pages.Length];
            int off = (int)(rel % PageSize);
            int n = Math.Min(len, PageSize - off);
            page.Get();
            skb.AddRxFragNetmem(page, off, n, n);
            pos += n;
            len -= n;
        }
    }

    /// <summary>How many frags <see cref="AddFrags"/> would use for the range.</summary>
    public int FragsFor(long pos, int len)
    {
        if (len <= 0) return 0;
        long rel = pos - _firstPagePos;
        return (int)((rel + len - 1) / PageSize - rel / PageSize) + 1;
    }

    public void Dispose()
    {
        while (_count > 0)
        {
            _pages[_head].Put();
            _pages[_head] = default;
            _head = (_head + 1) % _pages.Length;
            _count--;
        }
        AckedPos = EndPos;
    }
}
