using System.Buffers.Binary;

namespace Netmem.Wire;

/// <summary>
/// A read-only view of an Ethernet II frame (without preamble and FCS, as a NIC delivers it), with one
/// optional 802.1Q tag recognised. <see cref="EtherType"/> and <see cref="Payload"/> are those after the
/// tag. A second tag is not unwrapped: it shows up as an inner type of <see cref="Wire.EtherType.Vlan"/>.
/// </summary>
public readonly ref struct EthernetFrame
{
    /// <summary>Destination, source and type.</summary>
    public const int MinHeaderLength = 14;
    /// <summary>TPID and TCI of one 802.1Q tag.</summary>
    public const int VlanTagLength = 4;

    internal const int DestinationOffset = 0;
    internal const int SourceOffset = 6;
    internal const int TypeOffset = 12;
    internal const int TciOffset = 14;

    private readonly ReadOnlySpan<byte> _buffer;

    internal EthernetFrame(ReadOnlySpan<byte> buffer) => _buffer = buffer;

    /// <summary>Checks that the buffer holds the whole header, tag included when there is one.</summary>
    public static ParseResult TryCreate(ReadOnlySpan<byte> buffer, out EthernetFrame frame)
    {
        frame = default;
        if (buffer.Length < MinHeaderLength) return ParseResult.Truncated;
        if (BinaryPrimitives.ReadUInt16BigEndian(buffer[TypeOffset..]) == (ushort)EtherType.Vlan &&
            buffer.Length < MinHeaderLength + VlanTagLength) return ParseResult.Truncated;
        frame = new EthernetFrame(buffer);
        return ParseResult.Ok;
    }

    /// <summary>The whole frame as given.</summary>
    public ReadOnlySpan<byte> Buffer => _buffer;

    public EthernetAddress Destination => EthernetAddress.Read(_buffer[DestinationOffset..]);
    public EthernetAddress Source => EthernetAddress.Read(_buffer[SourceOffset..]);

    /// <summary>Whether the outer type is the 802.1Q TPID.</summary>
    public bool HasVlanTag => BinaryPrimitives.ReadUInt16BigEndian(_buffer[TypeOffset..]) == (ushort)EtherType.Vlan;

    /// <summary>The tag, or null for an untagged frame.</summary>
    public VlanTag? VlanTag => HasVlanTag ? Wire.VlanTag.FromTci(BinaryPrimitives.ReadUInt16BigEndian(_buffer[TciOffset..])) : null;

    /// <summary>14, or 18 with a tag.</summary>
    public int HeaderLength => HasVlanTag ? MinHeaderLength + VlanTagLength : MinHeaderLength;

    /// <summary>The type of the payload (after the tag, if any).</summary>
    public EtherType EtherType => (EtherType)BinaryPrimitives.ReadUInt16BigEndian(_buffer[(HeaderLength - 2)..]);

    /// <summary>Everything after the header, including any padding to the 60-byte minimum.</summary>
    public ReadOnlySpan<byte> Payload => _buffer[HeaderLength..];
}

/// <summary>
/// A writable view of an Ethernet II frame: the <see cref="EthernetFrame"/> getters plus setters for the
/// fields that do not move the payload. Adding or removing a tag changes the layout; emit an
/// <see cref="EthernetRepr"/> for that.
/// </summary>
public readonly ref struct MutableEthernetFrame
{
    private readonly Span<byte> _buffer;

    internal MutableEthernetFrame(Span<byte> buffer) => _buffer = buffer;

    /// <summary>The same checks as <see cref="EthernetFrame.TryCreate"/>.</summary>
    public static ParseResult TryCreate(Span<byte> buffer, out MutableEthernetFrame frame)
    {
        var r = EthernetFrame.TryCreate(buffer, out _);
        frame = r == ParseResult.Ok ? new MutableEthernetFrame(buffer) : default;
        return r;
    }

    public EthernetFrame ReadOnly => new(_buffer);
    public static implicit operator EthernetFrame(MutableEthernetFrame frame) => frame.ReadOnly;

    public Span<byte> Buffer => _buffer;

    public EthernetAddress Destination
    {
        get => ReadOnly.Destination;
        set => value.Write(_buffer[EthernetFrame.DestinationOffset..]);
    }

    public EthernetAddress Source
    {
        get => ReadOnly.Source;
        set => value.Write(_buffer[EthernetFrame.SourceOffset..]);
    }

    public int HeaderLength => ReadOnly.HeaderLength;

    /// <summary>The payload type; with a tag, the inner one.</summary>
    public EtherType EtherType
    {
        get => ReadOnly.EtherType;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[(HeaderLength - 2)..], (ushort)value);
    }

    /// <summary>The tag's TCI; setting it on an untagged frame throws (it would need the payload moved).</summary>
    public VlanTag? VlanTag
    {
        get => ReadOnly.VlanTag;
        set
        {
            if (!ReadOnly.HasVlanTag || value is null) throw new InvalidOperationException("adding or removing an 802.1Q tag moves the payload; emit an EthernetRepr instead");
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[EthernetFrame.TciOffset..], value.Value.Tci);
        }
    }

    public Span<byte> Payload => _buffer[HeaderLength..];
}
