using Netmem.Memory;

namespace Netmem.Tests.Memory;

public sealed class IommuTests : IDisposable
{
    private readonly PageArena _arena = new(new PageArenaOptions { PageCount = 64 });
    private readonly DmaDevice _dev = new("nic0");

    public void Dispose()
    {
        _dev.Dispose();
        _arena.Dispose();
    }

    [Fact]
    public void Device_write_lands_in_the_mapped_page()
    {
        var page = _arena.AllocPages();
        ulong iova = _dev.MapPage(page, 0, PageArena.PageSize, DmaDirection.FromDevice);
        Assert.NotEqual(0ul, iova);
        _dev.DeviceWrite(iova + 10, [1, 2, 3]);
        _dev.SyncSingleForCpu(iova, PageArena.PageSize, DmaDirection.FromDevice);
        Assert.Equal(new byte[] { 1, 2, 3 }, page.GetSpan(10, 3).ToArray());
        Assert.Equal(1, _dev.Stats.SyncForCpu);
        Assert.Equal(3, _dev.Stats.DeviceBytesWritten);
        _dev.UnmapPage(iova, PageArena.PageSize, DmaDirection.FromDevice);
        Assert.Equal(0, _dev.LiveMappings);
        page.Put();
    }

    [Fact]
    public void Sub_page_mapping_keeps_the_offset_and_faults_outside_it()
    {
        var page = _arena.AllocPages();
        ulong iova = _dev.MapPage(page, 256, 512, DmaDirection.Bidirectional);
        Assert.Equal(256ul, iova % PageArena.PageSize);
        _dev.DeviceWrite(iova, new byte[512]);
        var f = Assert.Throws<IommuFaultException>(() => _dev.DeviceWrite(iova + 500, new byte[20]));
        Assert.Equal(IommuFaultReason.OutOfRange, f.Reason);
        var g = Assert.Throws<IommuFaultException>(() => _dev.DeviceWrite(iova - 1, new byte[1]));
        Assert.Equal(IommuFaultReason.Unmapped, g.Reason);
        Assert.Equal(2, _dev.Stats.Faults);
        _dev.UnmapPage(iova, 512, DmaDirection.Bidirectional);
        page.Put();
    }

    [Fact]
    public void Direction_is_enforced()
    {
        var page = _arena.AllocPages();
        ulong tx = _dev.MapPage(page, 0, 64, DmaDirection.ToDevice);
        var buf = new byte[8];
        _dev.DeviceRead(tx, buf);
        var f = Assert.Throws<IommuFaultException>(() => _dev.DeviceWrite(tx, buf));
        Assert.Equal(IommuFaultReason.Direction, f.Reason);
        Assert.True(f.IsWrite);
        Assert.Contains("nic0", f.Message);
        _dev.UnmapPage(tx, 64, DmaDirection.ToDevice);
        ulong rx = _dev.MapPage(page, 0, 64, DmaDirection.FromDevice);
        Assert.Equal(IommuFaultReason.Direction, Assert.Throws<IommuFaultException>(() => _dev.DeviceRead(rx, buf)).Reason);
        _dev.UnmapPage(rx, 64, DmaDirection.FromDevice);
        page.Put();
    }

    [Fact]
    public void Access_after_unmap_faults()
    {
        var page = _arena.AllocPages();
        ulong iova = _dev.MapPage(page, 0, PageArena.PageSize, DmaDirection.FromDevice);
        _dev.UnmapPage(iova, PageArena.PageSize, DmaDirection.FromDevice);
        var f = Assert.Throws<IommuFaultException>(() => _dev.DeviceWrite(iova, [1]));
        Assert.Equal(IommuFaultReason.Unmapped, f.Reason);
        Assert.Equal(1, f.Length);
        Assert.Equal(iova, f.Iova);
        page.Put();
    }

