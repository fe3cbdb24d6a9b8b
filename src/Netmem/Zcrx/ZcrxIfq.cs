using System.Numerics;
using Netmem.Devices;
using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Zcrx;

/// <summary>
/// <c>struct io_zcrx_ifq</c> and its memory provider (<c>io_uring_pp_zc_ops</c>): zero-copy receive into
/// application memory on one RX queue (Documentation/networking/iou-zcrx.rst). <see cref="Register"/> pins the
/// application's area, cuts it into PAGE_SIZE net_iovs of type IOURING, makes the refill ring and installs
/// itself on the queue through the queue management API (the queue restarts; its new page_pool takes the
/// provider and maps the area for the device).
/// <para>
/// The pool's buffers come from the refill ring first: each entry the application posted drops one user
/// reference and the pp reference that went with it, and a buffer whose last reference that was goes
/// straight into the pool's alloc cache (<c>net_mp_netmem_place_in_cache</c>: it is still the pool's, so it
/// is not counted as held again). Only when the ring has nothing does the provider hand out net_iovs from
/// its freelist, which the pool counts as held. Malformed entries are skipped and counted by kind
/// (<see cref="GetStats"/>); they never touch a buffer the application does not hold.
/// </para>
/// <para>
/// Reading: <c>TcpSocket.ReceiveZcrxAsync</c> (completions) or <c>ReceiveZcrxLeasesAsync</c> (leases whose
/// Dispose posts to the ring). Teardown (<see cref="Dispose"/>) takes the provider off the queue at once;
/// the area stays pinned and its descriptors alive until every buffer the application holds came back
/// (<see cref="WhenFreed"/>, <see cref="DisposeAsync"/>), or <see cref="Scrub"/> takes them back.
/// </para>
/// </summary>
public sealed class ZcrxIfq : IMemoryProvider, IDisposable, IAsyncDisposable
{
    /// <summary><c>io_validate_user_buf_range</c>'s limit on an area.</summary>
    public const long MaxAreaBytes = 1L << 30;

    private static int s_nextId;

    private readonly Lock _rqLock = new(); // rq_lock: the ring's consumer side
    private readonly DmaDevice _dma;
    private readonly TaskCompletionSource _freedTcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private uint _cachedHead;
    private int _poolRefs;
    private volatile bool _closed;
    private int _disposed, _freed;
    private NetdevRxQueue? _rxq;

    // counters: the refill side runs under _rqLock; the reader side from socket contexts (Interlocked)
    private long _refillEntries, _placed, _elsewhere, _stillRef, _badArea, _badIndex, _notHeld, _ringFull, _afterClose;
    private long _allocFreelist, _allocEmpty;
    private long _zcCompletions, _zcBytes, _copyCompletions, _copyLinear, _copyFrag, _copyNoMem, _copyDrains, _foreign, _scrubbed;

    private ZcrxIfq(NetDevice dev, DmaDevice dma, int rxQueue, PinnedUserMemory mem, uint rqEntries)
    {
        Device = dev;
        _dma = dma;
        RxQueueIndex = rxQueue;
        Id = Interlocked.Increment(ref s_nextId);
        Area = new ZcrxArea(mem, this);
        RefillRing = new ZcrxRefillRing(this, rqEntries);
    }

    /// <summary><c>zcrx_id</c>.</summary>
    public int Id { get; }
    public NetDevice Device { get; }
    /// <summary><c>if_rxq</c>: the RX queue it was registered on.</summary>
    public int RxQueueIndex { get; }
    /// <summary>The registered area.</summary>
    public ZcrxArea Area { get; }
    /// <summary>The refill ring the application hands buffers back through.</summary>
    public ZcrxRefillRing RefillRing { get; }
    /// <summary>Whether the provider is off its queue (unregistered, or the device went away).</summary>
    public bool IsClosed => _closed;
    /// <summary>Whether every buffer came back and the area was unpinned and freed.</summary>
    public bool IsFreed => Volatile.Read(ref _freed) != 0;
    /// <summary>Completes when the area is freed (after <see cref="Dispose"/> and the last buffer's return).</summary>
    public Task WhenFreed => _freedTcs.Task;
    /// <summary>page_pools using the provider now (created on the queue and not yet freed).</summary>
    public int PoolCount => Volatile.Read(ref _poolRefs);

