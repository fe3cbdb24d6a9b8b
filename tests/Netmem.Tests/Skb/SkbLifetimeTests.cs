using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;

namespace Netmem.Tests.Skb;

/// <summary>
/// Clones, shared frags and frees: every netmem goes back to its pool exactly once. Each test ends
/// with env.Dispose() (pools freed, inflight 0, arena whole); not through `using`, so a failed
/// assertion is reported instead of the leak it leaves behind.
/// </summary>
public sealed class SkbLifetimeTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Clone_and_original_together_return_each_frag_once(bool cloneFirst)
    {
        var env = new SkbTestEnv();
        var skb = env.PoolSkb(54, 1000, 1000, 1000, 1000);
        var frags = skb.Frags.ToArray().Select(f => f.Netmem).ToArray();
        var clone = skb.Clone();
        Assert.True(skb.IsCloned);
        Assert.True(clone.IsCloned);
        Assert.Equal(2, skb.Shinfo.Dataref);
        Assert.Same(skb.Shinfo, clone.Shinfo);
        Assert.Equal(skb.Truesize, clone.Truesize);
        Assert.Equal(SkbTestEnv.Bytes(skb), SkbTestEnv.Bytes(clone));
        Assert.All(frags, n => Assert.Equal(1, n.PpRefCount)); // a clone takes no frag references

        (cloneFirst ? clone : skb).Free();
        Assert.All(frags, n => Assert.Equal(1, n.PpRefCount)); // still held by the other
        Assert.Equal(0, env.Pool.GetStats().RecycleRing);
        (cloneFirst ? skb : clone).Free();
        Assert.All(frags, n => Assert.Equal(0, n.PpRefCount));
        Assert.Equal(0, env.Cache.LiveSkbs);

        var stats = env.Pool.GetStats();
        env.Dispose(); // asserts: pools freed, inflight 0, every arena page free
        Assert.Equal(new PagePoolStats(
            AllocFast: 3, AllocSlow: 1, AllocSlowHighOrder: 0, AllocEmpty: 1, AllocRefill: 0, AllocWaive: 0,
            RecycleCached: 0, RecycleCacheFull: 0, RecycleRing: 4, RecycleRingFull: 0, RecycleReleasedRefcnt: 0), stats);
        Assert.Equal(env.Pool.HoldCount, env.Pool.ReleaseCount);
    }

    [Fact]
    public void Uncloning_takes_frag_references_and_both_sides_release_them()
    {
        var env = new SkbTestEnv();
        var skb = env.PoolSkb(54, 1000, 1000);
        var clone = skb.Clone();
        var n = skb.Frag(0).Netmem;
        Assert.Equal(Errno.None, clone.ExpandHead(16, 0));
        Assert.False(clone.IsCloned);
        Assert.False(skb.IsCloned); // dataref back to 1 on the old data
        Assert.NotSame(skb.Shinfo, clone.Shinfo);
        Assert.NotEqual(skb.HeadAddress, clone.HeadAddress);
        Assert.Equal(2, n.PpRefCount);
        Assert.Equal(SkbTestEnv.Bytes(skb), SkbTestEnv.Bytes(clone));
        skb.Free();
        Assert.Equal(1, n.PpRefCount);
        clone.Free();
        Assert.Equal(0, n.PpRefCount);
        Assert.Equal(2, env.Pool.GetStats().RecycleRing);
        env.Dispose();
    }

    [Fact]
    public void Linearizing_a_clone_leaves_the_original_frags_alone()
    {
        var env = new SkbTestEnv();
        var skb = env.PoolSkb(54, 3000, 3000, 3000);
        var bytes = SkbTestEnv.Bytes(skb);
        var clone = skb.Clone();
        clone.Linearize();
        Assert.False(clone.IsNonlinear);
        Assert.Equal(0, clone.NrFrags);
        Assert.Equal(bytes, clone.Data.ToArray());
        Assert.False(clone.HeadNetmem.IsPp); // 9054 bytes: arena pages, not a pool fragment
        Assert.Equal(3, skb.NrFrags);
        Assert.Equal(bytes, SkbTestEnv.Bytes(skb));
        Assert.All(skb.Frags.ToArray(), f => Assert.Equal(1, f.Netmem.PpRefCount));
        Assert.Equal(clone.EndOffset + SkBuff.TruesizeOverhead + 3 * PageArena.PageSize, clone.Truesize);
        clone.Free();
        skb.Free();
        Assert.Equal(3, env.Pool.GetStats().RecycleRing);
        env.Dispose();
    }

    [Fact]
    public void Pull_tail_moves_bytes_into_the_head_and_releases_used_frags()
    {
        var env = new SkbTestEnv();
        var skb = env.PoolSkb(14, 20, 100, 100);
        var bytes = SkbTestEnv.Bytes(skb);
        var first = skb.Frag(0).Netmem;
        Assert.True(skb.PskbMayPull(14 + 20 + 30));
        Assert.Equal(64, skb.HeadLen);
        Assert.Equal(2, skb.NrFrags);          // the 20-byte frag is used up
        Assert.Equal(70, skb.Frag(0).Size);    // 30 bytes of the next came along
        Assert.Equal(0, first.PpRefCount);
        Assert.Equal(bytes, SkbTestEnv.Bytes(skb));
        Assert.Equal(bytes[..64], skb.Data.ToArray());
        Assert.True(skb.PskbPull(100));
        Assert.Equal(bytes[100..], SkbTestEnv.Bytes(skb));
        Assert.False(skb.PskbMayPull(10_000));
        skb.Free();
        env.Dispose();
    }

    [Fact]
    public void Frag_list_members_are_freed_with_their_parent_and_pulls_reach_into_them()
    {
        var env = new SkbTestEnv();
        var p = env.PoolSkb(52, 1000);
        for (int i = 0; i < 3; i++)
        {
            var s = env.PoolSkb(52, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32); // 16 frags: forces the frag_list
            Assert.Equal(Errno.None, SkbGro.Receive(p, s, 52, out var how));
            env.Cache.FreeAfterGro(s, how);
        }
        Assert.True(p.HasFragList);
        Assert.Equal(17, p.NrFrags); // the first segment's frags still fitted
        const int inFrags = 1000 + 392;
        var bytes = SkbTestEnv.Bytes(p);
        var clone = p.Clone();
        Assert.True(clone.PskbMayPull(52 + inFrags + 300)); // reaches 300 bytes into the first member
        Assert.Equal(0, clone.NrFrags);
        Assert.Equal(bytes, SkbTestEnv.Bytes(clone));
        Assert.Equal(bytes, SkbTestEnv.Bytes(p));
        clone.Trim(52 + inFrags + 350);
        Assert.Equal(bytes[..(52 + inFrags + 350)], SkbTestEnv.Bytes(clone));
        Assert.Equal(bytes, SkbTestEnv.Bytes(p)); // the shared members were left alone
        clone.Linearize();
        Assert.False(clone.HasFragList);
        Assert.Equal(bytes[..(52 + inFrags + 350)], clone.Data.ToArray());
        p.Free();
        clone.Free();
        Assert.Equal(0, env.Cache.LiveSkbs);
        env.Dispose();
    }

    [Fact]
    public void Inside_the_napi_context_frags_recycle_straight_into_the_cache()
    {
        var env = new SkbTestEnv(napi: new TestNapi(7));
        var skb = env.PoolSkb(0, 100, 100, 100, 100);
        using (NapiScope.Enter(7)) skb.Free();
        var stats = env.Pool.GetStats();
        Assert.Equal(4, stats.RecycleCached);
        Assert.Equal(0, stats.RecycleRing);
        env.Dispose();
    }

    [Fact]
    public void Truesize_accounts_head_frags_and_the_struct()
    {
        var env = new SkbTestEnv();
        var skb = env.Cache.Alloc(512)!;
        Assert.Equal(512 + SkBuff.SkbStructSize + SkBuff.SharedInfoSize, skb.Truesize);
        skb.MarkForRecycle();
        int size = 1500;
        var n = env.Pool.AllocNetmem(ref size, out int offset); // a page_pool fragment: truesize is what it charges
        Assert.Equal(1536, size);
        skb.AddRxFragNetmem(n, offset, 1500, size);
        skb.AddRxFragNetmem(env.PoolPage(), 0, 100, PageArena.PageSize);
        Assert.Equal(512 + SkBuff.TruesizeOverhead + 1536 + PageArena.PageSize, skb.Truesize);
        Assert.Equal(1600, skb.Len);
        Assert.Equal(1600, skb.DataLen);
        var clone = skb.Clone();
        Assert.Equal(skb.Truesize, clone.Truesize);
        clone.Free();
        skb.Free();
        env.Dispose();
    }

    [Fact]
    public void Frees_from_another_thread_are_deferred_to_the_owner_which_recycles_them()
    {
        var env = new SkbTestEnv(deferMax: 64);
        var skb = env.PoolSkb(54, 1000, 1000);
        var clone = skb.Clone();
        var t = new Thread(() =>
        {
            clone.Free();
            skb.Free();
        });
        t.Start();
        t.Join();
        Assert.Equal(2, env.Cache.DeferredCount);
        Assert.Equal(2, env.Cache.DrainDeferred());
        Assert.Equal(0, env.Cache.LiveSkbs);
        Assert.Equal(2, env.Cache.CachedSkbs); // both objects back on the owner's free list
        env.Dispose();
    }

    [Fact]
    public void Without_deferral_frees_from_another_thread_return_the_data_and_leave_the_object_to_the_gc()
    {
        var env = new SkbTestEnv();
        var cache = new SkbCache(new SkbCacheOptions { Arena = env.Arena, DeferMax = 0 });
        var skb = cache.NapiAlloc(54)!;
        skb.MarkForRecycle();
        skb.AddRxFragNetmem(env.PoolPage(), 0, 1000, PageArena.PageSize);
        skb.AddRxFragNetmem(env.PoolPage(), 0, 1000, PageArena.PageSize);
        var clone = skb.Clone();
        var t = new Thread(() =>
        {
            clone.Free();
            skb.Free();
        });
        t.Start();
        t.Join();
        Assert.Equal(0, cache.DeferredCount);
        Assert.Equal(0, cache.LiveSkbs);
        Assert.Equal(0, cache.CachedSkbs);
        Assert.Equal(2, env.Pool.GetStats().RecycleRing);
        cache.Dispose();
        env.Dispose();
    }

    [Fact]
    public void The_object_cache_is_bounded()
    {
        var env = new SkbTestEnv(capacity: 8);
        var list = new List<SkBuff>();
        for (int i = 0; i < 20; i++) list.Add(env.Cache.Alloc(100)!);
        foreach (var s in list) s.Free();
        Assert.Equal(8, env.Cache.CachedSkbs);
        var again = env.Cache.Alloc(100)!;
        Assert.Contains(again, list); // reused, not new
        again.Free();
        env.Dispose();
    }

    [Fact]
    public void The_object_cache_grows_to_the_working_set_up_to_its_maximum()
    {
        var env = new SkbTestEnv(capacity: 8, maxCapacity: 32);
        var list = new List<SkBuff>();
        for (int i = 0; i < 40; i++) list.Add(env.Cache.Alloc(100)!);
        foreach (var s in list) s.Free();
        Assert.Equal(32, env.Cache.CachedSkbs); // grew 8 -> 16 -> 32, then left the rest to the GC
        Assert.Equal(32, env.Cache.Capacity);
        // The next 32 allocations are all reused objects: a steady state this size allocates nothing.
        var again = new List<SkBuff>();
        for (int i = 0; i < 32; i++) again.Add(env.Cache.Alloc(100)!);
        Assert.All(again, s => Assert.Contains(s, list));
        foreach (var s in again) s.Free();
        env.Dispose();
    }

    [Fact]
    public void A_destroyed_pool_waits_for_skb_frags_and_frees_when_the_skb_does()
    {
        var env = new SkbTestEnv();
        var skb = env.PoolSkb(54, 1000);
        env.Pool.Dispose();
        Assert.True(env.Pool.IsDestroyed);
        Assert.False(env.Pool.IsFreed);
        Assert.Equal(1, env.Pool.Inflight);
        skb.Free();
        Assert.True(env.Pool.IsFreed);
        env.Dispose();
    }
}
