using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Tests.Pool;

/// <summary>Every alloc and recycle path of the pool, checked through its named counter.</summary>
public class PagePoolPathTests : PoolTestBase
{
    [Fact]
    public void First_alloc_is_slow_and_fills_the_cache_then_allocs_are_fast()
    {
        var pool = NewPool();
        var first = pool.AllocNetmem();
        Assert.False(first.IsNull);
        Assert.True(first.IsPp);
        Assert.Same(pool, PagePool.FromNetmem(first));
        Assert.Equal(1, first.PpRefCount);
        var s = pool.GetStats();
        Assert.Equal(1, s.AllocSlow);
        Assert.Equal(1, s.AllocEmpty); // the ring was empty before going to the provider
        Assert.Equal(PagePool.AllocCacheRefill - 1, pool.CacheCount);
        Assert.Equal(PagePool.AllocCacheRefill, pool.HoldCount);

        var more = new List<NetmemRef> { first };
        for (int i = 0; i < PagePool.AllocCacheRefill - 1; i++) more.Add(pool.AllocNetmem());
        Assert.Equal(PagePool.AllocCacheRefill - 1, pool.GetStats().AllocFast);
        Assert.Equal(PagePool.AllocCacheRefill, more.Select(n => n.Value).Distinct().Count());
        more.Add(pool.AllocNetmem()); // cache empty, ring empty: slow again
        Assert.Equal(2, pool.GetStats().AllocSlow);
        Assert.Equal(2, pool.GetStats().AllocEmpty);
        foreach (var n in more) pool.PutNetmem(n, -1, allowDirect: true);
    }

    [Fact]
    public void Direct_put_recycles_into_the_cache_and_the_same_netmem_comes_back()
    {
        var pool = NewPool();
        var a = pool.AllocNetmem();
        pool.PutNetmem(a, -1, allowDirect: true);
        Assert.Equal(1, pool.GetStats().RecycleCached);
        Assert.Equal(0, a.PpRefCount); // pool-owned
        var b = pool.AllocNetmem();
        Assert.Equal(a, b);           // LIFO: hot in cache
        pool.RecycleDirect(b);
    }

    [Fact]
    public void Cache_full_goes_to_the_ring_and_ring_full_releases()
    {
        var pool = NewPool(new PagePoolParams { PoolSize = 64 });
        var held = new List<NetmemRef>();
        for (int i = 0; i < 300; i++) held.Add(pool.AllocNetmem());
        int room = PagePool.AllocCacheSize - pool.CacheCount; // the last bulk left a few in the cache
        Assert.Equal(20, pool.CacheCount); // 5 bulks of 64 = 320 taken, 300 handed out
        foreach (var n in held) pool.PutNetmem(n, -1, allowDirect: true);
        var s = pool.GetStats();
        Assert.Equal(room, s.RecycleCached);
        Assert.Equal(300 - room, s.RecycleCacheFull);
        Assert.Equal(64, s.RecycleRing);
        Assert.Equal(300 - room - 64, s.RecycleRingFull);
        Assert.Equal(300 - room - 64, pool.ReleaseCount);
        Assert.Equal(PagePool.AllocCacheSize + 64, pool.Inflight); // what the pool still holds
    }

    [Fact]
    public void Non_direct_put_goes_to_the_ring_and_refill_brings_it_back()
    {
        var pool = NewPool();
        var all = new List<NetmemRef>();
        for (int i = 0; i < PagePool.AllocCacheRefill; i++) all.Add(pool.AllocNetmem()); // drains the first bulk
        Assert.Equal(0, pool.CacheCount);
        foreach (var n in all) pool.PutNetmem(n, -1, allowDirect: false);
        Assert.Equal(PagePool.AllocCacheRefill, pool.GetStats().RecycleRing);
        Assert.Equal(PagePool.AllocCacheRefill, pool.RingCount);
        var again = pool.AllocNetmem();
        var s = pool.GetStats();
        Assert.Equal(1, s.AllocRefill);
        Assert.Equal(1, s.AllocSlow); // no new pages needed
        Assert.Contains(again, all);
        Assert.Equal(PagePool.AllocCacheRefill - 1, pool.CacheCount);
        pool.RecycleDirect(again);
    }

    [Fact]
    public void Put_with_other_pp_users_only_drops_a_reference()
    {
        var pool = NewPool();
        var n = pool.AllocNetmem();
        PagePool.RefNetmem(n);
        PagePool.RefNetmem(n);
        Assert.Equal(3, n.PpRefCount);
        pool.PutNetmem(n, -1, true);
        pool.PutNetmem(n, -1, true);
        Assert.Equal(0, pool.GetStats().RecycleCached);
        Assert.Equal(1, n.PpRefCount);
        pool.PutNetmem(n, -1, true);
        Assert.Equal(1, pool.GetStats().RecycleCached);
    }

