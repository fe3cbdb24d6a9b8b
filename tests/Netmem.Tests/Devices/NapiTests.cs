using System.Collections.Concurrent;
using Netmem.Devices;
using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Tests.Devices;

public class NapiTests
{
    /// <summary>A driver whose "RX ring" is a queue of integers.</summary>
    private sealed class QueueDriver : INapiPoller
    {
        public readonly ConcurrentQueue<int> Ring = new();
        public readonly List<int> Seen = new();
        public uint SeenScope;
        public Action? DuringPoll;
        public int Count; // read by other threads
        public int Poll(Napi napi, int budget)
        {
            SeenScope = NapiScope.Current;
            DuringPoll?.Invoke();
            int n = 0;
            while (n < budget && Ring.TryDequeue(out int v)) { Seen.Add(v); n++; }
            Volatile.Write(ref Count, Count + n);
            return n;
        }
    }

    [Fact]
    public void Poll_respects_the_budget_and_completes_when_drained()
    {
        var drv = new QueueDriver();
        using var napi = new Napi("rx0", drv);
        for (int i = 0; i < 150; i++) drv.Ring.Enqueue(i);
        Assert.True(napi.Schedule());
        Assert.Equal(64, napi.PollOnce());
        Assert.True(napi.IsScheduled); // budget used up: still scheduled
        Assert.Equal(64, napi.PollOnce());
        Assert.Equal(22, napi.PollOnce());
        Assert.False(napi.IsScheduled);
        Assert.Equal(0, napi.PollOnce()); // not scheduled: nothing runs
        var s = napi.Stats;
        Assert.Equal(3, s.Polls);
        Assert.Equal(150, s.Work);
        Assert.Equal(2, s.BudgetExhausted);
        Assert.Equal(1, s.Completions);
        Assert.Equal(Enumerable.Range(0, 150), drv.Seen);
    }

    [Fact]
    public void An_event_during_the_poll_is_not_lost()
    {
        var drv = new QueueDriver();
        using var napi = new Napi("rx0", drv);
        drv.Ring.Enqueue(1);
        napi.Schedule();
        // The "interrupt" fires while the poll runs, after the driver looked at its ring.
        drv.DuringPoll = () => { drv.DuringPoll = null; Assert.False(napi.Schedule()); };
        napi.PollOnce();
        Assert.True(napi.IsScheduled); // the missed event keeps it scheduled
        Assert.Equal(1, napi.Stats.Missed);
        drv.Ring.Enqueue(2);
        Assert.Equal(1, napi.RunUntilIdle()); // the re-poll picks up the item that arrived meanwhile
        Assert.False(napi.IsScheduled);
        Assert.Equal(new[] { 1, 2 }, drv.Seen);
    }

    [Fact]
    public void Polls_run_in_the_napi_scope_so_bound_pools_recycle_directly()
    {
        using var arena = new PageArena(new PageArenaOptions { PageCount = 256 });
        var drv = new QueueDriver();
        using var napi = new Napi("rx0", drv);
        var pool = PagePool.Create(new PagePoolParams { Arena = arena, Napi = napi });
        var n = pool.AllocNetmem();
        drv.DuringPoll = () => pool.PutNetmem(n, -1, allowDirect: false);
        napi.Schedule();
        napi.PollOnce();
        Assert.Equal(napi.NapiId, drv.SeenScope);
        Assert.Equal(0u, NapiScope.Current);
        Assert.Equal(1, pool.GetStats().RecycleCached);
        Assert.Equal(napi.NapiId, pool.GetInfo().NapiId);
        pool.Dispose();
        Assert.True(pool.IsFreed);
    }

    [Fact]
    public void Threaded_napi_drains_what_another_thread_produces()
    {
        var drv = new QueueDriver();
        using var napi = new Napi("rx0", drv);
        napi.Start();
        Assert.True(napi.IsThreaded);
        const int N = 200_000;
        for (int i = 0; i < N; i++)
        {
            drv.Ring.Enqueue(i);
            if ((i & 31) == 0) napi.Schedule();
        }
        napi.Schedule();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Volatile.Read(ref drv.Count) < N && DateTime.UtcNow < deadline) Thread.Sleep(1);
        napi.Stop();
        Assert.Equal(N, drv.Seen.Count);
        Assert.Equal(Enumerable.Range(0, N), drv.Seen); // in order, exactly once
        Assert.Equal(N, napi.Stats.Work);
    }

    [Fact]
    public void Disabled_context_refuses_scheduling_until_enabled()
    {
        var drv = new QueueDriver();
        using var napi = new Napi("rx0", drv);
        napi.Schedule();
        napi.Disable();
        Assert.False(napi.IsScheduled);
        Assert.False(napi.Schedule());
        napi.Enable();
        Assert.True(napi.Schedule());
    }

    [Fact]
    public void Busy_poll_processes_work_on_the_calling_thread()
    {
        var drv = new QueueDriver();
        using var napi = new Napi("rx0", drv);
        for (int i = 0; i < 100; i++) drv.Ring.Enqueue(i);
        long work = napi.BusyPoll(TimeSpan.FromSeconds(5), until: () => drv.Seen.Count == 100);
        Assert.Equal(100, work);
        Assert.True(napi.Stats.BusyPolls >= 2);
    }

    private sealed class GreedyDriver : INapiPoller
    {
        public int Poll(Napi napi, int budget) => budget + 1;
    }

    [Fact]
    public void A_driver_that_exceeds_its_budget_is_a_bug()
    {
        using var napi = new Napi("bad", new GreedyDriver());
        napi.Schedule();
        var e = Assert.Throws<InvalidOperationException>(() => napi.PollOnce());
        Assert.Contains("more than its budget", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Napi("x", new GreedyDriver(), budget: 0));
    }
}
