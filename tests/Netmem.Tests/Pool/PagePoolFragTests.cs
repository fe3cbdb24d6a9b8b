using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Tests.Pool;

public class PagePoolFragTests : PoolTestBase
{
    [Fact]
    public void Fragments_share_a_page_with_aligned_offsets()
    {
        var pool = NewPool();
        var a = pool.AllocFragNetmem(1000, out int oa);
        var b = pool.AllocFragNetmem(1000, out int ob);
        var c = pool.AllocFragNetmem(100, out int oc);
        Assert.Equal(a, b);
        Assert.Equal(a, c);
        Assert.Equal(0, oa);
        Assert.Equal(1024, ob);  // 1000 rounded up to 64
        Assert.Equal(2048, oc);
        Assert.True(a.PpRefCount > 1_000_000); // biased
        foreach (var n in new[] { a, b, c }) pool.PutNetmem(n, -1, true);
        Assert.Equal(0, pool.GetStats().RecycleCached); // the pool still holds the bias
        var d = pool.AllocFragNetmem(4000, out int od); // does not fit: drain; we were the last user -> reuse
        Assert.Equal(a, d);
        Assert.Equal(0, od);
        pool.PutNetmem(d, -1, true);
    }

    [Fact]
    public void A_page_recycles_when_its_last_fragment_comes_back_after_the_pool_moved_on()
    {
        var pool = NewPool();
        var a = pool.AllocFragNetmem(2048, out _);
        var b = pool.AllocFragNetmem(2048, out _);
        var c = pool.AllocFragNetmem(2048, out _); // new page; the first is drained with 2 users out
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(2, a.PpRefCount);
        pool.PutNetmem(a, -1, true);
        Assert.Equal(0, pool.GetStats().RecycleCached);
        pool.PutNetmem(b, -1, true);
        Assert.Equal(1, pool.GetStats().RecycleCached); // whole page back in the cache
        pool.PutNetmem(c, -1, true);
    }

    [Fact]
    public void Alloc_netmem_with_size_picks_whole_pages_or_fragments_and_reports_true_size()
    {
        var pool = NewPool();
        int size = 3000;
        var big = pool.AllocNetmem(ref size, out int off);
        Assert.Equal(PageArena.PageSize, size);
        Assert.Equal(0, off);
        Assert.Equal(1, big.PpRefCount);
        size = 1500;
        var f1 = pool.AllocNetmem(ref size, out off);
        Assert.Equal(1536, size);
        size = 1500;
        var f2 = pool.AllocNetmem(ref size, out off);
        Assert.Equal(f1, f2);
        Assert.Equal(1536, off);
        Assert.Equal(PageArena.PageSize - 1536, size); // no room for a third: takes the rest of the page
        foreach (var n in new[] { big, f1, f2 }) pool.PutNetmem(n, -1, true);
    }

    [Fact]
    public void Bad_fragment_sizes_are_rejected()
    {
        var pool = NewPool();
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.AllocFragNetmem(0, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.AllocFragNetmem(PageArena.PageSize + 1, out _));
    }

    [Fact]
    public void Destroy_settles_the_fragment_page()
    {
        var pool = NewPool();
        var a = pool.AllocFragNetmem(512, out _);
        pool.PutNetmem(a, -1, true);
        pool.Dispose();
        Assert.True(pool.IsFreed);
    }
}
