using Netmem.Devices;
using Netmem.Memory;
using Netmem.Phy;
using Netmem.Pool;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Drivers.VirtualNic;

/// <summary>
/// A software NIC modelled on real hardware and driven the netmem way (netmem.rst rules 1 to 7): per
/// queue page_pools with DMA_MAP and DMA_SYNC_DEV, header/data split into a separate readable header
/// pool, unreadable payload allowed exactly when split is on, only netmem APIs and IOVAs, the queue
/// management API, RSS and ntuple steering, RX checksum verification and TSO. Two of them are joined
/// by an in-memory wire (<see cref="VirtualNicPair"/>); the "hardware" runs in whatever context drives
/// it (a transmit on one side writes straight into the other side's posted buffers and raises its
/// interrupt), so it needs no thread of its own.
/// </summary>
public sealed class VirtualNic : NetDevice, IWireSink
{
    public const int MaxRingSize = 4096;
    private const NetdevFeatures AllFeatures = NetdevFeatures.Sg | NetdevFeatures.IpCsum | NetdevFeatures.RxCsum
        | NetdevFeatures.Tso | NetdevFeatures.Gso | NetdevFeatures.Gro | NetdevFeatures.RxHash
        | NetdevFeatures.Ntuple | NetdevFeatures.RxAll | NetdevFeatures.Promisc;
    private static int s_macSeq;

    private readonly VirtualNicChannel[] _channels;
    private readonly VirtualNicTxRing[] _tx;
    private readonly QueueMgmt _qmgmt;
    private readonly bool _threaded;
    private int _rxRingSize, _txRingSize;
    private IWireSink? _wire;

    public VirtualNic(VirtualNicOptions? options = null)
        : base((options ??= new()).Name, options.MaxQueues, options.Queues)
    {
        if (options.RxRingSize < 1 || options.RxRingSize > MaxRingSize || options.TxRingSize < 1 || options.TxRingSize > MaxRingSize)
            throw new ArgumentOutOfRangeException(nameof(options), $"{Name}: ring sizes must be 1..{MaxRingSize}");
        Arena = options.Arena ?? PageArena.Shared;
        Dma = new DmaDevice(Name);
        HwFeatures = AllFeatures;
        NetmemTx = true; // the TX ring sends net_iov frags at their binding's DMA address
        InitFeatures(options.Features ?? (AllFeatures & ~(NetdevFeatures.RxAll | NetdevFeatures.Promisc)));
        SetAddress(options.Address ?? EthernetAddress.LocalUnicast((uint)Interlocked.Increment(ref s_macSeq)));
        SetMtu(options.Mtu);
        _rxRingSize = options.RxRingSize;
        _txRingSize = options.TxRingSize;
        _threaded = options.ThreadedNapi;
        _qmgmt = new QueueMgmt(this);
        _channels = new VirtualNicChannel[options.MaxQueues];
        _tx = new VirtualNicTxRing[options.MaxQueues];
        for (int i = 0; i < options.MaxQueues; i++)
        {
            _channels[i] = new VirtualNicChannel(this, i);
            _tx[i] = new VirtualNicTxRing(this, TxQueueAt(i));
        }
        if (options.TcpDataSplit != TcpDataSplit.Auto || options.HdsThresh != 0)
            SetRingParam(GetRingParam() with { TcpDataSplit = options.TcpDataSplit, HdsThresh = options.HdsThresh });
    }

    public override string DriverName => "virtual_nic";
    public override int MaxMtu => WireFrame.MaxFrameSize - 18;
    /// <summary>The device's DMA domain (its IOMMU): RX buffers and TX skbs are mapped here.</summary>
    public override DmaDevice Dma { get; }
    /// <summary>Where RX buffers and skb heads come from.</summary>
    public PageArena Arena { get; }
    public override IQueueMgmtOps? QueueMgmtOps => _qmgmt;
    /// <summary>Whether header/data split is in effect (tcp-data-split on; auto resolves to off on this device).</summary>
    public bool SplitActive => HdsConfig == TcpDataSplit.On;