    [Fact]
    public void Unmap_misuse_names_the_rule()
    {
        var page = _arena.AllocPages();
        ulong iova = _dev.MapPage(page, 0, 128, DmaDirection.FromDevice);
        Assert.Contains("size", Assert.Throws<NetmemException>(() => _dev.UnmapPage(iova, 64, DmaDirection.FromDevice)).Message);
        Assert.Contains("direction", Assert.Throws<NetmemException>(() => _dev.UnmapPage(iova, 128, DmaDirection.ToDevice)).Message);
        _dev.UnmapPage(iova, 128, DmaDirection.FromDevice);
        Assert.Contains("double unmap", Assert.Throws<NetmemException>(() => _dev.UnmapPage(iova, 128, DmaDirection.FromDevice)).Message);
        Assert.Contains("direction", Assert.Throws<NetmemException>(() =>
        {
            ulong i2 = _dev.MapPage(page, 0, 128, DmaDirection.FromDevice);
            try { _dev.SyncSingleForDevice(i2, 128, DmaDirection.ToDevice); }
            finally { _dev.UnmapPage(i2, 128, DmaDirection.FromDevice); }
        }).Message);
        page.Put();
    }

    [Fact]
    public void Multi_page_mappings_of_scattered_pages_translate_per_page()
    {
        var big = _arena.AllocPages(order: 1); // two contiguous pages
        ulong iova = _dev.MapPage(big, 100, 8000, DmaDirection.Bidirectional);
        var data = Enumerable.Range(0, 8000).Select(i => (byte)i).ToArray();
        _dev.DeviceWrite(iova, data);
        Assert.Equal(data, big.GetSpan(100, 8000).ToArray());
        var back = new byte[8000];
        _dev.DeviceRead(iova, back);
        Assert.Equal(data, back);
        Assert.Throws<IommuFaultException>(() => _dev.DeviceWrite(iova + 7999, new byte[2]));
        _dev.UnmapPage(iova, 8000, DmaDirection.Bidirectional);
        big.Put();
    }

    [Fact]
    public void Net_iovs_cannot_be_mapped_as_pages_but_device_memory_can_be_mapped()
    {
        using var hbm = new DeviceMemory(4 * PageArena.PageSize);
        using var area = NetIovArea.Create(NetIovType.Dmabuf, hbm, 0, 4);
        Assert.Contains("not a host page", Assert.Throws<NetmemException>(() => _dev.MapPage(area[0], 0, 64, DmaDirection.FromDevice)).Message);
        ulong iova = _dev.MapDeviceMemory(hbm, 0, hbm.Size, DmaDirection.FromDevice);
        _dev.DeviceWrite(iova + PageArena.PageSize * 2 + 5, [9, 8, 7]);
        var check = new byte[3];
        hbm.CopyToHost(PageArena.PageSize * 2 + 5, check);
        Assert.Equal(new byte[] { 9, 8, 7 }, check);
        _dev.Unmap(iova, hbm.Size, DmaDirection.FromDevice);
    }

    [Fact]
    public void Peer_to_peer_copy_goes_through_both_iommus()
    {
        using var other = new DmaDevice("nic1");
        var src = _arena.AllocPages();
        var dst = _arena.AllocPages();
        "payload"u8.CopyTo(src.GetSpan(0, 7));
        ulong s = other.MapPage(src, 0, 7, DmaDirection.ToDevice);
        ulong d = _dev.MapPage(dst, 0, 7, DmaDirection.FromDevice);
        _dev.DeviceCopy(d, other, s, 7);
        Assert.Equal("payload"u8.ToArray(), dst.GetSpan(0, 7).ToArray());
        // The source device has no mapping at the destination's IOVA: fault on its side.
        Assert.Throws<IommuFaultException>(() => _dev.DeviceCopy(d, other, d + 0x100000, 7));
        other.UnmapPage(s, 7, DmaDirection.ToDevice);
        _dev.UnmapPage(d, 7, DmaDirection.FromDevice);
        src.Put();
        dst.Put();
    }

    [Fact]
    public void Iovas_are_reused_after_unmap()
    {
        var page = _arena.AllocPages();
        ulong a = _dev.MapPage(page, 0, PageArena.PageSize, DmaDirection.FromDevice);
        _dev.UnmapPage(a, PageArena.PageSize, DmaDirection.FromDevice);
        ulong b = _dev.MapPage(page, 0, PageArena.PageSize, DmaDirection.FromDevice);
        Assert.Equal(a, b);
        _dev.UnmapPage(b, PageArena.PageSize, DmaDirection.FromDevice);
        Assert.Equal(2, _dev.Stats.Maps);
        Assert.Equal(2, _dev.Stats.Unmaps);
        Assert.Equal(0, _dev.Stats.MappedPages);
        page.Put();
    }
}
