using CsCheck;
using Netmem.Wire;

namespace Netmem.Tests.Wire;

public class WireFormatTests
{
    // A TCP SYN Linux 6.x sent to 127.0.0.1:9, captured with tshark on lo (Ethernet header as lo shows it).
    // Loopback leaves the TCP checksum partial (CHECKSUM_PARTIAL), so only the IP header checksum is final.
    private static readonly byte[] LinuxSyn = Convert.FromHexString(
        "000000000000000000000000080045000" + "03c2bc440004006" + "10f67f0000017f000001" +
        "80140009dad10c5100000000a002ffd7fe30000002" + "04ffd70402080add bc147d0000000001030 30a".Replace(" ", ""));

    [Fact]
    public void A_real_linux_syn_parses_field_by_field()
    {
        Assert.Equal(WireError.None, EthernetFrame.TryCreate(LinuxSyn, out var eth));
        Assert.Equal(EtherType.Ipv4, eth.EtherType);
        Assert.Equal(WireError.None, Ipv4Packet.TryCreate(eth.Payload, out var ip));
        Assert.True(ip.ChecksumOk);
        Assert.Equal(WireError.None, Ipv4Repr.Parse(ip, verifyChecksum: true, out var ipr));
        Assert.Equal(Ipv4Address.Parse("127.0.0.1"), ipr.Source);
        Assert.Equal(IpProtocol.Tcp, ipr.Protocol);
        Assert.Equal(40, ipr.PayloadLength);
        Assert.Equal(64, ipr.Ttl);
        Assert.True(ipr.DontFragment);
        Assert.Equal((ushort)0x2bc4, ipr.Ident);
        Assert.Equal(WireError.None, TcpPacket.TryCreate(ip.Payload, out var tcp));
        Assert.Equal(WireError.None, TcpRepr.Parse(tcp, ipr.Source, ipr.Destination, verifyChecksum: false, out var t));
        Assert.Equal((ushort)32788, t.SourcePort);
        Assert.Equal((ushort)9, t.DestinationPort);
        Assert.Equal(0xdad10c51u, t.Seq);
        Assert.Equal(TcpFlags.Syn, t.Flags);
        Assert.Equal((ushort)65495, t.Window);
        Assert.Equal((ushort)65495, t.Options.Mss);
        Assert.True(t.Options.SackPermitted);
        Assert.True(t.Options.HasTimestamp);
        Assert.Equal(0xddbc147du, t.Options.TsVal);
        Assert.Equal(0u, t.Options.TsEcr);
        Assert.Equal(10, t.Options.WindowScale);
        Assert.Equal(0, t.PayloadLength);
    }

    [Fact]
    public void Every_truncation_of_the_syn_is_a_typed_error()
    {
        var ip = LinuxSyn.AsSpan(14).ToArray();
        for (int n = 0; n < ip.Length; n++)
            Assert.Equal(WireError.Truncated, Ipv4Packet.TryCreate(ip.AsSpan(0, n), out _));
        var tcp = LinuxSyn.AsSpan(34).ToArray();
        for (int n = 0; n < tcp.Length; n++)
            Assert.Equal(WireError.Truncated, TcpPacket.TryCreate(tcp.AsSpan(0, n), out _));
        for (int n = 0; n < 14; n++)
            Assert.Equal(WireError.Truncated, EthernetFrame.TryCreate(LinuxSyn.AsSpan(0, n), out _));
    }

    [Fact]
    public void Bad_header_fields_give_the_right_error()
    {
        var ip = LinuxSyn.AsSpan(14).ToArray();
        var b = (byte[])ip.Clone(); b[0] = 0x65;
        Assert.Equal(WireError.BadVersion, Ipv4Packet.TryCreate(b, out _));
        b = (byte[])ip.Clone(); b[0] = 0x44;
        Assert.Equal(WireError.BadHeaderLength, Ipv4Packet.TryCreate(b, out _));
        b = (byte[])ip.Clone(); b[2] = 0; b[3] = 10;
        Assert.Equal(WireError.BadLength, Ipv4Packet.TryCreate(b, out _));
        b = (byte[])ip.Clone(); b[10] ^= 1;
        Assert.Equal(WireError.None, Ipv4Packet.TryCreate(b, out var bad));
        Assert.Equal(WireError.BadChecksum, Ipv4Repr.Parse(bad, true, out _));
        var tcp = LinuxSyn.AsSpan(34).ToArray();
        b = (byte[])tcp.Clone(); b[12] = 0x40;
        Assert.Equal(WireError.BadHeaderLength, TcpPacket.TryCreate(b, out _));
        b = (byte[])tcp.Clone(); b[21] = 9; // MSS option with length 9 runs past the area
        Assert.Equal(WireError.None, TcpPacket.TryCreate(b, out var t));
        Assert.Equal(WireError.BadOption, TcpRepr.Parse(t, default, default, false, out _));
        b = (byte[])tcp.Clone(); b[21] = 3; // MSS option must be 4 bytes
        Assert.Equal(WireError.None, TcpPacket.TryCreate(b, out t));
        Assert.Equal(WireError.BadOption, TcpRepr.Parse(t, default, default, false, out _));
        Assert.Equal(WireError.BadLength, UdpPacket.TryCreate(new byte[] { 0, 1, 0, 2, 0, 4, 0, 0 }, out _));
        Assert.Equal(WireError.Truncated, UdpPacket.TryCreate(new byte[] { 0, 1, 0, 2, 0, 40, 0, 0 }, out _));
    }

