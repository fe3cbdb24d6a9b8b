using Netmem.Tests.Dmabuf;
using Microsoft.Extensions.Time.Testing;
using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Tests.Pool;

public class PagePoolDestroyTests : PoolTestBase
{
    [Fact]
    public void Destroy_with_nothing_inflight_frees_at_once()
    {
        var pool = NewPool();
        var n = pool.AllocNetmem();
        pool.RecycleDirect(n);
        Assert.Equal(PagePool.AllocCacheRefill, pool.Inflight); // the pool's own cache counts as inflight
        pool.Dispose();
        Assert.True(pool.IsFreed);
        Assert.Equal(0, pool.Inflight);
        Assert.Equal(Arena.TotalPages, Arena.FreePages);
    }

    [Fact]
    public void Destroy_defers_while_netmem_is_held_retries_warns_and_frees_when_it_returns()
    {
        var time = new FakeTimeProvider();
        var pool = NewPool(new PagePoolParams { TimeProvider = time, Ifindex = 3 });
        var held = pool.AllocNetmem();
        var warnings = new List<string>();
        void OnWarn(PagePool p, string m) { if (p == pool) lock (warnings) warnings.Add(m); }
        PagePool.Warning += OnWarn;
        try
        {
            pool.Dispose();
            Assert.True(pool.IsDestroyed);
            Assert.False(pool.IsFreed);
            Assert.Equal(1, pool.Inflight);
            var info = pool.GetInfo();
            Assert.NotNull(info.DetachTime);
            Assert.Equal(1, info.Inflight);
            Assert.Equal(3, info.Ifindex);
            Assert.Contains(pool, PagePool.All); // still listed while waiting

            // The held page is never freed under its holder: still pool memory, still readable.
            Assert.True(held.IsPp);
            held.GetSpan(0, 16).Fill(0x5A);

            time.Advance(TimeSpan.FromSeconds(59));
            Assert.Empty(warnings);
            time.Advance(TimeSpan.FromSeconds(2));
            Assert.Single(warnings);
            Assert.Contains("1 inflight", warnings[0]);
            time.Advance(TimeSpan.FromSeconds(60));
            Assert.Equal(2, warnings.Count); // warns again each interval

            pool.PutNetmem(held, -1, allowDirect: true); // late return: released, not cached
            Assert.True(pool.IsFreed);
            Assert.Equal(0, pool.Inflight);
            Assert.DoesNotContain(pool, PagePool.All);
        }
        finally
        {
            PagePool.Warning -= OnWarn;
        }
    }

    [Fact]
    public void Netmem_put_into_the_ring_just_before_destroy_is_released_by_the_retry()
    {
        var time = new FakeTimeProvider();
        var pool = NewPool(new PagePoolParams { TimeProvider = time });
        var a = pool.AllocNetmem();
        var b = pool.AllocNetmem();
        pool.Dispose();
        pool.PutNetmem(a, -1, false);
        Assert.False(pool.IsFreed);
        pool.PutNetmem(b, -1, false);
        Assert.True(pool.IsFreed);
        time.Advance(TimeSpan.FromSeconds(5)); // the timer is gone; nothing happens
    }

    [Fact]
    public void Destroy_twice_is_harmless()
    {
        var pool = NewPool();
        pool.Dispose();
        pool.Dispose();
        Assert.True(pool.IsFreed);
    }

    [Fact]
    public void Provider_pools_give_net_iovs_back_to_the_provider_and_destroy_it()
    {
        using var bq = new BoundQueue(32, Arena);
        var binding = bq.Binding;
        long refs = binding.RefCount;
        var pool = PagePool.Create(bq.PoolParams);
        Assert.Equal(refs + 1, binding.RefCount); // init took a binding reference
        var n = pool.AllocNetmem();
        Assert.True(n.IsNetIov);
        Assert.False(n.IsReadable);
        Assert.True(n.IsPp);
        Assert.Equal(binding.SgTable.Entries[0].DmaAddress + (ulong)binding.IndexOf(n) * PageArena.PageSize, n.DmaAddr);
        Assert.Equal(32, pool.HoldCount); // the binding had 32: fewer than a bulk
        Assert.Equal(32, binding.Chunks.InUse);
        Assert.Equal(binding.Id, pool.GetInfo().Dmabuf);
        pool.RecycleDirect(n);
        pool.Dispose();
        Assert.True(pool.IsFreed);
        Assert.Equal(0, pool.Inflight);
        Assert.Equal(0, binding.Chunks.InUse);
        Assert.Equal(refs, binding.RefCount); // destroy gave it back
        for (int i = 0; i < binding.Areas[0].Count; i++) Assert.Equal(0, binding.Areas[0][i].Pp);
    }
}
