using Netmem.Devices;
using Netmem.Stack.Tcp;
using Netmem.Wire;
using static Netmem.Tests.Tcp.TcpTestUtil;

namespace Netmem.Tests.Tcp;

public class TcpHandshakeTests
{
    [Fact]
    public void ThreeWayHandshakeNegotiatesAllOptions()
    {
        using var net = new TcpTestNet();
        var flags = new List<TcpFlags>();
        TcpOptions synOpts = default;
        net.Tap = (src, p, plen) =>
        {
            flags.Add(p.Flags);
            if (p.Flags == TcpFlags.Syn) TcpOptions.Parse(p.Options, out synOpts);
        };
        var (c, s) = Connect(net);
        Assert.Equal([TcpFlags.Syn, TcpFlags.Syn | TcpFlags.Ack, TcpFlags.Ack], flags);
        Assert.Equal((ushort)1460, synOpts.MaxSegmentSize);
        Assert.Equal((byte)7, synOpts.WindowScale);
        Assert.True(synOpts.SackPermitted);
        Assert.NotNull(synOpts.Timestamp);
        foreach (var x in new[] { c, s })
        {
            Assert.True(x.WindowScaleEnabled && x.SackEnabled && x.TimestampsEnabled);
            Assert.Equal(1460 - 12, x.Mss);
            Assert.Equal((byte)7, x.SendWindowScale);
        }
        Assert.Equal(c.SndNxt, s.RcvNxt);
        Assert.Equal(s.SndNxt, c.RcvNxt);
        Assert.Equal(c.Tuple.LocalAddress, s.Tuple.RemoteAddress);
        Assert.InRange(c.Tuple.LocalPort, TcpLayer.EphemeralLow, TcpLayer.EphemeralHigh);
        Assert.Equal(1, net.A.Layer.Stats.ActiveOpenCount);
        Assert.Equal(1, net.B.Layer.Stats.PassiveOpenCount);
    }

    [Theory]
    [InlineData(false, true, true)]
    [InlineData(true, false, true)]
    [InlineData(true, true, false)]
    [InlineData(false, false, false)]
    public void OptionsOffOnOneSideAreOffForBoth(bool ts, bool sack, bool ws)
    {
        using var net = new TcpTestNet(mtu: 1400);
        var off = new TcpSettings { Timestamps = ts, Sack = sack, WindowScaling = ws };
        var (c, s) = Connect(net, client: off);
        foreach (var x in new[] { c, s })
        {
            Assert.Equal(ts, x.TimestampsEnabled);
            Assert.Equal(sack, x.SackEnabled);
            Assert.Equal(ws, x.WindowScaleEnabled);
            Assert.Equal(1360 - (ts ? 12 : 0), x.Mss);
            Assert.Equal(ws ? (byte)7 : (byte)0, x.ReceiveWindowScale);
        }
        Transfer(net, 300_000, (c, s), (s, c));
    }