    [Fact]
    public void A_page_with_an_extra_page_reference_is_released_not_recycled()
    {
        var pool = NewPool();
        var n = pool.AllocNetmem();
        n.Get(); // someone else holds the page (get_page)
        pool.PutNetmem(n, -1, true);
        Assert.Equal(1, pool.GetStats().RecycleReleasedRefcnt);
        Assert.Equal(1, pool.ReleaseCount);
        Assert.False(n.IsPp);
        Assert.Equal(1, n.RefCount); // our extra reference keeps the page alive
        int free = Arena.FreePages;
        n.Put();
        Assert.Equal(free + 1, Arena.FreePages);
    }

    [Fact]
    public void Pfmemalloc_pages_are_released()
    {
        using var tight = new PageArena(new PageArenaOptions { PageCount = 70, PfmemallocReserve = 10 });
        var pool = NewPool(new PagePoolParams { Arena = tight });
        var got = new List<NetmemRef>();
        for (int i = 0; i < 64; i++) got.Add(pool.AllocNetmem());
        int pf = got.Count(n => n.IsPfmemalloc);
        Assert.Equal(4, pf); // the last 4 of the bulk dipped into the 10-page reserve
        foreach (var n in got) pool.PutNetmem(n, -1, true);
        Assert.Equal(pf, pool.GetStats().RecycleReleasedRefcnt);
        pool.Dispose();
        Assert.Equal(70, tight.FreePages);
    }

    [Fact]
    public void Remote_node_pages_are_waived_on_refill()
    {
        var pool = NewPool();
        var all = new List<NetmemRef>();
        for (int i = 0; i < PagePool.AllocCacheRefill; i++) all.Add(pool.AllocNetmem());
        foreach (var n in all) pool.PutNetmem(n, -1, allowDirect: false); // into the ring
        pool.NidChanged(1); // the arena's pages are on node 0
        var fresh = pool.AllocNetmem();
        var s = pool.GetStats();
        Assert.Equal(PagePool.AllocCacheRefill, s.AllocWaive);
        Assert.Equal(0, s.AllocRefill);
        Assert.Equal(2, s.AllocSlow); // had to go to the page allocator
        Assert.Equal(PagePool.AllocCacheRefill, pool.ReleaseCount);
        pool.NidChanged(0);
        pool.RecycleDirect(fresh);
    }

    [Fact]
    public void High_order_pools_count_slow_high_order()
    {
        var pool = NewPool(new PagePoolParams { Order = 2 });
        var n = pool.AllocNetmem();
        Assert.Equal(2, n.Order);
        Assert.Equal(1, pool.GetStats().AllocSlowHighOrder);
        Assert.Equal(0, pool.GetStats().AllocSlow);
        n.GetSpan(0, 4 * PageArena.PageSize).Fill(1);
        Assert.Equal(4L * PageArena.PageSize, pool.InflightMemory);
        pool.RecycleDirect(n);
    }

    [Fact]
    public void Out_of_memory_returns_null()
    {
        using var small = new PageArena(new PageArenaOptions { PageCount = 3 });
        var pool = NewPool(new PagePoolParams { Arena = small });
        var a = pool.AllocNetmem(); var b = pool.AllocNetmem(); var c = pool.AllocNetmem();
        Assert.True(pool.AllocNetmem().IsNull);
        pool.RecycleDirect(a); pool.RecycleDirect(b); pool.RecycleDirect(c);
        pool.Dispose();
        Assert.Equal(3, small.FreePages);
    }

    [Fact]
    public void Napi_local_puts_recycle_directly_and_others_go_to_the_ring()
    {
        var pool = NewPool(new PagePoolParams { Napi = new TestNapi(42) });
        NetmemRef a, b, c;
        using (NapiScope.Enter(42))
        {
            a = pool.AllocNetmem(); b = pool.AllocNetmem(); c = pool.AllocNetmem();
            pool.PutNetmem(a, -1, allowDirect: false); // detected as NAPI-local
        }
        Assert.Equal(1, pool.GetStats().RecycleCached);
        pool.PutNetmem(b, -1, allowDirect: true); // claims direct, but not in the NAPI context
        Assert.Equal(1, pool.GetStats().RecycleCached);
        Assert.Equal(1, pool.GetStats().RecycleRing);
        using (NapiScope.Enter(7)) pool.PutNetmem(c, -1, allowDirect: true); // another NAPI's context
        Assert.Equal(2, pool.GetStats().RecycleRing);
        Assert.Equal(0u, NapiScope.Current);
        Assert.Equal(42u, pool.GetInfo().NapiId);
    }
}
