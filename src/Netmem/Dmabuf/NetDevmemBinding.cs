using System.Diagnostics;
using Netmem.Devices;
using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Dmabuf;

/// <summary>
/// <c>struct net_devmem_dmabuf_binding</c> and its memory provider (<c>dmabuf_devmem_ops</c>): a dma-buf
/// attached to a NIC's DMA device and mapped through its IOMMU, cut into PAGE_SIZE net_iovs (one
/// <see cref="NetIovArea"/> of type DMABUF per scatter-list entry), bound to RX queues so that their
/// page_pools receive payload into it.
/// <para>
/// Make one with <see cref="BindRx"/> (the netdev family's bind-rx). The caller owns it: <see cref="Dispose"/>
/// unbinds, restarting the queues on pages, as closing the netlink socket does. The memory (IOMMU mappings,
/// areas, the dma-buf attachment) lives on until the last reference goes: the owner's, one per page_pool
/// that took the provider (until that pool is freed, i.e. until its last net_iov came back), and one per
/// net_iov reference held outside a pool (skb frags of non-pp skbs, devmem tokens).
/// </para>
/// </summary>
public sealed class NetDevmemBinding : IMemoryProvider, INetIovAreaRefOwner, IDisposable
{
    private static readonly Dictionary<uint, NetDevmemBinding> s_bindings = new();
    private static uint s_idNext;

    private readonly NetIovArea[] _areas;
    private readonly int[] _areaStart;
    private readonly List<NetdevRxQueue> _boundRxqs = [];
    private readonly DmaBufAttachment _attachment;
    private readonly DmaBufSgTable _sgt;
    private long _refs = 1;
    private int _unbound;

    private NetDevmemBinding(NetDevice dev, DmaDevice dma, DmaBuf dmabuf)
    {
        Device = dev;
        DmaDevice = dma;
        DmaBuf = dmabuf;
        Id = AllocId(this);
        try
        {
            _attachment = dmabuf.Attach(dma);
        }
        catch
        {
            FreeId();
            throw;
        }
        var areas = new List<NetIovArea>();
        try
        {
            _sgt = _attachment.Map(Direction);
            ulong virt = 0;
            foreach (var sg in _sgt.Entries)
            {
                if (sg.Length <= 0 || sg.Length % PageArena.PageSize != 0 || sg.DmaAddress % PageArena.PageSize != 0)
                    throw new NetmemErrnoException(Errno.EINVAL, $"{dmabuf}: scatter-list entry at dma 0x{sg.DmaAddress:x} of {sg.Length} bytes is not page aligned");
                long count = sg.Length / PageArena.PageSize;
                if (count > int.MaxValue)
                    throw new NetmemErrnoException(Errno.E2BIG, $"{dmabuf}: scatter-list entry of {sg.Length} bytes has too many net_iovs");
                var area = NetIovArea.Create(NetIovType.Dmabuf, (int)count, virt, this);
                areas.Add(area);
                area.DmabufId = Id;
                for (int i = 0; i < area.Count; i++)
                    MemoryProviderHelpers.SetDmaAddr(area[i], sg.DmaAddress + (ulong)i * PageArena.PageSize);
                virt += (ulong)sg.Length;
            }
            long total = (long)(virt / PageArena.PageSize);
            if (total > int.MaxValue)
                throw new NetmemErrnoException(Errno.E2BIG, $"{dmabuf}: {total} net_iovs are more than a binding holds");
            _areas = areas.ToArray();
            _areaStart = new int[_areas.Length];
            int start = 0;
            for (int i = 0; i < _areas.Length; i++)
            {
                _areaStart[i] = start;
                start += _areas[i].Count;
                _areas[i].RefOwner = this;
            }
            Chunks = new NetIovChunkAllocator(start);
        }
        catch
        {
            foreach (var a in areas) a.Dispose();
            _attachment.Detach(); // unmaps if mapped
            FreeId();
            throw;
        }
    }

    /// <summary>The binding's id (<c>binding->id</c>, nonzero, unique among live bindings): devmem receive's <c>dmabuf_id</c>, page-pool-get's and queue-get's <c>dmabuf</c>.</summary>
    public uint Id { get; }
    public NetDevice Device { get; }
    /// <summary><c>binding->direction</c>: what the dma-buf is mapped for; bind-rx maps it DMA_FROM_DEVICE.</summary>
    public DmaDirection Direction { get; } = DmaDirection.FromDevice;
    /// <summary>The device the dma-buf is attached to and mapped for (<c>dev->dev.parent</c>).</summary>
    public DmaDevice DmaDevice { get; }
    public DmaBuf DmaBuf { get; }
    /// <summary>The mapped scatter list (DMA_FROM_DEVICE).</summary>
    public DmaBufSgTable SgTable => _sgt;
    /// <summary>The net_iov areas, one per scatter-list entry, in dma-buf order.</summary>
    public IReadOnlyList<NetIovArea> Areas => _areas;
    /// <summary>net_iovs in all (dma-buf size / PAGE_SIZE).</summary>
    public int NetIovCount => Chunks.Capacity;
    /// <summary>The chunk pool the provider allocates net_iovs from.</summary>
    public NetIovChunkAllocator Chunks { get; }
    /// <summary>RX queues the binding is installed on now (<c>bound_rxqs</c>).</summary>
    public IReadOnlyList<NetdevRxQueue> BoundRxQueues { get { lock (_boundRxqs) return _boundRxqs.ToArray(); } }
    /// <summary>References held: the owner's until unbind, one per pool using it, one per net_iov reference outside pools.</summary>
    public long RefCount => Interlocked.Read(ref _refs);
    /// <summary>Whether <see cref="Dispose"/> unbound it (its memory may still be in use).</summary>
    public bool IsUnbound => Volatile.Read(ref _unbound) != 0;
    /// <summary>Whether the last reference went and the memory was freed (IOMMU mappings, areas, the attachment).</summary>
    public bool IsFreed => Interlocked.Read(ref _refs) == 0;

