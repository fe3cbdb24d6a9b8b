namespace Netmem.Wire;

/// <summary>
/// A parsed TCP header with its options. The payload stays in the buffer after
/// <see cref="HeaderLength"/> bytes. Flag combinations are not judged here (a SYN with FIN is a valid
/// parse); that is the state machine's business, as is whether an option may appear on this segment.
/// </summary>
public readonly record struct TcpRepr(
    ushort SourcePort,
    ushort DestinationPort,
    uint SequenceNumber,
    uint AcknowledgmentNumber,
    TcpFlags Flags,
    ushort WindowSize,
    int PayloadLength)
{
    public TcpOptions Options { get; init; }
    public ushort UrgentPointer { get; init; }

    /// <summary>
    /// Reads a checked segment: the checksum (with the IPv4 pseudo-header) unless
    /// <paramref name="verifyChecksum"/> is false, then the options (<see cref="ParseResult.BadOption"/>
    /// for a malformed one).
    /// </summary>
    public static ParseResult Parse(TcpPacket packet, Ipv4Address source, Ipv4Address destination, out TcpRepr repr, bool verifyChecksum = true)
    {
        repr = default;
        if (verifyChecksum && !packet.VerifyChecksum(source, destination)) return ParseResult.BadChecksum;
        var r = TcpOptions.Parse(packet.Options, out var options);
        if (r != ParseResult.Ok) return r;
        repr = new TcpRepr(packet.SourcePort, packet.DestinationPort, packet.SequenceNumber, packet.AcknowledgmentNumber,
            packet.Flags, packet.WindowSize, packet.Payload.Length)
        {
            Options = options,
            UrgentPointer = packet.UrgentPointer,
        };
        return ParseResult.Ok;
    }

    /// <summary>20 plus the encoded options.</summary>
    public int HeaderLength => TcpPacket.MinHeaderLength + Options.Length;
    public int BufferLength => HeaderLength + PayloadLength;
    /// <summary>Sequence space: payload plus one each for SYN and FIN.</summary>
    public int SegmentLength => PayloadLength + ((Flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((Flags & TcpFlags.Fin) != 0 ? 1 : 0);

    /// <summary>
    /// Writes header and options into <paramref name="buffer"/>, whose bytes <see cref="HeaderLength"/>..
    /// <see cref="BufferLength"/> must already hold the payload, then the checksum, or 0 when
    /// <paramref name="fillChecksum"/> is false (for a device that fills it, see
    /// <see cref="MutableTcpPacket.FillPartialChecksum"/>).
    /// </summary>
    public void Emit(Span<byte> buffer, Ipv4Address source, Ipv4Address destination, bool fillChecksum = true)
    {
        if (PayloadLength < 0) throw new InvalidOperationException($"negative payload length {PayloadLength}");
        int headerLength = HeaderLength;
        if (headerLength > TcpPacket.MaxHeaderLength) throw new InvalidOperationException($"TCP options need {headerLength - TcpPacket.MinHeaderLength} bytes, more than {TcpOptions.MaxLength}");
        int bufferLength = headerLength + PayloadLength;
        if (buffer.Length < bufferLength) throw new ArgumentException($"this TCP segment needs {bufferLength} bytes, got {buffer.Length}", nameof(buffer));
        var p = new MutableTcpPacket(buffer[..bufferLength]);
        p.SourcePort = SourcePort;
        p.DestinationPort = DestinationPort;
        p.SequenceNumber = SequenceNumber;
        p.AcknowledgmentNumber = AcknowledgmentNumber;
        p.HeaderLength = headerLength;
        p.Flags = Flags;
        p.WindowSize = WindowSize;
        p.UrgentPointer = UrgentPointer;
        Options.Emit(p.Options);
        if (fillChecksum) p.FillChecksum(source, destination);
        else p.Checksum = 0;
    }
}
