using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;

namespace Netmem.Tests.Skb;

public sealed class SkbFragTests : IDisposable
{
    private readonly SkbTestEnv _env = new();

    public void Dispose() => _env.Dispose();

    [Fact]
    public void Fill_and_accessors_follow_the_kernel_helpers()
    {
        var page = _env.Arena.AllocPages();
        var f = new SkbFrag();
        f.FillNetmemDesc(page, 100, 200);
        Assert.Equal(page, f.Netmem);
        Assert.Equal(100, f.Offset);
        Assert.Equal(200, f.Size);
        Assert.Equal(page, f.FragPage);
        Assert.True(f.NetIov.IsNull);
        Assert.False(f.IsNetIov);
        Assert.True(f.IsReadable);
        Assert.Equal(page.Address + 100, f.FragAddress);
        f.OffAdd(10);
        f.SizeSub(10);
        Assert.Equal(110, f.Offset);
        Assert.Equal(190, f.Size);
        f.SizeAdd(6);
        Assert.Equal(196, f.GetSpan().Length);
        Assert.Throws<NetmemException>(() => f.FillNetmemDesc(default, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => f.FillNetmemDesc(page, -1, 1));
        page.Put();
    }

    [Fact]
    public void Net_iov_frag_has_no_page_and_no_address()
    {
        var niov = _env.DevPool.AllocNetmem();
        var f = new SkbFrag(niov, 64, 1000);
        Assert.True(f.IsNetIov);
        Assert.False(f.IsReadable);
        Assert.True(f.FragPage.IsNull);    // skb_frag_page: NULL for a net_iov
        Assert.Equal(niov, f.NetIov);
        Assert.Equal(0, f.FragAddress);    // skb_frag_address: NULL when unreadable
        Assert.Contains("unreadable", Assert.Throws<NetmemException>(() => f.GetSpan()).Message);
        f.Unref(ppRecycle: true);          // back to the devmem pool through pp_magic
        Assert.Equal(0, niov.PpRefCount);
    }

    [Fact]
    public void Without_pp_recycle_references_are_page_refcounts()
    {
        var page = _env.Arena.AllocPages();
        var f = new SkbFrag(page, 0, 10);
        f.Ref(ppRecycle: false);
        Assert.Equal(2, page.RefCount);
        f.Unref(ppRecycle: false);
        Assert.Equal(1, page.RefCount);
        int free = _env.Arena.FreePages;
        f.Unref(ppRecycle: false);
        Assert.Equal(free + 1, _env.Arena.FreePages);

        // A plain page in a pp_recycle skb falls back to the page refcount (it carries no pp_magic).
        page = _env.Arena.AllocPages();
        f = new SkbFrag(page, 0, 10);
        f.Ref(ppRecycle: true);
        Assert.Equal(2, page.RefCount);
        f.Unref(ppRecycle: true);
        f.Unref(ppRecycle: true);
        Assert.Equal(free + 1, _env.Arena.FreePages);
    }

    [Fact]
    public void With_pp_recycle_references_are_pp_refs_and_the_last_returns_to_the_pool()
    {
        var page = _env.PoolPage();
        var f = new SkbFrag(page, 0, 100);
        f.Ref(ppRecycle: true);
        Assert.Equal(2, page.PpRefCount);
        Assert.Equal(1, page.RefCount); // no page reference was taken
        f.Unref(ppRecycle: true);
        Assert.Equal(1, page.PpRefCount);
        Assert.Equal(0, _env.Pool.RingCount);
        f.Unref(ppRecycle: true);
        Assert.Equal(0, page.PpRefCount);
        Assert.Equal(1, _env.Pool.RingCount); // napi_pp_put_page from outside the NAPI context: the ring
        Assert.Throws<NetmemException>(() => f.Unref(ppRecycle: true)); // double put is caught
    }

    [Fact]
    public void Net_iov_without_pp_recycle_holds_an_area_reference()
    {
        _ = _env.DevPool;
        var niov = _env.Area[60]; // not handed out by the pool: a plain net_iov the caller references
        niov.Get();
        var skb = _env.Cache.Alloc(64)!;
        skb.AddRxFragNetmem(niov, 0, 4096, 4096);
        Assert.True(skb.Unreadable);
        skb.FragRef(0);
        Assert.Equal(2, _env.Area.Users);
        skb.FragUnref(0);
        Assert.Equal(1, _env.Area.Users);
        skb.Free();
        Assert.Equal(0, _env.Area.Users);
    }

    [Fact]
    public void Skb_fill_helpers_set_nr_frags_and_refuse_bad_slots()
    {
        var skb = _env.Cache.Alloc(64)!;
        var a = _env.PoolPage();
        var b = _env.PoolPage();
        skb.MarkForRecycle();
        skb.FillNetmemDesc(0, a, 0, 100); // skb_fill_netmem_desc: no length accounting
        Assert.Equal(1, skb.NrFrags);
        Assert.Equal(0, skb.Len);
        Assert.Throws<NetmemException>(() => skb.AddRxFragNetmem(5, b, 0, 10, 4096)); // not the next slot
        Assert.True(skb.CanCoalesce(1, a, 100));
        Assert.False(skb.CanCoalesce(1, a, 101));
        Assert.False(skb.CanCoalesce(1, b, 100));
        skb.AddRxFragNetmem(1, b, 0, 10, 4096);
        Assert.Equal(2, skb.NrFrags);
        Assert.Equal(10, skb.DataLen);
        skb.CoalesceRxFrag(1, 20, 0);
        Assert.Equal(30, skb.Frag(1).Size);
        Assert.Equal(30, skb.Len);
        Assert.Throws<ArgumentOutOfRangeException>(() => skb.Frag(2));
        skb.Free();
    }

    [Fact]
    public void Max_skb_frags_is_17_and_enforced()
    {
        Assert.Equal(17, SkBuff.MaxSkbFrags);
        var skb = _env.Cache.Alloc(64)!;
        skb.MarkForRecycle();
        for (int i = 0; i < SkBuff.MaxSkbFrags; i++) skb.AddRxFragNetmem(_env.PoolPage(), 0, 10, 4096);
        var extra = _env.PoolPage();
        Assert.Contains("MAX_SKB_FRAGS", Assert.Throws<NetmemException>(() => skb.AddRxFragNetmem(extra, 0, 10, 4096)).Message);
        PagePool.NapiPpPutPage(extra);
        skb.Free();
    }
}
