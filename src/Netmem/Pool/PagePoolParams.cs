using Netmem.Memory;

namespace Netmem.Pool;

/// <summary>
/// <c>struct page_pool_params</c>. Defaults follow the kernel: ring 1024 (clamped to
/// <see cref="MaxPoolSize"/>), order 0, DMA_FROM_DEVICE, no flags.
/// </summary>
public sealed record PagePoolParams
{
    public const int DefaultPoolSize = 1024;
    /// <summary>Largest ptr_ring; bigger requests are clamped.</summary>
    public const int MaxPoolSize = 16384;

    /// <summary>PP_FLAG_* bits.</summary>
    public PagePoolFlags Flags { get; init; }
    /// <summary>Page order of each allocation (0 = 4 KiB pages). Default 0.</summary>
    public int Order { get; init; }
    /// <summary>ptr_ring size (0 = 1024). Rounded up to a power of two, clamped to 16384.</summary>
    public int PoolSize { get; init; }
    /// <summary>Preferred NUMA node; pages from other nodes are released instead of recycled. Default 0.</summary>
    public int Nid { get; init; }
    /// <summary>The device pages are DMA-mapped for (needed with DmaMap).</summary>
    public DmaDevice? Device { get; init; }
    /// <summary>The NAPI context allowed to recycle directly into the alloc cache.</summary>
    public INapiOwner? Napi { get; init; }
    /// <summary>DMA direction for the mapping: FromDevice (RX) or Bidirectional (XDP_TX). Default FromDevice.</summary>
    public DmaDirection DmaDir { get; init; } = DmaDirection.FromDevice;
    /// <summary>Largest length synced for the device on recycle (DmaSyncDev). Default 0.</summary>
    public int MaxLen { get; init; }
    /// <summary>Offset in the page where the device starts writing (DMA sync start). Default 0.</summary>
    public int Offset { get; init; }
    /// <summary>Interface index reported by introspection (0 = none; defaults to <see cref="Netdev"/>'s).</summary>
    public int Ifindex { get; init; }
    /// <summary>
    /// <c>netdev</c>: the device whose RX queue the pool serves. With <see cref="PagePoolFlags.AllowUnreadableNetmem"/>
    /// the pool takes that queue's memory provider (<c>rxq->mp_params</c>), so it is required then.
    /// </summary>
    public Netmem.Devices.NetDevice? Netdev { get; init; }
    /// <summary><c>queue_idx</c>: RX queue index the pool serves (-1 = none).</summary>
    public int QueueIndex { get; init; } = -1;
    /// <summary>Page source for the page allocator (used when the queue has no memory provider). Null means <see cref="PageArena.Shared"/>.</summary>
    public PageArena? Arena { get; init; }
    /// <summary>Time source for the deferred-destroy retry. Null means <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; init; }
}
