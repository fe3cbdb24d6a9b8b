using System.Buffers.Binary;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack;

// ip_rcv / ip_rcv_core / ip_local_deliver: IPv4 input on the RX queue's context.
public sealed partial class NetStack
{
    /// <summary>
    /// <c>ip_rcv</c>: checks the header (version, IHL, total length, header checksum, which the kernel always
    /// verifies in software because it is cheap), trims link padding, accepts only datagrams for this
    /// host, reassembles fragments and delivers to the registered transport. Every drop is counted;
    /// nothing here throws on wire input.
    /// </summary>
    internal void Ipv4Receive(NetInterface iface, int rxQueue, SkBuff skb)
    {
        Stats.Inc(IpMib.InReceives);
        if (!skb.PskbMayPull(Ipv4Packet.MinHeaderLength))
        {
            Drop(skb, skb.Len < Ipv4Packet.MinHeaderLength ? IpDropReason.InTruncated : IpDropReason.InHdrErrors);
            return;
        }
        var d = skb.Data;
        int ihl = (d[0] & 0x0F) * 4;
        if (d[0] >> 4 != 4 || ihl < Ipv4Packet.MinHeaderLength)
        {
            Drop(skb, IpDropReason.InHdrErrors);
            return;
        }
        if (!skb.PskbMayPull(ihl))
        {
            Drop(skb, skb.Len < ihl ? IpDropReason.InTruncated : IpDropReason.InHdrErrors);
            return;
        }
        d = skb.Data;
        if (InetChecksum.Compute(d[..ihl]) != 0)
        {
            Drop(skb, IpDropReason.InCsumErrors);
            return;
        }
        int totLen = BinaryPrimitives.ReadUInt16BigEndian(d[2..]);
        if (skb.Len < totLen)
        {
            Drop(skb, IpDropReason.InTruncated);
            return;
        }
        if (totLen < ihl)
        {
            Drop(skb, IpDropReason.InHdrErrors);
            return;
        }
        if (skb.Len > totLen)
        {
            skb.Trim(totLen); // pskb_trim_rcsum: Ethernet padding
            if (skb.IpSummed == SkbChecksumState.Complete) skb.IpSummed = SkbChecksumState.None;
        }
        skb.ResetNetworkHeader();
        skb.SetTransportHeader(ihl);
        d = skb.Data;

        var src = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(d[12..]));
        var dst = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(d[16..]));
        // ip_route_input: a host takes its own address and broadcasts; it forwards nothing.
        if (!iface.IsLocal(dst) && !iface.IsBroadcast(dst))
        {
            Drop(skb, IpDropReason.NotForUs);
            return;
        }
        if (src.IsMulticast || src.IsBroadcast || iface.IsBroadcast(src) || src.IsLoopback || iface.IsLocal(src))
        {
            Drop(skb, IpDropReason.MartianSource);
            return;
        }
        ushort frag = BinaryPrimitives.ReadUInt16BigEndian(d[6..]);
        if ((frag & 0x3FFF) != 0)
        {
            skb = iface.GetDefrag(rxQueue).Queue(skb, src, dst, BinaryPrimitives.ReadUInt16BigEndian(d[4..]), (IpProtocol)d[9], ihl, frag)!;
            if (skb is null) return;
            d = skb.Data;
        }
        LocalDeliver(iface, rxQueue, skb, src, dst);
    }

    /// <summary><c>ip_local_deliver_finish</c>: pulls the IPv4 header and hands the datagram to its transport.</summary>
    private void LocalDeliver(NetInterface iface, int rxQueue, SkBuff skb, Ipv4Address src, Ipv4Address dst)
    {
        var d = skb.Data;
        int ihl = (d[0] & 0x0F) * 4;
        var proto = (IpProtocol)d[9];
        var meta = new Ipv4Meta(src, dst, d[8], d[1], iface.Ifindex, rxQueue);
        var handler = GetHandler(proto);
        if (handler is null)
        {
            if (!iface.IsBroadcast(dst))
                Icmp.SendError(iface, skb, Icmpv4Message.DestinationUnreachable, (byte)Icmpv4Unreachable.ProtocolUnreachable, 0);
            Drop(skb, IpDropReason.UnknownProtocol);
            return;
        }
        skb.Pull(ihl);
        Stats.Inc(IpMib.InDelivers);
        handler.Receive(meta, skb);
    }

    internal void Drop(SkBuff skb, IpDropReason reason)
    {
        Stats.Drop(reason);
        skb.Free();
    }
}
