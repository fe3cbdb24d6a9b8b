using System.Buffers.Binary;

namespace Netmem.Wire;

/// <summary>A parsed Ethernet/IPv4 ARP request or reply.</summary>
public readonly record struct ArpRepr(
    ArpOperation Operation,
    EthernetAddress SenderHardwareAddress,
    Ipv4Address SenderProtocolAddress,
    EthernetAddress TargetHardwareAddress,
    Ipv4Address TargetProtocolAddress)
{
    /// <summary>
    /// Accepts hardware type Ethernet, protocol type IPv4 and the request or reply opcode; any other
    /// combination is <see cref="ParseResult.Unsupported"/>.
    /// </summary>
    public static ParseResult Parse(ArpPacket packet, out ArpRepr repr)
    {
        repr = default;
        if (packet.HardwareType != ArpPacket.HardwareTypeEthernet || packet.ProtocolType != EtherType.Ipv4) return ParseResult.Unsupported;
        if (packet.Operation is not (ArpOperation.Request or ArpOperation.Reply)) return ParseResult.Unsupported;
        repr = new ArpRepr(packet.Operation, packet.SenderHardwareAddress, packet.SenderProtocolAddress,
            packet.TargetHardwareAddress, packet.TargetProtocolAddress);
        return ParseResult.Ok;
    }

    public int HeaderLength => ArpPacket.Length;
    public int BufferLength => ArpPacket.Length;

    public void Emit(Span<byte> buffer)
    {
        if (buffer.Length < ArpPacket.Length) throw new ArgumentException($"an ARP packet needs {ArpPacket.Length} bytes, got {buffer.Length}", nameof(buffer));
        BinaryPrimitives.WriteUInt16BigEndian(buffer[ArpPacket.HardwareTypeOffset..], ArpPacket.HardwareTypeEthernet);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[ArpPacket.ProtocolTypeOffset..], (ushort)EtherType.Ipv4);
        buffer[ArpPacket.HardwareLengthOffset] = EthernetAddress.Length;
        buffer[ArpPacket.ProtocolLengthOffset] = Ipv4Address.Length;
        var p = new MutableArpPacket(buffer);
        p.Operation = Operation;
        p.SenderHardwareAddress = SenderHardwareAddress;
        p.SenderProtocolAddress = SenderProtocolAddress;
        p.TargetHardwareAddress = TargetHardwareAddress;
        p.TargetProtocolAddress = TargetProtocolAddress;
    }
}
