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
/// <para>
/// <see cref="BindTx"/> (bind-tx) makes a TX binding instead: the dma-buf is mapped DMA_TO_DEVICE for the
/// device and every net_iov is listed in a tx vector (<c>binding->tx_vec</c>), so that an offset into the
/// dma-buf finds its net_iov (<see cref="TryGetNetIovAt"/>). Sends reference those net_iovs from skb frags;
/// each reference pins the binding, so <see cref="UnbindAsync"/> completes only when the last frag is gone.
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
    private readonly NetmemRef[]? _txVec;
    private readonly TaskCompletionSource _freed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _refs = 1;
    private int _unbound;

    private NetDevmemBinding(NetDevice dev, DmaDevice dma, DmaBuf dmabuf, DmaDirection direction)
    {
        Device = dev;
        DmaDevice = dma;
        DmaBuf = dmabuf;
        Direction = direction;
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
            if (direction == DmaDirection.ToDevice)
                _txVec = new NetmemRef[dmabuf.Size / PageArena.PageSize];
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
                {
                    MemoryProviderHelpers.SetDmaAddr(area[i], sg.DmaAddress + (ulong)i * PageArena.PageSize);
                    if (_txVec is not null) _txVec[virt / PageArena.PageSize + (ulong)i] = area[i];
                }
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
    /// <summary><c>binding->direction</c>: what the dma-buf is mapped for; bind-rx maps it DMA_FROM_DEVICE, bind-tx DMA_TO_DEVICE.</summary>
    public DmaDirection Direction { get; }
    /// <summary>Whether bind-tx made it (it has a tx vector and may be sent from; it is never installed on RX queues).</summary>
    public bool IsTx => _txVec is not null;
    /// <summary>The device the dma-buf is attached to and mapped for (<c>dev->dev.parent</c>).</summary>
    public DmaDevice DmaDevice { get; }
    public DmaBuf DmaBuf { get; }
    /// <summary>The mapped scatter list (in <see cref="Direction"/>).</summary>
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
    /// <summary>Completes when the memory has been freed: after unbind, once the last pool and net_iov reference went.</summary>
    public Task Freed => _freed.Task;
    /// <summary>
    /// net_iov references held now (skb frags on send queues and in flight, devmem tokens, pool-owned net_iovs
    /// outside the pool's ring): each pins the binding. A TX binding's inflight count; 0 once every send is done with it.
    /// </summary>
    public long NetIovRefs
    {
        get
        {
            long n = 0;
            foreach (var a in _areas) if (!a.IsDisposed) n += a.Users;
            return n;
        }
    }

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
            binding = new NetDevmemBinding(dev, dma, dmabuf, DmaDirection.FromDevice);
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

    /// <summary>
    /// bind-tx (<c>netdev_nl_bind_tx_doit</c>): attaches <paramref name="dmabuf"/> to <paramref name="dev"/>'s DMA
    /// device, maps it DMA_TO_DEVICE, cuts it into net_iovs and lists them in the tx vector. The result's
    /// <see cref="Id"/> is the dmabuf id sends name (SCM_DEVMEM_DMABUF). Errors (<see cref="NetmemErrnoException"/>),
    /// as the kernel: EOPNOTSUPP (the driver does not do netmem TX, or there is no DMA device), ENODEV (the
    /// device is gone, <c>netif_device_present</c>), EINVAL (a dma-buf size or scatter-list entry not page aligned), E2BIG (more than
    /// 2^32-1 net_iovs). Unbind with <see cref="UnbindAsync"/> (or <see cref="Dispose"/>, which does not wait).
    /// </summary>
    public static NetDevmemBinding BindTx(NetDevice dev, DmaBuf dmabuf)
    {
        ArgumentNullException.ThrowIfNull(dev);
        ArgumentNullException.ThrowIfNull(dmabuf);
        if (dev.IsDisposed)
            throw new NetmemErrnoException(Errno.ENODEV, $"{dev.Name}: bind-tx on a device that is not present");
        if (!dev.NetmemTx)
            throw new NetmemErrnoException(Errno.EOPNOTSUPP, $"{dev.Name}: driver does not support netmem TX");
        var dma = dev.Dma ?? throw new NetmemErrnoException(Errno.EOPNOTSUPP, $"{dev.Name}: device does not support DMA");
        if (dmabuf.Size <= 0 || dmabuf.Size % PageArena.PageSize != 0)
            throw new NetmemErrnoException(Errno.EINVAL, $"{dmabuf}: size is not a multiple of PAGE_SIZE ({PageArena.PageSize})");
        if (dmabuf.Size / PageArena.PageSize > int.MaxValue)
            throw new NetmemErrnoException(Errno.E2BIG, $"{dmabuf}: {dmabuf.Size / PageArena.PageSize} net_iovs are more than a TX binding indexes");
        dmabuf.Get(); // the binding's reference, put when its memory is freed
        try
        {
            return new NetDevmemBinding(dev, dma, dmabuf, DmaDirection.ToDevice);
        }
        catch
        {
            dmabuf.Put();
            throw;
        }
    }

    /// <summary>
    /// Unbinds (as <see cref="Dispose"/>) and returns a task that completes when the memory is freed: for a TX
    /// binding, once every frag that references its net_iovs has been ACKed or dropped (the send queue's
    /// extents and in-flight skbs let go). Sends naming the id fail with EINVAL from now on.
    /// </summary>
    public Task UnbindAsync()
    {
        Unbind(rethrow: true);
        return Freed;
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

    /// <summary><c>refcount_inc_not_zero</c>: a reference unless the binding is already being freed.</summary>
    private bool TryGetRef()
    {
        long r;
        do
        {
            r = Interlocked.Read(ref _refs);
            if (r <= 0) return false;
        }
        while (Interlocked.CompareExchange(ref _refs, r + 1, r) != r);
        return true;
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
        _freed.TrySetResult();
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

    // ---------------- TX: the tx vector and the send-side lookup ----------------

    /// <summary>
    /// <c>net_devmem_get_binding</c>: the TX binding a send names by <paramref name="dmabufId"/>, with a reference
    /// the caller drops with <see cref="ReleaseTx"/> when the send is done (its frags hold their own). EINVAL when
    /// no live binding has the id (never bound, or unbound) or it is an RX binding; ENODEV when it belongs to a
    /// device other than the socket's route device (<paramref name="routeIfindex"/>): its DMA addresses are in
    /// that device's IOMMU only.
    /// </summary>
    public static Errno TryAcquireTx(uint dmabufId, int routeIfindex, out NetDevmemBinding? binding)
    {
        binding = null;
        NetDevmemBinding? b;
        lock (s_bindings)
        {
            b = s_bindings.GetValueOrDefault(dmabufId);
            if (b is null || !b.IsTx || !b.TryGetRef()) return Errno.EINVAL;
        }
        if (b.Device.Ifindex != routeIfindex)
        {
            b.PutRef();
            return Errno.ENODEV;
        }
        binding = b;
        return Errno.None;
    }

    /// <summary>Drops the reference <see cref="TryAcquireTx"/> took (<c>net_devmem_dmabuf_binding_put</c>).</summary>
    public void ReleaseTx() => PutRef();

    /// <summary>
    /// <c>net_devmem_get_niov_at</c>: the net_iov that holds byte <paramref name="offset"/> of the dma-buf, the
    /// offset in it, and the bytes from there to its end. False when the offset is outside the dma-buf (the
    /// kernel's send then fails with EFAULT) or this is not a TX binding.
    /// </summary>
    public bool TryGetNetIovAt(long offset, out NetmemRef niov, out int offsetInNiov, out int size)
    {
        var vec = _txVec;
        if (vec is null || offset < 0 || offset >= DmaBuf.Size)
        {
            niov = default;
            offsetInNiov = size = 0;
            return false;
        }
        niov = vec[offset / PageArena.PageSize];
        offsetInNiov = (int)(offset % PageArena.PageSize);
        size = PageArena.PageSize - offsetInNiov;
        return true;
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
        if (IsTx) return Errno.EINVAL; // a TX binding's net_iovs are mapped for the device to read, not to receive into
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

    public override string ToString() => $"{(IsTx ? "TX" : "RX")} dmabuf binding {Id} ({DmaBuf.Name} on {Device.Name}, {NetIovCount} net_iovs)";
}