    /// <summary>The NAPI context of RX queue <paramref name="index"/>.</summary>
    public Napi GetNapi(int index) => _channels[GetRxQueue(index).Index].Napi;

    /// <summary>Frames leave through here: the far NIC, or a wire stage in front of it.</summary>
    public void ConnectWire(IWireSink? wire)
    {
        _wire = wire;
        Carrier = wire is not null;
    }

    // ---------------------------------------------------------------- open / stop

    protected override Errno OpenCore()
    {
        int started = 0;
        try
        {
            for (; started < RealNumRxQueues; started++)
            {
                var q = GetRxQueue(started);
                var err = _qmgmt.QueueMemAlloc(q, out var mem);
                if (err != Errno.None) { StopRxQueues(started); return err; }
                _qmgmt.Start(q, (VirtualNicRxRing)mem!);
            }
        }
        catch
        {
            StopRxQueues(started);
            throw;
        }
        foreach (var q in TxQueues) q.Napi = _channels[q.Index].Napi;
        return Errno.None;
    }

    protected override void StopCore() => StopRxQueues(RealNumRxQueues);

    protected override void DisposeCore()
    {
        foreach (var c in _channels) c.Dispose();
        Dma.Dispose();
    }

    // ---------------------------------------------------------------- ethtool

    protected override bool SupportsTcpDataSplit => true;

    protected override EthtoolRingParam GetRingParamCore() => new()
    {
        RxPending = _rxRingSize,
        TxPending = _txRingSize,
        RxMaxPending = MaxRingSize,
        TxMaxPending = MaxRingSize,
        RxBufLen = PageArena.PageSize,
        TcpDataSplitActive = SplitActive,
        HdsThreshMax = VirtualNicRxRing.HdsThreshMax,
    };

    protected override Errno SetRingParamCore(EthtoolRingParam wanted)
    {
        int oldRx = _rxRingSize, oldTx = _txRingSize;
        _rxRingSize = wanted.RxPending;
        _txRingSize = wanted.TxPending;
        if (!IsUp) return Errno.None;
        // New rings for every queue, one queue at a time through the queue management API.
        for (int i = 0; i < RealNumRxQueues; i++)
        {
            var q = GetRxQueue(i);
            var err = RestartRxQueue(q);
            if (err != Errno.None)
            {
                _rxRingSize = oldRx;
                _txRingSize = oldTx;
                for (int j = 0; j < i; j++) RestartRxQueue(GetRxQueue(j));
                return err;
            }
        }
        return Errno.None;
    }

    protected override Errno SetChannelsCore(int combined)
    {
        bool up = IsUp;
        if (up) StopCore();
        SetRealNumQueues(combined);
        if (up)
        {
            var err = OpenCore();
            if (err != Errno.None) return err;
        }
        return Errno.None;
    }

    protected override void ChangeMtu(int newMtu)
    {
        // Buffers are pages and frames may span several, so no ring change is needed for a new MTU.
    }

    // ---------------------------------------------------------------- transmit

    protected override NetdevTxResult StartXmit(NetdevTxQueue queue, SkBuff skb) => _tx[queue.Index].Xmit(skb);

    internal void PutOnWire(WireFrame frame) => _wire?.Transmit(frame);

    // ---------------------------------------------------------------- receive (the device side)

