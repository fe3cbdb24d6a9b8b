using Netmem.Memory;

namespace Netmem.Tests.Memory;

public class PageArenaTests
{
    [Fact]
    public void Buddy_allocator_splits_and_merges_back_to_whole_blocks()
    {
        using var arena = new PageArena(new PageArenaOptions { PageCount = 1024 });
        var pages = new List<NetmemRef>();
        for (int order = 0; order <= 4; order++) pages.Add(arena.AllocPages(order));
        Assert.Equal(1 + 2 + 4 + 8 + 16, arena.UsedPages);
        foreach (var p in pages)
        {
            Assert.Equal(0, (p.Address - arena.BaseAddress) % (PageArena.PageSize << p.Order)); // naturally aligned
            p.Put();
        }
        Assert.Equal(1024, arena.FreePages);
        // All merged back: one order-10 block is available again.
        var max = arena.AllocPages(PageArena.MaxOrder);
        Assert.False(max.IsNull);
        max.Put();
    }

    [Fact]
    public void Exhaustion_returns_null_and_bulk_allocates_what_is_left()
    {
        using var arena = new PageArena(new PageArenaOptions { PageCount = 10 });
        Span<NetmemRef> buf = new NetmemRef[16];
        Assert.Equal(10, arena.AllocPagesBulk(buf));
        Assert.True(arena.AllocPages().IsNull);
        for (int i = 0; i < 10; i++) buf[i].Put();
        Assert.Equal(10, arena.FreePages);
        Assert.True(arena.AllocPages(order: 4).IsNull); // 10 pages never form an order-4 block
    }

    [Fact]
    public void Pages_are_distinct_and_writable()
    {
        using var arena = new PageArena(new PageArenaOptions { PageCount = 64 });
        var seen = new HashSet<nint>();
        var list = new List<NetmemRef>();
        for (int i = 0; i < 64; i++)
        {
            var p = arena.AllocPages();
            Assert.True(seen.Add(p.Address));
            p.GetSpan(0, PageArena.PageSize).Fill((byte)i);
            list.Add(p);
        }
        for (int i = 0; i < 64; i++)
        {
            Assert.All(list[i].GetSpan(0, PageArena.PageSize).ToArray(), b => Assert.Equal((byte)i, b));
            list[i].Put();
        }
    }

    [Fact]
    public void Pfmemalloc_reserve_marks_pages_taken_from_it()
    {
        using var arena = new PageArena(new PageArenaOptions { PageCount = 8, PfmemallocReserve = 2 });
        var got = new List<NetmemRef>();
        for (int i = 0; i < 8; i++) got.Add(arena.AllocPages());
        Assert.Equal(6, got.Count(p => !p.IsPfmemalloc));
        Assert.Equal(2, got.Count(p => p.IsPfmemalloc));
        got.ForEach(p => p.Put());
        var again = arena.AllocPages();
        Assert.False(again.IsPfmemalloc); // the bit is cleared on free
        again.Put();
    }

    [Fact]
    public void Dispose_with_pages_outstanding_is_a_leak_error()
    {
        var arena = new PageArena(new PageArenaOptions { PageCount = 4 });
        var p = arena.AllocPages();
        var e = Assert.Throws<NetmemException>(arena.Dispose);
        Assert.Contains("1 pages still allocated", e.Message);
        p.Put();
        arena.Dispose();
        Assert.Throws<ObjectDisposedException>(() => arena.AllocPages());
    }

    [Fact]
    public void Freeing_a_page_a_pool_still_owns_is_refused()
    {
        using var arena = new PageArena(new PageArenaOptions { PageCount = 4 });
        var p = arena.AllocPages();
        p.SetPp(42);
        var e = Assert.Throws<NetmemException>(() => p.Put());
        Assert.Contains("page_pool still owns", e.Message);
        p.SetPp(0);
        p.Put();
        Assert.Equal(4, arena.FreePages);
    }

    [Fact]
    public void Bad_options_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PageArena(new PageArenaOptions { PageCount = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PageArena(new PageArenaOptions { PageCount = 4, PfmemallocReserve = 4 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PageArena(new PageArenaOptions { PageCount = 4, Nid = 300 }));
        using var arena = new PageArena(new PageArenaOptions { PageCount = 4 });
        Assert.Throws<ArgumentOutOfRangeException>(() => arena.AllocPages(PageArena.MaxOrder + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => arena.VirtToPage(1234));
    }

    [Fact]
    public void Huge_page_advice_is_optional_and_memory_still_works()
    {
        using var arena = new PageArena(new PageArenaOptions { PageCount = 1024, UseHugePages = true });
        Assert.Equal(0, arena.BaseAddress % (2 << 20));
        var p = arena.AllocPages();
        p.GetSpan(0, 8).Fill(1);
        p.Put();
    }
}
