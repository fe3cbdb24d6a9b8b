using System.Runtime.CompilerServices;
using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Skb;

/// <summary>Options for an <see cref="SkbCache"/>.</summary>
public sealed record SkbCacheOptions
{
    /// <summary>Where head buffers come from. Null means <see cref="PageArena.Shared"/>.</summary>
    public PageArena? Arena { get; init; }
    /// <summary>sk_buff (and shared-info) objects the free lists hold at first. Default 256.</summary>
    public int Capacity { get; init; } = 256;
    /// <summary>
    /// Most objects the free lists grow to: a free that finds them full doubles them (on the owner,
    /// rarely: only while the working set still grows), so a flow whose receive queue or send buffer holds
    /// thousands of skbs reaches a steady state that allocates nothing; beyond this, objects are left
    /// to the GC. Default 16384 (a few MiB of objects at most).
    /// </summary>
    public int MaxCapacity { get; init; } = 16384;
    /// <summary>ptr_ring size of the head page_pool (0 = the page_pool default).</summary>
    public int HeadPoolSize { get; init; }
    /// <summary>
    /// Most skbs freed on other threads that wait for the owner to free them (<c>skb_defer_max</c>; the
    /// kernel's default is 64); beyond it they are freed where they are and their objects left to the GC.
    /// Default 0 (off): only an owner that drains regularly (a NAPI poll calling
    /// <see cref="SkbCache.DrainDeferred"/>) should turn it on, or freed data waits for its next allocation.
    /// </summary>
    public int DeferMax { get; init; }
}

/// <summary>
/// Where skbs come from: the model of the <c>skbuff_head_cache</c> slab with the per-CPU NAPI skb
/// cache in front of it, plus the head allocator (<c>napi_alloc_cache</c>'s page fragments).
/// <para>
/// One thread owns the cache (the NAPI context that allocates; the creating thread until
/// <see cref="BindToCurrentThread"/>). On it, sk_buff and shared-info objects come from bounded free
/// lists and heads from a dedicated page_pool as 64-byte aligned fragments, so the data path allocates
/// no managed memory once warm. Any other thread may free or clone skbs: their data goes back the
/// thread-safe way (page_pool ring, page refcounts) and the objects are left to the GC, as the kernel
/// frees a remote skb to the slab. Heads over a page come straight from the arena.
/// </para>
/// <para>
/// An skb freed on another thread (a socket reader done with received data) is instead handed back to
/// the owner on a lock-free list, as <c>skb_attempt_defer_free</c> sends it to the CPU that allocated
/// it: the owner frees it on its next allocation (or <see cref="DrainDeferred"/>), so its pages go
/// straight back into the page_pool cache and its objects into the free lists, and a receive path
/// whose reader runs on another thread still allocates nothing. <see cref="DeferKick"/> tells the owner
/// when half of <see cref="SkbCacheOptions.DeferMax"/> is waiting.
/// </para>
/// </summary>
public sealed unsafe class SkbCache : IDisposable
{
    private readonly PageArena _arena;
    private readonly PagePool _headPool;
    private SkBuff?[] _skbs;
    private SkbSharedInfo?[] _shinfos;
    private readonly int _maxCapacity;
    private int _skbCount, _shCount;
    private int _owner;
    private uint _napiId; // when nonzero, the owner is whoever polls this NAPI context (any thread)
    private long _allocs, _frees, _remoteAllocs, _remoteFrees, _deferredFrees;
    private bool _disposed;
    private readonly int _deferMax;
    private SkBuff? _deferred; // LIFO of skbs freed elsewhere, linked by DeferNext
    private int _deferredCount;

    public SkbCache(SkbCacheOptions? options = null)
    {
        options ??= new SkbCacheOptions();
        ArgumentOutOfRangeException.ThrowIfNegative(options.Capacity);
        _arena = options.Arena ?? PageArena.Shared;
        _headPool = PagePool.Create(new PagePoolParams
        {
            Arena = _arena,
            Flags = PagePoolFlags.SystemPool,
            PoolSize = options.HeadPoolSize,
        });
        _skbs = new SkBuff?[options.Capacity];
        _shinfos = new SkbSharedInfo?[options.Capacity];
        _maxCapacity = Math.Max(options.Capacity, options.MaxCapacity);
        _owner = Environment.CurrentManagedThreadId;
        _deferMax = Math.Max(0, options.DeferMax);
    }

