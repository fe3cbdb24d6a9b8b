using Netmem.Skb;
using Netmem.Wire;
using static Netmem.Tests.Wire.Captures;

namespace Netmem.Tests.Wire;

public sealed class TcpTests
{
    private static readonly Ipv4Address IpA = Ipv4Address.Parse("192.168.1.1");
    private static readonly Ipv4Address IpB = Ipv4Address.Parse("192.168.1.2");
    private static readonly Ipv4Address IpC = Ipv4Address.Parse("192.168.1.3");

    private static readonly string[] TcpCaptures = [TcpSyn, TcpSynAck, TcpData, TcpRst, TcpSack];

    private static byte[] TcpBytes(string frame) => Hex(frame)[34..];

    /// <summary>Source and destination of the captured segment, from its IPv4 header.</summary>
    private static (Ipv4Address Src, Ipv4Address Dst) Addresses(string frame)
    {
        Ipv4Packet.TryCreate(Hex(frame).AsSpan(14), out var ip);
        return (ip.Source, ip.Destination);
    }

    [Fact]
    public void Captured_linux_syn_reads_every_field_and_option()
    {
        var bytes = TcpBytes(TcpSyn);
        Assert.Equal(ParseResult.Ok, TcpPacket.TryCreate(bytes, out var tcp));
        Assert.Equal(47896, tcp.SourcePort);
        Assert.Equal(8080, tcp.DestinationPort);
        Assert.Equal(254004208u, tcp.SequenceNumber);
        Assert.Equal(0u, tcp.AcknowledgmentNumber);
        Assert.Equal(40, tcp.HeaderLength);
        Assert.Equal(TcpFlags.Syn, tcp.Flags);
        Assert.Equal(64240, tcp.WindowSize);
        Assert.Equal(0x8D71, tcp.Checksum);
        Assert.Equal(0, tcp.UrgentPointer);
        Assert.Equal(20, tcp.Options.Length);
        Assert.Equal(0, tcp.Payload.Length);
        Assert.Equal(1, tcp.SegmentLength);
        Assert.True(tcp.VerifyChecksum(IpA, IpB));

        Assert.Equal(ParseResult.Ok, TcpRepr.Parse(tcp, IpA, IpB, out var repr));
        var options = repr.Options;
        Assert.Equal((ushort)1460, options.MaxSegmentSize);
        Assert.True(options.SackPermitted);
        Assert.Equal(new TcpTimestamp(2726290442, 0), options.Timestamp);
        Assert.Equal((byte)10, options.WindowScale);
        Assert.Equal(0, options.SackBlockCount);
        var expected = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true, Timestamp = new(2726290442, 0), WindowScale = 10 };
        Assert.Equal(new TcpRepr(47896, 8080, 254004208, 0, TcpFlags.Syn, 64240, 0) { Options = expected }, repr);
        Assert.Equal(40, repr.HeaderLength);
        Assert.Equal(1, repr.SegmentLength);
    }

    [Fact]
    public void Captured_syn_ack_data_and_rst()
    {
        TcpPacket.TryCreate(TcpBytes(TcpSynAck), out var synAck);
        Assert.Equal(ParseResult.Ok, TcpRepr.Parse(synAck, IpB, IpA, out var sa));
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, sa.Flags);
        Assert.Equal(0x2063DF3Eu, sa.SequenceNumber);
        Assert.Equal(254004209u, sa.AcknowledgmentNumber);
        Assert.Equal(65160, sa.WindowSize);
        Assert.Equal(new TcpTimestamp(0xF4BDE1D2, 2726290442), sa.Options.Timestamp);

        TcpPacket.TryCreate(TcpBytes(TcpData), out var data);
        Assert.Equal(ParseResult.Ok, TcpRepr.Parse(data, IpA, IpB, out var d));
        Assert.Equal(TcpFlags.Psh | TcpFlags.Ack, d.Flags);
        Assert.Equal(32, data.HeaderLength);
        Assert.Equal(63, d.WindowSize);
        Assert.Equal("ping\n"u8.ToArray(), data.Payload.ToArray());
        Assert.Equal(5, d.PayloadLength);
        Assert.Equal(5, d.SegmentLength);
        Assert.Equal(new TcpOptions { Timestamp = new(2726290442, 0xF4BDE1D2) }, d.Options);

        TcpPacket.TryCreate(TcpBytes(TcpRst), out var rst);
        Assert.Equal(ParseResult.Ok, TcpRepr.Parse(rst, IpB, IpA, out var r));
        Assert.Equal(new TcpRepr(81, 60768, 0, 0x6D13B5FA, TcpFlags.Rst | TcpFlags.Ack, 0, 0), r);
        Assert.True(r.Options.IsEmpty);
    }

    [Fact]
    public void Captured_duplicate_ack_carries_two_sack_blocks()
    {
        TcpPacket.TryCreate(TcpBytes(TcpSack), out var tcp);
        Assert.True(tcp.VerifyChecksum(IpB, IpC));
        Assert.Equal(ParseResult.Ok, TcpRepr.Parse(tcp, IpB, IpC, out var repr));
        Assert.Equal(TcpFlags.Ack, repr.Flags);
        Assert.Equal(1001u, repr.AcknowledgmentNumber);
        Assert.Equal(new TcpTimestamp(2502177151, 2), repr.Options.Timestamp);
        Assert.Equal(2, repr.Options.SackBlockCount);
        Assert.Equal(new TcpSackBlock(1301, 1401), repr.Options.GetSackBlock(0));
        Assert.Equal(new TcpSackBlock(1101, 1201), repr.Options.GetSackBlock(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => repr.Options.GetSackBlock(2));
    }

    [Fact]
    public void Emit_reproduces_every_capture_byte_for_byte()
    {
        // Emit uses Linux's option layout, so a parsed Linux segment re-emits identically.
        foreach (var hex in TcpCaptures)
        {
            var (src, dst) = Addresses(hex);
            var bytes = TcpBytes(hex);
            TcpPacket.TryCreate(bytes, out var tcp);
            Assert.Equal(ParseResult.Ok, TcpRepr.Parse(tcp, src, dst, out var repr));
            var buf = new byte[repr.BufferLength];
            tcp.Payload.CopyTo(buf.AsSpan(repr.HeaderLength));
            repr.Emit(buf, src, dst);
            Assert.Equal(bytes, buf);
            Assert.Equal(ParseResult.Ok, TcpPacket.TryCreate(buf, out var again));
            Assert.Equal(ParseResult.Ok, TcpRepr.Parse(again, src, dst, out var back));
            Assert.Equal(repr, back);
        }
    }

    [Fact]
    public void Every_truncation_point_is_a_typed_error()
    {
        foreach (var hex in TcpCaptures)
        {
            var (src, dst) = Addresses(hex);
            var bytes = TcpBytes(hex);
            TcpPacket.TryCreate(bytes, out var full);
            for (int n = 0; n < bytes.Length; n++)
            {
                var r = TcpPacket.TryCreate(bytes.AsSpan(0, n), out var tcp);
                if (n < full.HeaderLength)
                {
                    Assert.Equal(ParseResult.Truncated, r);
                    continue;
                }
                Assert.Equal(ParseResult.Ok, r);
                Assert.Equal(ParseResult.BadChecksum, TcpRepr.Parse(tcp, src, dst, out _));
            }
        }
    }

    [Fact]
    public void Bad_data_offset_and_option_lengths_are_named()
    {
        for (int doff = 0; doff < 5; doff++)
        {
            var b = TcpBytes(TcpSyn);
            b[12] = (byte)(doff << 4);
            Assert.Equal(ParseResult.BadHeaderLength, TcpPacket.TryCreate(b, out _));
        }
        var tooLong = TcpBytes(TcpSyn);
        tooLong[12] = 0xF0; // 60-byte header in a 40-byte segment
        Assert.Equal(ParseResult.Truncated, TcpPacket.TryCreate(tooLong, out _));

        var badMss = TcpBytes(TcpSyn);
        badMss[21] = 5; // MSS option claiming 5 bytes
        MutableTcpPacket.TryCreate(badMss, out var m);
        m.FillChecksum(IpA, IpB);
        Assert.Equal(ParseResult.BadOption, TcpRepr.Parse(m, IpA, IpB, out _));
    }

    [Fact]
    public void Checksum_covers_the_pseudo_header_and_can_be_skipped()
    {
        TcpPacket.TryCreate(TcpBytes(TcpSyn), out var tcp);
        Assert.False(tcp.VerifyChecksum(IpA, IpC));
        Assert.Equal(ParseResult.BadChecksum, TcpRepr.Parse(tcp, IpA, IpC, out _));
        Assert.Equal(ParseResult.Ok, TcpRepr.Parse(tcp, IpA, IpC, out _, verifyChecksum: false));
    }

    [Fact]
    public void Fill_then_verify_and_partial_checksum_completed_by_a_device()
    {
        foreach (var hex in TcpCaptures)
        {
            var (src, dst) = Addresses(hex);
            var bytes = TcpBytes(hex);
            MutableTcpPacket.TryCreate(bytes, out var m);
            ushort captured = m.Checksum;
            m.Checksum = 0xBEEF;
            m.FillChecksum(src, dst);
            Assert.Equal(captured, m.Checksum);
            Assert.True(m.ReadOnly.VerifyChecksum(src, dst));

            m.FillPartialChecksum(src, dst);
            Assert.Equal(captured, InetChecksum.Compute(m.Buffer));
        }
    }

    [Fact]
    public void Mutable_view_setters()
    {
        var bytes = TcpBytes(TcpData);
        Assert.Equal(ParseResult.Ok, MutableTcpPacket.TryCreate(bytes, out var m));
        m.SourcePort = 1;
        m.DestinationPort = 2;
        m.SequenceNumber = 3;
        m.AcknowledgmentNumber = 4;
        m.Flags = TcpFlags.Fin | TcpFlags.Ack | TcpFlags.Ece | TcpFlags.Cwr | TcpFlags.Urg;
        m.WindowSize = 5;
        m.UrgentPointer = 6;
        Assert.Equal(12, m.Options.Length);
        Assert.Equal((byte)'p', m.Payload[0]);
        TcpPacket ro = m;
        Assert.Equal((1, 2, 3u, 4u, 5, 6), (ro.SourcePort, ro.DestinationPort, ro.SequenceNumber, ro.AcknowledgmentNumber, ro.WindowSize, ro.UrgentPointer));
        Assert.Equal(6, ro.SegmentLength);
        Assert.Equal(0xF1, bytes[13]);
        m.HeaderLength = 20;
        Assert.Equal(0x50, bytes[12]);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
        {
            MutableTcpPacket.TryCreate(TcpBytes(TcpData), out var x);
            x.HeaderLength = 22;
        });
    }

    [Fact]
    public void Emit_refuses_options_over_40_bytes_and_short_buffers()
    {
        var options = new TcpOptions { MaxSegmentSize = 1460, Timestamp = new(1, 2), WindowScale = 7 };
        options.AddSackBlock(new(1, 2));
        options.AddSackBlock(new(3, 4));
        var repr = new TcpRepr(1, 2, 3, 4, TcpFlags.Ack, 5, 0) { Options = options };
        Assert.Equal(20 + 4 + 12 + 4 + 20, repr.HeaderLength);
        Assert.Throws<ArgumentException>(() => repr.Emit(new byte[repr.BufferLength - 1], IpA, IpB));
        options.AddSackBlock(new(5, 6));
        Assert.Throws<InvalidOperationException>(() => (repr with { Options = options }).Emit(new byte[100], IpA, IpB));
    }
}
