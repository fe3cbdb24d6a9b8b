using Netmem.Memory;
using Netmem.Skb;

namespace Netmem.Tests.Skb;

public sealed class SkbCoalesceTests : IDisposable
{
    private readonly SkbTestEnv _env = new();

    public void Dispose() => _env.Dispose();

    private SkBuff DevmemSkb(int header, int frags)
    {
        var skb = _env.Cache.NapiAlloc(128)!;
        skb.Put(header).Clear();
        skb.MarkForRecycle();
        for (int i = 0; i < frags; i++) skb.AddRxFragNetmem(_env.DevPool.AllocNetmem(), 0, 1000, PageArena.PageSize);
        return skb;
    }

    [Fact]
    public void Readable_and_unreadable_never_coalesce()
    {
        var readable = _env.PoolSkb(0, 500);
        var unreadable = DevmemSkb(0, 1);
        Assert.False(SkBuff.TryCoalesce(readable, unreadable, out bool stolen, out int delta));
        Assert.False(stolen);
        Assert.Equal(0, delta);
        Assert.False(SkBuff.TryCoalesce(unreadable, readable, out _, out _));
        Assert.Equal(500, readable.Len);
        Assert.Equal(1, readable.NrFrags);
        Assert.Equal(1000, unreadable.Len);
        Assert.Equal(1, unreadable.NrFrags);
        Assert.False(readable.Unreadable);

        // A small readable skb whose bytes would fit in the tailroom is refused too.
        var small = _env.Cache.Alloc(512)!;
        small.MarkForRecycle();
        var tiny = DevmemSkb(0, 1);
        tiny.Trim(10);
        Assert.False(SkBuff.TryCoalesce(small, tiny, out _, out _));
        Assert.Equal(0, small.Len);

        readable.Free();
        unreadable.Free();
        small.Free();
        tiny.Free();
    }

    [Fact]
    public void Readable_small_skb_is_copied_into_the_tailroom()
    {
        var to = _env.Cache.Alloc(1024)!;
        to.MarkForRecycle();
        SkbTestEnv.Fill(to.Put(100), 1);
        var from = _env.PoolSkb(30, 200);
        var expected = SkbTestEnv.Bytes(to).Concat(SkbTestEnv.Bytes(from)).ToArray();
        int truesize = to.Truesize;
        Assert.True(SkBuff.TryCoalesce(to, from, out bool stolen, out int delta));
        Assert.False(stolen);
        Assert.Equal(0, delta);
        Assert.Equal(truesize, to.Truesize);
        Assert.False(to.IsNonlinear);
        Assert.Equal(expected, SkbTestEnv.Bytes(to));
        _env.Cache.FreePartial(from, stolen); // from keeps and returns its own frags
        to.Free();
    }

    [Fact]
    public void Readable_frags_move_and_truesize_follows()
    {
        var to = _env.PoolSkb(40, 1000);
        var from = _env.PoolSkb(0, 700, 800); // no head data: only frags move
        var expected = SkbTestEnv.Bytes(to).Concat(SkbTestEnv.Bytes(from)).ToArray();
        int toTruesize = to.Truesize, fromTruesize = from.Truesize;
        Assert.True(SkBuff.TryCoalesce(to, from, out bool stolen, out int delta));
        Assert.False(stolen);
        Assert.Equal(fromTruesize - (SkBuff.TruesizeOverhead + from.EndOffset), delta);
        Assert.Equal(2 * PageArena.PageSize, delta); // the two frags' truesize
        Assert.Equal(toTruesize + delta, to.Truesize);
        Assert.Equal(3, to.NrFrags);
        Assert.Equal(0, from.NrFrags);
        Assert.Equal(expected, SkbTestEnv.Bytes(to));
        _env.Cache.FreePartial(from, stolen);
        to.Free();
        Assert.Equal(3, _env.Pool.GetStats().RecycleRing); // each frag returned once, by `to`
    }

    [Fact]
    public void A_head_with_data_is_stolen_as_a_frag()
    {
        var to = _env.PoolSkb(40, 1000);
        var from = _env.PoolSkb(60, 300);
        var head = from.HeadNetmem;
        var expected = SkbTestEnv.Bytes(to).Concat(SkbTestEnv.Bytes(from)).ToArray();
        int fromTruesize = from.Truesize;
        Assert.True(SkBuff.TryCoalesce(to, from, out bool stolen, out int delta));
        Assert.True(stolen);
        Assert.Equal(fromTruesize - SkBuff.SkbStructSize, delta);
        Assert.Equal(3, to.NrFrags);
        Assert.Equal(head, to.Frag(1).Netmem);
        Assert.Equal(60, to.Frag(1).Size);
        Assert.Equal(expected, SkbTestEnv.Bytes(to));
        _env.Cache.FreePartial(from, headStolen: true); // the head now belongs to `to`
        Assert.Equal(1, _env.Cache.LiveSkbs); // only `to`
        to.Free(); // returns the stolen head to the head pool through pp_magic
    }

    [Fact]
    public void Unreadable_skbs_coalesce_with_each_other()
    {
        var to = DevmemSkb(54, 2);
        var from = DevmemSkb(0, 3);
        Assert.True(SkBuff.TryCoalesce(to, from, out bool stolen, out _));
        Assert.False(stolen);
        Assert.Equal(5, to.NrFrags);
        Assert.Equal(54 + 5000, to.Len);
        Assert.True(to.Unreadable);
        _env.Cache.FreePartial(from, stolen);
        to.Free();
        Assert.Equal(5, _env.DevPool.GetStats().RecycleRing);
    }

