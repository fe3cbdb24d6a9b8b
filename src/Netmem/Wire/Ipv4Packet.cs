using System.Buffers.Binary;
using Netmem.Skb;

namespace Netmem.Wire;

/// <summary>
/// A read-only view of an IPv4 datagram (RFC 791). <see cref="TryCreate"/> applies the receive checks
/// that make every getter safe: version 4, IHL at least 5, header inside the buffer, total length at
/// least the header and inside the buffer. Options are not interpreted; <see cref="Options"/> exposes
/// their bytes and <see cref="Payload"/> starts after them. Bytes past the total length (Ethernet
/// padding) are outside <see cref="Payload"/>. The checksum is only checked by
/// <see cref="VerifyChecksum"/>, so a caller whose device already verified it skips the work.
/// </summary>
public readonly ref struct Ipv4Packet
{
    /// <summary>The header without options (IHL 5).</summary>
    public const int MinHeaderLength = 20;
    /// <summary>IHL 15.</summary>
    public const int MaxHeaderLength = 60;

    internal const int VersionIhlOffset = 0;
    internal const int DscpEcnOffset = 1;
    internal const int TotalLengthOffset = 2;
    internal const int IdentificationOffset = 4;
    internal const int FlagsFragmentOffset = 6;
    internal const int TtlOffset = 8;
    internal const int ProtocolOffset = 9;
    internal const int ChecksumOffset = 10;
    internal const int SourceOffset = 12;
    internal const int DestinationOffset = 16;

    internal const ushort ReservedFlagBit = 0x8000;
    internal const ushort DontFragmentBit = 0x4000;
    internal const ushort MoreFragmentsBit = 0x2000;
    internal const ushort FragmentOffsetMask = 0x1FFF;

    private readonly ReadOnlySpan<byte> _buffer;

    internal Ipv4Packet(ReadOnlySpan<byte> buffer) => _buffer = buffer;

    /// <summary>
    /// Checks the header and the total length against <paramref name="buffer"/> (the bytes after the
    /// link header). A buffer shorter than what the header claims is <see cref="ParseResult.Truncated"/>;
    /// an IHL below 5 is <see cref="ParseResult.BadHeaderLength"/>; a total length below the header
    /// length is <see cref="ParseResult.BadTotalLength"/>.
    /// </summary>
    public static ParseResult TryCreate(ReadOnlySpan<byte> buffer, out Ipv4Packet packet)
    {
        var r = CheckHeader(buffer, out int totalLength);
        if (r == ParseResult.Ok && buffer.Length < totalLength) r = ParseResult.Truncated;
        packet = r == ParseResult.Ok ? new Ipv4Packet(buffer[..totalLength]) : default;
        return r;
    }

    /// <summary>
    /// Checks the header alone, for the quoted datagram in an ICMP error (RFC 792): the quote carries
    /// the original header but only the start of the original payload, so the total length may exceed
    /// the buffer. <see cref="Payload"/> is then what is present, <see cref="TotalLength"/> what was sent.
    /// </summary>
    public static ParseResult TryCreateHeader(ReadOnlySpan<byte> buffer, out Ipv4Packet packet)
    {
        var r = CheckHeader(buffer, out int totalLength);
        packet = r == ParseResult.Ok ? new Ipv4Packet(buffer[..Math.Min(totalLength, buffer.Length)]) : default;
        return r;
    }

    private static ParseResult CheckHeader(ReadOnlySpan<byte> buffer, out int totalLength)
    {
        totalLength = 0;
        if (buffer.Length < MinHeaderLength) return ParseResult.Truncated;
        if (buffer[VersionIhlOffset] >> 4 != 4) return ParseResult.BadVersion;
        int headerLength = (buffer[VersionIhlOffset] & 0x0F) * 4;
        if (headerLength < MinHeaderLength) return ParseResult.BadHeaderLength;
        if (buffer.Length < headerLength) return ParseResult.Truncated;
        totalLength = BinaryPrimitives.ReadUInt16BigEndian(buffer[TotalLengthOffset..]);
        if (totalLength < headerLength) return ParseResult.BadTotalLength;
        return ParseResult.Ok;
    }

    /// <summary>The datagram: header and payload up to the total length (or what is present of it).</summary>
    public ReadOnlySpan<byte> Buffer => _buffer;

    public byte Version => (byte)(_buffer[VersionIhlOffset] >> 4);
    /// <summary>IHL in bytes (20..60).</summary>
    public int HeaderLength => (_buffer[VersionIhlOffset] & 0x0F) * 4;
    /// <summary>Differentiated services code point, the upper six bits of the old TOS byte.</summary>
    public byte Dscp => (byte)(_buffer[DscpEcnOffset] >> 2);
    /// <summary>Explicit congestion notification, the lower two bits (RFC 3168).</summary>
    public byte Ecn => (byte)(_buffer[DscpEcnOffset] & 0x03);
    public int TotalLength => BinaryPrimitives.ReadUInt16BigEndian(_buffer[TotalLengthOffset..]);
    public ushort Identification => BinaryPrimitives.ReadUInt16BigEndian(_buffer[IdentificationOffset..]);
    private ushort FlagsAndOffset => BinaryPrimitives.ReadUInt16BigEndian(_buffer[FlagsFragmentOffset..]);
    /// <summary>The reserved flag bit (must be zero; RFC 3514's "evil bit"). Not rejected, as Linux does not.</summary>
    public bool ReservedFlag => (FlagsAndOffset & ReservedFlagBit) != 0;
    public bool DontFragment => (FlagsAndOffset & DontFragmentBit) != 0;
    public bool MoreFragments => (FlagsAndOffset & MoreFragmentsBit) != 0;
    /// <summary>Fragment offset in bytes (the field counts 8-byte units).</summary>
    public int FragmentOffset => (FlagsAndOffset & FragmentOffsetMask) * 8;
    /// <summary>Whether this is a fragment rather than a whole datagram (MF set or offset non-zero).</summary>
    public bool IsFragment => (FlagsAndOffset & (MoreFragmentsBit | FragmentOffsetMask)) != 0;
    public byte TimeToLive => _buffer[TtlOffset];
    public IpProtocol Protocol => (IpProtocol)_buffer[ProtocolOffset];
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_buffer[ChecksumOffset..]);
    public Ipv4Address Source => Ipv4Address.Read(_buffer[SourceOffset..]);
    public Ipv4Address Destination => Ipv4Address.Read(_buffer[DestinationOffset..]);

    /// <summary>The option bytes (empty for IHL 5). Not parsed.</summary>
    public ReadOnlySpan<byte> Options => _buffer[MinHeaderLength..HeaderLength];
    public ReadOnlySpan<byte> Header => _buffer[..HeaderLength];
    public ReadOnlySpan<byte> Payload => _buffer[HeaderLength..];

    /// <summary><c>ip_fast_csum(iph, ihl) == 0</c>: whether the header (options included) sums to zero.</summary>
    public bool VerifyChecksum() => InetChecksum.Compute(Header) == 0;
}

