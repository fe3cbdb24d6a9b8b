using Netmem.Skb;
using Netmem.Wire;
using static Netmem.Tests.Wire.Captures;

namespace Netmem.Tests.Wire;

public sealed class UdpTests
{
    private static readonly Ipv4Address IpA = Ipv4Address.Parse("192.168.1.1");
    private static readonly Ipv4Address IpB = Ipv4Address.Parse("192.168.1.2");

    private static byte[] UdpBytes() => Hex(Udp)[34..];

    [Fact]
    public void Captured_datagram_reads_every_field()
    {
        var bytes = UdpBytes();
        Assert.Equal(ParseResult.Ok, UdpPacket.TryCreate(bytes, out var udp));
        Assert.Equal(41621, udp.SourcePort);
        Assert.Equal(5353, udp.DestinationPort);
        Assert.Equal(18, udp.Length);
        Assert.Equal(0x9B96, udp.Checksum);
        Assert.Equal("hello udp\n"u8.ToArray(), udp.Payload.ToArray());
        Assert.True(udp.VerifyChecksum(IpA, IpB));
        Assert.False(udp.VerifyChecksum(IpA, Ipv4Address.Parse("192.168.1.3")));
        Assert.Equal(ParseResult.Ok, UdpRepr.Parse(udp, IpA, IpB, out var repr));
        Assert.Equal(new UdpRepr(41621, 5353, 10), repr);
        Assert.Equal(18, repr.BufferLength);
    }

    [Fact]
    public void Emit_reproduces_the_capture_and_parses_back_equal()
    {
        var bytes = UdpBytes();
        var repr = new UdpRepr(41621, 5353, 10);
        var buf = new byte[repr.BufferLength];
        "hello udp\n"u8.CopyTo(buf.AsSpan(repr.HeaderLength));
        repr.Emit(buf, IpA, IpB);
        Assert.Equal(bytes, buf);
        Assert.Equal(ParseResult.Ok, UdpPacket.TryCreate(buf, out var udp));
        Assert.Equal(ParseResult.Ok, UdpRepr.Parse(udp, IpA, IpB, out var back));
        Assert.Equal(repr, back);
    }

    [Fact]
    public void Every_prefix_is_truncated_and_bad_lengths_are_named()
    {
        var bytes = UdpBytes();
        for (int n = 0; n < bytes.Length; n++) Assert.Equal(ParseResult.Truncated, UdpPacket.TryCreate(bytes.AsSpan(0, n), out _));
        for (int len = 0; len < 8; len++)
        {
            var b = UdpBytes();
            b[4] = 0; b[5] = (byte)len;
            Assert.Equal(ParseResult.BadLength, UdpPacket.TryCreate(b, out _));
        }
        var trailing = new byte[bytes.Length + 3];
        bytes.CopyTo(trailing, 0);
        Assert.Equal(ParseResult.Ok, UdpPacket.TryCreate(trailing, out var udp));
        Assert.Equal(18, udp.Buffer.Length);
        Assert.True(udp.VerifyChecksum(IpA, IpB));
    }

    [Fact]
    public void Zero_checksum_means_none_and_is_never_sent_for_a_computed_zero()
    {
        var bytes = UdpBytes();
        bytes[6] = 0; bytes[7] = 0;
        UdpPacket.TryCreate(bytes, out var none);
        Assert.True(none.VerifyChecksum(IpA, IpB));
        Assert.Equal(ParseResult.Ok, UdpRepr.Parse(none, IpA, IpB, out _));

        // Put the datagram's own checksum into its last payload word: the sum then folds to 0xFFFF and the
        // computed checksum is 0, which must go on the wire as 0xFFFF.
        var repr = new UdpRepr(1, 2, 4);
        var buf = new byte[repr.BufferLength];
        repr.Emit(buf, IpA, IpB);
        buf[10] = buf[6]; buf[11] = buf[7];
        MutableUdpPacket.TryCreate(buf, out var m);
        m.FillChecksum(IpA, IpB);
        Assert.Equal(0xFFFF, m.Checksum);
        Assert.True(m.ReadOnly.VerifyChecksum(IpA, IpB));

        repr.Emit(buf, IpA, IpB, fillChecksum: false);
        Assert.Equal(0, m.Checksum);
    }

    [Fact]
    public void Fill_then_verify_and_bad_checksum_is_named()
    {
        var bytes = UdpBytes();
        MutableUdpPacket.TryCreate(bytes, out var m);
        m.SourcePort = 1234;
        Assert.False(m.ReadOnly.VerifyChecksum(IpA, IpB));
        Assert.Equal(ParseResult.BadChecksum, UdpRepr.Parse(m, IpA, IpB, out _));
        Assert.Equal(ParseResult.Ok, UdpRepr.Parse(m, IpA, IpB, out var skipped, verifyChecksum: false));
        Assert.Equal(1234, skipped.SourcePort);
        m.FillChecksum(IpA, IpB);
        Assert.True(m.ReadOnly.VerifyChecksum(IpA, IpB));
    }

    [Fact]
    public void Partial_checksum_completed_by_a_device_equals_the_full_one()
    {
        var bytes = UdpBytes();
        MutableUdpPacket.TryCreate(bytes, out var m);
        m.FillPartialChecksum(IpA, IpB);
        // What a NIC does for CHECKSUM_PARTIAL: sum from csum_start to the end, store the complement.
        ushort device = InetChecksum.Compute(m.Buffer);
        m.Checksum = device;
        Assert.Equal(0x9B96, device);
        Assert.True(m.ReadOnly.VerifyChecksum(IpA, IpB));
    }

    [Fact]
    public void Mutable_view_setters()
    {
        var bytes = UdpBytes();
        MutableUdpPacket.TryCreate(bytes, out var m);
        m.DestinationPort = 53;
        m.Length = 17;
        Assert.Equal(53, m.DestinationPort);
        Assert.Equal(17, m.ReadOnly.Length);
        Assert.Equal((byte)'h', m.Payload[0]);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
        {
            MutableUdpPacket.TryCreate(UdpBytes(), out var x);
            x.Length = 7;
        });
    }
}
