using Microsoft.Extensions.Time.Testing;
using Netmem.Devices;
using Netmem.Stack;

namespace Netmem.Tests.StackCore;

public sealed class StackContextTests
{
    private sealed class Recorder : IStackTimerTarget
    {
        public readonly List<(int Kind, long Now)> Fired = new();
        public Action<StackTimer>? OnFire;
        public void OnTimer(StackTimer timer, int kind, long nowUs)
        {
            Fired.Add((kind, nowUs));
            OnFire?.Invoke(timer);
        }
    }

    private sealed class CountingWork : StackWork
    {
        public int Runs;
        public List<int>? Order;
        public int Tag;
        public StackContext? RepostInto;
        protected internal override void Run(StackContext context)
        {
            Runs++;
            Order?.Add(Tag);
            if (RepostInto is not null && Runs == 1) RepostInto.Post(this);
        }
    }

    [Fact]
    public void Timer_heap_fires_in_deadline_order_and_equal_deadlines_in_arming_order()
    {
        var heap = new TimerHeap();
        var rec = new Recorder();
        var rng = new Random(7);
        var timers = new StackTimer[200];
        var due = new long[200];
        for (int i = 0; i < timers.Length; i++)
        {
            timers[i] = new StackTimer(rec, i);
            due[i] = rng.Next(0, 50) * 10;
            heap.Arm(timers[i], due[i]);
        }
        // cancel a third, move a third
        for (int i = 0; i < timers.Length; i += 3) Assert.True(heap.Cancel(timers[i]));
        for (int i = 1; i < timers.Length; i += 3) { due[i] = rng.Next(0, 50) * 10; heap.Arm(timers[i], due[i]); }
        Assert.False(heap.Cancel(timers[0]));
        Assert.Equal(timers.Length - (timers.Length + 2) / 3, heap.Count);

        int fired = heap.RunExpired(long.MaxValue - 1);
        Assert.Equal(fired, rec.Fired.Count);
        Assert.Equal(0, heap.Count);
        for (int k = 1; k < rec.Fired.Count; k++)
        {
            long a = due[rec.Fired[k - 1].Kind], b = due[rec.Fired[k].Kind];
            Assert.True(a <= b, $"timer {rec.Fired[k - 1].Kind} due {a} fired before {rec.Fired[k].Kind} due {b}");
        }
        Assert.All(timers, t => Assert.False(t.IsArmed));
    }

    [Fact]
    public void Expired_timer_can_rearm_itself_and_runs_only_when_due()
    {
        var heap = new TimerHeap();
        var rec = new Recorder();
        var t = new StackTimer(rec, 5);
        rec.OnFire = timer => { if (rec.Fired.Count < 3) heap.Arm(timer, rec.Fired[^1].Now + 100); };
        heap.Arm(t, 100);
        Assert.Equal(0, heap.RunExpired(99));
        Assert.Equal(1, heap.RunExpired(100));
        Assert.True(t.IsArmed);
        Assert.Equal(200, t.DueUs);
        Assert.Equal(1, heap.RunExpired(250));
        Assert.Equal(1, heap.RunExpired(1000));
        Assert.False(t.IsArmed);
        Assert.Equal(long.MaxValue, heap.NextDueUs);
    }

    [Fact]
    public void Context_runs_timers_on_fake_time_and_wakes_its_napi()
    {
        var time = new FakeTimeProvider();
        using var ctx = new StackContext("ctx0", time);
        var poller = new NullPoller();
        using var napi = new Napi("stack-test", poller);
        ctx.AttachTo(napi);
        var rec = new Recorder();
        var t = new StackTimer(rec, 1);
        ctx.ArmTimer(t, 40_000); // 40 ms
        Assert.False(napi.IsScheduled);
        time.Advance(TimeSpan.FromMilliseconds(39));
        Assert.False(napi.IsScheduled);
        napi.RunUntilIdle();
        Assert.Empty(rec.Fired);
        time.Advance(TimeSpan.FromMilliseconds(2)); // the wake timer fires and schedules the NAPI
        Assert.True(napi.IsScheduled);
        napi.RunUntilIdle();
        Assert.Single(rec.Fired);
        Assert.True(rec.Fired[0].Now >= 40_000);
        Assert.Equal(1, ctx.TimersFired);
    }

    [Fact]
    public void Rearming_later_still_wakes_for_the_new_deadline()
    {
        var time = new FakeTimeProvider();
        using var ctx = new StackContext("ctx1", time);
        using var napi = new Napi("stack-test2", new NullPoller());
        ctx.AttachTo(napi);
        var rec = new Recorder();
        var t = new StackTimer(rec, 1);
        ctx.ArmTimer(t, 10_000);
        ctx.ArmTimer(t, 50_000); // moved later: the programmed 10 ms wake is early and must reprogram
        time.Advance(TimeSpan.FromMilliseconds(11));
        napi.RunUntilIdle();
        Assert.Empty(rec.Fired);
        time.Advance(TimeSpan.FromMilliseconds(40));
        Assert.True(napi.IsScheduled);
        napi.RunUntilIdle();
        Assert.Single(rec.Fired);
    }

    [Fact]
    public void Posted_work_runs_once_per_post_in_order_and_from_other_threads()
    {
        using var ctx = new StackContext("ctx2", new FakeTimeProvider());
        var order = new List<int>();
        var a = new CountingWork { Tag = 1, Order = order };
        var b = new CountingWork { Tag = 2, Order = order };
        ctx.Post(a);
        ctx.Post(b);
        ctx.Post(a); // already queued: no second run
        Assert.True(ctx.IsKicked);
        Assert.Equal(2, ctx.RunUntilIdle());
        Assert.Equal(new[] { 1, 2 }, order);

        var works = new CountingWork[8];
        for (int i = 0; i < works.Length; i++) works[i] = new CountingWork();
        var threads = new Thread[4];
        for (int t = 0; t < threads.Length; t++)
        {
            threads[t] = new Thread(() => { for (int i = 0; i < 10_000; i++) ctx.Post(works[i % works.Length]); });
            threads[t].Start();
        }
        long runs = 0;
        while (threads.Any(th => th.IsAlive)) runs += ctx.Poll(null, int.MaxValue);
        foreach (var th in threads) th.Join();
        runs += ctx.RunUntilIdle();
        Assert.All(works, w => Assert.True(w.Runs >= 1));
        Assert.Equal(works.Sum(w => (long)w.Runs), runs);
        Assert.True(runs <= 40_000);
    }

    [Fact]
    public void Work_that_reposts_itself_runs_again_and_posting_allocates_nothing()
    {
        using var ctx = new StackContext("ctx3", new FakeTimeProvider());
        var w = new CountingWork { RepostInto = ctx };
        ctx.Post(w);
        ctx.RunUntilIdle();
        Assert.Equal(2, w.Runs);

        var plain = new CountingWork();
        var t = new StackTimer(new Recorder());
        for (int i = 0; i < 1000; i++) { ctx.Post(plain); ctx.Poll(null, 64); ctx.ArmTimer(t, 1_000_000 + i); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100_000; i++) { ctx.Post(plain); ctx.Poll(null, 64); ctx.ArmTimer(t, 2_000_000 + i); ctx.CancelTimer(t); }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private sealed class NullPoller : INapiPoller
    {
        public int Poll(Napi napi, int budget) => 0;
    }
}
