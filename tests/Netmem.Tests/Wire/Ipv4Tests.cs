using Netmem.Skb;
using Netmem.Wire;
using static Netmem.Tests.Wire.Captures;

namespace Netmem.Tests.Wire;

public sealed class Ipv4Tests
{
    private static readonly Ipv4Address IpA = Ipv4Address.Parse("192.168.1.1");
    private static readonly Ipv4Address IpB = Ipv4Address.Parse("192.168.1.2");

    private static readonly string[] Ipv4Captures =
        [EchoRequest, EchoReply, TcpSyn, TcpSynAck, TcpData, TcpRst, TcpSack, Udp, PortUnreachable, TimeExceeded];

    private static byte[] IpBytes(string frame) => Hex(frame)[14..];

    [Fact]
    public void Captured_echo_request_header_reads_every_field()
    {
        var bytes = IpBytes(EchoRequest);
        Assert.Equal(ParseResult.Ok, Ipv4Packet.TryCreate(bytes, out var ip));
        Assert.Equal(4, ip.Version);
        Assert.Equal(20, ip.HeaderLength);
        Assert.Equal(0, ip.Dscp);
        Assert.Equal(0, ip.Ecn);
        Assert.Equal(84, ip.TotalLength);
        Assert.Equal(0x0909, ip.Identification);
        Assert.False(ip.ReservedFlag);
        Assert.True(ip.DontFragment);
        Assert.False(ip.MoreFragments);
        Assert.Equal(0, ip.FragmentOffset);
        Assert.False(ip.IsFragment);
        Assert.Equal(64, ip.TimeToLive);
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);
        Assert.Equal(0xAE4C, ip.Checksum);
        Assert.Equal(IpA, ip.Source);
        Assert.Equal(IpB, ip.Destination);
        Assert.Equal(0, ip.Options.Length);
        Assert.Equal(64, ip.Payload.Length);
        Assert.True(ip.VerifyChecksum());

