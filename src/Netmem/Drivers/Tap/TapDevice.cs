using System.Text;
using Netmem.Devices;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Drivers.Tap;

/// <summary>
/// A network device backed by a Linux tap (<c>/dev/net/tun</c> with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
/// IFF_MULTI_QUEUE and one fd per queue pair when there is more than one): the kernel side of the tap
/// is an ordinary interface the Linux stack sends through, and this side is our NIC. Frames are read
/// straight into page_pool buffers (readv, scattering a big frame over several frags) on the queue's
/// NAPI context, and written from the skb's own memory with one writev. The 12-byte virtio-net header
/// carries checksum offload and TSO both ways (<see cref="VirtioNetHdr"/>).
/// <para>
/// Device memory: readv needs host memory, so with tcp-data-split on and a memory provider on a queue the
/// driver plays an emulated NIC's DMA engine: it reads each frame into host staging buffers, keeps the
/// headers there (the skb head) and writes the payload into the provider's net_iovs only through the
/// device's IOMMU (<see cref="DmaDevice.DeviceWrite"/>), so the stack sees what a header-split NIC would
/// give it. Sending from device memory is not possible (unreadable frags are dropped as TxInvalid).
/// </para>
/// </summary>
public sealed unsafe class TapDevice : NetDevice
{
    /// <summary>The largest frame the kernel hands over with TSO: a 64 KiB IP packet and its Ethernet header.</summary>
    public const int MaxGsoFrame = 65535 + 14;
    private const NetdevFeatures OffloadFeatures = NetdevFeatures.Sg | NetdevFeatures.IpCsum | NetdevFeatures.Tso
        | NetdevFeatures.RxCsum | NetdevFeatures.Gro;
    private static int s_macSeq;

    private readonly TapChannel[] _channels;
    private readonly TapTxQueue[] _tx;
    private readonly TapIrqThread?[] _irq;
    private readonly QueueMgmt _qmgmt;
    private readonly bool _isTun;
    private readonly bool _threaded;
    private readonly bool _uso;
    private int _rxBufs;
    private uint _tunOffload = uint.MaxValue;

    private TapDevice(string name, int[] fds, TapOptions o, bool isTun)
        : base(name, fds.Length, fds.Length)
    {
        _isTun = isTun;
        _threaded = o.ThreadedNapi;
        _uso = o.UdpSegmentationOffload;
        Persistent = o.Persist;
        Arena = o.Arena ?? PageArena.Shared;
        Dma = new DmaDevice(name);
        HwFeatures = OffloadFeatures | NetdevFeatures.Promisc;
        SetAddress(o.Address ?? EthernetAddress.LocalUnicast(0x4e_0000u | (uint)(Interlocked.Increment(ref s_macSeq) & 0xFFFF)));
        SetMtu(o.Mtu);
        _qmgmt = new QueueMgmt(this);
        _channels = new TapChannel[fds.Length];
        _tx = new TapTxQueue[fds.Length];
        _irq = new TapIrqThread?[fds.Length];
        for (int i = 0; i < fds.Length; i++)
        {
            _channels[i] = new TapChannel(this, i, fds[i]);
            _tx[i] = new TapTxQueue(this, TxQueueAt(i), _channels[i]);
        }
        InitFeatures(o.Offloads ? OffloadFeatures : NetdevFeatures.Sg);
        ApplyOffload(Features);
        Carrier = true; // the fd is attached: the kernel side sees carrier as soon as it is up
    }

