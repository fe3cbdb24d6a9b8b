using Netmem.Dmabuf;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;
using Netmem.Tests.Dmabuf;

namespace Netmem.Tests.Skb;

/// <summary>
/// A per-test world: an arena, a page_pool for frags, an skb cache (with its head pool), and on demand
/// a dma-buf bound to a (down) VirtualNic queue with a page_pool of its net_iovs. Dispose checks that everything came back: every
/// pool destroyed and freed (inflight 0), the net_iov area free of users, every arena page free.
/// </summary>
internal sealed class SkbTestEnv : IDisposable
{
    public PageArena Arena { get; }
    public PagePool Pool { get; }
    public SkbCache Cache { get; }
    private BoundQueue? _bound;
    private PagePool? _devPool;

    public SkbTestEnv(int pages = 512, INapiOwner? napi = null, int capacity = 64, int deferMax = 0, int? maxCapacity = null)
    {
        Arena = new PageArena(new PageArenaOptions { PageCount = pages });
        Pool = PagePool.Create(new PagePoolParams { Arena = Arena, Napi = napi });
        Cache = new SkbCache(new SkbCacheOptions { Arena = Arena, Capacity = capacity, MaxCapacity = maxCapacity ?? capacity, DeferMax = deferMax });
    }

    /// <summary>The net_iovs behind <see cref="DevPool"/> (one area: the dma-buf's single scatter-list entry).</summary>
    public NetIovArea Area => _bound?.Binding.Areas[0] ?? throw new InvalidOperationException("no device memory: use DevPool first");
    /// <summary>The dma-buf binding behind <see cref="DevPool"/>.</summary>
    public NetDevmemBinding Binding => _bound?.Binding ?? throw new InvalidOperationException("no device memory: use DevPool first");

    /// <summary>A page_pool whose RX queue has a dma-buf binding: it hands out net_iovs over device memory (devmem).</summary>
    public PagePool DevPool
    {
        get
        {
            if (_devPool is null)
            {
                _bound = new BoundQueue(64, Arena, "skbq");
                _devPool = PagePool.Create(_bound.PoolParams);
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
            Assert.Equal(0, Area.Users);
            _bound!.Dispose(); // asserts every chunk came back and the binding's memory was freed
        }
        Assert.Equal(Arena.TotalPages, Arena.FreePages);
        Arena.Dispose(); // throws if a page leaked
    }
}

internal sealed class TestNapi(uint id) : INapiOwner
{
    public uint NapiId => id;
    public int PollThreadId => Environment.CurrentManagedThreadId;
}
