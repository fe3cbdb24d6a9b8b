using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Netmem.Memory;

namespace Netmem.Skb;

/// <summary>
/// <c>struct sk_buff</c>: one packet. Bytes live in a linear head (<c>head .. data .. tail .. end</c>)
/// backed by pooled native memory (a page_pool fragment or arena pages, never a managed array), then in
/// up to <see cref="MaxSkbFrags"/> netmem frags, then in the skbs of the frag_list. The head, frags and
/// frag_list are shared with clones through <see cref="SkbSharedInfo"/> and its dataref.
/// <para>
/// An skb with a net_iov frag is <see cref="Unreadable"/>: its frags hold bytes the CPU may not touch.
/// Every helper that reads payload refuses a range that reaches past the linear head of such an skb
/// with a <see cref="NetmemException"/>; header work inside the head goes on as usual (header split).
/// </para>
/// <para>
/// SkBuff objects come from an <see cref="SkbCache"/> and go back to it on <see cref="Free"/>; a freed
/// skb must not be touched again (most members then throw).
/// </para>
/// </summary>
public sealed unsafe partial class SkBuff
{
    /// <summary>MAX_SKB_FRAGS.</summary>
    public const int MaxSkbFrags = SkbSharedInfo.MaxSkbFrags;
    /// <summary>SKB_DATA_ALIGN(sizeof(struct sk_buff)) on x86-64, charged in truesize so socket accounting matches Linux.</summary>
    public const int SkbStructSize = 256;
    /// <summary>SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86-64.</summary>
    public const int SharedInfoSize = 320;
    /// <summary>What SKB_TRUESIZE adds to a head of a given size.</summary>
    public const int TruesizeOverhead = SkbStructSize + SharedInfoSize;
    /// <summary>NET_SKB_PAD: headroom napi_alloc_skb reserves so headers can be pushed without a copy.</summary>
    public const int NetSkbPad = 64;
    /// <summary>The value of an unset header offset ((u16)~0U).</summary>
    public const ushort HeaderUnset = 0xFFFF;

    private static int s_nextId;

    internal readonly SkbCache Cache;
    internal SkbSharedInfo? ShinfoField;
    internal byte* HeadPtr;
    internal int DataOff, TailOff, EndOff;
    internal int LenField, DataLenField;
    private int _users;
    private ushort _mac, _network, _transport;

    internal SkBuff(SkbCache cache)
    {
        Cache = cache;
        Id = Interlocked.Increment(ref s_nextId);
    }

    /// <summary>A number naming this skb object in messages (objects are reused, so it names the object, not the packet).</summary>
    public int Id { get; }

    /// <summary><c>skb_shinfo</c>: the shared info (frags, frag_list, GSO, dataref).</summary>
    public SkbSharedInfo Shinfo => ShinfoField ?? ThrowFreed();

    /// <summary>Whether the skb is allocated (false once freed).</summary>
    public bool IsLive => ShinfoField is not null;

    // ---- lengths and room ----

    /// <summary><c>len</c>: all bytes, head plus frags plus frag_list.</summary>
    public int Len => LenField;
    /// <summary><c>data_len</c>: bytes outside the linear head.</summary>
    public int DataLen => DataLenField;
    /// <summary><c>skb_headlen</c>: bytes in the linear head.</summary>
    public int HeadLen => LenField - DataLenField;
    /// <summary><c>skb_is_nonlinear</c>.</summary>
    public bool IsNonlinear => DataLenField != 0;
    /// <summary><c>truesize</c>: memory this skb accounts for (head, frags, the struct itself).</summary>
    public int Truesize { get; set; }
    /// <summary><c>skb_headroom</c>.</summary>
    public int Headroom => DataOff;
    /// <summary><c>skb_tailroom</c>: free bytes after tail; 0 for a nonlinear skb, whose tail is not the end of its data.</summary>
    public int Tailroom => DataLenField != 0 ? 0 : EndOff - TailOff;
    /// <summary><c>skb_end_offset</c>: size of the head buffer.</summary>
    public int EndOffset => EndOff;
    /// <summary><c>skb_tail_pointer</c> as an offset from head.</summary>
    public int TailOffset => TailOff;

