using Netmem.Wire;
using static Netmem.Tests.Wire.Captures;

namespace Netmem.Tests.Wire;

/// <summary>The parse and emit paths allocate no managed memory once warm.</summary>
public sealed class WireAllocationTests
{
    [Fact]
    public void Parse_and_emit_of_every_format_allocates_nothing()
    {
        var frames = All.Select(Hex).ToArray();
        var scratch = new byte[2048];
        int expected = Workout(frames, scratch);
        Assert.True(expected > 0, "every captured frame parses and re-emits");
        int mismatches = 0;
        for (int i = 0; i < 1000; i++) mismatches += Workout(frames, scratch) == expected ? 0 : 1;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20_000; i++) mismatches += Workout(frames, scratch) == expected ? 0 : 1;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(0, mismatches);
    }

    /// <summary>Parses every frame down to its last layer and emits every repr again into <paramref name="scratch"/>.</summary>
    private static int Workout(byte[][] frames, byte[] scratch)
    {
        int n = 0;
        foreach (var frame in frames)
        {
            if (EthernetFrame.TryCreate(frame, out var eth) != ParseResult.Ok || EthernetRepr.Parse(eth, out var ethRepr) != ParseResult.Ok) return int.MinValue;
            ethRepr.Emit(scratch);
            n += ethRepr.BufferLength;
            var l3 = scratch.AsSpan(ethRepr.HeaderLength);
            if (ethRepr.EtherType == EtherType.Arp)
            {
                if (ArpPacket.TryCreate(eth.Payload, out var arp) != ParseResult.Ok || ArpRepr.Parse(arp, out var arpRepr) != ParseResult.Ok) return int.MinValue;
                arpRepr.Emit(l3);
                n += arpRepr.BufferLength;
                continue;
            }
            if (Ipv4Packet.TryCreate(eth.Payload, out var ip) != ParseResult.Ok || Ipv4Repr.Parse(ip, out var ipRepr) != ParseResult.Ok) return int.MinValue;
            ipRepr.Emit(l3);
            var l4 = l3[ipRepr.HeaderLength..];
            ip.Payload.CopyTo(l4);
            switch (ipRepr.Protocol)
            {
                case IpProtocol.Icmp:
                    if (Icmpv4Packet.TryCreate(ip.Payload, out var icmp) != ParseResult.Ok || Icmpv4Repr.Parse(icmp, out var icmpRepr) != ParseResult.Ok) return int.MinValue;
                    icmpRepr.Emit(l4);
                    n += icmpRepr.BufferLength;
                    break;
                case IpProtocol.Udp:
                    if (UdpPacket.TryCreate(ip.Payload, out var udp) != ParseResult.Ok ||
                        UdpRepr.Parse(udp, ipRepr.Source, ipRepr.Destination, out var udpRepr) != ParseResult.Ok) return int.MinValue;
                    udpRepr.Emit(l4, ipRepr.Source, ipRepr.Destination);
                    n += udpRepr.BufferLength;
                    break;
                case IpProtocol.Tcp:
                    if (TcpPacket.TryCreate(ip.Payload, out var tcp) != ParseResult.Ok ||
                        TcpRepr.Parse(tcp, ipRepr.Source, ipRepr.Destination, out var tcpRepr) != ParseResult.Ok) return int.MinValue;
                    tcpRepr.Emit(l4, ipRepr.Source, ipRepr.Destination);
                    n += tcpRepr.BufferLength + tcpRepr.Options.SackBlockCount;
                    break;
            }
            n += WireWalk.ParseFrame(scratch.AsSpan(0, ethRepr.HeaderLength + ipRepr.BufferLength)) == ParseResult.Ok ? 1 : -1000;
        }
        return n;
    }
}
