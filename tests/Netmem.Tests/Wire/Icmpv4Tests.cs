using Netmem.Wire;
using static Netmem.Tests.Wire.Captures;

namespace Netmem.Tests.Wire;

public sealed class Icmpv4Tests
{
    private static readonly Ipv4Address IpA = Ipv4Address.Parse("192.168.1.1");
    private static readonly Ipv4Address IpB = Ipv4Address.Parse("192.168.1.2");

    private static byte[] IcmpBytes(string frame) => Hex(frame)[34..];

    [Fact]
    public void Captured_ping_echo_request_reads_every_field()
    {
        var bytes = IcmpBytes(EchoRequest);
        Assert.Equal(ParseResult.Ok, Icmpv4Packet.TryCreate(bytes, out var icmp));
        Assert.Equal(Icmpv4Message.EchoRequest, icmp.MessageType);
        Assert.Equal(0, icmp.Code);
        Assert.Equal(0x58CA, icmp.Checksum);
        Assert.Equal(24574, icmp.Identifier);
        Assert.Equal(1, icmp.SequenceNumber);
        Assert.Equal(56, icmp.Data.Length);
        // iputils ping: a 16-byte struct timeval, then the byte pattern 0x10, 0x11, ... up to 56 bytes.
        for (int i = 16; i < 56; i++) Assert.Equal(i, icmp.Data[i]);
        Assert.True(icmp.VerifyChecksum());
        Assert.Equal(ParseResult.Ok, Icmpv4Repr.Parse(icmp, out var repr));
        Assert.Equal(Icmpv4Repr.EchoRequest(24574, 1, 56), repr);
        Assert.True(repr.IsEcho);
        Assert.False(repr.IsError);
        Assert.Equal(64, repr.BufferLength);
    }

    [Fact]
    public void Captured_port_unreachable_quotes_the_udp_datagram()
    {
        var bytes = IcmpBytes(PortUnreachable);
        Assert.Equal(ParseResult.Ok, Icmpv4Packet.TryCreate(bytes, out var icmp));
        Assert.Equal(Icmpv4Message.DestinationUnreachable, icmp.MessageType);
        Assert.Equal((byte)Icmpv4Unreachable.PortUnreachable, icmp.Code);
        Assert.Equal(0x8074, icmp.Checksum);
        Assert.Equal(ParseResult.Ok, Icmpv4Repr.Parse(icmp, out var repr));
        var original = new Ipv4Repr(IpA, IpB, IpProtocol.Udp, 18) { Identification = 0x1AA7, DontFragment = true };
        Assert.Equal(Icmpv4Repr.DestinationUnreachable(Icmpv4Unreachable.PortUnreachable, original, 18), repr);
        Assert.Equal(bytes.Length, repr.BufferLength);

        // The quote is enough to find the flow: the UDP ports of the datagram that bounced.
        Assert.Equal(ParseResult.Ok, Ipv4Packet.TryCreateHeader(icmp.Data, out var quoted));
        Assert.Equal(ParseResult.Ok, UdpPacket.TryCreate(quoted.Payload, out var udp));
        Assert.Equal(41621, udp.SourcePort);
        Assert.Equal(5353, udp.DestinationPort);
    }

    [Fact]
    public void Captured_time_exceeded_quotes_the_ttl_1_echo_request()
    {
        Assert.Equal(ParseResult.Ok, Icmpv4Packet.TryCreate(IcmpBytes(TimeExceeded), out var icmp));
        Assert.Equal(Icmpv4Message.TimeExceeded, icmp.MessageType);
        Assert.Equal(0xF4FF, icmp.Checksum);
        Assert.Equal(ParseResult.Ok, Icmpv4Repr.Parse(icmp, out var repr));
        Assert.Equal(Icmpv4Message.TimeExceeded, repr.Message);
        Assert.Equal((byte)Icmpv4TimeExceeded.TtlExpired, repr.Code);
        Assert.Equal(
            new Ipv4Repr(IpA, Ipv4Address.Parse("192.168.2.2"), IpProtocol.Icmp, 64, TimeToLive: 1) { Identification = 0x3D7A, DontFragment = true },
            repr.Original);
        Assert.Equal(64, repr.DataLength);
    }

    [Theory]
    [InlineData(EchoRequest)]
    [InlineData(EchoReply)]
    [InlineData(PortUnreachable)]
    [InlineData(TimeExceeded)]
    public void Emit_reproduces_the_capture_and_parses_back_equal(string frame)
    {
        var bytes = IcmpBytes(frame);
        Icmpv4Packet.TryCreate(bytes, out var icmp);
        Assert.Equal(ParseResult.Ok, Icmpv4Repr.Parse(icmp, out var repr));
        // Data first, at DataOffset, then the repr writes the headers and checksum in front of it.
        var buf = new byte[repr.BufferLength];
        bytes.AsSpan(repr.DataOffset).CopyTo(buf.AsSpan(repr.DataOffset));
        repr.Emit(buf);
        Assert.Equal(bytes, buf);
        Assert.Equal(ParseResult.Ok, Icmpv4Packet.TryCreate(buf, out var again));
        Assert.Equal(ParseResult.Ok, Icmpv4Repr.Parse(again, out var repr2));
        Assert.Equal(repr, repr2);
    }