    /// <summary>
    /// <c>IORING_REGISTER_ZCRX_IFQ</c> (<c>io_register_zcrx_ifq</c>): registers <paramref name="area"/> for RX
    /// queue <paramref name="rxQueue"/> of <paramref name="dev"/> with a refill ring of
    /// <paramref name="rqEntries"/> entries, rounded up to a power of two. Managed memory is pinned until the
    /// interface queue is freed; <see cref="PageAlignedMemory"/> gives page-aligned native memory.
    /// Errors (<see cref="NetmemErrnoException"/>), in the kernel's order: EINVAL (a negative queue, no ring
    /// entries, more than <see cref="ZcrxRefillRing.MaxEntries"/> without <paramref name="clamp"/>), EOPNOTSUPP
    /// (the device has no DMA device), EFAULT (an empty area or one over 1 GiB), EINVAL (area address or
    /// length not page aligned), then the queue's: ERANGE (no such queue), EINVAL (tcp-data-split off or
    /// hds-thresh not 0), EEXIST (an XDP program, or the queue already has a memory provider), EOPNOTSUPP (no
    /// queue management), ENODATA (the driver's pool did not take the provider). On an error nothing stays
    /// pinned or installed.
    /// </summary>
    public static ZcrxIfq Register(NetDevice dev, int rxQueue, Memory<byte> area, int rqEntries, bool clamp = false)
    {
        ArgumentNullException.ThrowIfNull(dev);
        if (rxQueue < 0) throw new NetmemErrnoException(Errno.EINVAL, $"{dev.Name}: zcrx needs an rx queue (if_rxq {rxQueue})");
        if (rqEntries <= 0) throw new NetmemErrnoException(Errno.EINVAL, $"zcrx refill ring of {rqEntries} entries");
        if (rqEntries > ZcrxRefillRing.MaxEntries)
        {
            if (!clamp) throw new NetmemErrnoException(Errno.EINVAL, $"zcrx refill ring of {rqEntries} entries (at most {ZcrxRefillRing.MaxEntries} without IORING_SETUP_CLAMP)");
            rqEntries = ZcrxRefillRing.MaxEntries;
        }
        uint entries = BitOperations.RoundUpToPowerOf2((uint)rqEntries);
        var dma = dev.Dma ?? throw new NetmemErrnoException(Errno.EOPNOTSUPP, $"{dev.Name}: no DMA device to map a zcrx area for");
        if (area.Length == 0 || area.Length > MaxAreaBytes)
            throw new NetmemErrnoException(Errno.EFAULT, $"zcrx area of {area.Length} bytes (1 .. {MaxAreaBytes})");
        var mem = new PinnedUserMemory(area);
        ZcrxIfq ifq;
        try
        {
            if (mem.Address % PageArena.PageSize != 0 || mem.Length % PageArena.PageSize != 0)
                throw new NetmemErrnoException(Errno.EINVAL, $"zcrx area at 0x{mem.Address:x} of {mem.Length} bytes is not page aligned");
            ifq = new ZcrxIfq(dev, dma, rxQueue, mem, entries);
        }
        catch
        {
            mem.Dispose();
            throw;
        }
        try
        {
            dev.OpenMemoryProvider(rxQueue, ifq); // net_mp_open_rxq
            ifq._rxq = dev.GetRxQueue(rxQueue);
        }
        catch
        {
            ifq._closed = true;
            ifq.Area.Unmap();
            ifq.MaybeFree();
            throw;
        }
        return ifq;
    }

    // ---------------- the memory provider (io_uring_pp_zc_ops) ----------------

