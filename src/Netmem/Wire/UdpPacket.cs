using System.Buffers.Binary;
using Netmem.Skb;

namespace Netmem.Wire;

/// <summary>
/// A read-only view of a UDP datagram (RFC 768), given the IPv4 payload. The UDP length field bounds
/// the datagram: <see cref="TryCreate"/> rejects a length below 8 and one past the buffer, and bytes
/// after it are outside <see cref="Buffer"/> (the kernel trims them the same way).
/// </summary>
public readonly ref struct UdpPacket
{
    public const int HeaderLength = 8;

    internal const int SourcePortOffset = 0;
    internal const int DestinationPortOffset = 2;
    internal const int LengthOffset = 4;
    internal const int ChecksumOffset = 6;

    private readonly ReadOnlySpan<byte> _buffer;

    internal UdpPacket(ReadOnlySpan<byte> buffer) => _buffer = buffer;

    public static ParseResult TryCreate(ReadOnlySpan<byte> buffer, out UdpPacket packet)
    {
        packet = default;
        if (buffer.Length < HeaderLength) return ParseResult.Truncated;
        int length = BinaryPrimitives.ReadUInt16BigEndian(buffer[LengthOffset..]);
        if (length < HeaderLength) return ParseResult.BadLength;
        if (length > buffer.Length) return ParseResult.Truncated;
        packet = new UdpPacket(buffer[..length]);
        return ParseResult.Ok;
    }

    /// <summary>Header and payload, <see cref="Length"/> bytes.</summary>
    public ReadOnlySpan<byte> Buffer => _buffer;
    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_buffer[SourcePortOffset..]);
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_buffer[DestinationPortOffset..]);
    public int Length => BinaryPrimitives.ReadUInt16BigEndian(_buffer[LengthOffset..]);
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_buffer[ChecksumOffset..]);
    public ReadOnlySpan<byte> Payload => _buffer[HeaderLength..];

    /// <summary>
    /// Verifies the checksum over pseudo-header, header and payload. A zero checksum means the sender
    /// computed none (allowed over IPv4), which verifies.
    /// </summary>
    public bool VerifyChecksum(Ipv4Address source, Ipv4Address destination) =>
        Checksum == 0 || PseudoHeader.Checksum(source, destination, IpProtocol.Udp, _buffer.Length, InetChecksum.Partial(_buffer)) == 0;
}

/// <summary>A writable view of a UDP datagram.</summary>
public readonly ref struct MutableUdpPacket
{
    private readonly Span<byte> _buffer;

    internal MutableUdpPacket(Span<byte> buffer) => _buffer = buffer;

    /// <summary>The same checks as <see cref="UdpPacket.TryCreate"/>; the view covers <see cref="UdpPacket.Length"/> bytes.</summary>
    public static ParseResult TryCreate(Span<byte> buffer, out MutableUdpPacket packet)
    {
        var r = UdpPacket.TryCreate(buffer, out var ro);
        packet = r == ParseResult.Ok ? new MutableUdpPacket(buffer[..ro.Length]) : default;
        return r;
    }

    public UdpPacket ReadOnly => new(_buffer);
    public static implicit operator UdpPacket(MutableUdpPacket packet) => packet.ReadOnly;

    public Span<byte> Buffer => _buffer;

    public ushort SourcePort
    {
        get => ReadOnly.SourcePort;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[UdpPacket.SourcePortOffset..], value);
    }

    public ushort DestinationPort
    {
        get => ReadOnly.DestinationPort;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[UdpPacket.DestinationPortOffset..], value);
    }

    /// <summary>The length field. The view keeps its extent; set it before creating the view.</summary>
    public int Length
    {
        get => ReadOnly.Length;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, UdpPacket.HeaderLength);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, ushort.MaxValue);
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[UdpPacket.LengthOffset..], (ushort)value);
        }
    }

    public ushort Checksum
    {
        get => ReadOnly.Checksum;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[UdpPacket.ChecksumOffset..], value);
    }

    public Span<byte> Payload => _buffer[UdpPacket.HeaderLength..];

    /// <summary>
    /// Computes and stores the full checksum over the view. A computed 0 is sent as 0xFFFF, because 0
    /// on the wire means "no checksum" (RFC 768).
    /// </summary>
    public void FillChecksum(Ipv4Address source, Ipv4Address destination)
    {
        Checksum = 0;
        ushort c = PseudoHeader.Checksum(source, destination, IpProtocol.Udp, _buffer.Length, InetChecksum.Partial(_buffer));
        Checksum = c == 0 ? (ushort)0xFFFF : c;
    }

    /// <summary>
    /// Stores the pseudo-header sum for a device that completes the checksum (CHECKSUM_PARTIAL with
    /// csum_start at this header and csum_offset 6).
    /// </summary>
    public void FillPartialChecksum(Ipv4Address source, Ipv4Address destination) =>
        Checksum = PseudoHeader.PartialChecksum(source, destination, IpProtocol.Udp, _buffer.Length);
}
