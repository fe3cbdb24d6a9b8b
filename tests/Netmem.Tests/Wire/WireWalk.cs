using Netmem.Wire;

namespace Netmem.Tests.Wire;

/// <summary>
/// Test helpers that drive every view and repr the way a receive path would: parse a frame layer by
/// layer, and read every getter of every view that accepts a buffer (for the never-throws properties).
/// </summary>
internal static class WireWalk
{
    /// <summary>Ethernet, then ARP or IPv4 and ICMP/UDP/TCP; the first failure, or Ok.</summary>
    public static ParseResult ParseFrame(ReadOnlySpan<byte> frame, bool verifyChecksums = true)
    {
        var r = EthernetFrame.TryCreate(frame, out var eth);
        if (r != ParseResult.Ok) return r;
        r = EthernetRepr.Parse(eth, out var ethRepr);
        if (r != ParseResult.Ok) return r;
        switch (ethRepr.EtherType)
        {
            case EtherType.Arp:
                r = ArpPacket.TryCreate(eth.Payload, out var arp);
                return r != ParseResult.Ok ? r : ArpRepr.Parse(arp, out _);
            case EtherType.Ipv4:
                r = Ipv4Packet.TryCreate(eth.Payload, out var ip);
                if (r != ParseResult.Ok) return r;
                r = Ipv4Repr.Parse(ip, out var ipRepr, verifyChecksums);
                if (r != ParseResult.Ok) return r;
                return ParseTransport(ip.Payload, ipRepr, verifyChecksums);
            default:
                return ParseResult.Unsupported;
        }
    }

    public static ParseResult ParseTransport(ReadOnlySpan<byte> payload, Ipv4Repr ip, bool verifyChecksums)
    {
        ParseResult r;
        switch (ip.Protocol)
        {
            case IpProtocol.Icmp:
                r = Icmpv4Packet.TryCreate(payload, out var icmp);
                return r != ParseResult.Ok ? r : Icmpv4Repr.Parse(icmp, out _, verifyChecksums);
            case IpProtocol.Udp:
                r = UdpPacket.TryCreate(payload, out var udp);
                return r != ParseResult.Ok ? r : UdpRepr.Parse(udp, ip.Source, ip.Destination, out _, verifyChecksums);
            case IpProtocol.Tcp:
                r = TcpPacket.TryCreate(payload, out var tcp);
                return r != ParseResult.Ok ? r : TcpRepr.Parse(tcp, ip.Source, ip.Destination, out _, verifyChecksums);
            default:
                return ParseResult.Unsupported;
        }
    }

    private static readonly Ipv4Address A = new(0xC0A80101);
    private static readonly Ipv4Address B = new(0xC0A80102);

    /// <summary>Offers <paramref name="bytes"/> to every format and reads everything a view exposes.</summary>
    public static int TouchEverything(ReadOnlySpan<byte> bytes) =>
        TouchEthernet(bytes) + TouchArp(bytes) + TouchIpv4(bytes) + TouchIcmpv4(bytes) + TouchUdp(bytes) + TouchTcp(bytes) + TouchTcpOptions(bytes);

    public static int TouchEthernet(ReadOnlySpan<byte> bytes)
    {
        if (EthernetFrame.TryCreate(bytes, out var eth) != ParseResult.Ok) return 0;
        int acc = eth.Destination.GetHashCode() + eth.Source.GetHashCode() + (eth.HasVlanTag ? 1 : 0) + (eth.VlanTag?.Id ?? 0)
            + eth.HeaderLength + (int)eth.EtherType + eth.Payload.Length + eth.Buffer.Length;
        _ = EthernetRepr.Parse(eth, out _);
        return acc + (int)ParseFrame(bytes) + (int)ParseFrame(bytes, verifyChecksums: false);
    }

    public static int TouchArp(ReadOnlySpan<byte> bytes)
    {
        if (ArpPacket.TryCreate(bytes, out var arp) != ParseResult.Ok) return 0;
        int acc = arp.HardwareType + (int)arp.ProtocolType + arp.HardwareLength + arp.ProtocolLength + (int)arp.Operation
            + arp.SenderHardwareAddress.GetHashCode() + arp.SenderProtocolAddress.GetHashCode()
            + arp.TargetHardwareAddress.GetHashCode() + arp.TargetProtocolAddress.GetHashCode() + arp.Buffer.Length;
        return acc + (int)ArpRepr.Parse(arp, out _);
    }

