using Netmem.Devices;
using Netmem.Memory;

namespace Netmem.Pool;

/// <summary>
/// <c>struct memory_provider_ops</c>: replaces the page allocator for one RX queue's pool. A provider is
/// installed on the queue (<see cref="NetdevRxQueue.MemoryProvider"/>, the kernel's <c>rxq->mp_params</c>);
/// a page_pool created for that queue with <see cref="PagePoolFlags.AllowUnreadableNetmem"/> takes it from
/// there. Such a pool must be created with <see cref="PagePoolFlags.DmaMap"/> and
/// <see cref="PagePoolFlags.DmaSyncDev"/>, but never maps or unmaps the provider's netmem: the provider
/// sets each net_iov's DMA address (<see cref="MemoryProviderHelpers.SetDmaAddr"/>), and its
/// <see cref="Init"/> decides whether the pool syncs (<see cref="PagePool.DmaSync"/>). The pool calls it
/// only from its slow paths.
/// </summary>
public interface IMemoryProvider
{
    /// <summary>
    /// <c>init</c>: called once when a pool takes the provider. A nonzero errno fails <c>page_pool_create</c>
    /// with it. May turn off <see cref="PagePool.DmaSync"/> / <see cref="PagePool.DmaSyncForCpu"/> (memory
    /// whose owner syncs it, like a dma-buf).
    /// </summary>
    Errno Init(PagePool pool);

    /// <summary>
    /// <c>alloc_netmems</c>: fills <paramref name="netmems"/> with netmems new to the pool (it stamps them and
    /// counts each as held) and returns how many; 0 when out of memory. A provider that gets back netmems the
    /// pool still holds (io_uring zcrx's refill ring) instead puts them in the pool's cache with
    /// <see cref="MemoryProviderHelpers.PlaceInCache"/> and returns 0: the pool takes from its cache and counts
    /// nothing twice.
    /// </summary>
    int AllocNetmems(PagePool pool, Span<NetmemRef> netmems);

    /// <summary>
    /// <c>release_netmem</c>: the pool is done with <paramref name="netmem"/>. Returns true when the pool
    /// should clear its pp fields and drop the page reference itself, false when the provider took it back
    /// (it then clears the pp fields with <see cref="MemoryProviderHelpers.ClearPagePool"/>).
    /// </summary>
    bool ReleaseNetmem(PagePool pool, NetmemRef netmem);

    /// <summary><c>destroy</c>: the pool that took the provider is freed.</summary>
    void Destroy(PagePool pool);

    /// <summary>
    /// <c>nl_fill</c>: the provider's netlink attributes, for page-pool-get (<paramref name="rxq"/> null:
    /// <c>NETDEV_A_PAGE_POOL_DMABUF</c>/<c>_IO_URING</c>) and for queue-get (<paramref name="rxq"/> the queue:
    /// <c>NETDEV_A_QUEUE_DMABUF</c>/<c>_IO_URING</c>).
    /// </summary>
    MemoryProviderInfo NlFill(NetdevRxQueue? rxq);

    /// <summary><c>uninstall</c>: the provider has been removed from <paramref name="rxq"/> (unbind, or the device going away).</summary>
    void Uninstall(NetdevRxQueue rxq);
}

/// <summary>What <see cref="IMemoryProvider.NlFill"/> reports: a dma-buf binding id, or io_uring zero-copy receive.</summary>
public readonly record struct MemoryProviderInfo(uint? Dmabuf, bool IoUring);