    [Fact]
    public void Tcp_with_every_option_round_trips_and_its_checksum_verifies()
    {
        var o = TcpOptions.Empty;
        o.Mss = 1460;
        o.WindowScale = 7;
        o.SackPermitted = true;
        o.HasTimestamp = true;
        o.TsVal = 123456;
        o.TsEcr = 654321;
        var withSack = o;
        withSack.SackPermitted = false;
        withSack.Mss = 0;
        withSack.WindowScale = -1;
        withSack.AddSack(new SackBlock(1000, 2000));
        withSack.AddSack(new SackBlock(3000, 4000));
        withSack.AddSack(new SackBlock(5000, 6000));
        var src = Ipv4Address.Parse("10.0.0.1");
        var dst = Ipv4Address.Parse("10.0.0.2");
        foreach (var opts in new[] { o, withSack, TcpOptions.Empty })
        {
            var repr = new TcpRepr { SourcePort = 5000, DestinationPort = 80, Seq = 1, Ack = 2, Flags = TcpFlags.Ack | TcpFlags.Psh, Window = 501, Options = opts, PayloadLength = 11 };
            var seg = new byte[repr.BufferLength];
            "hello world"u8.CopyTo(seg.AsSpan(repr.HeaderLength));
            repr.Emit(seg, src, dst);
            Assert.Equal(WireError.None, TcpPacket.TryCreate(seg, out var p));
            Assert.True(p.ChecksumOk(src, dst));
            Assert.Equal(WireError.None, TcpRepr.Parse(p, src, dst, true, out var back));
            Assert.Equal(repr.Seq, back.Seq);
            Assert.Equal(repr.Flags, back.Flags);
            Assert.Equal(repr.Options.Mss, back.Options.Mss);
            Assert.Equal(repr.Options.WindowScale, back.Options.WindowScale);
            Assert.Equal(repr.Options.SackCount, back.Options.SackCount);
            for (int i = 0; i < repr.Options.SackCount; i++) Assert.Equal(repr.Options.Sack(i), back.Options.Sack(i));
            Assert.Equal(repr.Options.TsVal, back.Options.TsVal);
            Assert.Equal("hello world"u8.ToArray(), p.Payload.ToArray());
            seg[^1] ^= 0x10;
            Assert.False(p.ChecksumOk(src, dst));
        }
    }

    [Fact]
    public void Ipv4_udp_icmp_and_arp_round_trip()
    {
        var src = Ipv4Address.Parse("192.168.1.10");
        var dst = Ipv4Address.Parse("192.168.1.1");
        var buf = new byte[20 + 8 + 5];
        var ipr = new Ipv4Repr { Source = src, Destination = dst, Protocol = IpProtocol.Udp, PayloadLength = 13, Ttl = 64, Ident = 7, DontFragment = true };
        ipr.Emit(buf);
        "abcde"u8.CopyTo(buf.AsSpan(28));
        new UdpRepr(1111, 53, 5).Emit(buf.AsSpan(20), src, dst);
        Assert.Equal(WireError.None, Ipv4Packet.TryCreate(buf, out var ip));
        Assert.Equal(WireError.None, Ipv4Repr.Parse(ip, true, out var ipBack));
        Assert.Equal(ipr, ipBack);
        Assert.Equal(WireError.None, UdpPacket.TryCreate(ip.Payload, out var udp));
        Assert.Equal(WireError.None, UdpRepr.Parse(udp, src, dst, true, out var u));
        Assert.Equal(new UdpRepr(1111, 53, 5), u);

        var icmp = new byte[8 + 56];
        new IcmpV4Repr(IcmpV4Type.EchoRequest, 0, 0x1234, 1, 56).Emit(icmp);
        Assert.Equal(WireError.None, IcmpV4Packet.TryCreate(icmp, out var ic));
        Assert.Equal(WireError.None, IcmpV4Repr.Parse(ic, true, out var icr));
        Assert.Equal((ushort)0x1234, icr.Ident);
        icmp[10] ^= 1;
        Assert.Equal(WireError.BadChecksum, IcmpV4Repr.Parse(ic, true, out _));

        var arp = new byte[28];
        var a = new ArpRepr(ArpOperation.Request, EthernetAddress.Parse("02:00:00:00:00:01"), src, default, dst);
        a.Emit(arp);
        Assert.Equal(WireError.None, ArpPacket.TryCreate(arp, out var ap));
        Assert.Equal(WireError.None, ArpRepr.Parse(ap, out var aBack));
        Assert.Equal(a, aBack);
        arp[1] = 6; // hardware type 6 (IEEE 802): not ours
        Assert.Equal(WireError.Unsupported, ArpPacket.TryCreate(arp, out _));
    }

