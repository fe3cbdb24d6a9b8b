using System.Buffers.Binary;

namespace Netmem.Wire;

/// <summary>
/// A read-only view of an ARP packet for Ethernet addresses over IPv4 (RFC 826), the only form this
/// stack resolves. The view insists on 6-byte hardware and 4-byte protocol addresses because its
/// address getters read at those offsets; the hardware and protocol <em>types</em> are left to
/// <see cref="ArpRepr.Parse"/>, so the view can still show what a foreign ARP packet says.
/// </summary>
public readonly ref struct ArpPacket
{
    /// <summary>8 bytes of fixed header plus two 6-byte and two 4-byte addresses.</summary>
    public const int Length = 28;
    /// <summary>ARPHRD_ETHER.</summary>
    public const ushort HardwareTypeEthernet = 1;

    internal const int HardwareTypeOffset = 0;
    internal const int ProtocolTypeOffset = 2;
    internal const int HardwareLengthOffset = 4;
    internal const int ProtocolLengthOffset = 5;
    internal const int OperationOffset = 6;
    internal const int SenderHardwareOffset = 8;
    internal const int SenderProtocolOffset = 14;
    internal const int TargetHardwareOffset = 18;
    internal const int TargetProtocolOffset = 24;

    private readonly ReadOnlySpan<byte> _buffer;

    internal ArpPacket(ReadOnlySpan<byte> buffer) => _buffer = buffer;

    /// <summary>
    /// Checks the fixed header, that the address lengths are Ethernet/IPv4 (else
    /// <see cref="ParseResult.Unsupported"/>), and that all four addresses are present.
    /// </summary>
    public static ParseResult TryCreate(ReadOnlySpan<byte> buffer, out ArpPacket packet)
    {
        packet = default;
        if (buffer.Length < SenderHardwareOffset) return ParseResult.Truncated;
        if (buffer[HardwareLengthOffset] != EthernetAddress.Length || buffer[ProtocolLengthOffset] != Ipv4Address.Length) return ParseResult.Unsupported;
        if (buffer.Length < Length) return ParseResult.Truncated;
        packet = new ArpPacket(buffer);
        return ParseResult.Ok;
    }

    /// <summary>The 28 ARP bytes (any trailing Ethernet padding is excluded).</summary>
    public ReadOnlySpan<byte> Buffer => _buffer[..Length];

    public ushort HardwareType => BinaryPrimitives.ReadUInt16BigEndian(_buffer[HardwareTypeOffset..]);
    public EtherType ProtocolType => (EtherType)BinaryPrimitives.ReadUInt16BigEndian(_buffer[ProtocolTypeOffset..]);
    public byte HardwareLength => _buffer[HardwareLengthOffset];
    public byte ProtocolLength => _buffer[ProtocolLengthOffset];
    public ArpOperation Operation => (ArpOperation)BinaryPrimitives.ReadUInt16BigEndian(_buffer[OperationOffset..]);
    public EthernetAddress SenderHardwareAddress => EthernetAddress.Read(_buffer[SenderHardwareOffset..]);
    public Ipv4Address SenderProtocolAddress => Ipv4Address.Read(_buffer[SenderProtocolOffset..]);
    public EthernetAddress TargetHardwareAddress => EthernetAddress.Read(_buffer[TargetHardwareOffset..]);
    public Ipv4Address TargetProtocolAddress => Ipv4Address.Read(_buffer[TargetProtocolOffset..]);
}

/// <summary>A writable view of an Ethernet/IPv4 ARP packet (answering a request in place, say).</summary>
public readonly ref struct MutableArpPacket
{
    private readonly Span<byte> _buffer;

    internal MutableArpPacket(Span<byte> buffer) => _buffer = buffer;

    /// <summary>The same checks as <see cref="ArpPacket.TryCreate"/>.</summary>
    public static ParseResult TryCreate(Span<byte> buffer, out MutableArpPacket packet)
    {
        var r = ArpPacket.TryCreate(buffer, out _);
        packet = r == ParseResult.Ok ? new MutableArpPacket(buffer) : default;
        return r;
    }

    public ArpPacket ReadOnly => new(_buffer);
    public static implicit operator ArpPacket(MutableArpPacket packet) => packet.ReadOnly;

    public ushort HardwareType
    {
        get => ReadOnly.HardwareType;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[ArpPacket.HardwareTypeOffset..], value);
    }

    public EtherType ProtocolType
    {
        get => ReadOnly.ProtocolType;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[ArpPacket.ProtocolTypeOffset..], (ushort)value);
    }

    public ArpOperation Operation
    {
        get => ReadOnly.Operation;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[ArpPacket.OperationOffset..], (ushort)value);
    }

    public EthernetAddress SenderHardwareAddress
    {
        get => ReadOnly.SenderHardwareAddress;
        set => value.Write(_buffer[ArpPacket.SenderHardwareOffset..]);
    }

    public Ipv4Address SenderProtocolAddress
    {
        get => ReadOnly.SenderProtocolAddress;
        set => value.Write(_buffer[ArpPacket.SenderProtocolOffset..]);
    }

    public EthernetAddress TargetHardwareAddress
    {
        get => ReadOnly.TargetHardwareAddress;
        set => value.Write(_buffer[ArpPacket.TargetHardwareOffset..]);
    }

    public Ipv4Address TargetProtocolAddress
    {
        get => ReadOnly.TargetProtocolAddress;
        set => value.Write(_buffer[ArpPacket.TargetProtocolOffset..]);
    }
}
