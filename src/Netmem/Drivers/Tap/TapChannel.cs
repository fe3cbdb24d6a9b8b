using System.Buffers.Binary;
using Netmem.Devices;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Drivers.Tap;

/// <summary>
/// One queue pair of a tap: its fd, the RX queue's NAPI context and skb cache, and the buffers posted
/// now. The NAPI poll is the driver's RX path (<c>tun_put_user</c> seen from the other side): readv
/// non-blocking into page_pool buffers until EAGAIN or the budget, validate the vnet header, build the
/// skb (head = first buffer, frags = the rest), <c>eth_type_trans</c>, <c>netif_receive_skb</c>.
/// </summary>
internal sealed unsafe class TapChannel : INapiPoller, IDisposable
{
    private readonly TapDevice _dev;
    private TapRxQueueMem? _mem;

    public TapChannel(TapDevice dev, int index, int fd)
    {
        _dev = dev;
        Index = index;
        Fd = fd;
        Napi = new Napi($"{dev.Name}-{index}", this);
        Napi.Disable(); // enabled when the queue starts
        // Readers on other threads free received skbs back here (skb_attempt_defer_free).
        Cache = new SkbCache(new SkbCacheOptions { Arena = dev.Arena, DeferMax = 64 });
        Cache.BindToNapi(Napi);
        Cache.DeferKick = () => Napi.Schedule();
    }

    public int Index { get; }
    /// <summary>The tap fd of this queue pair (RX and TX).</summary>
    public int Fd { get; }
    public Napi Napi { get; }
    public SkbCache Cache { get; }
    public TapQueueStats TapStats { get; } = new();
    public TapRxQueueMem? Mem => Volatile.Read(ref _mem);
    /// <summary>Set when a poll drains the fd: the interrupt thread may wait on poll(2) again.</summary>
    public ManualResetEventSlim Rearm { get; } = new(false);

    /// <summary>Attaches queue memory; called with NAPI disabled, so deferred frees are flushed here.</summary>
    public void Attach(TapRxQueueMem? mem)
    {
        Cache.DrainDeferredQuiesced();
        Volatile.Write(ref _mem, mem);
    }

    public int Poll(Napi napi, int budget)
    {
        Cache.DrainDeferred();
        var mem = Volatile.Read(ref _mem);
        if (mem is null) return 0;
        var queue = mem.Queue;
        var ts = TapStats;
        int want = _dev.RxBuffersWanted;
        int work = 0;
        bool drained = false;
        while (work < budget)
        {
            if (!mem.Refill(want) && mem.Posted == 0) break; // no memory: frames wait in the kernel's queue
            nint n = TapNative.Readv(Fd, mem.Iov, mem.Posted);
            if (n < 0)
            {
                int errno = TapNative.LastErrno;
                if (errno == TapNative.EAGAIN) { ts.RxEmptyReads++; drained = true; break; }
                if (errno == TapNative.EINTR) continue;
                work++; // the kernel consumed (and dropped) a frame either way
                if (errno is TapNative.EFAULT or TapNative.EINVAL)
                {
                    ts.RxOverruns++;
                    queue.Stats.HwDropOverruns++;
                    _dev.CountDrop(SkbDropReason.PktTooBig);
                    continue;
                }
                ts.RxReadErrors++;
                ts.RxLastErrno = errno;
                drained = true;
                break;
            }
            if (n == 0) { drained = true; break; }
            work++;
            ts.RxReads++;
            var skb = BuildSkb(mem, (int)n);
            if (skb is null) continue;
            if (_dev.RxFaults is { } faults) ReceiveWithFaults(faults, queue, skb);
            else _dev.ReceiveSkb(queue, skb);
        }
        if (drained || work < budget) Rearm.Set();
        return work;
    }

