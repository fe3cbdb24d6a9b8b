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
    /// configuration, memory provider included (new descriptor ring and page_pools). Throws the restart's
    /// errno; the queue then runs with its old memory.
    /// </summary>
    public void RestartRxQueue(int index)
    {
        var q = GetRxQueue(index);
        var err = RestartRxQueue(q);
        if (err != Errno.None) throw new NetmemErrnoException(err, $"{Name}: restart of rx queue {index} failed; the queue runs with its old memory");
    }

    /// <summary>
    /// Restarts <paramref name="q"/> with its current configuration (<see cref="NetdevRxQueue.MemoryProvider"/>
    /// included): allocate new memory, check that the new page_pool took the queue's provider (ENODATA when
    /// not, as <c>page_pool_check_memory_provider</c>), stop old, start new, free old. If starting the new
    /// memory fails the queue is started again with its old memory and the new memory freed, so a failed
    /// restart leaves the queue running as it was. On a device that is down the new memory is only
    /// allocated, checked and freed.
    /// </summary>
    internal Errno RestartRxQueue(NetdevRxQueue q)
    {
        var ops = QueueMgmtOps;
        if (ops is null) return Errno.EOPNOTSUPP;
        var err = ops.QueueMemAlloc(q, out var newMem);
        if (err != Errno.None) return err;
        err = CheckMemoryProvider(q);
        if (err != Errno.None || !IsUp)
        {
            ops.QueueMemFree(q, newMem!);
            return err;
        }
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
        ops.QueueMemFree(q, oldMem!);
        return Errno.None;
    }

    /// <summary>
    /// <c>page_pool_check_memory_provider</c>: with a provider on <paramref name="q"/>, some live page_pool of
    /// this device for that queue must have taken it; a driver that did not (it left out
    /// ALLOW_UNREADABLE_NETMEM, say) would silently receive into host pages. ENODATA then.
    /// </summary>
    private Errno CheckMemoryProvider(NetdevRxQueue q)
    {
        var mp = q.MemoryProvider;
        if (mp is null) return Errno.None;
        foreach (var pool in PagePool.All)
            if (!pool.IsDestroyed && ReferenceEquals(pool.Params.Netdev, this) && pool.Params.QueueIndex == q.Index
                && ReferenceEquals(pool.MemoryProvider, mp))
                return Errno.None;
        return Errno.ENODATA;
    }

    /// <summary>
    /// <c>net_mp_open_rxq</c>: installs <paramref name="provider"/> on RX queue <paramref name="index"/>
    /// (<c>rxq->mp_params</c>) and restarts the queue so that its new page_pool takes it. Errors as the
    /// kernel, in its order: ERANGE (no such queue), EINVAL (tcp-data-split not enabled, or hds-thresh not
    /// zero), EEXIST (an XDP program is attached, or a provider is already bound), EOPNOTSUPP (no queue
    /// management API), or the restart's error (ENODATA when the driver's pool did not take the provider);
    /// on any error the queue has no provider and keeps its old memory.
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
        if (XdpProgCount != 0)
            throw new NetmemErrnoException(Errno.EEXIST, $"{Name}: unable to custom memory provider to device with XDP program attached");
        var q = _rx[index];
        if (q.MemoryProvider is not null)
            throw new NetmemErrnoException(Errno.EEXIST, $"{Name}: designated queue {index} already memory provider bound");
        if (QueueMgmtOps is null)
            throw new NetmemErrnoException(Errno.EOPNOTSUPP, $"{Name}: the driver has no queue management ops");
        q.MemoryProvider = provider;
        var err = RestartRxQueue(q);
        if (err != Errno.None)
        {
            q.MemoryProvider = null;
            string why = err == Errno.ENODATA ? $"the driver's new page_pool for rx queue {index} did not take the memory provider" : $"binding the memory provider to rx queue {index} failed";
            throw new NetmemErrnoException(err, $"{Name}: {why}; the queue runs with its old memory");
        }
    }

    /// <summary>
    /// <c>net_mp_close_rxq</c>: removes <paramref name="provider"/> from RX queue <paramref name="index"/>,
    /// restarts the queue on pages, and tells the provider (<see cref="IMemoryProvider.Uninstall"/>). Netmem
    /// the old pool handed out stays valid; that pool frees itself when the last comes back. If the restart
    /// fails the provider stays installed and the errno is thrown.
    /// </summary>
    public void CloseMemoryProvider(int index, IMemoryProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        if ((uint)index >= (uint)RealNumRxQueues)
            throw new NetmemErrnoException(Errno.ERANGE, $"{Name}: rx queue index {index} out of range ({RealNumRxQueues} queues)");
        var q = _rx[index];
        if (!ReferenceEquals(q.MemoryProvider, provider))
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: rx queue {index} is not bound to this memory provider");
        q.MemoryProvider = null;
        var err = RestartRxQueue(q);
        if (err != Errno.None)
        {
            q.MemoryProvider = provider;
            throw new NetmemErrnoException(err, $"{Name}: restarting rx queue {index} without its memory provider failed; it stays bound");
        }
        provider.Uninstall(q);
    }

    /// <summary><c>dev_memory_provider_uninstall</c>: the device goes away; every queue's provider is told and removed.</summary>
    private void UninstallMemoryProviders()
    {
        foreach (var q in _rx)
        {
            var mp = q.MemoryProvider;
            if (mp is null) continue;
            q.MemoryProvider = null;
            mp.Uninstall(q);
        }
    }

    // ---------------- XDP ----------------

    /// <summary>
    /// The XDP program attached to the device (<c>dev->xdp_state</c>), or null. Only its presence matters
    /// today: a device with one refuses memory providers (EEXIST), and one cannot be attached while a
    /// provider is bound (EBUSY). The XDP and AF_XDP work will run it from the drivers' receive paths.
    /// </summary>
    public XdpProgram? XdpProgram { get; private set; }

    /// <summary><c>dev_xdp_prog_count</c>.</summary>
    public int XdpProgCount => XdpProgram is null ? 0 : 1;

    /// <summary>
    /// <c>dev_xdp_attach</c> (ip link set dev X xdp ...; null detaches). EBUSY while any RX queue has a
    /// memory provider, as the kernel refuses to propagate XDP to a device using one.
    /// </summary>
    public void SetXdpProgram(XdpProgram? program)
    {
        if (program is not null && HasMemoryProvider())
            throw new NetmemErrnoException(Errno.EBUSY, $"{Name}: unable to propagate XDP to device using memory provider");
        XdpProgram = program;
    }
}
