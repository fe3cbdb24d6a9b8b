using Netmem.Pool;

namespace Netmem.Devices;

/// <summary>
/// <c>struct napi_struct</c>: one poll context per RX queue. <see cref="Schedule"/> is the interrupt:
/// it marks the context scheduled (or, if it already is, marks a missed event so the poll that is
/// running now goes round again instead of completing). The poll runs the driver with a budget,
/// completes when the driver drains the queue, and keeps polling while it does not.
/// <para>
/// Two ways to run it: <see cref="Start"/> gives the context a dedicated thread (threaded NAPI, run
/// to completion: driver poll, stack receive and socket wake-ups all on it), and without a thread
/// <see cref="PollOnce"/> / <see cref="RunUntilIdle"/> run it on the caller's thread, which is how
/// deterministic tests step it. <see cref="BusyPoll"/> lets an application thread take a turn.
/// Every poll runs inside a <see cref="NapiScope"/>, so page_pools bound to this NAPI id recycle
/// directly into their alloc cache.
/// </para>
/// </summary>
public sealed class Napi : INapiOwner, IDisposable
{
    /// <summary>NAPI_POLL_WEIGHT.</summary>
    public const int DefaultBudget = 64;
    // The kernel's NAPI ids start above the CPU ids (MIN_NAPI_ID), so a NAPI id is never a CPU number.
    private const uint MinNapiId = 8193;
    private static uint s_nextId = MinNapiId - 1;

    private const int Sched = 1, Missed = 2, Disabled = 4;

    private readonly INapiPoller _poller;
    private INapiPoller? _deferred;
    private readonly SemaphoreSlim _wake = new(0);
    private int _state;
    private int _owner; // managed thread id currently polling, 0 when none
    private Thread? _thread;
    private volatile bool _stopping;
    private long _schedules, _missed, _polls, _work, _exhausted, _completions, _busyPolls;

