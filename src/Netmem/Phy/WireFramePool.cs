namespace Netmem.Phy;

/// <summary>
/// Frames a wire stage keeps (delayed, reordered, queued for a slow link). Bounded: when it is empty
/// the stage must drop, the way a switch buffer overflows. Thread-safe; frames are reused, so a
/// warmed-up pool allocates nothing.
/// </summary>
public sealed class WireFramePool
{
    private readonly WireFrame[] _free;
    private int _count;
    private int _created;

    /// <param name="capacity">Most frames out of the pool at once (default 1024).</param>
    public WireFramePool(int capacity = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _free = new WireFrame[capacity];
    }

    public int Capacity => _free.Length;
    /// <summary>Frames currently rented.</summary>
    public int Outstanding { get { lock (_free) return _created - _count; } }

    /// <summary>A self-contained copy of <paramref name="source"/>, or null when the pool is exhausted.</summary>
    public WireFrame? RentCopy(WireFrame source)
    {
        var f = Rent();
        f?.CopyFrom(source);
        return f;
    }

    /// <summary>An empty frame, or null when all <see cref="Capacity"/> frames are out.</summary>
    public WireFrame? Rent()
    {
        lock (_free)
        {
            if (_count > 0) return _free[--_count];
            if (_created == _free.Length) return null;
            _created++;
        }
        return new WireFrame();
    }

    public void Return(WireFrame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        frame.Reset();
        lock (_free)
        {
            if (_count == _free.Length) throw new InvalidOperationException("wire frame pool: more frames returned than rented");
            _free[_count++] = frame;
        }
    }
}
