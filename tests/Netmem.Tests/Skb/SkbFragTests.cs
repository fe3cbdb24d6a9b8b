using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;
using Netmem.Tests.Pool;

namespace Netmem.Tests.Skb;

public class SkbFragTests : PoolTestBase
{
    [Fact]
    public void Page_frag_has_page_and_address()
    {
        var page = Arena.AllocPages();
        var f = default(SkbFrag);
        f.FillNetmemDesc(page, 100, 200);
        Assert.Equal(page, f.FragPage);
        Assert.Equal(page, f.FragNetmem);
        Assert.Equal(page.Address + 100, f.FragAddress);
        Assert.True(f.IsReadable);
        f.GetSpan().Fill(7);
        Assert.Equal(7, page.GetSpan(299, 1)[0]);
        f.OffAdd(10); f.SizeSub(10);
        Assert.Equal((110, 190), (f.Offset, f.Size));
        f.Unref(ppRecycle: false);
        Assert.Equal(Arena.TotalPages, Arena.FreePages);
    }

    [Fact]
    public void Net_iov_frag_has_no_page_and_no_address_and_refuses_reads()
    {
        using var hbm = new DeviceMemory(4 * PageArena.PageSize);
        using var area = NetIovArea.Create(NetIovType.Dmabuf, hbm, 0, 4);
        var f = default(SkbFrag);
        f.FillNetmemDesc(area[2], 0, 4096);
        Assert.True(f.FragPage.IsNull);
        Assert.Equal(0, f.FragAddress);
        Assert.True(f.IsNetIov);
        Assert.False(f.IsReadable);
        Assert.Contains("unreadable", Assert.Throws<NetmemException>(() => f.GetSpan()).Message);
        Assert.Contains("unreadable", f.ToString());
    }

    [Fact]
    public void Pp_recycled_frags_take_pp_references_and_return_to_their_pool()
    {
        var pool = NewPool();
        var n = pool.AllocNetmem();
        var f = default(SkbFrag);
        f.FillNetmemDesc(n, 0, 1500);
        f.Ref(ppRecycle: true);            // a clone shares the frag
        Assert.Equal(2, n.PpRefCount);
        Assert.Equal(1, n.RefCount);       // no page reference taken
        f.Unref(ppRecycle: true);
        Assert.Equal(1, n.PpRefCount);
        f.Unref(ppRecycle: true);          // last: back to the pool (ring: not in a NAPI context)
        Assert.Equal(0, n.PpRefCount);
        Assert.Equal(1, pool.GetStats().RecycleRing);
        Assert.Throws<NetmemException>(() => f.Unref(ppRecycle: true)); // double free of the frag
    }

    [Fact]
    public void Non_pp_frags_use_page_references()
    {
        var page = Arena.AllocPages();
        var f = default(SkbFrag);
        f.FillNetmemDesc(page, 0, 10);
        f.Ref(ppRecycle: true); // not pool memory: falls back to get_netmem
        Assert.Equal(2, page.RefCount);
        f.Unref(ppRecycle: true);
        f.Unref(ppRecycle: false);
        Assert.Equal(Arena.TotalPages, Arena.FreePages);
    }

    [Fact]
    public void Fill_rejects_null_and_negative()
    {
        var f = default(SkbFrag);
        Assert.Throws<NetmemException>(() => f.FillNetmemDesc(default, 0, 1));
        var page = Arena.AllocPages();
        Assert.Throws<ArgumentOutOfRangeException>(() => f.FillNetmemDesc(page, -1, 1));
        page.Put();
    }
}