/// <summary>
/// A writable view of an IPv4 datagram: the <see cref="Ipv4Packet"/> getters plus setters, for rewriting
/// headers in place (forwarding, NAT) and for emitting.
/// </summary>
public readonly ref struct MutableIpv4Packet
{
    private readonly Span<byte> _buffer;

    internal MutableIpv4Packet(Span<byte> buffer) => _buffer = buffer;

    /// <summary>The same checks as <see cref="Ipv4Packet.TryCreate"/>.</summary>
    public static ParseResult TryCreate(Span<byte> buffer, out MutableIpv4Packet packet)
    {
        var r = Ipv4Packet.TryCreate(buffer, out var ro);
        packet = r == ParseResult.Ok ? new MutableIpv4Packet(buffer[..ro.TotalLength]) : default;
        return r;
    }

    public Ipv4Packet ReadOnly => new(_buffer);
    public static implicit operator Ipv4Packet(MutableIpv4Packet packet) => packet.ReadOnly;

    public Span<byte> Buffer => _buffer;

    /// <summary>Writes version 4 and IHL = <paramref name="headerLength"/> / 4.</summary>
    public void SetVersionAndHeaderLength(int headerLength)
    {
        if (headerLength is < Ipv4Packet.MinHeaderLength or > Ipv4Packet.MaxHeaderLength || headerLength % 4 != 0)
            throw new ArgumentOutOfRangeException(nameof(headerLength), headerLength, "IPv4 header length is 20..60 in steps of 4");
        _buffer[Ipv4Packet.VersionIhlOffset] = (byte)(0x40 | (headerLength / 4));
    }

    public int HeaderLength => ReadOnly.HeaderLength;

    public byte Dscp
    {
        get => ReadOnly.Dscp;
        set
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, (byte)63);
            _buffer[Ipv4Packet.DscpEcnOffset] = (byte)((value << 2) | (_buffer[Ipv4Packet.DscpEcnOffset] & 0x03));
        }
    }

    public byte Ecn
    {
        get => ReadOnly.Ecn;
        set
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, (byte)3);
            _buffer[Ipv4Packet.DscpEcnOffset] = (byte)((_buffer[Ipv4Packet.DscpEcnOffset] & 0xFC) | value);
        }
    }

    public int TotalLength
    {
        get => ReadOnly.TotalLength;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, ushort.MaxValue);
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[Ipv4Packet.TotalLengthOffset..], (ushort)value);
        }
    }

    public ushort Identification
    {
        get => ReadOnly.Identification;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Ipv4Packet.IdentificationOffset..], value);
    }

    private ushort FlagsAndOffset
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Ipv4Packet.FlagsFragmentOffset..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Ipv4Packet.FlagsFragmentOffset..], value);
    }

    public bool DontFragment
    {
        get => ReadOnly.DontFragment;
        set => FlagsAndOffset = (ushort)(value ? FlagsAndOffset | Ipv4Packet.DontFragmentBit : FlagsAndOffset & ~Ipv4Packet.DontFragmentBit);
    }

    public bool MoreFragments
    {
        get => ReadOnly.MoreFragments;
        set => FlagsAndOffset = (ushort)(value ? FlagsAndOffset | Ipv4Packet.MoreFragmentsBit : FlagsAndOffset & ~Ipv4Packet.MoreFragmentsBit);
    }

    /// <summary>Clears the reserved flag (the only value a sender may write).</summary>
    public void ClearReservedFlag() => FlagsAndOffset = (ushort)(FlagsAndOffset & ~Ipv4Packet.ReservedFlagBit);

    /// <summary>Fragment offset in bytes; must be a multiple of 8 below 65536.</summary>
    public int FragmentOffset
    {
        get => ReadOnly.FragmentOffset;
        set
        {
            if (value < 0 || value % 8 != 0 || value / 8 > Ipv4Packet.FragmentOffsetMask)
                throw new ArgumentOutOfRangeException(nameof(value), value, "the fragment offset is a multiple of 8 bytes below 65536");
            FlagsAndOffset = (ushort)((FlagsAndOffset & ~Ipv4Packet.FragmentOffsetMask) | (value / 8));
        }
    }

    public byte TimeToLive
    {
        get => ReadOnly.TimeToLive;
        set => _buffer[Ipv4Packet.TtlOffset] = value;
    }

    public IpProtocol Protocol
    {
        get => ReadOnly.Protocol;
        set => _buffer[Ipv4Packet.ProtocolOffset] = (byte)value;
    }

    public ushort Checksum
    {
        get => ReadOnly.Checksum;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Ipv4Packet.ChecksumOffset..], value);
    }

    public Ipv4Address Source
    {
        get => ReadOnly.Source;
        set => value.Write(_buffer[Ipv4Packet.SourceOffset..]);
    }

    public Ipv4Address Destination
    {
        get => ReadOnly.Destination;
        set => value.Write(_buffer[Ipv4Packet.DestinationOffset..]);
    }

    public Span<byte> Options => _buffer[Ipv4Packet.MinHeaderLength..HeaderLength];
    public Span<byte> Payload => _buffer[HeaderLength..];

    /// <summary><c>ip_send_check</c>: zeroes the checksum field and stores the header checksum.</summary>
    public void FillChecksum()
    {
        Checksum = 0;
        Checksum = InetChecksum.Compute(_buffer[..HeaderLength]);
    }

    /// <summary>
    /// <c>ip_decrease_ttl</c>: TTL - 1 with the checksum patched incrementally (RFC 1624) rather than
    /// recomputed, as a forwarder does. Returns the new TTL; a forwarder checks for TTL &lt;= 1 first
    /// and answers with ICMP time exceeded instead.
    /// </summary>
    public byte DecreaseTtl()
    {
        if (_buffer[Ipv4Packet.TtlOffset] == 0) throw new InvalidOperationException("TTL is already 0");
        ushort oldWord = BinaryPrimitives.ReadUInt16BigEndian(_buffer[Ipv4Packet.TtlOffset..]);
        _buffer[Ipv4Packet.TtlOffset]--;
        ushort newWord = BinaryPrimitives.ReadUInt16BigEndian(_buffer[Ipv4Packet.TtlOffset..]);
        Checksum = ChecksumUpdate.Replace2(Checksum, oldWord, newWord);
        return _buffer[Ipv4Packet.TtlOffset];
    }
}
