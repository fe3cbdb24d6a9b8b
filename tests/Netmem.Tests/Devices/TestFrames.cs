using System.Buffers.Binary;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Tests.Devices;

/// <summary>Builds valid Ethernet/IPv4/UDP and TCP frames (checksums filled) for device tests.</summary>
internal static class TestFrames
{
    public const uint IpA = 0x0A00_0001, IpB = 0x0A00_0002; // 10.0.0.1, 10.0.0.2

    public static byte[] Payload(int length, int seed)
    {
        var p = new byte[length];
        for (int i = 0; i < p.Length; i++) p[i] = (byte)(seed * 131 + i * 7 + (i >> 8));
        return p;
    }

    public static byte[] Udp(EthernetAddress dst, EthernetAddress src, uint sip, uint dip, ushort sport, ushort dport, ReadOnlySpan<byte> payload)
    {
        var f = new byte[14 + 20 + 8 + payload.Length];
        Eth(f, dst, src);
        Ip(f.AsSpan(14), sip, dip, 17, 20 + 8 + payload.Length, 1);
        var u = f.AsSpan(34);
        BinaryPrimitives.WriteUInt16BigEndian(u, sport);
        BinaryPrimitives.WriteUInt16BigEndian(u[2..], dport);
        BinaryPrimitives.WriteUInt16BigEndian(u[4..], (ushort)(8 + payload.Length));
        payload.CopyTo(u[8..]);
        L4Csum(f, 17, 6);
        return f;
    }

    public static byte[] Tcp(EthernetAddress dst, EthernetAddress src, uint sip, uint dip, ushort sport, ushort dport, uint seq, byte flags, ReadOnlySpan<byte> payload)
    {
        var f = new byte[14 + 20 + 20 + payload.Length];
        Eth(f, dst, src);
        Ip(f.AsSpan(14), sip, dip, 6, 20 + 20 + payload.Length, 7);
        var t = f.AsSpan(34);
        BinaryPrimitives.WriteUInt16BigEndian(t, sport);
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], dport);
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], seq);
        t[12] = 5 << 4;
        t[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(t[14..], 65535);
        payload.CopyTo(t[20..]);
        L4Csum(f, 6, 16);
        return f;
    }

    private static void Eth(Span<byte> f, EthernetAddress dst, EthernetAddress src)
    {
        dst.Write(f);
        src.Write(f[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(f[12..], 0x0800);
    }

    private static void Ip(Span<byte> ip, uint sip, uint dip, byte proto, int total, ushort id)
    {
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)total);
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], id);
        ip[6] = 0x40; // DF
        ip[8] = 64;
        ip[9] = proto;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], sip);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], dip);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InetChecksum.Compute(ip[..20]));
    }

    /// <summary>Fills the L4 checksum at <paramref name="csumOff"/> within the L4 header.</summary>
    public static void L4Csum(Span<byte> f, byte proto, int csumOff)
    {
        var l4 = f[34..];
        l4[csumOff] = l4[csumOff + 1] = 0;
        uint sum = PseudoSum(f, proto, l4.Length);
        BinaryPrimitives.WriteUInt16BigEndian(l4[csumOff..], InetChecksum.Fold(InetChecksum.Partial(l4, sum)));
    }

    public static uint PseudoSum(ReadOnlySpan<byte> f, byte proto, int l4len)
    {
        Span<byte> p = stackalloc byte[12];
        f.Slice(26, 8).CopyTo(p);
        p[9] = proto;
        BinaryPrimitives.WriteUInt16BigEndian(p[10..], (ushort)l4len);
        return InetChecksum.Partial(p);
    }

    /// <summary>True when the frame's IPv4 header and TCP/UDP checksums verify.</summary>
    public static bool ChecksumsOk(ReadOnlySpan<byte> f)
    {
        if (InetChecksum.Fold(InetChecksum.Partial(f.Slice(14, 20))) != 0) return false;
        int total = BinaryPrimitives.ReadUInt16BigEndian(f[16..]);
        var l4 = f.Slice(34, total - 20);
        return InetChecksum.Fold(InetChecksum.Partial(l4, PseudoSum(f, f[23], l4.Length))) == 0;
    }
}
