using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Skb;

/// <summary>
/// <c>struct sk_buff</c>: a packet. A linear head (headroom | data | tailroom) in a readable netmem
/// from the cache's head pool, plus up to 17 frags in netmem that may be unreadable (device memory).
/// Offsets are relative to the start of the head buffer, as the kernel's are relative to
/// <c>skb->head</c>. Objects come from an <see cref="SkbCache"/>; create them with
/// <see cref="SkbCache.Alloc"/> and end them with <see cref="Free"/>.
/// </summary>
public sealed partial class SkBuff
{
    /// <summary>SKB_TRUESIZE overhead on x86-64: aligned sizeof(sk_buff) + sizeof(skb_shared_info).</summary>
    public const int TruesizeOverhead = 256 + 320;

    private int _data, _tail;
    private bool _freed;

    internal SkBuff() { }

    internal SkbCache Cache = null!;
    internal SkbSharedInfo Shinfo = null!;

    /// <summary><c>skb_shinfo</c>.</summary>
    public SkbSharedInfo SharedInfo => Shinfo;

    /// <summary><c>skb->len</c>: bytes in the head's data plus all frags.</summary>
    public int Len { get; private set; }
    /// <summary><c>skb->data_len</c>: bytes in frags (and the frag list).</summary>
    public int DataLen { get; private set; }
    /// <summary><c>skb_headlen</c>: bytes of data in the linear head.</summary>
    public int HeadLen => Len - DataLen;
    /// <summary><c>skb->truesize</c>: memory charged for this skb.</summary>
    public int Truesize { get; set; }
    /// <summary><c>skb_headroom</c>.</summary>
    public int Headroom => _data;
    /// <summary><c>skb_tailroom</c>: 0 once the skb has frags (its head may not grow then).</summary>
    public int Tailroom => DataLen != 0 ? 0 : Shinfo.HeadSize - _tail;
    /// <summary>Offset of data within the head buffer (<c>skb->data - skb->head</c>).</summary>
    public int DataOffset => _data;
    /// <summary><c>skb->unreadable</c>: some payload lives in memory the CPU may not read.</summary>
    public bool Unreadable { get; private set; }
    /// <summary><c>skb->pp_recycle</c>: frags are page_pool memory and go back to their pools.</summary>
    public bool PpRecycle { get; set; }
    /// <summary><c>skb->protocol</c> (EtherType, host order).</summary>
    public ushort Protocol { get; set; }
    /// <summary>Header offsets from the head buffer start; -1 when unset.</summary>
    public int MacHeader { get; set; } = -1;
    public int NetworkHeader { get; set; } = -1;
    public int TransportHeader { get; set; } = -1;
    public ChecksumState IpSummed { get; set; }
    /// <summary><c>skb->csum</c> (CHECKSUM_COMPLETE) or, with csum_start/offset, the TX checksum spot.</summary>
    public uint Csum { get; set; }
    public int CsumStart { get; set; }
    public int CsumOffset { get; set; }
    /// <summary><c>skb->hash</c> (RSS flow hash) and whether it is a full L4 hash.</summary>
    public uint Hash { get; set; }
    public bool L4Hash { get; set; }
    /// <summary><c>skb->queue_mapping</c>.</summary>
    public ushort QueueMapping { get; set; }
    /// <summary>Whether this skb shares its data with a clone.</summary>
    public bool Cloned => Volatile.Read(ref Shinfo.DataRef) > 1;
    public int NrFrags => Shinfo.NrFrags;

    internal void Init(SkbCache cache, SkbSharedInfo sh, int headSize)
    {
        Cache = cache;
        Shinfo = sh;
        _data = _tail = 0;
        Len = DataLen = 0;
        Truesize = headSize + TruesizeOverhead;
        Unreadable = false;
        PpRecycle = false;
        Protocol = 0;
        MacHeader = NetworkHeader = TransportHeader = -1;
        IpSummed = ChecksumState.None;
        Csum = 0;
        CsumStart = CsumOffset = 0;
        Hash = 0;
        L4Hash = false;
        QueueMapping = 0;
        _freed = false;
    }

