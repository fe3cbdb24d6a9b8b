using CsCheck;
using Netmem.Wire;

namespace Netmem.Tests.Wire;

/// <summary>Random reprs emitted into a buffer parse back equal, with checksums that verify.</summary>
public sealed class WireRoundTripTests
{
    private const int Iterations = 2000;

    private static readonly Gen<EthernetAddress> GenMac = Gen.ULong.Select(EthernetAddress.FromUInt64);
    private static readonly Gen<Ipv4Address> GenIp = Gen.UInt.Select(v => new Ipv4Address(v));

    [Fact]
    public void Ethernet()
    {
        // Any Ethernet II type but the 802.1Q TPID itself, which would read back as a tag.
        var genType = Gen.UShort[0x0600, 0xFFFF].Where(t => t != (ushort)EtherType.Vlan).Select(t => (EtherType)t);
        var genVlan = Gen.Select(Gen.Bool, Gen.UShort.Select(t => VlanTag.FromTci(t))).Select((tagged, tag) => tagged ? tag : (VlanTag?)null);
        Gen.Select(GenMac, GenMac, genType, genVlan).Select((s, d, t, v) => new EthernetRepr(s, d, t, v)).Sample(repr =>
        {
            var buf = new byte[repr.BufferLength];
            repr.Emit(buf);
            return EthernetFrame.TryCreate(buf, out var frame) == ParseResult.Ok
                && EthernetRepr.Parse(frame, out var back) == ParseResult.Ok && back == repr;
        }, iter: Iterations);
    }

    [Fact]
    public void Arp()
    {
        Gen.Select(Gen.Bool, GenMac, GenIp, GenMac, GenIp)
            .Select((reply, sha, spa, tha, tpa) => new ArpRepr(reply ? ArpOperation.Reply : ArpOperation.Request, sha, spa, tha, tpa))
            .Sample(repr =>
            {
                var buf = new byte[repr.BufferLength];
                repr.Emit(buf);
                return ArpPacket.TryCreate(buf, out var p) == ParseResult.Ok && ArpRepr.Parse(p, out var back) == ParseResult.Ok && back == repr;
            }, iter: Iterations);
    }

    private static readonly Gen<Ipv4Repr> GenIpv4 =
        Gen.Select(GenIp, GenIp, Gen.Byte, Gen.Int[0, 1500], Gen.Byte,
                Gen.Select(Gen.Byte[0, 63], Gen.Byte[0, 3], Gen.UShort, Gen.Bool, Gen.Bool, Gen.Int[0, 0x1FFF]))
            .Select((src, dst, proto, len, ttl, rest) => new Ipv4Repr(src, dst, (IpProtocol)proto, len, ttl)
            {
                Dscp = rest.Item1, Ecn = rest.Item2, Identification = rest.Item3,
                DontFragment = rest.Item4, MoreFragments = rest.Item5, FragmentOffset = rest.Item6 * 8,
            });

    [Fact]
    public void Ipv4()
    {
        Gen.Select(GenIpv4, Gen.Int).Sample((repr, seed) =>
        {
            var buf = new byte[repr.BufferLength];
            new Random(seed).NextBytes(buf);
            repr.Emit(buf);
            return Ipv4Packet.TryCreate(buf, out var p) == ParseResult.Ok && p.VerifyChecksum()
                && Ipv4Repr.Parse(p, out var back) == ParseResult.Ok && back == repr;
        }, iter: Iterations);
    }

