using System.Buffers.Binary;

namespace Netmem.Wire;

/// <summary>
/// The parsed Ethernet II header: addresses, payload type and an optional 802.1Q tag. It describes the
/// header only; the payload follows it in the buffer and belongs to the next layer.
/// </summary>
public readonly record struct EthernetRepr(EthernetAddress Source, EthernetAddress Destination, EtherType EtherType, VlanTag? Vlan = null)
{
    /// <summary>
    /// Reads the header of a checked frame. A type below 0x0600 is an IEEE 802.3 length field, not
    /// Ethernet II, and is reported as <see cref="ParseResult.Unsupported"/>.
    /// </summary>
    public static ParseResult Parse(EthernetFrame frame, out EthernetRepr repr)
    {
        repr = default;
        if ((ushort)frame.EtherType < 0x0600) return ParseResult.Unsupported;
        repr = new EthernetRepr(frame.Source, frame.Destination, frame.EtherType, frame.VlanTag);
        return ParseResult.Ok;
    }

    /// <summary>14, or 18 with a tag.</summary>
    public int HeaderLength => Vlan is null ? EthernetFrame.MinHeaderLength : EthernetFrame.MinHeaderLength + EthernetFrame.VlanTagLength;

    /// <summary>Bytes <see cref="Emit"/> writes: the header (no payload, no padding to 60 bytes).</summary>
    public int BufferLength => HeaderLength;

    /// <summary>Writes the header at the start of <paramref name="buffer"/>.</summary>
    public void Emit(Span<byte> buffer)
    {
        if (buffer.Length < HeaderLength) throw new ArgumentException($"an Ethernet header needs {HeaderLength} bytes, got {buffer.Length}", nameof(buffer));
        Destination.Write(buffer[EthernetFrame.DestinationOffset..]);
        Source.Write(buffer[EthernetFrame.SourceOffset..]);
        if (Vlan is { } tag)
        {
            BinaryPrimitives.WriteUInt16BigEndian(buffer[EthernetFrame.TypeOffset..], (ushort)EtherType.Vlan);
            BinaryPrimitives.WriteUInt16BigEndian(buffer[EthernetFrame.TciOffset..], tag.Tci);
        }
        BinaryPrimitives.WriteUInt16BigEndian(buffer[(HeaderLength - 2)..], (ushort)EtherType);
    }
}
