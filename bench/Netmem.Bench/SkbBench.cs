using BenchmarkDotNet.Attributes;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;

namespace Netmem.Bench;

/// <summary>
/// The skb data path: allocate an skb (pooled sk_buff, head from the head page_pool), put 54 header
/// bytes, add 4 page_pool frags with skb_add_rx_frag_netmem, free it (frags back through pp_magic).
/// </summary>
[MemoryDiagnoser]
public class SkbBench
{
    private const uint NapiId = 42;
    private PageArena _arena = null!;
    private PagePool _pool = null!, _napiPool = null!;
    private SkbCache _cache = null!;

    private sealed class Napi : INapiOwner
    {
        public uint NapiId => SkbBench.NapiId;
        public int PollThreadId => Environment.CurrentManagedThreadId;
    }

    [GlobalSetup]
    public void Setup()
    {
        _arena = new PageArena(new PageArenaOptions { PageCount = 4096 });
        _pool = PagePool.Create(new PagePoolParams { Arena = _arena });
        _napiPool = PagePool.Create(new PagePoolParams { Arena = _arena, Napi = new Napi() });
        _cache = new SkbCache(new SkbCacheOptions { Arena = _arena });
        _cache.BindToCurrentThread();
        _cache.Prefill(64);
        for (int i = 0; i < 1000; i++)
        {
            BuildAndFree();
            BuildAndFreeInNapi();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cache.Dispose();
        _pool.Dispose();
        _napiPool.Dispose();
        _arena.Dispose();
    }

    /// <summary>Freed outside the pool's NAPI context: the four frags recycle through the ptr_ring.</summary>
    [Benchmark(Baseline = true)]
    public int BuildAndFree() => Run(_cache, _pool);

    /// <summary>Freed inside the pool's NAPI context: the four frags go straight back to the alloc cache.</summary>
    [Benchmark]
    public int BuildAndFreeInNapi()
    {
        using (NapiScope.Enter(NapiId)) return Run(_cache, _napiPool);
    }

    private static int Run(SkbCache cache, PagePool pool)
    {
        var skb = cache.NapiAlloc(128)!;
        skb.Put(54);
        skb.MarkForRecycle();
        for (int f = 0; f < 4; f++) skb.AddRxFragNetmem(pool.AllocNetmem(), 0, 1448, PageArena.PageSize);
        int len = skb.Len;
        skb.Free();
        return len;
    }
}
