using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// RACK loss detection (RFC 8985 6, Linux tcp_recovery = 1) on virtual time: the reordering window of min_rtt/4
/// and the reorder timer, losses marked by time rather than by three SACKed segments, reordering seen from a
/// first SACK below the highest one and from a hole filled by a cumulative ACK, and the switch back to the
/// RFC 6675 duplicate threshold with tcp_recovery = 0. The figures are those of packetdrill's
/// sack-shift-sacked-7-3-4-8-9-fack, fr-4pkt-fack-last-mss and cubic-rack-reo-timeout.
/// </summary>
public sealed class RackTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);

    private static byte[] Ack(uint iss, uint ack, params (uint L, uint R)[] sacks) => IpPacketBuilder.PeerAck(iss, ack, 257, sacks);

    private static (TcpConnection C, uint Iss, byte[] Data) SendTen(VirtualTcpHost host, int bytes = 10000)
    {
        var (_, c, iss) = VirtualTcpHostTests.Establish(host); // handshake RTT 100 ms: min_rtt 100 ms
        var data = new byte[bytes];
        new Random(41).NextBytes(data);
        Assert.Equal(bytes, c.Send(data));
        host.RunPending();
        while (host.Device.TryTakeSent(out _)) { }
        return (c, iss, data);
    }

    private static uint NextSentSeq(VirtualTcpHost host, uint iss, byte[] data, out int len, out long timeUs)
    {
        Assert.True(host.Device.TryTakeSent(out var pkt));
        var r = IpPacketBuilder.ParseSent(pkt.Bytes, out _, out _, out var p);
        uint off = r.SequenceNumber - iss - 1;
        len = p.Length;
        timeUs = pkt.TimeUs;
        Assert.Equal(data.AsSpan((int)off, len).ToArray(), p.ToArray()); // the retransmission carries the original bytes
        return r.SequenceNumber - iss;
    }

    [Fact]
    public void OneSack_WaitsTheReorderingWindow_ThenTheTimerMarksEverythingBelowLost()
    {
        using var host = new VirtualTcpHost();
        var (c, iss, data) = SendTen(host);
        long sentUs = host.NowUs;
        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 1, (7001, 8001))));
        Assert.False(host.Device.TryTakeSent(out _)); // one SACKed segment: no fast retransmit yet (not dupthresh)
        Assert.Equal(0, c.GetInfo().Lost);
        // RTT 100 ms + reo_wnd min_rtt/4 = 25 ms since the send, plus TCP_TIMEOUT_MIN 2 ms.
        host.Advance(26_000);
        Assert.False(host.Device.TryTakeSent(out _));
        host.Advance(1_000);
        Assert.Equal(1u, NextSentSeq(host, iss, data, out int len, out long at));
        Assert.Equal(1000, len);
        Assert.Equal(sentUs + 127_000, at);
        var info = c.GetInfo();
        Assert.Equal(3, info.CaState);
        Assert.Equal(7000, info.Lost); // 1:7001
        Assert.Equal(3, info.Reordering);

        // 3001:4001 SACKed for the first time, 5 segments below the highest SACK: reordering 5, no longer lost.
        host.Advance(2_000);
        Assert.True(host.Inject(Ack(iss, 1, (3001, 4001), (7001, 8001))));
        Assert.Equal(1001u, NextSentSeq(host, iss, data, out _, out _));
        info = c.GetInfo();
        Assert.Equal(6000, info.Lost);
        Assert.Equal(5, info.Reordering);
        Assert.Equal(1, info.ReordSeen);

        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 10001)));
        info = c.GetInfo();
        Assert.Equal(0, info.CaState);
        Assert.Equal(0, info.Lost);
        Assert.Equal(0, info.RetransOut);
    }

    [Fact]
    public void CumulativeAckFillingAHole_IsReordering()
    {
        using var host = new VirtualTcpHost();
        var (c, iss, _) = SendTen(host);
        host.Advance(20_000);
        Assert.True(host.Inject(Ack(iss, 1, (9001, 10001))));
        Assert.True(host.Inject(Ack(iss, 1, (3001, 4001), (9001, 10001))));
        Assert.Equal(7, c.GetInfo().Reordering); // 3001 SACKed below 10001
        Assert.Equal(1, c.GetInfo().ReordSeen);
        Assert.True(host.Inject(Ack(iss, 10001)));
        Assert.Equal(10, c.GetInfo().Reordering); // 1 delivered after 10001
        Assert.Equal(2, c.GetInfo().ReordSeen);
        Assert.Equal(0, c.GetInfo().CaState);
        Assert.Equal(0, c.GetInfo().TotalRetrans); // reordering only: nothing was sent again
    }

    [Fact]
    public void ThreeSacks_NoReorderingSeen_MarkLostAtOnce_WithoutAWindow()
    {
        using var host = new VirtualTcpHost();
        var (c, iss, data) = SendTen(host);
        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 1, (5001, 8001))));
        // Three segments SACKed and no reordering seen: reo_wnd 0, RTT elapsed: 1:5001 lost now.
        Assert.Equal(1u, NextSentSeq(host, iss, data, out _, out _));
        Assert.Equal(5000, c.GetInfo().Lost);
        Assert.Equal(3, c.GetInfo().CaState);
    }

    [Fact]
    public void RecoveryZero_UsesTheDuplicateThreshold_NoReorderTimer()
    {
        using var host = new VirtualTcpHost(new VirtualTcpHostOptions { Tcp = new TcpSettings { Recovery = TcpRecoveryFlags.None } });
        var (c, iss, data) = SendTen(host);
        long sentUs = host.NowUs;
        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 1, (7001, 8001))));
        host.Advance(100_000);
        // Without RACK one SACK marks nothing and no reorder timer runs.
        Assert.False(host.Device.TryTakeSent(out _));
        Assert.Equal(0, c.GetInfo().Lost);
        // Three SACKed segments above the hole: RFC 6675 marks it lost at once.
        Assert.True(host.Inject(Ack(iss, 1, (7001, 10001))));
        Assert.Equal(1u, NextSentSeq(host, iss, data, out _, out long at));
        Assert.Equal(sentUs + 200_000, at);
        Assert.Equal(3, c.GetInfo().CaState);
    }

    [Fact]
    public void DsackOfASpuriousRetransmission_WidensTheReorderingWindowAStep()
    {
        using var host = new VirtualTcpHost();
        var (c, iss, data) = SendTen(host);
        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 1, (7001, 8001))));
        host.Advance(27_000);
        Assert.Equal(1u, NextSentSeq(host, iss, data, out _, out _)); // the reorder timer's retransmission
        // The original was only late: everything arrives, and the receiver reports the copy as a duplicate (RFC 2883).
        host.Advance(10_000);
        Assert.True(host.Inject(Ack(iss, 10001, (1, 1001))));
        Assert.Equal(0, c.GetInfo().CaState);
        while (host.Device.TryTakeSent(out _)) { }

        // Next flight: one SACK again. reo_wnd is now 2 x min_rtt/4 = 50 ms: the timer waits RTT + 50 ms + 2 ms.
        var more = new byte[10000];
        new Random(43).NextBytes(more);
        Assert.Equal(10000, c.Send(more));
        host.RunPending();
        long sentUs = host.NowUs;
        while (host.Device.TryTakeSent(out _)) { }
        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 10001, (14001, 15001))));
        // The SACKed segment left the network: one new segment may replace it (packets_in_flight), nothing is retransmitted.
        while (host.Device.TryTakeSent(out var fresh)) Assert.True(IpPacketBuilder.ParseSent(fresh.Bytes, out _, out _, out _).SequenceNumber - iss >= 15001);
        host.Advance(51_000);
        Assert.False(host.Device.TryTakeSent(out _));
        host.Advance(1_000);
        Assert.True(host.Device.TryTakeSent(out var pkt));
        Assert.Equal(sentUs + 152_000, pkt.TimeUs);
        var r = IpPacketBuilder.ParseSent(pkt.Bytes, out _, out _, out var p);
        Assert.Equal(iss + 10001, r.SequenceNumber);
        Assert.Equal(more.AsSpan(0, 1000).ToArray(), p.ToArray());
    }

    [Fact]
    public void AnRtoRetransmission_NeverCarriesBytesNotSentBefore()
    {
        // snd.max ends 500 bytes into a segment's worth; more data is written before the RTO fires. The
        // retransmission from snd.una must stop at snd.max (else snd.nxt passes snd.max and the peer's ACK of
        // those bytes is dropped as acknowledging something never sent).
        using var host = new VirtualTcpHost(new VirtualTcpHostOptions { Tcp = new TcpSettings { TailLossProbe = false } });
        var (_, c, iss) = VirtualTcpHostTests.Establish(host);
        var data = new byte[500];
        new Random(47).NextBytes(data);
        Assert.Equal(500, c.Send(data));
        host.RunPending();
        while (host.Device.TryTakeSent(out _)) { }
        host.Advance(100_000);
        // The window shrinks to 512 bytes (4 << 7): the next write's segment does not fit and waits.
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, 50000, 8080, 1, iss + 1, TcpFlags.Ack, 4)));
        Assert.Equal(3000, c.Send(new byte[3000]));
        host.RunPending();
        Assert.False(host.Device.TryTakeSent(out _));
        uint sndMax = c.SndNxt;
        host.Advance(1_000_000);
        bool sawRto = false;
        while (host.Device.TryTakeSent(out var pkt))
        {
            var r = IpPacketBuilder.ParseSent(pkt.Bytes, out _, out _, out var p);
            Assert.True(SeqNum.Le(r.SequenceNumber + (uint)p.Length, sndMax)); // every retransmission ends at or below snd.max
            sawRto |= r.SequenceNumber == iss + 1 && p.Length > 0;
        }
        Assert.True(sawRto);
        Assert.True(SeqNum.Le(c.SndNxt, sndMax));
    }
}