    // ---- metadata ----

    /// <summary><c>protocol</c>: the EtherType, in host order here.</summary>
    public ushort Protocol { get; set; }
    /// <summary><c>ip_summed</c>.</summary>
    public SkbChecksumState IpSummed { get; set; }
    /// <summary>
    /// <c>skb_csum_unnecessary</c>: the transport checksum needs no check, either verified by the device
    /// (UNNECESSARY) or never computed because the data did not cross a wire (PARTIAL: a locally built skb
    /// looped back, or a tap's or virtio peer's frame whose checksum was left for the device to fill in).
    /// </summary>
    public bool CsumUnnecessary => IpSummed is SkbChecksumState.Unnecessary or SkbChecksumState.Partial;
    /// <summary><c>csum</c>: with CHECKSUM_COMPLETE, the ones-complement sum (see <see cref="InetChecksum"/>) of the data.</summary>
    public uint Csum { get; set; }
    /// <summary><c>csum_start</c>: with CHECKSUM_PARTIAL, where checksumming starts, as an offset from head.</summary>
    public ushort CsumStart { get; set; }
    /// <summary><c>csum_offset</c>: with CHECKSUM_PARTIAL, where the result goes, from csum_start.</summary>
    public ushort CsumOffset { get; set; }
    /// <summary><c>csum_level</c>: with CHECKSUM_UNNECESSARY, how many checksums past the first were verified.</summary>
    public byte CsumLevel { get; set; }
    /// <summary><c>hash</c>: the flow hash (RSS or software).</summary>
    public uint Hash { get; set; }
    /// <summary><c>l4_hash</c>: <see cref="Hash"/> covers the 4-tuple.</summary>
    public bool L4Hash { get; set; }
    /// <summary><c>sw_hash</c>: <see cref="Hash"/> was computed in software.</summary>
    public bool SwHash { get; set; }
    /// <summary><c>queue_mapping</c>: the device queue the skb came from or goes to.</summary>
    public ushort QueueMapping { get; set; }
    /// <summary><c>pp_recycle</c>: frags (and a page_pool head) go back to their page_pools on free.</summary>
    public bool PpRecycle { get; internal set; }
    /// <summary><c>unreadable</c>: a frag is a net_iov; the CPU must not read the frags.</summary>
    public bool Unreadable { get; internal set; }
    /// <summary><c>skb_frags_readable</c>.</summary>
    public bool FragsReadable => !Unreadable;
    /// <summary>
    /// Whether this skb or any skb of its frag_list is unreadable: what a helper that reads past the
    /// linear head must check (chaining propagates the flag to the root, this also covers a chain built
    /// before that rule).
    /// </summary>
    public bool AnyUnreadable
    {
        get
        {
            if (Unreadable) return true;
            for (var m = ShinfoField?.FragList; m is not null; m = m.Next)
                if (m.AnyUnreadable) return true;
            return false;
        }
    }
    /// <summary><c>pfmemalloc</c>: a frag came from the emergency reserves.</summary>
    public bool Pfmemalloc { get; internal set; }
    /// <summary><c>cloned</c>: this skb was cloned at some point (the data may be shared).</summary>
    public bool Cloned { get; internal set; }
    /// <summary><c>skb_cloned</c>: the data is shared with another skb right now.</summary>
    public bool IsCloned => Cloned && Volatile.Read(ref Shinfo.DataRef) != 1;
    /// <summary><c>users</c>: references on this sk_buff itself (<see cref="Get"/>).</summary>
    public int Users => Volatile.Read(ref _users);
    /// <summary><c>skb_shared</c>.</summary>
    public bool IsShared => Volatile.Read(ref _users) != 1;
    /// <summary><c>next</c>: link in a frag_list or a queue.</summary>
    public SkBuff? Next { get; set; }
    // Link in the owner cache's deferred-free list (skb_attempt_defer_free); set only while waiting there.
    internal SkBuff? DeferNext;

