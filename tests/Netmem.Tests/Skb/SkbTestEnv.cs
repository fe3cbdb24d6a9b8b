using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;

namespace Netmem.Tests.Skb;

/// <summary>
/// A per-test world: an arena, a page_pool for frags, an skb cache (with its head pool), and on demand
/// device memory with a devmem-like pool of net_iovs. Dispose checks that everything came back: every
/// pool destroyed and freed (inflight 0), the net_iov area free of users, every arena page free.
/// </summary>
internal sealed class SkbTestEnv : IDisposable
{
    public PageArena Arena { get; }
    public PagePool Pool { get; }
    public SkbCache Cache { get; }
    private DeviceMemory? _hbm;
    private NetIovArea? _area;
    private NetIovTestProvider? _provider;
    private PagePool? _devPool;

    public SkbTestEnv(int pages = 512, INapiOwner? napi = null, int capacity = 64, int deferMax = 0, int? maxCapacity = null)
    {
        Arena = new PageArena(new PageArenaOptions { PageCount = pages });
        Pool = PagePool.Create(new PagePoolParams { Arena = Arena, Napi = napi });
        Cache = new SkbCache(new SkbCacheOptions { Arena = Arena, Capacity = capacity, MaxCapacity = maxCapacity ?? capacity, DeferMax = deferMax });
    }

    public NetIovArea Area => _area ?? throw new InvalidOperationException("no device memory: use DevPool first");
    public DeviceMemory Hbm => _hbm ?? throw new InvalidOperationException("no device memory: use DevPool first");
    public NetIovTestProvider Provider => _provider ?? throw new InvalidOperationException("no device memory");

    /// <summary>A page_pool whose memory provider hands out net_iovs over device memory (devmem).</summary>
    public PagePool DevPool
    {
        get
        {
            if (_devPool is null)
            {
                _hbm = new DeviceMemory(64 * PageArena.PageSize, "hbm");
                _area = NetIovArea.Create(NetIovType.Dmabuf, _hbm, 0, 64);
                _provider = new NetIovTestProvider(_area);
                _devPool = PagePool.Create(new PagePoolParams
                {
                    Flags = PagePoolFlags.AllowUnreadableNetmem,
                    MemoryProvider = _provider,
                });
            }
            return _devPool;
        }
    }

    /// <summary>A page from the frag pool with <paramref name="size"/> bytes of a pattern at <paramref name="offset"/>.</summary>
    public NetmemRef PoolPage(int offset = 0, int size = 0, int seed = 1)
    {
        var n = Pool.AllocNetmem();
        Assert.False(n.IsNull);
        Fill(n.GetSpan(offset, size), seed);
        return n;
    }

    public static void Fill(Span<byte> s, int seed)
    {
        for (int i = 0; i < s.Length; i++) s[i] = (byte)(seed * 31 + i * 7);
    }

    /// <summary>An skb with <paramref name="header"/> bytes in the head and page_pool frags of the given sizes (pp_recycle).</summary>
    public SkBuff PoolSkb(int header, params int[] fragSizes)
    {
        var skb = Cache.NapiAlloc(Math.Max(header, 1))!;
        Fill(skb.Put(header), 100);
        skb.MarkForRecycle();
        int seed = 2;
        foreach (int size in fragSizes)
        {
            var page = PoolPage(8, size, seed++);
            skb.AddRxFragNetmem(page, 8, size, PageArena.PageSize);
        }
        return skb;
    }

    /// <summary>All bytes of a readable skb, through skb_copy_bits.</summary>
    public static byte[] Bytes(SkBuff skb)
    {
        var b = new byte[skb.Len];
        skb.CopyBits(0, b);
        return b;
    }

    public void Dispose()
    {
        Cache.Dispose();
        Pool.Dispose();
        _devPool?.Dispose();
        Assert.True(Cache.HeadPool.IsFreed, $"head {Cache.HeadPool} not freed: an skb head is still out");
        Assert.Equal(0, Cache.HeadPool.Inflight);
        Assert.True(Pool.IsFreed, $"{Pool} not freed: a frag is still out");
        Assert.Equal(0, Pool.Inflight);
        if (_devPool is not null)
        {
            Assert.True(_devPool.IsFreed, $"devmem {_devPool} not freed: a net_iov frag is still out");
            Assert.Equal(0, _devPool.Inflight);
            Assert.Equal(_area!.Count, _provider!.FreeCount);
            Assert.Equal(0, _area.Users);
            _area.Dispose();
            _hbm!.Dispose();
        }
        Assert.Equal(Arena.TotalPages, Arena.FreePages);
        Arena.Dispose(); // throws if a page leaked
    }
}

/// <summary>A devmem-like memory provider: hands out the net_iovs of one area and takes them back.</summary>
internal sealed class NetIovTestProvider : IMemoryProvider
{
    private readonly NetIovArea _area;
    private readonly Stack<int> _free = new();

    public NetIovTestProvider(NetIovArea area)
    {
        _area = area;
        for (int i = area.Count - 1; i >= 0; i--) _free.Push(i);
    }

    public int FreeCount => _free.Count;
    public bool ManagesDma => true;
    public Errno Init(PagePool pool) => Errno.None;

    public int AllocNetmems(PagePool pool, Span<NetmemRef> netmems)
    {
        int n = 0;
        while (n < netmems.Length && _free.Count > 0) netmems[n++] = _area[_free.Pop()];
        return n;
    }

    public bool ReleaseNetmem(PagePool pool, NetmemRef netmem)
    {
        PagePool.ClearPpInfo(netmem);
        _free.Push(netmem.NetIovIndex);
        return false; // the provider keeps it
    }

    public void Destroy(PagePool pool) { }
    public PagePoolInfo Fill(PagePoolInfo info) => info;
    public void Uninstall(int queueIndex) { }
}

internal sealed class TestNapi(uint id) : INapiOwner
{
    public uint NapiId => id;
    public int PollThreadId => Environment.CurrentManagedThreadId;
}
