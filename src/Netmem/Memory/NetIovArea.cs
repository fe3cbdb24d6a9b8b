using System.Runtime.InteropServices;

namespace Netmem.Memory;

/// <summary>
/// <c>struct net_iov_area</c>: a run of PAGE_SIZE <c>net_iov</c>s over one contiguous chunk of
/// memory the CPU may not read (a dma-buf chunk, or user memory registered by zero-copy receive).
/// Descriptors live in native memory; <see cref="NetmemRef"/>s point straight at them.
/// </summary>
public sealed unsafe class NetIovArea : IDisposable
{
    private static readonly SlotRegistry<NetIovArea> s_registry = new();

    private NetIovAreaDesc* _desc;
    private long _users;

    private NetIovArea(NetIovType type, int count, ulong baseVirtual, nint backing, object? owner)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), "a net_iov area needs at least one net_iov");
        Type = type;
        Count = count;
        BackingAddress = backing;
        Owner = owner;
        _desc = (NetIovAreaDesc*)NativeMemory.AlignedAlloc((nuint)sizeof(NetIovAreaDesc), 64);
        var niovs = (NetIovDesc*)NativeMemory.AlignedAlloc((nuint)count * (nuint)sizeof(NetIovDesc), 64);
        NativeMemory.Clear(niovs, (nuint)count * (nuint)sizeof(NetIovDesc));
        for (int i = 0; i < count; i++)
        {
            niovs[i].Owner = _desc;
            niovs[i].Type = type;
        }
        _desc->Niovs = niovs;
        _desc->NumNiovs = (nuint)count;
        _desc->BaseVirtual = (nuint)baseVirtual;
        _desc->Id = s_registry.Add(this);
    }

    /// <summary>
    /// An area over <paramref name="count"/> pages of <paramref name="memory"/> starting at byte
    /// <paramref name="offset"/> (page aligned); base_virtual is that offset.
    /// </summary>
    public static NetIovArea Create(NetIovType type, DeviceMemory memory, long offset, int count, object? owner = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (offset < 0 || offset % PageArena.PageSize != 0)
            throw new ArgumentOutOfRangeException(nameof(offset), $"offset {offset} must be page aligned");
        if (count <= 0 || offset + (long)count * PageArena.PageSize > memory.Size)
            throw new ArgumentOutOfRangeException(nameof(count), $"{count} pages at {offset} do not fit in {memory.Name} ({memory.Size} bytes)");
        return new NetIovArea(type, count, (ulong)offset, memory.DeviceAddress + (nint)offset, owner);
    }

    /// <summary>
    /// An area of <paramref name="count"/> net_iovs that its provider reaches only by DMA address (a dma-buf
    /// binding's scatter-list entry): no CPU backing. <paramref name="baseVirtual"/> is the entry's offset in
    /// the dma-buf (<c>net_iov_virtual_addr</c> counts from it).
    /// </summary>
    public static NetIovArea Create(NetIovType type, int count, ulong baseVirtual, object? owner = null)
    {
        if (baseVirtual % PageArena.PageSize != 0)
            throw new ArgumentOutOfRangeException(nameof(baseVirtual), $"base_virtual {baseVirtual} must be page aligned");
        return new NetIovArea(type, count, baseVirtual, 0, owner);
    }

    /// <summary>An area over host memory the caller owns (io_uring zcrx registers user memory this way).</summary>
    internal static NetIovArea CreateOverHost(NetIovType type, nint address, int count, ulong baseVirtual, object? owner)
    {
        if (address % PageArena.PageSize != 0) throw new ArgumentOutOfRangeException(nameof(address), "area memory must be page aligned");
        return new NetIovArea(type, count, baseVirtual, address, owner);
    }

    public NetIovType Type { get; }
    /// <summary><c>num_niovs</c>.</summary>
    public int Count { get; }
    /// <summary><c>base_virtual</c>.</summary>
    public ulong BaseVirtual => _desc->BaseVirtual;
    /// <summary>Whoever owns the area (a dma-buf binding, a zcrx interface queue).</summary>
    public object? Owner { get; set; }
    /// <summary>
    /// The id of the dma-buf binding these net_iovs belong to (<c>net_devmem_iov_binding_id</c>): what
    /// devmem receive reports as <c>dmabuf_id</c>. 0 for an area no binding owns.
    /// </summary>
    public uint DmabufId { get; internal set; }
    /// <summary>Host address that backs the area, for IOMMU mappings only.</summary>
    internal nint BackingAddress { get; }
    public int Id => _desc->Id;
    /// <summary>References taken by <see cref="NetmemRef.Get"/> on this area's net_iovs.</summary>
    public long Users => Interlocked.Read(ref _users);

    /// <summary>The net_iov at <paramref name="index"/>.</summary>
    public NetmemRef this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), $"net_iov index {index} outside area of {Count}");
            return NetmemRef.FromNetIov(&_desc->Niovs[index]);
        }
    }

    /// <summary>Whether <paramref name="netmem"/> is one of this area's net_iovs.</summary>
    public bool Owns(NetmemRef netmem) => netmem.IsNetIov && ((NetIovDesc*)(netmem.Value & ~NetmemRef.NetIovBit))->Owner == _desc;

    /// <summary>Host address backing a net_iov: for DMA mapping by the binding, never for CPU reads.</summary>
    internal nint BackingAddressOf(NetmemRef niov) => BackingAddress + (nint)niov.NetIovIndex * PageArena.PageSize;

    internal static NetIovArea FromDesc(NetIovAreaDesc* desc)
    {
        int id = desc->Id;
        return s_registry.Get(id)
            ?? throw new NetmemException($"net_iov area {id} does not exist (foreign or freed net_iov)");
    }

    /// <summary>
    /// Who each net_iov reference also pins (a dma-buf binding: <c>net_devmem_get_net_iov</c> takes a binding
    /// reference), or null. Set once by the owner before it hands net_iovs out.
    /// </summary>
    internal INetIovAreaRefOwner? RefOwner { get; set; }

    internal void GetUser()
    {
        Interlocked.Increment(ref _users);
        RefOwner?.GetRef();
    }

    internal void PutUser(NetmemRef niov)
    {
        if (Interlocked.Decrement(ref _users) < 0)
        {
            Interlocked.Increment(ref _users);
            throw new NetmemException($"put_netmem on {niov}: no reference held on net_iov area {Id} (double put)");
        }
        RefOwner?.PutRef(); // may free the owner and this area: nothing touches the area after it
    }

    /// <summary>Whether <see cref="Dispose"/> freed the descriptors.</summary>
    public bool IsDisposed => _desc == null;

    /// <summary>Frees the descriptors. Net_iovs still owned by a pool or held by users are a leak and refuse.</summary>
    public void Dispose()
    {
        if (_desc == null) return;
        if (Users != 0) throw new NetmemException($"net_iov area {Id} disposed with {Users} user references outstanding");
        for (int i = 0; i < Count; i++)
            if (_desc->Niovs[i].Desc.Pp != 0)
                throw new NetmemException($"net_iov area {Id} disposed while net_iov {i} is still owned by a page_pool");
        s_registry.Remove(_desc->Id, this);
        NativeMemory.AlignedFree(_desc->Niovs);
        NativeMemory.AlignedFree(_desc);
        _desc = null;
    }
}

/// <summary>An owner that every reference on its area's net_iovs keeps alive (a dma-buf binding).</summary>
internal interface INetIovAreaRefOwner
{
    void GetRef();
    void PutRef();
}
