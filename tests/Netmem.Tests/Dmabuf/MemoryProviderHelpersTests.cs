using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Tests.Dmabuf;

/// <summary>The public net_mp_* helpers a provider uses, on a real binding's net_iovs.</summary>
public class MemoryProviderHelpersTests
{
    [Fact]
    public void A_net_iov_handed_over_outside_the_bulk_path_is_stamped_cached_allocated_and_released()
    {
        using var bq = new BoundQueue(8);
        var pool = PagePool.Create(bq.PoolParams);
        var binding = bq.Binding;
        Assert.True(binding.Chunks.TryAlloc(out int idx)); // the provider's own allocation
        var niov = binding.NetIovAt(idx);
        long hold = pool.HoldCount;
        MemoryProviderHelpers.SetPagePool(pool, niov);   // net_mp_niov_set_page_pool
        Assert.True(niov.IsPp);
        Assert.Equal(hold + 1, pool.HoldCount);
        using (NapiScope.Enter(1))
            Assert.True(MemoryProviderHelpers.PlaceInCache(pool, niov)); // net_mp_netmem_place_in_cache
        Assert.Equal(niov, pool.AllocNetmem());          // the cache is LIFO: it comes out first
        Assert.Equal(1, niov.PpRefCount);
        pool.PutNetmem(niov, -1, allowDirect: true);
        pool.Dispose();                                  // release: the binding clears pp info and frees the chunk
        Assert.True(pool.IsFreed);
        Assert.Equal(0, pool.Inflight);
        Assert.False(niov.IsPp);
        Assert.Equal(0, binding.Chunks.InUse);

        Assert.Throws<NetmemException>(() => MemoryProviderHelpers.SetDmaAddr(default, 0x1000));
        var other = PagePool.Create(bq.PoolParams);
        var mine = other.AllocNetmem();
        using var foreign = PagePool.Create(bq.PoolParams);
        Assert.Throws<NetmemException>(() => MemoryProviderHelpers.PlaceInCache(foreign, mine)); // not that pool's
        other.PutNetmem(mine, -1, allowDirect: true);
        other.Dispose();
        foreign.Dispose();
        Assert.Equal(0, other.Inflight);
        Assert.Equal(0, foreign.Inflight);
    }
}