    private Span<byte> HeadSpan(int offset, int length) =>
        Shinfo.HeadNetmem.GetSpan(Shinfo.HeadOffset + offset, length);

    /// <summary>The whole head buffer (headroom, data and tailroom).</summary>
    public Span<byte> Head => HeadSpan(0, Shinfo.HeadSize);

    /// <summary>The data bytes in the linear head (<c>skb->data</c> for <c>skb_headlen</c> bytes).</summary>
    public Span<byte> Data => HeadSpan(_data, HeadLen);

    /// <summary><c>skb_reserve</c>: moves data and tail forward on an empty skb to make headroom.</summary>
    public void Reserve(int len)
    {
        CheckLive();
        if (Len != 0) throw new InvalidOperationException($"skb_reserve on {this}: only an empty skb can reserve headroom");
        if (len < 0 || _tail + len > Shinfo.HeadSize) throw new ArgumentOutOfRangeException(nameof(len), $"skb_reserve of {len} on {this}");
        _data += len;
        _tail += len;
    }

    /// <summary><c>skb_put</c>: extends the data at the tail; returns the new bytes.</summary>
    public Span<byte> Put(int len)
    {
        CheckLive();
        if (DataLen != 0) throw new InvalidOperationException($"skb_put on {this}: the skb has frags (SKB_LINEAR_ASSERT)");
        if (len < 0 || _tail + len > Shinfo.HeadSize)
            throw new InvalidOperationException($"skb_over_panic: put of {len} on {this} with {Tailroom} bytes of tailroom");
        int at = _tail;
        _tail += len;
        Len += len;
        return HeadSpan(at, len);
    }

    /// <summary><c>skb_push</c>: extends the data at the front (a header); returns the new bytes.</summary>
    public Span<byte> Push(int len)
    {
        CheckLive();
        if (len < 0 || len > _data)
            throw new InvalidOperationException($"skb_under_panic: push of {len} on {this} with {_data} bytes of headroom");
        _data -= len;
        Len += len;
        return HeadSpan(_data, len);
    }

    /// <summary>
    /// <c>skb_pull</c>: removes <paramref name="len"/> bytes from the front of the linear data (a parsed
    /// header). Works on unreadable skbs: the head is always readable. Returns false when the head has
    /// fewer bytes (use <see cref="PullTail"/> first).
    /// </summary>
    public bool Pull(int len)
    {
        CheckLive();
        if (len < 0 || len > HeadLen) return false;
        _data += len;
        Len -= len;
        return true;
    }

    /// <summary>
    /// <c>pskb_trim</c>: cuts the skb to <paramref name="len"/> bytes, shrinking or dropping frags.
    /// </summary>
    public void Trim(int len)
    {
        CheckLive();
        if (len < 0 || len > Len) throw new ArgumentOutOfRangeException(nameof(len), $"trim to {len} on {this}");
        if (Cloned) throw new InvalidOperationException($"trim of {this}: its data is shared with a clone");
        int headLen = HeadLen;
        if (len <= headLen)
        {
            DropFragsFrom(0);
            _tail = _data + len;
            Len = len;
            DataLen = 0;
            Unreadable = false;
            return;
        }
        int remaining = len - headLen;
        var sh = Shinfo;
        for (int i = 0; i < sh.NrFrags; i++)
        {
            ref SkbFrag f = ref sh.Frags[i];
            if (remaining >= f.Size) { remaining -= f.Size; continue; }
            if (remaining > 0) { f.Size = remaining; i++; }
            DropFragsFrom(i);
            break;
        }
        Len = len;
        DataLen = len - headLen;
        RecomputeUnreadable();
    }

    private void DropFragsFrom(int first)
    {
        var sh = Shinfo;
        for (int i = first; i < sh.NrFrags; i++)
        {
            sh.Frags[i].Unref(PpRecycle);
            sh.Frags[i] = default;
        }
        if (first < sh.NrFrags) sh.NrFrags = first;
    }

    private void RecomputeUnreadable()
    {
        bool u = false;
        for (int i = 0; i < Shinfo.NrFrags; i++) u |= Shinfo.Frags[i].IsNetIov;
        Unreadable = u;
    }

