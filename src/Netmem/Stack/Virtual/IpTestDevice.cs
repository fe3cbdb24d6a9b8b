using System.Buffers.Binary;
using Netmem.Devices;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack.Virtual;

/// <summary>One IPv4 datagram the stack sent, with the virtual time it left at.</summary>
public readonly record struct IpTestPacket(byte[] Bytes, long TimeUs);

/// <summary>Why the test device refused an injected packet, or one the stack sent (counted, never thrown).</summary>
public enum IpTestDrop
{
    Malformed,
    BadHeaderChecksum,
    NotForUs,
    Fragment,
    NoProtocol,
    NoMemory,
    /// <summary>Sent: net_iov frags that are not a TX binding's of this device (validate_xmit_unreadable_skb).</summary>
    UnreadableTx,
}

/// <summary>
/// An IP-level test device: no Ethernet, no ARP, one local address with a netmask and a gateway. Above,
/// it is the <see cref="IIpOutput"/> TCP sends through: every datagram is written out whole (IPv4 header
/// built, a CHECKSUM_PARTIAL TCP checksum filled as a device would, TSO skbs kept as one large datagram
/// as a GSO-capable tun device hands them to a sniffer) and queued with the virtual time it left at.
/// Below, <see cref="Inject"/> takes a complete IPv4 datagram and delivers it to the transport handler
/// (TCP segments; ICMP errors to the handler of the quoted protocol). It is the deterministic mode's
/// wire: packetdrill's netdev_send/netdev_receive and the unit tests both drive it.
/// </summary>
public sealed class IpTestDevice : IIpOutput
{
    private readonly Queue<IpTestPacket> _sent = new();
    private readonly Func<long> _now;
    private readonly long[] _drops = new long[Enum.GetValues<IpTestDrop>().Length];
    private ushort _ipId;

