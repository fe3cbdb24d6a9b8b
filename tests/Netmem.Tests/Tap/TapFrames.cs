using System.Buffers.Binary;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Tests.Tap;

/// <summary>Frames for the TAP tests, built with the Wire reprs.</summary>
internal static class TapFrames
{
    public const int UdpHeaders = 14 + 20 + 8;

    /// <summary>Payload byte <paramref name="j"/> of datagram <paramref name="seq"/>: the first 4 bytes are seq, then a pattern.</summary>
    public static void FillPayload(Span<byte> p, int seq)
    {
        for (int j = 0; j < p.Length; j++) p[j] = (byte)(j * 13 + seq);
        if (p.Length >= 4) BinaryPrimitives.WriteInt32BigEndian(p, seq);
    }

    public static byte[] Payload(int length, int seq)
    {
        var b = new byte[length];
        FillPayload(b, seq);
        return b;
    }

    /// <summary>
    /// Ethernet + IPv4 + UDP around <paramref name="payload"/>. With <paramref name="partial"/> the UDP
    /// checksum field holds only the pseudo-header sum (what CHECKSUM_PARTIAL hands a device), else the full checksum.
    /// </summary>
    public static byte[] Udp(EthernetAddress src, EthernetAddress dst, Ipv4Address sip, Ipv4Address dip, ushort sport, ushort dport, ReadOnlySpan<byte> payload, bool partial)
    {
        var f = new byte[UdpHeaders + payload.Length];
        new EthernetRepr(src, dst, EtherType.Ipv4).Emit(f);
        var udp = new UdpRepr(sport, dport, payload.Length);
        new Ipv4Repr(sip, dip, IpProtocol.Udp, udp.BufferLength) { Identification = 7 }.Emit(f.AsSpan(14));
        payload.CopyTo(f.AsSpan(UdpHeaders));
        udp.Emit(f.AsSpan(34), sip, dip, fillChecksum: !partial);
        if (partial)
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(34 + 6), PseudoHeader.PartialChecksum(sip, dip, IpProtocol.Udp, udp.BufferLength));
        return f;
    }

    /// <summary>Ethernet + IPv4 + a 20-byte TCP header (ACK) + payload, checksum field seeded for CHECKSUM_PARTIAL.</summary>
    public static byte[] TcpPartial(EthernetAddress src, EthernetAddress dst, Ipv4Address sip, Ipv4Address dip, ReadOnlySpan<byte> payload)
    {
        const int hl = 14 + 20 + 20;
        var f = new byte[hl + payload.Length];
        new EthernetRepr(src, dst, EtherType.Ipv4).Emit(f);
        new Ipv4Repr(sip, dip, IpProtocol.Tcp, 20 + payload.Length).Emit(f.AsSpan(14));
        var t = f.AsSpan(34);
        BinaryPrimitives.WriteUInt16BigEndian(t, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], 5201);
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], 1000);
        BinaryPrimitives.WriteUInt32BigEndian(t[8..], 1);
        t[12] = 5 << 4;
        t[13] = 0x10;
        BinaryPrimitives.WriteUInt16BigEndian(t[14..], 65535);
        payload.CopyTo(f.AsSpan(hl));
        BinaryPrimitives.WriteUInt16BigEndian(t[16..], PseudoHeader.PartialChecksum(sip, dip, IpProtocol.Tcp, 20 + payload.Length));
        return f;
    }

    /// <summary>Completes a CHECKSUM_PARTIAL checksum the way a device does: sum from csum_start, store at csum_start + csum_offset.</summary>
    public static void CompleteChecksum(Span<byte> frame, int csumStart, int csumOffset)
    {
        ushort c = InetChecksum.Fold(InetChecksum.Partial(frame[csumStart..]));
        BinaryPrimitives.WriteUInt16BigEndian(frame[(csumStart + csumOffset)..], c);
    }

    /// <summary>An skb for transmit: the first <paramref name="inHead"/> bytes of <paramref name="frame"/> in the head, the rest in arena-page frags of <paramref name="fragSize"/>.</summary>
    public static SkBuff TxSkb(SkbCache cache, ReadOnlySpan<byte> frame, int inHead, int fragSize = 3000)
    {
        Assert.InRange(fragSize, 1, 4096 - 100);
        var skb = cache.Alloc(inHead + 64)!;
        skb.Reserve(64);
        skb.PutData(frame[..inHead]);
        int off = inHead;
        while (off < frame.Length)
        {
            int n = Math.Min(fragSize, frame.Length - off);
            var page = cache.Arena.AllocPages();
            Assert.False(page.IsNull);
            frame.Slice(off, n).CopyTo(page.GetSpan(100, n));
            skb.AddRxFragNetmem(page, 100, n, 4096);
            off += n;
        }
        return skb;
    }
}