    /// <summary><c>io_pp_zc_init</c>: order-0 DMA_FROM_DEVICE pools of the registered device; maps the area (once).</summary>
    Errno IMemoryProvider.Init(PagePool pool)
    {
        if (!ReferenceEquals(pool.Params.Device, _dma)) return Errno.EINVAL;
        if (pool.Params.Order != 0) return Errno.EOPNOTSUPP;
        if (pool.Params.DmaDir != DmaDirection.FromDevice) return Errno.EOPNOTSUPP;
        Area.Map(_dma);
        // The simulated IOMMU is coherent and the area is user memory the CPU reads in place: no pool syncs.
        pool.DmaSync = false;
        pool.DmaSyncForCpu = false;
        Interlocked.Increment(ref _poolRefs);
        return Errno.None;
    }

    /// <summary>
    /// <c>io_pp_zc_alloc_netmems</c>: returned buffers from the refill ring go into the pool's cache (and 0 is
    /// returned: the pool takes from its cache); with none, fresh net_iovs from the freelist are returned for
    /// the pool to stamp and count as held.
    /// </summary>
    int IMemoryProvider.AllocNetmems(PagePool pool, Span<NetmemRef> netmems)
    {
        if (pool.CacheCount == 0 && RingRefill(pool) > 0) return 0;
        if (pool.CacheCount > 0) return 0;
        int n = Area.TakeFree(netmems[..Math.Min(netmems.Length, PagePool.AllocCacheRefill)]);
        if (n > 0) _allocFreelist += n; else _allocEmpty++;
        return n;
    }

    /// <summary><c>io_pp_zc_release_netmem</c>: pp info cleared, the net_iov back on the freelist; the pool puts nothing.</summary>
    bool IMemoryProvider.ReleaseNetmem(PagePool pool, NetmemRef netmem)
    {
        MemoryProviderHelpers.ClearPagePool(netmem);
        Area.ReturnToFreelist(netmem);
        MaybeFree();
        return false;
    }

    /// <summary><c>io_pp_zc_destroy</c>: the pool's reference goes.</summary>
    void IMemoryProvider.Destroy(PagePool pool)
    {
        Interlocked.Decrement(ref _poolRefs);
        MaybeFree();
    }

    /// <summary><c>io_pp_nl_fill</c>: an empty io-uring nest.</summary>
    MemoryProviderInfo IMemoryProvider.NlFill(NetdevRxQueue? rxq) => new(null, true);

    /// <summary><c>io_pp_uninstall</c>: the queue is gone from under it; the area is unmapped, returns are processed at once from now on.</summary>
    void IMemoryProvider.Uninstall(NetdevRxQueue rxq)
    {
        _closed = true;
        _rxq = null;
        Area.Unmap();
        DrainClosedRing();
        MaybeFree();
    }

    // ---------------- refill ----------------

    /// <summary>
    /// <c>io_zcrx_ring_refill</c> (the pool's NAPI context): up to PP_ALLOC_CACHE_REFILL entries; returns the
    /// buffers placed in <paramref name="pool"/>'s cache.
    /// </summary>
    private int RingRefill(PagePool pool)
    {
        lock (_rqLock)
        {
            uint entries = Math.Min(RefillRing.LoadTail() - _cachedHead, RefillRing.Entries);
            entries = Math.Min(entries, (uint)Math.Max(0, PagePool.AllocCacheRefill - pool.CacheCount));
            if (entries == 0) return 0;
            long before = _placed;
            for (; entries > 0; entries--)
            {
                var rqe = RefillRing[_cachedHead++];
                Consume(rqe, pool);
            }
            RefillRing.StoreHead(_cachedHead);
            return (int)(_placed - before);
        }
    }

    /// <summary>Starts the ring's free-running indices at <paramref name="index"/> (empty ring only; for tests of the 2^32 wrap).</summary>
    internal void StartRingAt(uint index)
    {
        lock (_rqLock)
        lock (RefillRing.ProducerLock)
        {
            if (RefillRing.LoadTail() != _cachedHead) throw new InvalidOperationException("the refill ring is not empty");
            _cachedHead = index;
            RefillRing.ResetIndices(index);
        }
    }

