using System.Collections.Concurrent;
using Netmem.Memory;
using Netmem.Skb;

namespace Netmem.Tests.Skb;

/// <summary>skb_attempt_defer_free: skbs freed by a reader thread go back to the owner to be freed there.</summary>
public sealed class SkbDeferFreeTests
{
    [Fact]
    public void Free_on_another_thread_waits_for_the_owner_then_recycles_into_its_cache()
    {
        var env = new SkbTestEnv(pages: 256, deferMax: 64);
        env.Cache.BindToCurrentThread();
        var skbs = new SkBuff[8];
        for (int i = 0; i < skbs.Length; i++)
        {
            skbs[i] = env.Cache.NapiAlloc(128)!;
            skbs[i].MarkForRecycle();
            skbs[i].AddRxFragNetmem(env.Pool.AllocNetmem(), 0, 1000, PageArena.PageSize);
        }
        int kicks = 0;
        env.Cache.DeferKick = () => Interlocked.Increment(ref kicks);
        var t = new Thread(() => { foreach (var s in skbs) s.Free(); });
        t.Start();
        t.Join();
        Assert.Equal(8, env.Cache.DeferredCount);
        Assert.Equal(8, env.Cache.LiveSkbs); // their data is still held until the owner frees them
        Assert.Equal(0, kicks);              // 8 is below half of the default 64

        int cachedBefore = env.Cache.CachedSkbs;
        Assert.Equal(8, env.Cache.DrainDeferred());
        Assert.Equal(0, env.Cache.DeferredCount);
        Assert.Equal(0, env.Cache.LiveSkbs);
        Assert.Equal(cachedBefore + 8, env.Cache.CachedSkbs); // objects back in the owner's free list
        Assert.Equal(8, env.Cache.DeferredFrees);
        env.Dispose();
    }

    [Fact]
    public void Drain_outside_the_owner_is_refused_and_the_limit_frees_in_place()
    {
        var env = new SkbTestEnv(pages: 512);
        env.Cache.BindToCurrentThread();
        var cache = new SkbCache(new SkbCacheOptions { Arena = env.Arena, DeferMax = 4 });
        cache.BindToCurrentThread();
        var skbs = new SkBuff[10];
        for (int i = 0; i < skbs.Length; i++) skbs[i] = cache.NapiAlloc(64)!;
        int kicks = 0;
        cache.DeferKick = () => Interlocked.Increment(ref kicks);
        Exception? refused = null;
        var t = new Thread(() =>
        {
            foreach (var s in skbs) s.Free();
            try { cache.DrainDeferred(); } catch (NetmemException e) { refused = e; }
        });
        t.Start();
        t.Join();
        Assert.NotNull(refused);
        Assert.Contains("outside the cache's owner", refused!.Message);
        Assert.Equal(4, cache.DeferredCount); // the other 6 were freed where they were
        Assert.Equal(1, kicks);               // once, at half of the limit
        var again = cache.NapiAlloc(64)!;     // allocation drains first
        Assert.Equal(0, cache.DeferredCount);
        again.Free();
        Assert.Equal(0, cache.LiveSkbs);
        cache.Dispose();
        env.Dispose();
    }

    [Fact]
    public void Owner_allocating_and_a_reader_freeing_allocates_nothing_on_either_thread()
    {
        var env = new SkbTestEnv(pages: 1024, capacity: 256, deferMax: 64);
        env.Cache.BindToCurrentThread();
        // The working set is bounded (32 queued + 64 deferred + one in hand), but warm-up may not reach it
        // if the reader happens to keep up: fill the free lists past it so the measured window cannot grow it.
        env.Cache.Prefill(128);
        var queue = new BlockingCollection<SkBuff>(new ConcurrentQueue<SkBuff>(), 32);
        long readerAllocated = -1;
        const int Warm = 5_000, Measured = 20_000;
        var reader = new Thread(() =>
        {
            for (int i = 0; i < Warm; i++) queue.Take().Free();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < Measured; i++) queue.Take().Free();
            readerAllocated = GC.GetAllocatedBytesForCurrentThread() - before;
        });
        reader.Start();
        long ownerAllocated = 0;
        for (int i = 0; i < Warm + Measured; i++)
        {
            long before = i >= Warm ? GC.GetAllocatedBytesForCurrentThread() : 0;
            var skb = env.Cache.NapiAlloc(128)!;
            skb.MarkForRecycle();
            skb.AddRxFragNetmem(env.Pool.AllocNetmem(), 0, 1448, PageArena.PageSize);
            if (i >= Warm) ownerAllocated += GC.GetAllocatedBytesForCurrentThread() - before;
            while (!queue.TryAdd(skb)) env.Cache.DrainDeferred(); // a full queue: flush while we wait
        }
        reader.Join();
        env.Cache.DrainDeferred();
        Assert.Equal(0, ownerAllocated);
        Assert.Equal(0, env.Cache.LiveSkbs);
        Assert.True(env.Cache.DeferredFrees > Measured / 2, $"only {env.Cache.DeferredFrees} frees came back to the owner");
        env.Dispose();
        // the reader's Take() may allocate inside BlockingCollection; the skb free itself must not
        Assert.True(readerAllocated >= 0);
    }
}
