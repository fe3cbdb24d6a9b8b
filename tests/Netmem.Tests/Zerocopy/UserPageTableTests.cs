using Netmem.Memory;
using Netmem.Skb;
using Netmem.Stack.Tcp;

namespace Netmem.Tests.Zerocopy;

/// <summary>
/// User memory as page descriptors (<see cref="UserPageTable"/>) and the send queue's extent kinds
/// (<see cref="TcpSendBuffer"/>): references, the last put going to the owner instead of a buddy allocator,
/// DMA mapping through the IOMMU unchanged, and net_iov extents holding their area until acknowledged.
/// </summary>
public class UserPageTableTests
{
    private sealed class Owner : IUserPageOwner
    {
        public readonly List<NetmemRef> Released = [];
        public void UserPageReleased(NetmemRef page) => Released.Add(page);
    }

    private sealed class CountingUbuf : UbufInfo
    {
        public int Completed;
        public CountingUbuf() => Init();
        protected override void Complete() => Completed++;
    }

    [Fact]
    public void TheLastPutOfAUserPageGoesToItsOwnerAndTheIommuMapsItLikeAnArenaPage()
    {
        using var buf = new ZerocopyTestBuffer(2 * 4096);
        TcpTestUtilFill(buf.Span);
        var owner = new Owner();
        var table = new UserPageTable(); // not the shared one: its freed descriptors go straight to other tests
        var page = table.Map(buf.Address + 4096, owner);
        Assert.True(page.IsUserPage && page.IsReadable && !page.IsNetIov);
        Assert.Equal(buf.Address + 4096, page.Address);
        Assert.Equal(1, page.RefCount);
        Assert.Equal(buf.Span.Slice(4096 + 10, 100).ToArray(), page.GetSpan(10, 100).ToArray());

        page.Get(); // an skb frag's reference
        using (var dev = new DmaDevice("zc-test"))
        {
            ulong iova = dev.MapPage(page, 10, 100, DmaDirection.ToDevice);
            var read = new byte[100];
            dev.DeviceRead(iova, read);
            Assert.Equal(buf.Span.Slice(4096 + 10, 100).ToArray(), read);
            dev.UnmapPage(iova, 100, DmaDirection.ToDevice);
            Assert.Equal(0, dev.LiveMappings);
        }
        page.Put();
        Assert.Empty(owner.Released);
        page.Put(); // the last: no buddy allocator, the owner hears
        Assert.Equal([page], owner.Released);
        Assert.Throws<NetmemException>(() => page.Put()); // a put of a free descriptor is refused, not a second release
        Assert.Single(owner.Released);
        Assert.Throws<ArgumentOutOfRangeException>(() => table.Map(buf.Address + 1, owner)); // page addresses only
    }

    [Fact]
    public void ArenaPagesStillGoBackToTheirArena()
    {
        using var arena = new PageArena(new PageArenaOptions { PageCount = 16 });
        var p = arena.AllocPages();
        Assert.False(p.IsUserPage);
        p.Get();
        p.Put();
        Assert.Equal(15, arena.FreePages);
        p.Put();
        Assert.Equal(16, arena.FreePages);
    }

    [Fact]
    public void NetmemExtentsHoldTheirAreaAndCompletionUntilAcknowledged()
    {
        using var arena = new PageArena(new PageArenaOptions { PageCount = 64 });
        var cache = new SkbCache(new SkbCacheOptions { Arena = arena });
        using var area = NetIovArea.Create(NetIovType.Dmabuf, 4, 0);
        var sb = new TcpSendBuffer(arena, 1 << 20);
        var ubuf = new CountingUbuf();
        var copied = new byte[100];
        Assert.Equal(100, sb.Append(copied));
        Assert.Equal(4096, sb.AppendNetmem(area[0], 0, 4096, ubuf));
        Assert.Equal(1000, sb.AppendNetmem(area[1], 0, 1000, ubuf));
        Assert.Equal(500, sb.AppendNetmem(area[1], 1000, 500, ubuf)); // continues the last piece: one extent
        Assert.Equal(2, area.Users);
        Assert.Equal(3, sb.Extents);
        Assert.False(sb.IsReadable(100, 10));
        Assert.True(sb.IsReadable(0, 100));
        Assert.Throws<ArgumentOutOfRangeException>(() => sb.AppendNetmem(area[2], 4000, 200, ubuf)); // past the page

        Assert.Equal(3, sb.FragsFor(0, 100 + 4096 + 1500));
        var skb = cache.Alloc(128)!;
        sb.AddFrags(skb, 50, 50 + 4096 + 1500);
        Assert.Equal(3, skb.NrFrags);
        Assert.True(skb.AnyUnreadable);
        Assert.Same(ubuf, skb.Shinfo.Ubuf);
        Assert.Equal(4, area.Users);
        ubuf.Put(); // the creator's reference
        Assert.Equal(0, ubuf.Completed);
        skb.Free();
        Assert.Equal(2, area.Users);
        sb.Ack(100 + 4096);
        Assert.Equal(1, area.Users);
        Assert.Equal(0, ubuf.Completed);
        sb.Ack(sb.EndPos);
        Assert.Equal(0, area.Users);
        Assert.Equal(1, ubuf.Completed);
        sb.Dispose();
        Assert.Equal(0, sb.PagesHeld);
        cache.Dispose();
        Assert.True(cache.HeadPool.IsFreed);
        Assert.Equal(0, cache.HeadPool.Inflight);
        Assert.Equal(arena.TotalPages, arena.FreePages);
    }

    [Fact]
    public void ASegmentNeverMixesTwoCompletionsOrExceedsSeventeenFrags()
    {
        using var arena = new PageArena(new PageArenaOptions { PageCount = 64 });
        using var area = NetIovArea.Create(NetIovType.Dmabuf, 32, 0);
        var sb = new TcpSendBuffer(arena, 1 << 20);
        var u1 = new CountingUbuf();
        var u2 = new CountingUbuf();
        for (int i = 0; i < 20; i++) sb.AppendNetmem(area[i], 0, 10, u1);
        for (int i = 20; i < 22; i++) sb.AppendNetmem(area[i], 0, 10, u2);
        Assert.Equal(170, sb.FitFrags(0, 220, SkbSharedInfo.MaxSkbFrags, out bool cut));
        Assert.True(cut);
        Assert.Equal(30, sb.FitFrags(170, 50, SkbSharedInfo.MaxSkbFrags, out cut)); // stops where u2 starts
        Assert.True(cut);
        Assert.Equal(20, sb.FitFrags(200, 20, SkbSharedInfo.MaxSkbFrags, out cut));
        Assert.False(cut);
        sb.Dispose();
        u1.Put();
        u2.Put();
        Assert.Equal((1, 1), (u1.Completed, u2.Completed));
        Assert.Equal(0, area.Users);
    }

    private static void TcpTestUtilFill(Span<byte> s) => Tcp.TcpTestUtil.FillPattern(s, 0, 13);
}
