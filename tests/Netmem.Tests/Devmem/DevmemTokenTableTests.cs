using Netmem.Memory;
using Netmem.Pool;
using Netmem.Sockets;
using Netmem.Tests.Pool;

namespace Netmem.Tests.DevmemRx;

/// <summary>The token table alone: lowest-free reuse across bitmap words, batched adds, close, no allocation.</summary>
public class DevmemTokenTableTests : PoolTestBase
{
    private (PagePool Pool, NetmemRef[] Netmems) Held(int n)
    {
        var pool = NewPool();
        var netmems = new NetmemRef[n];
        for (int i = 0; i < n; i++) netmems[i] = pool.AllocNetmem();
        return (pool, netmems);
    }

    private static void Return(PagePool pool, NetmemRef[] netmems)
    {
        foreach (var n in netmems) pool.PutNetmem(n, -1, allowDirect: false);
    }

    [Fact]
    public void Tokens_start_at_1_and_the_lowest_free_is_reused_first_across_words()
    {
        var (pool, nm) = Held(4);
        var t = new DevmemTokenTable();
        for (int i = 1; i <= 200; i++) Assert.Equal((uint)i, t.Add(nm[i % 4], ppRecycle: true));
        Assert.Equal(200, t.Outstanding);
        Assert.Equal(51, nm[0].PpRefCount); // 50 tokens + the test's own reference

        // Freed in scattered order, in different 64-token words; 0 and never-issued tokens are skipped.
        Assert.Equal(4, t.Release([new DmabufToken(199, 1), new DmabufToken(150, 1), new DmabufToken(3, 1), new DmabufToken(70, 1), new DmabufToken(0, 1), new DmabufToken(201, 5)]));
        Assert.Equal(196, t.Outstanding);
        Assert.Equal(0, t.Release([new DmabufToken(3, 1)])); // no longer held

        t.EnterAdds();
        uint[] got = new uint[6];
        for (int i = 0; i < got.Length; i++) got[i] = t.AddLocked(nm[0], ppRecycle: true);
        t.ExitAdds();
        Assert.Equal([3u, 70u, 150u, 199u, 201u, 202u], got);

        Assert.Equal(202, t.Close());
        Assert.Equal(0, t.Outstanding);
        Assert.Equal(0u, t.Add(nm[0], ppRecycle: true)); // closed: no new tokens
        Assert.Equal(1, nm[0].PpRefCount);
        Return(pool, nm);
        Assert.Equal(0, nm[0].PpRefCount); // back in its pool (the base class checks inflight 0 after destroy)
    }

    [Fact]
    public void A_steady_add_release_cycle_allocates_nothing_and_reuses_the_same_tokens()
    {
        var (pool, nm) = Held(8);
        var t = new DevmemTokenTable();
        DmabufToken[] all = [new DmabufToken(1, 600)];
        for (int warm = 0; warm < 3; warm++)
        {
            t.EnterAdds();
            for (int i = 0; i < 600; i++) t.AddLocked(nm[i % 8], ppRecycle: true);
            t.ExitAdds();
            Assert.Equal(600, t.Release(all));
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        uint max = 0;
        int freed = 0;
        for (int round = 0; round < 50; round++)
        {
            t.EnterAdds();
            for (int i = 0; i < 600; i++) max = Math.Max(max, t.AddLocked(nm[i % 8], ppRecycle: true));
            t.ExitAdds();
            freed += t.Release(all);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(50 * 600, freed);
        Assert.Equal(600u, max);
        Assert.Equal(0, t.Outstanding);
        Assert.Equal(0, t.Close());
        Return(pool, nm);
        Assert.Equal(0, nm[0].PpRefCount);
    }
}