    /// <summary><c>skb_mark_for_recycle</c>: frags from page_pools go back to them on free.</summary>
    public void MarkForRecycle() => PpRecycle = true;

    // ---- the linear head ----

    /// <summary>Host address of the head buffer.</summary>
    public nint HeadAddress => (nint)HeadPtr;
    /// <summary>Host address of <c>data</c>.</summary>
    public nint DataAddress => (nint)(HeadPtr + DataOff);
    /// <summary>The netmem backing the head buffer.</summary>
    public NetmemRef HeadNetmem => Shinfo.HeadNetmem;

    /// <summary>The linear data, <c>data .. tail</c>: always host memory, readable even when the skb is unreadable.</summary>
    public Span<byte> Data
    {
        get
        {
            _ = Shinfo;
            return new Span<byte>(HeadPtr + DataOff, TailOff - DataOff);
        }
    }

    /// <summary>Bytes of the head buffer at <paramref name="offset"/> from head (header access by offset).</summary>
    public Span<byte> GetHeadSpan(int offset, int length)
    {
        _ = Shinfo;
        if ((uint)offset > (uint)EndOff || (uint)length > (uint)(EndOff - offset))
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset + length}) is outside the {EndOff}-byte head of {this}");
        return new Span<byte>(HeadPtr + offset, length);
    }

    /// <summary><c>skb_put</c>: extends the data at the tail and returns the new bytes. The skb must be linear.</summary>
    public Span<byte> Put(int len)
    {
        _ = Shinfo;
        if (DataLenField != 0)
            throw new NetmemException($"skb_put on nonlinear {this}: the head's tail is not the end of the data");
        if ((uint)len > (uint)(EndOff - TailOff))
            throw new NetmemException($"skb_over_panic: {this} put {len} bytes with {EndOff - TailOff} bytes of tailroom");
        var span = new Span<byte>(HeadPtr + TailOff, len);
        TailOff += len;
        LenField += len;
        return span;
    }

    /// <summary><c>skb_put_data</c>.</summary>
    public void PutData(ReadOnlySpan<byte> data) => data.CopyTo(Put(data.Length));

    /// <summary><c>skb_push</c>: extends the data at the front (into headroom) and returns the new bytes.</summary>
    public Span<byte> Push(int len)
    {
        _ = Shinfo;
        if ((uint)len > (uint)DataOff)
            throw new NetmemException($"skb_under_panic: {this} push {len} bytes with {DataOff} bytes of headroom");
        DataOff -= len;
        LenField += len;
        return new Span<byte>(HeadPtr + DataOff, len);
    }

    /// <summary>
    /// <c>skb_pull</c>: removes <paramref name="len"/> bytes from the front. Returns false when the skb is
    /// shorter. The bytes must be in the linear head (use <see cref="PskbPull"/> otherwise); this is a
    /// header pull, and works on an unreadable skb.
    /// </summary>
    public bool Pull(int len)
    {
        _ = Shinfo;
        ArgumentOutOfRangeException.ThrowIfNegative(len);
        if (len > LenField) return false;
        if (len > TailOff - DataOff)
            throw new NetmemException($"__skb_pull of {len} bytes on {this}: only {TailOff - DataOff} are in the linear head (use PskbPull)");
        DataOff += len;
        LenField -= len;
        return true;
    }

    /// <summary>
    /// <c>skb_pull_rcsum</c>: a header pull that keeps a CHECKSUM_COMPLETE sum right by subtracting the
    /// pulled bytes (<c>skb_postpull_rcsum</c>).
    /// </summary>
    public bool PullRcsum(int len)
    {
        _ = Shinfo;
        if ((uint)len > (uint)(TailOff - DataOff)) return false;
        var pulled = new ReadOnlySpan<byte>(HeadPtr + DataOff, len);
        if (IpSummed == SkbChecksumState.Complete) Csum = InetChecksum.Sub(Csum, InetChecksum.Partial(pulled));
        return Pull(len);
    }

    /// <summary><c>skb_reserve</c>: moves data and tail forward to make headroom. Only on an empty skb.</summary>
    public void Reserve(int len)
    {
        _ = Shinfo;
        if (LenField != 0) throw new NetmemException($"skb_reserve on {this}: the skb already holds data");
        if ((uint)len > (uint)(EndOff - TailOff))
            throw new NetmemException($"skb_reserve of {len} bytes on {this}: only {EndOff - TailOff} bytes in the head");
        DataOff += len;
        TailOff += len;
    }

    // ---- header offsets (from head, like the kernel's u16 offsets) ----

    public ushort MacHeader => _mac;
    public ushort NetworkHeader => _network;
    public ushort TransportHeader => _transport;
    /// <summary><c>skb_mac_header_was_set</c>.</summary>
    public bool MacHeaderWasSet => _mac != HeaderUnset;
    /// <summary><c>skb_transport_header_was_set</c>.</summary>
    public bool TransportHeaderWasSet => _transport != HeaderUnset;
    /// <summary><c>skb_reset_mac_header</c>: the MAC header starts at data.</summary>
    public void ResetMacHeader() => _mac = HeaderAt(0);
    /// <summary><c>skb_set_mac_header</c>: <paramref name="offset"/> bytes from data.</summary>
    public void SetMacHeader(int offset) => _mac = HeaderAt(offset);
    /// <summary><c>skb_reset_network_header</c>.</summary>
    public void ResetNetworkHeader() => _network = HeaderAt(0);
    /// <summary><c>skb_set_network_header</c>.</summary>
    public void SetNetworkHeader(int offset) => _network = HeaderAt(offset);
    /// <summary><c>skb_reset_transport_header</c>.</summary>
    public void ResetTransportHeader() => _transport = HeaderAt(0);
    /// <summary><c>skb_set_transport_header</c>.</summary>
    public void SetTransportHeader(int offset) => _transport = HeaderAt(offset);
    /// <summary><c>skb_mac_offset</c>: the MAC header's offset from data (negative once pulled past).</summary>
    public int MacOffset => _mac - DataOff;
    /// <summary><c>skb_network_offset</c>.</summary>
    public int NetworkOffset => _network - DataOff;
    /// <summary><c>skb_transport_offset</c>.</summary>
    public int TransportOffset => _transport - DataOff;
    /// <summary><c>skb_mac_header_len</c>.</summary>
    public int MacHeaderLen => _network - _mac;

    private ushort HeaderAt(int offsetFromData)
    {
        _ = Shinfo;
        int at = DataOff + offsetFromData;
        if (at < 0 || at > EndOff || at >= HeaderUnset)
            throw new ArgumentOutOfRangeException(nameof(offsetFromData), $"header at {offsetFromData} from data is outside the head of {this}");
        return (ushort)at;
    }

    private void ShiftHeaders(int delta)
    {
        if (_mac != HeaderUnset) _mac = (ushort)(_mac + delta);
        if (_network != HeaderUnset) _network = (ushort)(_network + delta);
        if (_transport != HeaderUnset) _transport = (ushort)(_transport + delta);
        if (IpSummed == SkbChecksumState.Partial) CsumStart = (ushort)(CsumStart + delta);
    }

    // ---- references and lifetime ----

    /// <summary><c>skb_get</c>: one more user of this sk_buff; each user frees it once.</summary>
    public SkBuff Get()
    {
        _ = Shinfo;
        Interlocked.Increment(ref _users);
        return this;
    }

    /// <summary><c>skb_clone</c>: a new sk_buff sharing this one's data (see <see cref="SkbCache.Clone"/>).</summary>
    public SkBuff Clone() => Cache.Clone(this);

    /// <summary><c>kfree_skb</c>: drops a user; the last one releases the data and returns the object to its cache.</summary>
    public void Free() => Cache.Free(this);

    /// <summary><c>consume_skb</c>: <see cref="Free"/> for an skb that was used, not dropped.</summary>
    public void Consume() => Cache.Free(this);

    /// <summary><c>skb_unref</c>: true when the caller dropped the last user.</summary>
    internal bool DropUser()
    {
        if (Volatile.Read(ref _users) == 1)
        {
            _users = 0;
            return true;
        }
        int left = Interlocked.Decrement(ref _users);
        if (left < 0)
        {
            Interlocked.Increment(ref _users);
            throw new NetmemException($"kfree_skb on {this}: users underflow (freed twice)");
        }
        return left == 0;
    }

    /// <summary>Sets up a fresh skb over <paramref name="sh"/>'s head (called by the cache).</summary>
    internal void Init(SkbSharedInfo sh, int truesize)
    {
        ShinfoField = sh;
        HeadPtr = sh.Head;
        DataOff = TailOff = 0;
        EndOff = sh.HeadSize;
        LenField = DataLenField = 0;
        Truesize = truesize;
        _users = 1;
        _mac = _network = _transport = HeaderUnset;
        Protocol = 0;
        IpSummed = SkbChecksumState.None;
        Csum = 0;
        CsumStart = CsumOffset = 0;
        CsumLevel = 0;
        Hash = 0;
        L4Hash = SwHash = false;
        QueueMapping = 0;
        PpRecycle = Unreadable = Pfmemalloc = Cloned = false;
        Next = null;
    }

    /// <summary><c>__skb_clone</c>'s copy: every field of <paramref name="o"/>, sharing its data.</summary>
    internal void InitClone(SkBuff o)
    {
        ShinfoField = o.ShinfoField;
        HeadPtr = o.HeadPtr;
        DataOff = o.DataOff;
        TailOff = o.TailOff;
        EndOff = o.EndOff;
        LenField = o.LenField;
        DataLenField = o.DataLenField;
        Truesize = o.Truesize;
        _users = 1;
        _mac = o._mac;
        _network = o._network;
        _transport = o._transport;
        Protocol = o.Protocol;
        IpSummed = o.IpSummed;
        Csum = o.Csum;
        CsumStart = o.CsumStart;
        CsumOffset = o.CsumOffset;
        CsumLevel = o.CsumLevel;
        Hash = o.Hash;
        L4Hash = o.L4Hash;
        SwHash = o.SwHash;
        QueueMapping = o.QueueMapping;
        PpRecycle = o.PpRecycle;
        Unreadable = o.Unreadable;
        Pfmemalloc = o.Pfmemalloc;
        Cloned = true;
        Next = null;
    }

    /// <summary>Marks the object free; what it pointed at was released by the caller.</summary>
    internal void Clear()
    {
        ShinfoField = null;
        HeadPtr = null;
        Next = null;
        LenField = DataLenField = 0;
    }

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private SkbSharedInfo ThrowFreed() =>
        throw new NetmemException($"skb#{Id} used after kfree_skb (the object is back in its cache)");

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    internal void ThrowUnreadable(string op, int offset, int length) =>
        throw new NetmemException(
            $"{op}: {this} is unreadable (its frags are net_iov memory the CPU may not read): " +
            $"range [{offset}, {offset + length}) reaches past the {HeadLen}-byte linear head");

    public override string ToString() =>
        ShinfoField is null
            ? $"skb#{Id}(freed)"
            : $"skb#{Id}(len {LenField}, headlen {HeadLen}, {ShinfoField.NrFragsField} frags{(ShinfoField.FragList is null ? "" : ", frag_list")}{(Unreadable ? ", unreadable" : "")})";
}
