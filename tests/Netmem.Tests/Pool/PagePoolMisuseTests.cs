using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Tests.Pool;

public class PagePoolMisuseTests : PoolTestBase
{
    [Fact]
    public void Double_put_is_caught_on_the_fast_path()
    {
        var pool = NewPool();
        var n = pool.AllocNetmem();
        pool.PutNetmem(n, -1, true);
        var e = Assert.Throws<NetmemException>(() => pool.PutNetmem(n, -1, true));
        Assert.Contains("double put", e.Message);
        Assert.Equal(1, pool.CacheCount - (PagePool.AllocCacheRefill - 1)); // the cache was not corrupted
    }

    [Fact]
    public void Put_into_another_pool_names_both()
    {
        var a = NewPool();
        var b = NewPool();
        var n = a.AllocNetmem();
        var e = Assert.Throws<NetmemException>(() => b.PutNetmem(n, -1, true));
        Assert.Contains("foreign", e.Message);
        Assert.Contains($"page_pool {a.Id}", e.Message);
        a.RecycleDirect(n);
    }

    [Fact]
    public void Put_of_memory_that_is_not_page_pool_memory()
    {
        var pool = NewPool();
        var page = Arena.AllocPages();
        var e = Assert.Throws<NetmemException>(() => pool.PutNetmem(page, -1, true));
        Assert.Contains("PP_SIGNATURE", e.Message);
        Assert.False(PagePool.NapiPpPutPage(page)); // not pp memory: napi_pp_put_page declines
        page.Put();
        Assert.Contains("null", Assert.Throws<NetmemException>(() => pool.PutNetmem(default, -1, true)).Message);
    }

    [Fact]
    public void Alloc_after_destroy_is_use_after_destroy()
    {
        var pool = NewPool();
        pool.Dispose();
        var e = Assert.Throws<NetmemException>(() => pool.AllocNetmem());
        Assert.Contains("after destroy", e.Message);
    }

    [Fact]
    public void Ref_of_pool_owned_netmem_is_refused()
    {
        var pool = NewPool();
        var n = pool.AllocNetmem();
        pool.RecycleDirect(n);
        Assert.Throws<NetmemException>(() => PagePool.RefNetmem(n));
    }

    [Fact]
    public void Napi_pp_put_page_finds_the_owning_pool()
    {
        var pool = NewPool();
        var n = pool.AllocNetmem();
        Assert.True(PagePool.NapiPpPutPage(n));
        Assert.Equal(1, pool.GetStats().RecycleRing); // not in a NAPI context: through the ring
    }
}