    /// <summary>Called (on the freeing thread) when half of the defer limit is waiting: schedule the owner so it drains.</summary>
    public Action? DeferKick { get; set; }
    /// <summary>skbs freed on other threads now waiting for the owner.</summary>
    public int DeferredCount => Volatile.Read(ref _deferredCount);
    /// <summary>skbs ever handed back to the owner for freeing.</summary>
    public long DeferredFrees => Interlocked.Read(ref _deferredFrees);

    /// <summary>The page_pool heads are carved from.</summary>
    public PagePool HeadPool => _headPool;
    /// <summary>The arena behind the head pool and large heads.</summary>
    public PageArena Arena => _arena;
    /// <summary>Most objects of each kind kept for reuse.</summary>
    public int Capacity => _skbs.Length;
    /// <summary>The most the free lists grow to.</summary>
    public int MaxCapacity => _maxCapacity;
    /// <summary>sk_buff objects ready for reuse.</summary>
    public int CachedSkbs => _skbCount;
    /// <summary>skbs handed out (allocations and clones) and not yet freed.</summary>
    public long LiveSkbs => _allocs + Interlocked.Read(ref _remoteAllocs) - _frees - Interlocked.Read(ref _remoteFrees);
    /// <summary>Managed thread id of the owning thread.</summary>
    public int OwnerThreadId => Volatile.Read(ref _owner);

    /// <summary>Makes the calling thread the owner (call it from the NAPI thread before it allocates).</summary>
    public void BindToCurrentThread()
    {
        _napiId = 0;
        Volatile.Write(ref _owner, Environment.CurrentManagedThreadId);
    }

    /// <summary>
    /// Makes a NAPI context the owner, whichever thread polls it (the kernel's per-CPU NAPI cache is
    /// used from softirq context on one CPU at a time; a NAPI poll is likewise exclusive). Code outside
    /// that context's poll frees and allocates the thread-safe way.
    /// </summary>
    public void BindToNapi(INapiOwner napi)
    {
        ArgumentNullException.ThrowIfNull(napi);
        _napiId = napi.NapiId;
    }

    /// <summary>The NAPI context that owns the cache, 0 when a thread does.</summary>
    public uint OwnerNapiId => _napiId;

