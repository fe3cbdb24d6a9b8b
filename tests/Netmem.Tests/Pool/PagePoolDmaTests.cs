using Netmem.Tests.Dmabuf;
using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Tests.Pool;

public class PagePoolDmaTests : PoolTestBase
{
    [Fact]
    public void Dma_map_maps_on_alloc_and_unmaps_on_release()
    {
        var pool = NewPool(new PagePoolParams { Flags = PagePoolFlags.DmaMap, Device = Device });
        var n = pool.AllocNetmem();
        Assert.NotEqual(0ul, n.DmaAddr);
        Assert.Equal(pool.HoldCount, Device.LiveMappings);
        // The device can write the page at its IOVA; the CPU sees it after a sync.
        Device.DeviceWrite(n.DmaAddr + 100, [5, 6, 7]);
        pool.DmaSyncNetmemForCpu(n, 100, 3);
        Assert.Equal(1, Device.Stats.SyncForCpu);
        Assert.Equal(new byte[] { 5, 6, 7 }, n.GetSpan(100, 3).ToArray());
        pool.RecycleDirect(n);
        pool.Dispose();
        Assert.Equal(0, Device.LiveMappings);
        Assert.Equal(0ul, n.DmaAddr);
    }

    [Fact]
    public void Dma_sync_dev_syncs_min_len_max_len_from_offset_on_recycle()
    {
        var pool = NewPool(new PagePoolParams
        { Flags = PagePoolFlags.DmaMap | PagePoolFlags.DmaSyncDev, Device = Device, MaxLen = 2048, Offset = 256 });
        var n = pool.AllocNetmem();
        long afterMap = Device.Stats.SyncForDevice; // one sync per page at map time
        Assert.Equal(pool.HoldCount, afterMap);
        pool.PutNetmem(n, 100, allowDirect: true);
        Assert.Equal(afterMap + 1, Device.Stats.SyncForDevice);
        n = pool.AllocNetmem();
        pool.PutNetmem(n, 0, allowDirect: true); // nothing to sync
        Assert.Equal(afterMap + 1, Device.Stats.SyncForDevice);
        n = pool.AllocNetmem();
        pool.PutNetmem(n, 100000, allowDirect: true); // clamped to max_len: the range must still be inside the mapping
        Assert.Equal(afterMap + 2, Device.Stats.SyncForDevice);
        Assert.Equal(0, Device.Stats.Faults);
    }

    [Fact]
    public void Sync_for_cpu_is_skipped_without_dma_map_and_for_provider_memory()
    {
        var pool = NewPool();
        var n = pool.AllocNetmem();
        pool.DmaSyncNetmemForCpu(n, 0, 64);
        Assert.Equal(0, Device.Stats.SyncForCpu);
        pool.RecycleDirect(n);

        using var bq = new BoundQueue(8, Arena);
        int mappings = bq.Nic.Dma.LiveMappings; // the binding's: one per scatter-list entry
        var before = bq.Nic.Dma.Stats;
        var dev = PagePool.Create(bq.PoolParams);
        var niov = dev.AllocNetmem();
        dev.DmaSyncNetmemForCpu(niov, 0, 64);
        Assert.Equal(mappings, bq.Nic.Dma.LiveMappings); // the provider set dma_addr; the pool maps nothing
        dev.PutNetmem(niov, 4096, allowDirect: true);   // no sync for the device on recycle either
        Assert.Equal(before.SyncForCpu, bq.Nic.Dma.Stats.SyncForCpu);
        Assert.Equal(before.SyncForDevice, bq.Nic.Dma.Stats.SyncForDevice);
        dev.Dispose();
        Assert.Equal(0, dev.Inflight);
    }
}
