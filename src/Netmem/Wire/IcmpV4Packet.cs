using System.Buffers.Binary;
using Netmem.Skb;

namespace Netmem.Wire;

public static class IcmpV4Type
{
    public const byte EchoReply = 0;
    public const byte DestinationUnreachable = 3;
    public const byte EchoRequest = 8;
    public const byte TimeExceeded = 11;
}

/// <summary>Destination unreachable codes.</summary>
public static class IcmpV4Unreachable
{
    public const byte Net = 0, Host = 1, Protocol = 2, Port = 3, FragmentationNeeded = 4;
}

/// <summary>A view of an ICMPv4 message.</summary>
public readonly ref struct IcmpV4Packet
{
    public const int HeaderLength = 8;
    private readonly ReadOnlySpan<byte> _b;
    private IcmpV4Packet(ReadOnlySpan<byte> b) => _b = b;

    public static WireError TryCreate(ReadOnlySpan<byte> buffer, out IcmpV4Packet packet)
    {
        packet = default;
        if (buffer.Length < HeaderLength) return WireError.Truncated;
        packet = new IcmpV4Packet(buffer);
        return WireError.None;
    }

    public byte Type => _b[0];
    public byte Code => _b[1];
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_b[2..]);
    /// <summary>Echo identifier (echo messages).</summary>
    public ushort EchoIdent => BinaryPrimitives.ReadUInt16BigEndian(_b[4..]);
    public ushort EchoSeq => BinaryPrimitives.ReadUInt16BigEndian(_b[6..]);
    /// <summary>Next-hop MTU (fragmentation needed).</summary>
    public ushort NextHopMtu => BinaryPrimitives.ReadUInt16BigEndian(_b[6..]);
    /// <summary>Echo data, or the original IP header and 8 bytes for errors.</summary>
    public ReadOnlySpan<byte> Data => _b[HeaderLength..];
    public bool ChecksumOk => InetChecksum.Fold(InetChecksum.Partial(_b)) == 0;
}

/// <summary>A parsed ICMPv4 message: echo request/reply, or an error quoting an original datagram.</summary>
public readonly record struct IcmpV4Repr(byte Type, byte Code, ushort Ident, ushort Seq, int DataLength)
{
    public int BufferLength => IcmpV4Packet.HeaderLength + DataLength;

    public static WireError Parse(in IcmpV4Packet p, bool verifyChecksum, out IcmpV4Repr repr)
    {
        repr = default;
        if (verifyChecksum && !p.ChecksumOk) return WireError.BadChecksum;
        switch (p.Type)
        {
            case IcmpV4Type.EchoRequest or IcmpV4Type.EchoReply:
                if (p.Code != 0) return WireError.Unsupported;
                repr = new(p.Type, 0, p.EchoIdent, p.EchoSeq, p.Data.Length);
                return WireError.None;
            case IcmpV4Type.DestinationUnreachable or IcmpV4Type.TimeExceeded:
                // The quoted datagram must at least hold an IPv4 header.
                if (p.Data.Length < Ipv4Packet.MinHeaderLength) return WireError.Truncated;
                if (p.Data[0] >> 4 != 4) return WireError.BadVersion;
                repr = new(p.Type, p.Code, 0, p.Type == IcmpV4Type.DestinationUnreachable ? p.NextHopMtu : (ushort)0, p.Data.Length);
                return WireError.None;
            default:
                return WireError.Unsupported;
        }
    }

    /// <summary>Writes the header into <paramref name="message"/> (whose data is already in place) and fills the checksum.</summary>
    public void Emit(Span<byte> message)
    {
        if (message.Length < BufferLength) throw new ArgumentException($"the message needs {BufferLength} bytes", nameof(message));
        var m = message[..BufferLength];
        m[0] = Type;
        m[1] = Code;
        m[2] = m[3] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(m[4..], Ident);
        BinaryPrimitives.WriteUInt16BigEndian(m[6..], Seq);
        BinaryPrimitives.WriteUInt16BigEndian(m[2..], InetChecksum.Compute(m));
    }
}
