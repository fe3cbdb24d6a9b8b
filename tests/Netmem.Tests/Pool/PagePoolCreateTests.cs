using Netmem.Tests.Dmabuf;
using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Tests.Pool;

public class PagePoolCreateTests : PoolTestBase
{
    private static Errno CreateErrno(PagePoolParams p)
    {
        var e = Assert.Throws<NetmemErrnoException>(() => PagePool.Create(p));
        return e.Errno;
    }

    [Fact]
    public void Dma_sync_dev_without_dma_map_is_einval()
    {
        var e = Assert.Throws<NetmemErrnoException>(() => PagePool.Create(new PagePoolParams { Flags = PagePoolFlags.DmaSyncDev, MaxLen = 4096, Arena = Arena }));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Contains("requires PP_FLAG_DMA_MAP", e.Message);
    }

    [Fact]
    public void Dma_sync_dev_without_max_len_is_einval()
    {
        var e = Assert.Throws<NetmemErrnoException>(() => PagePool.Create(new PagePoolParams
        { Flags = PagePoolFlags.DmaMap | PagePoolFlags.DmaSyncDev, Device = Device, Arena = Arena }));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Contains("max_len", e.Message);
    }

    [Fact]
    public void Other_bad_parameters_are_einval()
    {
        Assert.Equal(Errno.EINVAL, CreateErrno(new PagePoolParams { Flags = PagePoolFlags.DmaMap, Arena = Arena })); // no device
        Assert.Equal(Errno.EINVAL, CreateErrno(new PagePoolParams { Flags = PagePoolFlags.DmaMap, Device = Device, DmaDir = DmaDirection.ToDevice, Arena = Arena }));
        Assert.Equal(Errno.EINVAL, CreateErrno(new PagePoolParams { Order = 11, Arena = Arena }));
        Assert.Equal(Errno.EINVAL, CreateErrno(new PagePoolParams { PoolSize = -1, Arena = Arena }));
        Assert.Equal(Errno.EINVAL, CreateErrno(new PagePoolParams { Offset = 4000, MaxLen = 200, Arena = Arena }));
    }

    [Fact]
    public void A_pool_takes_the_provider_from_its_rx_queue_only_with_allow_unreadable_netmem()
    {
        using var bq = new BoundQueue(16, Arena);
        // Without ALLOW_UNREADABLE_NETMEM the driver gets pages even though the queue has a provider.
        var pages = PagePool.Create(bq.PoolParams with { Flags = PagePoolFlags.DmaMap | PagePoolFlags.DmaSyncDev, Arena = Arena });
        Assert.Null(pages.MemoryProvider);
        var page = pages.AllocNetmem();
        Assert.True(page.IsReadable);
        pages.RecycleDirect(page);
        pages.Dispose();
        Assert.Equal(0, pages.Inflight);

        using var pool = PagePool.Create(bq.PoolParams);
        Assert.Same(bq.Binding, pool.MemoryProvider);
        Assert.Same(bq.Binding, bq.Queue.MemoryProvider);
        Assert.Equal(bq.Binding.Id, pool.GetInfo().Dmabuf);
        var niov = pool.AllocNetmem();
        Assert.True(niov.IsNetIov);
        pool.RecycleDirect(niov);
        pool.Dispose();
        Assert.True(pool.IsFreed);
        Assert.Equal(0, pool.Inflight);
    }

    [Fact]
    public void Allow_unreadable_netmem_needs_the_netdev_and_a_valid_queue()
    {
        var e = Assert.Throws<NetmemErrnoException>(() => PagePool.Create(new PagePoolParams { Flags = PagePoolFlags.AllowUnreadableNetmem, Arena = Arena }));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Contains("netdev", e.Message);
        using var bq = new BoundQueue(16, Arena);
        Assert.Equal(Errno.EINVAL, CreateErrno(bq.PoolParams with { QueueIndex = 1 }));
    }

    [Fact]
    public void A_provider_pool_needs_dma_map_and_dma_sync_dev()
    {
        using var bq = new BoundQueue(16, Arena);
        Assert.Equal(Errno.EOPNOTSUPP, CreateErrno(bq.PoolParams with { Flags = PagePoolFlags.AllowUnreadableNetmem }));
        Assert.Equal(Errno.EOPNOTSUPP, CreateErrno(bq.PoolParams with { Flags = PagePoolFlags.AllowUnreadableNetmem | PagePoolFlags.DmaMap }));
        Assert.Equal(0, bq.Binding.Chunks.InUse);
    }

    [Fact]
    public void Provider_init_failure_fails_create_with_its_errno()
    {
        using var bq = new BoundQueue(16, Arena);
        long refs = bq.Binding.RefCount;
        // devmem's init: order 0 only (E2BIG), and only pools of the device the dma-buf is mapped for (EINVAL).
        Assert.Equal(Errno.E2BIG, CreateErrno(bq.PoolParams with { Order = 1 }));
        Assert.Equal(Errno.EINVAL, CreateErrno(bq.PoolParams with { Device = Device }));
        Assert.Equal(refs, bq.Binding.RefCount); // a failed init keeps no reference
    }

    [Fact]
    public void Dma_sync_settings_change_only_in_the_providers_init()
    {
        var pool = NewPool(new PagePoolParams { Flags = PagePoolFlags.DmaMap | PagePoolFlags.DmaSyncDev, Device = Device, MaxLen = 4096 });
        Assert.True(pool.DmaSync);
        Assert.True(pool.DmaSyncForCpu);
        Assert.Throws<InvalidOperationException>(() => pool.DmaSync = false);
        using var bq = new BoundQueue(16, Arena);
        using var dev = PagePool.Create(bq.PoolParams);
        Assert.False(dev.DmaSync);       // devmem's init: dma-buf memory is synced by its owner
        Assert.False(dev.DmaSyncForCpu);
        dev.Dispose();
    }

    [Theory]
    [InlineData(0, 1024)]
    [InlineData(1000, 1024)]
    [InlineData(64, 64)]
    [InlineData(16384, 16384)]
    [InlineData(100000, 16384)]
    public void Ring_size_defaults_rounds_and_clamps(int requested, int expected)
    {
        var pool = NewPool(new PagePoolParams { PoolSize = requested });
        Assert.Equal(expected, pool.RingSize);
    }

    [Fact]
    public void Pools_get_increasing_ids_and_are_listed()
    {
        var a = NewPool();
        var b = NewPool();
        Assert.True(b.Id > a.Id);
        Assert.Contains(a, PagePool.All);
        Assert.Contains(b, PagePool.All);
        a.Dispose();
        Assert.DoesNotContain(a, PagePool.All);
    }
}