    public IpTestDevice(Ipv4Address local, int prefixLength, Ipv4Address gateway, Func<long> nowUs, int mtu = 1500,
        NetdevFeatures features = NetdevFeatures.Tso | NetdevFeatures.Sg | NetdevFeatures.IpCsum)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(prefixLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, 32);
        ArgumentOutOfRangeException.ThrowIfLessThan(mtu, 68);
        Local = local;
        PrefixLength = prefixLength;
        Gateway = gateway;
        _now = nowUs ?? throw new ArgumentNullException(nameof(nowUs));
        Mtu = mtu;
        Features = features;
    }

    public Ipv4Address Local { get; }
    public int PrefixLength { get; }
    public Ipv4Address Gateway { get; }
    public int Mtu { get; set; }
    public NetdevFeatures Features { get; set; }
    /// <summary>Where injected TCP segments go (a <c>TcpLayer</c>).</summary>
    public IIpProtocolHandler? Tcp { get; set; }
    /// <summary>Where injected UDP datagrams go, if anything listens.</summary>
    public IIpProtocolHandler? Udp { get; set; }
    /// <summary>Allocates the skbs injected datagrams are delivered in.</summary>
    public SkbCache? Cache { get; set; }
    /// <summary>
    /// Header/data split (tcp-data-split on) when set: an injected TCP segment's IP and TCP headers land in
    /// the skb's linear area and its payload in page_pool pages of this pool, as frags, the way a NIC with
    /// header split builds the skb (VirtualNic does the same with DMA). Null (default): the whole datagram
    /// is copied into the linear area.
    /// </summary>
    public PagePool? DataPool { get; set; }
    /// <summary>
    /// The IOMMU payload is written through when <see cref="DataPool"/> hands out net_iovs (it took a memory
    /// provider, a dma-buf binding): the CPU never writes that memory (set by <see cref="IpTestNetdev"/>).
    /// </summary>
    public DmaDevice? Dma { get; set; }
    /// <summary>
    /// The <see cref="NetDevice"/> face (<see cref="IpTestNetdev"/>, which sets it): routes name its ifindex, and
    /// devmem TX validates net_iov frags against its TX bindings and reads them through <see cref="Dma"/>.
    /// </summary>
    public NetDevice? Netdev { get; set; }
    /// <summary>Sent segments whose payload the device read from device memory (net_iov frags of a TX binding).</summary>
    public long UnreadableSent { get; private set; }
    /// <summary>Segments whose payload went into device memory (unreadable skbs).</summary>
    public long Unreadable { get; private set; }
    /// <summary>Segments delivered split (headers linear, payload in <see cref="DataPool"/> frags).</summary>
    public long HdsSplit { get; private set; }
    public int SentCount => _sent.Count;
    public long Injected { get; private set; }
    public long Transmitted { get; private set; }
    public long Drops(IpTestDrop why) => _drops[(int)why];

    public int MaxHeaderRoom => 64;

    private uint Mask => PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);

    public Errno Route(Ipv4Address destination, Ipv4Address source, out IpRoute route)
    {
        route = default;
        if (!source.IsUnspecified && source != Local) return Errno.EADDRNOTAVAIL;
        if (destination.IsUnspecified) return Errno.ENETUNREACH;
        bool onLink = (destination.ToUInt32() & Mask) == (Local.ToUInt32() & Mask);
        if (!onLink && Gateway.IsUnspecified) return Errno.ENETUNREACH;
        // GSO (software segmentation here) lets TCP build the same large skbs as TSO does, as Linux's TCP always does.
        route = new IpRoute(Local, onLink ? destination : Gateway, Netdev?.Ifindex ?? 1, Mtu, Features, (Features & (NetdevFeatures.Tso | NetdevFeatures.Gso)) != 0 ? 65536 : 0);
        return Errno.None;
    }

    public Errno Output(SkBuff skb, in IpRoute route, Ipv4Address source, Ipv4Address destination, IpProtocol protocol,
        byte tos = 0, byte ttl = 64, bool dontFragment = true)
    {
        int len = skb.Len;
        if (len + Ipv4Packet.MinHeaderLength > ushort.MaxValue) { skb.Free(); return Errno.EMSGSIZE; }
        var bytes = new byte[Ipv4Packet.MinHeaderLength + len];
        var ip = bytes.AsSpan(0, Ipv4Packet.MinHeaderLength);
        ip[0] = 0x45;
        ip[1] = tos;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)bytes.Length);
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], _ipId++);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], (ushort)(dontFragment ? 0x4000 : 0));
        ip[8] = ttl;
        ip[9] = (byte)protocol;
        source.Write(ip[12..]);
        destination.Write(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InetChecksum.Compute(ip));
        var payload = bytes.AsSpan(Ipv4Packet.MinHeaderLength);
        if (skb.AnyUnreadable)
        {
            // Device memory: the device reads it by DMA, as a NIC with netmem TX does; nothing is copied by the CPU.
            if (Netdev is null || Dma is null || Netmem.Dmabuf.NetmemTxValidation.Validate(Netdev, skb) != SkbDropReason.NotSpecified)
            {
                _drops[(int)IpTestDrop.UnreadableTx]++;
                skb.Free();
                return Errno.None; // a driver drop: TCP's retransmission timer finds out
            }
            ReadByDma(skb, payload);
            UnreadableSent++;
        }
        else
        {
            // The frame leaves as a copy (as tun's write to its reader does): a zero-copy sender's completion says COPIED.
            SkbZerocopy.MarkCopied(skb);
            skb.CopyBits(0, payload);
        }
        if (skb.IpSummed == SkbChecksumState.Partial && protocol == IpProtocol.Tcp && len >= TcpPacket.MinHeaderLength)
        {
            payload[16] = payload[17] = 0; // the device fills the checksum (CHECKSUM_PARTIAL)
            BinaryPrimitives.WriteUInt16BigEndian(payload[16..],
                PseudoHeader.Checksum(source, destination, protocol, len, InetChecksum.Partial(payload)));
        }
        int gsoSize = skb.Shinfo.GsoSize;
        skb.Free();
        if (gsoSize > 0 && (Features & NetdevFeatures.Tso) == 0 && protocol == IpProtocol.Tcp) { Segment(bytes, gsoSize); return Errno.None; }
        Transmitted++;
        _sent.Enqueue(new IpTestPacket(bytes, _now()));
        return Errno.None;
    }

    /// <summary>The head by the CPU (headers are always readable), each frag by DMA through <see cref="Dma"/>: net_iovs at their binding's address, pages mapped for the read.</summary>
    private void ReadByDma(SkBuff skb, Span<byte> to)
    {
        var dma = Dma!;
        int off = skb.HeadLen;
        skb.CopyBits(0, to[..off]);
        foreach (ref readonly var f in skb.Frags)
        {
            if (f.Size == 0) continue;
            if (f.Netmem.IsNetIov) dma.DeviceRead(f.Netmem.DmaAddr + (ulong)f.Offset, to.Slice(off, f.Size));
            else
            {
                ulong iova = dma.MapPage(f.Netmem, f.Offset, f.Size, DmaDirection.ToDevice);
                dma.DeviceRead(iova, to.Slice(off, f.Size));
                dma.UnmapPage(iova, f.Size, DmaDirection.ToDevice);
            }
            off += f.Size;
        }
    }

    /// <summary>
    /// <c>skb_gso_segment</c> for a device without TSO: the TCP datagram goes out as one datagram per
    /// <paramref name="mss"/> payload bytes, each with its own IP ID and checksums; PSH and FIN stay on
    /// the last segment only, CWR on the first (tcp_gso_segment).
    /// </summary>
    private void Segment(byte[] whole, int mss)
    {
        const int ipLen = Ipv4Packet.MinHeaderLength;
        int thl = (whole[ipLen + 12] >> 4) * 4;
        int payload = whole.Length - ipLen - thl;
        uint seq = BinaryPrimitives.ReadUInt32BigEndian(whole.AsSpan(ipLen + 4));
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(whole.AsSpan(4));
        var source = Ipv4Address.Read(whole.AsSpan(12));
        var destination = Ipv4Address.Read(whole.AsSpan(16));
        for (int off = 0, i = 0; off < payload; off += mss, i++)
        {
            int n = Math.Min(mss, payload - off);
            var seg = new byte[ipLen + thl + n];
            whole.AsSpan(0, ipLen + thl).CopyTo(seg);
            whole.AsSpan(ipLen + thl + off, n).CopyTo(seg.AsSpan(ipLen + thl));
            BinaryPrimitives.WriteUInt16BigEndian(seg.AsSpan(2), (ushort)seg.Length);
            BinaryPrimitives.WriteUInt16BigEndian(seg.AsSpan(4), (ushort)(id + i));
            seg[10] = seg[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(seg.AsSpan(10), InetChecksum.Compute(seg.AsSpan(0, ipLen)));
            var tcp = seg.AsSpan(ipLen);
            BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq + (uint)off);
            if (off + n < payload) tcp[13] &= unchecked((byte)~(byte)(TcpFlags.Psh | TcpFlags.Fin));
            if (i > 0) tcp[13] &= unchecked((byte)~(byte)TcpFlags.Cwr);
            tcp[16] = tcp[17] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], PseudoHeader.Checksum(source, destination, IpProtocol.Tcp, tcp.Length, InetChecksum.Partial(tcp)));
            Transmitted++;
            _sent.Enqueue(new IpTestPacket(seg, _now()));
        }
    }

    /// <summary>Takes the oldest packet the stack sent, if any.</summary>
    public bool TryTakeSent(out IpTestPacket packet) => _sent.TryDequeue(out packet);

    /// <summary>Drops everything the stack sent that nobody took.</summary>
    public void ClearSent() => _sent.Clear();

    /// <summary>
    /// Delivers one IPv4 datagram to the stack, as if it had arrived from the wire. Returns false (and
    /// counts why) when it is malformed, not addressed here, a fragment, or for a protocol nobody handles.
    /// </summary>
    public bool Inject(ReadOnlySpan<byte> datagram)
    {
        Injected++;
        if (Ipv4Packet.TryCreate(datagram, out var ip) != ParseResult.Ok || ip.Version != 4) return Drop(IpTestDrop.Malformed);
        if (!ip.VerifyChecksum()) return Drop(IpTestDrop.BadHeaderChecksum);
        if (ip.Destination != Local) return Drop(IpTestDrop.NotForUs);
        if (ip.IsFragment) return Drop(IpTestDrop.Fragment);
        var meta = new Ipv4Meta(ip.Source, ip.Destination, ip.TimeToLive, (byte)(datagram[1]), 1, 0);
        var payload = ip.Payload;
        switch (ip.Protocol)
        {
            case IpProtocol.Tcp when Tcp is not null && DataPool is not null && SplitPoint(payload) is int thl and > 0:
                return DeliverSplit(Tcp, meta, datagram[..ip.TotalLength], ip.HeaderLength, ip.HeaderLength + thl);
            case IpProtocol.Tcp when Tcp is not null: return Deliver(Tcp, meta, datagram[..ip.TotalLength], ip.HeaderLength);
            case IpProtocol.Udp when Udp is not null: return Deliver(Udp, meta, datagram[..ip.TotalLength], ip.HeaderLength);
            case IpProtocol.Icmp: return IcmpError(meta, payload);
            default: return Drop(IpTestDrop.NoProtocol);
        }
    }

    private bool Deliver(IIpProtocolHandler handler, in Ipv4Meta meta, ReadOnlySpan<byte> datagram, int ihl)
    {
        var cache = Cache ?? throw new InvalidOperationException("IpTestDevice.Cache must be set before packets are injected");
        var skb = cache.Alloc(datagram.Length + SkBuff.NetSkbPad);
        if (skb is null) return Drop(IpTestDrop.NoMemory);
        skb.Reserve(SkBuff.NetSkbPad);
        datagram.CopyTo(skb.Put(datagram.Length));
        skb.ResetNetworkHeader();
        skb.Pull(ihl);
        skb.ResetTransportHeader();
        skb.IpSummed = SkbChecksumState.None; // the handler verifies, as for a device without RX checksum
        handler.Receive(meta, skb);
        return true;
    }

    // The TCP header length when the segment has payload to split off; 0 otherwise (pure ACKs, and
    // segments too short or with a bad data offset go whole, for TCP to count as malformed).
    private static int SplitPoint(ReadOnlySpan<byte> tcp)
    {
        if (tcp.Length < TcpPacket.MinHeaderLength) return 0;
        int thl = (tcp[12] >> 4) * 4;
        return thl >= TcpPacket.MinHeaderLength && thl < tcp.Length ? thl : 0;
    }

    private bool DeliverSplit(IIpProtocolHandler handler, in Ipv4Meta meta, ReadOnlySpan<byte> datagram, int ihl, int headerLen)
    {
        var cache = Cache ?? throw new InvalidOperationException("IpTestDevice.Cache must be set before packets are injected");
        var pool = DataPool!;
        var payload = datagram[headerLen..];
        if ((payload.Length + PageArena.PageSize - 1) / PageArena.PageSize > SkBuff.MaxSkbFrags)
            return Deliver(handler, meta, datagram, ihl); // more than a NIC would scatter: deliver it linear
        var skb = cache.Alloc(headerLen + SkBuff.NetSkbPad);
        if (skb is null) return Drop(IpTestDrop.NoMemory);
        skb.Reserve(SkBuff.NetSkbPad);
        datagram[..headerLen].CopyTo(skb.Put(headerLen));
        skb.MarkForRecycle();
        bool unreadable = pool.MemoryProvider is not null;
        if (unreadable && Dma is null) { skb.Free(); return Drop(IpTestDrop.NoMemory); } // no IOMMU to reach device memory
        for (int off = 0; off < payload.Length; off += PageArena.PageSize)
        {
            int n = Math.Min(PageArena.PageSize, payload.Length - off);
            var netmem = pool.AllocNetmem();
            if (netmem.IsNull)
            {
                skb.Free(); // returns the pages already attached
                return Drop(IpTestDrop.NoMemory);
            }
            if (Dma is { } dma)
            {
                // The DMA engine writes through the IOMMU (device memory is never CPU-written); pages are then synced for the CPU.
                dma.DeviceWrite(netmem.DmaAddr, payload.Slice(off, n));
                if (!netmem.IsNetIov) pool.DmaSyncNetmemForCpu(netmem, 0, n);
            }
            else payload.Slice(off, n).CopyTo(netmem.GetSpan(0, n));
            skb.AddRxFragNetmem(netmem, 0, n, PageArena.PageSize);
        }
        skb.ResetNetworkHeader();
        skb.Pull(ihl);
        skb.ResetTransportHeader();
        skb.IpSummed = SkbChecksumState.None;
        if (unreadable)
        {
            // The stack cannot read the payload to check it: the device does, as a NIC's RX checksum offload does.
            var tcp = datagram[ihl..];
            bool ok = PseudoHeader.Checksum(meta.Source, meta.Destination, IpProtocol.Tcp, tcp.Length, InetChecksum.Partial(tcp)) == 0;
            skb.IpSummed = ok ? SkbChecksumState.Unnecessary : SkbChecksumState.None;
            Unreadable++;
        }
        HdsSplit++;
        handler.Receive(meta, skb);
        return true;
    }

    // Destination unreachable and time exceeded go to the protocol of the quoted datagram (icmp_unreach).
    private bool IcmpError(in Ipv4Meta meta, ReadOnlySpan<byte> icmp)
    {
        if (icmp.Length < 8 + 20 + 8 || InetChecksum.Compute(icmp) != 0) return Drop(IpTestDrop.Malformed);
        var type = (Icmpv4Message)icmp[0];
        if (type is not (Icmpv4Message.DestinationUnreachable or Icmpv4Message.TimeExceeded)) return Drop(IpTestDrop.NoProtocol);
        var quoted = icmp[8..];
        int qihl = (quoted[0] & 0x0F) * 4;
        if (quoted[0] >> 4 != 4 || qihl < 20 || quoted.Length < qihl + 8) return Drop(IpTestDrop.Malformed);
        var handler = (IpProtocol)quoted[9] switch { IpProtocol.Tcp => Tcp, IpProtocol.Udp => Udp, _ => null };
        if (handler is null) return Drop(IpTestDrop.NoProtocol);
        uint info = type == Icmpv4Message.DestinationUnreachable && icmp[1] == (byte)Icmpv4Unreachable.FragmentationNeeded
            ? BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]) : 0u;
        var orig = new Ipv4Meta(Ipv4Address.Read(quoted[12..]), Ipv4Address.Read(quoted[16..]), quoted[8], quoted[1], meta.IfIndex, 0);
        handler.ReceiveIcmpError(orig, type, icmp[1], info, quoted[qihl..]);
        return true;
    }

    private bool Drop(IpTestDrop why)
    {
        _drops[(int)why]++;
        return false;
    }
}
