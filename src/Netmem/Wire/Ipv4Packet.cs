using System.Buffers.Binary;
using Netmem.Skb;

namespace Netmem.Wire;

/// <summary>IP protocol numbers this stack knows.</summary>
public static class IpProtocol
{
    public const byte Icmp = 1;
    public const byte Tcp = 6;
    public const byte Udp = 17;
}

/// <summary>
/// A view of an IPv4 header and its payload. <see cref="TryCreate"/> checks version, IHL (options are
/// skipped, never interpreted) and that the total length fits the buffer; the checksum is checked
/// separately (<see cref="ChecksumOk"/>) so a caller the device already vouched for can skip it.
/// </summary>
public readonly ref struct Ipv4Packet
{
    public const int MinHeaderLength = 20;
    private readonly ReadOnlySpan<byte> _b;
    private Ipv4Packet(ReadOnlySpan<byte> b) => _b = b;

    public static WireError TryCreate(ReadOnlySpan<byte> buffer, out Ipv4Packet packet)
    {
        packet = default;
        if (buffer.Length < MinHeaderLength) return WireError.Truncated;
        if (buffer[0] >> 4 != 4) return WireError.BadVersion;
        int ihl = (buffer[0] & 0xF) * 4;
        if (ihl < MinHeaderLength) return WireError.BadHeaderLength;
        if (ihl > buffer.Length) return WireError.Truncated;
        int total = BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]);
        if (total < ihl) return WireError.BadLength;
        if (total > buffer.Length) return WireError.Truncated;
        packet = new Ipv4Packet(buffer);
        return WireError.None;
    }

    public int HeaderLength => (_b[0] & 0xF) * 4;
    public byte Dscp => (byte)(_b[1] >> 2);
    public byte Ecn => (byte)(_b[1] & 3);
    public int TotalLength => BinaryPrimitives.ReadUInt16BigEndian(_b[2..]);
    public ushort Ident => BinaryPrimitives.ReadUInt16BigEndian(_b[4..]);
    public bool DontFragment => (_b[6] & 0x40) != 0;
    public bool MoreFragments => (_b[6] & 0x20) != 0;
    /// <summary>Fragment offset in bytes.</summary>
    public int FragmentOffset => (BinaryPrimitives.ReadUInt16BigEndian(_b[6..]) & 0x1FFF) * 8;
    public bool IsFragment => MoreFragments || FragmentOffset != 0;
    public byte Ttl => _b[8];
    public byte Protocol => _b[9];
    public ushort HeaderChecksum => BinaryPrimitives.ReadUInt16BigEndian(_b[10..]);
    public Ipv4Address Source => Ipv4Address.Read(_b[12..]);
    public Ipv4Address Destination => Ipv4Address.Read(_b[16..]);
    public ReadOnlySpan<byte> Header => _b[..HeaderLength];
    public ReadOnlySpan<byte> Options => _b[MinHeaderLength..HeaderLength];
    /// <summary>The payload as the total length field bounds it (link padding excluded).</summary>
    public ReadOnlySpan<byte> Payload => _b[HeaderLength..TotalLength];
    public bool ChecksumOk => InetChecksum.Fold(InetChecksum.Partial(Header)) == 0;
}

/// <summary>A parsed IPv4 header (options are not kept; emitted headers have none).</summary>
public readonly record struct Ipv4Repr
{
    public Ipv4Address Source { get; init; }
    public Ipv4Address Destination { get; init; }
    public byte Protocol { get; init; }
    /// <summary>Bytes after the header.</summary>
    public int PayloadLength { get; init; }
    public byte Ttl { get; init; }
    public byte Dscp { get; init; }
    public byte Ecn { get; init; }
    public ushort Ident { get; init; }
    public bool DontFragment { get; init; }
    public bool MoreFragments { get; init; }
    public int FragmentOffset { get; init; }

    public const int HeaderLength = Ipv4Packet.MinHeaderLength;
    public int BufferLength => HeaderLength + PayloadLength;

    /// <summary>Parses a view; <paramref name="verifyChecksum"/> false when the device already checked it.</summary>
    public static WireError Parse(in Ipv4Packet p, bool verifyChecksum, out Ipv4Repr repr)
    {
        repr = default;
        if (verifyChecksum && !p.ChecksumOk) return WireError.BadChecksum;
        repr = new Ipv4Repr
        {
            Source = p.Source, Destination = p.Destination, Protocol = p.Protocol,
            PayloadLength = p.TotalLength - p.HeaderLength, Ttl = p.Ttl, Dscp = p.Dscp, Ecn = p.Ecn,
            Ident = p.Ident, DontFragment = p.DontFragment, MoreFragments = p.MoreFragments, FragmentOffset = p.FragmentOffset,
        };
        return WireError.None;
    }

    /// <summary>Writes the 20-byte header with its checksum; returns 20.</summary>
    public int Emit(Span<byte> b)
    {
        if (b.Length < HeaderLength) throw new ArgumentException($"an IPv4 header needs {HeaderLength} bytes", nameof(b));
        if (BufferLength > 65535) throw new ArgumentOutOfRangeException(nameof(PayloadLength), $"IPv4 total length {BufferLength} exceeds 65535");
        if ((FragmentOffset & 7) != 0) throw new ArgumentOutOfRangeException(nameof(FragmentOffset), "fragment offsets are multiples of 8");
        b[0] = 0x45;
        b[1] = (byte)(Dscp << 2 | (Ecn & 3));
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], (ushort)BufferLength);
        BinaryPrimitives.WriteUInt16BigEndian(b[4..], Ident);
        BinaryPrimitives.WriteUInt16BigEndian(b[6..], (ushort)((DontFragment ? 0x4000 : 0) | (MoreFragments ? 0x2000 : 0) | FragmentOffset / 8));
        b[8] = Ttl;
        b[9] = Protocol;
        b[10] = b[11] = 0;
        Source.Write(b[12..]);
        Destination.Write(b[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(b[10..], InetChecksum.Compute(b[..HeaderLength]));
        return HeaderLength;
    }
}
