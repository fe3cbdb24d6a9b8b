using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Netmem.Memory;

namespace Netmem.Pool;

// Everything that is not the alloc/put fast path: creation, refill, the provider slow path,
// release, fragments, destroy with deferred release, stats and introspection.
public sealed unsafe partial class PagePool
{
    private static readonly SlotRegistry<PagePool> s_registry = new();
    private static int s_nextId;

    /// <summary>Raised when a destroyed pool still has netmem inflight after the warning interval.</summary>
    public static event Action<PagePool, string>? Warning;

    /// <summary>How often a destroyed pool retries releasing returned netmem (DEFER_TIME).</summary>
    public static readonly TimeSpan DeferTime = TimeSpan.FromSeconds(1);
    /// <summary>How long before a stalled destroy warns, and then how often (DEFER_WARN_INTERVAL).</summary>
    public static readonly TimeSpan DeferWarnInterval = TimeSpan.FromSeconds(60);

    private readonly PtrRing _ring;
    private readonly IMemoryProvider _provider; // the queue's memory provider, or the page allocator
    private readonly IMemoryProvider? _mp;      // pool->mp_ops: the provider taken from the RX queue
    private readonly DmaDevice? _device;
    private readonly bool _dmaMap;              // the pool maps and unmaps its pages (the page allocator only)
    private bool _dmaSync, _dmaSyncForCpu, _initializing;
    private readonly int _order, _maxLen, _offset;
    private readonly DmaDirection _dmaDir;
    private readonly TimeProvider _time;
    private readonly object _releaseLock = new();

    // alloc-side counters (NAPI context only)
    private long _allocSlow, _allocSlowHighOrder, _allocEmpty, _allocRefill, _allocWaive, _recycleCacheFull;
    // recycle-side counters that any thread bumps
    private long _recycleRing, _recycleRingFull, _recycleReleasedRefcnt;
    // pages_state_hold_cnt (alloc side) and pages_state_release_cnt (any thread)
    private long _holdCount, _releaseCount;

    // fragment state (alloc side)
    private NetmemRef _fragPage;
    private int _fragOffset;
    private long _fragUsers;

    private int _destroyState; // 0 live, 1 destroyed (waiting for inflight), 2 freed
    private bool _scrubbing;   // a scrub (under _releaseLock) is emptying the cache and ring
    private long _detachTime;
    private long _destroyTimestamp;
    private long _lastWarnTimestamp;
    private ITimer? _retryTimer;

    private PagePool(PagePoolParams p, IMemoryProvider? mp, int ringSize)
    {
        Params = p;
        _mp = mp;
        _provider = mp ?? new PageArenaProvider(p.Arena ?? PageArena.Shared);
        _device = p.Device;
        _order = p.Order;
        _maxLen = p.MaxLen;
        _offset = p.Offset;
        _dmaDir = p.DmaDir;
        _nid = p.Nid;
        _napiId = p.Napi?.NapiId ?? 0;
        _time = p.TimeProvider ?? TimeProvider.System;
        _dmaMap = (p.Flags & PagePoolFlags.DmaMap) != 0 && mp is null;
        _dmaSync = (p.Flags & PagePoolFlags.DmaSyncDev) != 0;
        _dmaSyncForCpu = (p.Flags & PagePoolFlags.DmaMap) != 0;
        if (_dmaSync) _putFlags |= PutSyncDev;
        _ring = new PtrRing(ringSize);
        _cache = (nuint*)NativeMemory.AlignedAlloc(AllocCacheSize * (nuint)sizeof(nuint), 64);
        var handle = (PpHandle*)NativeMemory.AlignedAlloc((nuint)sizeof(PpHandle), 64);
        _pp = (nint)handle;
        Id = Interlocked.Increment(ref s_nextId);
        handle->Id = Id;
        handle->Slot = s_registry.Add(this);
    }