    public static int TouchIpv4(ReadOnlySpan<byte> bytes)
    {
        int acc = 0;
        if (Ipv4Packet.TryCreateHeader(bytes, out var quoted) == ParseResult.Ok)
            acc += quoted.Payload.Length + quoted.Options.Length + quoted.TotalLength + (int)Ipv4Repr.Parse(quoted, out _, verifyChecksum: false);
        if (Ipv4Packet.TryCreate(bytes, out var ip) != ParseResult.Ok) return acc;
        acc += ip.Version + ip.HeaderLength + ip.Dscp + ip.Ecn + ip.TotalLength + ip.Identification + (ip.ReservedFlag ? 1 : 0)
            + (ip.DontFragment ? 1 : 0) + (ip.MoreFragments ? 1 : 0) + ip.FragmentOffset + (ip.IsFragment ? 1 : 0) + ip.TimeToLive
            + (int)ip.Protocol + ip.Checksum + ip.Source.GetHashCode() + ip.Destination.GetHashCode() + ip.Options.Length
            + ip.Header.Length + ip.Payload.Length + ip.Buffer.Length + (ip.VerifyChecksum() ? 1 : 0);
        acc += (int)Ipv4Repr.Parse(ip, out _);
        if (Ipv4Repr.Parse(ip, out var repr, verifyChecksum: false) == ParseResult.Ok)
            acc += (int)ParseTransport(ip.Payload, repr, verifyChecksums: true) + (int)ParseTransport(ip.Payload, repr, verifyChecksums: false);
        return acc;
    }

    public static int TouchIcmpv4(ReadOnlySpan<byte> bytes)
    {
        if (Icmpv4Packet.TryCreate(bytes, out var icmp) != ParseResult.Ok) return 0;
        int acc = (int)icmp.MessageType + icmp.Code + icmp.Checksum + icmp.Identifier + icmp.SequenceNumber + icmp.NextHopMtu
            + icmp.Data.Length + icmp.Buffer.Length + (icmp.VerifyChecksum() ? 1 : 0);
        acc += (int)Icmpv4Repr.Parse(icmp, out _);
        if (Icmpv4Repr.Parse(icmp, out var repr, verifyChecksum: false) == ParseResult.Ok)
            acc += repr.BufferLength + repr.DataOffset + repr.Original.PayloadLength;
        return acc;
    }

    public static int TouchUdp(ReadOnlySpan<byte> bytes)
    {
        if (UdpPacket.TryCreate(bytes, out var udp) != ParseResult.Ok) return 0;
        int acc = udp.SourcePort + udp.DestinationPort + udp.Length + udp.Checksum + udp.Payload.Length + udp.Buffer.Length
            + (udp.VerifyChecksum(A, B) ? 1 : 0);
        return acc + (int)UdpRepr.Parse(udp, A, B, out _) + (int)UdpRepr.Parse(udp, A, B, out _, verifyChecksum: false);
    }

    public static int TouchTcp(ReadOnlySpan<byte> bytes)
    {
        if (TcpPacket.TryCreate(bytes, out var tcp) != ParseResult.Ok) return 0;
        int acc = tcp.SourcePort + tcp.DestinationPort + (int)tcp.SequenceNumber + (int)tcp.AcknowledgmentNumber + tcp.HeaderLength
            + (int)tcp.Flags + tcp.WindowSize + tcp.Checksum + tcp.UrgentPointer + tcp.Options.Length + tcp.Payload.Length
            + tcp.SegmentLength + tcp.Buffer.Length + (tcp.VerifyChecksum(A, B) ? 1 : 0);
        acc += (int)TcpRepr.Parse(tcp, A, B, out _);
        if (TcpRepr.Parse(tcp, A, B, out var repr, verifyChecksum: false) == ParseResult.Ok)
            acc += repr.HeaderLength + repr.SegmentLength + TouchOptions(repr.Options);
        return acc;
    }

    public static int TouchTcpOptions(ReadOnlySpan<byte> bytes) =>
        TcpOptions.Parse(bytes, out var options) == ParseResult.Ok ? TouchOptions(options) : 0;

    private static int TouchOptions(TcpOptions options)
    {
        int acc = options.SackBlockCount + options.Length + (options.MaxSegmentSize ?? 0) + (options.WindowScale ?? 0)
            + (int)(options.Timestamp?.Value ?? 0) + (options.SackPermitted ? 1 : 0) + (options.IsEmpty ? 1 : 0);
        for (int i = 0; i < options.SackBlockCount; i++) acc += (int)options.GetSackBlock(i).Left;
        return acc;
    }
}