    private bool OnOwner
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _napiId != 0 ? NapiScope.Current == _napiId : Environment.CurrentManagedThreadId == _owner;
    }

    /// <summary>Fills the free lists with <paramref name="count"/> objects of each kind (warm-up).</summary>
    public void Prefill(int count)
    {
        if (!OnOwner) throw new NetmemException($"skb cache prefill from thread {Environment.CurrentManagedThreadId} outside its owner (thread {_owner}, NAPI {_napiId})");
        while (_skbCount < Math.Min(count, _skbs.Length)) _skbs[_skbCount++] = new SkBuff(this);
        while (_shCount < Math.Min(count, _shinfos.Length)) _shinfos[_shCount++] = new SkbSharedInfo();
    }

    // ---------------- allocation ----------------

    /// <summary><c>alloc_skb</c>: an empty skb with a head of at least <paramref name="size"/> bytes and no headroom; null when out of memory.</summary>
    public SkBuff? Alloc(int size) => AllocCore(size, 0);

    /// <summary><c>napi_alloc_skb</c>: room for <paramref name="length"/> bytes after NET_SKB_PAD of headroom; null when out of memory.</summary>
    public SkBuff? NapiAlloc(int length) => AllocCore(length + SkBuff.NetSkbPad, SkBuff.NetSkbPad);

    private SkBuff? AllocCore(int size, int reserve)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        byte* head = AllocHead(size, out var netmem, out int offset, out int bytes);
        if (head == null) return null;
        var sh = RentShinfo();
        sh.SetHead(netmem, offset, head, bytes);
        sh.DataRef = 1;
        var skb = RentSkb();
        skb.Init(sh, bytes + SkBuff.TruesizeOverhead);
        if (reserve > 0) skb.Reserve(reserve);
        return skb;
    }

    /// <summary>
    /// <c>build_skb</c>: an skb whose head is a buffer the caller already has (a received page_pool
    /// buffer, say): <paramref name="fragSize"/> bytes at <paramref name="offset"/> of
    /// <paramref name="netmem"/>. The skb takes over the caller's reference; the head goes back to its
    /// page_pool (through pp_magic) or its page refcount on free. Call <see cref="SkBuff.MarkForRecycle"/>
    /// for page_pool frags, as drivers do.
    /// </summary>
    public SkBuff Build(NetmemRef netmem, int offset, int fragSize)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!netmem.IsReadable)
            throw new NetmemException($"build_skb on {netmem}: a head must be host memory the CPU can read; a net_iov can only be a frag");
        int max = PageArena.PageSize << netmem.Order;
        if (offset < 0 || fragSize <= 0 || offset > max - fragSize)
            throw new ArgumentOutOfRangeException(nameof(fragSize), $"head [{offset}, {offset + fragSize}) is outside the {max}-byte {netmem}");
        var sh = RentShinfo();
        sh.SetHead(netmem, offset, (byte*)netmem.Address + offset, fragSize);
        sh.DataRef = 1;
        var skb = RentSkb();
        skb.Init(sh, fragSize + SkBuff.TruesizeOverhead);
        return skb;
    }

    /// <summary>
    /// <c>skb_clone</c>: a new sk_buff with its own header fields and pointers that shares
    /// <paramref name="skb"/>'s head, frags and frag_list (dataref + 1). Both are marked cloned; whichever
    /// drops the last dataref returns the data.
    /// </summary>
    public SkBuff Clone(SkBuff skb)
    {
        ArgumentNullException.ThrowIfNull(skb);
        var sh = skb.Shinfo;
        var n = RentSkb();
        Interlocked.Increment(ref sh.DataRef);
        skb.Cloned = true;
        n.InitClone(skb);
        return n;
    }

    // ---------------- free ----------------

    /// <summary>
    /// <c>kfree_skb</c>: drops one user; the last one releases the data (<c>skb_release_data</c>: when
    /// this was the last dataref, each frag goes back to its page_pool through pp_magic when pp_recycle,
    /// else by put_netmem; the frag_list is freed; the head is freed) and recycles the object.
    /// </summary>
    public void Free(SkBuff skb)
    {
        ArgumentNullException.ThrowIfNull(skb);
        if (!ReferenceEquals(skb.Cache, this))
        {
            skb.Cache.Free(skb); // objects go back to the cache they came from
            return;
        }
        if (skb.ShinfoField is null) throw new NetmemException($"kfree_skb on skb#{skb.Id}: already freed (double free)");
        if (!skb.DropUser()) return;
        if (!OnOwner && TryDefer(skb)) return;
        ReleaseData(skb);
        RecycleSkb(skb);
    }

    private bool TryDefer(SkBuff skb)
    {
        if (_disposed || _deferMax == 0) return false;
        int n = Interlocked.Increment(ref _deferredCount);
        if (n > _deferMax)
        {
            Interlocked.Decrement(ref _deferredCount);
            return false;
        }
        SkBuff? head;
        do
        {
            head = Volatile.Read(ref _deferred);
            skb.DeferNext = head;
        }
        while (Interlocked.CompareExchange(ref _deferred, skb, head) != head);
        Interlocked.Increment(ref _deferredFrees);
        if (n == (_deferMax + 1) / 2) DeferKick?.Invoke();
        if (_disposed) DrainDeferredCore(); // raced with Dispose: nobody else will
        return true;
    }

    /// <summary>
    /// <c>skb_defer_free_flush</c>: the owner frees the skbs other threads handed back. Returns how many.
    /// Safe to call often: an empty list costs one read.
    /// </summary>
    public int DrainDeferred()
    {
        if (Volatile.Read(ref _deferred) is null) return 0;
        if (!OnOwner && !_disposed)
            throw new NetmemException($"skb defer flush from thread {Environment.CurrentManagedThreadId} outside the cache's owner (thread {_owner}, NAPI {_napiId})");
        return DrainDeferredCore();
    }

    /// <summary>
    /// Frees the deferred skbs from any thread, for an owner that is quiesced (its NAPI disabled while
    /// its queue restarts, or being torn down), so nothing waits on a poll that will not come.
    /// </summary>
    internal int DrainDeferredQuiesced() => DrainDeferredCore();

    private int DrainDeferredCore()
    {
        var list = Interlocked.Exchange(ref _deferred, null);
        int n = 0;
        while (list is not null)
        {
            var next = list.DeferNext;
            list.DeferNext = null;
            ReleaseData(list);
            RecycleSkb(list);
            list = next;
            n++;
        }
        if (n != 0) Interlocked.Add(ref _deferredCount, -n);
        return n;
    }

    /// <summary><c>consume_skb</c>.</summary>
    public void Consume(SkBuff skb) => Free(skb);

    /// <summary><c>kfree_skb_list</c>: frees every skb of a <see cref="SkBuff.Next"/> chain.</summary>
    public static void FreeList(SkBuff? list)
    {
        while (list is not null)
        {
            var next = list.Next; // read first: the free clears it once the last user is gone
            list.Cache.Free(list);
            list = next;
        }
    }

    /// <summary>
    /// <c>kfree_skb_partial</c>: after <see cref="SkBuff.TryCoalesce"/> (or GRO) stole
    /// <paramref name="skb"/>'s head as a frag, frees only the sk_buff and its shared info; otherwise a
    /// plain free.
    /// </summary>
    public void FreePartial(SkBuff skb, bool headStolen)
    {
        ArgumentNullException.ThrowIfNull(skb);
        if (!headStolen)
        {
            Free(skb);
            return;
        }
        var sh = skb.Shinfo;
        if (skb.IsShared || skb.IsCloned)
            throw new NetmemException($"kfree_skb_partial on {skb}: a shared or cloned skb cannot have lost its head");
        if (sh.NrFragsField != 0 || sh.FragList is not null)
            throw new NetmemException($"kfree_skb_partial on {skb}: it still owns frags, which would leak");
        skb.DropUser();
        skb.Clear();
        sh.Reset();
        ReturnShinfo(sh);
        RecycleSkb(skb);
    }

    /// <summary>Frees <paramref name="skb"/> the way <see cref="SkbGro.Receive"/> said (<c>napi_skb_finish</c>).</summary>
    public void FreeAfterGro(SkBuff skb, SkbGroFree how)
    {
        switch (how)
        {
            case SkbGroFree.Free: Free(skb); break;
            case SkbGroFree.FreeStolenHead: FreePartial(skb, headStolen: true); break;
            case SkbGroFree.Keep: break;
            default: throw new ArgumentOutOfRangeException(nameof(how));
        }
    }

    /// <summary><c>skb_release_data</c>: drops this skb's dataref; the last one returns frags, frag_list and head.</summary>
    internal void ReleaseData(SkBuff skb)
    {
        var sh = skb.ShinfoField!;
        bool pp = skb.PpRecycle, cloned = skb.Cloned;
        skb.Clear();
        if (cloned && Interlocked.Decrement(ref sh.DataRef) != 0) return;
        ReleaseShinfo(sh, pp);
    }

    /// <summary>Returns everything <paramref name="sh"/> holds: frags (with the skb's pp_recycle), frag_list, head.</summary>
    internal void ReleaseShinfo(SkbSharedInfo sh, bool ppRecycle)
    {
        int n = sh.NrFragsField;
        for (int i = 0; i < n; i++) sh.FragArray[i].Unref(ppRecycle);
        var list = sh.FragList;
        var ubuf = sh.Ubuf;
        FreeHead(sh.HeadNetmem);
        sh.Reset();
        ubuf?.Put(); // skb_zcopy_clear, after the frags let go of the memory
        ReturnShinfo(sh);
        if (list is not null) FreeList(list);
    }

    // ---------------- heads ----------------

    /// <summary>
    /// A head buffer of at least <paramref name="size"/> bytes: a page_pool fragment when it fits a page
    /// and the owner asks, otherwise 2^order arena pages. Returns its address (null when out of memory),
    /// the netmem and offset that back it, and the bytes it really holds.
    /// </summary>
    internal byte* AllocHead(int size, out NetmemRef netmem, out int offset, out int bytes)
    {
        int want = Math.Max(size, PagePool.FragAlignment);
        if (want <= PageArena.PageSize && !_disposed && OnOwner)
        {
            int sz = want;
            netmem = _headPool.AllocNetmem(ref sz, out offset);
            bytes = netmem.IsNull ? 0 : sz;
            return netmem.IsNull ? null : (byte*)netmem.Address + offset;
        }
        int order = 0;
        while ((PageArena.PageSize << order) < want)
        {
            if (++order > PageArena.MaxOrder)
                throw new ArgumentOutOfRangeException(nameof(size), $"a {size}-byte head exceeds the largest block ({PageArena.PageSize << PageArena.MaxOrder} bytes)");
        }
        netmem = _arena.AllocPages(order);
        offset = 0;
        bytes = netmem.IsNull ? 0 : PageArena.PageSize << order;
        return netmem.IsNull ? null : (byte*)netmem.Address;
    }

    /// <summary>
    /// <c>skb_free_head</c>: gives back a head buffer (one from <see cref="Alloc"/>, or a buffer meant
    /// for <see cref="Build"/> that never became an skb). page_pool memory goes back to its pool
    /// (straight into the head pool's cache on the owning thread, else through <c>napi_pp_put_page</c>);
    /// other pages by put_netmem. Freeing an skb does this itself.
    /// </summary>
    public void FreeHead(NetmemRef head)
    {
        if (head.IsPp)
        {
            if (!_disposed && OnOwner && PagePool.FromNetmem(head) == _headPool)
                _headPool.PutNetmem(head, -1, allowDirect: true);
            else
                PagePool.NapiPpPutPage(head);
            return;
        }
        head.Put();
    }

    // ---------------- object free lists ----------------

    private SkBuff RentSkb()
    {
        if (OnOwner)
        {
            if (Volatile.Read(ref _deferred) is not null) DrainDeferredCore();
            _allocs++;
            if (_skbCount > 0) return _skbs[--_skbCount]!;
        }
        else
        {
            Interlocked.Increment(ref _remoteAllocs);
        }
        return new SkBuff(this);
    }

    private void RecycleSkb(SkBuff skb)
    {
        if (OnOwner)
        {
            _frees++;
            if (_disposed) return;
            if (_skbCount == _skbs.Length && !TryGrow(ref _skbs)) return;
            _skbs[_skbCount++] = skb;
        }
        else
        {
            Interlocked.Increment(ref _remoteFrees);
        }
    }

    internal SkbSharedInfo RentShinfo()
    {
        if (_shCount > 0 && OnOwner) return _shinfos[--_shCount]!;
        return new SkbSharedInfo();
    }

    private void ReturnShinfo(SkbSharedInfo sh)
    {
        if (_disposed || !OnOwner) return;
        if (_shCount == _shinfos.Length && !TryGrow(ref _shinfos)) return;
        _shinfos[_shCount++] = sh;
    }

    /// <summary>Doubles a full free list up to <see cref="SkbCacheOptions.MaxCapacity"/> (out of line: warm-up only).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryGrow<T>(ref T?[] list) where T : class
    {
        if (list.Length >= _maxCapacity) return false;
        Array.Resize(ref list, Math.Min(_maxCapacity, Math.Max(16, list.Length * 2)));
        return true;
    }

    /// <summary>
    /// Drops the cached objects and destroys the head pool. Heads still held by live skbs keep the pool
    /// alive (deferred destroy) until those skbs are freed.
    /// </summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DrainDeferredCore();
        Array.Clear(_skbs);
        Array.Clear(_shinfos);
        _skbCount = _shCount = 0;
        _headPool.Dispose();
    }

    public override string ToString() => $"skb cache (owner thread {_owner}, {_skbCount} cached, {LiveSkbs} live, head {_headPool})";
}