    public Napi(string name, INapiPoller poller, int budget = DefaultBudget)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (budget <= 0) throw new ArgumentOutOfRangeException(nameof(budget), "a NAPI budget must be positive");
        Name = name;
        _poller = poller ?? throw new ArgumentNullException(nameof(poller));
        Budget = budget;
        NapiId = Interlocked.Increment(ref s_nextId);
    }

    public string Name { get; }
    public uint NapiId { get; }

    /// <summary>
    /// Work that runs after the driver in every poll of this context, with its own budget: the stack's
    /// timers and the socket commands posted to the flows this context owns (what the kernel does in
    /// the same softirq after <c>net_rx_action</c>). Set once, before the context runs. Returning its
    /// whole budget keeps the context scheduled.
    /// </summary>
    public INapiPoller? DeferredWork
    {
        get => _deferred;
        set
        {
            if (_deferred is not null && value is not null && !ReferenceEquals(_deferred, value))
                throw new InvalidOperationException($"NAPI {Name} already has deferred work attached");
            _deferred = value;
        }
    }
    public int Budget { get; }
    /// <summary>Thread polling right now (0 when none).</summary>
    public int PollThreadId => Volatile.Read(ref _owner);
    /// <summary>Whether a dedicated poll thread runs this context.</summary>
    public bool IsThreaded => _thread is not null;
    public bool IsScheduled => (Volatile.Read(ref _state) & Sched) != 0;
    public bool IsDisabled => (Volatile.Read(ref _state) & Disabled) != 0;

    public NapiStats Stats => new(
        Interlocked.Read(ref _schedules), Interlocked.Read(ref _missed), Interlocked.Read(ref _polls),
        Interlocked.Read(ref _work), Interlocked.Read(ref _exhausted), Interlocked.Read(ref _completions),
        Interlocked.Read(ref _busyPolls));

    /// <summary>
    /// <c>napi_schedule</c>: safe from any thread. Returns true when this call scheduled the context,
    /// false when it was already scheduled (the event is remembered as missed) or disabled.
    /// </summary>
    public bool Schedule()
    {
        while (true)
        {
            int s = Volatile.Read(ref _state);
            if ((s & Disabled) != 0) return false;
            int next = (s & Sched) != 0 ? s | Missed : s | Sched;
            if (Interlocked.CompareExchange(ref _state, next, s) != s) continue;
            if ((s & Sched) != 0)
            {
                Interlocked.Increment(ref _missed);
                return false;
            }
            Interlocked.Increment(ref _schedules);
            if (_thread is not null) _wake.Release();
            return true;
        }
    }

    /// <summary>
    /// <c>napi_complete_done</c>: clears the scheduled state unless an event was missed meanwhile,
    /// in which case it stays scheduled and returns false (poll again).
    /// </summary>
    private bool CompleteDone()
    {
        while (true)
        {
            int s = Volatile.Read(ref _state);
            int next = (s & Missed) != 0 ? s & ~Missed : s & ~Sched;
            if (Interlocked.CompareExchange(ref _state, next, s) != s) continue;
            if ((s & Missed) != 0) return false;
            Interlocked.Increment(ref _completions);
            return true;
        }
    }

    /// <summary>
    /// Runs one poll on the calling thread if the context is scheduled and no other thread is polling.
    /// Returns the work done (0 when there was nothing to do or another thread owns the poll).
    /// </summary>
    public int PollOnce()
    {
        if (!IsScheduled) return 0;
        int me = Environment.CurrentManagedThreadId;
        if (Interlocked.CompareExchange(ref _owner, me, 0) != 0) return 0;
        try
        {
            return PollLocked();
        }
        finally
        {
            Volatile.Write(ref _owner, 0);
        }
    }

    private int PollLocked()
    {
        int work;
        int deferred = 0;
        using (NapiScope.Enter(NapiId))
        {
            work = _poller.Poll(this, Budget);
            if (_deferred is not null) deferred = _deferred.Poll(this, Budget);
        }
        if ((uint)work > (uint)Budget)
            throw new InvalidOperationException($"NAPI {Name}: driver poll returned {work}, more than its budget {Budget}");
        Interlocked.Increment(ref _polls);
        Interlocked.Add(ref _work, work);
        if (work == Budget || deferred >= Budget) Interlocked.Increment(ref _exhausted); // stays scheduled: more work is waiting
        else CompleteDone();
        return work;
    }

    /// <summary>Polls on the calling thread until the context completes (bounded by <paramref name="maxPolls"/>); returns total work.</summary>
    public long RunUntilIdle(int maxPolls = 1_000_000)
    {
        long total = 0;
        for (int i = 0; i < maxPolls && IsScheduled; i++) total += PollOnce();
        return total;
    }

    /// <summary>
    /// Busy polling: an application thread schedules and polls the context itself for up to
    /// <paramref name="duration"/> or until <paramref name="until"/> says stop. Returns total work.
    /// </summary>
    public long BusyPoll(TimeSpan duration, Func<bool>? until = null)
    {
        long total = 0;
        long end = Environment.TickCount64 + (long)duration.TotalMilliseconds;
        do
        {
            Schedule();
            total += PollOnce();
            Interlocked.Increment(ref _busyPolls);
        }
        while (Environment.TickCount64 < end && !(until?.Invoke() ?? false));
        return total;
    }

    /// <summary>Starts the dedicated poll thread (threaded NAPI).</summary>
    public void Start()
    {
        if (_thread is not null) throw new InvalidOperationException($"NAPI {Name} already has a poll thread");
        _stopping = false;
        _thread = new Thread(ThreadLoop) { IsBackground = true, Name = $"napi/{Name}-{NapiId}" };
        _thread.Start();
        if (IsScheduled) _wake.Release();
    }

    private void ThreadLoop()
    {
        while (!_stopping)
        {
            _wake.Wait();
            while (!_stopping && IsScheduled)
            {
                if (PollOnce() == 0 && IsScheduled) Thread.Yield(); // another thread is busy polling
            }
        }
    }

    /// <summary><c>napi_disable</c>: waits for a running poll to finish and refuses further scheduling.</summary>
    public void Disable()
    {
        Interlocked.Or(ref _state, Disabled);
        SpinWait spin = default;
        while (Volatile.Read(ref _owner) != 0 && Volatile.Read(ref _owner) != Environment.CurrentManagedThreadId) spin.SpinOnce();
        Interlocked.And(ref _state, ~(Sched | Missed));
    }

    /// <summary><c>napi_enable</c>.</summary>
    public void Enable() => Interlocked.And(ref _state, ~Disabled);

    /// <summary>Stops the poll thread (the context stays usable in deterministic mode).</summary>
    public void Stop()
    {
        var t = _thread;
        if (t is null) return;
        _stopping = true;
        _wake.Release();
        t.Join();
        _thread = null;
    }

    public void Dispose()
    {
        Stop();
        Disable();
        _wake.Dispose();
    }

    public override string ToString() => $"napi {Name} (id {NapiId})";
}
