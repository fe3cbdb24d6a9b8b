using System.Runtime.InteropServices;

namespace Netmem.Memory;

/// <summary>Options for a <see cref="PageArena"/>.</summary>
public sealed record PageArenaOptions
{
    /// <summary>Number of 4 KiB pages. Default 16384 (64 MiB).</summary>
    public int PageCount { get; init; } = 16384;
    /// <summary>Simulated NUMA node id of every page in the arena. Default 0.</summary>
    public int Nid { get; init; }
    /// <summary>Ask the OS for transparent huge pages (madvise MADV_HUGEPAGE). Default false.</summary>
    public bool UseHugePages { get; init; }
    /// <summary>
    /// Pages kept back as an emergency reserve: an allocation that dips into it is marked pfmemalloc,
    /// as the kernel marks pages taken from its reserves. Default 0 (no reserve).
    /// </summary>
    public int PfmemallocReserve { get; init; }
}

/// <summary>
/// A host page allocator: page-aligned native memory plus a descriptor table (the "vmemmap"),
/// one <see cref="PageDesc"/> per page, managed by a buddy allocator (orders 0..<see cref="MaxOrder"/>).
/// This is the default page source of a page_pool. Allocation and free are the slow path and take a lock.
/// </summary>
public sealed unsafe class PageArena : IDisposable
{
    public const int PageShift = 12;
    public const int PageSize = 1 << PageShift;
    /// <summary>MAX_PAGE_ORDER: the largest block the buddy allocator hands out (4 MiB).</summary>
    public const int MaxOrder = 10;

    private static readonly SlotRegistry<PageArena> s_registry = new((int)PageFlags.ArenaMask);

    private readonly object _lock = new();
    private readonly byte* _base;
    private readonly PageDesc* _descs;
    private readonly int _count;
    private readonly int[] _next;
    private readonly int[] _prev;
    private readonly int[] _freeHead = new int[MaxOrder + 1];
    private readonly int _reserve;
    private int _freePages;
    private bool _disposed;

    private static readonly Lazy<PageArena> s_shared = new(() => new PageArena(new PageArenaOptions { PageCount = 65536 }));

    public PageArena() : this(new PageArenaOptions()) { }

    /// <summary>
    /// A process-wide arena of 256 MiB (memory is committed only as pages are touched) for pools
    /// that name no arena of their own. Never disposed.
    /// </summary>
    public static PageArena Shared => s_shared.Value;

