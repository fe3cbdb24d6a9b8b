using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Devices;

/// <summary>
/// <c>struct net_device</c>: a network interface with several RX and TX queues, an MTU, a MAC address,
/// offload features, link state, counters, ethtool settings and the queue management API. Drivers
/// derive from it and fill in the <c>ndo_*</c> and ethtool hooks; the core checks arguments and
/// reports errors the way the kernel does (a <see cref="NetmemErrnoException"/> carrying the errno and
/// the extack message).
/// </summary>
public abstract partial class NetDevice : IDisposable
{
    // ifindex 1 is the loopback device in Linux; simulated devices start after it.
    private static int s_nextIfindex = 1;
    private static readonly List<NetDevice> s_all = [];

    private readonly NetdevRxQueue[] _rx;
    private readonly NetdevTxQueue[] _tx;
    private readonly long[] _drops = new long[Enum.GetValues<SkbDropReason>().Length];
    private NetdevFeatures _features;
    private int _mtu;
    private bool _disposed;

    protected NetDevice(string name, int maxQueues, int numQueues)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (maxQueues <= 0) throw new ArgumentOutOfRangeException(nameof(maxQueues), "a device needs at least one queue");
        if (numQueues <= 0 || numQueues > maxQueues)
            throw new ArgumentOutOfRangeException(nameof(numQueues), $"{name}: {numQueues} queues is outside 1..{maxQueues}");
        Name = name;
        Ifindex = Interlocked.Increment(ref s_nextIfindex);
        _rx = new NetdevRxQueue[maxQueues];
        _tx = new NetdevTxQueue[maxQueues];
        for (int i = 0; i < maxQueues; i++)
        {
            _rx[i] = new NetdevRxQueue(this, i);
            _tx[i] = new NetdevTxQueue(this, i);
        }
        RealNumRxQueues = RealNumTxQueues = numQueues;
        FillDefaultIndir(numQueues);
        _mtu = 1500;
        lock (s_all) s_all.Add(this);
    }

    /// <summary>Every device not yet disposed (what dev-get lists).</summary>
    public static IReadOnlyList<NetDevice> All { get { lock (s_all) return s_all.ToArray(); } }

    /// <summary>The device with <paramref name="ifindex"/>, or null.</summary>
    public static NetDevice? FromIfindex(int ifindex) { lock (s_all) return s_all.Find(d => d.Ifindex == ifindex); }

    public string Name { get; }
    public int Ifindex { get; }
    /// <summary>Driver name (ethtool -i).</summary>
    public abstract string DriverName { get; }
    /// <summary>
    /// <c>dev->dev.parent</c> as DMA sees it: the device (and IOMMU domain) that moves this interface's
    /// bytes, which dma-bufs are attached to. Null for a device with no DMA (a purely virtual netdev).
    /// </summary>
    public virtual Netmem.Memory.DmaDevice? Dma => null;

    // ---------------- address, MTU, link ----------------

    /// <summary><c>dev->dev_addr</c>.</summary>
    public EthernetAddress Address { get; private set; }

    /// <summary><c>dev_set_mac_address</c>: only unicast addresses (EADDRNOTAVAIL otherwise, as <c>eth_prepare_mac_addr_change</c>).</summary>
    public void SetAddress(EthernetAddress address)
    {
        if (!address.IsUnicast || address.IsZero)
            throw new NetmemErrnoException(Errno.EADDRNOTAVAIL, $"{Name}: {address} is not a valid unicast MAC address");
        Address = address;
    }

    public int Mtu => Volatile.Read(ref _mtu);
    public virtual int MinMtu => 68;
    public abstract int MaxMtu { get; }

    /// <summary><c>dev_set_mtu</c>: EINVAL outside [min_mtu, max_mtu].</summary>
    public void SetMtu(int mtu)
    {
        if (mtu < MinMtu || mtu > MaxMtu)
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: MTU {mtu} is outside [{MinMtu}, {MaxMtu}]");
        if (mtu == _mtu) return;
        ChangeMtu(mtu);
        Volatile.Write(ref _mtu, mtu);
    }

    /// <summary><c>ndo_change_mtu</c>: called before the MTU changes (a driver may resize buffers).</summary>
    protected virtual void ChangeMtu(int newMtu) { }

    /// <summary><c>IFF_UP</c>.</summary>
    public bool IsUp { get; private set; }
    /// <summary><c>netif_carrier_ok</c>.</summary>
    public bool Carrier { get; protected set; }

    /// <summary><c>dev_open</c> (ip link set up): calls <c>ndo_open</c>, which allocates rings and starts queues.</summary>
    public void Open()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (IsUp) return;
        var err = OpenCore();
        if (err != Errno.None) throw new NetmemErrnoException(err, $"{Name}: ndo_open failed");
        IsUp = true;
    }

    /// <summary><c>dev_close</c>: calls <c>ndo_stop</c>.</summary>
    public void Close()
    {
        if (!IsUp) return;
        StopCore();
        IsUp = false;
    }

    /// <summary><c>ndo_open</c>.</summary>
    protected abstract Errno OpenCore();
    /// <summary><c>ndo_stop</c>: quiesce NAPI, reclaim every buffer.</summary>
    protected abstract void StopCore();

    // ---------------- features ----------------

    /// <summary><c>dev->hw_features</c>: what the hardware can do (and the user may toggle).</summary>
    public NetdevFeatures HwFeatures { get; protected init; }
    /// <summary>
    /// <c>dev->netmem_tx</c>: the driver can send net_iov frags of a TX binding of this device (it uses the
    /// binding's DMA addresses instead of mapping pages). Off, every unreadable skb is dropped before the driver.
    /// </summary>
    public bool NetmemTx { get; protected init; }
    /// <summary><c>dev->features</c>: what is on now.</summary>
    public NetdevFeatures Features => _features;

    /// <summary>
    /// <c>ethtool -K</c>: turns features on or off. Asking for a feature the hardware lacks fails with
    /// EOPNOTSUPP; like <c>netdev_fix_features</c>, TSO is dropped when scatter-gather or TX checksumming is off.
    /// </summary>
    public void SetFeatures(NetdevFeatures wanted)
    {
        var missing = wanted & ~HwFeatures;
        if (missing != 0)
            throw new NetmemErrnoException(Errno.EOPNOTSUPP, $"{Name}: the device cannot do {missing}");
        if ((wanted & NetdevFeatures.Tso) != 0 && (wanted & (NetdevFeatures.Sg | NetdevFeatures.IpCsum)) != (NetdevFeatures.Sg | NetdevFeatures.IpCsum))
            wanted &= ~NetdevFeatures.Tso; // TSO needs SG and checksum offload
        _features = wanted;
        FeaturesChanged(wanted);
    }

    /// <summary><c>ndo_set_features</c>.</summary>
    protected virtual void FeaturesChanged(NetdevFeatures features) { }

    /// <summary>Sets the initial features (driver probe).</summary>
    protected void InitFeatures(NetdevFeatures features) => _features = features & HwFeatures;

    // ---------------- queues ----------------

    /// <summary><c>real_num_rx_queues</c>.</summary>
    public int RealNumRxQueues { get; private set; }
    /// <summary><c>real_num_tx_queues</c>.</summary>
    public int RealNumTxQueues { get; private set; }
    /// <summary>Queues the hardware has (channels max).</summary>
    public int MaxQueues => _rx.Length;

    /// <summary>RX queue <paramref name="index"/> (ERANGE-style ArgumentOutOfRange past real_num_rx_queues).</summary>
    public NetdevRxQueue GetRxQueue(int index)
    {
        if ((uint)index >= (uint)RealNumRxQueues)
            throw new ArgumentOutOfRangeException(nameof(index), $"{Name}: rx queue {index} is outside 0..{RealNumRxQueues - 1}");
        return _rx[index];
    }

    public NetdevTxQueue GetTxQueue(int index)
    {
        if ((uint)index >= (uint)RealNumTxQueues)
            throw new ArgumentOutOfRangeException(nameof(index), $"{Name}: tx queue {index} is outside 0..{RealNumTxQueues - 1}");
        return _tx[index];
    }

    /// <summary>Any of the hardware's queues, active or not (drivers set up all of them at probe).</summary>
    protected NetdevTxQueue TxQueueAt(int index) => _tx[index];
    /// <summary>Any of the hardware's RX queues, active or not.</summary>
    protected NetdevRxQueue RxQueueAt(int index) => _rx[index];

    /// <summary>The active RX queues.</summary>
    public ReadOnlySpan<NetdevRxQueue> RxQueues => _rx.AsSpan(0, RealNumRxQueues);

    /// <summary>
    /// Adds the page_pools the active RX queues hold now (data and header pools) to <paramref name="into"/>:
    /// a queue restart replaces them, so a caller checking for leaks collects before and after.
    /// </summary>
    public void CollectRxPagePools(ICollection<Pool.PagePool> into)
    {
        foreach (var q in RxQueues)
        {
            if (q.PagePool is { } p && !into.Contains(p)) into.Add(p);
            if (q.HeaderPagePool is { } h && !into.Contains(h)) into.Add(h);
        }
    }
    /// <summary>The active TX queues.</summary>
    public ReadOnlySpan<NetdevTxQueue> TxQueues => _tx.AsSpan(0, RealNumTxQueues);

    /// <summary><c>netif_set_real_num_queues</c> (drivers call it from SetChannels while down).</summary>
    protected void SetRealNumQueues(int count)
    {
        if (count <= 0 || count > _rx.Length) throw new ArgumentOutOfRangeException(nameof(count));
        RealNumRxQueues = RealNumTxQueues = count;
    }

    // ---------------- receive ----------------

    /// <summary>The protocol handler <c>netif_receive_skb</c> delivers to (the stack). Null drops everything as UnhandledProto.</summary>
    public INetdevRxHandler? RxHandler { get; set; }

    /// <summary>
    /// <c>netif_receive_skb</c>, called by the driver on the queue's NAPI context: counts the packet and
    /// hands the skb to <see cref="RxHandler"/>, which owns it from then on.
    /// </summary>
    public void ReceiveSkb(NetdevRxQueue queue, SkBuff skb)
    {
        var s = queue.Stats;
        s.Packets++;
        s.Bytes += skb.Len;
        var h = RxHandler;
        if (h is null)
        {
            CountDrop(SkbDropReason.UnhandledProto);
            skb.Free();
            return;
        }
        h.Receive(this, queue, skb);
    }

    /// <summary>Counts a drop under <paramref name="reason"/> (<c>kfree_skb_reason</c>'s accounting).</summary>
    public void CountDrop(SkbDropReason reason) => Interlocked.Increment(ref _drops[(int)reason]);

    /// <summary>Drops counted under <paramref name="reason"/>.</summary>
    public long GetDropCount(SkbDropReason reason) => Interlocked.Read(ref _drops[(int)reason]);

    /// <summary>All nonzero drop counters.</summary>
    public IReadOnlyDictionary<SkbDropReason, long> GetDrops()
    {
        var d = new SortedDictionary<SkbDropReason, long>();
        for (int i = 0; i < _drops.Length; i++)
        {
            long n = Interlocked.Read(ref _drops[i]);
            if (n != 0) d[(SkbDropReason)i] = n;
        }
        return d;
    }

    // ---------------- transmit ----------------

    /// <summary>
    /// <c>dev_queue_xmit</c>: sends <paramref name="skb"/> on TX queue <c>skb.QueueMapping</c> (modulo the
    /// queue count). The device owns the skb afterwards, whatever the result: a refused skb is freed and
    /// counted, as the kernel's qdisc-less path does.
    /// </summary>
    public NetdevTxResult Transmit(SkBuff skb)
    {
        ArgumentNullException.ThrowIfNull(skb);
        int q = skb.QueueMapping < RealNumTxQueues ? skb.QueueMapping : skb.QueueMapping % RealNumTxQueues;
        if (!IsUp || !Carrier)
        {
            CountDrop(SkbDropReason.DevReady);
            skb.Free();
            return NetdevTxResult.Dropped;
        }
        return StartXmit(_tx[q], skb);
    }

    /// <summary><c>ndo_start_xmit</c>: the driver owns <paramref name="skb"/> from here.</summary>
    protected abstract NetdevTxResult StartXmit(NetdevTxQueue queue, SkBuff skb);

    /// <summary>Device totals (the sum of the queues' counters and the drops).</summary>
    public NetDeviceStats GetStats()
    {
        var st = new NetDeviceStats();
        foreach (var q in RxQueues)
        {
            st.RxPackets += q.Stats.Packets;
            st.RxBytes += q.Stats.Bytes;
            st.RxMissed += q.Stats.HwDrops;
        }
        foreach (var q in TxQueues)
        {
            st.TxPackets += q.Stats.Packets;
            st.TxBytes += q.Stats.Bytes;
            st.TxDropped += q.Stats.Drops;
        }
        foreach (long n in _drops) st.RxDropped += n;
        return st;
    }

    // ---------------- lifetime ----------------

    public void Dispose()
    {
        if (_disposed) return;
        Close();
        UninstallMemoryProviders();
        DisposeCore();
        _disposed = true;
        lock (s_all) s_all.Remove(this);
        GC.SuppressFinalize(this);
    }

    /// <summary>Driver teardown after <c>ndo_stop</c> (free queues, NAPI, DMA device).</summary>
    protected virtual void DisposeCore() { }

    public bool IsDisposed => _disposed;

    public override string ToString() => $"{Name} (ifindex {Ifindex}, {DriverName}, mtu {Mtu}, {(IsUp ? "up" : "down")})";
}

/// <summary><c>netdev_tx_t</c> plus the drop case.</summary>
public enum NetdevTxResult
{
    /// <summary>NETDEV_TX_OK: the device took the skb.</summary>
    Ok,
    /// <summary>The skb was dropped (counted); it has been freed.</summary>
    Dropped,
}

/// <summary><c>struct rtnl_link_stats64</c> (the fields this device model fills).</summary>
public sealed class NetDeviceStats
{
    public long RxPackets, RxBytes, TxPackets, TxBytes, RxDropped, TxDropped, RxMissed;
}
