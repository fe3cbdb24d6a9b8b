using System.Buffers.Binary;
using Netmem.Skb;

namespace Netmem.Wire;

/// <summary>Checksum helpers the packet formats share: the IPv4 pseudo-header and RFC 1624 incremental updates.</summary>
public static class Checksum
{
    /// <summary><c>csum_tcpudp_nofold</c>: the partial sum of the IPv4 pseudo-header.</summary>
    public static uint PseudoHeader(Ipv4Address src, Ipv4Address dst, byte protocol, int length)
    {
        ulong s = (ulong)(src.Value >> 16) + (src.Value & 0xFFFF) + (dst.Value >> 16) + (dst.Value & 0xFFFF) + protocol + (uint)length;
        s = (s & 0xFFFF_FFFF) + (s >> 32);
        return (uint)s;
    }

    /// <summary>The folded checksum of a whole L4 segment with its pseudo-header (0 means it verifies).</summary>
    public static ushort L4(Ipv4Address src, Ipv4Address dst, byte protocol, ReadOnlySpan<byte> segment) =>
        InetChecksum.Fold(InetChecksum.Partial(segment, PseudoHeader(src, dst, protocol, segment.Length)));

    /// <summary>
    /// <c>csum_replace2</c> (RFC 1624 eqn. 3): the checksum field value after a 16-bit word covered by it
    /// changes from <paramref name="from"/> to <paramref name="to"/>.
    /// </summary>
    public static ushort Replace16(ushort check, ushort from, ushort to)
    {
        uint sum = (ushort)~check + (uint)(ushort)~from + to;
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    /// <summary><c>csum_replace4</c>: as <see cref="Replace16"/> for a 32-bit field (an address).</summary>
    public static ushort Replace32(ushort check, uint from, uint to) =>
        Replace16(Replace16(check, (ushort)(from >> 16), (ushort)(to >> 16)), (ushort)from, (ushort)to);

    /// <summary>Reads the 16-bit big-endian field at <paramref name="offset"/>.</summary>
    internal static ushort Field(ReadOnlySpan<byte> b, int offset) => BinaryPrimitives.ReadUInt16BigEndian(b[offset..]);
}
