namespace Netmem.Wire;

/// <summary>
/// A parsed UDP header: ports and payload length. The payload stays in the buffer, after
/// <see cref="HeaderLength"/> bytes.
/// </summary>
public readonly record struct UdpRepr(ushort SourcePort, ushort DestinationPort, int PayloadLength)
{
    /// <summary>
    /// Reads a checked datagram; the checksum (with the IPv4 pseudo-header of
    /// <paramref name="source"/> and <paramref name="destination"/>) is verified unless
    /// <paramref name="verifyChecksum"/> is false. A zero checksum always passes.
    /// </summary>
    public static ParseResult Parse(UdpPacket packet, Ipv4Address source, Ipv4Address destination, out UdpRepr repr, bool verifyChecksum = true)
    {
        repr = default;
        if (verifyChecksum && !packet.VerifyChecksum(source, destination)) return ParseResult.BadChecksum;
        repr = new UdpRepr(packet.SourcePort, packet.DestinationPort, packet.Payload.Length);
        return ParseResult.Ok;
    }

    public int HeaderLength => UdpPacket.HeaderLength;
    public int BufferLength => HeaderLength + PayloadLength;

    /// <summary>
    /// Writes the header into <paramref name="buffer"/>, whose bytes <see cref="HeaderLength"/>..
    /// <see cref="BufferLength"/> must already hold the payload (the zero-copy order: payload first,
    /// headers in front of it), then the checksum, or 0 ("none") when <paramref name="fillChecksum"/> is false.
    /// </summary>
    public void Emit(Span<byte> buffer, Ipv4Address source, Ipv4Address destination, bool fillChecksum = true)
    {
        if (PayloadLength < 0 || BufferLength > ushort.MaxValue) throw new InvalidOperationException($"payload length {PayloadLength} does not fit a UDP datagram");
        if (buffer.Length < BufferLength) throw new ArgumentException($"this UDP datagram needs {BufferLength} bytes, got {buffer.Length}", nameof(buffer));
        var p = new MutableUdpPacket(buffer[..BufferLength]);
        p.SourcePort = SourcePort;
        p.DestinationPort = DestinationPort;
        p.Length = BufferLength;
        if (fillChecksum) p.FillChecksum(source, destination);
        else p.Checksum = 0;
    }
}
