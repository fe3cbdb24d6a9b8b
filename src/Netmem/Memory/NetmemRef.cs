using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Netmem.Memory;

/// <summary>
/// <c>netmem_ref</c>: one native word that points at either a host page descriptor or a
/// <c>net_iov</c>. Descriptors are 64-byte aligned, so the lowest bit is free to say which
/// (set = net_iov). The struct is the whole handle: copying it copies no ownership.
/// </summary>
[DebuggerDisplay("{ToString(),nq}")]
public readonly unsafe struct NetmemRef : IEquatable<NetmemRef>
{
    /// <summary>NET_IOV: the low bit that marks a net_iov.</summary>
    public const nuint NetIovBit = 1;

    private readonly nuint _value;

    private NetmemRef(nuint value) => _value = value;

    /// <summary>The raw word (for tokens, tracing and the C ABI).</summary>
    public nuint Value => _value;

    public bool IsNull => _value == 0;

    /// <summary><c>netmem_is_net_iov</c>.</summary>
    public bool IsNetIov => (_value & NetIovBit) != 0;

    /// <summary>True when the CPU may read this memory (a host page). net_iovs never are.</summary>
    public bool IsReadable => (_value & NetIovBit) == 0 && _value != 0;

    // ---- conversions (checked) ----

    internal static NetmemRef FromPage(PageDesc* page) => new((nuint)page);      // page_to_netmem
    internal static NetmemRef FromNetIov(NetIovDesc* niov) => new((nuint)niov | NetIovBit); // net_iov_to_netmem

    /// <summary>Rebuilds a handle from <see cref="Value"/>; the word must come from a live NetmemRef.</summary>
    public static NetmemRef FromRaw(nuint value) => new(value);

    /// <summary><c>__netmem_clear_lsb</c>: the shared descriptor, whatever the kind.</summary>
    internal NetmemDesc* Desc
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (NetmemDesc*)(_value & ~NetIovBit);
    }

    /// <summary><c>__netmem_to_page</c>: checked; a net_iov or null handle throws.</summary>
    internal PageDesc* ToPage()
    {
        if ((_value & NetIovBit) != 0 || _value == 0) ThrowWrongKind("page");
        return (PageDesc*)_value;
    }

    /// <summary><c>netmem_to_net_iov</c>: checked; a page or null handle throws.</summary>
    internal NetIovDesc* ToNetIov()
    {
        if ((_value & NetIovBit) == 0) ThrowWrongKind("net_iov");
        return (NetIovDesc*)(_value & ~NetIovBit);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowWrongKind(string wanted) =>
        throw new NetmemException($"netmem {this} is not a {wanted}: converting it would read the wrong descriptor");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowNull() => throw new NetmemException("null netmem_ref used where a netmem was required");

    private void CheckNotNull() { if (_value == 0) ThrowNull(); }

    // ---- netmem helpers (netmem.h) ----

    /// <summary><c>netmem_address</c>: the host address of the bytes, or 0 when the CPU may not read them.</summary>
    public nint Address => IsReadable ? ((PageDesc*)_value)->Virtual : 0;

    /// <summary>
    /// A span over readable bytes of this netmem. Throws for unreadable memory (net_iov) and for a
    /// range outside the page (or compound page).
    /// </summary>
    public Span<byte> GetSpan(int offset, int length)
    {
        if (!IsReadable)
            throw new NetmemException($"netmem {this} is unreadable (netmem_address is NULL): the CPU may not read or write it");
        var page = (PageDesc*)_value;
        int size = PageArena.PageSize << CompoundOrder(page);
        if ((uint)offset > (uint)size || (uint)length > (uint)(size - offset))
            throw new ArgumentOutOfRangeException(nameof(offset), $"range [{offset}, {offset + length}) is outside the {size}-byte netmem {this}");
        return new Span<byte>((byte*)page->Virtual + offset, length);
    }

    private static int CompoundOrder(PageDesc* page) =>
        (page->Desc.Flags & PageFlags.Head) != 0 ? PageFlags.Order(page->Desc.Flags) : 0;

    /// <summary>The allocation order of a page (0 for net_iovs and single pages).</summary>
    public int Order => IsReadable ? CompoundOrder((PageDesc*)_value) : 0;

    /// <summary><c>netmem_get_pp</c> (raw handle); 0 when no page_pool owns it.</summary>
    public nint Pp
    {
        get { CheckNotNull(); return Desc->Pp; }
    }

    internal void SetPp(nint pp) => Desc->Pp = pp;

    /// <summary><c>netmem_get_dma_addr</c>.</summary>
    public ulong DmaAddr
    {
        get { CheckNotNull(); return Desc->DmaAddr; }
    }

    internal void SetDmaAddr(ulong iova) => Desc->DmaAddr = (nuint)iova;

    /// <summary><c>netmem_get_pp_magic</c> (without the tail/pfmemalloc bits).</summary>
    public ulong PpMagicValue
    {
        get { CheckNotNull(); return Desc->PpMagic & ~(nuint)PpMagic.LowBitsMask; }
    }

    /// <summary><c>netmem_or_pp_magic</c>.</summary>
    internal void OrPpMagic(ulong magic) => Desc->PpMagic |= unchecked((nuint)magic);

    /// <summary><c>netmem_clear_pp_magic</c>: clears the signature, keeping the pfmemalloc bit.</summary>
    internal void ClearPpMagic() => Desc->PpMagic &= (nuint)PpMagic.PfmemallocBit;

    /// <summary><c>netmem_is_pp</c>: the pp_magic signature test.</summary>
    public bool IsPp => _value != 0 && ((ulong)Desc->PpMagic & ~PpMagic.LowBitsMask) == PpMagic.Signature;

    /// <summary>pp_ref_count, atomically read.</summary>
    public long PpRefCount => Volatile.Read(ref Desc->PpRefCount);

    internal void SetPpRefCount(long v) => Volatile.Write(ref Desc->PpRefCount, v);

    /// <summary><c>page_pool_ref_netmem</c>-style atomic add; returns the new value.</summary>
    internal long AddPpRefCount(long delta) => Interlocked.Add(ref Desc->PpRefCount, delta);

    /// <summary><c>netmem_ref_count</c>: the page refcount; always 1 for a net_iov, which has none.</summary>
    public int RefCount
    {
        get
        {
            CheckNotNull();
            return IsNetIov ? 1 : Volatile.Read(ref ((PageDesc*)_value)->RefCount);
        }
    }

    /// <summary><c>netmem_is_pfmemalloc</c>: the page came from emergency reserves; never for net_iovs.</summary>
    public bool IsPfmemalloc => IsReadable && (Desc->PpMagic & (nuint)PpMagic.PfmemallocBit) != 0;

    /// <summary><c>netmem_nid</c>: NUMA node of a page; 0 for a net_iov.</summary>
    public int Nid => IsReadable ? PageFlags.Nid(Desc->Flags) : 0;

    /// <summary><c>netmem_pfn_trace</c>: the page frame number for tracing; 0 for a net_iov.</summary>
    public ulong PfnTrace => IsReadable ? (ulong)((PageDesc*)_value)->Virtual >> PageArena.PageShift : 0;

    /// <summary><c>netmem_compound_head</c>: the head page of a compound page; a net_iov is its own head.</summary>
    public NetmemRef CompoundHead
    {
        get
        {
            CheckNotNull();
            if (IsNetIov) return this;
            nuint magic = Desc->PpMagic;
            return (magic & (nuint)PpMagic.TailBit) != 0 ? new NetmemRef(magic & ~(nuint)PpMagic.TailBit) : this;
        }
    }

    /// <summary>True for a tail page of a compound allocation.</summary>
    public bool IsTail => IsReadable && (Desc->PpMagic & (nuint)PpMagic.TailBit) != 0;

    /// <summary><c>get_netmem</c>: a page reference, or for a net_iov a reference on its area's owner.</summary>
    public void Get()
    {
        CheckNotNull();
        if (IsNetIov) { NetIovArea.FromDesc(((NetIovDesc*)(_value & ~NetIovBit))->Owner).GetUser(); return; }
        var head = (PageDesc*)CompoundHead._value;
        if (Interlocked.Increment(ref head->RefCount) <= 1)
        {
            Interlocked.Decrement(ref head->RefCount);
            throw new NetmemException($"get_netmem on {this}: the page is free (refcount was 0)");
        }
    }

    /// <summary><c>put_netmem</c>: drops a reference; the page goes back to its arena at zero.</summary>
    public void Put()
    {
        CheckNotNull();
        if (IsNetIov) { NetIovArea.FromDesc(((NetIovDesc*)(_value & ~NetIovBit))->Owner).PutUser(this); return; }
        var head = (PageDesc*)CompoundHead._value;
        int now = Interlocked.Decrement(ref head->RefCount);
        if (now == 0) FreeLast(head);
        else if (now < 0)
        {
            Interlocked.Increment(ref head->RefCount);
            throw new NetmemException($"put_netmem on {this}: refcount underflow (double put of a page)");
        }
    }

    /// <summary>
    /// The last reference went: an arena page to its buddy allocator, a user page (<see cref="PageFlags.Foreign"/>)
    /// to the <see cref="UserPageTable"/> that described it, which tells the memory's owner (the pin is theirs).
    /// Out of line so the flag test costs the hot put nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void FreeLast(PageDesc* head)
    {
        if ((head->Desc.Flags & PageFlags.Foreign) != 0) UserPageTable.FromPage(head).Release(head);
        else PageArena.FromPage(head).FreeBlock(head);
    }

    /// <summary>Whether this is a page of user memory the stack does not own (<see cref="UserPageTable"/>).</summary>
    public bool IsUserPage => IsReadable && (Desc->Flags & PageFlags.Foreign) != 0;

    // ---- net_iov helpers ----

    /// <summary><c>net_iov_idx</c>: index of a net_iov within its area.</summary>
    public int NetIovIndex
    {
        get
        {
            var niov = ToNetIov();
            return (int)(niov - niov->Owner->Niovs);
        }
    }

    /// <summary><c>net_iov_owner</c>: the area a net_iov belongs to.</summary>
    public NetIovArea NetIovOwner => NetIovArea.FromDesc(ToNetIov()->Owner);

    /// <summary>The net_iov's type.</summary>
    public NetIovType NetIovType => ToNetIov()->Type;

    /// <summary><c>net_iov_virtual_addr</c>: offset of this chunk within its dma-buf.</summary>
    public ulong NetIovVirtualAddr
    {
        get
        {
            var niov = ToNetIov();
            return niov->Owner->BaseVirtual + (ulong)(niov - niov->Owner->Niovs) * PageArena.PageSize;
        }
    }

    public bool Equals(NetmemRef other) => _value == other._value;
    public override bool Equals(object? obj) => obj is NetmemRef other && Equals(other);
    public override int GetHashCode() => _value.GetHashCode();
    public static bool operator ==(NetmemRef a, NetmemRef b) => a._value == b._value;
    public static bool operator !=(NetmemRef a, NetmemRef b) => a._value != b._value;

    public override string ToString() =>
        _value == 0 ? "netmem(null)" : IsNetIov ? $"net_iov@0x{_value & ~NetIovBit:x}" : $"page@0x{_value:x}";
}
