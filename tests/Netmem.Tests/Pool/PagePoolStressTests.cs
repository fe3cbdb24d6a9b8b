using System.Collections.Concurrent;
using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Tests.Pool;

public class PagePoolStressTests : PoolTestBase
{
    public PagePoolStressTests() : base(pages: 8192) { }

    /// <summary>
    /// One thread allocates in the NAPI context and recycles a share directly; another returns the
    /// rest through the ring. Every handout is checked against an ownership bitmap: no netmem is ever
    /// handed out twice at once, none is lost, and inflight ends at 0.
    /// </summary>
    [Fact]
    public void Napi_allocator_and_remote_recycler_lose_and_duplicate_nothing()
    {
        const int Ops = 2_000_000;
        var pool = NewPool(new PagePoolParams { Napi = new TestNapi(9), PoolSize = 1024 });
        var owned = new int[Arena.TotalPages];
        int Index(NetmemRef n) => (int)((n.Address - Arena.BaseAddress) / PageArena.PageSize);
        var toRemote = new BlockingCollection<nuint>(new ConcurrentQueue<nuint>(), 4096);
        long remotePuts = 0;
        Exception? failure = null;

        var remote = new Thread(() =>
        {
            try
            {
                foreach (var v in toRemote.GetConsumingEnumerable())
                {
                    var n = NetmemRef.FromRaw(v);
                    if (Interlocked.Exchange(ref owned[Index(n)], 0) != 1) throw new InvalidOperationException($"{n} returned but not owned");
                    pool.PutNetmem(n, -1, allowDirect: false);
                    remotePuts++;
                }
            }
            catch (Exception e) { failure = e; }
        });
        remote.Start();

        var local = new List<NetmemRef>(64);
        using (NapiScope.Enter(9))
        {
            for (int i = 0; i < Ops && failure is null; i++)
            {
                var n = pool.AllocNetmem();
                Assert.False(n.IsNull);
                Assert.Equal(0, Interlocked.Exchange(ref owned[Index(n)], 1)); // never handed out twice
                if ((i & 1) == 0) toRemote.Add(n.Value);
                else local.Add(n);
                if (local.Count == 32)
                {
                    foreach (var l in local)
                    {
                        Assert.Equal(1, Interlocked.Exchange(ref owned[Index(l)], 0));
                        pool.PutNetmem(l, -1, allowDirect: true);
                    }
                    local.Clear();
                }
            }
            foreach (var l in local)
            {
                Interlocked.Exchange(ref owned[Index(l)], 0);
                pool.PutNetmem(l, -1, allowDirect: true);
            }
        }
        toRemote.CompleteAdding();
        remote.Join();
        Assert.Null(failure);
        Assert.Equal(Ops / 2, remotePuts);
        Assert.All(owned, o => Assert.Equal(0, o));
        var s = pool.GetStats();
        Assert.Equal(Ops, s.AllocFast + s.AllocSlow + s.AllocRefill);
        Assert.Equal(Ops, s.RecycleCached + s.RecycleRing + s.RecycleRingFull + s.RecycleReleasedRefcnt);
        pool.Dispose();
        Assert.True(pool.IsFreed);
        Assert.Equal(0, pool.Inflight);
    }

    [Fact]
    public void Steady_state_alloc_and_put_allocate_no_managed_memory()
    {
        var pool = NewPool();
        var frag = NewPool();
        for (int i = 0; i < 1000; i++) { pool.RecycleDirect(pool.AllocNetmem()); pool.PutNetmem(pool.AllocNetmem(), -1, false); }
        for (int i = 0; i < 1000; i++) frag.PutNetmem(frag.AllocFragNetmem(700, out _), -1, true);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100_000; i++)
        {
            pool.RecycleDirect(pool.AllocNetmem());
            pool.PutNetmem(pool.AllocNetmem(), -1, allowDirect: false); // ring path too
            frag.PutNetmem(frag.AllocFragNetmem(700, out _), -1, true);
        }
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, after - before);
    }
}
