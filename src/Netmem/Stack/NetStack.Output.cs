using System.Buffers.Binary;
using Netmem.Devices;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack;

// ip_queue_xmit / ip_finish_output / ip_fragment / neigh_output: IPv4 output on the sending flow's context.
public sealed partial class NetStack
{
    /// <summary>
    /// <c>ip_queue_xmit</c> (see <see cref="IIpOutput.Output"/>): pushes the header, then, by size: sends
    /// as is, hands a GSO skb to a TSO device or segments it in software, fragments when DF is clear, or
    /// refuses with EMSGSIZE. Always consumes the skb.
    /// </summary>
    public Errno Output(SkBuff skb, in IpRoute route, Ipv4Address source, Ipv4Address destination, IpProtocol protocol,
        byte tos = 0, byte ttl = 64, bool dontFragment = true)
    {
        ArgumentNullException.ThrowIfNull(skb);
        Stats.Inc(IpMib.OutRequests);
        var iface = GetInterface(route.IfIndex);
        if (iface is null || !iface.IsUp)
        {
            Drop(skb, IpDropReason.NoRoute);
            return Errno.ENETUNREACH;
        }
        if (skb.Headroom < Ipv4Packet.MinHeaderLength + EthernetFrame.MinHeaderLength && skb.ExpandHead(HeaderRoom, 0) != Errno.None)
        {
            Drop(skb, IpDropReason.NoMemory);
            return Errno.ENOBUFS;
        }
        if (skb.Len + Ipv4Packet.MinHeaderLength > 65535 && skb.Shinfo.GsoSize == 0)
        {
            Drop(skb, IpDropReason.MessageTooBig);
            return Errno.EMSGSIZE;
        }
        int q = iface.CurrentQueue;
        if (q >= 0) skb.QueueMapping = (ushort)q;
        if (!skb.TransportHeaderWasSet) skb.ResetTransportHeader();
        var sh = skb.Shinfo;
        int segs = sh.GsoSize != 0 ? Math.Max(1, (int)sh.GsoSegs) : 1;
        var h = skb.Push(Ipv4Packet.MinHeaderLength);
        skb.ResetNetworkHeader();
        h[0] = 0x45;
        h[1] = tos;
        BinaryPrimitives.WriteUInt16BigEndian(h[2..], (ushort)Math.Min(skb.Len, 65535));
        BinaryPrimitives.WriteUInt16BigEndian(h[4..], SelectIdent(source, destination, protocol, segs));
        BinaryPrimitives.WriteUInt16BigEndian(h[6..], dontFragment ? (ushort)0x4000 : (ushort)0);
        h[8] = ttl;
        h[9] = (byte)protocol;
        h[10] = h[11] = 0;
        source.Write(h[12..]);
        destination.Write(h[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(h[10..], InetChecksum.Compute(h[..Ipv4Packet.MinHeaderLength]));
        return FinishOutput(iface, skb, route.NextHop, route.Mtu, dontFragment);
    }

    /// <summary><c>ip_finish_output</c>: GSO, fragmentation or straight to the neighbour.</summary>
    private Errno FinishOutput(NetInterface iface, SkBuff skb, Ipv4Address nextHop, int mtu, bool df)
    {
        var feats = iface.Device.Features;
        var sh = skb.Shinfo;
        if (sh.GsoSize != 0)
        {
            if ((feats & NetdevFeatures.Tso) != 0 && (sh.GsoType & SkbGsoType.TcpV4) != 0) return NeighOutput(iface, skb, nextHop);
            return SoftwareGso(iface, skb, nextHop, feats);
        }
        if (skb.Len > mtu)
        {
            if (df)
            {
                Stats.Inc(IpMib.FragFails);
                Drop(skb, IpDropReason.MessageTooBig);
                return Errno.EMSGSIZE;
            }
            return Fragment(iface, skb, nextHop, mtu);
        }
        if (skb.IpSummed == SkbChecksumState.Partial && (feats & NetdevFeatures.IpCsum) == 0)
        {
            var e = ChecksumHelp(skb);
            if (e != Errno.None) return e;
        }
        return NeighOutput(iface, skb, nextHop);
    }

    /// <summary>
    /// <c>ip_finish_output2</c>: broadcasts go to ff:ff:ff:ff:ff:ff, multicast to its mapped address,
    /// everything else through the neighbour table.
    /// </summary>
    private Errno NeighOutput(NetInterface iface, SkBuff skb, Ipv4Address nextHop)
    {
        if (iface.IsBroadcast(nextHop)) return iface.TransmitFrame(skb, EthernetAddress.Broadcast, EtherType.Ipv4);
        if (nextHop.IsMulticast)
        {
            // ip_eth_mc_map: 01:00:5e + the low 23 bits of the group.
            ulong mac = 0x01005E000000ul | (nextHop.ToUInt32() & 0x7FFFFF);
            return iface.TransmitFrame(skb, EthernetAddress.FromUInt64(mac), EtherType.Ipv4);
        }
        return iface.Neighbours.Output(skb, nextHop);
    }

    /// <summary>
    /// <c>skb_checksum_help</c>: resolves a CHECKSUM_PARTIAL skb in software (the device cannot, or the skb is
    /// about to be fragmented). Needs readable payload.
    /// </summary>
    internal Errno ChecksumHelp(SkBuff skb)
    {
        int start = skb.CsumStart - skb.Headroom;
        int field = start + skb.CsumOffset;
        if (skb.AnyUnreadable || start < 0 || field + 2 > skb.HeadLen)
        {
            Drop(skb, IpDropReason.Unreadable);
            return Errno.EINVAL;
        }
        var f = skb.Data.Slice(field, 2);
        // The field holds the pseudo-header sum; summing over it folds that in.
        uint sum = skb.Checksum(start, skb.Len - start);
        ushort c = InetChecksum.Fold(sum);
        if (c == 0) c = 0xFFFF; // CSUM_MANGLED_0: zero means "no checksum" to UDP
        BinaryPrimitives.WriteUInt16BigEndian(f, c);
        skb.IpSummed = SkbChecksumState.None;
        return Errno.None;
    }

    /// <summary>
    /// <c>ip_do_fragment</c>'s slow path: copies the header and each slice of payload into new skbs (the
    /// offsets multiples of 8, MF on all but the last), then frees the original.
    /// </summary>
    private Errno Fragment(NetInterface iface, SkBuff skb, Ipv4Address nextHop, int mtu)
    {
        if (skb.IpSummed == SkbChecksumState.Partial)
        {
            var e = ChecksumHelp(skb);
            if (e != Errno.None) { Stats.Inc(IpMib.FragFails); return e; }
        }
        if (skb.AnyUnreadable)
        {
            Stats.Inc(IpMib.FragFails);
            Drop(skb, IpDropReason.Unreadable);
            return Errno.EMSGSIZE;
        }
        const int hlen = Ipv4Packet.MinHeaderLength;
        Span<byte> hdr = stackalloc byte[hlen];
        skb.Data[..hlen].CopyTo(hdr);
        int left = skb.Len - hlen, ptr = hlen, offset = 0;
        int room = (mtu - hlen) & ~7;
        if (room <= 0)
        {
            Stats.Inc(IpMib.FragFails);
            Drop(skb, IpDropReason.MessageTooBig);
            return Errno.EMSGSIZE;
        }
        var cache = iface.CurrentCache;
        Errno result = Errno.None;
        while (left > 0)
        {
            int len = Math.Min(left, room);
            var frag = cache.Alloc(HeaderRoom + hlen + len);
            if (frag is null)
            {
                Stats.Inc(IpMib.FragFails);
                Drop(skb, IpDropReason.NoMemory);
                return Errno.ENOBUFS;
            }
            frag.Reserve(HeaderRoom);
            frag.QueueMapping = skb.QueueMapping;
            var fh = frag.Put(hlen);
            hdr.CopyTo(fh);
            skb.CopyBits(ptr, frag.Put(len));
            frag.ResetNetworkHeader();
            frag.SetTransportHeader(hlen);
            BinaryPrimitives.WriteUInt16BigEndian(fh[2..], (ushort)(hlen + len));
            BinaryPrimitives.WriteUInt16BigEndian(fh[6..], (ushort)((offset >> 3) | (left > len ? 0x2000 : 0)));
            fh[10] = fh[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(fh[10..], InetChecksum.Compute(fh));
            Stats.Inc(IpMib.FragCreates);
            var e = NeighOutput(iface, frag, nextHop);
            if (e != Errno.None) result = e;
            ptr += len;
            offset += len;
            left -= len;
        }
        Stats.Inc(IpMib.FragOKs);
        skb.Consume();
        return result;
    }

    /// <summary><c>skb_gso_segment</c> for TCPv4 when the device has no TSO; each segment goes out on its own.</summary>
    private Errno SoftwareGso(NetInterface iface, SkBuff skb, Ipv4Address nextHop, NetdevFeatures feats)
    {
        var segs = GsoSegment.TcpV4(skb, iface.CurrentCache, HeaderRoom, (feats & NetdevFeatures.IpCsum) != 0, out var why);
        if (segs is null)
        {
            Drop(skb, why);
            return why == IpDropReason.NoMemory ? Errno.ENOBUFS : Errno.EINVAL;
        }
        Stats.Inc(IpMib.GsoSegmented);
        skb.Consume();
        Errno result = Errno.None;
        while (segs is not null)
        {
            var next = segs.Next;
            segs.Next = null;
            var e = NeighOutput(iface, segs, nextHop);
            if (e != Errno.None) result = e;
            segs = next;
        }
        return result;
    }
}