    /// <summary>
    /// Turns the <paramref name="n"/> bytes just read (vnet header + frame) into an skb, or drops the
    /// frame (counted) and leaves its buffers posted for the next read.
    /// </summary>
    internal SkBuff? BuildSkb(TapRxQueueMem mem, int n)
    {
        var queue = mem.Queue;
        var stats = queue.Stats;
        var ts = TapStats;
        var pool = mem.Pool;
        const int cap = TapRxQueueMem.BufCapacity;
        if (n < VirtioNetHdr.Size + EthernetFrame.MinHeaderLength)
        {
            _dev.CountDrop(SkbDropReason.PktTooSmall);
            return null;
        }
        if (n >= mem.Posted * cap)
        {
            // Every posted byte was written: the frame may have been cut short.
            ts.RxOverruns++;
            stats.HwDropOverruns++;
            _dev.CountDrop(SkbDropReason.PktTooBig);
            return null;
        }
        int bufs = (n + cap - 1) / cap;
        var b0 = mem.Buf(0);
        pool.DmaSyncNetmemForCpu(b0, 0, Math.Min(n, cap)); // rule 6: the kernel's copy is the device write
        byte* p0 = (byte*)b0.Address + TapRxQueueMem.BufOffset;
        VirtioNetHdr h = *(VirtioNetHdr*)p0;
        int frameLen = n - VirtioNetHdr.Size;
        int headLen = Math.Min(frameLen, cap - VirtioNetHdr.Size);
        var frame = new ReadOnlySpan<byte>(p0 + VirtioNetHdr.Size, headLen);

        var err = Validate(in h, frame, headLen);
        if (err != VirtioNetHdrError.None)
        {
            ts.RxBadVnetHdr++;
            ts.RxLastVnetHdrError = err;
            _dev.CountDrop(SkbDropReason.DevHdr);
            return null;
        }
        var feats = _dev.Features;
        var dst = EthernetAddress.Read(frame);
        if (dst.IsUnicast && dst != _dev.Address && (feats & NetdevFeatures.Promisc) == 0)
        {
            _dev.CountDrop(SkbDropReason.OtherHost);
            return null;
        }
        if (h.GsoType == VirtioNetHdr.GsoNone && frameLen > _dev.Mtu + 18)
        {
            _dev.CountDrop(SkbDropReason.PktTooBig);
            return null;
        }

        SkBuff skb;
        int packetEnd = 0;
        int splitAt = mem.Unreadable ? SplitPoint(frame, frameLen, out packetEnd) : 0;
        bool deviceVerified = false;
        if (splitAt > 0)
        {
            var split = BuildSplitSkb(mem, n, packetEnd, splitAt, (h.Flags & (VirtioNetHdr.FlagNeedsCsum | VirtioNetHdr.FlagDataValid)) == 0, out deviceVerified);
            if (split is null) return null;
            skb = split;
        }
        else
        {
            if (mem.Unreadable) stats.HdsWhole++;
            skb = Cache.Build(b0, 0, TapRxQueueMem.BufLen);
            skb.MarkForRecycle();
            skb.Reserve(SkBuff.NetSkbPad);
            skb.Put(headLen);
            int left = frameLen - headLen;
            for (int i = 1; i < bufs; i++)
            {
                var b = mem.Buf(i);
                int len = Math.Min(cap, left);
                pool.DmaSyncNetmemForCpu(b, 0, len);
                skb.AddRxFragNetmem(b, TapRxQueueMem.BufOffset, len, TapRxQueueMem.BufLen);
                left -= len;
            }
            mem.Take(bufs);
        }

        // virtio_net_hdr_to_skb: checksum state and GSO fields.
        if ((h.Flags & VirtioNetHdr.FlagNeedsCsum) != 0)
        {
            skb.IpSummed = SkbChecksumState.Partial;
            skb.CsumStart = (ushort)(SkBuff.NetSkbPad + h.CsumStart); // from the head
            skb.CsumOffset = h.CsumOffset;
            ts.RxCsumPartial++;
        }
        else if (((h.Flags & VirtioNetHdr.FlagDataValid) != 0 || deviceVerified) && (feats & NetdevFeatures.RxCsum) != 0)
        {
            skb.IpSummed = SkbChecksumState.Unnecessary;
            stats.CsumUnnecessary++;
        }
        else
        {
            skb.IpSummed = SkbChecksumState.None;
            stats.CsumNone++;
        }
        if (h.GsoType != VirtioNetHdr.GsoNone)
        {
            var sh = skb.Shinfo;
            int gt = h.GsoType & ~VirtioNetHdr.GsoEcn;
            var t = gt switch
            {
                VirtioNetHdr.GsoTcpV4 => SkbGsoType.TcpV4,
                VirtioNetHdr.GsoTcpV6 => SkbGsoType.TcpV6,
                _ => SkbGsoType.UdpL4,
            };
            if ((h.GsoType & VirtioNetHdr.GsoEcn) != 0) t |= SkbGsoType.TcpEcn;
            sh.GsoType = t | SkbGsoType.Dodgy; // the header came from user space's peer: untrusted
            sh.GsoSize = h.GsoSize;
            int hlen = GsoHeaderLength(frame, h.CsumStart, gt);
            sh.GsoSegs = hlen > 0 && frameLen > hlen ? (ushort)((frameLen - hlen + h.GsoSize - 1) / h.GsoSize) : (ushort)0;
            ts.RxGsoPackets++;
        }
        skb.QueueMapping = (ushort)queue.Index;
        EthTypeTrans(skb);
        if (skb.IpSummed == SkbChecksumState.Partial) skb.SetTransportHeader(h.CsumStart - EthernetFrame.MinHeaderLength);
        return skb;
    }