    /// <summary>After unregistration nothing refills from the ring: what the application posts is processed here.</summary>
    internal void DrainClosedRing()
    {
        lock (_rqLock) _afterClose += DrainRingLocked();
    }

    /// <summary>
    /// Consumes every entry in the ring outside a pool's NAPI context: buffers go back to their pool by its
    /// ptr_ring, copy-fallback buffers to the freelist. For a closed queue, a full ring, and a copy fallback that
    /// found the freelist empty (the queue's own pool may not be refilling: no traffic lands on it). Returns
    /// the entries consumed.
    /// </summary>
    private int DrainRingLocked()
    {
        uint tail = RefillRing.LoadTail();
        uint entries = Math.Min(tail - _cachedHead, RefillRing.Entries);
        int n = (int)entries;
        for (; entries > 0; entries--)
        {
            var rqe = RefillRing[_cachedHead++];
            Consume(rqe, null);
        }
        _cachedHead = tail;
        RefillRing.StoreHead(tail);
        return n;
    }

    /// <summary>
    /// One refill entry: parse it (<c>io_parse_rqe</c>), drop the user reference and the pp reference that
    /// went with it. Malformed entries are counted and skipped. <paramref name="napiPool"/>: the pool whose
    /// NAPI context this is (its cache may be filled), or null.
    /// </summary>
    private void Consume(in ZcrxRqe rqe, PagePool? napiPool)
    {
        _refillEntries++;
        if (rqe.Pad != 0 || (rqe.Off >> ZcrxCompletion.AreaShift) != (ulong)Area.Id)
        {
            _badArea++;
            return;
        }
        ulong idx = (rqe.Off & ~ZcrxCompletion.AreaMask) >> ZcrxCompletion.NetIovShift;
        if (idx >= (ulong)Area.Count)
        {
            _badIndex++;
            return;
        }
        if (!Area.PutUref((int)idx))
        {
            _notHeld++;
            return;
        }
        ReleaseUserPpRefs(Area.NetIovs[(int)idx], 1, napiPool);
    }

    /// <summary>
    /// Drops <paramref name="nr"/> pp references the application held; at the last one the buffer goes to the
    /// NAPI pool's cache when it is that pool's, to the freelist when no pool owns it (a copy-fallback
    /// buffer), and otherwise back to its own pool (an older pool of the queue, by its ptr_ring or released).
    /// </summary>
    private void ReleaseUserPpRefs(NetmemRef niov, int nr, PagePool? napiPool)
    {
        long left = niov.AddPpRefCount(-nr);
        if (left > 0)
        {
            _stillRef++;
            return;
        }
        if (left < 0)
        {
            niov.AddPpRefCount(nr); // a user reference without its pp reference: refuse rather than corrupt the pool
            _notHeld++;
            return;
        }
        var owner = PagePool.FromNetmem(niov);
        if (owner is null)
        {
            _elsewhere++;
            Area.ReturnToFreelist(niov); // io_zcrx_return_niov: copy-fallback buffer
            MaybeFree();
            return;
        }
        if (napiPool is not null && ReferenceEquals(owner, napiPool) && MemoryProviderHelpers.PlaceInCache(owner, niov))
        {
            _placed++;
            return;
        }
        _elsewhere++;
        niov.SetPpRefCount(1); // page_pool_put_unrefed_netmem: hand the last reference to the pool's own put
        owner.PutNetmem(niov, -1, allowDirect: false);
    }

    // ---------------- completions (the read actor's side) ----------------

    /// <summary>Whether <paramref name="niov"/> is one of this queue's buffers, owned by one of its pools (<c>io_zcrx_recv_frag</c>'s check).</summary>
    internal bool OwnsPoolNetIov(NetmemRef niov) => Area.NetIovs.Owns(niov) && niov.Pp != 0;