    [Theory]
    [InlineData(EchoRequest)]
    [InlineData(PortUnreachable)]
    [InlineData(TimeExceeded)]
    public void Every_truncation_point_is_a_typed_error(string frame)
    {
        var bytes = IcmpBytes(frame);
        Icmpv4Packet.TryCreate(bytes, out var full);
        bool error = full.MessageType != Icmpv4Message.EchoRequest;
        for (int n = 0; n < bytes.Length; n++)
        {
            var prefix = bytes.AsSpan(0, n);
            var r = Icmpv4Packet.TryCreate(prefix, out var icmp);
            if (n < 8)
            {
                Assert.Equal(ParseResult.Truncated, r);
                continue;
            }
            Assert.Equal(ParseResult.Ok, r);
            // Without the checksum, an error needs the quoted header and 8 bytes of its payload.
            bool quoteTooShort = error && n < 8 + 20 + 8;
            Assert.Equal(quoteTooShort ? ParseResult.Truncated : ParseResult.Ok, Icmpv4Repr.Parse(icmp, out _, verifyChecksum: false));
            // With it, a shorter message no longer verifies. (A quote cut right after the quoted IP header
            // can still verify, since a valid header sums to zero; then the quote check catches it.)
            var r2 = Icmpv4Repr.Parse(icmp, out _);
            if (quoteTooShort) Assert.Contains(r2, new[] { ParseResult.BadChecksum, ParseResult.Truncated });
            else Assert.Equal(ParseResult.BadChecksum, r2);
        }
    }

    [Fact]
    public void Bad_checksum_unknown_type_and_bad_quote_are_named()
    {
        var bad = IcmpBytes(EchoRequest);
        bad[^1] ^= 0xFF;
        Icmpv4Packet.TryCreate(bad, out var badIcmp);
        Assert.False(badIcmp.VerifyChecksum());
        Assert.Equal(ParseResult.BadChecksum, Icmpv4Repr.Parse(badIcmp, out _));
        Assert.Equal(ParseResult.Ok, Icmpv4Repr.Parse(badIcmp, out _, verifyChecksum: false));

        var timestamp = IcmpBytes(EchoRequest);
        MutableIcmpv4Packet.TryCreate(timestamp, out var ts);
        ts.MessageType = Icmpv4Message.Timestamp;
        ts.FillChecksum();
        Assert.Equal(ParseResult.Unsupported, Icmpv4Repr.Parse(ts, out _));

        var quoteV6 = IcmpBytes(PortUnreachable);
        MutableIcmpv4Packet.TryCreate(quoteV6, out var q);
        q.Data[0] = 0x60;
        q.FillChecksum();
        Assert.Equal(ParseResult.BadVersion, Icmpv4Repr.Parse(q, out _));
        q.Data[0] = 0x43;
        q.FillChecksum();
        Assert.Equal(ParseResult.BadHeaderLength, Icmpv4Repr.Parse(q, out _));
    }

    [Fact]
    public void Echo_request_becomes_the_captured_reply_in_place()
    {
        var bytes = IcmpBytes(EchoRequest);
        Assert.Equal(ParseResult.Ok, MutableIcmpv4Packet.TryCreate(bytes, out var icmp));
        icmp.MessageType = Icmpv4Message.EchoReply;
        icmp.FillChecksum();
        Assert.Equal(IcmpBytes(EchoReply), bytes);
        Assert.Equal(24574, icmp.Identifier);
        Assert.Equal(1, icmp.SequenceNumber);
    }

    [Fact]
    public void Fragmentation_needed_carries_the_next_hop_mtu()
    {
        var original = new Ipv4Repr(IpA, IpB, IpProtocol.Tcp, 1480) { DontFragment = true };
        var repr = Icmpv4Repr.DestinationUnreachable(Icmpv4Unreachable.FragmentationNeeded, original, 8, nextHopMtu: 1400);
        var buf = new byte[repr.BufferLength];
        repr.Emit(buf);
        Assert.Equal(new byte[] { 3, 4 }, buf[..2]);
        Assert.Equal(new byte[] { 0, 0, 0x05, 0x78 }, buf[4..8]);
        Assert.Equal(ParseResult.Ok, Icmpv4Packet.TryCreate(buf, out var icmp));
        Assert.Equal(1400, icmp.NextHopMtu);
        Assert.True(icmp.VerifyChecksum());
        Assert.Equal(ParseResult.Ok, Icmpv4Repr.Parse(icmp, out var back));
        Assert.Equal(repr, back);
    }

    [Fact]
    public void Fill_then_verify_and_unfilled_emit()
    {
        var repr = Icmpv4Repr.EchoRequest(1, 2, 3);
        var buf = new byte[repr.BufferLength];
        buf[8] = 0xAB; buf[9] = 0xCD; buf[10] = 0xEF;
        repr.Emit(buf, fillChecksum: false);
        Assert.Equal(0, buf[2] | buf[3]);
        MutableIcmpv4Packet.TryCreate(buf, out var m);
        Assert.False(m.ReadOnly.VerifyChecksum());
        m.FillChecksum();
        Assert.True(m.ReadOnly.VerifyChecksum());
        Assert.Throws<InvalidOperationException>(() => new Icmpv4Repr { Message = Icmpv4Message.Redirect }.Emit(new byte[64]));
        Assert.Throws<ArgumentException>(() => repr.Emit(new byte[10]));
    }
}