    /// <summary>The live binding with <paramref name="id"/> (not yet unbound), or null.</summary>
    public static NetDevmemBinding? FromId(uint id)
    {
        lock (s_bindings) return s_bindings.GetValueOrDefault(id);
    }

    /// <summary>
    /// bind-rx (<c>netdev_nl_bind_rx_doit</c>): attaches <paramref name="dmabuf"/> to <paramref name="dev"/>'s DMA
    /// device, maps it, cuts it into net_iovs, and installs the binding on each RX queue in
    /// <paramref name="rxQueues"/> (each restarts onto it). Errors (<see cref="NetmemErrnoException"/>), as the
    /// kernel: EINVAL (no queues; a dma-buf size or scatter-list entry not page aligned; tcp-data-split off or
    /// hds-thresh not 0), E2BIG (more than 2^32-1 net_iovs), ERANGE (a queue index out of range), EEXIST (an
    /// XDP program attached, or a queue already has a provider), EOPNOTSUPP (no DMA device or no queue
    /// management), ENODATA (the driver's pool did not take the provider), or a restart's errno. On any
    /// error every queue bound so far is restored to pages and the binding is gone.
    /// </summary>
    public static NetDevmemBinding BindRx(NetDevice dev, DmaBuf dmabuf, ReadOnlySpan<int> rxQueues)
    {
        ArgumentNullException.ThrowIfNull(dev);
        ArgumentNullException.ThrowIfNull(dmabuf);
        if (rxQueues.IsEmpty)
            throw new NetmemErrnoException(Errno.EINVAL, $"{dev.Name}: bind-rx needs at least one RX queue");
        var dma = dev.Dma ?? throw new NetmemErrnoException(Errno.EOPNOTSUPP, $"{dev.Name}: no DMA device to attach {dmabuf} to");
        if (dmabuf.Size <= 0 || dmabuf.Size % PageArena.PageSize != 0)
            throw new NetmemErrnoException(Errno.EINVAL, $"{dmabuf}: size is not a multiple of PAGE_SIZE ({PageArena.PageSize})");
        if (dmabuf.Size / PageArena.PageSize > uint.MaxValue)
            throw new NetmemErrnoException(Errno.E2BIG, $"{dmabuf}: {dmabuf.Size / PageArena.PageSize} net_iovs exceed the 2^32-1 a binding can index");
        NetDevmemBinding binding;
        dmabuf.Get(); // dma_buf_get: the binding's reference, put when its memory is freed
        try
        {
            binding = new NetDevmemBinding(dev, dma, dmabuf);
        }
        catch
        {
            dmabuf.Put();
            throw;
        }
        try
        {
            foreach (int q in rxQueues) binding.BindToQueue(q);
        }
        catch
        {
            binding.Unbind(rethrow: false);
            throw;
        }
        return binding;
    }

    /// <summary><c>net_devmem_bind_dmabuf_to_queue</c>.</summary>
    private void BindToQueue(int index)
    {
        Device.OpenMemoryProvider(index, this);
        lock (_boundRxqs) _boundRxqs.Add(Device.GetRxQueue(index));
    }

    /// <summary>
    /// Unbinds (<c>net_devmem_unbind_dmabuf</c>): every bound queue restarts on pages, the id is released,
    /// and the owner's reference goes. The memory is freed when the last net_iov comes back. A queue whose
    /// restart fails keeps the binding installed; the first such error is thrown after the rest are done.
    /// </summary>
    public void Dispose() => Unbind(rethrow: true);

    private void Unbind(bool rethrow)
    {
        if (Interlocked.Exchange(ref _unbound, 1) != 0) return;
        Exception? first = null;
        foreach (var q in BoundRxQueues)
        {
            try
            {
                Device.CloseMemoryProvider(q.Index, this); // uninstall takes it off _boundRxqs
            }
            catch (NetmemErrnoException e)
            {
                first ??= e;
            }
        }
        FreeId();
        PutRef();
        if (first is not null && rethrow) throw first;
    }

    // ---------------- references and freeing ----------------

    void INetIovAreaRefOwner.GetRef() => GetRef();
    void INetIovAreaRefOwner.PutRef() => PutRef();

