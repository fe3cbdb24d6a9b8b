using System.Security.Cryptography;
using Netmem.Devices;
using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// How the send path cuts bursts, as Linux does: TSO autosizing (<c>tcp_tso_autosize</c>: about 1 ms of
/// the pacing rate, at least tcp_min_tso_segs), at most half the cwnd per burst (<c>tcp_cwnd_test</c>),
/// PSH on every multi-segment burst and on the end of a write, slow start after idle
/// (<c>tcp_cwnd_restart</c>), and software GSO on a device without TSO.
/// </summary>
public sealed class TsoAutosizeTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);

    private static List<(uint Seq, int Len, TcpFlags Flags)> Drain(VirtualTcpHost host, MemoryStream into)
    {
        var list = new List<(uint, int, TcpFlags)>();
        while (host.Device.TryTakeSent(out var pkt))
        {
            var r = IpPacketBuilder.ParseSent(pkt.Bytes, out _, out _, out var p);
            list.Add((r.SequenceNumber, p.Length, r.Flags));
            into.Write(p);
        }
        return list;
    }

    private static byte[] Ack(uint iss, uint acked, ushort win = 257) => IpPacketBuilder.Tcp(Remote, Local, 50000, 8080, 1, iss + 1 + acked, TcpFlags.Ack, win);

    [Fact]
    public void LowRateBurstsAreMinTsoSegs_PshOnEachMultiSegmentBurst_NotOnACwndLimitedSingleSegment()
    {
        using var host = new VirtualTcpHost();
        var (_, c, iss) = VirtualTcpHostTests.Establish(host); // RTT 100 ms, MSS 1000, cwnd 10
        var data = new byte[17000];
        new Random(41).NextBytes(data);
        var wire = new MemoryStream();

        // 10 x 1000 / 100 ms at 200 % is 200 kB/s: 195 bytes a millisecond, under one segment, so bursts of
        // tcp_min_tso_segs (2). Each multi-segment burst carries PSH, as Linux's do.
        Assert.Equal(10000, c.Send(data.AsSpan(0, 10000)));
        host.RunPending();
        var first = Drain(host, wire);
        Assert.Equal(5, first.Count);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(iss + 1 + (uint)(2000 * i), first[i].Seq);
            Assert.Equal(2000, first[i].Len);
            Assert.True((first[i].Flags & TcpFlags.Psh) != 0);
        }

        Assert.Equal(SHA256.HashData(data.AsSpan(0, 10000)), SHA256.HashData(wire.ToArray()));
    }

    [Fact]
    public void ACwndLimitedSingleSegmentInsideAWriteCarriesNoPsh()
    {
        using var host = new VirtualTcpHost(new VirtualTcpHostOptions { Tcp = new TcpSettings { MinTsoSegs = 3 } });
        var (_, c, iss) = VirtualTcpHostTests.Establish(host);
        var data = new byte[11000];
        new Random(45).NextBytes(data);
        var wire = new MemoryStream();
        Assert.Equal(11000, c.Send(data));
        host.RunPending();
        // cwnd 10 in bursts of 3: the tenth segment goes alone, cut by the cwnd inside the write: no PSH.
        var burst = Drain(host, wire);
        Assert.Equal([3000, 3000, 3000, 1000], burst.Select(s => s.Len));
        Assert.Equal([true, true, true, false], burst.Select(s => (s.Flags & TcpFlags.Psh) != 0));
        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 10000)));
        var tail = Drain(host, wire); // the write's last segment: the push mark
        Assert.Equal(1000, Assert.Single(tail).Len);
        Assert.True((tail[0].Flags & TcpFlags.Psh) != 0);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(wire.ToArray()));
    }

    [Fact]
    public void BelowHalfAMillisecondOfMinRttBurstsGrowToTheGsoMaximum()
    {
        // tcp_tso_rtt_log 9: with a min RTT under 512 µs the whole GSO maximum is added to the pacing
        // budget, so a fast local path (the perf path over VirtualNic) keeps full-size bursts; here only
        // half the cwnd limits them. At 100 ms the same flow sends bursts of 2.
        using var host = new VirtualTcpHost();
        Assert.Equal(Errno.None, host.Tcp.Listen(new TcpEndpoint(Ipv4Address.Unspecified, 8080), 8, host.Tcp.Defaults, out var l));
        var syn = new TcpOptions { MaxSegmentSize = 1000, SackPermitted = true, WindowScale = 7 };
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, 50000, 8080, 0, 0, TcpFlags.Syn, 32792, syn)));
        Assert.True(host.Device.TryTakeSent(out var synAck));
        uint iss = IpPacketBuilder.ParseSent(synAck.Bytes, out _, out _, out _).SequenceNumber;
        host.Advance(100);
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, 50000, 8080, 1, iss + 1, TcpFlags.Ack, 1024)));
        Assert.True(l!.TryAccept(out var c));
        var data = new byte[30000];
        new Random(47).NextBytes(data);
        var wire = new MemoryStream();
        Assert.Equal(10000, c.Send(data.AsSpan(0, 10000)));
        host.RunPending();
        Assert.Equal([5000, 5000], Drain(host, wire).Select(s => s.Len));
        host.Advance(100);
        Assert.True(host.Inject(Ack(iss, 10000, 1024)));
        Assert.Equal(20000, c.Send(data.AsSpan(10000, 20000)));
        host.RunPending();
        Assert.Equal([10000, 10000], Drain(host, wire).Select(s => s.Len)); // cwnd 20
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(wire.ToArray()));
    }

    [Fact]
    public void MinTsoSegsRaisesTheBurst_HalfTheCwndCapsIt()
    {
        using var host = new VirtualTcpHost(new VirtualTcpHostOptions { Tcp = new TcpSettings { MinTsoSegs = 10 } });
        var (_, c, iss) = VirtualTcpHostTests.Establish(host);
        var data = new byte[26000];
        new Random(42).NextBytes(data);
        var wire = new MemoryStream();
        Assert.Equal(26000, c.Send(data));
        host.RunPending();
        // 10 segments autosized, but one burst takes at most half of cwnd 10 (tcp_cwnd_test): 5 + 5.
        Assert.Equal([5000, 5000], Drain(host, wire).Select(s => s.Len));
        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 10000)));
        // cwnd 20: half is 10, the autosize is 10, and the rest of the write is 6000.
        Assert.Equal([10000, 6000], Drain(host, wire).Select(s => s.Len));
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(wire.ToArray()));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SlowStartAfterIdleRestartsTheCwnd(bool afterIdle)
    {
        using var host = new VirtualTcpHost(new VirtualTcpHostOptions { Tcp = new TcpSettings { SlowStartAfterIdle = afterIdle } });
        var (_, c, iss) = VirtualTcpHostTests.Establish(host);
        var data = new byte[30000];
        new Random(43).NextBytes(data);
        var wire = new MemoryStream();
        Assert.Equal(10000, c.Send(data.AsSpan(0, 10000)));
        host.RunPending();
        Drain(host, wire);
        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 10000)));
        Assert.Equal(20_000, c.GetInfo().SndCwnd);

        // Two seconds with nothing in flight: several RTOs. cwnd halves per RTO down to the initial window.
        host.Advance(2_000_000);
        Assert.Equal(20000, c.Send(data.AsSpan(10000, 20000)));
        host.RunPending();
        Assert.Equal(afterIdle ? 10_000 : 20_000, c.GetInfo().SndCwnd);
        Assert.Equal(afterIdle ? 10000 : 20000, Drain(host, wire).Sum(s => s.Len));
        Assert.Equal(SHA256.HashData(data.AsSpan(0, (int)wire.Length)), SHA256.HashData(wire.ToArray()));
    }

    [Fact]
    public void WithoutTsoTheDeviceSegmentsGsoBursts_PshOnlyOnTheLastSegment()
    {
        using var host = new VirtualTcpHost(new VirtualTcpHostOptions { Tcp = new TcpSettings { NoDelay = true } });
        host.Device.Features = NetdevFeatures.Sg | NetdevFeatures.IpCsum | NetdevFeatures.Gso;
        var (_, c, iss) = VirtualTcpHostTests.Establish(host);
        var data = new byte[2500];
        new Random(44).NextBytes(data);
        var wire = new MemoryStream();
        Assert.Equal(2500, c.Send(data));
        host.RunPending();
        // One 2-segment GSO burst (PSH, as every multi-segment burst) cut into MSS datagrams: PSH moves to
        // its last; then the 500-byte tail, which ends the write (TCP_NODELAY: Nagle would hold it). ParseSent verifies every checksum.
        var segs = Drain(host, wire);
        Assert.Equal([1000, 1000, 500], segs.Select(s => s.Len));
        Assert.Equal([iss + 1, iss + 1001, iss + 2001], segs.Select(s => s.Seq));
        Assert.Equal([false, true, true], segs.Select(s => (s.Flags & TcpFlags.Psh) != 0));
        Assert.Equal(data, wire.ToArray());
    }
}
