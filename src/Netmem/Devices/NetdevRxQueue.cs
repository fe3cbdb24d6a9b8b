using Netmem.Pool;

namespace Netmem.Devices;

/// <summary>
/// <c>struct netdev_rx_queue</c>: the core's view of one RX queue: its NAPI context, the page_pool the
/// driver created for it, the memory provider bound to it (<c>mp_params</c>) and its counters. The
/// driver keeps its descriptor ring separately, as real drivers do.
/// </summary>
public sealed class NetdevRxQueue
{
    internal NetdevRxQueue(NetDevice dev, int index)
    {
        Device = dev;
        Index = index;
    }

    public NetDevice Device { get; }
    public int Index { get; }
    /// <summary>The NAPI context polling this queue (set by the driver).</summary>
    public Napi? Napi { get; set; }
    /// <summary>The data page_pool in use (set by the driver when it starts the queue).</summary>
    public PagePool? PagePool { get; set; }
    /// <summary>The header page_pool when header/data split is on (always readable).</summary>
    public PagePool? HeaderPagePool { get; set; }
    /// <summary>
    /// <c>rxq->mp_params</c>: the memory provider installed on the queue (by <see cref="NetDevice.OpenMemoryProvider"/>,
    /// e.g. a dma-buf binding). The queue's next page_pool created with ALLOW_UNREADABLE_NETMEM takes it.
    /// </summary>
    public IMemoryProvider? MemoryProvider { get; internal set; }
    /// <summary>Whether the queue is running (started and not stopped).</summary>
    public bool IsStarted { get; internal set; }
    /// <summary>Counters (written by the queue's NAPI context).</summary>
    public NetdevRxQueueStats Stats { get; } = new();

    public override string ToString() => $"{Device.Name} rx-{Index}";
}

/// <summary><c>struct netdev_queue</c>: the core's view of one TX queue.</summary>
public sealed class NetdevTxQueue
{
    internal NetdevTxQueue(NetDevice dev, int index)
    {
        Device = dev;
        Index = index;
    }

    public NetDevice Device { get; }
    public int Index { get; }
    /// <summary>The NAPI context that completes this queue (usually the paired RX queue's).</summary>
    public Napi? Napi { get; set; }
    /// <summary>Counters (written under the queue's xmit lock).</summary>
    public NetdevTxQueueStats Stats { get; } = new();
    /// <summary><c>netif_tx_queue_stopped</c>.</summary>
    public bool IsStopped { get; internal set; }

    public override string ToString() => $"{Device.Name} tx-{Index}";
}