        Assert.Equal(ParseResult.Ok, Ipv4Repr.Parse(ip, out var repr));
        Assert.Equal(new Ipv4Repr(IpA, IpB, IpProtocol.Icmp, 64) { Identification = 0x0909, DontFragment = true }, repr);
        Assert.Equal(84, repr.BufferLength);
    }

    [Fact]
    public void Tos_byte_splits_into_dscp_and_ecn()
    {
        // Linux sends ICMP errors with TOS 0xc0: DSCP 48 (CS6, network control), not ECN capable.
        Assert.Equal(ParseResult.Ok, Ipv4Packet.TryCreate(IpBytes(PortUnreachable), out var ip));
        Assert.Equal(48, ip.Dscp);
        Assert.Equal(0, ip.Ecn);
        Assert.False(ip.DontFragment);
        var bytes = IpBytes(PortUnreachable);
        MutableIpv4Packet.TryCreate(bytes, out var m);
        m.Ecn = 3;
        Assert.Equal(48, m.Dscp);
        Assert.Equal(3, m.Ecn);
        m.Dscp = 10;
        Assert.Equal(0x2B, bytes[1]);
    }

    [Fact]
    public void Emit_reproduces_every_captured_header_and_parses_back_equal()
    {
        foreach (var hex in Ipv4Captures)
        {
            var bytes = IpBytes(hex);
            Assert.Equal(ParseResult.Ok, Ipv4Packet.TryCreate(bytes, out var ip));
            Assert.Equal(ParseResult.Ok, Ipv4Repr.Parse(ip, out var repr));
            var buf = new byte[repr.BufferLength];
            repr.Emit(buf);
            Assert.Equal(bytes.AsSpan(0, 20).ToArray(), buf.AsSpan(0, 20).ToArray());
            Assert.Equal(ParseResult.Ok, Ipv4Packet.TryCreate(buf, out var again));
            Assert.Equal(ParseResult.Ok, Ipv4Repr.Parse(again, out var repr2));
            Assert.Equal(repr, repr2);
        }
    }

    [Fact]
    public void Every_prefix_of_every_captured_datagram_is_truncated()
    {
        foreach (var hex in Ipv4Captures)
        {
            var bytes = IpBytes(hex);
            for (int n = 0; n < bytes.Length; n++)
                Assert.Equal(ParseResult.Truncated, Ipv4Packet.TryCreate(bytes.AsSpan(0, n), out _));
            var frame = Hex(hex);
            for (int n = 0; n < frame.Length; n++)
                Assert.Equal(ParseResult.Truncated, WireWalk.ParseFrame(frame.AsSpan(0, n)));
            Assert.Equal(ParseResult.Ok, WireWalk.ParseFrame(frame));
        }
    }

    [Fact]
    public void Bad_version_ihl_and_total_length_are_named()
    {
        var good = IpBytes(Udp);
        var v6 = (byte[])good.Clone();
        v6[0] = 0x65;
        Assert.Equal(ParseResult.BadVersion, Ipv4Packet.TryCreate(v6, out _));
        for (int ihl = 0; ihl < 5; ihl++)
        {
            var b = (byte[])good.Clone();
            b[0] = (byte)(0x40 | ihl);
            Assert.Equal(ParseResult.BadHeaderLength, Ipv4Packet.TryCreate(b, out _));
        }
        var longIhl = (byte[])good.Clone();
        longIhl[0] = 0x4F; // 60-byte header in a 38-byte datagram
        Assert.Equal(ParseResult.Truncated, Ipv4Packet.TryCreate(longIhl, out _));
        var shortTotal = (byte[])good.Clone();
        shortTotal[2] = 0; shortTotal[3] = 19;
        Assert.Equal(ParseResult.BadTotalLength, Ipv4Packet.TryCreate(shortTotal, out _));
        var longTotal = (byte[])good.Clone();
        longTotal[3]++;
        Assert.Equal(ParseResult.Truncated, Ipv4Packet.TryCreate(longTotal, out _));
    }

    [Fact]
    public void Options_are_skipped_and_padding_is_not_payload()
    {
        // The captured UDP datagram with a Router Alert option (RFC 2113) added: IHL 6.
        var udp = IpBytes(Udp);
        var withOption = new byte[udp.Length + 4 + 6]; // plus 6 bytes of trailing link padding
        udp.AsSpan(0, 20).CopyTo(withOption);
        withOption[20] = 0x94; withOption[21] = 0x04;
        udp.AsSpan(20).CopyTo(withOption.AsSpan(24));
        withOption[0] = 0x46;
        withOption[3] += 4;
        Assert.Equal(ParseResult.Ok, MutableIpv4Packet.TryCreate(withOption, out var m));
        m.FillChecksum();

        Assert.Equal(ParseResult.Ok, Ipv4Packet.TryCreate(withOption, out var ip));
        Assert.Equal(24, ip.HeaderLength);
        Assert.Equal(new byte[] { 0x94, 0x04, 0, 0 }, ip.Options.ToArray());
        Assert.Equal(42, ip.Buffer.Length);
        Assert.True(ip.Payload.SequenceEqual(udp.AsSpan(20)));
        Assert.True(ip.VerifyChecksum());
        Assert.Equal(ParseResult.Ok, Ipv4Repr.Parse(ip, out var repr));
        Assert.Equal(18, repr.PayloadLength);
        Assert.Equal(ParseResult.Ok, WireWalk.ParseTransport(ip.Payload, repr, verifyChecksums: true));
    }

    [Fact]
    public void Checksum_is_verified_unless_the_caller_skips_it()
    {
        var bytes = IpBytes(TcpSyn);
        bytes[8] = 63; // TTL changed without fixing the checksum
        Assert.Equal(ParseResult.Ok, Ipv4Packet.TryCreate(bytes, out var ip));
        Assert.False(ip.VerifyChecksum());
        Assert.Equal(ParseResult.BadChecksum, Ipv4Repr.Parse(ip, out _));
        Assert.Equal(ParseResult.Ok, Ipv4Repr.Parse(ip, out var repr, verifyChecksum: false));
        Assert.Equal(63, repr.TimeToLive);
    }

    [Fact]
    public void Fill_then_verify()
    {
        foreach (var hex in Ipv4Captures)
        {
            var bytes = IpBytes(hex);
            ushort captured = (ushort)(bytes[10] << 8 | bytes[11]);
            bytes[10] = 0x12; bytes[11] = 0x34;
            MutableIpv4Packet.TryCreate(bytes, out var m);
            Assert.False(m.ReadOnly.VerifyChecksum());
            m.FillChecksum();
            Assert.Equal(captured, m.Checksum);
            Assert.True(m.ReadOnly.VerifyChecksum());
        }
    }

    [Fact]
    public void Decrease_ttl_patches_the_checksum_like_a_recompute()
    {
        var bytes = IpBytes(TimeExceeded);
        MutableIpv4Packet.TryCreate(bytes, out var m);
        for (int ttl = 63; ttl >= 0; ttl--)
        {
            Assert.Equal(ttl, m.DecreaseTtl());
            Assert.True(m.ReadOnly.VerifyChecksum());
            ushort incremental = m.Checksum;
            m.Checksum = 0;
            Assert.Equal(InetChecksum.Compute(m.Buffer[..20]), incremental);
            m.Checksum = incremental;
        }
        Assert.Throws<InvalidOperationException>(() =>
        {
            MutableIpv4Packet.TryCreate(bytes, out var z);
            z.DecreaseTtl();
        });
    }

    [Fact]
    public void Fragment_fields_round_trip()
    {
        var repr = new Ipv4Repr(IpA, IpB, IpProtocol.Udp, 1480) { Identification = 7, MoreFragments = true, FragmentOffset = 2960 };
        var buf = new byte[repr.BufferLength];
        repr.Emit(buf);
        Assert.Equal(ParseResult.Ok, Ipv4Packet.TryCreate(buf, out var ip));
        Assert.True(ip.IsFragment);
        Assert.True(ip.MoreFragments);
        Assert.False(ip.DontFragment);
        Assert.Equal(2960, ip.FragmentOffset);
        Assert.Equal(0x2000 | 370, buf[6] << 8 | buf[7]);
        Assert.Equal(ParseResult.Ok, Ipv4Repr.Parse(ip, out var back));
        Assert.Equal(repr, back);
        Assert.Throws<ArgumentOutOfRangeException>(() => (repr with { FragmentOffset = 3 }).Emit(buf));
        Assert.Throws<ArgumentException>(() => repr.Emit(new byte[19]));
    }

    [Fact]
    public void Header_only_view_accepts_a_quoted_datagram()
    {
        // The first 28 bytes of the captured echo request: header plus 8 bytes, as an ICMP error quotes it.
        var quote = IpBytes(EchoRequest)[..28];
        Assert.Equal(ParseResult.Truncated, Ipv4Packet.TryCreate(quote, out _));
        Assert.Equal(ParseResult.Ok, Ipv4Packet.TryCreateHeader(quote, out var ip));
        Assert.Equal(84, ip.TotalLength);
        Assert.Equal(8, ip.Payload.Length);
        for (int n = 0; n < 20; n++) Assert.Equal(ParseResult.Truncated, Ipv4Packet.TryCreateHeader(quote.AsSpan(0, n), out _));
    }
}
