using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Devices;

public abstract partial class NetDevice
{
    /// <summary><c>dev->queue_mgmt_ops</c>; null when the driver cannot restart single queues.</summary>
    public virtual IQueueMgmtOps? QueueMgmtOps => null;

    /// <summary>
    /// Stops the first <paramref name="count"/> RX queues that are started and frees their memory through
    /// the queue management ops (what a driver's stop, or a failed open, does to its queues).
    /// </summary>
    protected void StopRxQueues(int count)
    {
        var ops = QueueMgmtOps ?? throw new InvalidOperationException($"{Name}: the driver has no queue management ops");
        for (int i = 0; i < count; i++)
        {
            var q = GetRxQueue(i);
            if (!q.IsStarted) continue;
            ops.QueueStop(q, out var old);
            if (old is not null) ops.QueueMemFree(q, old);
        }
    }

    /// <summary>Whether any RX queue has a memory provider bound.</summary>
    public bool HasMemoryProvider()
    {
        foreach (var q in RxQueues) if (q.MemoryProvider is not null) return true;
        return false;
    }

    /// <summary>
    /// <c>netdev_rx_queue_restart</c>: restarts RX queue <paramref name="index"/> with its current
    /// configuration (new descriptor ring and page_pools). See <see cref="RestartRxQueue(NetdevRxQueue, IMemoryProvider?)"/>.
    /// </summary>
    public void RestartRxQueue(int index)
    {
        var q = GetRxQueue(index);
        var err = RestartRxQueue(q, q.MemoryProvider);
        if (err != Errno.None) throw new NetmemErrnoException(err, $"{Name}: restart of rx queue {index} failed; the queue runs with its old memory");
    }

    /// <summary>
    /// Restarts <paramref name="q"/> so that its memory comes from <paramref name="memoryProvider"/>
    /// (null = pages). Allocate new, stop old, start new, free old; if starting the new memory fails the
    /// queue is started again with its old memory and the new memory freed, so a failed restart leaves
    /// the queue as it was. On a device that is down only the configuration changes.
    /// </summary>
    internal Errno RestartRxQueue(NetdevRxQueue q, IMemoryProvider? memoryProvider)
    {
        var ops = QueueMgmtOps;
        if (ops is null) return Errno.EOPNOTSUPP;
        if (!IsUp)
        {
            q.MemoryProvider = memoryProvider;
            return Errno.None;
        }
        var err = ops.QueueMemAlloc(q, memoryProvider, out var newMem);
        if (err != Errno.None) return err;
        err = ops.QueueStop(q, out var oldMem);
        if (err != Errno.None)
        {
            ops.QueueMemFree(q, newMem!);
            return err;
        }
        err = ops.QueueStart(q, newMem!);
        if (err != Errno.None)
        {
            var rollback = ops.QueueStart(q, oldMem!);
            ops.QueueMemFree(q, newMem!);
            if (rollback != Errno.None)
                throw new NetmemException($"{Name}: rx queue {q.Index} failed to restart ({err}) and then failed to come back with its old memory ({rollback}); the queue is down");
            return err;
        }
        q.MemoryProvider = memoryProvider;
        ops.QueueMemFree(q, oldMem!);
        return Errno.None;
    }

    /// <summary>
    /// <c>net_mp_open_rxq</c>: binds <paramref name="provider"/> to RX queue <paramref name="index"/> and
    /// restarts the queue so its page_pool draws from it. Errors as the kernel: ERANGE (no such queue),
    /// EINVAL (tcp-data-split not enabled, or hds-thresh not zero), EEXIST (a provider is already bound),
    /// EOPNOTSUPP (no queue management API), or the restart's error (the queue keeps its old memory).
    /// </summary>
    public void OpenMemoryProvider(int index, IMemoryProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        if ((uint)index >= (uint)RealNumRxQueues)
            throw new NetmemErrnoException(Errno.ERANGE, $"{Name}: rx queue index {index} out of range ({RealNumRxQueues} queues)");
        if (HdsConfig != TcpDataSplit.On)
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: tcp-data-split is disabled (ethtool -G {Name} tcp-data-split on)");
        if (HdsThresh != 0)
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: hds-thresh is not zero");
        var q = _rx[index];
        if (q.MemoryProvider is not null)
            throw new NetmemErrnoException(Errno.EEXIST, $"{Name}: designated queue {index} already memory provider bound");
        if (QueueMgmtOps is null)
            throw new NetmemErrnoException(Errno.EOPNOTSUPP, $"{Name}: the driver has no queue management ops");
        var err = RestartRxQueue(q, provider);
        if (err != Errno.None)
            throw new NetmemErrnoException(err, $"{Name}: binding the memory provider to rx queue {index} failed; the queue runs with its old memory");
    }

    /// <summary>
    /// <c>net_mp_close_rxq</c>: unbinds <paramref name="provider"/> from RX queue <paramref name="index"/>,
    /// restarts the queue on pages, and tells the provider (<c>uninstall</c>).
    /// </summary>
    public void CloseMemoryProvider(int index, IMemoryProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        if ((uint)index >= (uint)RealNumRxQueues)
            throw new NetmemErrnoException(Errno.ERANGE, $"{Name}: rx queue index {index} out of range ({RealNumRxQueues} queues)");
        var q = _rx[index];
        if (!ReferenceEquals(q.MemoryProvider, provider))
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: rx queue {index} is not bound to this memory provider");
        var err = RestartRxQueue(q, null);
        if (err != Errno.None)
            throw new NetmemErrnoException(err, $"{Name}: restarting rx queue {index} without its memory provider failed");
        provider.Uninstall(index);
    }
}
