namespace Netmem.Phy;

/// <summary>Settings for a <see cref="FaultInjector"/>; all probabilities are per frame, 0..1, default 0.</summary>
public sealed record FaultInjectorOptions
{
    /// <summary>Chance a frame is lost.</summary>
    public double LossProbability { get; init; }
    /// <summary>Chance a frame is delivered twice.</summary>
    public double DuplicateProbability { get; init; }
    /// <summary>Chance a frame is held back and delivered after <see cref="ReorderDistance"/> later frames.</summary>
    public double ReorderProbability { get; init; }
    /// <summary>How many later frames overtake a held frame. Default 1.</summary>
    public int ReorderDistance { get; init; } = 1;
    /// <summary>A held frame is delivered anyway after this long without enough later frames. Default 10 ms.</summary>
    public TimeSpan ReorderTimeout { get; init; } = TimeSpan.FromMilliseconds(10);
    /// <summary>Chance one bit of a frame is flipped.</summary>
    public double CorruptProbability { get; init; }
    /// <summary>Corruption hits a byte at or after this offset. Default 14 (past the Ethernet header, so checksums catch it).</summary>
    public int CorruptOffset { get; init; } = 14;
    /// <summary>Seed of the random generator, for repeatable runs. Default 1.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Most frames held (reordered or corrupted copies) at once. Default 256.</summary>
    public int HeldCapacity { get; init; } = 256;
    /// <summary>Clock for the reorder timeout. Null means <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; init; }
}

/// <summary>Counters of a <see cref="FaultInjector"/>.</summary>
public readonly record struct FaultInjectorStats(long In, long Delivered, long Dropped, long Duplicated, long Reordered, long Corrupted, long PoolExhausted);

/// <summary>
/// A wire stage that loses, duplicates, reorders and corrupts frames (netem's loss, duplicate,
/// reorder and corrupt), deterministically from a seed. It never changes the sender's memory: a frame
/// it corrupts or holds is first copied into a frame of its own.
/// </summary>
public sealed class FaultInjector : WireStage
{
    private readonly FaultInjectorOptions _o;
    private readonly Random _rng;
    private readonly WireFramePool _pool;
    private readonly WireFrame?[] _held;
    private readonly int[] _heldLeft;
    private readonly ITimer _timer;
    private readonly Lock _lock = new();
    private int _heldCount;
    private long _in, _delivered, _dropped, _duplicated, _reordered, _corrupted, _poolExhausted;

    public FaultInjector(IWireSink inner, FaultInjectorOptions? options = null) : base(inner)
    {
        _o = options ?? new();
        Check(_o.LossProbability, nameof(_o.LossProbability));
        Check(_o.DuplicateProbability, nameof(_o.DuplicateProbability));
        Check(_o.ReorderProbability, nameof(_o.ReorderProbability));
        Check(_o.CorruptProbability, nameof(_o.CorruptProbability));
        if (_o.ReorderDistance < 1) throw new ArgumentOutOfRangeException(nameof(options), $"ReorderDistance {_o.ReorderDistance} must be at least 1");
        if (_o.CorruptOffset < 0) throw new ArgumentOutOfRangeException(nameof(options), $"CorruptOffset {_o.CorruptOffset} is negative");
        if (_o.HeldCapacity < 1) throw new ArgumentOutOfRangeException(nameof(options), $"HeldCapacity {_o.HeldCapacity} must be at least 1");
        _rng = new Random(_o.Seed);
        _pool = new WireFramePool(_o.HeldCapacity + 1);
        _held = new WireFrame?[_o.HeldCapacity];
        _heldLeft = new int[_o.HeldCapacity];
        _timer = (_o.TimeProvider ?? TimeProvider.System).CreateTimer(static s => ((FaultInjector)s!).Flush(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    private static void Check(double p, string name)
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(name, $"{name} {p} is not a probability in [0, 1]");
    }

    public FaultInjectorStats Stats
    {
        get { lock (_lock) return new(_in, _delivered, _dropped, _duplicated, _reordered, _corrupted, _poolExhausted); }
    }

    /// <summary>Frames held back for reordering right now.</summary>
    public int Held { get { lock (_lock) return _heldCount; } }

    public override void Transmit(WireFrame frame)
    {
        lock (_lock)
        {
            _in++;
            if (Hit(_o.LossProbability))
            {
                _dropped++;
                return;
            }
            WireFrame? copy = null;
            if (Hit(_o.CorruptProbability))
            {
                copy = _pool.RentCopy(frame);
                if (copy is null)
                {
                    _poolExhausted++;
                    return;
                }
                Corrupt(copy);
                _corrupted++;
            }
            var f = copy ?? frame;
            if (Hit(_o.ReorderProbability) && _heldCount < _held.Length)
            {
                copy ??= _pool.RentCopy(frame);
                if (copy is null)
                {
                    _poolExhausted++;
                    return;
                }
                _held[_heldCount] = copy;
                _heldLeft[_heldCount] = _o.ReorderDistance;
                _heldCount++;
                _reordered++;
                _timer.Change(_o.ReorderTimeout, Timeout.InfiniteTimeSpan);
                return;
            }
            Deliver(f);
            if (Hit(_o.DuplicateProbability))
            {
                Deliver(f);
                _duplicated++;
            }
            if (copy is not null) _pool.Return(copy);
            // This frame overtook the held ones: release those whose distance is now covered.
            for (int i = 0; i < _heldCount; i++)
                if (--_heldLeft[i] == 0) ReleaseHeld(i--);
        }
    }

    /// <summary>Delivers every held frame now (in the order they were held).</summary>
    public void Flush()
    {
        lock (_lock)
            while (_heldCount > 0) ReleaseHeld(0);
    }

    private void ReleaseHeld(int i)
    {
        var f = _held[i]!;
        Array.Copy(_held, i + 1, _held, i, _heldCount - i - 1);
        Array.Copy(_heldLeft, i + 1, _heldLeft, i, _heldCount - i - 1);
        _held[--_heldCount] = null;
        Deliver(f);
        _pool.Return(f);
    }

    private void Deliver(WireFrame f)
    {
        _delivered++;
        Inner.Transmit(f);
    }

    private bool Hit(double p) => p > 0 && (p >= 1 || _rng.NextDouble() < p);

    private void Corrupt(WireFrame copy)
    {
        var bytes = copy.InlineBytes;
        int from = Math.Min(_o.CorruptOffset, bytes.Length - 1);
        int at = _rng.Next(from, bytes.Length);
        bytes[at] ^= (byte)(1 << _rng.Next(8));
    }

    protected override void DisposeCore()
    {
        _timer.Dispose();
        Flush();
    }
}
