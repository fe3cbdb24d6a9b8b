using Netmem.Devices;
using Netmem.Stack.Tcp;
using Netmem.Wire;
using static Netmem.Tests.Tcp.TcpTestUtil;

namespace Netmem.Tests.Tcp;

public class TcpTransferTests
{
    [Fact]
    public void ManyMiBWithTsoBothDirectionsAtOnce()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net);
        Transfer(net, 8 << 20, (c, s), (s, c));
        Assert.Equal(0, c.GetInfo().TotalRetrans);
        Assert.Equal(0, s.GetInfo().TotalRetrans);
        Assert.Equal(0, net.A.Layer.Stats.TotalDrops + net.B.Layer.Stats.TotalDrops);
        Assert.True(net.A.Sent < (8 << 20) / 1448 / 4, $"TSO should send far fewer skbs than segments ({net.A.Sent})");
    }

    [Fact]
    public void ManyMiBWithoutOffloadsUseSoftwareChecksums()
    {
        using var net = new TcpTestNet(features: NetdevFeatures.None);
        net.A.VerifyInSoftware = net.B.VerifyInSoftware = true;
        var (c, s) = Connect(net);
        Transfer(net, 4 << 20, (c, s));
        Assert.Equal(0, net.B.Layer.Stats.TotalDrops);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RecoversFromOnePercentLoss(bool sack)
    {
        using var net = new TcpTestNet(features: NetdevFeatures.Sg | NetdevFeatures.IpCsum, seed: 7);
        var set = new TcpSettings { Sack = sack };
        var (c, s) = Connect(net, set, set);
        net.Loss = 0.01;
        Transfer(net, 4 << 20, (c, s), (s, c));
        Assert.True(net.Lost > 0);
        Assert.True(c.GetInfo().TotalRetrans > 0);
        Assert.True(net.A.Layer.Stats.FastRetransmitCount > 0, "some losses are repaired by fast retransmit");
        if (sack) Assert.True(net.A.Layer.Stats.SackRecoveryCount > 0);
    }

    [Fact]
    public void SurvivesReorderingAndDuplication()
    {
        using var net = new TcpTestNet(features: NetdevFeatures.Sg | NetdevFeatures.IpCsum, seed: 3);
        var (c, s) = Connect(net);
        net.Reorder = 0.05;
        net.Duplicate = 0.05;
        Transfer(net, 4 << 20, (c, s), (s, c));
        Assert.True(net.Reordered > 0 && net.Duplicated > 0);
    }

    [Fact]
    public void SurvivesCorruptionCaughtByChecksum()
    {
        using var net = new TcpTestNet(features: NetdevFeatures.Sg | NetdevFeatures.IpCsum, seed: 5);
        net.A.VerifyInSoftware = net.B.VerifyInSoftware = true;
        var (c, s) = Connect(net);
        net.Corrupt = 0.01;
        Transfer(net, 2 << 20, (c, s));
        Assert.True(net.Corrupted > 0);
        // Every corrupted segment is dropped: by the checksum, or before it when the flip hit the data
        // offset and made the header length impossible.
        long drops = 0;
        foreach (var why in new[] { TcpDropReason.BadChecksum, TcpDropReason.BadHeader })
            drops += net.A.Layer.Stats.GetDrops(why) + net.B.Layer.Stats.GetDrops(why);
        var all = string.Join(",", Enum.GetValues<TcpDropReason>().Where(r => r != TcpDropReason.Count).Select(r => $"{r}={net.A.Layer.Stats.GetDrops(r) + net.B.Layer.Stats.GetDrops(r)}"));
        Assert.True(net.Corrupted == drops, $"corrupted {net.Corrupted}, drops {all}");
    }

    [Fact]
    public void SixtyFourConcurrentConnections()
    {
        using var net = new TcpTestNet(pages: 16384);
        var l = net.B.Listen(Port, backlog: 128);
        var clients = new TcpConnection[64];
        for (int i = 0; i < clients.Length; i++) clients[i] = net.A.Connect(net.B, Port, new TcpSettings { SendBufferSize = 64 * 1024 });
        net.Pump();
        var flows = new (TcpConnection, TcpConnection)[clients.Length];
        var byPort = new Dictionary<ushort, TcpConnection>();
        for (int i = 0; i < clients.Length; i++) { var s = net.B.Accept(l); byPort[s.Tuple.RemotePort] = s; }
        for (int i = 0; i < clients.Length; i++) flows[i] = (clients[i], byPort[clients[i].Tuple.LocalPort]);
        Assert.Equal(64, byPort.Count);
        Transfer(net, 256 * 1024, flows);
    }

    [Fact]
    public void FastRetransmitRepairsASingleLossWithoutTimeout()
    {
        using var net = new TcpTestNet(features: NetdevFeatures.Sg | NetdevFeatures.IpCsum);
        var (c, s) = Connect(net, new TcpSettings { Sack = false }, new TcpSettings { Sack = false });
        Transfer(net, 200_000, (c, s)); // open cwnd
        int dataSegs = 0;
        net.DropFilter = (src, p, plen) => src == TcpTestNet.AddrA && plen > 0 && ++dataSegs == 5;
        var data = new byte[100_000];
        Assert.Equal(data.Length, c.Send(data));
        net.Pump();
        net.Advance(200_000, 10_000); // delayed ACKs (and Nagle's tail behind them) only; far below the RTO
        var buf = new byte[200_000];
        int got = 0, r;
        while ((r = s.Receive(buf.AsSpan(got))) > 0) got += r;
        Assert.Equal(data.Length, got);
        Assert.Equal(1, net.A.Layer.Stats.FastRetransmitCount);
        Assert.Equal(0, net.A.Layer.Stats.TimeoutCount);
        Assert.Equal(1, c.GetInfo().TotalRetrans);
    }

    [Fact]
    public void SackRecoveryRetransmitsOnlyTheHoles()
    {
        using var net = new TcpTestNet(features: NetdevFeatures.Sg | NetdevFeatures.IpCsum);
        var (c, s) = Connect(net); // RACK (the default); the RFC 6675 path is checked in RackTests and SackScoreboard tests
        Transfer(net, 300_000, (c, s));
        int dataSegs = 0;
        var dropped = new HashSet<uint>();
        net.DropFilter = (src, p, plen) =>
        {
            if (src != TcpTestNet.AddrA || plen == 0) return false;
            dataSegs++;
            if (dataSegs is 3 or 7 or 11) { dropped.Add(p.SequenceNumber); return true; }
            return false;
        };
        var retrans = new List<uint>();
        long before = c.GetInfo().TotalRetrans;
        var data = new byte[40 * 1448];
        Assert.Equal(data.Length, c.Send(data));
        net.Tap = (src, p, plen) => { if (src == TcpTestNet.AddrA && plen > 0 && dataSegs >= 40) retrans.Add(p.SequenceNumber); };
        net.Pump();
        net.Advance(200_000, 10_000);
        var buf = new byte[data.Length];
        int got = 0, r;
        while ((r = s.Receive(buf.AsSpan(got))) > 0) got += r;
        Assert.Equal(data.Length, got);
        Assert.Equal(3, c.GetInfo().TotalRetrans - before);
        Assert.Equal(dropped.OrderBy(x => x), retrans.Where(dropped.Contains).OrderBy(x => x));
        Assert.Equal(0, net.A.Layer.Stats.TimeoutCount);
    }

    [Fact]
    public void RtoRetransmitsWithExponentialBackoff()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, new TcpSettings { TailLossProbe = false }); // the RTO alone (a probe would go first)
        var times = new List<long>();
        net.DropFilter = (src, p, plen) => { if (src == TcpTestNet.AddrA && plen > 0) { times.Add(net.A.Context.NowUs); return times.Count <= 4; } return false; };
        c.Send(new byte[1000]);
        net.Pump();
        for (int i = 0; i < 10 && times.Count < 5; i++) net.AdvanceToNextTimer();
        Assert.Equal(5, times.Count);
        for (int i = 2; i < times.Count; i++) Assert.Equal(2 * (times[i - 1] - times[i - 2]), times[i] - times[i - 1], 5.0);
        Assert.Equal(4, net.A.Layer.Stats.TimeoutCount);
        var buf = new byte[2000];
        Assert.Equal(1000, s.Receive(buf));
        // The receiver quick-ACKs the first data at once: that ACK of new data has reset the backoff.
        Assert.Equal(0, c.GetInfo().Backoff);
        net.Advance(50_000, 10_000);
        Assert.Equal(0, c.SendQueued);
    }

    [Fact]
    public void TailLossProbeResendsTheLastSegmentAfterTwoSrtt()
    {
        using var net = new TcpTestNet(features: NetdevFeatures.Sg | NetdevFeatures.IpCsum); // MSS segments on the wire
        var (c, s) = Connect(net);
        c.Send(new byte[100]); // an RTT sample (about 0 here): the probe timeout becomes 2 SRTT + 2 ms
        net.Pump();
        Assert.Equal(100, s.Receive(new byte[200]));
        var sends = new List<(long At, uint Seq)>();
        uint fourth = c.SndNxt + 3 * (uint)c.Mss, fifth = fourth + (uint)c.Mss;
        int dropped = 0;
        net.DropFilter = (src, p, plen) =>
        {
            if (src != TcpTestNet.AddrA || plen == 0) return false;
            sends.Add((net.A.Context.NowUs, p.SequenceNumber));
            // The last two segments are lost once: a tail loss no duplicate ACK can reveal.
            if (dropped < 2 && (p.SequenceNumber == fourth || p.SequenceNumber == fifth)) { dropped++; return true; }
            return false;
        };
        var data = new byte[5 * c.Mss];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i * 13);
        long t0 = net.A.Context.NowUs;
        Assert.Equal(data.Length, c.Send(data));
        net.Pump();
        Assert.Equal(5, sends.Count);
        net.AdvanceToNextTimer();
        Assert.Equal(1, net.A.Layer.Stats.LossProbeCount);
        Assert.Equal(0, net.A.Layer.Stats.TimeoutCount);
        // The probe re-sends the last segment (an RTO would resend snd.una, the fourth), long before the RTO.
        Assert.Equal(6, sends.Count);
        Assert.Equal(fifth, sends[5].Seq);
        Assert.InRange(sends[5].At - t0, 1_000, 10_000);
        for (int i = 0; i < 10 && c.SendQueued > 0; i++) net.AdvanceToNextTimer();
        var got = new byte[data.Length + 10];
        Assert.Equal(data.Length, s.Receive(got));
        Assert.Equal(data, got[..data.Length]);
        Assert.Equal(0, c.SendQueued);
    }

    [Fact]
    public void DataTimesOutAfterRetries2()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net);
        net.DropFilter = (src, p, plen) => src == TcpTestNet.AddrA;
        c.Send(new byte[1000]);
        net.Pump();
        for (int i = 0; i < 40 && c.State != TcpState.Closed; i++) net.AdvanceToNextTimer();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(Errno.ETIMEDOUT, c.Error);
        Assert.Equal(15, net.A.Layer.Stats.TimeoutCount);
    }
}
