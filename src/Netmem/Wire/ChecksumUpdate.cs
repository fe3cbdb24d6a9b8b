using Netmem.Skb;

namespace Netmem.Wire;

/// <summary>
/// Incremental checksum update (RFC 1624): when one field of a checksummed header changes (a TTL
/// decrement, a NAT address rewrite), the checksum is fixed from the old and new field values alone,
/// without summing the packet again. RFC 1624 equation 3, HC' = ~(~HC + ~m + m'), is used because it
/// never produces the -0 that equation 2 can. A UDP checksum of 0 means "none" and must be left alone
/// by the caller; a UDP result of 0 is stored as 0xFFFF (the kernel's CSUM_MANGLED_0).
/// </summary>
public static class ChecksumUpdate
{
    /// <summary><c>csum_replace2</c>: <paramref name="check"/> after a 16-bit field went from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public static ushort Replace2(ushort check, ushort from, ushort to) =>
        InetChecksum.Fold(InetChecksum.Add(InetChecksum.Sub((ushort)~check, from), to));

    /// <summary>
    /// <c>csum_replace4</c>: the same for a 32-bit field (an IPv4 address, a sequence number). The
    /// values are host-order uints of the big-endian field, which sum as their two 16-bit words.
    /// </summary>
    public static ushort Replace4(ushort check, uint from, uint to) =>
        InetChecksum.Fold(InetChecksum.Add(InetChecksum.Sub((ushort)~check, from), to));

    /// <summary>
    /// <c>inet_proto_csum_replace4</c> for a packet whose transport checksum is left to the device
    /// (CHECKSUM_PARTIAL): the field then holds the uncomplemented pseudo-header sum, so a changed
    /// address is subtracted and added without the complements. For a fully computed transport checksum
    /// a pseudo-header change is an ordinary <see cref="Replace4"/>.
    /// </summary>
    public static ushort ReplacePartial4(ushort partial, uint from, uint to) =>
        (ushort)~InetChecksum.Fold(InetChecksum.Add(InetChecksum.Sub(partial, from), to));
}
