using CsCheck;
using static Netmem.Tests.Wire.Captures;

namespace Netmem.Tests.Wire;

/// <summary>
/// Wire input is hostile: for every format, random bytes and random mutations of valid packets must
/// come back as a <see cref="Netmem.Wire.ParseResult"/>, never as an exception, through TryCreate,
/// every getter of the view, and Parse.
/// </summary>
public sealed class WireFuzzTests
{
    private const int Iterations = 4000;

    private delegate int Touch(ReadOnlySpan<byte> bytes);

    /// <summary>Random bytes, biased short so headers are often cut at every point.</summary>
    private static readonly Gen<byte[]> RandomBytes = Gen.Byte.Array[0, 96];

    /// <summary>
    /// A valid sample with up to eight bytes overwritten, then cut short or extended with random bytes.
    /// </summary>
    private static Gen<byte[]> Mutations(byte[][] samples) =>
        Gen.Select(Gen.Int[0, samples.Length - 1], Gen.Select(Gen.Int[0, 127], Gen.Byte).Array[1, 8], Gen.Int[0, 160], Gen.Byte.Array[0, 8])
            .Select((i, edits, cut, extra) =>
            {
                var b = (byte[])samples[i].Clone();
                foreach (var (at, value) in edits)
                    if (at < b.Length) b[at] = value;
                return cut < b.Length ? b[..cut] : [.. b, .. extra];
            });

    private static byte[][] Layer(int offset, params string[] frames) => [.. frames.Select(f => Hex(f)[offset..])];

    private static void NeverThrows(Touch touch, byte[][] samples)
    {
        RandomBytes.Sample(b => { touch(b); }, iter: Iterations);
        Mutations(samples).Sample(b => { touch(b); }, iter: Iterations);
    }

    [Fact]
    public void Ethernet_never_throws()
    {
        // Frames with a VLAN tag are reached by mutating the type field to 0x8100.
        NeverThrows(WireWalk.TouchEthernet, Layer(0, All));
    }

    [Fact]
    public void Arp_never_throws() => NeverThrows(WireWalk.TouchArp, Layer(14, ArpRequest, ArpReply));

    [Fact]
    public void Ipv4_never_throws() => NeverThrows(WireWalk.TouchIpv4, Layer(14, EchoRequest, TcpSyn, TcpData, Udp, PortUnreachable, TimeExceeded));

    [Fact]
    public void Icmpv4_never_throws() => NeverThrows(WireWalk.TouchIcmpv4, Layer(34, EchoRequest, EchoReply, PortUnreachable, TimeExceeded));

    [Fact]
    public void Udp_never_throws() => NeverThrows(WireWalk.TouchUdp, Layer(34, Udp));

    [Fact]
    public void Tcp_never_throws() => NeverThrows(WireWalk.TouchTcp, Layer(34, TcpSyn, TcpSynAck, TcpData, TcpRst, TcpSack));

    [Fact]
    public void Tcp_options_never_throw() =>
        NeverThrows(WireWalk.TouchTcpOptions, [.. Layer(54, TcpSyn, TcpSynAck, TcpData, TcpSack).Select(b => b[..Math.Min(b.Length, 40)])]);

    [Fact]
    public void Whole_frames_never_throw_at_any_layer() => NeverThrows(WireWalk.TouchEverything, Layer(0, All));
}
