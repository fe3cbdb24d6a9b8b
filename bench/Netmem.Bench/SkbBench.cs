using BenchmarkDotNet.Attributes;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;

namespace Netmem.Bench;

/// <summary>An RX skb's life: head from the head pool, 4 page_pool frags, free back to both pools.</summary>
[MemoryDiagnoser]
public class SkbBench
{
    private PageArena _arena = null!;
    private PagePool _heads = null!, _rx = null!;
    private SkbCache _cache = null!;
    private PagePool _napiHeads = null!, _napiRx = null!;
    private SkbCache _napiCache = null!;

    private sealed class BenchNapi : INapiOwner
    {
        public uint NapiId => 4242;
        public int PollThreadId => 0;
    }

    [GlobalSetup]
    public void Setup()
    {
        _arena = new PageArena(new PageArenaOptions { PageCount = 8192 });
        _heads = PagePool.Create(new PagePoolParams { Arena = _arena });
        _rx = PagePool.Create(new PagePoolParams { Arena = _arena });
        _cache = new SkbCache(_heads);
        var napi = new BenchNapi();
        _napiHeads = PagePool.Create(new PagePoolParams { Arena = _arena, Napi = napi });
        _napiRx = PagePool.Create(new PagePoolParams { Arena = _arena, Napi = napi });
        _napiCache = new SkbCache(_napiHeads);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _rx.Dispose();
        _heads.Dispose();
        _napiRx.Dispose();
        _napiHeads.Dispose();
        _arena.Dispose();
    }

    [Benchmark(Description = "skb alloc + 54 B header + 4 page_pool frags + free (outside NAPI: ring recycle)")]
    public int BuildAndFree() => Round(_cache, _rx);

    [Benchmark(Description = "the same inside the pools' NAPI context (direct recycle)")]
    public int BuildAndFreeInNapi()
    {
        using (NapiScope.Enter(4242)) return Round(_napiCache, _napiRx);
    }

    private static int Round(SkbCache cache, PagePool rx)
    {
        var skb = cache.Alloc(256)!;
        skb.PpRecycle = true;
        skb.Reserve(64);
        skb.Put(54);
        for (int i = 0; i < 4; i++) skb.AddRxFragNetmem(i, rx.AllocNetmem(), 0, 1448, 4096);
        int len = skb.Len;
        skb.Free();
        return len;
    }
}
