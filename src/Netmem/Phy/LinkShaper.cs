namespace Netmem.Phy;

/// <summary>Settings for a <see cref="LinkShaper"/>.</summary>
public sealed record LinkShaperOptions
{
    /// <summary>Line rate in bits per second; 0 = unlimited (default).</summary>
    public long BandwidthBitsPerSecond { get; init; }
    /// <summary>One-way propagation delay. Default zero.</summary>
    public TimeSpan Latency { get; init; }
    /// <summary>Most bytes waiting in the queue; frames beyond it are tail-dropped. Default 1 MiB.</summary>
    public int QueueLimitBytes { get; init; } = 1 << 20;
    /// <summary>Most frames waiting. Default 4096.</summary>
    public int QueueLimitFrames { get; init; } = 4096;
    /// <summary>Clock for departures and arrivals. Null means <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; init; }
}

/// <summary>Counters of a <see cref="LinkShaper"/>.</summary>
public readonly record struct LinkShaperStats(long In, long Delivered, long QueueDrops, long QueuedBytes, long MaxQueuedBytes);

/// <summary>
/// A wire stage with a line rate and a propagation delay (netem's rate and delay) in front of a
/// bounded FIFO: a frame departs when the line is free (serialisation takes length x 8 / rate) and
/// arrives one latency later. Frames are copied into the stage's own frames while they wait and are
/// delivered from a timer (or <see cref="Pump"/>), in order. With neither rate nor delay it passes
/// frames straight through, uncopied.
/// </summary>
public sealed class LinkShaper : WireStage
{
    private readonly LinkShaperOptions _o;
    private readonly TimeProvider _time;
    private readonly WireFramePool _pool;
    private readonly WireFrame?[] _queue;
    private readonly long[] _arrive;
    private readonly ITimer? _timer;
    private readonly Lock _lock = new();
    private readonly bool _passThrough;
    private readonly long _latencyTicks;
    private int _head, _count;
    private long _lastDeparture, _armedFor = long.MaxValue;
    private long _in, _delivered, _drops, _queuedBytes, _maxQueued;

    public LinkShaper(IWireSink inner, LinkShaperOptions? options = null) : base(inner)
    {
        _o = options ?? new();
        if (_o.BandwidthBitsPerSecond < 0) throw new ArgumentOutOfRangeException(nameof(options), $"bandwidth {_o.BandwidthBitsPerSecond} b/s is negative");
        if (_o.Latency < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), $"latency {_o.Latency} is negative");
        if (_o.QueueLimitBytes <= 0 || _o.QueueLimitFrames <= 0) throw new ArgumentOutOfRangeException(nameof(options), "queue limits must be positive");
        _time = _o.TimeProvider ?? TimeProvider.System;
        _passThrough = _o.BandwidthBitsPerSecond == 0 && _o.Latency == TimeSpan.Zero;
        _latencyTicks = (long)(_o.Latency.TotalSeconds * _time.TimestampFrequency);
        _pool = new WireFramePool(_o.QueueLimitFrames);
        _queue = new WireFrame?[_o.QueueLimitFrames];
        _arrive = new long[_o.QueueLimitFrames];
        if (!_passThrough) _timer = _time.CreateTimer(static s => ((LinkShaper)s!).Pump(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public LinkShaperStats Stats
    {
        get { lock (_lock) return new(_in, _delivered, _drops, _queuedBytes, _maxQueued); }
    }

    public override void Transmit(WireFrame frame)
    {
        if (_passThrough)
        {
            Interlocked.Increment(ref _in);
            Interlocked.Increment(ref _delivered);
            Inner.Transmit(frame);
            return;
        }
        lock (_lock)
        {
            _in++;
            if (_queuedBytes + frame.Length > _o.QueueLimitBytes || _count == _queue.Length)
            {
                _drops++;
                return;
            }
            var copy = _pool.RentCopy(frame);
            if (copy is null)
            {
                _drops++;
                return;
            }
            long now = _time.GetTimestamp();
            long start = Math.Max(now, _lastDeparture);
            long serialise = _o.BandwidthBitsPerSecond == 0 ? 0
                : (long)((double)frame.Length * 8 * _time.TimestampFrequency / _o.BandwidthBitsPerSecond);
            _lastDeparture = start + serialise;
            int tail = (_head + _count) % _queue.Length;
            _queue[tail] = copy;
            _arrive[tail] = _lastDeparture + _latencyTicks;
            _count++;
            _queuedBytes += frame.Length;
            _maxQueued = Math.Max(_maxQueued, _queuedBytes);
            Arm(now);
        }
        Pump();
    }

    /// <summary>Delivers every frame whose arrival time has come. Returns how many.</summary>
    public int Pump()
    {
        int n = 0;
        lock (_lock)
        {
            long now = _time.GetTimestamp();
            while (_count > 0 && _arrive[_head] <= now)
            {
                var f = _queue[_head]!;
                _queue[_head] = null;
                _head = (_head + 1) % _queue.Length;
                _count--;
                _queuedBytes -= f.Length;
                _delivered++;
                Inner.Transmit(f);
                _pool.Return(f);
                n++;
            }
            _armedFor = long.MaxValue;
            Arm(now);
        }
        return n;
    }

    private void Arm(long now)
    {
        if (_count == 0 || _timer is null) return;
        long due = _arrive[_head];
        if (due >= _armedFor) return;
        _armedFor = due;
        var wait = _time.GetElapsedTime(now, Math.Max(now, due));
        _timer.Change(wait, Timeout.InfiniteTimeSpan);
    }

    protected override void DisposeCore()
    {
        _timer?.Dispose();
        lock (_lock)
        {
            while (_count > 0)
            {
                _pool.Return(_queue[_head]!);
                _queue[_head] = null;
                _head = (_head + 1) % _queue.Length;
                _count--;
            }
            _queuedBytes = 0;
        }
    }
}
