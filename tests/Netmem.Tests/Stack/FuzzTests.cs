using CsCheck;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Tests.Stack;

public class FuzzTests
{
    private static readonly IpDropReason[] InputReasons =
    [
        IpDropReason.InHdrErrors, IpDropReason.InTruncated, IpDropReason.InCsumErrors, IpDropReason.NotForUs,
        IpDropReason.MartianSource, IpDropReason.UnknownProtocol, IpDropReason.FragOverlap, IpDropReason.FragDuplicate,
        IpDropReason.FragBadLength, IpDropReason.FragMemoryLimit, IpDropReason.FragTimeout, IpDropReason.FragQueueKilled,
    ];

    [Fact]
    public void Mutated_frames_never_throw_and_every_ipv4_datagram_is_accounted_for()
    {
        using var env = new StackTestEnv();
        using var sock = new Netmem.Sockets.UdpSocket(env.StackB);
        sock.Bind(new Netmem.Sockets.UdpEndpoint(StackTestEnv.IpB, 7));
        var bmac = env.Pair.B.Address;
        var amac = env.Pair.A.Address;
        var udp = Frames.Udp(StackTestEnv.IpA, StackTestEnv.IpB, 5, 7, Frames.Pattern(60, 1));
        var icmp = new byte[16];
        Icmpv4Repr.EchoRequest(1, 1, 8).Emit(icmp);
        var arp = new byte[42];
        new EthernetRepr(amac, EthernetAddress.Broadcast, EtherType.Arp).Emit(arp);
        new ArpRepr(ArpOperation.Request, amac, StackTestEnv.IpA, default, StackTestEnv.IpB).Emit(arp.AsSpan(14));
        byte[][] seeds =
        [
            Frames.Ipv4(bmac, amac, StackTestEnv.IpA, StackTestEnv.IpB, IpProtocol.Udp, 1, 0, false, udp),
            Frames.Ipv4(bmac, amac, StackTestEnv.IpA, StackTestEnv.IpB, IpProtocol.Icmp, 2, 0, false, icmp),
            Frames.Ipv4(bmac, amac, StackTestEnv.IpA, StackTestEnv.IpB, IpProtocol.Udp, 3, 0, true, udp.AsSpan(0, 32)),
            Frames.Ipv4(bmac, amac, StackTestEnv.IpA, StackTestEnv.IpB, IpProtocol.Udp, 3, 32, false, udp.AsSpan(32)),
            arp,
        ];
        var gen = Gen.Select(Gen.Int[0, seeds.Length - 1], Gen.Select(Gen.Int[6, 80], Gen.Byte).Array[1, 4], Gen.Int[0, 90], Gen.Bool);
        gen.Sample((seed, muts, cut, fix) =>
        {
            var f = (byte[])seeds[seed].Clone();
            foreach (var (at, v) in muts) if (at < f.Length) f[at] = v;
            if (cut < f.Length && cut >= 14) f = f[..cut];
            if (fix) Frames.FixIpChecksum(f);
            env.SendRawFromA(f);
            env.Poll();
        }, iter: 2000);
        env.Advance(TimeSpan.FromSeconds(31)); // expire whatever reassembly was left
        var s = env.StackB.Stats;
        long inputDrops = 0;
        foreach (var r in InputReasons) inputDrops += s[r];
        Assert.True(s[IpMib.InReceives] > 500, s.ToString());
        Assert.Equal(s[IpMib.InReceives], s[IpMib.InDelivers] + inputDrops + s[IpMib.ReasmMerged]);
        Assert.Equal(0, env.StackB.FragmentMemory);
        Assert.True(s[IpDropReason.InCsumErrors] > 0 && s[IpMib.InDelivers] > 0, s.ToString());
    }
}
