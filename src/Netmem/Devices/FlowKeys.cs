using System.Buffers.Binary;

namespace Netmem.Devices;

/// <summary>
/// <c>struct flow_keys</c>: what <see cref="FlowDissector"/> found in a frame's headers. Offsets are from
/// the start of the Ethernet header. Addresses and ports are in host order.
/// </summary>
public struct FlowKeys
{
    public ushort EtherType;
    /// <summary>Offset of the IPv4 header (0 when not IPv4).</summary>
    public int NetworkOffset;
    /// <summary>Offset of the TCP/UDP header (0 when none).</summary>
    public int TransportOffset;
    /// <summary>Length of all headers through the L4 header: where payload starts (0 when not TCP/UDP).</summary>
    public int HeaderLength;
    public byte IpProto;
    public uint SrcAddr, DstAddr;
    public ushort SrcPort, DstPort;
    /// <summary>IPv4 total length field (0 when not IPv4).</summary>
    public int IpTotalLength;
    /// <summary>The packet is an IPv4 fragment (ports are not looked at).</summary>
    public bool IsFragment;
    public bool IsIpv4 => NetworkOffset != 0;
    /// <summary>TCP or UDP with its whole header present.</summary>
    public bool HasPorts => TransportOffset != 0;
}

/// <summary>
/// <c>skb_flow_dissect</c> over raw frame bytes, as a NIC's parser (and RSS engine) runs it: Ethernet
/// (with one 802.1Q tag), IPv4 and the TCP/UDP ports. Never throws on garbage: it stops at the first
/// header it cannot make sense of and reports how far it got.
/// </summary>
public static class FlowDissector
{
    public const ushort EthPIp = 0x0800;
    public const ushort EthPArp = 0x0806;
    public const ushort EthP8021Q = 0x8100;
    public const byte IpProtoTcp = 6;
    public const byte IpProtoUdp = 17;

    /// <summary>Dissects <paramref name="frame"/>. Returns false when not even an Ethernet header is present.</summary>
    public static bool Dissect(ReadOnlySpan<byte> frame, out FlowKeys keys)
    {
        keys = default;
        if (frame.Length < 14) return false;
        int off = 12;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(frame[off..]);
        off += 2;
        if (type == EthP8021Q)
        {
            if (frame.Length < 18) return true;
            type = BinaryPrimitives.ReadUInt16BigEndian(frame[(off + 2)..]);
            off += 4;
        }
        keys.EtherType = type;
        if (type != EthPIp || frame.Length < off + 20) return true;
        var ip = frame[off..];
        int ihl = (ip[0] & 0xF) * 4;
        if (ip[0] >> 4 != 4 || ihl < 20 || ip.Length < ihl) return true;
        keys.NetworkOffset = off;
        keys.IpTotalLength = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        keys.IpProto = ip[9];
        keys.SrcAddr = BinaryPrimitives.ReadUInt32BigEndian(ip[12..]);
        keys.DstAddr = BinaryPrimitives.ReadUInt32BigEndian(ip[16..]);
        ushort fragField = BinaryPrimitives.ReadUInt16BigEndian(ip[6..]);
        keys.IsFragment = (fragField & 0x3FFF) != 0; // MF or a nonzero offset
        if (keys.IsFragment) return true;
        int l4 = off + ihl;
        if (keys.IpProto == IpProtoTcp)
        {
            if (frame.Length < l4 + 20) return true;
            int doff = (frame[l4 + 12] >> 4) * 4;
            if (doff < 20 || frame.Length < l4 + doff) return true;
            keys.HeaderLength = l4 + doff;
        }
        else if (keys.IpProto == IpProtoUdp)
        {
            if (frame.Length < l4 + 8) return true;
            keys.HeaderLength = l4 + 8;
        }
        else
        {
            return true;
        }
        keys.TransportOffset = l4;
        keys.SrcPort = BinaryPrimitives.ReadUInt16BigEndian(frame[l4..]);
        keys.DstPort = BinaryPrimitives.ReadUInt16BigEndian(frame[(l4 + 2)..]);
        return true;
    }
}
