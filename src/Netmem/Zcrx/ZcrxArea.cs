using Netmem.Memory;

namespace Netmem.Zcrx;

/// <summary>
/// <c>struct io_zcrx_area</c>: the application memory registered for zero-copy receive, pinned, cut into
/// PAGE_SIZE net_iovs of type IOURING (<see cref="NetIovs"/>) and mapped for the device through its IOMMU
/// while a page_pool uses it. Keeps, per net_iov, the <b>user reference</b> count (<c>user_refs[]</c>): how
/// many completions on it the application holds. These are separate from the pp reference
/// (<c>pp_ref_count</c>), which the pool, skbs and (one per user reference) the application hold. A freelist
/// hands out net_iovs that no pool owns.
/// </summary>
public sealed class ZcrxArea
{
    private readonly PinnedUserMemory _mem;
    private readonly int[] _freelist;
    private readonly bool[] _isFree;
    private readonly int[] _userRefs;
    private readonly Lock _freelistLock = new();
    private int _freeCount;
    private ulong _dmaBase;
    private Memory.DmaDevice? _mappedFor;

    internal ZcrxArea(PinnedUserMemory mem, object owner)
    {
        _mem = mem;
        int count = mem.Length / PageArena.PageSize;
        NetIovs = NetIovArea.CreateOverHost(NetIovType.IoUring, mem.Address, count, 0, owner);
        _freelist = new int[count];
        _isFree = new bool[count];
        _userRefs = new int[count];
        for (int i = 0; i < count; i++)
        {
            _freelist[i] = count - 1 - i; // lowest index out first
            _isFree[i] = true;
        }
        _freeCount = count;
    }

    /// <summary><c>area_id</c>: one area per interface queue, id 0, as the kernel has today.</summary>
    public int Id => 0;
    /// <summary><c>rq_area_token</c>: <c>area_id &lt;&lt; IORING_ZCRX_AREA_SHIFT</c>, what refill offsets carry.</summary>
    public ulong Token => (ulong)Id << ZcrxCompletion.AreaShift;
    /// <summary>The area's net_iovs (type IOURING).</summary>
    public NetIovArea NetIovs { get; }
    /// <summary><c>num_niovs</c>.</summary>
    public int Count => _freelist.Length;
    /// <summary>Bytes registered.</summary>
    public int Length => _mem.Length;
    /// <summary>net_iovs on the freelist now (no pool owns them, the application holds none).</summary>
    public int FreeCount { get { lock (_freelistLock) return _freeCount; } }
    /// <summary>Whether the area is mapped for the device (a page_pool on the queue uses it).</summary>
    public bool IsMapped => _mappedFor is not null;

    /// <summary>User references the application holds on net_iov <paramref name="index"/> (<c>user_refs[index]</c>).</summary>
    public int UserRefs(int index) => Volatile.Read(ref _userRefs[index]);

    /// <summary>User references held on the whole area.</summary>
    public long TotalUserRefs
    {
        get
        {
            long n = 0;
            for (int i = 0; i < _userRefs.Length; i++) n += Volatile.Read(ref _userRefs[i]);
            return n;
        }
    }

    /// <summary>The bytes of the area (the application's registered memory).</summary>
    internal Memory<byte> Memory => _mem.Memory;

    // ---- user references ----

    /// <summary><c>io_zcrx_get_niov_uref</c>.</summary>
    internal void GetUref(int index) => Interlocked.Increment(ref _userRefs[index]);

    /// <summary><c>io_zcrx_put_niov_uref</c>: false (nothing changed) when the application holds none.</summary>
    internal bool PutUref(int index)
    {
        ref int r = ref _userRefs[index];
        while (true)
        {
            int v = Volatile.Read(ref r);
            if (v == 0) return false;
            if (Interlocked.CompareExchange(ref r, v - 1, v) == v) return true;
        }
    }

    /// <summary><c>atomic_xchg(user_refs, 0)</c> for the scrub.</summary>
    internal int TakeAllUrefs(int index) => Interlocked.Exchange(ref _userRefs[index], 0);

    // ---- freelist ----

    /// <summary><c>__io_zcrx_get_free_niov</c>.</summary>
    internal bool TryTakeFree(out NetmemRef niov)
    {
        lock (_freelistLock)
        {
            if (_freeCount == 0)
            {
                niov = default;
                return false;
            }
            int idx = _freelist[--_freeCount];
            _isFree[idx] = false;
            niov = NetIovs[idx];
            return true;
        }
    }

    /// <summary>Up to <paramref name="into"/>.Length free net_iovs; returns how many.</summary>
    internal int TakeFree(Span<NetmemRef> into)
    {
        lock (_freelistLock)
        {
            int n = Math.Min(into.Length, _freeCount);
            for (int i = 0; i < n; i++)
            {
                int idx = _freelist[--_freeCount];
                _isFree[idx] = false;
                into[i] = NetIovs[idx];
            }
            return n;
        }
    }

    /// <summary><c>io_zcrx_return_niov_freelist</c>. A net_iov already there is a bug in the caller and throws.</summary>
    internal void ReturnToFreelist(NetmemRef niov)
    {
        int idx = niov.NetIovIndex;
        lock (_freelistLock)
        {
            if (_isFree[idx]) throw new NetmemException($"zcrx area: net_iov {idx} returned to the freelist twice");
            _isFree[idx] = true;
            _freelist[_freeCount++] = idx;
        }
    }

    // ---- the CPU's views (user memory: the application reads it; the copy fallback writes it) ----

    /// <summary>
    /// The copy fallback's write path (<c>io_zcrx_iov_page</c> + kmap): the page behind net_iov
    /// <paramref name="index"/> of this IOURING area. net_iovs stay unreadable to everything else
    /// (<see cref="NetmemRef.GetSpan"/> refuses them); only the area that owns the memory writes here.
    /// </summary>
    internal Span<byte> CpuPage(int index) => _mem.Memory.Span.Slice(index * PageArena.PageSize, PageArena.PageSize);

    /// <summary><paramref name="length"/> bytes at byte <paramref name="offset"/> of the area.</summary>
    internal ReadOnlySpan<byte> Bytes(long offset, int length) => _mem.Memory.Span.Slice((int)offset, length);

    // ---- DMA mapping ----

    /// <summary><c>io_zcrx_map_area</c>: maps the whole area for <paramref name="dma"/> (once) and sets each net_iov's address.</summary>
    internal void Map(Memory.DmaDevice dma)
    {
        if (_mappedFor is not null) return;
        _dmaBase = dma.MapHost(_mem.Address, _mem.Length, DmaDirection.FromDevice);
        for (int i = 0; i < Count; i++)
            Pool.MemoryProviderHelpers.SetDmaAddr(NetIovs[i], _dmaBase + (ulong)i * PageArena.PageSize);
        _mappedFor = dma;
    }

    /// <summary><c>io_zcrx_unmap_area</c>: addresses cleared, the IOMMU mapping removed (the device can no longer write the area).</summary>
    internal void Unmap()
    {
        var dma = _mappedFor;
        if (dma is null) return;
        _mappedFor = null;
        for (int i = 0; i < Count; i++) Pool.MemoryProviderHelpers.SetDmaAddr(NetIovs[i], 0);
        if (!dma.IsDisposed) dma.Unmap(_dmaBase, _mem.Length, DmaDirection.FromDevice);
    }

    /// <summary><c>io_zcrx_free_area</c>: descriptors freed, pages unpinned.</summary>
    internal void Free()
    {
        Unmap();
        NetIovs.Dispose();
        _mem.Dispose();
    }
}