    /// <summary>
    /// Creates the tap (TUNSETIFF with IFF_TUN_EXCL, so an existing interface of that name is never
    /// taken over), sets the vnet header size on every fd and the offloads, and returns the device (down;
    /// call <see cref="NetDevice.Open"/>). Errors carry the kernel's errno: EPERM without CAP_NET_ADMIN,
    /// EBUSY for a name in use, ENOENT without /dev/net/tun.
    /// </summary>
    public static TapDevice Create(TapOptions? options = null)
    {
        options ??= new TapOptions();
        ArgumentException.ThrowIfNullOrEmpty(options.Name);
        if (Encoding.UTF8.GetByteCount(options.Name) >= TapNative.IFNAMSIZ)
            throw new ArgumentException($"interface name '{options.Name}' is longer than {TapNative.IFNAMSIZ - 1} bytes", nameof(options));
        if (options.Queues < 1 || options.Queues > 256)
            throw new ArgumentOutOfRangeException(nameof(options), $"tap queues must be 1..256, got {options.Queues}");
        var fds = new int[options.Queues];
        Array.Fill(fds, -1);
        string name = options.Name;
        try
        {
            for (int i = 0; i < fds.Length; i++)
            {
                int fd = TapNative.Open("/dev/net/tun", TapNative.O_RDWR | TapNative.O_NONBLOCK | TapNative.O_CLOEXEC);
                if (fd < 0) throw Fail("open /dev/net/tun", name);
                fds[i] = fd;
                TapNative.IfReq ifr = default;
                WriteName(ref ifr, name);
                ifr.Flags = (short)(TapNative.IFF_TAP | TapNative.IFF_NO_PI | TapNative.IFF_VNET_HDR
                    | (fds.Length > 1 ? TapNative.IFF_MULTI_QUEUE : 0) | (i == 0 ? TapNative.IFF_TUN_EXCL : 0));
                if (TapNative.Ioctl(fd, TapNative.TUNSETIFF, &ifr) < 0) throw Fail($"TUNSETIFF (queue {i})", name);
                if (i == 0) name = ReadName(ref ifr);
                int sz = VirtioNetHdr.Size;
                if (TapNative.Ioctl(fd, TapNative.TUNSETVNETHDRSZ, &sz) < 0) throw Fail($"TUNSETVNETHDRSZ {sz} (queue {i})", name);
            }
            if (options.Persist && TapNative.IoctlValue(fds[0], TapNative.TUNSETPERSIST, 1) < 0) throw Fail("TUNSETPERSIST", name);
            return new TapDevice(name, fds, options, isTun: true);
        }
        catch
        {
            foreach (int fd in fds) if (fd >= 0) TapNative.Close(fd);
            throw;
        }
    }

    /// <summary>
    /// A device over fds that already carry vnet-header framed packets, one packet per read (tests use a
    /// SOCK_SEQPACKET socketpair to play the kernel). No tun ioctls are issued. The device owns the fds.
    /// </summary>
    internal static TapDevice CreateOverFds(string name, int[] fds, TapOptions options) => new(name, fds, options, isTun: false);

    /// <summary>Whether a tap can be made here; <paramref name="reason"/> says why not.</summary>
    public static bool IsSupported(out string reason)
    {
        if (!OperatingSystem.IsLinux()) { reason = "TAP devices need Linux"; return false; }
        if (!File.Exists("/dev/net/tun")) { reason = "/dev/net/tun does not exist (no tun module, or not visible in this container)"; return false; }
        if (!Environment.IsPrivilegedProcess) { reason = "creating a tap needs root (CAP_NET_ADMIN)"; return false; }
        int fd = TapNative.Open("/dev/net/tun", TapNative.O_RDWR | TapNative.O_CLOEXEC);
        if (fd < 0) { reason = $"open /dev/net/tun failed: {TapNative.ErrnoText(TapNative.LastErrno)}"; return false; }
        TapNative.Close(fd);
        reason = "";
        return true;
    }

    private static NetmemErrnoException Fail(string what, string name)
    {
        int e = TapNative.LastErrno;
        string hint = e switch
        {
            1 => " (needs CAP_NET_ADMIN)",
            16 => " (an interface of that name exists)",
            2 => " (is the tun module loaded?)",
            _ => "",
        };
        return new NetmemErrnoException((Errno)e, $"tap {name}: {what} failed: {TapNative.ErrnoText(e)}{hint}");
    }

    private static void WriteName(ref TapNative.IfReq ifr, string name)
    {
        var b = Encoding.UTF8.GetBytes(name);
        for (int i = 0; i < b.Length; i++) ifr.Name[i] = b[i];
    }

    private static string ReadName(ref TapNative.IfReq ifr)
    {
        fixed (byte* p = ifr.Name)
            return Encoding.UTF8.GetString(new ReadOnlySpan<byte>(p, TapNative.IFNAMSIZ).TrimEnd((byte)0));
    }

    public override string DriverName => "tun";
    /// <summary>ETH_MAX_MTU less the Ethernet header and a VLAN tag, so a frame fits the 64 KiB read budget.</summary>
    public override int MaxMtu => 65535 - 18;
    public override DmaDevice Dma { get; }
    public PageArena Arena { get; }
    /// <summary>TUNSETPERSIST was set: the interface stays after the fds close.</summary>
    public bool Persistent { get; }
    public override IQueueMgmtOps? QueueMgmtOps => _qmgmt;
    /// <summary>
    /// Stack-side fault wrapper for frames read from the tap (loss, duplicate, corrupt), or null. The far
    /// end of a tap is the kernel, so there is no wire stage to put a <see cref="Phy.FaultInjector"/> in:
    /// the driver applies the faults itself. Default null.
    /// </summary>
    public SkbFaultInjector? RxFaults { get; set; }
    /// <summary>The same for frames written to the tap; a corrupted frame is a copy, the skb is untouched. Default null.</summary>
    public SkbFaultInjector? TxFaults { get; set; }
    /// <summary>The TUN_F_* bits last given to TUNSETOFFLOAD.</summary>
    public uint TunOffloadFlags => Volatile.Read(ref _tunOffload);
    /// <summary>Whether the kernel may hand over partial checksums and TSO frames.</summary>
    public bool OffloadsOn => (TunOffloadFlags & TapNative.TUN_F_CSUM) != 0;

