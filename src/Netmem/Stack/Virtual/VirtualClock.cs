namespace Netmem.Stack.Virtual;

/// <summary>
/// A clock that moves only when told to (<see cref="Advance"/>, <see cref="SetUs"/>), in microseconds:
/// the time source of the deterministic mode. Its timers never call back: whoever drives the stack
/// polls the <see cref="StackContext"/> after moving the clock and reads <see cref="TimerHeap.NextDueUs"/>
/// to know how far it may jump, so nothing runs on another thread and re-arming allocates nothing.
/// </summary>
public sealed class VirtualClock : TimeProvider
{
    private long _us;

    /// <param name="epoch">What <see cref="TimeProvider.GetUtcNow"/> reads at 0 µs (wall-clock time for gettimeofday).</param>
    public VirtualClock(DateTimeOffset? epoch = null) => Epoch = epoch ?? new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public DateTimeOffset Epoch { get; }
    /// <summary>Microseconds since the clock was made.</summary>
    public long NowUs => Volatile.Read(ref _us);

    /// <summary>Moves the clock forward by <paramref name="us"/> (never back).</summary>
    public void Advance(long us)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(us);
        Interlocked.Add(ref _us, us);
    }

    /// <summary>Sets the clock to <paramref name="us"/>; a time in the past is ignored (time is monotonic).</summary>
    public void SetUs(long us)
    {
        long cur;
        while ((cur = Volatile.Read(ref _us)) < us && Interlocked.CompareExchange(ref _us, us, cur) != cur) { }
    }

    public override long TimestampFrequency => 1_000_000;
    public override long GetTimestamp() => NowUs;
    public override DateTimeOffset GetUtcNow() => Epoch.AddTicks(NowUs * TimeSpan.TicksPerMicrosecond);
    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => PolledTimer.Instance;

    private sealed class PolledTimer : ITimer
    {
        public static readonly PolledTimer Instance = new();
        public bool Change(TimeSpan dueTime, TimeSpan period) => true;
        public void Dispose() { }
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
