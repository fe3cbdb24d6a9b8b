namespace Netmem.Phy;

/// <summary>
/// A sink that wraps another sink (smoltcp's device wrappers): fault injection, shaping, capture. The
/// chain ends at a NIC. Disposing a stage disposes the stages behind it, never the NIC.
/// </summary>
public abstract class WireStage : IWireSink, IDisposable
{
    protected WireStage(IWireSink inner) => Inner = inner ?? throw new ArgumentNullException(nameof(inner));

    /// <summary>Where this stage passes frames on.</summary>
    public IWireSink Inner { get; }

    public abstract void Transmit(WireFrame frame);

    /// <summary>Releases what the stage holds (delivering held frames first where that makes sense), then the stages behind it.</summary>
    public void Dispose()
    {
        DisposeCore();
        (Inner as WireStage)?.Dispose();
        GC.SuppressFinalize(this);
    }

    protected virtual void DisposeCore() { }
}