    [Fact]
    public void Mixed_pp_recycle_cloned_target_and_frag_list_are_refused()
    {
        var pp = _env.PoolSkb(0, 100);
        var plain = _env.Cache.Alloc(64)!;
        var page = _env.Arena.AllocPages();
        plain.AddRxFragNetmem(page, 0, 100, PageArena.PageSize);
        Assert.False(SkBuff.TryCoalesce(pp, plain, out _, out _));
        Assert.False(SkBuff.TryCoalesce(plain, pp, out _, out _));

        var to = _env.PoolSkb(0, 100);
        var clone = to.Clone();
        var from = _env.PoolSkb(0, 100);
        Assert.False(SkBuff.TryCoalesce(to, from, out _, out _));
        clone.Free();
        Assert.True(SkBuff.TryCoalesce(to, from, out _, out _)); // no longer shared

        pp.Free();
        plain.Free();
        from.Free();
        to.Free();
    }

    [Fact]
    public void Coalescing_from_a_clone_takes_references_so_every_netmem_returns_once()
    {
        var to = _env.PoolSkb(0, 100);
        var from = _env.PoolSkb(0, 200, 300);
        var fromClone = from.Clone();
        var n = from.Frag(0).Netmem;
        Assert.True(SkBuff.TryCoalesce(to, from, out bool stolen, out _));
        Assert.False(stolen);
        Assert.Equal(2, n.PpRefCount); // `to` and the shared data each hold one
        Assert.Equal(2, from.NrFrags); // still there for the clone
        _env.Cache.FreePartial(from, stolen);
        fromClone.Free();
        Assert.Equal(1, n.PpRefCount);
        to.Free();
        Assert.Equal(0, n.PpRefCount);
        Assert.Equal(3, _env.Pool.GetStats().RecycleRing);
    }

    [Fact]
    public void Gro_appends_frags_then_heads_then_chains_on_the_frag_list()
    {
        const int hdr = 52;
        var p = _env.PoolSkb(hdr, 1000);
        var expected = new List<byte>(SkbTestEnv.Bytes(p));
        int truesize = p.Truesize;

        // 1. Payload entirely in frags (header split): the frags move, the skb is freed normally.
        var s1 = _env.PoolSkb(hdr, 500, 600);
        expected.AddRange(SkbTestEnv.Bytes(s1)[hdr..]);
        int t1 = s1.Truesize;
        Assert.Equal(Errno.None, SkbGro.Receive(p, s1, hdr, out var free1));
        Assert.Equal(SkbGroFree.Free, free1);
        Assert.Equal(t1 - (SkBuff.TruesizeOverhead + s1.EndOffset), p.Truesize - truesize);
        _env.Cache.FreeAfterGro(s1, free1);
        Assert.Equal(3, p.NrFrags);

        // 2. Payload starting in the head: the head becomes a frag.
        var s2 = _env.PoolSkb(hdr + 100, 400);
        expected.AddRange(SkbTestEnv.Bytes(s2)[hdr..]);
        Assert.Equal(Errno.None, SkbGro.Receive(p, s2, hdr, out var free2));
        Assert.Equal(SkbGroFree.FreeStolenHead, free2);
        _env.Cache.FreeAfterGro(s2, free2);
        Assert.Equal(5, p.NrFrags);

        // 3. Header bytes spilling into the first frag are cut off it.
        var s3 = _env.PoolSkb(20, 32 + 100, 50);
        expected.AddRange(SkbTestEnv.Bytes(s3)[hdr..]);
        Assert.Equal(Errno.None, SkbGro.Receive(p, s3, hdr, out var free3));
        _env.Cache.FreeAfterGro(s3, free3);
        Assert.Equal(7, p.NrFrags);
        Assert.Equal(expected.ToArray(), SkbTestEnv.Bytes(p));

        // 4. When the frags are full, segments chain on the frag_list.
        var chained = new List<SkBuff>();
        for (int i = 0; i < 3; i++)
        {
            var s = _env.PoolSkb(hdr, 100, 100, 100, 100, 100, 100);
            expected.AddRange(SkbTestEnv.Bytes(s)[hdr..]);
            Assert.Equal(Errno.None, SkbGro.Receive(p, s, hdr, out var f));
            _env.Cache.FreeAfterGro(s, f);
            chained.Add(s);
        }
        Assert.True(p.HasFragList);
        Assert.Equal(expected.Count, p.Len);
        Assert.Equal(expected.ToArray(), SkbTestEnv.Bytes(p));
        int total = 0;
        foreach (var span in p.ReadableSpans()) total += span.Length;
        Assert.Equal(p.Len, total);

        p.Free(); // frees the chain and every frag
        Assert.All(chained, s => Assert.False(s.IsLive));
        Assert.Equal(0, _env.Cache.LiveSkbs);
    }

    [Fact]
    public void Gro_refuses_mixing_and_oversize()
    {
        var p = _env.PoolSkb(52, 1000);
        var dev = DevmemSkb(52, 1);
        Assert.Equal(Errno.EINVAL, SkbGro.Receive(p, dev, 52, out var free));
        Assert.Equal(SkbGroFree.Keep, free);
        Assert.Equal(1052, p.Len);

        var plain = _env.Cache.Alloc(128)!;
        plain.Put(52).Clear();
        var page = _env.Arena.AllocPages();
        plain.AddRxFragNetmem(page, 0, 100, PageArena.PageSize);
        Assert.Equal(Errno.ETOOMANYREFS, SkbGro.Receive(p, plain, 52, out _));

        var big = _env.PoolSkb(52, Enumerable.Repeat(4000, SkBuff.MaxSkbFrags).ToArray()); // 68000 payload bytes
        Assert.Equal(Errno.E2BIG, SkbGro.Receive(p, big, 52, out _));

        p.Free();
        dev.Free();
        plain.Free();
        big.Free();
    }
}
