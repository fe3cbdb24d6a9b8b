using Netmem.Memory;

namespace Netmem.Tests.Memory;

public class NetIovAreaTests
{
    [Fact]
    public void Area_validates_its_range()
    {
        using var hbm = new DeviceMemory(4 * PageArena.PageSize, "hbm");
        Assert.Throws<ArgumentOutOfRangeException>(() => NetIovArea.Create(NetIovType.Dmabuf, hbm, 100, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => NetIovArea.Create(NetIovType.Dmabuf, hbm, 0, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => NetIovArea.Create(NetIovType.Dmabuf, hbm, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DeviceMemory(1000));
        using var area = NetIovArea.Create(NetIovType.IoUring, hbm, PageArena.PageSize, 3);
        Assert.Equal(NetIovType.IoUring, area[2].NetIovType);
        Assert.Throws<ArgumentOutOfRangeException>(() => area[3]);
    }

    [Fact]
    public void Each_net_iov_is_distinct_and_knows_its_index()
    {
        using var hbm = new DeviceMemory(64 * PageArena.PageSize);
        using var area = NetIovArea.Create(NetIovType.Dmabuf, hbm, 0, 64);
        var set = new HashSet<nuint>();
        for (int i = 0; i < area.Count; i++)
        {
            var n = area[i];
            Assert.True(set.Add(n.Value));
            Assert.Equal(i, n.NetIovIndex);
            Assert.Equal(0, (long)(n.Value & ~NetmemRef.NetIovBit) % 64); // aligned: the low bit is free
        }
    }

    [Fact]
    public void Dispose_refuses_while_net_iovs_are_held_or_pool_owned()
    {
        using var hbm = new DeviceMemory(PageArena.PageSize);
        var area = NetIovArea.Create(NetIovType.Dmabuf, hbm, 0, 1);
        area[0].Get();
        Assert.Contains("user references", Assert.Throws<NetmemException>(area.Dispose).Message);
        area[0].Put();
        area[0].SetPp(7);
        Assert.Contains("page_pool", Assert.Throws<NetmemException>(area.Dispose).Message);
        area[0].SetPp(0);
        area.Dispose();
    }

    [Fact]
    public void Device_memory_bounds_are_checked()
    {
        using var hbm = new DeviceMemory(PageArena.PageSize);
        hbm.CopyFromHost(4090, [1, 2, 3, 4, 5, 6]);
        var b = new byte[6];
        hbm.CopyToHost(4090, b);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6 }, b);
        Assert.Throws<ArgumentOutOfRangeException>(() => hbm.CopyToHost(4091, b));
    }
}
