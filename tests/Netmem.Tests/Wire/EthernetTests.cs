using Netmem.Wire;
using static Netmem.Tests.Wire.Captures;

namespace Netmem.Tests.Wire;

public sealed class EthernetTests
{
    private static readonly EthernetAddress HostA = EthernetAddress.Parse("c6:71:75:38:24:e5");
    private static readonly EthernetAddress HostB = EthernetAddress.Parse("5a:50:a6:73:85:8d");

    [Fact]
    public void Captured_arp_request_header_reads_every_field()
    {
        var bytes = Hex(ArpRequest);
        Assert.Equal(ParseResult.Ok, EthernetFrame.TryCreate(bytes, out var frame));
        Assert.Equal(EthernetAddress.Broadcast, frame.Destination);
        Assert.Equal(HostA, frame.Source);
        Assert.False(frame.HasVlanTag);
        Assert.Null(frame.VlanTag);
        Assert.Equal(EtherType.Arp, frame.EtherType);
        Assert.Equal(14, frame.HeaderLength);
        Assert.Equal(28, frame.Payload.Length);
        Assert.Equal(ParseResult.Ok, EthernetRepr.Parse(frame, out var repr));
        Assert.Equal(new EthernetRepr(HostA, EthernetAddress.Broadcast, EtherType.Arp), repr);
    }

    [Fact]
    public void Vlan_tag_is_recognised_and_payload_starts_after_it()
    {
        // The captured echo request with an 802.1Q tag (PCP 5, DEI 0, VID 10) inserted after the addresses,
        // laid out as IEEE 802.1Q specifies (no 8021q module was available to capture a tagged frame).
        var plain = Hex(EchoRequest);
        var tagged = new byte[plain.Length + 4];
        plain.AsSpan(0, 12).CopyTo(tagged);
        tagged[12] = 0x81; tagged[13] = 0x00; tagged[14] = 0xA0; tagged[15] = 0x0A;
        plain.AsSpan(12).CopyTo(tagged.AsSpan(16));

        Assert.Equal(ParseResult.Ok, EthernetFrame.TryCreate(tagged, out var frame));
        Assert.True(frame.HasVlanTag);
        Assert.Equal(18, frame.HeaderLength);
        var tag = frame.VlanTag!.Value;
        Assert.Equal(10, tag.Id);
        Assert.Equal(5, tag.Priority);
        Assert.False(tag.DropEligible);
        Assert.Equal(EtherType.Ipv4, frame.EtherType);
        Assert.True(frame.Payload.SequenceEqual(plain.AsSpan(14)));
        Assert.Equal(ParseResult.Ok, WireWalk.ParseFrame(tagged));

        Assert.Equal(ParseResult.Ok, EthernetRepr.Parse(frame, out var repr));
        Assert.Equal(new VlanTag(10, priority: 5), repr.Vlan);
        var emitted = new byte[repr.BufferLength];
        repr.Emit(emitted);
        Assert.Equal(tagged.AsSpan(0, 18).ToArray(), emitted);
    }

    [Fact]
    public void Emit_reproduces_the_captured_header_and_parses_back_equal()
    {
        foreach (var hex in All)
        {
            var bytes = Hex(hex);
            Assert.Equal(ParseResult.Ok, EthernetFrame.TryCreate(bytes, out var frame));
            Assert.Equal(ParseResult.Ok, EthernetRepr.Parse(frame, out var repr));
            var buf = new byte[repr.HeaderLength];
            repr.Emit(buf);
            Assert.Equal(bytes.AsSpan(0, 14).ToArray(), buf);
            Assert.Equal(ParseResult.Ok, EthernetFrame.TryCreate(buf, out var again));
            Assert.Equal(ParseResult.Ok, EthernetRepr.Parse(again, out var repr2));
            Assert.Equal(repr, repr2);
        }
    }

    [Fact]
    public void Every_prefix_shorter_than_the_header_is_truncated()
    {
        var bytes = Hex(ArpRequest);
        for (int n = 0; n < 14; n++) Assert.Equal(ParseResult.Truncated, EthernetFrame.TryCreate(bytes.AsSpan(0, n), out _));
        // A tagged header needs 18 bytes.
        var tagged = new byte[18];
        tagged[12] = 0x81;
        for (int n = 14; n < 18; n++) Assert.Equal(ParseResult.Truncated, EthernetFrame.TryCreate(tagged.AsSpan(0, n), out _));
        Assert.Equal(ParseResult.Ok, EthernetFrame.TryCreate(tagged, out var f));
        Assert.Equal(0, f.Payload.Length);
    }

    [Fact]
    public void An_8023_length_field_is_unsupported()
    {
        var bytes = Hex(ArpRequest);
        bytes[12] = 0x00; bytes[13] = 0x2E; // a 46-byte 802.3 frame
        Assert.Equal(ParseResult.Ok, EthernetFrame.TryCreate(bytes, out var frame));
        Assert.Equal(ParseResult.Unsupported, EthernetRepr.Parse(frame, out _));
    }

    [Fact]
    public void Mutable_view_rewrites_addresses_type_and_tag()
    {
        var bytes = Hex(EchoRequest);
        Assert.Equal(ParseResult.Ok, MutableEthernetFrame.TryCreate(bytes, out var frame));
        frame.Destination = HostA;
        frame.Source = HostB;
        frame.EtherType = EtherType.Ipv6;
        Assert.Equal(HostA, frame.ReadOnly.Destination);
        Assert.Equal(HostB, frame.Source);
        Assert.Equal(EtherType.Ipv6, ((EthernetFrame)frame).EtherType);
        Assert.Equal(0x45, frame.Payload[0]);
        Assert.Throws<InvalidOperationException>(() =>
        {
            MutableEthernetFrame.TryCreate(bytes, out var f);
            f.VlanTag = new VlanTag(1);
        });
        Assert.Throws<ArgumentException>(() => new EthernetRepr(HostA, HostB, EtherType.Ipv4).Emit(new byte[13]));
    }

    [Fact]
    public void Vlan_tag_fields_pack_into_the_tci()
    {
        var tag = new VlanTag(4095, priority: 7, dropEligible: true);
        Assert.Equal(0xFFFF, tag.Tci);
        Assert.Equal(tag, VlanTag.FromTci(0xFFFF));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VlanTag(4096));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VlanTag(1, priority: 8));
    }
}
