using System.Buffers.Binary;

namespace Netmem.Wire;

/// <summary>A view of a UDP datagram; the length field must fit the buffer.</summary>
public readonly ref struct UdpPacket
{
    public const int HeaderLength = 8;
    private readonly ReadOnlySpan<byte> _b;
    private UdpPacket(ReadOnlySpan<byte> b) => _b = b;

    public static WireError TryCreate(ReadOnlySpan<byte> buffer, out UdpPacket packet)
    {
        packet = default;
        if (buffer.Length < HeaderLength) return WireError.Truncated;
        int len = BinaryPrimitives.ReadUInt16BigEndian(buffer[4..]);
        if (len < HeaderLength) return WireError.BadLength;
        if (len > buffer.Length) return WireError.Truncated;
        packet = new UdpPacket(buffer[..len]);
        return WireError.None;
    }

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_b);
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_b[2..]);
    public int Length => BinaryPrimitives.ReadUInt16BigEndian(_b[4..]);
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_b[6..]);
    public ReadOnlySpan<byte> Payload => _b[HeaderLength..];
    /// <summary>True when the checksum verifies, or is 0 (the sender computed none).</summary>
    public bool ChecksumOk(Ipv4Address src, Ipv4Address dst) => Checksum == 0 || Wire.Checksum.L4(src, dst, IpProtocol.Udp, _b) == 0;
}

/// <summary>A parsed UDP header.</summary>
public readonly record struct UdpRepr(ushort SourcePort, ushort DestinationPort, int PayloadLength)
{
    public const int HeaderLength = UdpPacket.HeaderLength;
    public int BufferLength => HeaderLength + PayloadLength;

    public static WireError Parse(in UdpPacket p, Ipv4Address src, Ipv4Address dst, bool verifyChecksum, out UdpRepr repr)
    {
        repr = default;
        if (verifyChecksum && !p.ChecksumOk(src, dst)) return WireError.BadChecksum;
        repr = new(p.SourcePort, p.DestinationPort, p.Length - HeaderLength);
        return WireError.None;
    }

    /// <summary>
    /// Writes the header into <paramref name="datagram"/> (header plus the payload already in place) and
    /// fills the checksum over it; a computed 0 is sent as 0xFFFF (RFC 768).
    /// </summary>
    public void Emit(Span<byte> datagram, Ipv4Address src, Ipv4Address dst)
    {
        if (datagram.Length < BufferLength) throw new ArgumentException($"the datagram needs {BufferLength} bytes", nameof(datagram));
        var d = datagram[..BufferLength];
        BinaryPrimitives.WriteUInt16BigEndian(d, SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(d[2..], DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(d[4..], (ushort)BufferLength);
        d[6] = d[7] = 0;
        ushort c = Checksum.L4(src, dst, IpProtocol.Udp, d);
        BinaryPrimitives.WriteUInt16BigEndian(d[6..], c == 0 ? (ushort)0xFFFF : c);
    }
}