    public PageArena(PageArenaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.PageCount <= 0) throw new ArgumentOutOfRangeException(nameof(options), "PageCount must be positive");
        if ((uint)options.Nid > PageFlags.NidMask) throw new ArgumentOutOfRangeException(nameof(options), $"Nid must be 0..{PageFlags.NidMask}");
        if (options.PfmemallocReserve < 0 || options.PfmemallocReserve >= options.PageCount)
            throw new ArgumentOutOfRangeException(nameof(options), "PfmemallocReserve must be in [0, PageCount)");
        Options = options;
        _count = options.PageCount;
        _reserve = options.PfmemallocReserve;
        nuint bytes = (nuint)_count * PageSize;
        _base = (byte*)NativeMemory.AlignedAlloc(bytes, options.UseHugePages ? 2u << 20 : PageSize);
        if (options.UseHugePages && OperatingSystem.IsLinux())
            HugePagesAdvised = Madvise(_base, bytes, MadvHugepage) == 0;
        _descs = (PageDesc*)NativeMemory.AlignedAlloc((nuint)_count * (nuint)sizeof(PageDesc), 64);
        NativeMemory.Clear(_descs, (nuint)_count * (nuint)sizeof(PageDesc));
        _next = new int[_count];
        _prev = new int[_count];
        Array.Fill(_freeHead, -1);
        Id = s_registry.Add(this);
        nuint baseFlags = ((nuint)options.Nid << PageFlags.NidShift) | ((nuint)Id << PageFlags.ArenaShift);
        for (int i = 0; i < _count; i++)
        {
            _descs[i].Desc.Flags = baseFlags;
            _descs[i].Virtual = (nint)(_base + (long)i * PageSize);
        }
        // Seed the free lists with the largest aligned blocks that fit.
        for (int i = 0; i < _count;)
        {
            int order = MaxOrder;
            while (order > 0 && ((i & ((1 << order) - 1)) != 0 || i + (1 << order) > _count)) order--;
            PushFree(i, order);
            i += 1 << order;
        }
        _freePages = _count;
    }

    public PageArenaOptions Options { get; }
    /// <summary>Registry id, stored in every page's flags so a page finds its arena.</summary>
    public int Id { get; }
    public int Nid => Options.Nid;
    public int TotalPages => _count;
    public int FreePages => Volatile.Read(ref _freePages);
    public int UsedPages => _count - FreePages;
    /// <summary>Whether the kernel accepted the huge-page advice for the backing memory.</summary>
    public bool HugePagesAdvised { get; }
    /// <summary>Host address of the first page.</summary>
    public nint BaseAddress => (nint)_base;
    public long SizeBytes => (long)_count * PageSize;

    /// <summary><c>alloc_pages</c>: a block of 2^order pages with refcount 1, or a null ref when out of memory.</summary>
    public NetmemRef AllocPages(int order = 0)
    {
        if ((uint)order > MaxOrder) throw new ArgumentOutOfRangeException(nameof(order), $"order {order} exceeds MAX_PAGE_ORDER {MaxOrder}");
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int idx = TakeBlock(order);
            return idx < 0 ? default : PrepareBlock(idx, order);
        }
    }

    /// <summary><c>alloc_pages_bulk</c>: fills <paramref name="pages"/> with order-0 pages; returns how many.</summary>
    public int AllocPagesBulk(Span<NetmemRef> pages)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int n = 0;
            for (; n < pages.Length; n++)
            {
                int idx = TakeBlock(0);
                if (idx < 0) break;
                pages[n] = PrepareBlock(idx, 0);
            }
            return n;
        }
    }

    /// <summary>Whether <paramref name="address"/> lies in this arena's memory.</summary>
    public bool Contains(nint address) => (byte*)address >= _base && (byte*)address < _base + SizeBytes;

    /// <summary><c>virt_to_page</c>: the page holding <paramref name="address"/>.</summary>
    public NetmemRef VirtToPage(nint address)
    {
        if (!Contains(address)) throw new ArgumentOutOfRangeException(nameof(address), $"0x{address:x} is not in arena {Id}");
        return NetmemRef.FromPage(&_descs[((byte*)address - _base) >> PageShift]);
    }

    internal static PageArena FromPage(PageDesc* page)
    {
        int id = PageFlags.Arena(page->Desc.Flags);
        return s_registry.Get(id) ?? throw new NetmemException($"page@0x{(nuint)page:x} names arena {id}, which does not exist (foreign or freed page)");
    }

    /// <summary>Returns a block whose refcount reached 0 (called by <see cref="NetmemRef.Put"/>).</summary>
    internal void FreeBlock(PageDesc* head)
    {
        long idx = head - _descs;
        if ((ulong)idx >= (ulong)_count) throw new NetmemException($"page@0x{(nuint)head:x} does not belong to arena {Id}");
        lock (_lock)
        {
            if (_disposed) return; // arena is gone; its memory was freed with it
            nuint flags = head->Desc.Flags;
            if ((flags & PageFlags.Buddy) != 0)
                throw new NetmemException($"page@0x{(nuint)head:x}: freed twice (already free in arena {Id})");
            if (head->Desc.Pp != 0 || ((ulong)head->Desc.PpMagic & ~PpMagic.LowBitsMask) == PpMagic.Signature)
            {
                head->RefCount = 1; // the put is refused as a whole
                throw new NetmemException($"page@0x{(nuint)head:x}: freed while a page_pool still owns it (pp field set)");
            }
            int order = (flags & PageFlags.Head) != 0 ? PageFlags.Order(flags) : 0;
            for (int i = 0; i < 1 << order; i++)
            {
                ref PageDesc d = ref _descs[idx + i];
                d.Desc.Flags &= ~(PageFlags.Head | (PageFlags.OrderMask << PageFlags.OrderShift));
                d.Desc.PpMagic = 0;
                d.Desc.Pp = 0;
                d.Desc.DmaAddr = 0;
                d.Desc.PpRefCount = 0;
                d.Desc.PpMappingPad = 0;
                d.RefCount = 0;
            }
            _freePages += 1 << order;
            int block = (int)idx;
            // Merge with free buddies as far as they go.
            while (order < MaxOrder)
            {
                int buddy = block ^ (1 << order);
                if (buddy + (1 << order) > _count) break;
                ref PageDesc bd = ref _descs[buddy];
                if ((bd.Desc.Flags & PageFlags.Buddy) == 0 || bd.MapCount != order) break;
                Unlink(buddy, order);
                block = Math.Min(block, buddy);
                order++;
            }
            PushFree(block, order);
        }
    }

    private int TakeBlock(int order)
    {
        int o = order;
        while (o <= MaxOrder && _freeHead[o] < 0) o++;
        if (o > MaxOrder) return -1;
        int idx = _freeHead[o];
        Unlink(idx, o);
        while (o > order) // split, keeping the lower half
        {
            o--;
            PushFree(idx + (1 << o), o);
        }
        return idx;
    }

    private NetmemRef PrepareBlock(int idx, int order)
    {
        _freePages -= 1 << order;
        PageDesc* head = &_descs[idx];
        head->Desc.Flags &= ~PageFlags.Buddy;
        head->MapCount = 0;
        head->RefCount = 1;
        if (order > 0)
        {
            head->Desc.Flags = PageFlags.WithOrder(head->Desc.Flags | PageFlags.Head, order);
            for (int i = 1; i < 1 << order; i++)
            {
                head[i].Desc.Flags &= ~PageFlags.Buddy;
                head[i].Desc.PpMagic = (nuint)head | (nuint)PpMagic.TailBit; // compound_head, as the kernel stores it
            }
        }
        if (_freePages < _reserve) head->Desc.PpMagic |= (nuint)PpMagic.PfmemallocBit;
        return NetmemRef.FromPage(head);
    }

    private void PushFree(int idx, int order)
    {
        ref PageDesc d = ref _descs[idx];
        d.Desc.Flags |= PageFlags.Buddy;
        d.MapCount = order;
        int head = _freeHead[order];
        _next[idx] = head;
        _prev[idx] = -1;
        if (head >= 0) _prev[head] = idx;
        _freeHead[order] = idx;
    }

    private void Unlink(int idx, int order)
    {
        int n = _next[idx], p = _prev[idx];
        if (p >= 0) _next[p] = n; else _freeHead[order] = n;
        if (n >= 0) _prev[n] = p;
        _descs[idx].Desc.Flags &= ~PageFlags.Buddy;
        _descs[idx].MapCount = 0;
    }

    /// <summary>
    /// Frees the arena's memory. Pages still allocated mean someone still holds them: that is a leak,
    /// and the arena refuses to free memory they may still touch.
    /// </summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            if (_freePages != _count)
                throw new NetmemException($"page arena {Id} disposed with {_count - _freePages} pages still allocated (leak)");
            _disposed = true;
        }
        s_registry.Remove(Id, this);
        NativeMemory.AlignedFree(_base);
        NativeMemory.AlignedFree(_descs);
    }

    private const int MadvHugepage = 14;

    [DllImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static extern int Madvise(void* addr, nuint length, int advice);
}
