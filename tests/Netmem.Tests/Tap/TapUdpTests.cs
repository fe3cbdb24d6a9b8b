using System.Buffers.Binary;
using Netmem.Devices;
using Netmem.Drivers.Tap;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Tests.Tap;

/// <summary>
/// UDP through a real tap, both ways: datagrams a Python socket in the namespace sends arrive with the
/// right bytes and the checksum state the vnet header gave (CHECKSUM_PARTIAL with offloads, a complete
/// software checksum without), a 8.9 KB datagram scatters over frags, and datagrams we write (partial
/// checksum for the kernel to finish, or a full one) reach a Python socket byte for byte.
/// </summary>
public sealed class TapUdpTests
{
    /// <summary>Python: sends datagrams of the given sizes to ARGV1:9000, byte j of datagram i = (j * 13 + i) mod 256, the first 4 bytes i.</summary>
    internal const string PySend = """
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i, n in enumerate(int(x) for x in sys.argv[2].split(',')):
    p = bytearray((j * 13 + i) & 0xff for j in range(n))
    p[0:4] = struct.pack('!i', i)
    s.sendto(bytes(p), (sys.argv[1], 9000))
""";

    private const string PyRecv = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9001))
s.settimeout(3)
print('ready', flush=True)
for k in range(int(sys.argv[2])):
    d, a = s.recvfrom(70000)
    print(a[0], a[1], d.hex(), flush=True)