    /// <summary>
    /// Where the emulated DMA engine splits a frame (hds-thresh 0): after the Ethernet, IPv4 and TCP or UDP
    /// headers of an unfragmented IPv4 packet whose headers lie in the first staging buffer and that carries
    /// payload. 0 for anything else, which stays whole in host memory (a NIC's "cannot split" case).
    /// <paramref name="end"/> is where the IP packet ends (Ethernet padding after it is not payload).
    /// </summary>
    internal static int SplitPoint(ReadOnlySpan<byte> frame, int frameLen, out int end)
    {
        const int eth = EthernetFrame.MinHeaderLength;
        end = 0;
        if (frame.Length < eth + 20 || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != (ushort)EtherType.Ipv4) return 0;
        var ip = frame[eth..];
        int ihl = (ip[0] & 0xF) * 4;
        if (ip[0] >> 4 != 4 || ihl < 20) return 0;
        if ((BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x3FFF) != 0) return 0; // a fragment: no L4 header to split at
        int l4 = eth + ihl;
        int hlen = ip[9] switch
        {
            (byte)IpProtocol.Tcp when frame.Length >= l4 + 13 => l4 + (frame[l4 + 12] >> 4) * 4,
            (byte)IpProtocol.Udp => l4 + 8,
            _ => 0,
        };
        end = eth + BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        if (end > frameLen) return 0; // truncated: let the stack see (and drop) it whole
        if (hlen <= l4 || hlen > frame.Length || hlen >= end) return 0;
        if (ip[9] == (byte)IpProtocol.Tcp && hlen < l4 + 20) return 0;
        return hlen;
    }