    /// <summary>Buffers a read must have posted: a whole GSO frame with TSO on, else one MTU-sized frame.</summary>
    internal int RxBuffersWanted => Volatile.Read(ref _rxBufs);

    public Napi GetNapi(int index) => _channels[GetRxQueue(index).Index].Napi;
    /// <summary>The TAP driver's own counters of queue pair <paramref name="index"/>.</summary>
    public TapQueueStats GetTapStats(int index) => _channels[GetRxQueue(index).Index].TapStats;
    internal TapChannel GetChannel(int index) => _channels[index];

    // ---------------------------------------------------------------- offloads

    protected override void FeaturesChanged(NetdevFeatures features) => ApplyOffload(features);

    /// <summary>
    /// TUNSETOFFLOAD says what we accept from the kernel: partial checksums with RxCsum, TCPv4 TSO
    /// frames with Gro as well (and UDP GSO when asked). Zero when both are off, since a tap keeps its
    /// offloads otherwise (a persistent one across users).
    /// </summary>
    private void ApplyOffload(NetdevFeatures f)
    {
        uint flags = 0;
        if ((f & NetdevFeatures.RxCsum) != 0)
        {
            flags |= TapNative.TUN_F_CSUM;
            if ((f & NetdevFeatures.Gro) != 0)
            {
                flags |= TapNative.TUN_F_TSO4;
                if (_uso) flags |= TapNative.TUN_F_USO4 | TapNative.TUN_F_USO6; // the kernel wants both or neither
            }
        }
        if (_isTun && flags != _tunOffload && TapNative.IoctlValue(_channels[0].Fd, TapNative.TUNSETOFFLOAD, flags) < 0)
        {
            int e = TapNative.LastErrno;
            throw new NetmemErrnoException((Errno)e, $"{Name}: TUNSETOFFLOAD 0x{flags:x} failed: {TapNative.ErrnoText(e)}");
        }
        Volatile.Write(ref _tunOffload, flags);
        UpdateRxBuffers();
    }

    private void UpdateRxBuffers()
    {
        int maxFrame = (TunOffloadFlags & (TapNative.TUN_F_TSO4 | TapNative.TUN_F_USO4)) != 0 ? MaxGsoFrame : Mtu + 18;
        int need = (maxFrame + VirtioNetHdr.Size + TapRxQueueMem.BufCapacity - 1) / TapRxQueueMem.BufCapacity;
        // One more than the largest frame needs, so a frame that fills every posted byte is known to be cut.
        Volatile.Write(ref _rxBufs, Math.Min(need + 1, TapRxQueueMem.MaxBufs));
    }