    /// <summary>
    /// <c>__skb_fill_netmem_desc</c>: sets frag <paramref name="i"/> (lengths unchanged). A net_iov makes
    /// the skb unreadable.
    /// </summary>
    public void FillNetmemDesc(int i, NetmemRef netmem, int offset, int size)
    {
        CheckLive();
        if ((uint)i >= SkbSharedInfo.MaxSkbFrags) throw new ArgumentOutOfRangeException(nameof(i), $"frag {i} >= MAX_SKB_FRAGS");
        Shinfo.Frags[i].FillNetmemDesc(netmem, offset, size);
        if (netmem.IsNetIov) Unreadable = true;
    }

    /// <summary>
    /// <c>skb_add_rx_frag_netmem</c>: appends received payload as frag <paramref name="i"/> and accounts
    /// len, data_len and truesize. The skb takes over the caller's reference on the netmem.
    /// </summary>
    public void AddRxFragNetmem(int i, NetmemRef netmem, int offset, int size, int truesize)
    {
        if (i != Shinfo.NrFrags) throw new ArgumentOutOfRangeException(nameof(i), $"frag {i} is not the next frag ({Shinfo.NrFrags}) of {this}");
        if (Cloned) throw new InvalidOperationException($"adding a frag to {this}: its data is shared with a clone");
        FillNetmemDesc(i, netmem, offset, size);
        Shinfo.NrFrags = i + 1;
        Len += size;
        DataLen += size;
        Truesize += truesize;
    }

    /// <summary>
    /// <c>skb_clone</c>: a new skb sharing this one's head and frags (dataref counts the sharers).
    /// Each of them must be freed; the data goes back when the last one is.
    /// </summary>
    public SkBuff Clone()
    {
        CheckLive();
        Interlocked.Increment(ref Shinfo.DataRef);
        var c = Cache.TakeClone(Shinfo);
        c._data = _data;
        c._tail = _tail;
        c._freed = false;
        c.Len = Len;
        c.DataLen = DataLen;
        c.Truesize = Truesize;
        c.Unreadable = Unreadable;
        c.PpRecycle = PpRecycle;
        c.Protocol = Protocol;
        c.MacHeader = MacHeader;
        c.NetworkHeader = NetworkHeader;
        c.TransportHeader = TransportHeader;
        c.IpSummed = IpSummed;
        c.Csum = Csum;
        c.CsumStart = CsumStart;
        c.CsumOffset = CsumOffset;
        c.Hash = Hash;
        c.L4Hash = L4Hash;
        c.QueueMapping = QueueMapping;
        return c;
    }

    /// <summary>
    /// <c>kfree_skb</c> / <c>consume_skb</c>: ends this skb. When no clone shares the data any more,
    /// every frag goes back (to its page_pool when <see cref="PpRecycle"/>), the frag list is freed
    /// and the head returns to the head pool.
    /// </summary>
    public void Free()
    {
        if (_freed) throw new NetmemException($"kfree_skb on an skb that was already freed (double free)");
        _freed = true;
        var sh = Shinfo;
        if (Interlocked.Decrement(ref sh.DataRef) == 0)
        {
            for (int i = 0; i < sh.NrFrags; i++) sh.Frags[i].Unref(PpRecycle);
            var next = sh.FragList;
            while (next is not null)
            {
                var after = next.Next;
                next.Next = null;
                next.Free();
                next = after;
            }
            if (!PagePool.NapiPpPutPage(sh.HeadNetmem)) sh.HeadNetmem.Put();
            sh.Reset();
            Cache.Return(sh);
        }
        Shinfo = null!;
        Cache.Return(this);
    }

    /// <summary>Next skb in a frag list or queue.</summary>
    public SkBuff? Next { get; set; }

    private void CheckLive()
    {
        if (_freed || Shinfo is null) throw new NetmemException("use of an skb after kfree_skb");
    }

    public override string ToString() =>
        _freed ? "skb (freed)" : $"skb len {Len} data_len {DataLen} frags {Shinfo.NrFrags}{(Unreadable ? " unreadable" : "")}";
}