    [Fact]
    public void Incremental_checksum_update_matches_a_full_recompute()
    {
        Gen.Select(Gen.Byte.Array[20], Gen.UInt).Sample((hdr, newAddr) =>
        {
            hdr[0] = 0x45;
            hdr[10] = hdr[11] = 0;
            ushort c = Netmem.Skb.InetChecksum.Compute(hdr);
            uint old = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(hdr.AsSpan(12));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(hdr.AsSpan(12), newAddr);
            ushort full = Netmem.Skb.InetChecksum.Compute(hdr);
            ushort inc = Checksum.Replace32(c, old, newAddr);
            // 0x0000 and 0xFFFF are the same ones-complement value
            return inc == full || (inc ^ full) == 0xFFFF && (inc == 0 || full == 0);
        });
    }

    [Fact]
    public void Random_bytes_never_throw_from_any_parser()
    {
        Gen.Byte.Array[0, 100].Sample(b =>
        {
            if (EthernetFrame.TryCreate(b, out var e) == WireError.None) _ = (e.EtherType, e.Payload.Length, e.VlanId);
            if (Ipv4Packet.TryCreate(b, out var ip) == WireError.None)
            {
                Ipv4Repr.Parse(ip, true, out _);
                _ = ip.Payload.Length + ip.Options.Length;
            }
            if (TcpPacket.TryCreate(b, out var t) == WireError.None) TcpRepr.Parse(t, default, default, true, out _);
            if (UdpPacket.TryCreate(b, out var u) == WireError.None) UdpRepr.Parse(u, default, default, true, out _);
            if (IcmpV4Packet.TryCreate(b, out var ic) == WireError.None) IcmpV4Repr.Parse(ic, true, out _);
            if (ArpPacket.TryCreate(b, out var a) == WireError.None) ArpRepr.Parse(a, out _);
            TcpOptions.Parse(b, out _);
        }, iter: 20_000);
    }

    [Fact]
    public void Mutations_of_a_valid_packet_never_throw()
    {
        Gen.Select(Gen.Int[0, LinuxSyn.Length - 1], Gen.Byte, Gen.Int[0, LinuxSyn.Length]).Sample((at, v, cut) =>
        {
            var b = (byte[])LinuxSyn.Clone();
            b[at] = v;
            var s = b.AsSpan(0, cut);
            if (EthernetFrame.TryCreate(s, out var e) == WireError.None && Ipv4Packet.TryCreate(e.Payload, out var ip) == WireError.None
                && Ipv4Repr.Parse(ip, false, out var r) == WireError.None && TcpPacket.TryCreate(ip.Payload, out var t) == WireError.None)
                TcpRepr.Parse(t, r.Source, r.Destination, true, out _);
        }, iter: 20_000);
    }

    [Fact]
    public void Parse_and_emit_allocate_nothing()
    {
        var seg = new byte[LinuxSyn.Length];
        void Once()
        {
            EthernetFrame.TryCreate(LinuxSyn, out var e);
            Ipv4Packet.TryCreate(e.Payload, out var ip);
            Ipv4Repr.Parse(ip, true, out var r);
            TcpPacket.TryCreate(ip.Payload, out var t);
            TcpRepr.Parse(t, r.Source, r.Destination, false, out var tr);
            tr.Emit(seg.AsSpan(34), r.Source, r.Destination);
            r.Emit(seg.AsSpan(14));
        }
        for (int i = 0; i < 100; i++) Once();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++) Once();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
