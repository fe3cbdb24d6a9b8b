using Netmem.Devices;
using Netmem.Skb;

namespace Netmem.Stack;

/// <summary>
/// The execution context that owns a set of flows: their protocol state, timers and TX skbs are touched
/// only on its thread, so the data path takes no locks. It is attached to an RX queue's NAPI context as
/// <see cref="Napi.DeferredWork"/> (so received packets, expired timers and posted socket work all run to
/// completion on one thread), or driven by hand with <see cref="Poll"/> in deterministic tests. Time comes
/// from an injected <see cref="TimeProvider"/>, in microseconds since the context was made.
/// </summary>
public sealed class StackContext : INapiPoller, IDisposable
{
    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly ITimer _wake;
    private long _wakeProgrammedUs = long.MaxValue;
    private StackWork? _posted; // LIFO pushed by any thread; taken whole and reversed by the owner
    private Napi? _napi;
    private volatile bool _kicked;
    private volatile bool _wakeExpired;
    private long _workRuns, _timersFired, _polls;

    public StackContext(string name, TimeProvider? time = null, SkbCache? skbCache = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        _time = time ?? TimeProvider.System;
        _start = _time.GetTimestamp();
        SkbCache = skbCache;
        if (skbCache is not null) skbCache.DeferKick ??= Kick;
        _wake = _time.CreateTimer(static s => ((StackContext)s!).OnWake(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public string Name { get; }
    public TimeProvider Time => _time;
    /// <summary>Microseconds since the context was made, on its <see cref="Time"/>.</summary>
    public long NowUs => _time.GetElapsedTime(_start).Ticks / TimeSpan.TicksPerMicrosecond;
    public TimerHeap Timers { get; } = new();
    /// <summary>The skb cache TX skbs of this context's flows come from (owned by the same thread).</summary>
    public SkbCache? SkbCache { get; set; }
    /// <summary>The NAPI context this runs in, when attached.</summary>
    public Napi? Napi => _napi;
    /// <summary>Whether work or a timer is waiting for a <see cref="Poll"/> (standalone mode).</summary>
    public bool IsKicked => _kicked;
    public long WorkRuns => Interlocked.Read(ref _workRuns);
    public long TimersFired => Interlocked.Read(ref _timersFired);
    public long Polls => Interlocked.Read(ref _polls);

    /// <summary>Runs this context as the deferred work of <paramref name="napi"/>.</summary>
    public void AttachTo(Napi napi)
    {
        ArgumentNullException.ThrowIfNull(napi);
        napi.DeferredWork = this;
        _napi = napi;
        if (_posted is not null || Timers.Count > 0) napi.Schedule();
    }

    /// <summary>Arms <paramref name="timer"/> (owner thread only) and makes sure the context wakes for it.</summary>
    public void ArmTimer(StackTimer timer, long dueUs)
    {
        Timers.Arm(timer, dueUs);
        if (dueUs < _wakeProgrammedUs) ProgramWake(dueUs);
    }

    /// <summary>Cancels <paramref name="timer"/> (owner thread only).</summary>
    public bool CancelTimer(StackTimer timer) => Timers.Cancel(timer);

    /// <summary>Queues <paramref name="work"/> to run on this context's thread; safe from any thread, allocation free.</summary>
    public void Post(StackWork work)
    {
        if (Interlocked.CompareExchange(ref work.Queued, 1, 0) != 0) return;
        StackWork? head;
        do
        {
            head = Volatile.Read(ref _posted);
            work.NextWork = head;
        }
        while (Interlocked.CompareExchange(ref _posted, work, head) != head);
        if (head is null) Kick();
    }

    private void OnWake()
    {
        _wakeExpired = true;
        Kick();
    }

    private void Kick()
    {
        _kicked = true;
        _napi?.Schedule();
    }

    /// <summary>
    /// One round on the calling thread: posted work in posting order, then expired timers. Returns the
    /// number of items run (at most about <paramref name="budget"/> timers; posted work always drains).
    /// </summary>
    public int Poll(Napi? napi, int budget)
    {
        _kicked = false;
        bool wakeExpired = _wakeExpired;
        _wakeExpired = false;
        Interlocked.Increment(ref _polls);
        SkbCache?.DrainDeferred(); // skbs readers freed on other threads (skb_defer_free_flush)
        int done = RunPosted();
        long now = NowUs;
        int fired = Timers.RunExpired(now, budget);
        if (fired > 0) Interlocked.Add(ref _timersFired, fired);
        done += fired;
        if (wakeExpired) _wakeProgrammedUs = long.MaxValue; // the programmed wake has fired
        long next = Timers.NextDueUs;
        if (next <= now) Kick(); // budget exhausted: come back
        else if (next < _wakeProgrammedUs) ProgramWake(next);
        // A wake programmed earlier than the next deadline (its timer was moved later or cancelled) is
        // left alone: it costs one empty poll, where reprogramming on every re-arm would cost a timer
        // update per ACK.
        return Math.Min(done, budget);
    }

    /// <summary>Runs <see cref="Poll"/> until nothing is due now (deterministic mode).</summary>
    public int RunUntilIdle(int maxRounds = 10_000)
    {
        int total = 0;
        for (int i = 0; i < maxRounds; i++)
        {
            int n = Poll(null, int.MaxValue);
            total += n;
            if (n == 0 && Volatile.Read(ref _posted) is null) break;
        }
        return total;
    }

    int INapiPoller.Poll(Napi napi, int budget) => Poll(napi, budget);

    private int RunPosted()
    {
        var list = Interlocked.Exchange(ref _posted, null);
        if (list is null) return 0;
        StackWork? fifo = null; // reverse the LIFO so work runs in posting order
        while (list is not null)
        {
            var next = list.NextWork;
            list.NextWork = fifo;
            fifo = list;
            list = next;
        }
        int n = 0;
        while (fifo is not null)
        {
            var w = fifo;
            fifo = w.NextWork;
            w.NextWork = null;
            Volatile.Write(ref w.Queued, 0); // may be posted again from here on
            w.Run(this);
            n++;
        }
        Interlocked.Add(ref _workRuns, n);
        return n;
    }

    private void ProgramWake(long dueUs)
    {
        _wakeProgrammedUs = dueUs;
        if (dueUs == long.MaxValue)
        {
            _wake.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }
        long delay = Math.Max(0, dueUs - NowUs) + 1; // never early: a timer that fires before its deadline finds nothing to do
        _wake.Change(TimeSpan.FromTicks(delay * TimeSpan.TicksPerMicrosecond), Timeout.InfiniteTimeSpan);
    }

    public void Dispose()
    {
        _wake.Dispose();
        if (_napi is not null && ReferenceEquals(_napi.DeferredWork, this)) _napi.DeferredWork = null;
    }

    public override string ToString() => $"stack context {Name} ({Timers.Count} timers)";
}
