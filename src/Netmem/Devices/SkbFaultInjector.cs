using Netmem.Phy;

namespace Netmem.Devices;

/// <summary>What <see cref="SkbFaultInjector.Decide"/> does to one frame.</summary>
[Flags]
public enum SkbFault
{
    None = 0,
    /// <summary>The frame is lost.</summary>
    Drop = 1,
    /// <summary>The frame is delivered twice.</summary>
    Duplicate = 2,
    /// <summary>One bit of the frame (at or after the options' CorruptOffset) is flipped.</summary>
    Corrupt = 4,
}

/// <summary>Counters of an <see cref="SkbFaultInjector"/>.</summary>
public readonly record struct SkbFaultInjectorStats(long In, long Dropped, long Duplicated, long Corrupted, long CorruptSkipped);

/// <summary>
/// The stack-side fault wrapper for a device whose wire the stack does not own (a tap: the far end is the
/// kernel): the driver asks it about each frame it receives or sends and loses, duplicates or corrupts
/// the frame as told (netem's loss, duplicate and corrupt, from a seed, so runs repeat). It only decides
/// and counts; the driver applies the fault where it can do so safely (a received frame is corrupted in
/// its own RX buffer, a sent one in a copy, so TCP's retransmit queue is never touched). A frame whose
/// checksum is still to be filled in (CHECKSUM_PARTIAL) has it resolved first, as netem does, so the
/// receiver can see the damage; a GSO frame is not corrupted (counted in CorruptSkipped).
/// Reordering needs a frame held across polls, which the tap's ownership rules do not allow: not offered.
/// </summary>
public sealed class SkbFaultInjector
{
    private readonly FaultInjectorOptions _o;
    private readonly Random _rng;
    private readonly Lock _lock = new();
    private long _in, _dropped, _duplicated, _corrupted, _corruptSkipped;

    public SkbFaultInjector(FaultInjectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Check(options.LossProbability, nameof(options.LossProbability));
        Check(options.DuplicateProbability, nameof(options.DuplicateProbability));
        Check(options.CorruptProbability, nameof(options.CorruptProbability));
        if (options.ReorderProbability != 0)
            throw new ArgumentException($"ReorderProbability {options.ReorderProbability}: an skb fault injector cannot reorder (it would hold a frame across polls)", nameof(options));
        if (options.CorruptOffset < 0) throw new ArgumentOutOfRangeException(nameof(options), $"CorruptOffset {options.CorruptOffset} is negative");
        _o = options;
        _rng = new Random(options.Seed);
    }

    private static void Check(double p, string name)
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(name, $"{name} {p} is not a probability in [0, 1]");
    }

    public FaultInjectorOptions Options => _o;

    public SkbFaultInjectorStats Stats
    {
        get { lock (_lock) return new(_in, _dropped, _duplicated, _corrupted, _corruptSkipped); }
    }

    /// <summary>The fault for the next frame (any thread; one lock, no allocation).</summary>
    public SkbFault Decide()
    {
        lock (_lock)
        {
            _in++;
            if (Hit(_o.LossProbability)) { _dropped++; return SkbFault.Drop; }
            var f = SkbFault.None;
            if (Hit(_o.DuplicateProbability)) { _duplicated++; f |= SkbFault.Duplicate; }
            if (Hit(_o.CorruptProbability)) f |= SkbFault.Corrupt;
            return f;
        }
    }

    /// <summary>
    /// Picks the bit to flip in a frame of <paramref name="length"/> bytes whose first byte is at offset
    /// <paramref name="frameOffset"/> from the Ethernet header (0 on TX, 14 on RX after the header was pulled):
    /// the index into the given bytes and the bit mask, or false when nothing at or after CorruptOffset is there.
    /// </summary>
    public bool PickBit(int length, int frameOffset, out int index, out byte mask)
    {
        lock (_lock)
        {
            int from = Math.Max(0, _o.CorruptOffset - frameOffset);
            if (from >= length) { index = 0; mask = 0; _corruptSkipped++; return false; }
            index = _rng.Next(from, length);
            mask = (byte)(1 << _rng.Next(8));
            _corrupted++;
            return true;
        }
    }

    /// <summary>Counts a corruption the driver could not apply (GSO, unreadable memory).</summary>
    public void CountCorruptSkipped()
    {
        lock (_lock) _corruptSkipped++;
    }

    private bool Hit(double p) => p > 0 && (p >= 1 || _rng.NextDouble() < p);
}
