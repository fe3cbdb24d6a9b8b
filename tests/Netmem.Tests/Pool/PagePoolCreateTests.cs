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
    public void A_memory_provider_needs_allow_unreadable_netmem()
    {
        using var hbm = new DeviceMemory(16 * PageArena.PageSize);
        using var area = NetIovArea.Create(NetIovType.Dmabuf, hbm, 0, 16);
        var e = Assert.Throws<NetmemErrnoException>(() => PagePool.Create(new PagePoolParams { MemoryProvider = new NetIovTestProvider(area) }));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Contains("PP_FLAG_ALLOW_UNREADABLE_NETMEM", e.Message);
    }

    [Fact]
    public void Provider_init_failure_fails_create_with_its_errno()
    {
        using var hbm = new DeviceMemory(16 * PageArena.PageSize);
        using var area = NetIovArea.Create(NetIovType.Dmabuf, hbm, 0, 16);
        var e = Assert.Throws<NetmemErrnoException>(() => PagePool.Create(new PagePoolParams
        { Flags = PagePoolFlags.AllowUnreadableNetmem, MemoryProvider = new NetIovTestProvider(area) { InitResult = Errno.E2BIG } }));
        Assert.Equal(Errno.E2BIG, e.Errno);
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
