using System.Security.Cryptography;
using Netmem.Devices;
using Netmem.Stack.Tcp;
using Netmem.Wire;
using static Netmem.Tests.Tcp.TcpTestUtil;

namespace Netmem.Tests.Tcp;

public class TcpTimerAndBulkTests
{
    [Fact]
    public void DelayedAckWaits40MsForOneSegmentAndAcksTwoAtOnce()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, new TcpSettings { NoDelay = true });
        var ackTimes = new List<long>();
        net.Tap = (src, p, n) => { if (src == TcpTestNet.AddrB && n == 0 && p.Flags == TcpFlags.Ack) ackTimes.Add(net.B.Context.NowUs); };
        // Quick-ACK mode first (Linux's icsk_ack.quick): the first 16 data segments are ACKed at once.
        for (int i = 0; i < TcpConnection.MaxQuickAcks; i++)
        {
            c.Send(new byte[100]);
            net.Pump();
            Assert.Equal(i + 1, ackTimes.Count);
        }
        Assert.Equal(0, net.B.Layer.Stats.DelayedAckCount);
        ackTimes.Clear();
        long t0 = net.A.Context.NowUs;
        c.Send(new byte[100]);
        net.Pump();
        Assert.Empty(ackTimes);
        net.Advance(39_000, 1_000);
        Assert.Empty(ackTimes);
        net.Advance(2_000, 1_000);
        Assert.Single(ackTimes);
        Assert.InRange(ackTimes[0] - t0, 40_000, 41_000);
        Assert.Equal(1, net.B.Layer.Stats.DelayedAckCount);
        ackTimes.Clear();
        c.Send(new byte[2 * c.Mss]); // two full segments: ACK at once
        net.Pump();
        Assert.Single(ackTimes);
        Assert.Equal(1, net.B.Layer.Stats.DelayedAckCount);
        Assert.Equal(100 * (TcpConnection.MaxQuickAcks + 1) + 2 * c.Mss, s.Receive(new byte[8192]));
    }

    [Fact]
    public void CorkHoldsPartialSegmentsUntilUncorkedAndMsgMoreUntilTheProbeTimer()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, new TcpSettings { NoDelay = true });
        var segs = new List<(int Len, bool Psh)>();
        net.Tap = (src, p, n) => { if (src == TcpTestNet.AddrA && n > 0) segs.Add((n, (p.Flags & TcpFlags.Psh) != 0)); };
        c.Settings.Cork = true;
        c.ApplySettings();
        c.Send(new byte[40]);
        net.Advance(50_000, 10_000);
        c.Send(new byte[40]);
        net.Pump();
        Assert.Empty(segs); // corked: nothing in flight, still held
        c.Settings.Cork = false;
        c.ApplySettings();
        net.Pump();
        Assert.Equal([(80, true)], segs);
        // MSG_MORE: this call holds the runt; with nothing to clock it out, the probe timer sends it (with PSH) after about an RTO.
        segs.Clear();
        long t0 = net.A.Context.NowUs;
        Assert.Equal(30, c.Send(new byte[30], endOfRecord: false, more: true));
        net.Pump();
        Assert.Empty(segs);
        for (int i = 0; i < 5 && segs.Count == 0; i++) net.AdvanceToNextTimer();
        Assert.Equal([(30, true)], segs);
        Assert.InRange(net.A.Context.NowUs - t0, 200_000, 1_100_000);
        Assert.Equal(110, s.Receive(new byte[200]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NagleCoalescesSmallWritesUnlessNoDelay(bool noDelay)
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, new TcpSettings { NoDelay = noDelay });
        int dataSegs = 0;
        net.Tap = (src, p, n) => { if (src == TcpTestNet.AddrA && n > 0) dataSegs++; };
        for (int i = 0; i < 10; i++) c.Send(new byte[10]); // ten writes before anything is acknowledged
        net.Pump();
        net.Advance(100_000, 10_000);
        Assert.Equal(noDelay ? 10 : 2, dataSegs); // Nagle: the first alone, the other nine together after its ACK
        Assert.Equal(100, s.Receive(new byte[200]));
    }

    [Fact]
    public void ZeroWindowProbesBackOffThenWindowOpens()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, server: new TcpSettings { ReceiveBufferSize = 64 * 1024, ReceiveBufferAutoTuning = false });
        var data = new byte[200_000];
        FillPattern(data, 0, 4);
        int sent = c.Send(data);
        net.Pump();
        Assert.InRange(c.SndWnd, 0, c.Mss - 1); // closed, or a runt the sender's SWS avoidance will not fill
        var probeTimes = new List<long>();
        net.Tap = (src, p, n) => { if (src == TcpTestNet.AddrA && n == 0 && p.SequenceNumber == c.SndUna - 1) probeTimes.Add(net.A.Context.NowUs); };
        for (int i = 0; i < 4; i++) net.AdvanceToNextTimer();
        Assert.True(probeTimes.Count >= 3, $"{probeTimes.Count} probes");
        Assert.True(probeTimes[2] - probeTimes[1] > probeTimes[1] - probeTimes[0], "probes back off");
        Assert.True(net.A.Layer.Stats.ZeroWindowProbeCount >= 3);
        Assert.Equal(TcpState.Established, c.State);
        // The reader drains: the window update reopens the flow and everything arrives intact.
        var got = new byte[data.Length];
        int total = 0;
        while (total < sent)
        {
            int r = s.Receive(got.AsSpan(total));
            if (r > 0) total += r; else { net.Pump(); if (s.ReceiveQueued == 0) net.AdvanceToNextTimer(); }
            if (total < data.Length && sent < data.Length) { int k = c.Send(data.AsSpan(sent)); if (k > 0) sent += k; }
        }
        Assert.Equal(data, got);
    }

    [Fact]
    public void KeepaliveProbesThenTimesOut()
    {
        using var net = new TcpTestNet();
        var set = new TcpSettings { KeepAlive = true, KeepAliveIdle = TimeSpan.FromSeconds(10), KeepAliveInterval = TimeSpan.FromSeconds(2), KeepAliveCount = 3 };
        var (c, s) = Connect(net, set);
        net.Advance(11_000_000);
        Assert.Equal(1, net.A.Layer.Stats.KeepaliveProbeCount); // answered: the connection stays
        Assert.Equal(TcpState.Established, c.State);
        net.DropFilter = (src, p, n) => src == TcpTestNet.AddrB; // the peer goes silent
        net.Advance(30_000_000);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(Errno.ETIMEDOUT, c.Error);
        Assert.Equal(1 + 3, net.A.Layer.Stats.KeepaliveProbeCount); // count probes unanswered, then ETIMEDOUT at the next interval
    }

    [Fact]
    public void RenoIsSelectablePerSocket()
    {
        using var net = new TcpTestNet(features: NetdevFeatures.Sg | NetdevFeatures.IpCsum, seed: 11);
        var (c, s) = Connect(net, new TcpSettings { CongestionControl = "reno" });
        Assert.Equal("reno", c.CongestionControlName);
        Assert.Equal("cubic", s.CongestionControlName);
        net.Loss = 0.005;
        Transfer(net, 2 << 20, (c, s));
        Assert.Throws<ArgumentException>(() => c.SetCongestionControl("vegas"));
    }

    [Fact]
    public void SteadyStateTransferAllocatesNothingOnTheStackThread()
    {
        using var net = new TcpTestNet(features: NetdevFeatures.Sg | NetdevFeatures.IpCsum, clock: new StillClock());
        var (c, s) = Connect(net);
        var chunk = new byte[64 * 1024];
        var buf = new byte[64 * 1024];
        long aSend = 0, aPump = 0, aRecv = 0;
        void Run(int rounds)
        {
            for (int i = 0; i < rounds; i++)
            {
                long x = GC.GetAllocatedBytesForCurrentThread();
                c.Send(chunk);
                long y = GC.GetAllocatedBytesForCurrentThread();
                net.Pump();
                long z = GC.GetAllocatedBytesForCurrentThread();
                while (s.Receive(buf) > 0) { }
                long w = GC.GetAllocatedBytesForCurrentThread();
                net.Pump();
                long v = GC.GetAllocatedBytesForCurrentThread();
                aSend += y - x; aPump += z - y + v - w; aRecv += w - z;
            }
        }
        Run(200); // warm-up: caches, dictionaries, queues at their sizes
        long before = GC.GetAllocatedBytesForCurrentThread();
        long segsBefore = net.A.Sent;
        aSend = aPump = aRecv = 0;
        Run(200);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal((0L, 0L, 0L), (aSend, aPump, aRecv));
        Assert.True(net.A.Sent - segsBefore > 5000, "the window covers many segments");
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void OneGiBWithSha256EqualOnBothEnds()
    {
        using var net = new TcpTestNet(pages: 16384);
        var (c, s) = Connect(net, server: new TcpSettings { ReceiveBufferSize = 4 << 20, ReceiveBufferAutoTuning = false }, client: new TcpSettings { SendBufferSize = 4 << 20 });
        const long total = 1L << 30;
        using var tx = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var rx = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var block = new byte[1 << 20];
        Random.Shared.NextBytes(block); // content differs per run; the hashes must still match
        var buf = new byte[1 << 20];
        long sent = 0, got = 0;
        int off = 0;
        while (got < total)
        {
            if (sent < total)
            {
                int len = (int)Math.Min(block.Length - off, total - sent);
                int k = c.Send(block.AsSpan(off, len));
                if (k > 0) { tx.AppendData(block, off, k); sent += k; off = (off + k) % block.Length; }
            }
            net.Pump();
            int r;
            while ((r = s.Receive(buf)) > 0) { rx.AppendData(buf, 0, r); got += r; }
        }
        Assert.Equal(total, got);
        Assert.Equal(tx.GetHashAndReset(), rx.GetHashAndReset());
        Assert.Equal(0, c.GetInfo().TotalRetrans);
    }
}