    /// <summary>Counts one read call's zero-copy completions (once per call, not per completion).</summary>
    internal void CountZeroCopy(int completions, long bytes)
    {
        if (completions == 0) return;
        Interlocked.Add(ref _zcCompletions, completions);
        Interlocked.Add(ref _zcBytes, bytes);
    }

    /// <summary>A foreign net_iov frag ended a read with EFAULT.</summary>
    internal void CountForeign() => Interlocked.Increment(ref _foreign);

    /// <summary>
    /// A zero-copy completion for bytes [<paramref name="offset"/>, +<paramref name="length"/>) of
    /// <paramref name="niov"/>: one pp reference (so the pool cannot recycle it) and then one user reference.
    /// The caller counts it (<see cref="CountZeroCopy"/>).
    /// </summary>
    internal ZcrxCompletion CompleteZeroCopy(NetmemRef niov, int offset, int length)
    {
        PagePool.RefNetmem(niov);
        int idx = niov.NetIovIndex;
        Area.GetUref(idx);
        return new ZcrxCompletion(ZcrxCompletion.MakeOff(Area.Id, idx, offset), length);
    }

    /// <summary>
    /// <c>io_zcrx_copy_chunk</c>: copies <paramref name="src"/> into fresh area buffers from the freelist (a
    /// page at most each), one completion per buffer into <paramref name="into"/> from
    /// <paramref name="count"/>. Returns the bytes copied; with none, -ENOSPC (no room for a completion) or
    /// -ENOMEM (no free buffer). <paramref name="linear"/>: the bytes were in the skb's head (not header split).
    /// </summary>
    internal int CopyChunk(ReadOnlySpan<byte> src, Span<ZcrxCompletion> into, ref int count, bool linear)
    {
        int copied = 0;
        while (copied < src.Length)
        {
            if (count == into.Length) return copied > 0 ? copied : -(int)Errno.ENOSPC;
            if (!Area.TryTakeFree(out var niov) && !TryTakeFreeAfterDrain(out niov))
            {
                Interlocked.Increment(ref _copyNoMem);
                return copied > 0 ? copied : -(int)Errno.ENOMEM;
            }
            PagePool.FragmentNetmem(niov, 1); // the application's pp reference; no pool owns it
            int idx = niov.NetIovIndex;
            int n = Math.Min(PageArena.PageSize, src.Length - copied);
            src.Slice(copied, n).CopyTo(Area.CpuPage(idx));
            Area.GetUref(idx);
            into[count++] = new ZcrxCompletion(ZcrxCompletion.MakeOff(Area.Id, idx, 0), n);
            copied += n;
            Interlocked.Increment(ref _copyCompletions);
            Interlocked.Add(ref linear ? ref _copyLinear : ref _copyFrag, n);
        }
        return copied;
    }

    // The freelist is empty: what the application handed back may still sit in the ring.
    private bool TryTakeFreeAfterDrain(out NetmemRef niov)
    {
        lock (_rqLock)
        {
            if (DrainRingLocked() > 0) _copyDrains++;
        }
        return Area.TryTakeFree(out niov);
    }

    // ---------------- the application's side ----------------

    /// <summary>
    /// The bytes of <paramref name="completion"/>, in place in the registered area. Throws for a completion
    /// that does not lie in this area (another area id, past its end, or across a page).
    /// </summary>
    public ReadOnlySpan<byte> GetPayload(ZcrxCompletion completion)
    {
        if (completion.AreaId != Area.Id || completion.Len < 0 || completion.PageOffset + completion.Len > PageArena.PageSize
            || completion.AreaOffset + completion.Len > Area.Length)
            throw new ArgumentOutOfRangeException(nameof(completion), $"{completion} is not in zcrx area {Area.Id} of {Area.Length} bytes");
        return Area.Bytes(completion.AreaOffset, completion.Len);
    }

