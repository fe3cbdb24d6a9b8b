using System.Buffers.Binary;

namespace Netmem.Wire;

public enum ArpOperation : ushort
{
    Request = 1,
    Reply = 2,
}

/// <summary>A view of an ARP packet for Ethernet and IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4).</summary>
public readonly ref struct ArpPacket
{
    public const int Length = 28;
    private readonly ReadOnlySpan<byte> _b;
    private ArpPacket(ReadOnlySpan<byte> b) => _b = b;

    public static WireError TryCreate(ReadOnlySpan<byte> buffer, out ArpPacket packet)
    {
        packet = default;
        if (buffer.Length < Length) return WireError.Truncated;
        if (BinaryPrimitives.ReadUInt16BigEndian(buffer) != 1 || BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]) != EtherType.Ipv4
            || buffer[4] != 6 || buffer[5] != 4)
            return WireError.Unsupported;
        packet = new ArpPacket(buffer);
        return WireError.None;
    }

    public ArpOperation Operation => (ArpOperation)BinaryPrimitives.ReadUInt16BigEndian(_b[6..]);
    public EthernetAddress SenderHardware => EthernetAddress.Read(_b[8..]);
    public Ipv4Address SenderProtocol => Ipv4Address.Read(_b[14..]);
    public EthernetAddress TargetHardware => EthernetAddress.Read(_b[18..]);
    public Ipv4Address TargetProtocol => Ipv4Address.Read(_b[24..]);
}

/// <summary>A parsed ARP request or reply.</summary>
public readonly record struct ArpRepr(ArpOperation Operation, EthernetAddress SenderHardware, Ipv4Address SenderProtocol,
    EthernetAddress TargetHardware, Ipv4Address TargetProtocol)
{
    public static WireError Parse(in ArpPacket p, out ArpRepr repr)
    {
        repr = default;
        if (p.Operation is not (ArpOperation.Request or ArpOperation.Reply)) return WireError.Unsupported;
        repr = new(p.Operation, p.SenderHardware, p.SenderProtocol, p.TargetHardware, p.TargetProtocol);
        return WireError.None;
    }

    public int Emit(Span<byte> b)
    {
        if (b.Length < ArpPacket.Length) throw new ArgumentException($"an ARP packet needs {ArpPacket.Length} bytes", nameof(b));
        BinaryPrimitives.WriteUInt16BigEndian(b, 1);
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], EtherType.Ipv4);
        b[4] = 6;
        b[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(b[6..], (ushort)Operation);
        SenderHardware.Write(b[8..]);
        SenderProtocol.Write(b[14..]);
        TargetHardware.Write(b[18..]);
        TargetProtocol.Write(b[24..]);
        return ArpPacket.Length;
    }
}
