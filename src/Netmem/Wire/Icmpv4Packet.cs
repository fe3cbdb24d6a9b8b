using System.Buffers.Binary;
using Netmem.Skb;

namespace Netmem.Wire;

/// <summary>
/// A read-only view of an ICMPv4 message (the IPv4 payload). Every message has the same 8-byte
/// header: type, code, checksum and four bytes whose meaning depends on the type (identifier and
/// sequence number for echo, next-hop MTU for "fragmentation needed", unused otherwise). The getters
/// for those four bytes read them whatever the type; <see cref="Icmpv4Repr.Parse"/> knows which apply.
/// </summary>
public readonly ref struct Icmpv4Packet
{
    public const int HeaderLength = 8;

    internal const int TypeOffset = 0;
    internal const int CodeOffset = 1;
    internal const int ChecksumOffset = 2;
    internal const int IdentifierOffset = 4;
    internal const int SequenceOffset = 6;
    internal const int MtuOffset = 6;

    private readonly ReadOnlySpan<byte> _buffer;

    internal Icmpv4Packet(ReadOnlySpan<byte> buffer) => _buffer = buffer;

    /// <summary>Checks that the 8-byte header is present; the message runs to the end of the buffer.</summary>
    public static ParseResult TryCreate(ReadOnlySpan<byte> buffer, out Icmpv4Packet packet)
    {
        packet = default;
        if (buffer.Length < HeaderLength) return ParseResult.Truncated;
        packet = new Icmpv4Packet(buffer);
        return ParseResult.Ok;
    }

    public ReadOnlySpan<byte> Buffer => _buffer;
    public Icmpv4Message MessageType => (Icmpv4Message)_buffer[TypeOffset];
    public byte Code => _buffer[CodeOffset];
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_buffer[ChecksumOffset..]);
    /// <summary>Echo identifier (bytes 4..5).</summary>
    public ushort Identifier => BinaryPrimitives.ReadUInt16BigEndian(_buffer[IdentifierOffset..]);
    /// <summary>Echo sequence number (bytes 6..7).</summary>
    public ushort SequenceNumber => BinaryPrimitives.ReadUInt16BigEndian(_buffer[SequenceOffset..]);
    /// <summary>Next-hop MTU of "fragmentation needed" (bytes 6..7, RFC 1191).</summary>
    public ushort NextHopMtu => BinaryPrimitives.ReadUInt16BigEndian(_buffer[MtuOffset..]);
    /// <summary>Everything after the header: echo data, or the quoted datagram of an error.</summary>
    public ReadOnlySpan<byte> Data => _buffer[HeaderLength..];

    /// <summary>Whether the whole message (header and data) sums to zero.</summary>
    public bool VerifyChecksum() => InetChecksum.Compute(_buffer) == 0;
}

/// <summary>A writable view of an ICMPv4 message (turning an echo request into its reply in place, say).</summary>
public readonly ref struct MutableIcmpv4Packet
{
    private readonly Span<byte> _buffer;

    internal MutableIcmpv4Packet(Span<byte> buffer) => _buffer = buffer;

    /// <summary>The same check as <see cref="Icmpv4Packet.TryCreate"/>.</summary>
    public static ParseResult TryCreate(Span<byte> buffer, out MutableIcmpv4Packet packet)
    {
        var r = Icmpv4Packet.TryCreate(buffer, out _);
        packet = r == ParseResult.Ok ? new MutableIcmpv4Packet(buffer) : default;
        return r;
    }

    public Icmpv4Packet ReadOnly => new(_buffer);
    public static implicit operator Icmpv4Packet(MutableIcmpv4Packet packet) => packet.ReadOnly;

    public Span<byte> Buffer => _buffer;

    public Icmpv4Message MessageType
    {
        get => ReadOnly.MessageType;
        set => _buffer[Icmpv4Packet.TypeOffset] = (byte)value;
    }

    public byte Code
    {
        get => ReadOnly.Code;
        set => _buffer[Icmpv4Packet.CodeOffset] = value;
    }

    public ushort Checksum
    {
        get => ReadOnly.Checksum;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Icmpv4Packet.ChecksumOffset..], value);
    }

    public ushort Identifier
    {
        get => ReadOnly.Identifier;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Icmpv4Packet.IdentifierOffset..], value);
    }

    public ushort SequenceNumber
    {
        get => ReadOnly.SequenceNumber;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Icmpv4Packet.SequenceOffset..], value);
    }

    public ushort NextHopMtu
    {
        get => ReadOnly.NextHopMtu;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Icmpv4Packet.MtuOffset..], value);
    }

    /// <summary>Zeroes bytes 4..7 (the "unused" field of error messages).</summary>
    public void ClearRestOfHeader() => _buffer[Icmpv4Packet.IdentifierOffset..Icmpv4Packet.HeaderLength].Clear();

    public Span<byte> Data => _buffer[Icmpv4Packet.HeaderLength..];

    /// <summary>Zeroes the checksum field and stores the checksum of the whole message.</summary>
    public void FillChecksum()
    {
        Checksum = 0;
        Checksum = InetChecksum.Compute(_buffer);
    }
}
