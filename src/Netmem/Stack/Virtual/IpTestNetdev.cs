using Netmem.Devices;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;

namespace Netmem.Stack.Virtual;

/// <summary>
/// The <see cref="NetDevice"/> face of an <see cref="IpTestDevice"/>: one RX queue whose memory (what
/// <c>ndo_queue_mem_alloc</c> returns) is the test device's header-split data page_pool, so the core's queue
/// management, ethtool ring settings and <c>NetDevmemBinding.BindRx</c> work on it unchanged. The pool is
/// created with ALLOW_UNREADABLE_NETMEM for queue 0: after a bind restarts the queue, the new pool takes the
/// binding from the queue and the test device writes split payload into its net_iovs through this device's
/// IOMMU (<see cref="Dma"/>). With netmem TX on (as <see cref="VirtualTcpHost"/> makes it), bind-tx works on
/// it too and the test device reads a TX binding's net_iovs by DMA through the same IOMMU. Frames never go out
/// through it: the stack transmits through the <see cref="IpTestDevice"/> (<see cref="IIpOutput"/>), so
/// <see cref="StartXmit"/> only counts a drop.
/// </summary>
public sealed class IpTestNetdev : NetDevice
{
    /// <summary>Buffers in the data pool (the ring size ethtool -g shows).</summary>
    public const int RingSize = 1024;

    private readonly IpTestDevice _ip;
    private readonly QueueMgmt _qmgmt;
    private readonly TimeProvider? _time;

    /// <param name="ip">The test device whose payload pool this device's RX queue owns.</param>
    /// <param name="arena">Pages for the data pool.</param>
    /// <param name="tcpDataSplit">Start with tcp-data-split on (split into the pool) rather than off.</param>
    /// <param name="time">The pools' clock (a virtual one in deterministic mode).</param>
    /// <param name="name">Interface name.</param>
    /// <param name="netmemTx">Declare netmem TX (bind-tx works; the test device reads TX bindings' net_iovs by DMA).</param>
    public IpTestNetdev(IpTestDevice ip, PageArena arena, bool tcpDataSplit, TimeProvider? time = null, string name = "iptest0", bool netmemTx = false) : base(name, 1, 1)
    {
        _time = time;
        _ip = ip ?? throw new ArgumentNullException(nameof(ip));
        Arena = arena ?? throw new ArgumentNullException(nameof(arena));
        Dma = new DmaDevice(name);
        _qmgmt = new QueueMgmt(this);
        SetMtu(ip.Mtu);
        SetRingParam(GetRingParam() with { TcpDataSplit = tcpDataSplit ? TcpDataSplit.On : TcpDataSplit.Off });
        ip.Dma = Dma;
        ip.Netdev = this;
        NetmemTx = netmemTx; // the test device then reads TX bindings' net_iovs by DMA (IpTestDevice.Output)
        Carrier = true;
    }

    public override string DriverName => "iptest";
    public override int MaxMtu => 65535;
    public override DmaDevice Dma { get; }
    public PageArena Arena { get; }
    public override IQueueMgmtOps? QueueMgmtOps => _qmgmt;
    /// <summary>The data pool of the running queue (null with split off or while stopped).</summary>
    public PagePool? DataPool => _ip.DataPool;

    protected override Errno OpenCore()
    {
        var q = GetRxQueue(0);
        var err = _qmgmt.QueueMemAlloc(q, out var mem);
        if (err != Errno.None) return err;
        return _qmgmt.QueueStart(q, mem!);
    }

    protected override void StopCore() => StopRxQueues(RealNumRxQueues);

    protected override void DisposeCore()
    {
        _ip.Dma = null;
        _ip.Netdev = null;
        Dma.Dispose();
    }

    protected override NetdevTxResult StartXmit(NetdevTxQueue queue, SkBuff skb)
    {
        // The stack sends through IpTestDevice.Output; nothing routes frames to this face of it.
        CountDrop(SkbDropReason.NotSpecified);
        skb.Free();
        return NetdevTxResult.Dropped;
    }

    protected override EthtoolRingParam GetRingParamCore() => new()
    {
        RxPending = RingSize,
        TxPending = RingSize,
        RxMaxPending = RingSize,
        TxMaxPending = RingSize,
        RxBufLen = PageArena.PageSize,
        TcpDataSplitActive = HdsConfig == TcpDataSplit.On,
        HdsThreshMax = 0, // every segment with payload is split (hds-thresh 0 only)
    };

    protected override bool SupportsTcpDataSplit => true;

    /// <summary>A split change restarts the queue: a new pool, or none with split off.</summary>
    protected override Errno SetRingParamCore(EthtoolRingParam wanted)
    {
        if (wanted.RxPending != RingSize || wanted.TxPending != RingSize) return Errno.EOPNOTSUPP;
        return IsUp ? RestartRxQueue(GetRxQueue(0)) : Errno.None;
    }

    private sealed class QueueMem(PagePool? pool) : INetdevQueueMem
    {
        public PagePool? Pool { get; } = pool;
    }

    /// <summary>The queue's memory is its data pool; start hands it to the test device, stop takes it back.</summary>
    private sealed class QueueMgmt(IpTestNetdev dev) : IQueueMgmtOps
    {
        public Errno QueueMemAlloc(NetdevRxQueue queue, out INetdevQueueMem? mem)
        {
            mem = null;
            PagePool? pool = null;
            if (dev.HdsConfig == TcpDataSplit.On)
            {
                try
                {
                    pool = PagePool.Create(new PagePoolParams
                    {
                        // A provider pool: DMA_MAP | DMA_SYNC_DEV, and ALLOW_UNREADABLE_NETMEM so it takes the queue's provider.
                        Flags = PagePoolFlags.DmaMap | PagePoolFlags.DmaSyncDev | PagePoolFlags.AllowUnreadableNetmem,
                        Device = dev.Dma,
                        PoolSize = RingSize,
                        MaxLen = PageArena.PageSize,
                        Netdev = dev,
                        QueueIndex = queue.Index,
                        Arena = dev.Arena,
                        TimeProvider = dev._time,
                    });
                }
                catch (NetmemErrnoException ex)
                {
                    return ex.Errno;
                }
            }
            mem = new QueueMem(pool);
            return Errno.None;
        }

        public void QueueMemFree(NetdevRxQueue queue, INetdevQueueMem mem) => ((QueueMem)mem).Pool?.Dispose();

        public Errno QueueStart(NetdevRxQueue queue, INetdevQueueMem mem)
        {
            var m = (QueueMem)mem;
            dev._ip.DataPool = m.Pool;
            dev._current = m;
            queue.PagePool = m.Pool;
            queue.IsStarted = true;
            return Errno.None;
        }

        public Errno QueueStop(NetdevRxQueue queue, out INetdevQueueMem? oldMem)
        {
            oldMem = dev._current;
            if (oldMem is null) return Errno.EINVAL;
            dev._current = null;
            dev._ip.DataPool = null;
            queue.PagePool = null;
            queue.IsStarted = false;
            return Errno.None;
        }
    }

    private QueueMem? _current;
}