""";

    /// <summary>Sends datagrams of <paramref name="sizes"/> from the namespace and returns the UDP skbs that arrived, in order.</summary>
    private List<SkBuff> SendFromKernel(TapTestEnv env, params int[] sizes)
    {
        var r = env.RunPolling(TimeSpan.FromSeconds(10), "python3", "-c", PySend, env.OurAddress.ToString(), string.Join(',', sizes));
        Assert.True(r.Succeeded, $"python sender failed (exit {r.ExitCode}): {r.Stderr}");
        Assert.True(env.PollUntil(() => env.Responder.KeptCount >= sizes.Length, TimeSpan.FromSeconds(5)),
            $"{env.Responder.KeptCount} of {sizes.Length} datagrams arrived; drops {string.Join(", ", env.Dev.GetDrops())}");
        var kept = env.Responder.TakeKept();
        kept.Sort((a, b) => Seq(a).CompareTo(Seq(b)));
        return kept;
    }

    private static int Seq(SkBuff skb)
    {
        Span<byte> b = stackalloc byte[4];
        skb.CopyBits(28, b);
        return BinaryPrimitives.ReadInt32BigEndian(b);
    }

    /// <summary>Checks one received datagram's bytes and checksum state; returns the IP packet.</summary>
    private static byte[] CheckDatagram(TapTestEnv env, SkBuff skb, int seq, int size, bool expectPartial)
    {
        Assert.Equal((ushort)EtherType.Ipv4, skb.Protocol);
        var ipBytes = new byte[skb.Len];
        skb.CopyBits(0, ipBytes);
        Assert.Equal(ParseResult.Ok, Ipv4Packet.TryCreate(ipBytes, out var ip));
        Assert.Equal(env.KernelAddress, ip.Source);
        Assert.Equal(env.OurAddress, ip.Destination);
        Assert.Equal(IpProtocol.Udp, ip.Protocol);
        var udpBytes = ipBytes.AsSpan(ip.HeaderLength);
        Assert.Equal(ParseResult.Ok, UdpPacket.TryCreate(udpBytes, out var udp));
        Assert.Equal(9000, udp.DestinationPort);
        Assert.Equal(TapFrames.Payload(size, seq), udp.Payload.ToArray());
        if (expectPartial)
        {
            Assert.Equal(SkbChecksumState.Partial, skb.IpSummed);
            Assert.Equal(ip.HeaderLength, skb.CsumStart - skb.Headroom); // from the IP header (Ethernet pulled)
            Assert.Equal(6, skb.CsumOffset);
            // The field holds the pseudo-header sum; finishing it as a device would gives a valid datagram.
            TapFrames.CompleteChecksum(udpBytes, 0, 6);
        }
        else
        {
            Assert.Equal(SkbChecksumState.None, skb.IpSummed);
        }
        Assert.Equal(ParseResult.Ok, UdpPacket.TryCreate(udpBytes, out var done));
        Assert.Equal(ParseResult.Ok, UdpRepr.Parse(done, ip.Source, ip.Destination, out _));
        return ipBytes;
    }

    [Fact]
    public void Kernel_udp_arrives_intact_as_checksum_partial_with_offloads_and_a_jumbo_datagram_scatters_over_frags()
    {
        Requires.Tap();
        using var env = new TapTestEnv(new TapOptions { Mtu = 9000 }, kernelMtu: 9000);
        Assert.Equal(0x3u, env.Dev.TunOffloadFlags); // TUN_F_CSUM | TUN_F_TSO4
        int[] sizes = [100, 1400, 8900];
        var kept = SendFromKernel(env, sizes);
        try
        {
            for (int i = 0; i < sizes.Length; i++) CheckDatagram(env, kept[i], i, sizes[i], expectPartial: true);
            Assert.Equal(0, kept[0].NrFrags);
            Assert.Equal(2, kept[2].NrFrags); // 8942 bytes: the head buffer and two more
            Assert.True(env.Dev.GetTapStats(0).RxCsumPartial >= 3);
        }
        finally
        {
            foreach (var s in kept) s.Free();
        }

        // Offloads off through ethtool -K style features: TUNSETOFFLOAD(0), so the kernel checksums in software.
        env.Dev.SetFeatures(NetdevFeatures.Sg);
        Assert.Equal(0u, env.Dev.TunOffloadFlags);
        kept = SendFromKernel(env, 1000);
        try
        {
            CheckDatagram(env, kept[0], 0, 1000, expectPartial: false);
        }
        finally
        {
            foreach (var s in kept) s.Free();
        }
    }

    [Fact]
    public void Without_offloads_plain_1500_byte_frames_arrive_with_a_software_checksum()
    {
        Requires.Tap();
        using var env = new TapTestEnv(new TapOptions { Offloads = false });
        Assert.Equal(0u, env.Dev.TunOffloadFlags);
        Assert.Equal(NetdevFeatures.Sg, env.Dev.Features);
        int[] sizes = [4, 700, 1472];
        var kept = SendFromKernel(env, sizes);
        try
        {
            for (int i = 0; i < sizes.Length; i++) CheckDatagram(env, kept[i], i, sizes[i], expectPartial: false);
            Assert.Equal(1500, kept[2].Len);
            Assert.Equal(0, env.Dev.GetTapStats(0).RxCsumPartial);
        }
        finally
        {
            foreach (var s in kept) s.Free();
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Udp_we_transmit_reaches_a_socket_in_the_namespace_byte_for_byte(bool offloads)
    {
        Requires.Tap();
        using var env = new TapTestEnv(new TapOptions { Offloads = offloads });
        int[] sizes = [1400, 64, 4];
        var r = env.RunWhenReady(TimeSpan.FromSeconds(8), () =>
        {
            for (int i = 0; i < sizes.Length; i++)
            {
                var frame = TapFrames.Udp(env.Dev.Address, env.Link.KernelMac, env.OurAddress, env.KernelAddress, 5555, 9001, TapFrames.Payload(sizes[i], i), partial: offloads);
                // The first datagram has payload in two frags: the writev gathers head and frags.
                var skb = TapFrames.TxSkb(env.TxCache, frame, inHead: Math.Min(frame.Length, TapFrames.UdpHeaders + 400), fragSize: 600);
                if (offloads)
                {
                    skb.IpSummed = SkbChecksumState.Partial;
                    skb.CsumStart = (ushort)(skb.Headroom + 34);
                    skb.CsumOffset = 6;
                }
                Assert.Equal(NetdevTxResult.Ok, env.Dev.Transmit(skb));
            }
        }, "python3", "-c", PyRecv, env.KernelAddress.ToString(), sizes.Length.ToString());
        Assert.True(r.Succeeded, $"receiver exit {r.ExitCode}: {r.Stderr}");
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(sizes.Length, lines.Length);
        for (int i = 0; i < sizes.Length; i++)
        {
            var parts = lines[i].Split(' ');
            Assert.Equal(env.OurAddress.ToString(), parts[0]);
            Assert.Equal("5555", parts[1]);
            Assert.Equal(Convert.ToHexStringLower(TapFrames.Payload(sizes[i], i)), parts[2]);
        }
        var tx = env.Dev.TxQueues[0].Stats;
        Assert.Equal(offloads ? 3 : 0, tx.NeedsCsum);
        Assert.Equal(0, tx.Drops);
    }
}