    /// <summary><c>net_devmem_dmabuf_binding_get</c>.</summary>
    private void GetRef()
    {
        if (Interlocked.Increment(ref _refs) <= 1)
            throw new NetmemException($"{this}: reference taken on a freed binding");
    }

    /// <summary><c>net_devmem_dmabuf_binding_put</c>: the last reference frees the memory.</summary>
    private void PutRef()
    {
        long r = Interlocked.Decrement(ref _refs);
        if (r < 0) throw new NetmemException($"{this}: reference dropped on a freed binding");
        if (r == 0) Free();
    }

    /// <summary><c>__net_devmem_dmabuf_binding_free</c>.</summary>
    private void Free()
    {
        if (Chunks.Available != Chunks.Capacity)
            Trace.TraceError($"{this}: freed with {Chunks.InUse} chunks still allocated; their areas are leaked");
        else
            foreach (var a in _areas) a.Dispose();
        _attachment.Detach(); // unmaps the IOMMU mappings
        DmaBuf.Put();
    }

    private static uint AllocId(NetDevmemBinding b)
    {
        lock (s_bindings)
        {
            // xa_alloc_cyclic over 1..U32_MAX: the next free id after the last one handed out.
            do { s_idNext = s_idNext == uint.MaxValue ? 1 : s_idNext + 1; }
            while (s_bindings.ContainsKey(s_idNext));
            s_bindings.Add(s_idNext, b);
            return s_idNext;
        }
    }

    private void FreeId()
    {
        lock (s_bindings)
            if (s_bindings.TryGetValue(Id, out var b) && ReferenceEquals(b, this)) s_bindings.Remove(Id);
    }

    // ---------------- net_iovs ----------------

    /// <summary>The net_iov at <paramref name="index"/> in dma-buf order (0..<see cref="NetIovCount"/>-1).</summary>
    public NetmemRef NetIovAt(int index)
    {
        if ((uint)index >= (uint)NetIovCount) throw new ArgumentOutOfRangeException(nameof(index), $"net_iov {index} outside {this}");
        int a = Array.BinarySearch(_areaStart, index);
        if (a < 0) a = ~a - 1;
        return _areas[a][index - _areaStart[a]];
    }

    /// <summary>Index of one of this binding's net_iovs in dma-buf order (its offset in the dma-buf / PAGE_SIZE).</summary>
    public int IndexOf(NetmemRef niov)
    {
        if (!niov.IsNetIov || !ReferenceEquals(niov.NetIovOwner.Owner, this))
            throw new NetmemException($"{niov} does not belong to {this}");
        return (int)(niov.NetIovVirtualAddr / PageArena.PageSize);
    }

    // ---------------- the memory provider (dmabuf_devmem_ops) ----------------

    /// <summary><c>mp_dmabuf_devmem_init</c>: order-0 pools of the bound device only; dma-buf memory is never synced by the pool.</summary>
    Errno IMemoryProvider.Init(PagePool pool)
    {
        if (pool.Params.Order != 0) return Errno.E2BIG;
        if (!ReferenceEquals(pool.Params.Device, DmaDevice)) return Errno.EINVAL; // the net_iovs' addresses are in this device's IOVA space
        // The dma-buf's owner syncs its memory; dma_sync_for_cpu/device must not be used on these addresses.
        pool.DmaSync = false;
        pool.DmaSyncForCpu = false;
        GetRef();
        return Errno.None;
    }

    /// <summary><c>mp_dmabuf_devmem_alloc_netmems</c>: chunks from the pool; the page_pool stamps its pp info on them.</summary>
    int IMemoryProvider.AllocNetmems(PagePool pool, Span<NetmemRef> netmems)
    {
        Span<int> idx = stackalloc int[Math.Min(netmems.Length, PagePool.AllocCacheRefill)];
        int n = Chunks.Alloc(idx);
        for (int i = 0; i < n; i++) netmems[i] = NetIovAt(idx[i]);
        return n;
    }

    /// <summary><c>mp_dmabuf_devmem_release_page</c>: clears pp info and frees the chunk; the pool must not put the net_iov.</summary>
    bool IMemoryProvider.ReleaseNetmem(PagePool pool, NetmemRef netmem)
    {
        MemoryProviderHelpers.ClearPagePool(netmem);
        Chunks.Free(IndexOf(netmem));
        return false;
    }

    /// <summary><c>mp_dmabuf_devmem_destroy</c>: the pool's reference goes.</summary>
    void IMemoryProvider.Destroy(PagePool pool) => PutRef();

    /// <summary><c>mp_dmabuf_devmem_nl_fill</c>: the binding id, as the queue's or the pool's <c>dmabuf</c> attribute.</summary>
    MemoryProviderInfo IMemoryProvider.NlFill(NetdevRxQueue? rxq) => new(Id, false);

    /// <summary><c>mp_dmabuf_devmem_uninstall</c>: forget the queue.</summary>
    void IMemoryProvider.Uninstall(NetdevRxQueue rxq)
    {
        lock (_boundRxqs) _boundRxqs.Remove(rxq);
    }

    public override string ToString() => $"dmabuf binding {Id} ({DmaBuf.Name} on {Device.Name}, {NetIovCount} net_iovs)";
}
