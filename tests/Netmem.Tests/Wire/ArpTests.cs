using Netmem.Wire;
using static Netmem.Tests.Wire.Captures;

namespace Netmem.Tests.Wire;

public sealed class ArpTests
{
    private static readonly EthernetAddress HostA = EthernetAddress.Parse("c6:71:75:38:24:e5");
    private static readonly EthernetAddress HostB = EthernetAddress.Parse("5a:50:a6:73:85:8d");
    private static readonly Ipv4Address IpA = Ipv4Address.Parse("192.168.1.1");
    private static readonly Ipv4Address IpB = Ipv4Address.Parse("192.168.1.2");

    private static byte[] ArpBytes(string frame) => Hex(frame)[14..];

    [Fact]
    public void Captured_request_reads_every_field()
    {
        var bytes = ArpBytes(ArpRequest);
        Assert.Equal(ParseResult.Ok, ArpPacket.TryCreate(bytes, out var arp));
        Assert.Equal(1, arp.HardwareType);
        Assert.Equal(EtherType.Ipv4, arp.ProtocolType);
        Assert.Equal(6, arp.HardwareLength);
        Assert.Equal(4, arp.ProtocolLength);
        Assert.Equal(ArpOperation.Request, arp.Operation);
        Assert.Equal(HostA, arp.SenderHardwareAddress);
        Assert.Equal(IpA, arp.SenderProtocolAddress);
        Assert.True(arp.TargetHardwareAddress.IsZero);
        Assert.Equal(IpB, arp.TargetProtocolAddress);
        Assert.Equal(ParseResult.Ok, ArpRepr.Parse(arp, out var repr));
        Assert.Equal(new ArpRepr(ArpOperation.Request, HostA, IpA, default, IpB), repr);
    }

    [Fact]
    public void Captured_reply_reads_every_field()
    {
        Assert.Equal(ParseResult.Ok, ArpPacket.TryCreate(ArpBytes(ArpReply), out var arp));
        Assert.Equal(ParseResult.Ok, ArpRepr.Parse(arp, out var repr));
        Assert.Equal(new ArpRepr(ArpOperation.Reply, HostB, IpB, HostA, IpA), repr);
    }

    [Theory]
    [InlineData(ArpRequest)]
    [InlineData(ArpReply)]
    public void Emit_reproduces_the_capture_and_parses_back_equal(string frame)
    {
        var bytes = ArpBytes(frame);
        ArpPacket.TryCreate(bytes, out var arp);
        ArpRepr.Parse(arp, out var repr);
        var buf = new byte[repr.BufferLength];
        repr.Emit(buf);
        Assert.Equal(bytes, buf);
        Assert.Equal(ParseResult.Ok, ArpPacket.TryCreate(buf, out var again));
        Assert.Equal(ParseResult.Ok, ArpRepr.Parse(again, out var repr2));
        Assert.Equal(repr, repr2);
    }

    [Fact]
    public void Every_prefix_is_truncated_and_padding_is_ignored()
    {
        var bytes = ArpBytes(ArpRequest);
        for (int n = 0; n < bytes.Length; n++)
            Assert.Equal(ParseResult.Truncated, ArpPacket.TryCreate(bytes.AsSpan(0, n), out _));
        var padded = new byte[46];
        bytes.CopyTo(padded, 0);
        Assert.Equal(ParseResult.Ok, ArpPacket.TryCreate(padded, out var arp));
        Assert.Equal(28, arp.Buffer.Length);
    }

    [Fact]
    public void Other_links_protocols_and_opcodes_are_unsupported()
    {
        var bytes = ArpBytes(ArpRequest);
        var wrongHlen = (byte[])bytes.Clone();
        wrongHlen[4] = 8;
        Assert.Equal(ParseResult.Unsupported, ArpPacket.TryCreate(wrongHlen, out _));
        var wrongPlen = (byte[])bytes.Clone();
        wrongPlen[5] = 16;
        Assert.Equal(ParseResult.Unsupported, ArpPacket.TryCreate(wrongPlen, out _));

        var ieee802 = (byte[])bytes.Clone();
        ieee802[1] = 6;
        Assert.Equal(ParseResult.Ok, ArpPacket.TryCreate(ieee802, out var p1));
        Assert.Equal(ParseResult.Unsupported, ArpRepr.Parse(p1, out _));
        var ipv6 = (byte[])bytes.Clone();
        ipv6[2] = 0x86; ipv6[3] = 0xDD;
        Assert.Equal(ParseResult.Ok, ArpPacket.TryCreate(ipv6, out var p2));
        Assert.Equal(ParseResult.Unsupported, ArpRepr.Parse(p2, out _));
        var rarp = (byte[])bytes.Clone();
        rarp[7] = 3;
        Assert.Equal(ParseResult.Ok, ArpPacket.TryCreate(rarp, out var p3));
        Assert.Equal(ParseResult.Unsupported, ArpRepr.Parse(p3, out _));
    }

    [Fact]
    public void Mutable_view_turns_a_request_into_a_reply_in_place()
    {
        var bytes = ArpBytes(ArpRequest);
        Assert.Equal(ParseResult.Ok, MutableArpPacket.TryCreate(bytes, out var arp));
        arp.Operation = ArpOperation.Reply;
        arp.TargetHardwareAddress = arp.SenderHardwareAddress;
        arp.TargetProtocolAddress = arp.SenderProtocolAddress;
        arp.SenderHardwareAddress = HostB;
        arp.SenderProtocolAddress = IpB;
        Assert.Equal(ArpBytes(ArpReply), bytes);
        Assert.Equal(1, arp.HardwareType);
        Assert.Equal(EtherType.Ipv4, arp.ProtocolType);
    }
}