    /// <summary>
    /// A frame arrives from the wire: MAC filter, parse, ntuple or RSS queue selection, checksum check,
    /// DMA into the chosen queue's posted buffers, interrupt.
    /// </summary>
    void IWireSink.Transmit(WireFrame frame)
    {
        if (!IsUp)
        {
            CountDrop(SkbDropReason.DevReady);
            return;
        }
        int len = frame.Length;
        if (len < 14)
        {
            CountDrop(SkbDropReason.PktTooSmall);
            return;
        }
        if (len > Mtu + 18)
        {
            CountDrop(SkbDropReason.PktTooBig);
            return;
        }
        Span<byte> hdr = stackalloc byte[256];
        hdr = hdr[..Math.Min(len, 256)];
        frame.CopyTo(0, hdr);
        var feats = Features;
        var dst = EthernetAddress.Read(hdr);
        if (dst != Address && dst.IsUnicast && (feats & NetdevFeatures.Promisc) == 0)
        {
            CountDrop(SkbDropReason.OtherHost);
            return;
        }
        FlowDissector.Dissect(hdr, out var keys);
        int qi = SelectRxQueue(keys, out uint hash, out bool steered);
        if (qi < 0)
        {
            CountDrop(SkbDropReason.NotSpecified); // an ntuple rule with action drop
            return;
        }
        if (qi >= RealNumRxQueues) qi = 0;
        RxStatus flags = 0;
        if (hash != 0 && (feats & NetdevFeatures.RxHash) != 0) flags |= RxStatus.Hash | (keys.HasPorts ? RxStatus.HashL4 : 0);
        if (steered) flags |= RxStatus.Steered;
        if ((feats & NetdevFeatures.RxCsum) != 0) flags |= VerifyChecksums(frame, hdr, keys);

        var ch = _channels[qi];
        bool ok;
        var ring = ch.Ring;
        if (ring is null)
        {
            CountDrop(SkbDropReason.QueueStopped);
            return;
        }
        lock (ring.HwLock)
        {
            ok = ring.HwReceive(frame, keys, hash, flags);
            if (ok) ring.Queue.Stats.Interrupts++;
        }
        if (ok) ch.Napi.Schedule();
    }

    /// <summary>The device's checksum engine: IPv4 header and TCP/UDP checksums, read in place.</summary>
    private static RxStatus VerifyChecksums(WireFrame frame, ReadOnlySpan<byte> hdr, in FlowKeys k)
    {
        if (!k.IsIpv4) return 0;
        var ip = hdr[k.NetworkOffset..];
        int ihl = (ip[0] & 0xF) * 4;
        if (InetChecksum.Fold(InetChecksum.Partial(ip[..ihl])) != 0) return RxStatus.IpCsumBad;
        var st = RxStatus.IpCsumOk;
        if (!k.HasPorts) return st;
        int l4len = k.IpTotalLength - ihl;
        if (l4len < 8 || k.NetworkOffset + k.IpTotalLength > frame.Length) return st;
        if (k.IpProto == FlowDissector.IpProtoUdp && hdr[k.TransportOffset + 6] == 0 && hdr[k.TransportOffset + 7] == 0)
            return st | RxStatus.L4CsumOk; // UDP without a checksum
        uint sum = VirtualNicTxRing.PseudoHeaderSum(k.SrcAddr, k.DstAddr, k.IpProto, l4len);
        sum = frame.Checksum(k.TransportOffset, l4len, sum);
        return st | (InetChecksum.Fold(sum) == 0 ? RxStatus.L4CsumOk : RxStatus.L4CsumBad);
    }

    // ---------------------------------------------------------------- polling helpers

    /// <summary>Polls every RX queue's NAPI on the calling thread until all are idle (deterministic mode). Returns frames processed.</summary>
    public long PollAll()
    {
        long total = 0;
        for (int i = 0; i < RealNumRxQueues; i++) total += _channels[i].Napi.RunUntilIdle();
        return total;
    }

    /// <summary>The RX ring of queue <paramref name="index"/> (tests and introspection).</summary>
    internal VirtualNicRxRing? GetRing(int index) => _channels[index].Ring;

    // ---------------------------------------------------------------- queue management

    /// <summary>The queue management ops (rule 7): a queue restarts with new memory while the others run.</summary>
    private sealed class QueueMgmt(VirtualNic nic) : IQueueMgmtOps
    {
        /// <summary>Fault injection for tests: the next QueueStart (of <see cref="FaultQueue"/>, or any queue when -1) fails with this errno.</summary>
        public Errno FailNextStart;
        public Errno FailNextAlloc;
        /// <summary>Fault injection for tests: the next allocation leaves out ALLOW_UNREADABLE_NETMEM (a driver that drops the provider).</summary>
        public bool DropNextProvider;
        public int FaultQueue = -1;

