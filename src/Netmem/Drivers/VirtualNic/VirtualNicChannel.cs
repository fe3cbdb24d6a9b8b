using Netmem.Devices;
using Netmem.Skb;

namespace Netmem.Drivers.VirtualNic;

/// <summary>
/// One channel: an RX queue's NAPI context, its skb cache (owned by the NAPI context, like the kernel's
/// per-CPU NAPI skb cache) and the ring currently attached. The ring changes when the queue restarts;
/// the NAPI context and the cache stay.
/// </summary>
internal sealed class VirtualNicChannel : INapiPoller, IDisposable
{
    private VirtualNicRxRing? _ring;

    public VirtualNicChannel(VirtualNic nic, int index)
    {
        Index = index;
        Napi = new Napi($"{nic.Name}-{index}", this);
        Napi.Disable(); // enabled when a ring starts
        // Received skbs are freed by socket readers on other threads: they come back here to be freed
        // on the NAPI context (skb_attempt_defer_free), which drains them at the start of every poll.
        Cache = new SkbCache(new SkbCacheOptions { Arena = nic.Arena, DeferMax = 64 });
        Cache.BindToNapi(Napi);
        Cache.DeferKick = () => Napi.Schedule();
    }

    public int Index { get; }
    public Napi Napi { get; }
    public SkbCache Cache { get; }
    public VirtualNicRxRing? Ring => Volatile.Read(ref _ring);

    /// <summary>Attaches a ring; called with the NAPI context disabled, so deferred frees are flushed here.</summary>
    public void Attach(VirtualNicRxRing? ring)
    {
        Cache.DrainDeferredQuiesced();
        Volatile.Write(ref _ring, ring);
    }

    public int Poll(Napi napi, int budget)
    {
        Cache.DrainDeferred();
        var ring = Volatile.Read(ref _ring);
        return ring is null ? 0 : ring.Clean(budget, Cache);
    }

    public void Dispose()
    {
        Napi.Dispose();
        Cache.Dispose();
    }
}
