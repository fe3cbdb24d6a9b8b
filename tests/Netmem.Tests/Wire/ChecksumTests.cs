using System.Buffers.Binary;
using CsCheck;
using Netmem.Skb;
using Netmem.Wire;
using static Netmem.Tests.Wire.Captures;

namespace Netmem.Tests.Wire;

public sealed class ChecksumTests
{
    [Fact]
    public void Rfc1624_example_gives_plus_zero()
    {
        // RFC 1624 section 4: m = 0x5555 -> 0x3285 under HC = 0xDD2F; equation 3 yields 0x0000, not -0.
        Assert.Equal(0x0000, ChecksumUpdate.Replace2(0xDD2F, 0x5555, 0x3285));
    }

    [Fact]
    public void Pseudo_header_sum_equals_summing_its_twelve_bytes()
    {
        Gen.Select(Gen.UInt, Gen.UInt, Gen.Byte, Gen.Int[0, 65535]).Sample((src, dst, proto, len) =>
        {
            Span<byte> ph = stackalloc byte[12];
            BinaryPrimitives.WriteUInt32BigEndian(ph, src);
            BinaryPrimitives.WriteUInt32BigEndian(ph[4..], dst);
            ph[8] = 0;
            ph[9] = proto;
            BinaryPrimitives.WriteUInt16BigEndian(ph[10..], (ushort)len);
            return InetChecksum.Fold(InetChecksum.Partial(ph)) ==
                   PseudoHeader.Checksum(new Ipv4Address(src), new Ipv4Address(dst), (IpProtocol)proto, len, 0);
        });
    }

    /// <summary>Checksums equal modulo the two representations of zero (0x0000 and 0xFFFF sum alike).</summary>
    private static bool SameChecksum(ushort a, ushort b) => a == b || (a is 0 or 0xFFFF && b is 0 or 0xFFFF);

    [Fact]
    public void Replace2_matches_recomputing_the_header()
    {
        Gen.Select(Gen.Byte.Array[20], Gen.Int[0, 9], Gen.UShort).Sample((header, word, value) =>
        {
            header[10] = header[11] = 0;
            ushort check = InetChecksum.Compute(header);
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(10), check);
            int at = word * 2;
            if (at == 10) return true; // the checksum field itself is not a payload field
            ushort from = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(at));
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(at), value);
            ushort incremental = ChecksumUpdate.Replace2(check, from, value);
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(10), incremental);
            bool verifies = InetChecksum.Compute(header) == 0;
            header[10] = header[11] = 0;
            return verifies && SameChecksum(incremental, InetChecksum.Compute(header));
        });
    }

    [Fact]
    public void Replace4_matches_recomputing_after_an_address_rewrite()
    {
        Gen.Select(Gen.Byte.Array[20], Gen.UInt, Gen.Bool).Sample((header, address, source) =>
        {
            header[10] = header[11] = 0;
            ushort check = InetChecksum.Compute(header);
            int at = source ? 12 : 16;
            uint from = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(at));
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(at), address);
            ushort incremental = ChecksumUpdate.Replace4(check, from, address);
            return SameChecksum(incremental, InetChecksum.Compute(header));
        });
    }

    [Fact]
    public void Nat_rewrite_of_a_captured_segment_keeps_both_checksums_valid()
    {
        // Source NAT 192.168.1.1 -> 203.0.113.7 on the captured data segment: the address is in the IPv4
        // header and in the TCP pseudo-header, so both checksums get the same 32-bit replacement.
        var ipBytes = Hex(TcpData)[14..];
        MutableIpv4Packet.TryCreate(ipBytes, out var ip);
        MutableTcpPacket.TryCreate(ip.Payload, out var tcp);
        var from = ip.Source;
        var to = Ipv4Address.Parse("203.0.113.7");
        ip.Source = to;
        ip.Checksum = ChecksumUpdate.Replace4(ip.Checksum, from.ToUInt32(), to.ToUInt32());
        tcp.Checksum = ChecksumUpdate.Replace4(tcp.Checksum, from.ToUInt32(), to.ToUInt32());
        Assert.True(ip.ReadOnly.VerifyChecksum());
        Assert.True(tcp.ReadOnly.VerifyChecksum(to, ip.Destination));

        // The same rewrite on a segment whose checksum the device will finish (CHECKSUM_PARTIAL).
        tcp.FillPartialChecksum(to, ip.Destination);
        tcp.Checksum = ChecksumUpdate.ReplacePartial4(tcp.Checksum, to.ToUInt32(), from.ToUInt32());
        Assert.Equal(PseudoHeader.PartialChecksum(from, ip.Destination, IpProtocol.Tcp, tcp.Buffer.Length), tcp.Checksum);
    }

    [Fact]
    public void ReplacePartial4_matches_recomputing_the_pseudo_header_sum()
    {
        Gen.Select(Gen.UInt, Gen.UInt, Gen.UInt, Gen.Int[0, 65535]).Sample((src, dst, newSrc, len) =>
        {
            ushort partial = PseudoHeader.PartialChecksum(new(src), new(dst), IpProtocol.Udp, len);
            ushort updated = ChecksumUpdate.ReplacePartial4(partial, src, newSrc);
            return SameChecksum(updated, PseudoHeader.PartialChecksum(new(newSrc), new(dst), IpProtocol.Udp, len));
        });
    }
}