    [Fact]
    public void Icmpv4()
    {
        var genEcho = Gen.Select(Gen.Bool, Gen.Byte, Gen.UShort, Gen.UShort, Gen.Int[0, 200])
            .Select((request, code, id, seq, len) =>
                (request ? Icmpv4Repr.EchoRequest(id, seq, len) : Icmpv4Repr.EchoReply(id, seq, len)) with { Code = code });
        // An error's quote holds between 8 bytes and all of the original payload.
        var genError = Gen.Select(Gen.Bool, Gen.Byte, GenIpv4.Where(o => o.PayloadLength >= 8), Gen.Int[8, 200], Gen.UShort)
            .Select((unreachable, code, original, len, mtu) =>
            {
                int data = Math.Min(len, original.PayloadLength);
                return unreachable
                    ? Icmpv4Repr.DestinationUnreachable((Icmpv4Unreachable)code, original, data, mtu)
                    : Icmpv4Repr.TimeExceeded((Icmpv4TimeExceeded)code, original, data);
            });
        Gen.Select(Gen.OneOf(genEcho, genError), Gen.Int).Sample((repr, seed) =>
        {
            var buf = new byte[repr.BufferLength];
            new Random(seed).NextBytes(buf);
            repr.Emit(buf);
            return Icmpv4Packet.TryCreate(buf, out var p) == ParseResult.Ok && p.VerifyChecksum()
                && Icmpv4Repr.Parse(p, out var back) == ParseResult.Ok && back == repr;
        }, iter: Iterations);
    }

    [Fact]
    public void Udp()
    {
        Gen.Select(Gen.UShort, Gen.UShort, Gen.Int[0, 300], GenIp, GenIp, Gen.Int).Sample((sport, dport, len, src, dst, seed) =>
        {
            var repr = new UdpRepr(sport, dport, len);
            var buf = new byte[repr.BufferLength];
            new Random(seed).NextBytes(buf);
            repr.Emit(buf, src, dst);
            return UdpPacket.TryCreate(buf, out var p) == ParseResult.Ok && p.Checksum != 0 && p.VerifyChecksum(src, dst)
                && UdpRepr.Parse(p, src, dst, out var back) == ParseResult.Ok && back == repr;
        }, iter: Iterations);
    }

    private static readonly Gen<TcpOptions> GenOptions =
        Gen.Select(Gen.Bool, Gen.UShort, Gen.Bool, Gen.Byte, Gen.Bool, Gen.Select(Gen.Bool, Gen.UInt, Gen.UInt),
                Gen.Select(Gen.UInt, Gen.UInt).Array[0, 4])
            .Select((hasMss, mss, hasWs, ws, sackOk, ts, blocks) =>
            {
                var o = new TcpOptions
                {
                    MaxSegmentSize = hasMss ? mss : null,
                    WindowScale = hasWs ? ws : null,
                    SackPermitted = sackOk,
                    Timestamp = ts.Item1 ? new TcpTimestamp(ts.Item2, ts.Item3) : null,
                };
                // Only as many SACK blocks as the 40-byte area has room for, as a sender would trim them.
                foreach (var (l, r) in blocks)
                {
                    var more = o;
                    more.AddSackBlock(new TcpSackBlock(l, r));
                    if (more.Length > TcpOptions.MaxLength) break;
                    o = more;
                }
                return o;
            });

    [Fact]
    public void Tcp_options()
    {
        GenOptions.Sample(o =>
        {
            var area = new byte[TcpOptions.MaxLength];
            int n = o.Emit(area);
            return n == o.Length && n % 4 == 0 && TcpOptions.Parse(area.AsSpan(0, n), out var back) == ParseResult.Ok && back == o
                && TcpOptions.Parse(area, out var padded) == ParseResult.Ok && padded == o;
        }, iter: Iterations);
    }

    [Fact]
    public void Tcp()
    {
        var genRepr = Gen.Select(Gen.UShort, Gen.UShort, Gen.UInt, Gen.UInt, Gen.Byte, Gen.UShort, Gen.Int[0, 300],
                Gen.Select(GenOptions, Gen.UShort))
            .Select((sport, dport, seq, ack, flags, window, len, rest) =>
                new TcpRepr(sport, dport, seq, ack, (TcpFlags)flags, window, len) { Options = rest.Item1, UrgentPointer = rest.Item2 });
        Gen.Select(genRepr, GenIp, GenIp, Gen.Int).Sample((repr, src, dst, seed) =>
        {
            var buf = new byte[repr.BufferLength];
            new Random(seed).NextBytes(buf);
            repr.Emit(buf, src, dst);
            return TcpPacket.TryCreate(buf, out var p) == ParseResult.Ok && p.VerifyChecksum(src, dst)
                && TcpRepr.Parse(p, src, dst, out var back) == ParseResult.Ok && back == repr;
        }, iter: Iterations);
    }
}
