using Netmem.Skb;

namespace Netmem.Wire;

/// <summary>
/// The IPv4 pseudo-header that TCP and UDP checksums cover (RFC 793 section 3.1, RFC 768): source,
/// destination, a zero byte, the protocol and the transport length. It never exists on the wire, so
/// it is summed from its fields; the result is an <see cref="InetChecksum"/> partial sum (sum of
/// big-endian 16-bit words) that combines with the segment's own sum.
/// </summary>
public static class PseudoHeader
{
    /// <summary>
    /// <c>csum_tcpudp_nofold</c>: adds the pseudo-header to <paramref name="sum"/> without folding.
    /// A host-order uint address is the two big-endian words hi*2^16 + lo, and 2^16 is 1 modulo 0xFFFF,
    /// so adding the whole uint contributes exactly hi + lo.
    /// </summary>
    public static uint Sum(Ipv4Address source, Ipv4Address destination, IpProtocol protocol, int length, uint sum = 0)
    {
        sum = InetChecksum.Add(sum, source.ToUInt32());
        sum = InetChecksum.Add(sum, destination.ToUInt32());
        return InetChecksum.Add(sum, (uint)protocol + (uint)(ushort)length);
    }

    /// <summary>
    /// <c>csum_tcpudp_magic</c>: the folded, complemented checksum of pseudo-header plus
    /// <paramref name="payloadSum"/> (the partial sum of the transport header and data).
    /// </summary>
    public static ushort Checksum(Ipv4Address source, Ipv4Address destination, IpProtocol protocol, int length, uint payloadSum) =>
        InetChecksum.Fold(Sum(source, destination, protocol, length, payloadSum));

    /// <summary>
    /// The value a sender leaves in the checksum field when the device finishes the checksum
    /// (CHECKSUM_PARTIAL): the folded pseudo-header sum, not complemented. The device then sums from the
    /// transport header to the end and stores the complement, which yields the full checksum.
    /// </summary>
    public static ushort PartialChecksum(Ipv4Address source, Ipv4Address destination, IpProtocol protocol, int length) =>
        (ushort)~Checksum(source, destination, protocol, length, 0);
}
