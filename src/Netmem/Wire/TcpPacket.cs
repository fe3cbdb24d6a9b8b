using System.Buffers.Binary;
using Netmem.Skb;

namespace Netmem.Wire;

/// <summary>
/// A read-only view of a TCP segment (RFC 9293), given the IPv4 payload. TCP has no length field of its
/// own, so the segment is the whole buffer. <see cref="TryCreate"/> checks the data offset: below 5 is
/// <see cref="ParseResult.BadHeaderLength"/>, past the buffer is <see cref="ParseResult.Truncated"/>.
/// Options are parsed on demand by <see cref="TcpOptions.Parse"/>.
/// </summary>
public readonly ref struct TcpPacket
{
    public const int MinHeaderLength = 20;
    public const int MaxHeaderLength = 60;

    internal const int SourcePortOffset = 0;
    internal const int DestinationPortOffset = 2;
    internal const int SequenceOffset = 4;
    internal const int AcknowledgmentOffset = 8;
    internal const int DataOffsetOffset = 12;
    internal const int FlagsOffset = 13;
    internal const int WindowOffset = 14;
    internal const int ChecksumOffset = 16;
    internal const int UrgentOffset = 18;

    private readonly ReadOnlySpan<byte> _buffer;

    internal TcpPacket(ReadOnlySpan<byte> buffer) => _buffer = buffer;

    public static ParseResult TryCreate(ReadOnlySpan<byte> buffer, out TcpPacket packet)
    {
        packet = default;
        if (buffer.Length < MinHeaderLength) return ParseResult.Truncated;
        int headerLength = (buffer[DataOffsetOffset] >> 4) * 4;
        if (headerLength < MinHeaderLength) return ParseResult.BadHeaderLength;
        if (headerLength > buffer.Length) return ParseResult.Truncated;
        packet = new TcpPacket(buffer);
        return ParseResult.Ok;
    }

    public ReadOnlySpan<byte> Buffer => _buffer;
    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_buffer[SourcePortOffset..]);
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_buffer[DestinationPortOffset..]);
    public uint SequenceNumber => BinaryPrimitives.ReadUInt32BigEndian(_buffer[SequenceOffset..]);
    public uint AcknowledgmentNumber => BinaryPrimitives.ReadUInt32BigEndian(_buffer[AcknowledgmentOffset..]);
    /// <summary>Data offset in bytes (20..60).</summary>
    public int HeaderLength => (_buffer[DataOffsetOffset] >> 4) * 4;
    public TcpFlags Flags => (TcpFlags)_buffer[FlagsOffset];
    /// <summary>The raw window field (unscaled).</summary>
    public ushort WindowSize => BinaryPrimitives.ReadUInt16BigEndian(_buffer[WindowOffset..]);
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_buffer[ChecksumOffset..]);
    public ushort UrgentPointer => BinaryPrimitives.ReadUInt16BigEndian(_buffer[UrgentOffset..]);
    /// <summary>The options area, header bytes 20..<see cref="HeaderLength"/>.</summary>
    public ReadOnlySpan<byte> Options => _buffer[MinHeaderLength..HeaderLength];
    public ReadOnlySpan<byte> Payload => _buffer[HeaderLength..];
    /// <summary>Sequence space the segment occupies: payload bytes, plus one each for SYN and FIN.</summary>
    public int SegmentLength => Payload.Length + ((Flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((Flags & TcpFlags.Fin) != 0 ? 1 : 0);

    /// <summary>Verifies the checksum over the IPv4 pseudo-header and the whole segment.</summary>
    public bool VerifyChecksum(Ipv4Address source, Ipv4Address destination) =>
        PseudoHeader.Checksum(source, destination, IpProtocol.Tcp, _buffer.Length, InetChecksum.Partial(_buffer)) == 0;
}

/// <summary>A writable view of a TCP segment.</summary>
public readonly ref struct MutableTcpPacket
{
    private readonly Span<byte> _buffer;

    internal MutableTcpPacket(Span<byte> buffer) => _buffer = buffer;

    /// <summary>The same checks as <see cref="TcpPacket.TryCreate"/>.</summary>
    public static ParseResult TryCreate(Span<byte> buffer, out MutableTcpPacket packet)
    {
        var r = TcpPacket.TryCreate(buffer, out _);
        packet = r == ParseResult.Ok ? new MutableTcpPacket(buffer) : default;
        return r;
    }

    public TcpPacket ReadOnly => new(_buffer);
    public static implicit operator TcpPacket(MutableTcpPacket packet) => packet.ReadOnly;

    public Span<byte> Buffer => _buffer;

    public ushort SourcePort
    {
        get => ReadOnly.SourcePort;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[TcpPacket.SourcePortOffset..], value);
    }

    public ushort DestinationPort
    {
        get => ReadOnly.DestinationPort;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[TcpPacket.DestinationPortOffset..], value);
    }

    public uint SequenceNumber
    {
        get => ReadOnly.SequenceNumber;
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[TcpPacket.SequenceOffset..], value);
    }

    public uint AcknowledgmentNumber
    {
        get => ReadOnly.AcknowledgmentNumber;
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[TcpPacket.AcknowledgmentOffset..], value);
    }

    /// <summary>The data offset in bytes (20..60, a multiple of 4); setting it clears the reserved bits.</summary>
    public int HeaderLength
    {
        get => ReadOnly.HeaderLength;
        set
        {
            if (value is < TcpPacket.MinHeaderLength or > TcpPacket.MaxHeaderLength || value % 4 != 0)
                throw new ArgumentOutOfRangeException(nameof(value), value, "TCP header length is 20..60 in steps of 4");
            _buffer[TcpPacket.DataOffsetOffset] = (byte)((value / 4) << 4);
        }
    }

    public TcpFlags Flags
    {
        get => ReadOnly.Flags;
        set => _buffer[TcpPacket.FlagsOffset] = (byte)value;
    }

    public ushort WindowSize
    {
        get => ReadOnly.WindowSize;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[TcpPacket.WindowOffset..], value);
    }

    public ushort Checksum
    {
        get => ReadOnly.Checksum;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[TcpPacket.ChecksumOffset..], value);
    }

    public ushort UrgentPointer
    {
        get => ReadOnly.UrgentPointer;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[TcpPacket.UrgentOffset..], value);
    }

    public Span<byte> Options => _buffer[TcpPacket.MinHeaderLength..HeaderLength];
    public Span<byte> Payload => _buffer[HeaderLength..];

    /// <summary>Computes and stores the full checksum over pseudo-header and segment.</summary>
    public void FillChecksum(Ipv4Address source, Ipv4Address destination)
    {
        Checksum = 0;
        Checksum = PseudoHeader.Checksum(source, destination, IpProtocol.Tcp, _buffer.Length, InetChecksum.Partial(_buffer));
    }

    /// <summary>
    /// Stores the pseudo-header sum for a device that completes the checksum (CHECKSUM_PARTIAL with
    /// csum_start at this header and csum_offset 16).
    /// </summary>
    public void FillPartialChecksum(Ipv4Address source, Ipv4Address destination) =>
        Checksum = PseudoHeader.PartialChecksum(source, destination, IpProtocol.Tcp, _buffer.Length);
}
