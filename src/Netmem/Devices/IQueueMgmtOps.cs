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
    /// <summary><c>ndo_queue_mem_alloc</c>: allocates everything queue <paramref name="queue"/> needs for <paramref name="memoryProvider"/>, without touching the running queue.</summary>
    Errno QueueMemAlloc(NetdevRxQueue queue, Netmem.Pool.IMemoryProvider? memoryProvider, out INetdevQueueMem? mem);

    /// <summary><c>ndo_queue_mem_free</c>.</summary>
    void QueueMemFree(NetdevRxQueue queue, INetdevQueueMem mem);

    /// <summary><c>ndo_queue_start</c>: makes <paramref name="mem"/> the queue's memory and starts it.</summary>
    Errno QueueStart(NetdevRxQueue queue, INetdevQueueMem mem);

    /// <summary><c>ndo_queue_stop</c>: quiesces the queue (NAPI disabled, no descriptors posted) and returns its memory.</summary>
    Errno QueueStop(NetdevRxQueue queue, out INetdevQueueMem? oldMem);
}
