namespace Netmem.Pool;

/// <summary>
/// <c>struct page_pool_stats</c>: the 11 counters, alloc side then recycle side, with the kernel's names.
/// </summary>
public readonly record struct PagePoolStats(
    long AllocFast,
    long AllocSlow,
    long AllocSlowHighOrder,
    long AllocEmpty,
    long AllocRefill,
    long AllocWaive,
    long RecycleCached,
    long RecycleCacheFull,
    long RecycleRing,
    long RecycleRingFull,
    long RecycleReleasedRefcnt);

/// <summary>
/// What the netdev netlink family's page-pool-get reports for one pool.
/// </summary>
public sealed record PagePoolInfo
{
    public required int Id { get; init; }
    public int? Ifindex { get; init; }
    public uint? NapiId { get; init; }
    public required long Inflight { get; init; }
    public required long InflightMem { get; init; }
    /// <summary>Seconds since the epoch when the pool was destroyed with netmem still inflight.</summary>
    public long? DetachTime { get; init; }
    /// <summary>Id of the dma-buf binding when a devmem provider is installed.</summary>
    public uint? Dmabuf { get; init; }
    /// <summary>Set when an io_uring zero-copy receive provider is installed.</summary>
    public bool IoUring { get; init; }
}
