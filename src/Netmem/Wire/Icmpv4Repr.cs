namespace Netmem.Wire;

/// <summary>
/// A parsed ICMPv4 message of a kind this stack speaks: echo request and reply, destination
/// unreachable and time exceeded. The message data stays in the buffer (a repr cannot hold a span):
/// <see cref="DataLength"/> says how much there is and <see cref="DataOffset"/> where it starts. For the
/// two error messages the quoted datagram's header is parsed into <see cref="Original"/>, whose
/// <see cref="Ipv4Repr.PayloadLength"/> is what the original header claims, while
/// <see cref="DataLength"/> counts the quoted payload bytes actually present (at least 8, RFC 792).
/// </summary>
public readonly record struct Icmpv4Repr
{
    /// <summary>RFC 792: an error quotes the original header and at least the first 64 bits of its data.</summary>
    public const int MinQuotedData = 8;

    public Icmpv4Message Message { get; init; }
    public byte Code { get; init; }
    /// <summary>Echo identifier; 0 for errors.</summary>
    public ushort Identifier { get; init; }
    /// <summary>Echo sequence number; 0 for errors.</summary>
    public ushort SequenceNumber { get; init; }
    /// <summary>Next-hop MTU of a destination unreachable (meaningful for code 4); 0 otherwise.</summary>
    public ushort NextHopMtu { get; init; }
    /// <summary>The quoted datagram's header for errors; default for echo.</summary>
    public Ipv4Repr Original { get; init; }
    /// <summary>Echo data bytes, or quoted payload bytes after <see cref="Original"/>'s header.</summary>
    public int DataLength { get; init; }

    public static Icmpv4Repr EchoRequest(ushort identifier, ushort sequenceNumber, int dataLength) =>
        new() { Message = Icmpv4Message.EchoRequest, Identifier = identifier, SequenceNumber = sequenceNumber, DataLength = dataLength };

    public static Icmpv4Repr EchoReply(ushort identifier, ushort sequenceNumber, int dataLength) =>
        new() { Message = Icmpv4Message.EchoReply, Identifier = identifier, SequenceNumber = sequenceNumber, DataLength = dataLength };

    /// <summary>An error about <paramref name="original"/>; the caller puts <paramref name="dataLength"/> quoted bytes at <see cref="DataOffset"/>.</summary>
    public static Icmpv4Repr DestinationUnreachable(Icmpv4Unreachable code, Ipv4Repr original, int dataLength, ushort nextHopMtu = 0) =>
        new() { Message = Icmpv4Message.DestinationUnreachable, Code = (byte)code, Original = original, DataLength = dataLength, NextHopMtu = nextHopMtu };

    public static Icmpv4Repr TimeExceeded(Icmpv4TimeExceeded code, Ipv4Repr original, int dataLength) =>
        new() { Message = Icmpv4Message.TimeExceeded, Code = (byte)code, Original = original, DataLength = dataLength };

    public bool IsEcho => Message is Icmpv4Message.EchoRequest or Icmpv4Message.EchoReply;
    /// <summary>Destination unreachable or time exceeded: a message that quotes a datagram.</summary>
    public bool IsError => Message is Icmpv4Message.DestinationUnreachable or Icmpv4Message.TimeExceeded;

    /// <summary>
    /// Reads a checked message. The checksum (over the whole message) is verified unless
    /// <paramref name="verifyChecksum"/> is false. Other types are <see cref="ParseResult.Unsupported"/>.
    /// An error whose quote lacks a valid IPv4 header reports that header's error; one with fewer than 8
    /// bytes after it is <see cref="ParseResult.Truncated"/>. The quoted header's own checksum is not
    /// checked: it is a copy of someone else's packet, possibly rewritten by NAT on the way.
    /// </summary>
    public static ParseResult Parse(Icmpv4Packet packet, out Icmpv4Repr repr, bool verifyChecksum = true)
    {
        repr = default;
        if (verifyChecksum && !packet.VerifyChecksum()) return ParseResult.BadChecksum;
        switch (packet.MessageType)
        {
            case Icmpv4Message.EchoRequest:
            case Icmpv4Message.EchoReply:
                repr = new Icmpv4Repr
                {
                    Message = packet.MessageType, Code = packet.Code,
                    Identifier = packet.Identifier, SequenceNumber = packet.SequenceNumber,
                    DataLength = packet.Data.Length,
                };
                return ParseResult.Ok;
            case Icmpv4Message.DestinationUnreachable:
            case Icmpv4Message.TimeExceeded:
                var r = Ipv4Packet.TryCreateHeader(packet.Data, out var quoted);
                if (r != ParseResult.Ok) return r;
                if (quoted.Payload.Length < MinQuotedData) return ParseResult.Truncated;
                Ipv4Repr.Parse(quoted, out var original, verifyChecksum: false);
                repr = new Icmpv4Repr
                {
                    Message = packet.MessageType, Code = packet.Code,
                    NextHopMtu = packet.MessageType == Icmpv4Message.DestinationUnreachable ? packet.NextHopMtu : (ushort)0,
                    Original = original,
                    DataLength = quoted.Payload.Length,
                };
                return ParseResult.Ok;
            default:
                return ParseResult.Unsupported;
        }
    }

    public int HeaderLength => Icmpv4Packet.HeaderLength;
    /// <summary>Where the data goes: after the 8-byte header, and for errors after the quoted 20-byte header too.</summary>
    public int DataOffset => HeaderLength + (IsError ? Ipv4Packet.MinHeaderLength : 0);
    public int BufferLength => DataOffset + DataLength;

    /// <summary>
    /// Writes the message header (and for errors the quoted header from <see cref="Original"/>) into
    /// <paramref name="buffer"/>, whose bytes <see cref="DataOffset"/>..<see cref="BufferLength"/> must
    /// already hold the data, then the checksum over all of it unless <paramref name="fillChecksum"/> is
    /// false (then the field is zero).
    /// </summary>
    public void Emit(Span<byte> buffer, bool fillChecksum = true)
    {
        if (!IsEcho && !IsError) throw new InvalidOperationException($"cannot emit ICMP message type {Message}");
        if (DataLength < 0) throw new InvalidOperationException($"negative data length {DataLength}");
        if (buffer.Length < BufferLength) throw new ArgumentException($"this ICMP message needs {BufferLength} bytes, got {buffer.Length}", nameof(buffer));
        var p = new MutableIcmpv4Packet(buffer[..BufferLength]);
        p.MessageType = Message;
        p.Code = Code;
        p.ClearRestOfHeader();
        if (IsEcho)
        {
            p.Identifier = Identifier;
            p.SequenceNumber = SequenceNumber;
        }
        else
        {
            if (Message == Icmpv4Message.DestinationUnreachable) p.NextHopMtu = NextHopMtu;
            Original.Emit(p.Data, fillChecksum: true);
        }
        if (fillChecksum) p.FillChecksum();
        else p.Checksum = 0;
    }
}