    /// <summary>
    /// The emulated DMA engine's header split into a queue whose data pool took a memory provider: the frame
    /// sits in the staging buffers (the NIC's receive FIFO); its first <paramref name="hlen"/> bytes stay in
    /// buffer 0, which becomes the skb head, and the payload is written into net_iovs of the data pool only
    /// through the device's IOMMU (<see cref="DmaDevice.DeviceWrite"/> at each net_iov's DMA address), never
    /// through a CPU pointer. With <paramref name="verify"/> (the kernel vouched for no checksum) the engine
    /// checks the TCP/UDP checksum on the way, as a NIC's RX checksum offload does, since the stack cannot
    /// read the payload to check it. The other staging buffers stay posted. Null: dropped and counted.
    /// </summary>
    private SkBuff? BuildSplitSkb(TapRxQueueMem mem, int n, int packetEnd, int hlen, bool verify, out bool verified)
    {
        verified = false;
        const int cap = TapRxQueueMem.BufCapacity;
        var stats = mem.Queue.Stats;
        var data = mem.DataPool!;
        int payload = packetEnd - hlen;
        int nfrags = (payload + PageArena.PageSize - 1) / PageArena.PageSize;
        if (nfrags > SkBuff.MaxSkbFrags)
        {
            _dev.CountDrop(SkbDropReason.PktTooBig);
            return null;
        }
        int bufs = (n + cap - 1) / cap;
        for (int i = 1; i < bufs; i++) mem.Pool.DmaSyncNetmemForCpu(mem.Buf(i), 0, Math.Min(cap, n - i * cap)); // rule 6
        Span<NetmemRef> niovs = stackalloc NetmemRef[SkBuff.MaxSkbFrags];
        for (int i = 0; i < nfrags; i++)
        {
            niovs[i] = data.AllocNetmem();
            if (niovs[i].IsNull)
            {
                for (int j = 0; j < i; j++) data.PutNetmem(niovs[j], 0, allowDirect: true);
                stats.AllocFail++;
                _dev.CountDrop(SkbDropReason.Nomem);
                return null;
            }
        }
        var dma = _dev.Dma;
        uint sum = 0;
        int l4 = EthernetFrame.MinHeaderLength + (Staged(mem, EthernetFrame.MinHeaderLength, 1)[0] & 0xF) * 4;
        if (verify) sum = InetChecksum.Partial(Staged(mem, l4, hlen - l4)); // the L4 header (it lies in buffer 0)
        int done = 0;
        for (int i = 0; i < nfrags; i++)
        {
            int len = Math.Min(PageArena.PageSize, payload - done);
            for (int filled = 0; filled < len;)
            {
                var src = Staged(mem, hlen + done + filled, len - filled);
                dma.DeviceWrite(niovs[i].DmaAddr + (ulong)filled, src);
                if (verify) sum = InetChecksum.BlockAdd(sum, InetChecksum.Partial(src), hlen - l4 + done + filled);
                filled += src.Length;
            }
            done += len;
        }
        if (verify)
        {
            var ip = Staged(mem, EthernetFrame.MinHeaderLength, 20);
            var proto = (IpProtocol)ip[9];
            bool udpNoCsum = proto == IpProtocol.Udp && BinaryPrimitives.ReadUInt16BigEndian(Staged(mem, l4 + 6, 2)) == 0;
            ushort c = PseudoHeader.Checksum(new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(ip[12..])),
                new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(ip[16..])), proto, packetEnd - l4, sum);
            verified = c == 0 || udpNoCsum;
            if (!verified) stats.CsumBad++;
        }

        var skb = Cache.Build(mem.Buf(0), 0, TapRxQueueMem.BufLen);
        skb.MarkForRecycle();
        skb.Reserve(SkBuff.NetSkbPad);
        skb.Put(hlen);
        done = 0;
        for (int i = 0; i < nfrags; i++)
        {
            int len = Math.Min(PageArena.PageSize, payload - done);
            skb.AddRxFragNetmem(niovs[i], 0, len, PageArena.PageSize); // a net_iov: the skb becomes unreadable
            done += len;
        }
        mem.Take(1);
        stats.HdsSplit++;
        stats.Unreadable++;
        return skb;
    }

    /// <summary>Frame bytes [<paramref name="frameOffset"/>, ...) in the staging buffer that holds them, up to <paramref name="max"/> bytes (the device's view of its FIFO).</summary>
    private static ReadOnlySpan<byte> Staged(TapRxQueueMem mem, int frameOffset, int max)
    {
        const int cap = TapRxQueueMem.BufCapacity;
        int at = frameOffset + VirtioNetHdr.Size;
        int buf = at / cap, within = at % cap;
        return new ReadOnlySpan<byte>((byte*)mem.Buf(buf).Address + TapRxQueueMem.BufOffset + within, Math.Min(max, cap - within));
    }

    /// <summary>
    /// Fault injection on receive: loss frees the skb, a duplicate is a clone delivered after it, and
    /// corruption flips a bit in the frame's own RX buffer (nobody else holds it yet) after resolving a
    /// partial checksum, so the stack's checksum checks see the damage. GSO frames are not corrupted.
    /// </summary>
    private void ReceiveWithFaults(SkbFaultInjector faults, NetdevRxQueue queue, SkBuff skb)
    {
        var fault = faults.Decide();
        if ((fault & SkbFault.Drop) != 0)
        {
            skb.Free();
            return;
        }
        if ((fault & SkbFault.Corrupt) != 0 && !CorruptInPlace(faults, skb)) faults.CountCorruptSkipped();
        var dup = (fault & SkbFault.Duplicate) != 0 ? skb.Clone() : null;
        _dev.ReceiveSkb(queue, skb);
        if (dup is not null) _dev.ReceiveSkb(queue, dup);
    }

    private static bool CorruptInPlace(SkbFaultInjector faults, SkBuff skb)
    {
        if (skb.Shinfo.GsoSize != 0 || skb.Unreadable) return false;
        if (skb.IpSummed == SkbChecksumState.Partial)
        {
            int start = skb.CsumStart - skb.Headroom, field = start + skb.CsumOffset;
            if (start < 0 || field + 2 > skb.HeadLen) return false;
            ushort c = InetChecksum.Fold(skb.Checksum(start, skb.Len - start));
            if (c == 0 && skb.CsumOffset == 6) c = 0xFFFF; // UDP: zero would mean "no checksum"
            BinaryPrimitives.WriteUInt16BigEndian(skb.Data[field..], c);
            skb.IpSummed = SkbChecksumState.None;
        }
        if (!faults.PickBit(skb.Len, EthernetFrame.MinHeaderLength, out int at, out byte mask)) return true; // counted by PickBit
        if (at < skb.HeadLen)
        {
            skb.Data[at] ^= mask;
            return true;
        }
        int off = skb.HeadLen;
        foreach (ref readonly var f in skb.Frags)
        {
            if (at < off + f.Size)
            {
                ((byte*)f.FragAddress)[at - off] ^= mask;
                return true;
            }
            off += f.Size;
        }
        return false;
    }

    /// <summary>The checks <c>virtio_net_hdr_to_skb</c> makes before trusting a header.</summary>
    internal static VirtioNetHdrError Validate(in VirtioNetHdr h, ReadOnlySpan<byte> head, int headLen)
    {
        const int known = VirtioNetHdr.FlagNeedsCsum | VirtioNetHdr.FlagDataValid | VirtioNetHdr.FlagRscInfo;
        if ((h.Flags & ~known) != 0) return VirtioNetHdrError.UnknownFlags;
        if ((h.Flags & VirtioNetHdr.FlagNeedsCsum) != 0 && h.CsumStart + h.CsumOffset + 2 > headLen)
            return VirtioNetHdrError.BadCsumOffsets;
        int gt = h.GsoType & ~VirtioNetHdr.GsoEcn;
        if (gt == VirtioNetHdr.GsoNone)
            return h.GsoType != 0 ? VirtioNetHdrError.BadGso : VirtioNetHdrError.None; // ECN without a GSO type
        if (gt is not (VirtioNetHdr.GsoTcpV4 or VirtioNetHdr.GsoTcpV6 or VirtioNetHdr.GsoUdpL4) || h.GsoSize == 0)
            return VirtioNetHdrError.BadGso;
        if ((h.Flags & VirtioNetHdr.FlagNeedsCsum) == 0) return VirtioNetHdrError.GsoWithoutCsum;
        ushort etherType = BinaryPrimitives.ReadUInt16BigEndian(head[12..]);
        bool ok = gt switch
        {
            VirtioNetHdr.GsoTcpV4 => etherType == (ushort)EtherType.Ipv4,
            VirtioNetHdr.GsoTcpV6 => etherType == (ushort)EtherType.Ipv6,
            _ => etherType is (ushort)EtherType.Ipv4 or (ushort)EtherType.Ipv6,
        };
        return ok ? VirtioNetHdrError.None : VirtioNetHdrError.GsoProtocolMismatch;
    }

    /// <summary>Headers in front of the GSO payload: the transport header starts at csum_start.</summary>
    private static int GsoHeaderLength(ReadOnlySpan<byte> head, int csumStart, int gsoType)
    {
        if (gsoType == VirtioNetHdr.GsoUdpL4) return csumStart + 8;
        if (csumStart + 13 > head.Length) return 0;
        return csumStart + (head[csumStart + 12] >> 4) * 4;
    }

    /// <summary><c>eth_type_trans</c>: records the MAC header, sets the protocol and pulls the Ethernet header.</summary>
    private static void EthTypeTrans(SkBuff skb)
    {
        skb.ResetMacHeader();
        skb.Protocol = BinaryPrimitives.ReadUInt16BigEndian(skb.Data.Slice(12, 2));
        skb.Pull(EthernetFrame.MinHeaderLength);
        skb.ResetNetworkHeader();
    }

    public void Dispose()
    {
        Napi.Dispose();
        Cache.Dispose();
        Rearm.Dispose();
    }
}
