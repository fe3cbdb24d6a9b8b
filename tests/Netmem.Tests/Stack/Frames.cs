using System.Buffers.Binary;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Tests.Stack;

/// <summary>Hand-built frames for the receive-path tests (Ethernet + IPv4 + payload).</summary>
internal static class Frames
{
    public static byte[] Ipv4(EthernetAddress dstMac, EthernetAddress srcMac, Ipv4Address src, Ipv4Address dst, IpProtocol proto,
        ushort id, int fragOffset, bool more, ReadOnlySpan<byte> payload, bool df = false)
    {
        var f = new byte[14 + 20 + payload.Length];
        new EthernetRepr(srcMac, dstMac, EtherType.Ipv4).Emit(f);
        new Ipv4Repr(src, dst, proto, payload.Length) { Identification = id, FragmentOffset = fragOffset, MoreFragments = more, DontFragment = df }.Emit(f.AsSpan(14));
        payload.CopyTo(f.AsSpan(34));
        return f;
    }

    /// <summary>A UDP datagram (header + data) with a valid checksum.</summary>
    public static byte[] Udp(Ipv4Address src, Ipv4Address dst, ushort sport, ushort dport, ReadOnlySpan<byte> data)
    {
        var u = new byte[8 + data.Length];
        data.CopyTo(u.AsSpan(8));
        new UdpRepr(sport, dport, data.Length).Emit(u, src, dst);
        return u;
    }

    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = (byte)(i * 31 + seed * 17 + (i >> 8));
        return b;
    }

    /// <summary>Recomputes the IPv4 header checksum of a frame (after a mutation).</summary>
    public static void FixIpChecksum(Span<byte> frame)
    {
        if (frame.Length < 34) return;
        int ihl = (frame[14] & 0xF) * 4;
        if (ihl < 20 || frame.Length < 14 + ihl) return;
        frame[24] = frame[25] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(frame[24..], InetChecksum.Compute(frame.Slice(14, ihl)));
    }
}
