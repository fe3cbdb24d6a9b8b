using System.Buffers.Binary;

namespace Netmem.Wire;

[Flags]
public enum TcpFlags : byte
{
    None = 0,
    Fin = 0x01,
    Syn = 0x02,
    Rst = 0x04,
    Psh = 0x08,
    Ack = 0x10,
    Urg = 0x20,
    Ece = 0x40,
    Cwr = 0x80,
}

/// <summary>A view of a TCP segment: the data offset must be at least 5 words and fit the buffer.</summary>
public readonly ref struct TcpPacket
{
    public const int MinHeaderLength = 20;
    private readonly ReadOnlySpan<byte> _b;
    private TcpPacket(ReadOnlySpan<byte> b) => _b = b;

    public static WireError TryCreate(ReadOnlySpan<byte> buffer, out TcpPacket packet)
    {
        packet = default;
        if (buffer.Length < MinHeaderLength) return WireError.Truncated;
        int doff = (buffer[12] >> 4) * 4;
        if (doff < MinHeaderLength) return WireError.BadHeaderLength;
        if (doff > buffer.Length) return WireError.Truncated;
        packet = new TcpPacket(buffer);
        return WireError.None;
    }

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_b);
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_b[2..]);
    public uint SeqNumber => BinaryPrimitives.ReadUInt32BigEndian(_b[4..]);
    public uint AckNumber => BinaryPrimitives.ReadUInt32BigEndian(_b[8..]);
    public int HeaderLength => (_b[12] >> 4) * 4;
    public TcpFlags Flags => (TcpFlags)_b[13];
    public ushort Window => BinaryPrimitives.ReadUInt16BigEndian(_b[14..]);
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_b[16..]);
    public ushort UrgentPointer => BinaryPrimitives.ReadUInt16BigEndian(_b[18..]);
    public ReadOnlySpan<byte> OptionsArea => _b[MinHeaderLength..HeaderLength];
    public ReadOnlySpan<byte> Payload => _b[HeaderLength..];
    /// <summary>Verifies the checksum over the whole segment (header and payload must be readable).</summary>
    public bool ChecksumOk(Ipv4Address src, Ipv4Address dst) => Wire.Checksum.L4(src, dst, IpProtocol.Tcp, _b) == 0;
}

/// <summary>A parsed TCP header with its options.</summary>
public readonly record struct TcpRepr
{
    public ushort SourcePort { get; init; }
    public ushort DestinationPort { get; init; }
    public uint Seq { get; init; }
    public uint Ack { get; init; }
    public TcpFlags Flags { get; init; }
    public ushort Window { get; init; }
    public ushort UrgentPointer { get; init; }
    public TcpOptions Options { get; init; }
    public int PayloadLength { get; init; }

    public int HeaderLength => TcpPacket.MinHeaderLength + Options.Length;
    public int BufferLength => HeaderLength + PayloadLength;

    /// <summary>Parses a view. <paramref name="verifyChecksum"/> false when the device vouched for it (or the payload is unreadable).</summary>
    public static WireError Parse(in TcpPacket p, Ipv4Address src, Ipv4Address dst, bool verifyChecksum, out TcpRepr repr)
    {
        repr = default;
        if (verifyChecksum && !p.ChecksumOk(src, dst)) return WireError.BadChecksum;
        var err = TcpOptions.Parse(p.OptionsArea, out var opts);
        if (err != WireError.None) return err;
        repr = new TcpRepr
        {
            SourcePort = p.SourcePort, DestinationPort = p.DestinationPort, Seq = p.SeqNumber, Ack = p.AckNumber,
            Flags = p.Flags, Window = p.Window, UrgentPointer = p.UrgentPointer, Options = opts, PayloadLength = p.Payload.Length,
        };
        return WireError.None;
    }

    /// <summary>Writes the header (with options) at the start of <paramref name="b"/>, checksum field 0; returns the header length.</summary>
    public int EmitHeader(Span<byte> b)
    {
        int h = HeaderLength;
        if (h > 60) throw new InvalidOperationException($"a TCP header of {h} bytes exceeds 60");
        if (b.Length < h) throw new ArgumentException($"the header needs {h} bytes", nameof(b));
        BinaryPrimitives.WriteUInt16BigEndian(b, SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], Seq);
        BinaryPrimitives.WriteUInt32BigEndian(b[8..], Ack);
        b[12] = (byte)(h / 4 << 4);
        b[13] = (byte)Flags;
        BinaryPrimitives.WriteUInt16BigEndian(b[14..], Window);
        b[16] = b[17] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(b[18..], UrgentPointer);
        Options.Emit(b[TcpPacket.MinHeaderLength..h]);
        return h;
    }

    /// <summary>Writes the header into <paramref name="segment"/> (payload already in place) and fills the full checksum.</summary>
    public void Emit(Span<byte> segment, Ipv4Address src, Ipv4Address dst)
    {
        if (segment.Length < BufferLength) throw new ArgumentException($"the segment needs {BufferLength} bytes", nameof(segment));
        var s = segment[..BufferLength];
        EmitHeader(s);
        BinaryPrimitives.WriteUInt16BigEndian(s[16..], Checksum.L4(src, dst, IpProtocol.Tcp, s));
    }
}
