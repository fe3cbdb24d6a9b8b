using Netmem.Memory;

namespace Netmem.Tests.Memory;

public sealed class NetmemRefTests : IDisposable
{
    private readonly PageArena _arena = new(new PageArenaOptions { PageCount = 64, Nid = 3 });
    private readonly DeviceMemory _hbm = new(8 * PageArena.PageSize, "hbm");
    private readonly NetIovArea _area;

    public NetmemRefTests() => _area = NetIovArea.Create(NetIovType.Dmabuf, _hbm, 2 * PageArena.PageSize, 4);

    public void Dispose()
    {
        _area.Dispose();
        _hbm.Dispose();
        _arena.Dispose();
    }

    [Fact]
    public void Page_and_net_iov_are_told_apart_by_the_low_bit()
    {
        var page = _arena.AllocPages();
        var niov = _area[0];
        Assert.False(page.IsNetIov);
        Assert.True(page.IsReadable);
        Assert.Equal(0u, page.Value & NetmemRef.NetIovBit);
        Assert.True(niov.IsNetIov);
        Assert.False(niov.IsReadable);
        Assert.Equal(1u, niov.Value & NetmemRef.NetIovBit);
        Assert.Equal(niov, NetmemRef.FromRaw(niov.Value));
        page.Put();
    }

    [Fact]
    public unsafe void Checked_conversions_refuse_the_wrong_kind()
    {
        var page = _arena.AllocPages();
        var niov = _area[1];
        Assert.True(page.ToPage() != null);
        Assert.True(niov.ToNetIov() != null);
        var e1 = Assert.Throws<NetmemException>(() => { _ = niov.ToPage(); });
        Assert.Contains("not a page", e1.Message);
        var e2 = Assert.Throws<NetmemException>(() => { _ = page.ToNetIov(); });
        Assert.Contains("not a net_iov", e2.Message);
        Assert.Throws<NetmemException>(() => { _ = default(NetmemRef).ToPage(); });
        page.Put();
    }

    [Fact]
    public void Address_is_null_for_unreadable_memory()
    {
        var page = _arena.AllocPages();
        Assert.NotEqual(0, page.Address);
        Assert.Equal(0, page.Address % PageArena.PageSize);
        Assert.Equal(0, _area[2].Address);
        Assert.Equal(0, default(NetmemRef).Address);
        page.Put();
    }

    [Fact]
    public void GetSpan_reads_pages_and_refuses_net_iovs_and_bad_ranges()
    {
        var page = _arena.AllocPages();
        page.GetSpan(100, 4).Fill(0xAB);
        Assert.Equal(0xAB, page.GetSpan(103, 1)[0]);
        var e = Assert.Throws<NetmemException>(() => _area[0].GetSpan(0, 1));
        Assert.Contains("unreadable", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => page.GetSpan(4000, 200));
        Assert.Throws<ArgumentOutOfRangeException>(() => page.GetSpan(-1, 2));
        page.Put();
    }

    [Fact]
    public void Nid_pfn_and_pfmemalloc()
    {
        var page = _arena.AllocPages();
        Assert.Equal(3, page.Nid);
        Assert.Equal((ulong)page.Address >> PageArena.PageShift, page.PfnTrace);
        Assert.False(page.IsPfmemalloc);
        var niov = _area[0];
        Assert.Equal(0, niov.Nid);
        Assert.Equal(0ul, niov.PfnTrace);
        Assert.False(niov.IsPfmemalloc);
        page.Put();
    }

    [Fact]
    public void Pp_magic_or_clear_and_is_pp()
    {
        foreach (var n in new[] { _arena.AllocPages(), _area[3] })
        {
            Assert.False(n.IsPp);
            n.OrPpMagic(PpMagic.Signature);
            Assert.True(n.IsPp);
            Assert.Equal(PpMagic.Signature, n.PpMagicValue);
            n.ClearPpMagic();
            Assert.False(n.IsPp);
            Assert.Equal(0ul, n.PpMagicValue);
            if (!n.IsNetIov) n.Put();
        }
    }

    [Fact]
    public void Pp_field_dma_addr_and_pp_ref_count_are_shared_by_both_kinds()
    {
        foreach (var n in new[] { _arena.AllocPages(), _area[0] })
        {
            n.SetPp(0x1234);
            Assert.Equal(0x1234, n.Pp);
            n.SetDmaAddr(0xABC000);
            Assert.Equal(0xABC000ul, n.DmaAddr);
            n.SetPpRefCount(1);
            Assert.Equal(3, n.AddPpRefCount(2));
            Assert.Equal(3, n.PpRefCount);
            n.SetPp(0);
            n.SetDmaAddr(0);
            n.SetPpRefCount(0);
            if (!n.IsNetIov) n.Put();
        }
    }

    [Fact]
    public void Page_get_put_and_double_put()
    {
        int free = _arena.FreePages;
        var page = _arena.AllocPages();
        Assert.Equal(1, page.RefCount);
        page.Get();
        Assert.Equal(2, page.RefCount);
        page.Put();
        Assert.Equal(free - 1, _arena.FreePages);
        page.Put();
        Assert.Equal(free, _arena.FreePages);
        var e = Assert.Throws<NetmemException>(() => page.Put());
        Assert.Contains("double put", e.Message);
        Assert.Throws<NetmemException>(() => page.Get()); // get on a free page
    }

    [Fact]
    public void Net_iov_refcount_is_1_and_get_put_hold_the_area()
    {
        var niov = _area[2];
        Assert.Equal(1, niov.RefCount);
        niov.Get();
        niov.Get();
        Assert.Equal(2, _area.Users);
        niov.Put();
        niov.Put();
        Assert.Equal(0, _area.Users);
        var e = Assert.Throws<NetmemException>(() => niov.Put());
        Assert.Contains("double put", e.Message);
    }

    [Fact]
    public void Net_iov_index_owner_type_and_virtual_address()
    {
        var niov = _area[3];
        Assert.Equal(3, niov.NetIovIndex);
        Assert.Same(_area, niov.NetIovOwner);
        Assert.Equal(NetIovType.Dmabuf, niov.NetIovType);
        Assert.Equal(2ul * PageArena.PageSize, _area.BaseVirtual);
        Assert.Equal(5ul * PageArena.PageSize, niov.NetIovVirtualAddr);
        Assert.True(_area.Owns(niov));
        var page = _arena.AllocPages();
        Assert.Throws<NetmemException>(() => page.NetIovIndex);
        page.Put();
    }

    [Fact]
    public void Compound_head_of_tail_pages()
    {
        var head = _arena.AllocPages(order: 2);
        Assert.Equal(2, head.Order);
        Assert.Equal(head, head.CompoundHead);
        var tail = _arena.VirtToPage(head.Address + 3 * PageArena.PageSize + 17);
        Assert.True(tail.IsTail);
        Assert.False(tail.IsPp);
        Assert.Equal(head, tail.CompoundHead);
        Assert.Equal(_area[1], _area[1].CompoundHead);
        tail.Get(); // references go to the head
        Assert.Equal(2, head.RefCount);
        tail.Put();
        head.Put();
        Assert.Equal(_arena.TotalPages, _arena.FreePages);
    }

    [Fact]
    public void Null_ref_is_refused_by_helpers()
    {
        var n = default(NetmemRef);
        Assert.True(n.IsNull);
        Assert.False(n.IsReadable);
        Assert.Throws<NetmemException>(() => n.Pp);
        Assert.Throws<NetmemException>(() => n.Get());
        Assert.Equal("netmem(null)", n.ToString());
    }
}