    protected override void ChangeMtu(int newMtu)
    {
        // Our MTU only: the kernel side's is set with ip link inside its namespace. Reads post for the new size.
        int maxFrame = (TunOffloadFlags & (TapNative.TUN_F_TSO4 | TapNative.TUN_F_USO4)) != 0 ? MaxGsoFrame : newMtu + 18;
        int need = (maxFrame + VirtioNetHdr.Size + TapRxQueueMem.BufCapacity - 1) / TapRxQueueMem.BufCapacity;
        Volatile.Write(ref _rxBufs, Math.Min(need + 1, TapRxQueueMem.MaxBufs));
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
                _qmgmt.Start(q, (TapRxQueueMem)mem!);
            }
            foreach (var t in TxQueues) t.Napi = _channels[t.Index].Napi;
            if (_threaded)
                for (int i = 0; i < RealNumRxQueues; i++) _irq[i] = new TapIrqThread(_channels[i], Name);
        }
        catch
        {
            StopIrqs();
            StopRxQueues(started);
            throw;
        }
        return Errno.None;
    }

    protected override void StopCore()
    {
        StopIrqs();
        StopRxQueues(RealNumRxQueues);
    }

    private void StopIrqs()
    {
        for (int i = 0; i < _irq.Length; i++)
        {
            _irq[i]?.Dispose();
            _irq[i] = null;
        }
    }

    protected override void DisposeCore()
    {
        foreach (var t in _tx) t.Dispose();
        foreach (var c in _channels)
        {
            c.Dispose();
            TapNative.Close(c.Fd); // the last fd of a non-persistent tap removes the interface
        }
        Dma.Dispose();
    }

    // ---------------------------------------------------------------- ethtool

    protected override EthtoolRingParam GetRingParamCore() => new()
    {
        RxPending = RxBuffersWanted,
        TxPending = 1,
        RxMaxPending = TapRxQueueMem.MaxBufs,
        TxMaxPending = 1,
        RxBufLen = TapRxQueueMem.BufCapacity,
        TcpDataSplitActive = HdsConfig == TcpDataSplit.On,
        HdsThreshMax = 0, // the software split puts every splittable frame's headers apart (hds-thresh 0 only)
    };

    /// <summary>
    /// tcp-data-split is done in software (the emulated DMA engine in <see cref="TapChannel"/>), so it can be
    /// turned on: a queue whose data pool took a memory provider gets headers in host memory and payload
    /// in the provider's net_iovs.
    /// </summary>
    protected override bool SupportsTcpDataSplit => true;

    /// <summary>Ring sizes are fixed by the read size; a split change restarts the RX queues (new pools).</summary>
    protected override Errno SetRingParamCore(EthtoolRingParam wanted)
    {
        if (wanted.RxPending != RxBuffersWanted || wanted.TxPending != 1) return Errno.EOPNOTSUPP;
        if (!IsUp) return Errno.None;
        for (int i = 0; i < RealNumRxQueues; i++)
        {
            var err = RestartRxQueue(GetRxQueue(i));
            if (err != Errno.None) return err; // the core restores the split setting; queues already restarted keep the new pools
        }
        return Errno.None;
    }

    // ---------------------------------------------------------------- data path

    protected override NetdevTxResult StartXmit(NetdevTxQueue queue, SkBuff skb) => _tx[queue.Index].Xmit(skb);

    /// <summary>Schedules and polls every RX queue's NAPI on the calling thread until all are idle (deterministic mode). Returns frames read.</summary>
    public long PollAll()
    {
        long total = 0;
        for (int i = 0; i < RealNumRxQueues; i++)
        {
            var napi = _channels[i].Napi;
            if (napi.IsDisabled) continue;
            napi.Schedule();
            total += napi.RunUntilIdle();
        }
        return total;
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> for a frame on any RX queue (poll(2)); true when one is waiting.</summary>
    public bool WaitForRx(int timeoutMs)
    {
        int n = RealNumRxQueues;
        var fds = stackalloc TapNative.PollFd[n];
        for (int i = 0; i < n; i++) fds[i] = new TapNative.PollFd { Fd = _channels[i].Fd, Events = TapNative.POLLIN };
        int r = TapNative.Poll(fds, (nuint)n, timeoutMs);
        return r > 0;
    }

    // ---------------------------------------------------------------- queue management

    /// <summary>
    /// Queue management ops: a queue restarts with a fresh page_pool while the others run; the fd stays
    /// (frames wait in the kernel's queue meanwhile). readv fills host pages only; with split on, payload
    /// goes on to net_iovs through the IOMMU (<see cref="TapRxQueueMem"/>).
    /// </summary>
    private sealed class QueueMgmt(TapDevice dev) : IQueueMgmtOps
    {
        public Errno QueueMemAlloc(NetdevRxQueue queue, out INetdevQueueMem? mem)
        {
            mem = null;
            TapRxQueueMem m;
            try
            {
                m = new TapRxQueueMem(dev, queue, dev._channels[queue.Index].Napi);
            }
            catch (NetmemErrnoException ex)
            {
                return ex.Errno;
            }
            if (!m.Refill(dev.RxBuffersWanted))
            {
                m.Free();
                return Errno.ENOMEM;
            }
            mem = m;
            return Errno.None;
        }

        public void QueueMemFree(NetdevRxQueue queue, INetdevQueueMem mem) => ((TapRxQueueMem)mem).Free();

        public Errno QueueStart(NetdevRxQueue queue, INetdevQueueMem mem)
        {
            Start(queue, (TapRxQueueMem)mem);
            return Errno.None;
        }

        internal void Start(NetdevRxQueue queue, TapRxQueueMem mem)
        {
            var ch = dev._channels[queue.Index];
            ch.Attach(mem);
            queue.Napi = ch.Napi;
            queue.PagePool = mem.DataPool ?? mem.Pool;                    // where payload goes
            queue.HeaderPagePool = mem.DataPool is null ? null : mem.Pool; // with split: where headers go
            queue.IsStarted = true;
            ch.Napi.Enable();
            if (dev._threaded && !ch.Napi.IsThreaded) ch.Napi.Start();
            if (dev._threaded) ch.Napi.Schedule(); // frames may have queued while it was stopped
        }

        public Errno QueueStop(NetdevRxQueue queue, out INetdevQueueMem? oldMem)
        {
            var ch = dev._channels[queue.Index];
            oldMem = ch.Mem;
            if (oldMem is null) return Errno.EINVAL;
            ch.Napi.Stop();
            ch.Napi.Disable(); // waits for a poll in progress
            ch.Attach(null);
            queue.IsStarted = false;
            queue.PagePool = null;
            queue.HeaderPagePool = null;
            return Errno.None;
        }
    }
}
