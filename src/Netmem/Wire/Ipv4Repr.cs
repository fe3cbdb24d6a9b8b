namespace Netmem.Wire;

/// <summary>
/// A parsed IPv4 header: everything but the options and the checksum. <see cref="Emit"/> always writes
/// a 20-byte header (IHL 5); options received are skipped by <see cref="Parse"/>, which is what a host
/// that honours none of them does. Fragment fields are carried so reassembly can see them.
/// </summary>
public readonly record struct Ipv4Repr(Ipv4Address Source, Ipv4Address Destination, IpProtocol Protocol, int PayloadLength, byte TimeToLive = 64)
{
    public byte Dscp { get; init; }
    public byte Ecn { get; init; }
    public ushort Identification { get; init; }
    public bool DontFragment { get; init; }
    public bool MoreFragments { get; init; }
    /// <summary>In bytes, a multiple of 8.</summary>
    public int FragmentOffset { get; init; }

    /// <summary>
    /// Reads a checked datagram. The header checksum is verified unless <paramref name="verifyChecksum"/>
    /// is false (the device already did). <see cref="PayloadLength"/> is the total length less the
    /// header, options included.
    /// </summary>
    public static ParseResult Parse(Ipv4Packet packet, out Ipv4Repr repr, bool verifyChecksum = true)
    {
        repr = default;
        if (verifyChecksum && !packet.VerifyChecksum()) return ParseResult.BadChecksum;
        repr = new Ipv4Repr(packet.Source, packet.Destination, packet.Protocol, packet.TotalLength - packet.HeaderLength, packet.TimeToLive)
        {
            Dscp = packet.Dscp,
            Ecn = packet.Ecn,
            Identification = packet.Identification,
            DontFragment = packet.DontFragment,
            MoreFragments = packet.MoreFragments,
            FragmentOffset = packet.FragmentOffset,
        };
        return ParseResult.Ok;
    }

    /// <summary>20: emitted headers carry no options.</summary>
    public int HeaderLength => Ipv4Packet.MinHeaderLength;
    public int BufferLength => HeaderLength + PayloadLength;

    /// <summary>
    /// Writes the header at the start of <paramref name="buffer"/>; the payload is the caller's. With
    /// <paramref name="fillChecksum"/> false the checksum field is left zero for the device to fill.
    /// </summary>
    public void Emit(Span<byte> buffer, bool fillChecksum = true)
    {
        if (buffer.Length < HeaderLength) throw new ArgumentException($"an IPv4 header needs {HeaderLength} bytes, got {buffer.Length}", nameof(buffer));
        if (PayloadLength < 0 || BufferLength > ushort.MaxValue) throw new InvalidOperationException($"payload length {PayloadLength} does not fit an IPv4 datagram");
        var p = new MutableIpv4Packet(buffer[..HeaderLength]);
        p.SetVersionAndHeaderLength(HeaderLength);
        buffer[Ipv4Packet.DscpEcnOffset] = 0;
        p.Dscp = Dscp;
        p.Ecn = Ecn;
        p.TotalLength = BufferLength;
        p.Identification = Identification;
        buffer[Ipv4Packet.FlagsFragmentOffset] = 0;
        buffer[Ipv4Packet.FlagsFragmentOffset + 1] = 0;
        p.DontFragment = DontFragment;
        p.MoreFragments = MoreFragments;
        p.FragmentOffset = FragmentOffset;
        p.TimeToLive = TimeToLive;
        p.Protocol = Protocol;
        p.Source = Source;
        p.Destination = Destination;
        if (fillChecksum) p.FillChecksum();
        else p.Checksum = 0;
    }
}
