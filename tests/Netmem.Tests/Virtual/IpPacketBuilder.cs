using System.Buffers.Binary;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>Builds whole IPv4 datagrams (header checksum and TCP checksum filled) for injection, and reads sent ones.</summary>
internal static class IpPacketBuilder
{
    public static byte[] Tcp(Ipv4Address src, Ipv4Address dst, ushort sport, ushort dport, uint seq, uint ack, TcpFlags flags,
        ushort window, TcpOptions options = default, ReadOnlySpan<byte> payload = default)
    {
        var repr = new TcpRepr(sport, dport, seq, ack, flags, window, payload.Length) { Options = options };
        var bytes = new byte[20 + repr.BufferLength];
        payload.CopyTo(bytes.AsSpan(20 + repr.HeaderLength));
        repr.Emit(bytes.AsSpan(20), src, dst);
        WriteIpHeader(bytes, src, dst, IpProtocol.Tcp);
        return bytes;
    }

    /// <summary>packetdrill's remote end (192.0.2.1:50000) talking to the host under test (192.168.0.1:8080).</summary>
    public static readonly Ipv4Address PeerAddress = new(192, 0, 2, 1), HostAddress = new(192, 168, 0, 1);

    /// <summary>
    /// A pure ACK from the peer: <paramref name="ack"/> and the SACK blocks are relative to our ISN
    /// <paramref name="iss"/> (as packetdrill writes them), sequence 1, window <paramref name="window"/>.
    /// </summary>
    public static byte[] PeerAck(uint iss, uint ack, ushort window, params (uint L, uint R)[] sacks)
    {
        var o = default(TcpOptions);
        foreach (var (l, r) in sacks) o.AddSackBlock(new TcpSackBlock(iss + l, iss + r));
        return Tcp(PeerAddress, HostAddress, 50000, 8080, 1, iss + ack, TcpFlags.Ack, window, o);
    }

    public static void WriteIpHeader(Span<byte> b, Ipv4Address src, Ipv4Address dst, IpProtocol proto)
    {
        b[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], (ushort)b.Length);
        BinaryPrimitives.WriteUInt16BigEndian(b[6..], 0x4000);
        b[8] = 64;
        b[9] = (byte)proto;
        src.Write(b[12..]);
        dst.Write(b[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(b[10..], InetChecksum.Compute(b[..20]));
    }

    /// <summary>Parses a datagram the device sent: checks both checksums and returns the TCP header fields.</summary>
    public static TcpRepr ParseSent(byte[] datagram, out Ipv4Address src, out Ipv4Address dst, out byte[] payload)
    {
        Assert.Equal(ParseResult.Ok, Ipv4Packet.TryCreate(datagram, out var ip));
        Assert.True(ip.VerifyChecksum(), "IPv4 header checksum");
        Assert.Equal(IpProtocol.Tcp, ip.Protocol);
        src = ip.Source;
        dst = ip.Destination;
        Assert.Equal(ParseResult.Ok, TcpPacket.TryCreate(ip.Payload, out var tcp));
        Assert.Equal(ParseResult.Ok, TcpRepr.Parse(tcp, src, dst, out var repr, verifyChecksum: true));
        payload = tcp.Payload.ToArray();
        return repr;
    }
}
