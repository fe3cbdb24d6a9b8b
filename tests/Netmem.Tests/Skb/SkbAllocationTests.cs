using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;

namespace Netmem.Tests.Skb;

/// <summary>After warm-up the skb data path allocates no managed memory.</summary>
public sealed class SkbAllocationTests
{
    [Fact]
    public void Alloc_add_four_page_pool_frags_and_free_allocates_nothing()
    {
        var env = new SkbTestEnv(pages: 1024);
        env.Cache.BindToCurrentThread();
        for (int i = 0; i < 2000; i++) BuildAndFree(env.Cache, env.Pool);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20_000; i++) BuildAndFree(env.Cache, env.Pool);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(0, env.Cache.LiveSkbs);
        env.Dispose();
    }

    private static void BuildAndFree(SkbCache cache, PagePool pool)
    {
        var skb = cache.NapiAlloc(128)!;
        skb.Put(54);
        skb.MarkForRecycle();
        for (int f = 0; f < 4; f++) skb.AddRxFragNetmem(pool.AllocNetmem(), 0, 1448, PageArena.PageSize);
        skb.Free();
    }

    [Fact]
    public void Clone_pull_coalesce_checksum_and_views_allocate_nothing_when_warm()
    {
        var env = new SkbTestEnv(pages: 1024);
        env.Cache.BindToCurrentThread();
        for (int i = 0; i < 2000; i++) Workout(env.Cache, env.Pool);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5000; i++) Workout(env.Cache, env.Pool);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(0, env.Cache.LiveSkbs);
        env.Dispose();
    }

    private static void Workout(SkbCache cache, PagePool pool)
    {
        var a = cache.NapiAlloc(128)!;
        a.Put(54);
        a.MarkForRecycle();
        for (int f = 0; f < 4; f++) a.AddRxFragNetmem(pool.AllocNetmem(), 0, 1000, PageArena.PageSize);
        var clone = a.Clone();
        clone.PskbMayPull(54 + 200);       // unclones: new head, frag references
        Span<byte> buf = stackalloc byte[300];
        a.CopyBits(10, buf);
        _ = a.Checksum(0, a.Len);
        int total = 0;
        foreach (var span in a.ReadableSpans()) total += span.Length;
        total += (int)clone.AsSequence().Length;

        var b = cache.NapiAlloc(0)!;
        b.MarkForRecycle();
        b.AddRxFragNetmem(pool.AllocNetmem(), 0, 500, PageArena.PageSize);
        if (SkBuff.TryCoalesce(clone, b, out bool stolen, out _)) cache.FreePartial(b, stolen);
        else b.Free();

        var g = cache.NapiAlloc(64)!;
        g.Put(54);
        g.MarkForRecycle();
        g.AddRxFragNetmem(pool.AllocNetmem(), 0, 700, PageArena.PageSize);
        if (SkbGro.Receive(a, g, 54, out var how) == Errno.None) cache.FreeAfterGro(g, how);
        else g.Free();

        clone.Free();
        a.Free();
    }
}