        private bool Hit(NetdevRxQueue queue) => FaultQueue < 0 || FaultQueue == queue.Index;

        public Errno QueueMemAlloc(NetdevRxQueue queue, out INetdevQueueMem? mem)
        {
            mem = null;
            if (FailNextAlloc != Errno.None && Hit(queue)) { var e = FailNextAlloc; FailNextAlloc = Errno.None; return e; }
            bool unreadable = nic.SplitActive;
            if (DropNextProvider && Hit(queue)) { unreadable = false; DropNextProvider = false; }
            var ch = nic._channels[queue.Index];
            VirtualNicRxRing ring;
            try
            {
                ring = new VirtualNicRxRing(nic, queue, RoundUpPow2(nic._rxRingSize), nic.SplitActive, nic.HdsThresh, ch.Napi, unreadable);
            }
            catch (NetmemErrnoException ex)
            {
                return ex.Errno;
            }
            if (!ring.Refill() && ring.Posted == 0)
            {
                ring.Free();
                return Errno.ENOMEM;
            }
            mem = ring;
            return Errno.None;
        }

        public void QueueMemFree(NetdevRxQueue queue, INetdevQueueMem mem) => ((VirtualNicRxRing)mem).Free();

        public Errno QueueStart(NetdevRxQueue queue, INetdevQueueMem mem)
        {
            if (FailNextStart != Errno.None && Hit(queue)) { var e = FailNextStart; FailNextStart = Errno.None; return e; }
            Start(queue, (VirtualNicRxRing)mem);
            return Errno.None;
        }

        internal void Start(NetdevRxQueue queue, VirtualNicRxRing ring)
        {
            var ch = nic._channels[queue.Index];
            ch.Attach(ring);
            queue.Napi = ch.Napi;
            queue.PagePool = ring.DataPool;
            queue.HeaderPagePool = ring.HeaderPool;
            lock (ring.HwLock) ring.Running = true;
            queue.IsStarted = true;
            ch.Napi.Enable();
            if (nic._threaded && !ch.Napi.IsThreaded) ch.Napi.Start();
            if (ring.HasCompleted) ch.Napi.Schedule();
        }

        public Errno QueueStop(NetdevRxQueue queue, out INetdevQueueMem? oldMem)
        {
            var ch = nic._channels[queue.Index];
            var ring = ch.Ring;
            oldMem = ring;
            if (ring is null) return Errno.EINVAL;
            lock (ring.HwLock) ring.Running = false; // the device stops writing
            ch.Napi.Stop();
            ch.Napi.Disable();                      // waits for a poll in progress
            ch.Attach(null);
            queue.IsStarted = false;
            queue.PagePool = null;
            queue.HeaderPagePool = null;
            return Errno.None;
        }

        private static int RoundUpPow2(int n) => (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)n);
    }

    /// <summary>
    /// Test hook: makes the next queue start fail with <paramref name="startErrno"/>, the next memory
    /// allocation with <paramref name="allocErrno"/>, and with <paramref name="dropProvider"/> makes the next
    /// allocation create its data pool without ALLOW_UNREADABLE_NETMEM (a driver that silently drops the
    /// queue's memory provider). <paramref name="queue"/> limits the faults to one queue (-1: whichever comes next).
    /// </summary>
    internal void InjectQueueFault(Errno startErrno, Errno allocErrno = Errno.None, bool dropProvider = false, int queue = -1)
    {
        _qmgmt.FailNextStart = startErrno;
        _qmgmt.FailNextAlloc = allocErrno;
        _qmgmt.DropNextProvider = dropProvider;
        _qmgmt.FaultQueue = queue;
    }
}