    /// <summary>
    /// Hands one buffer back: posts its refill entry to the ring (what a lease's Dispose does). A full ring
    /// does not lose it: the entries in the ring are processed at once (their buffers go back by the pool's
    /// ptr_ring, counted as <see cref="ZcrxStats.RefillRingFull"/>) and the entry is posted.
    /// </summary>
    public void Return(ZcrxCompletion completion)
    {
        var rqe = completion.ToRqe();
        if (RefillRing.TryPost(rqe)) return;
        lock (_rqLock)
        {
            _ringFull++;
            DrainRingLocked(); // what is there goes back by the pools' ptr_rings, making room
        }
        if (RefillRing.TryPost(rqe)) return;
        lock (_rqLock) Consume(rqe, null); // other producers filled it again meanwhile
    }

    /// <summary>
    /// <c>io_zcrx_scrub</c>: takes back every buffer the application still holds (all user references and
    /// their pp references), as the kernel does when the ring goes away. Leases still out must not be read
    /// after this; their Dispose is then a counted not-held entry. Returns the user references taken.
    /// </summary>
    public long Scrub()
    {
        long taken = 0;
        lock (_rqLock)
        {
            for (int i = 0; i < Area.Count; i++)
            {
                if (Area.UserRefs(i) == 0) continue;
                int nr = Area.TakeAllUrefs(i);
                if (nr == 0) continue;
                taken += nr;
                ReleaseUserPpRefs(Area.NetIovs[i], nr, null);
            }
            _scrubbed += taken;
        }
        return taken;
    }

    /// <summary>A snapshot of the counters.</summary>
    public ZcrxStats GetStats()
    {
        lock (_rqLock)
            return new ZcrxStats
            {
                RefillEntries = _refillEntries, RefillPlacedInCache = _placed, RefillReturnedElsewhere = _elsewhere,
                RefillStillReferenced = _stillRef, RefillBadArea = _badArea, RefillBadIndex = _badIndex, RefillNotHeld = _notHeld,
                RefillRingFull = _ringFull, ReturnedAfterClose = _afterClose,
                AllocFreelist = Volatile.Read(ref _allocFreelist), AllocEmpty = Volatile.Read(ref _allocEmpty),
                ZeroCopyCompletions = Interlocked.Read(ref _zcCompletions), ZeroCopyBytes = Interlocked.Read(ref _zcBytes),
                CopyCompletions = Interlocked.Read(ref _copyCompletions), CopyLinearBytes = Interlocked.Read(ref _copyLinear),
                CopyPageFragBytes = Interlocked.Read(ref _copyFrag), CopyNoMemory = Interlocked.Read(ref _copyNoMem), CopyRingDrains = _copyDrains,
                ForeignNetIov = Interlocked.Read(ref _foreign), Scrubbed = _scrubbed,
            };
    }

    // ---------------- teardown ----------------

    /// <summary>
    /// Unregisters: the provider comes off the queue (which restarts on pages) and the area is unmapped. The
    /// area stays pinned, and buffers the application holds stay readable, until the last comes back
    /// (<see cref="WhenFreed"/>). A queue whose restart fails keeps the provider and the errno is thrown.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        var q = _rxq;
        if (q is not null && !_closed) Device.CloseMemoryProvider(q.Index, this); // net_mp_close_rxq: uninstall closes
        _closed = true;
        DrainClosedRing();
        MaybeFree();
    }

    /// <summary><see cref="Dispose"/>, then waits until every buffer the application holds came back and the area is freed.</summary>
    public async ValueTask DisposeAsync()
    {
        Dispose();
        await WhenFreed.ConfigureAwait(false);
    }

    private void MaybeFree()
    {
        if (!_closed || Volatile.Read(ref _poolRefs) != 0 || Area.FreeCount != Area.Count) return;
        if (Interlocked.Exchange(ref _freed, 1) != 0) return;
        Area.Free();
        _freedTcs.TrySetResult();
    }

    public override string ToString() => $"zcrx ifq {Id} ({Device.Name} rx queue {RxQueueIndex}, {Area.Count} net_iovs, {RefillRing.Entries} refill entries)";
}