    /// <summary>
    /// <c>page_pool_create</c>: validates <paramref name="p"/> like the kernel (EINVAL for bad flag
    /// combinations), takes the RX queue's memory provider when the driver allows unreadable netmem
    /// (EOPNOTSUPP unless the pool has DMA_MAP and DMA_SYNC_DEV), initialises it, and returns the pool.
    /// </summary>
    public static PagePool Create(PagePoolParams p)
    {
        ArgumentNullException.ThrowIfNull(p);
        if ((uint)p.Order > PageArena.MaxOrder)
            throw Einval($"order {p.Order} is outside 0..{PageArena.MaxOrder}");
        if (p.PoolSize < 0) throw Einval($"pool_size {p.PoolSize} is negative");
        if (p.Nid < 0) throw Einval($"nid {p.Nid} is negative");
        bool dmaMap = (p.Flags & PagePoolFlags.DmaMap) != 0;
        if (dmaMap)
        {
            if (p.Device is null) throw Einval("PP_FLAG_DMA_MAP needs a device to map for");
            if (p.DmaDir != DmaDirection.FromDevice && p.DmaDir != DmaDirection.Bidirectional)
                throw Einval($"dma_dir {p.DmaDir} is not DMA_FROM_DEVICE or DMA_BIDIRECTIONAL");
        }
        if ((p.Flags & PagePoolFlags.DmaSyncDev) != 0)
        {
            if (!dmaMap) throw Einval("PP_FLAG_DMA_SYNC_DEV requires PP_FLAG_DMA_MAP");
            if (p.MaxLen <= 0) throw Einval("PP_FLAG_DMA_SYNC_DEV requires max_len > 0");
        }
        int pageBytes = PageArena.PageSize << p.Order;
        if (p.MaxLen < 0 || p.Offset < 0 || (long)p.Offset + p.MaxLen > pageBytes)
            throw Einval($"offset {p.Offset} + max_len {p.MaxLen} exceed the {pageBytes}-byte page");
        IMemoryProvider? mp = null;
        if ((p.Flags & PagePoolFlags.AllowUnreadableNetmem) != 0)
        {
            // The driver accepts net_iovs: the provider comes from the queue (rxq->mp_params), never from the driver.
            if (p.Netdev is null)
                throw Einval("PP_FLAG_ALLOW_UNREADABLE_NETMEM needs the netdev and queue_idx the pool serves");
            if ((uint)p.QueueIndex >= (uint)p.Netdev.RealNumRxQueues)
                throw Einval($"queue_idx {p.QueueIndex} is not an RX queue of {p.Netdev.Name}");
            mp = p.Netdev.GetRxQueue(p.QueueIndex).MemoryProvider;
        }
        if (mp is not null && (!dmaMap || (p.Flags & PagePoolFlags.DmaSyncDev) == 0))
            throw new NetmemErrnoException(Errno.EOPNOTSUPP,
                $"page_pool_create: rx queue {p.QueueIndex} of {p.Netdev!.Name} has a memory provider, which needs PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV");

        int ringSize = p.PoolSize == 0 ? PagePoolParams.DefaultPoolSize : p.PoolSize;
        ringSize = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Min(ringSize, PagePoolParams.MaxPoolSize));
        var pool = new PagePool(p, mp, ringSize);
        if (mp is null) return pool;
        Errno err;
        pool._initializing = true;
        try
        {
            err = mp.Init(pool);
        }
        catch
        {
            pool.FreeNative();
            throw;
        }
        finally
        {
            pool._initializing = false;
        }
        if (err != Errno.None)
        {
            pool.FreeNative();
            throw new NetmemErrnoException(err, $"page_pool_create: memory provider {mp} refused to initialise");
        }
        if (!pool._dmaSync) pool._putFlags &= ~PutSyncDev;
        return pool;
    }

    private static NetmemErrnoException Einval(string why) => new(Errno.EINVAL, "page_pool_create: " + why);

    /// <summary>The parameters the pool was created with.</summary>
    public PagePoolParams Params { get; }
    /// <summary>Pool id, as page-pool-get reports it.</summary>
    public int Id { get; }
    /// <summary><c>pool->mp_ops</c>: the memory provider taken from the RX queue, or null when the pool uses the page allocator.</summary>
    public IMemoryProvider? MemoryProvider => _mp;

    /// <summary>
    /// <c>pool->dma_sync</c>: the pool syncs recycled netmem for the device (PP_FLAG_DMA_SYNC_DEV). A memory
    /// provider's <see cref="IMemoryProvider.Init"/> may turn it off; it cannot be changed after that.
    /// </summary>
    public bool DmaSync
    {
        get => _dmaSync;
        set { RequireInit(); _dmaSync = value; }
    }

    /// <summary><c>pool->dma_sync_for_cpu</c>: <see cref="DmaSyncNetmemForCpu"/> syncs (set with DMA_MAP; a provider's init may turn it off).</summary>
    public bool DmaSyncForCpu
    {
        get => _dmaSyncForCpu;
        set { RequireInit(); _dmaSyncForCpu = value; }
    }

    private void RequireInit()
    {
        if (!_initializing) throw new InvalidOperationException($"page_pool {Id}: DMA sync settings change only in the memory provider's init");
    }
    /// <summary>Size of the ptr_ring after rounding and clamping.</summary>
    public int RingSize => _ring.Capacity;
    /// <summary>Entries now in the alloc cache.</summary>
    public int CacheCount => _cacheCount;
    /// <summary>Entries now in the ptr_ring (approximate while producers run).</summary>
    public int RingCount => _ring.Count;
    /// <summary>Whether the pool has been destroyed (it may still wait for inflight netmem).</summary>
    public bool IsDestroyed => Volatile.Read(ref _destroyState) != 0;
    /// <summary>Whether a destroyed pool has released everything and freed itself.</summary>
    public bool IsFreed => Volatile.Read(ref _destroyState) == 2;
    /// <summary>The pool's NUMA node.</summary>
    public int Nid => _nid;

    /// <summary>pages_state_hold_cnt: netmems the pool has taken from its provider.</summary>
    public long HoldCount => Volatile.Read(ref _holdCount);
    /// <summary>pages_state_release_cnt: netmems the pool has given back.</summary>
    public long ReleaseCount => Interlocked.Read(ref _releaseCount);
    /// <summary><c>page_pool_inflight</c>: hold - release. Includes netmem in the cache and ring.</summary>
    public long Inflight => HoldCount - ReleaseCount;
    /// <summary>Inflight netmem in bytes.</summary>
    public long InflightMemory => Inflight * ((long)PageArena.PageSize << _order);

    /// <summary><c>netmem_get_pp</c>: the pool that owns <paramref name="netmem"/>, or null.</summary>
    public static PagePool? FromNetmem(NetmemRef netmem) => netmem.IsNull ? null : FromPp(netmem.Pp);

    internal static PagePool? FromPp(nint pp)
    {
        if (pp == 0) return null;
        return s_registry.Get(((PpHandle*)pp)->Slot);
    }

    /// <summary>Pools that exist now, destroyed-but-waiting ones included (the netlink dump).</summary>
    public static IReadOnlyList<PagePool> All
    {
        get
        {
            return s_registry.Snapshot().OrderBy(p => p.Id).ToArray();
        }
    }

    // ---------------- allocation slow path ----------------

    [MethodImpl(MethodImplOptions.NoInlining)]
    private NetmemRef AllocNetmemSlow()
    {
        if (Volatile.Read(ref _destroyState) != 0)
            throw new NetmemException($"page_pool {Id}: allocation after destroy (use after page_pool_destroy)");
        var netmem = RefillAllocCache();
        if (netmem.IsNull) netmem = AllocFromProvider();
        if (!netmem.IsNull) netmem.SetPpRefCount(1);
        return netmem;
    }

    /// <summary><c>page_pool_refill_alloc_cache</c>: up to 64 entries from the ring; remote-node pages are waived.</summary>
    private NetmemRef RefillAllocCache()
    {
        if (_ring.IsEmpty)
        {
            _allocEmpty++;
            return s_null;
        }
        int n = _cacheCount;
        while (n < AllocCacheRefill && _ring.TryConsume(out nuint v))
        {
            var netmem = NetmemRef.FromRaw(v);
            if (netmem.IsNetIov || netmem.Nid == _nid)
            {
                _cache[n++] = v;
            }
            else
            {
                ReturnNetmem(netmem); // NUMA node changed: give the page back rather than reuse it
                _allocWaive++;
            }
        }
        if (n == 0)
        {
            _cacheCount = 0;
            return s_null;
        }
        _cacheCount = n - 1;
        _allocRefill++;
        return NetmemRef.FromRaw(_cache[n - 1]);
    }

    /// <summary>
    /// <c>__page_pool_alloc_netmems_slow</c>: a bulk from the provider, mapped, stamped with pp info and counted
    /// as held. Netmems a provider placed in the cache meanwhile (<see cref="PlaceInCache"/>: still held, so not
    /// counted again) are served first-come with them.
    /// </summary>
    private NetmemRef AllocFromProvider()
    {
        Span<NetmemRef> bulk = stackalloc NetmemRef[AllocCacheRefill];
        int got = _provider.AllocNetmems(this, _order == 0 ? bulk : bulk[..1]);
        int n = _cacheCount;
        for (int i = 0; i < got; i++)
        {
            var netmem = bulk[i];
            if (_dmaMap && !DmaMap(netmem))
            {
                netmem.Put();
                continue;
            }
            netmem.SetPp(_pp);
            netmem.OrPpMagic(PpMagic.Signature);
            netmem.SetPpRefCount(0);
            _holdCount++;
            _cache[n++] = netmem.Value;
        }
        if (n == 0) return s_null; // out of memory
        _cacheCount = n - 1;
        if (_order > 0) _allocSlowHighOrder++; else _allocSlow++;
        return NetmemRef.FromRaw(_cache[n - 1]);
    }

    private bool DmaMap(NetmemRef netmem)
    {
        ulong iova;
        try
        {
            iova = _device!.MapPage(netmem, 0, PageArena.PageSize << _order, _dmaDir);
        }
        catch (InvalidOperationException)
        {
            return false; // IOVA space exhausted: treat like a dma_mapping_error
        }
        netmem.SetDmaAddr(iova);
        if (_dmaSync) SyncForDevice(netmem, _maxLen);
        return true;
    }

    // ---------------- put slow path ----------------

    /// <summary><c>page_pool_unref_netmem</c> when the caller is not the only user: atomic, underflow-checked.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private long UnrefSlow(NetmemRef netmem, long seen) => Unref(netmem, 1, seen);

    private long Unref(NetmemRef netmem, long nr, long seen)
    {
        if (seen == nr)
        {
            netmem.SetPpRefCount(0);
            return 0;
        }
        long left = netmem.AddPpRefCount(-nr);
        if (left < 0)
        {
            netmem.AddPpRefCount(nr);
            throw new NetmemException($"page_pool {Id}: double put of {netmem} (pp_ref_count would go to {left}; the pool already owns it)");
        }
        return left;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void PutUnrefedSlow(NetmemRef netmem, int dmaSyncSize, bool allowDirect)
    {
        if ((_putFlags & PutDestroyed) != 0)
        {
            ReturnNetmem(netmem); // late return after destroy: release it
            return;
        }
        bool napiLocal = _napiId != 0 && NapiScope.Current == _napiId;
        // Direct recycling needs the NAPI context: promised by the caller, or detected here.
        allowDirect = _napiId == 0 ? allowDirect : napiLocal;
        if (!IsReusable(netmem, netmem.Desc))
        {
            Interlocked.Increment(ref _recycleReleasedRefcnt);
            ReturnNetmem(netmem);
            return;
        }
        if ((_putFlags & PutSyncDev) != 0) SyncForDevice(netmem, dmaSyncSize);
        if (allowDirect)
        {
            if (_cacheCount < AllocCacheSize)
            {
                _cache[_cacheCount++] = netmem.Value;
                _recycleCached++;
                return;
            }
            _recycleCacheFull++;
        }
        if (_ring.TryProduce(netmem.Value))
        {
            Interlocked.Increment(ref _recycleRing);
            return;
        }
        Interlocked.Increment(ref _recycleRingFull);
        ReturnNetmem(netmem);
    }

    /// <summary><c>page_pool_dma_sync_for_device</c>: min(size, max_len) bytes from the pool offset.</summary>
    private void SyncForDevice(NetmemRef netmem, int dmaSyncSize)
    {
        int size = dmaSyncSize < 0 ? _maxLen : Math.Min(dmaSyncSize, _maxLen);
        if (size > 0) _device!.SyncSingleForDevice(netmem.DmaAddr + (ulong)_offset, size, _dmaDir);
    }

    /// <summary>
    /// <c>page_pool_dma_sync_netmem_for_cpu</c>: hands received bytes to the CPU when the pool syncs for the
    /// CPU (<see cref="DmaSyncForCpu"/>); a no-op for memory whose provider turned syncing off (a dma-buf).
    /// </summary>
    public void DmaSyncNetmemForCpu(NetmemRef netmem, int offset, int size)
    {
        if (!_dmaSyncForCpu || size <= 0) return;
        _device!.SyncSingleForCpu(netmem.DmaAddr + (ulong)(offset + _offset), size, _dmaDir);
    }

    /// <summary><c>page_pool_get_dma_addr_netmem</c>.</summary>
    public static ulong GetDmaAddr(NetmemRef netmem) => netmem.DmaAddr;

    /// <summary><c>page_pool_return_page</c>: unmap, give back to the provider, count the release.</summary>
    private void ReturnNetmem(NetmemRef netmem)
    {
        bool put;
        if (_mp is not null)
        {
            put = _mp.ReleaseNetmem(this, netmem); // the provider set dma_addr and keeps it
        }
        else
        {
            if (_dmaMap)
            {
                _device!.UnmapPage(netmem.DmaAddr, PageArena.PageSize << _order, _dmaDir);
            }
            netmem.SetDmaAddr(0);
            put = _provider.ReleaseNetmem(this, netmem);
        }
        if (put)
        {
            ClearPpInfo(netmem);
            netmem.Put();
        }
        Interlocked.Increment(ref _releaseCount);
        // Not while a scrub walks the cache and ring: freeing them under it was a use-after-free (its
        // caller frees the pool once the scrub is done).
        if (Volatile.Read(ref _destroyState) == 1 && !Volatile.Read(ref _scrubbing) && Inflight == 0) TryFree();
    }

    /// <summary><c>page_pool_clear_pp_info</c>.</summary>
    internal static void ClearPpInfo(NetmemRef netmem)
    {
        netmem.ClearPpMagic();
        netmem.SetPp(0);
        netmem.SetPpRefCount(0);
    }

    /// <summary>
    /// Stamps pp info on a netmem a provider hands over outside the bulk path (<c>net_mp_niov_set_page_pool</c>)
    /// and counts it as held.
    /// </summary>
    internal void SetPpInfo(NetmemRef netmem)
    {
        netmem.SetPp(_pp);
        netmem.OrPpMagic(PpMagic.Signature);
        netmem.SetPpRefCount(0);
        _holdCount++;
    }

    /// <summary><c>net_mp_netmem_place_in_cache</c> (NAPI context only).</summary>
    internal bool PlaceInCache(NetmemRef netmem)
    {
        if (netmem.Pp != _pp) throw new NetmemException($"page_pool {Id}: {netmem} placed in the cache of a pool that does not own it");
        if (_cacheCount >= AllocCacheSize) return false;
        netmem.SetPpRefCount(0);
        _cache[_cacheCount++] = netmem.Value;
        return true;
    }

    /// <summary><c>page_pool_put_netmem_bulk</c>.</summary>
    public void PutNetmemBulk(ReadOnlySpan<NetmemRef> netmems, bool allowDirect = false)
    {
        foreach (var n in netmems) PutNetmem(n, -1, allowDirect);
    }

    /// <summary><c>page_pool_ref_netmem</c>: one more pp reference (an skb frag clone, say).</summary>
    public static void RefNetmem(NetmemRef netmem)
    {
        if (netmem.PpRefCount <= 0)
            throw new NetmemException($"page_pool_ref_netmem on {netmem}: it is not handed out (pp_ref_count {netmem.PpRefCount})");
        netmem.AddPpRefCount(1);
    }

    /// <summary><c>page_pool_fragment_netmem</c>: sets pp_ref_count to <paramref name="nr"/> users.</summary>
    public static void FragmentNetmem(NetmemRef netmem, long nr) => netmem.SetPpRefCount(nr);

    /// <summary>
    /// <c>napi_pp_put_page</c>: returns an skb frag's netmem to whichever pool owns it (found through
    /// pp_magic and pp). Returns false when the netmem is not page_pool memory.
    /// </summary>
    public static bool NapiPpPutPage(NetmemRef netmem)
    {
        netmem = netmem.CompoundHead;
        if (!netmem.IsPp) return false;
        var pool = FromPp(netmem.Pp) ?? throw new NetmemException($"{netmem} carries PP_SIGNATURE but names no live page_pool");
        pool.PutNetmem(netmem, -1, allowDirect: false);
        return true;
    }

    /// <summary><c>page_pool_nid_changed</c>: the pool's node moved; pages of the old node are waived.</summary>
    public void NidChanged(int newNid)
    {
        if (newNid < 0) throw new ArgumentOutOfRangeException(nameof(newNid));
        _nid = newNid;
    }

    // ---------------- fragments ----------------

    /// <summary>
    /// <c>page_pool_alloc_frag_netmem</c>: <paramref name="size"/> bytes (rounded up to 64) from a page
    /// shared with other fragments. The page's pp_ref_count starts at BIAS_MAX and is settled when the
    /// pool moves on, so the page recycles when its last fragment is put.
    /// </summary>
    public NetmemRef AllocFragNetmem(int size, out int offset)
    {
        int maxSize = PageArena.PageSize << _order;
        if (size <= 0 || size > maxSize)
            throw new ArgumentOutOfRangeException(nameof(size), $"fragment of {size} bytes from a pool of {maxSize}-byte pages");
        size = (size + FragAlignment - 1) & ~(FragAlignment - 1);
        var netmem = _fragPage;
        offset = _fragOffset;
        if (!netmem.IsNull && offset + size > maxSize)
        {
            netmem = DrainFrag(netmem);
            if (!netmem.IsNull)
            {
                _allocFast++;
                return ResetFrag(netmem, size, out offset);
            }
        }
        if (netmem.IsNull)
        {
            netmem = AllocNetmem();
            _fragPage = netmem;
            if (netmem.IsNull) { offset = 0; return netmem; }
            return ResetFrag(netmem, size, out offset);
        }
        _fragUsers++;
        _fragOffset = offset + size;
        _allocFast++;
        return netmem;
    }

    private NetmemRef ResetFrag(NetmemRef netmem, int size, out int offset)
    {
        _fragPage = netmem;
        _fragUsers = 1;
        offset = 0;
        _fragOffset = size;
        FragmentNetmem(netmem, BiasMax);
        return netmem;
    }

    /// <summary><c>page_pool_drain_frag</c>: settles the bias; returns the page if no fragment is still out.</summary>
    private NetmemRef DrainFrag(NetmemRef netmem)
    {
        long drain = BiasMax - _fragUsers;
        _fragPage = s_null;
        if (Unref(netmem, drain, netmem.PpRefCount) != 0) return s_null; // fragments still out
        if (IsReusable(netmem, netmem.Desc))
        {
            if ((_putFlags & PutSyncDev) != 0) SyncForDevice(netmem, -1);
            return netmem;
        }
        ReturnNetmem(netmem);
        return s_null;
    }

    /// <summary>
    /// <c>page_pool_alloc_netmem</c>: a buffer of <paramref name="size"/> bytes. Requests over half a page
    /// get a whole page; smaller ones a fragment. <paramref name="size"/> comes back as the true size
    /// charged (a fragment that leaves no room for another takes the rest of the page).
    /// </summary>
    public NetmemRef AllocNetmem(ref int size, out int offset)
    {
        int maxSize = PageArena.PageSize << _order;
        if ((long)size << 1 > maxSize)
        {
            size = maxSize;
            offset = 0;
            return AllocNetmem();
        }
        var netmem = AllocFragNetmem(size, out offset);
        if (netmem.IsNull) return netmem;
        int aligned = (size + FragAlignment - 1) & ~(FragAlignment - 1);
        if (_fragOffset + aligned > maxSize)
        {
            size = maxSize - offset;
            _fragOffset = maxSize;
        }
        else
        {
            size = aligned;
        }
        return netmem;
    }

    /// <summary><c>page_pool_free_frag</c>: settles the current fragment page at destroy.</summary>
    private void FreeFrag()
    {
        var netmem = _fragPage;
        _fragPage = s_null;
        if (netmem.IsNull) return;
        if (Unref(netmem, BiasMax - _fragUsers, netmem.PpRefCount) != 0) return;
        ReturnNetmem(netmem);
    }

    // ---------------- destroy ----------------

    /// <summary>
    /// <c>page_pool_destroy</c>: empties the cache and ring and releases what it can. Netmem still
    /// inflight (in skbs, sockets, user tokens) is not touched: the pool stays alive, releases each one
    /// as it comes back, retries every <see cref="DeferTime"/>, warns after <see cref="DeferWarnInterval"/>,
    /// and frees itself when the last returns. Call it once the NAPI context no longer allocates.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.CompareExchange(ref _destroyState, 1, 0) != 0) return;
        _putFlags |= PutDestroyed;
        lock (_releaseLock)
        {
            FreeFrag();
            Scrub();
        }
        if (Inflight == 0)
        {
            TryFree();
            return;
        }
        _detachTime = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        _destroyTimestamp = _lastWarnTimestamp = _time.GetTimestamp();
        _retryTimer = _time.CreateTimer(static s => ((PagePool)s!).RetryRelease(), this, DeferTime, DeferTime);
        if (IsFreed) _retryTimer.Dispose(); // the last netmem came back while the timer was being armed
    }

    /// <summary><c>page_pool_scrub</c>: releases everything in the alloc cache and the ring.</summary>
    private void Scrub()
    {
        Volatile.Write(ref _scrubbing, true);
        try
        {
            while (_cacheCount > 0) ReturnNetmem(NetmemRef.FromRaw(_cache[--_cacheCount]));
            while (_ring.TryConsume(out nuint v)) ReturnNetmem(NetmemRef.FromRaw(v));
        }
        finally
        {
            Volatile.Write(ref _scrubbing, false);
        }
    }

    /// <summary><c>page_pool_release_retry</c>.</summary>
    private void RetryRelease()
    {
        if (IsFreed) return;
        lock (_releaseLock) Scrub();
        if (Inflight == 0)
        {
            TryFree();
            return;
        }
        long now = _time.GetTimestamp();
        if (_time.GetElapsedTime(_lastWarnTimestamp, now) >= DeferWarnInterval)
        {
            _lastWarnTimestamp = now;
            string msg = $"page_pool {Id}: stalled pool shutdown: {Inflight} inflight for {(int)_time.GetElapsedTime(_destroyTimestamp, now).TotalSeconds} s";
            Trace.TraceWarning(msg);
            Warning?.Invoke(this, msg);
        }
    }

    /// <summary>Forces one deferred-release pass now (what the timer does every second).</summary>
    public void ReleaseRetryNow() => RetryRelease();

    private void TryFree()
    {
        if (Interlocked.CompareExchange(ref _destroyState, 2, 1) != 1) return;
        _retryTimer?.Dispose();
        _mp?.Destroy(this);
        FreeNative();
    }

    private void FreeNative()
    {
        s_registry.Remove(((PpHandle*)_pp)->Slot, this);
        _ring.Dispose();
        NativeMemory.AlignedFree(_cache);
        // The handle stays allocated: stale pp words in released descriptors were cleared,
        // but freeing it would let a later allocation reuse the address as another pool's pp.
    }

    // ---------------- stats and introspection ----------------

    /// <summary><c>page_pool_get_stats</c>: a snapshot of the 11 counters.</summary>
    public PagePoolStats GetStats() => new(
        Volatile.Read(ref _allocFast), Volatile.Read(ref _allocSlow), Volatile.Read(ref _allocSlowHighOrder),
        Volatile.Read(ref _allocEmpty), Volatile.Read(ref _allocRefill), Volatile.Read(ref _allocWaive),
        Volatile.Read(ref _recycleCached), Volatile.Read(ref _recycleCacheFull), Interlocked.Read(ref _recycleRing),
        Interlocked.Read(ref _recycleRingFull), Interlocked.Read(ref _recycleReleasedRefcnt));

    /// <summary>page-pool-get: what the netdev netlink family reports.</summary>
    public PagePoolInfo GetInfo()
    {
        var info = new PagePoolInfo
        {
            Id = Id,
            Ifindex = Params.Ifindex > 0 ? Params.Ifindex : Params.Netdev?.Ifindex,
            NapiId = _napiId != 0 ? _napiId : null,
            Inflight = Inflight,
            InflightMem = InflightMemory,
            DetachTime = _detachTime != 0 ? _detachTime : null,
        };
        if (_mp is null) return info;
        var mp = _mp.NlFill(null);
        return info with { Dmabuf = mp.Dmabuf, IoUring = mp.IoUring };
    }

    public override string ToString() => $"page_pool {Id} (order {_order}, inflight {Inflight})";
}