    [Fact]
    public void PeerMssSmallerThanRouteIsHonoured()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, server: new TcpSettings { MaxSegmentSize = 1000 });
        Assert.Equal(1000 - 12, c.Mss);
        Assert.Equal(1000 - 12, s.Mss);
        Transfer(net, 100_000, (c, s));
    }

    [Fact]
    public void ConnectToClosedPortIsRefusedByRst()
    {
        using var net = new TcpTestNet();
        var c = net.A.Connect(net.B, 9);
        net.Pump();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(Errno.ECONNREFUSED, c.Error);
        Assert.Equal(1, net.B.Layer.Stats.GetDrops(TcpDropReason.NoSocket));
        Assert.Equal(1, net.B.Layer.Stats.OutResets);
        Assert.Equal(1, net.A.Layer.Stats.AttemptFailCount);
    }

    [Fact]
    public void SynRetriesBackOffThenTimeOut()
    {
        using var net = new TcpTestNet();
        var synTimes = new List<long>();
        net.DropFilter = (src, p, plen) => { if ((p.Flags & TcpFlags.Syn) != 0) synTimes.Add(net.A.Context.NowUs); return true; };
        var c = net.A.Connect(net.B, Port);
        net.Pump();
        for (int i = 0; i < 20 && c.State != TcpState.Closed; i++) net.AdvanceToNextTimer();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(Errno.ETIMEDOUT, c.Error);
        Assert.Equal(7, synTimes.Count); // the SYN and tcp_syn_retries (6) retransmissions
        for (int i = 1; i < synTimes.Count; i++)
        {
            long gap = synTimes[i] - synTimes[i - 1];
            long want = 1_000_000L << (i - 1); // 1 s initial RTO, doubling
            Assert.InRange(gap, want, want + 10);
        }
    }

    [Fact]
    public void LostSynAckIsRetransmitted()
    {
        using var net = new TcpTestNet();
        int synAcks = 0;
        net.DropFilter = (src, p, plen) => p.Flags == (TcpFlags.Syn | TcpFlags.Ack) && ++synAcks == 1;
        var l = net.B.Listen(Port);
        var c = net.A.Connect(net.B, Port);
        net.Pump();
        Assert.Equal(TcpState.SynSent, c.State);
        Assert.Equal(1, l.SynQueueLength);
        net.AdvanceToNextTimer();
        Assert.Equal(TcpState.Established, c.State);
        var s = net.B.Accept(l);
        Assert.Equal(TcpState.Established, s.State);
        Transfer(net, 10_000, (c, s));
    }

    [Fact]
    public void SimultaneousOpen()
    {
        using var net = new TcpTestNet();
        // Both connect to each other's port at once: each sees the other's SYN in SYN-SENT.
        var ea = net.A.Layer.Connect(TcpTestNet.AddrB, 4000, TcpTestNet.AddrA, 5000, net.A.Layer.Defaults, out var a);
        var eb = net.B.Layer.Connect(TcpTestNet.AddrA, 5000, TcpTestNet.AddrB, 4000, net.B.Layer.Defaults, out var b);
        Assert.Equal(Errno.None, ea);
        Assert.Equal(Errno.None, eb);
        net.A.Track(a!); net.B.Track(b!);
        net.Pump();
        Assert.Equal(TcpState.Established, a!.State);
        Assert.Equal(TcpState.Established, b!.State);
        Assert.Equal(a.SndNxt, b.RcvNxt);
        Assert.Equal(b.SndNxt, a.RcvNxt);
        Transfer(net, 200_000, (a, b), (b, a));
    }

    [Fact]
    public void BacklogFullDropsSyn()
    {
        using var net = new TcpTestNet();
        var l = net.B.Listen(Port, backlog: 2);
        var cs = new List<TcpConnection>();
        for (int i = 0; i < 3; i++) cs.Add(net.A.Connect(net.B, Port));
        net.Pump();
        Assert.Equal(2, l.AcceptQueueLength);
        Assert.Equal(TcpState.SynSent, cs[2].State);
        Assert.Equal(1, net.B.Layer.Stats.GetDrops(TcpDropReason.ListenOverflow));
        net.B.Accept(l);
        net.AdvanceToNextTimer(); // the SYN retransmission now finds room
        Assert.Equal(TcpState.Established, cs[2].State);
        Assert.Equal(2, l.AcceptQueueLength);
    }

    [Fact]
    public void ListenTwiceIsAddressInUse()
    {
        using var net = new TcpTestNet();
        net.B.Listen(Port);
        Assert.Equal(Errno.EADDRINUSE, net.B.Layer.Listen(new TcpEndpoint(TcpTestNet.AddrB, Port), 8, new TcpSettings(), out _));
        Assert.Equal(Errno.ENETUNREACH, net.A.Layer.Connect(new Ipv4Address(192, 168, 9, 9), 80, default, 0, new TcpSettings(), out _));
    }

    [Fact]
    public void BadChecksumIsDroppedAndCounted()
    {
        using var net = new TcpTestNet(features: NetdevFeatures.Sg);
        net.B.VerifyInSoftware = true;
        var (c, s) = Connect(net);
        net.Corrupt = 1.0;
        c.Send(new byte[100]);
        net.Pump();
        Assert.True(net.B.Layer.Stats.GetDrops(TcpDropReason.BadChecksum) >= 1);
        net.Corrupt = 0;
        net.AdvanceToNextTimer(); // the RTO resends it intact
        var buf = new byte[200];
        Assert.Equal(100, s.Receive(buf));
    }
}
