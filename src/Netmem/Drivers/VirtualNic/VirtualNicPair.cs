using Netmem.Phy;

namespace Netmem.Drivers.VirtualNic;

/// <summary>Settings for a <see cref="VirtualNicPair"/>.</summary>
public sealed record VirtualNicPairOptions
{
    /// <summary>Side A. Default: "vnic0".</summary>
    public VirtualNicOptions A { get; init; } = new() { Name = "vnic0" };
    /// <summary>Side B. Default: "vnic1".</summary>
    public VirtualNicOptions B { get; init; } = new() { Name = "vnic1" };
    /// <summary>
    /// Wraps what A transmits on its way to B (fault injection, shaping, capture): given the sink in front
    /// of B, returns the sink A should send to. Null: A's frames reach B directly.
    /// </summary>
    public Func<IWireSink, IWireSink>? AToB { get; init; }
    /// <summary>The same for frames from B to A.</summary>
    public Func<IWireSink, IWireSink>? BToA { get; init; }
    /// <summary>Bring both devices up. Default true.</summary>
    public bool Open { get; init; } = true;
}

/// <summary>
/// Two <see cref="VirtualNic"/>s joined back to back by an in-memory wire, like a veth pair or two NICs
/// and a cable. Each direction may carry wire stages (<see cref="VirtualNicPairOptions.AToB"/>).
/// </summary>
public sealed class VirtualNicPair : IDisposable
{
    public VirtualNicPair(VirtualNicPairOptions? options = null)
    {
        options ??= new();
        A = new VirtualNic(options.A);
        try
        {
            B = new VirtualNic(options.B);
        }
        catch
        {
            A.Dispose();
            throw;
        }
        AToB = options.AToB?.Invoke(B) ?? B;
        BToA = options.BToA?.Invoke(A) ?? A;
        A.ConnectWire(AToB);
        B.ConnectWire(BToA);
        if (options.Open)
        {
            A.Open();
            B.Open();
        }
    }

    public VirtualNic A { get; }
    public VirtualNic B { get; }
    /// <summary>The sink A transmits into (B itself, or the first wire stage in front of it).</summary>
    public IWireSink AToB { get; }
    /// <summary>The sink B transmits into.</summary>
    public IWireSink BToA { get; }

    /// <summary>Deterministic mode: polls both sides until neither has work. Returns frames processed.</summary>
    public long PollAll(int maxRounds = 10_000)
    {
        long total = 0;
        for (int i = 0; i < maxRounds; i++)
        {
            long n = A.PollAll() + B.PollAll();
            total += n;
            if (n == 0) break;
        }
        return total;
    }

    public void Dispose()
    {
        // Stages first: they may deliver frames they hold while both NICs are still up.
        (AToB as WireStage)?.Dispose();
        (BToA as WireStage)?.Dispose();
        A.ConnectWire(null);
        B.ConnectWire(null);
        A.Dispose();
        B.Dispose();
    }
}
