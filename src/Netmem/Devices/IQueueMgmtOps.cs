namespace Netmem.Devices;

/// <summary>Memory a driver allocated for one RX queue (descriptor ring, page_pools), opaque to the core.</summary>
public interface INetdevQueueMem
{
}

/// <summary>
/// <c>struct netdev_queue_mgmt_ops</c>: what lets the core restart one RX queue with a new
/// configuration (a memory provider) without taking the device down (netmem.rst rule 7). The core
/// drives them in <see cref="NetDevice.RestartRxQueue(int)"/>: allocate new memory, stop the queue (which
/// hands back the old memory), start with the new memory, free the old; on failure it starts the queue
/// again with the old memory.
/// </summary>
public interface IQueueMgmtOps
{
    /// <summary>
    /// <c>ndo_queue_mem_alloc</c>: allocates everything queue <paramref name="queue"/> needs, without touching
    /// the running queue. A driver that can take unreadable netmem creates its data page_pool with
    /// ALLOW_UNREADABLE_NETMEM and the queue's netdev and index, so the pool takes the queue's memory provider
    /// (<see cref="NetdevRxQueue.MemoryProvider"/>); the driver never passes a provider itself.
    /// </summary>
    Errno QueueMemAlloc(NetdevRxQueue queue, out INetdevQueueMem? mem);

    /// <summary><c>ndo_queue_mem_free</c>.</summary>
    void QueueMemFree(NetdevRxQueue queue, INetdevQueueMem mem);

    /// <summary><c>ndo_queue_start</c>: makes <paramref name="mem"/> the queue's memory and starts it.</summary>
    Errno QueueStart(NetdevRxQueue queue, INetdevQueueMem mem);

    /// <summary><c>ndo_queue_stop</c>: quiesces the queue (NAPI disabled, no descriptors posted) and returns its memory.</summary>
    Errno QueueStop(NetdevRxQueue queue, out INetdevQueueMem? oldMem);
}
