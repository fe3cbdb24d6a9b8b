using System.Buffers.Binary;

namespace Netmem.Wire;

/// <summary>EtherType values this stack knows.</summary>
public static class EtherType
{
    public const ushort Ipv4 = 0x0800;
    public const ushort Arp = 0x0806;
    public const ushort Vlan = 0x8100;
    public const ushort Ipv6 = 0x86DD;
}

/// <summary>
/// A zero-copy view of an Ethernet II frame (with at most one 802.1Q tag). Made only through
/// <see cref="TryCreate"/>, which checks the buffer holds the whole header.
/// </summary>
public readonly ref struct EthernetFrame
{
    public const int HeaderLength = 14;
    private readonly ReadOnlySpan<byte> _b;

    private EthernetFrame(ReadOnlySpan<byte> b, int headerLength)
    {
        _b = b;
        HeaderLen = headerLength;
    }

    public static WireError TryCreate(ReadOnlySpan<byte> buffer, out EthernetFrame frame)
    {
        frame = default;
        if (buffer.Length < HeaderLength) return WireError.Truncated;
        int h = HeaderLength;
        if (BinaryPrimitives.ReadUInt16BigEndian(buffer[12..]) == Wire.EtherType.Vlan)
        {
            if (buffer.Length < HeaderLength + 4) return WireError.Truncated;
            h += 4;
        }
        frame = new EthernetFrame(buffer, h);
        return WireError.None;
    }

    /// <summary>14, or 18 with a VLAN tag.</summary>
    public int HeaderLen { get; }
    public EthernetAddress Destination => EthernetAddress.Read(_b);
    public EthernetAddress Source => EthernetAddress.Read(_b[6..]);
    public bool HasVlan => HeaderLen == 18;
    /// <summary>The 12-bit VLAN id (0 without a tag).</summary>
    public int VlanId => HasVlan ? BinaryPrimitives.ReadUInt16BigEndian(_b[14..]) & 0xFFF : 0;
    /// <summary>The EtherType of the payload (after the tag, if any).</summary>
    public ushort EtherType => BinaryPrimitives.ReadUInt16BigEndian(_b[(HeaderLen - 2)..]);
    public ReadOnlySpan<byte> Payload => _b[HeaderLen..];
}

/// <summary>A parsed Ethernet header (no VLAN when emitting).</summary>
public readonly record struct EthernetRepr(EthernetAddress Source, EthernetAddress Destination, ushort EtherType)
{
    public const int HeaderLength = EthernetFrame.HeaderLength;

    public static EthernetRepr Parse(in EthernetFrame f) => new(f.Source, f.Destination, f.EtherType);

    /// <summary>Writes the 14-byte header; returns the bytes written.</summary>
    public int Emit(Span<byte> buffer)
    {
        if (buffer.Length < HeaderLength) throw new ArgumentException($"an Ethernet header needs {HeaderLength} bytes, got {buffer.Length}", nameof(buffer));
        Destination.Write(buffer);
        Source.Write(buffer[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[12..], EtherType);
        return HeaderLength;
    }
}
