using Netmem.Stack.Tcp;

namespace Netmem.Tests.Tcp.Components;

/// <summary>NewReno and CUBIC driven by a toy sender: every RTT, one ACK per <c>ackSegs</c> segments of cwnd, spread over the RTT.</summary>
public sealed class CongestionControlTests
{
    private const int Mss = 1000;

    private static TcpCongestionState Fresh(ICongestionControl cc, long nowUs = 0)
    {
        var s = new TcpCongestionState { Mss = Mss, Ssthresh = long.MaxValue, CwndLimited = true };
        cc.Init(ref s, nowUs);
        return s;
    }

    /// <summary>One round trip: the whole cwnd at the round's start is acknowledged, <paramref name="ackSegs"/> segments per ACK.</summary>
    private static void Round(ICongestionControl cc, ref TcpCongestionState s, ref long nowUs, long rttUs, int ackSegs = 1)
    {
        long segs = Math.Max(1, s.Cwnd / Mss);
        long acks = (segs + ackSegs - 1) / ackSegs;
        for (long i = 0; i < acks; i++)
        {
            nowUs += rttUs / acks;
            s.BytesInFlight = s.Cwnd;
            long n = Math.Min(ackSegs, segs - i * ackSegs); // the last ACK may cover fewer
            cc.OnAck(ref s, n * Mss, rttUs, nowUs);
        }
    }

    /// <summary>Puts <paramref name="cc"/> in congestion avoidance at <paramref name="cwndSegs"/> after a loss there.</summary>
    private static TcpCongestionState AfterLoss(ICongestionControl cc, int cwndSegs, long nowUs = 0)
    {
        var s = Fresh(cc);
        s.Cwnd = (long)cwndSegs * Mss;
        s.BytesInFlight = s.Cwnd;
        cc.OnEnterRecovery(ref s, nowUs);
        s.InRecovery = true;
        cc.OnExitRecovery(ref s, nowUs);
        s.InRecovery = false;
        return s;
    }

    // ---- registry ----

    [Fact]
    public void Create_knows_cubic_as_default_and_reno()
    {
        Assert.Equal("cubic", CongestionControl.Default);
        Assert.Equal(["cubic", "reno"], CongestionControl.Names);
        Assert.IsType<Cubic>(CongestionControl.Create());
        Assert.IsType<Cubic>(CongestionControl.Create("cubic"));
        Assert.IsType<NewReno>(CongestionControl.Create("reno"));
        Assert.Equal("reno", CongestionControl.Create("reno").Name);
        Assert.NotSame(CongestionControl.Create("cubic"), CongestionControl.Create("cubic")); // one per connection
    }

    [Fact]
    public void Create_refuses_an_unknown_name_naming_it_and_the_known_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => CongestionControl.Create("bbr"));
        Assert.Contains("\"bbr\"", e.Message);
        Assert.Contains("cubic", e.Message);
        Assert.Contains("reno", e.Message);
        Assert.Throws<ArgumentException>(() => CongestionControl.Create("Cubic")); // names are exact, like Linux
        Assert.Throws<ArgumentNullException>(() => CongestionControl.Create(null!));
    }

    // ---- shared behaviour ----

    [Theory]
    [InlineData("reno", 1000, 10_000)]
    [InlineData("cubic", 1460, 14_600)]
    [InlineData("reno", 536, 5_360)]
    [InlineData("cubic", 9000, 18_000)] // max(2·MSS, 14600) caps jumbo segments at 2
    public void Init_sets_the_RFC_6928_initial_window(string name, int mss, long iw)
    {
        var cc = CongestionControl.Create(name);
        var s = new TcpCongestionState { Mss = mss };
        cc.Init(ref s, 0);
        Assert.Equal(iw, s.Cwnd);
        Assert.Equal(long.MaxValue, s.Ssthresh);
    }

    [Fact]
    public void Init_without_an_MSS_is_a_misuse()
    {
        var s = new TcpCongestionState();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new NewReno().Init(ref s, 0));
        Assert.Contains("MSS", e.Message);
    }

    [Theory]
    [InlineData("reno")]
    [InlineData("cubic")]
    public void Slow_start_doubles_cwnd_per_RTT_with_one_or_two_segments_per_ACK(string name)
    {
        foreach (int ackSegs in new[] { 1, 2 })
        {
            var cc = CongestionControl.Create(name);
            // The toy spreads each round's ACKs over the whole RTT: an ACK train that long is what HyStart takes
            // for a full pipe (and ends slow start at 16 segments or so), so it is off here.
            if (cc is Cubic cubic) cubic.HyStart = false;
            var s = Fresh(cc);
            long now = 0;
            for (int r = 0; r < 5; r++)
            {
                long before = s.Cwnd;
                Round(cc, ref s, ref now, 10_000, ackSegs);
                Assert.Equal(2 * before, s.Cwnd);
            }
            Assert.Equal(320 * Mss, s.Cwnd);
        }
    }

    [Theory]
    [InlineData("reno")]
    [InlineData("cubic")]
    public void Slow_start_grows_by_all_a_stretch_ACK_covers_as_Linux(string name)
    {
        var cc = CongestionControl.Create(name);
        var s = Fresh(cc);
        cc.OnAck(ref s, 8 * Mss, 10_000, 1);
        Assert.Equal(18 * Mss, s.Cwnd); // tcp_slow_start: cwnd += acked, no RFC 3465 L = 2 cap
    }

    [Theory]
    [InlineData("reno")]
    [InlineData("cubic")]
    public void Slow_start_stops_at_ssthresh(string name)
    {
        var cc = CongestionControl.Create(name);
        var s = Fresh(cc);
        s.Ssthresh = 11 * Mss + 500;
        cc.OnAck(ref s, Mss + 500, 10_000, 1);
        Assert.Equal(11 * Mss + 500, s.Cwnd);
        // The rest of an ACK that crosses ssthresh counts in congestion avoidance: far less than slow start's.
        cc.OnAck(ref s, 2 * Mss, 10_000, 2);
        Assert.InRange(s.Cwnd, 11 * Mss + 500, 11 * Mss + 750);
    }

    [Theory]
    [InlineData("reno")]
    [InlineData("cubic")]
    public void Nothing_grows_when_not_cwnd_limited_or_in_recovery(string name)
    {
        var cc = CongestionControl.Create(name);
        var s = Fresh(cc);
        s.CwndLimited = false;
        cc.OnAck(ref s, 2 * Mss, 10_000, 1);
        Assert.Equal(10 * Mss, s.Cwnd);
        s.CwndLimited = true;
        s.InRecovery = true;
        cc.OnAck(ref s, 2 * Mss, 10_000, 2);
        Assert.Equal(10 * Mss, s.Cwnd);
    }

    [Theory]
    [InlineData("reno")]
    [InlineData("cubic")]
    public void Undo_restores_cwnd_and_ssthresh_from_before_the_reduction(string name)
    {
        var cc = CongestionControl.Create(name);
        var s = Fresh(cc);
        s.Cwnd = 50 * Mss;
        s.Ssthresh = 80 * Mss;
        s.BytesInFlight = s.Cwnd;
        cc.OnEnterRecovery(ref s, 1000);
        Assert.True(s.Cwnd < 50 * Mss);
        cc.OnUndo(ref s, 2000);
        Assert.Equal(50 * Mss, s.Cwnd);
        Assert.Equal(80 * Mss, s.Ssthresh);

        // Nothing saved any more: a second undo changes nothing.
        s.Cwnd = 7 * Mss;
        cc.OnUndo(ref s, 3000);
        Assert.Equal(7 * Mss, s.Cwnd);

        // Undo of a timeout.
        s.Cwnd = 40 * Mss;
        s.BytesInFlight = s.Cwnd;
        cc.OnRetransmitTimeout(ref s, 4000);
        Assert.Equal(Mss, s.Cwnd);
        cc.OnUndo(ref s, 5000);
        Assert.Equal(40 * Mss, s.Cwnd);
        Assert.Equal(80 * Mss, s.Ssthresh);
    }

    // ---- NewReno ----

    [Fact]
    public void Reno_congestion_avoidance_adds_one_MSS_per_RTT_counted_in_bytes()
    {
        var cc = new NewReno();
        var s = AfterLoss(cc, 40);
        Assert.Equal(20 * Mss, s.Cwnd);
        long now = 0;
        for (int r = 1; r <= 5; r++)
        {
            Round(cc, ref s, ref now, 50_000);
            Assert.Equal((20 + r) * Mss, s.Cwnd);
        }
        // Delayed ACKs (two segments each) grow it the same: growth is counted in bytes, not ACKs.
        for (int r = 1; r <= 4; r++)
        {
            Round(cc, ref s, ref now, 50_000, 2);
            Assert.Equal((25 + r) * Mss, s.Cwnd);
        }
    }

    [Fact]
    public void Reno_loss_sets_ssthresh_and_cwnd_to_half_the_flight_but_at_least_two_segments()
    {
        var cc = new NewReno();
        var s = Fresh(cc);
        s.Cwnd = 40 * Mss;
        s.BytesInFlight = 30 * Mss; // not all of cwnd in flight: the flight counts (RFC 5681 (4))
        cc.OnEnterRecovery(ref s, 0);
        Assert.Equal(15 * Mss, s.Ssthresh);
        Assert.Equal(15 * Mss, s.Cwnd); // RFC 6675 style: no 3·MSS inflation
        s.InRecovery = true;
        s.Cwnd = 17 * Mss;
        cc.OnExitRecovery(ref s, 0);
        Assert.Equal(15 * Mss, s.Cwnd);

        s.InRecovery = false;
        s.BytesInFlight = 3 * Mss;
        cc.OnEnterRecovery(ref s, 0);
        Assert.Equal(2 * Mss, s.Ssthresh);
    }

    [Fact]
    public void Reno_RTO_sets_the_loss_window_and_a_second_RTO_keeps_ssthresh()
    {
        var cc = new NewReno();
        var s = Fresh(cc);
        s.Cwnd = 40 * Mss;
        s.BytesInFlight = 40 * Mss;
        cc.OnRetransmitTimeout(ref s, 0);
        Assert.Equal(Mss, s.Cwnd);
        Assert.Equal(20 * Mss, s.Ssthresh);
        s.InRecovery = true;
        s.BytesInFlight = Mss;
        cc.OnRetransmitTimeout(ref s, 1_000_000);
        Assert.Equal(Mss, s.Cwnd);
        Assert.Equal(20 * Mss, s.Ssthresh);

        // Then slow start up to ssthresh, then congestion avoidance.
        s.InRecovery = false;
        long now = 2_000_000;
        for (int r = 0; r < 5; r++) Round(cc, ref s, ref now, 10_000);
        Assert.Equal(20 * Mss, s.Cwnd); // 1, 2, 4, 8, 16, then 20 (capped at ssthresh)
    }

    // ---- CUBIC ----

    [Fact]
    public void Cubic_loss_sets_ssthresh_to_0_7_W_and_remembers_W_max_with_fast_convergence()
    {
        var cc = new Cubic();
        var s = Fresh(cc);
        s.Cwnd = 100 * Mss;
        s.BytesInFlight = s.Cwnd;
        cc.OnEnterRecovery(ref s, 0);
        Assert.Equal(70 * Mss, s.Ssthresh);
        Assert.Equal(70 * Mss, s.Cwnd);
        Assert.Equal(100, cc.WMax, 9);

        // A second loss below W_max: fast convergence remembers less, W_max = cwnd·(1 + β)/2.
        s.Cwnd = 80 * Mss;
        cc.OnEnterRecovery(ref s, 1);
        Assert.Equal(56 * Mss, s.Ssthresh);
        Assert.Equal(68, cc.WMax, 9);

        cc.FastConvergence = false;
        s.Cwnd = 60 * Mss;
        cc.OnEnterRecovery(ref s, 2);
        Assert.Equal(60, cc.WMax, 9);

        s.Cwnd = 2 * Mss;
        cc.OnEnterRecovery(ref s, 3);
        Assert.Equal(2 * Mss, s.Ssthresh); // floor of two segments
    }

    [Fact]
    public void Cubic_reaches_W_max_at_time_K_after_a_concave_then_convex_curve()
    {
        var cc = new Cubic { HyStart = false };
        var s = AfterLoss(cc, 100);
        const long rtt = 100_000;
        long start = 10_000_000, now = start;
        Round(cc, ref s, ref now, rtt); // starts the epoch at the first ACK
        // K = cbrt(W_max·(1 − β)/C) = cbrt(100·0.3/0.4) ≈ 4.217 s, in the kernel's 1/1024 s units.
        Assert.InRange(cc.K, Math.Cbrt(100 * (1 - 717.0 / 1024) / 0.4) - 0.005, Math.Cbrt(100 * (1 - 717.0 / 1024) / 0.4) + 0.001);

        var cwndAt = new List<(double t, double w)>();
        while (now - start < 8_000_000)
        {
            Round(cc, ref s, ref now, rtt);
            cwndAt.Add(((now - start) / 1e6, (double)s.Cwnd / Mss));
        }

        // At t ≈ K the window is back at W_max (the plateau).
        var atK = cwndAt.MinBy(p => Math.Abs(p.t - cc.K));
        Assert.InRange(atK.w, 98.5, 101.5);

        // Concave before K: growth per RTT shrinks; convex after: it grows.
        double Growth(double t0, double t1)
        {
            var a = cwndAt.MinBy(p => Math.Abs(p.t - t0));
            var b = cwndAt.MinBy(p => Math.Abs(p.t - t1));
            return (b.w - a.w) / (b.t - a.t);
        }
        double early = Growth(0.5, 1.5), late = Growth(3.0, 4.0), plateau = Growth(3.9, 4.5), after = Growth(5.5, 6.5), later = Growth(6.5, 7.5);
        Assert.True(early > late, $"concave: {early} then {late} segments/s");
        Assert.True(plateau <= late && plateau < early / 4, $"plateau {plateau} segments/s");
        Assert.True(after > plateau && later > after, $"convex: {plateau}, {after}, {later} segments/s");

        // And it follows the curve, one RTT (delay_min) ahead: at 6 s the window is close to W(6 s + RTT).
        var at6 = cwndAt.MinBy(p => Math.Abs(p.t - 6.0));
        double expected = 0.4 * Math.Pow(at6.t + 0.1 - cc.K, 3) + 100;
        Assert.InRange(at6.w, expected - 3, expected + 2);
        // No cwnd jump: cnt >= 2, at most 1.5·cwnd per RTT.
        for (int i = 1; i < cwndAt.Count; i++) Assert.True(cwndAt[i].w <= cwndAt[i - 1].w * 1.5 + 1);
    }

    [Fact]
    public void Cubic_follows_the_Reno_friendly_window_at_small_RTT_and_cwnd()
    {
        var cc = new Cubic { HyStart = false };
        var s = AfterLoss(cc, 10); // cwnd 7, W_max 10, K ≈ 1.96 s: the curve hardly moves in 40 ms
        const long rtt = 2_000;
        long now = 0;
        for (int r = 0; r < 20; r++) Round(cc, ref s, ref now, rtt);
        // Reno with CUBIC's β: one segment per 15/8·cwnd ACKed (3(1 − β)/(1 + β) ≈ 0.53 a round), 20 rounds at
        // cwnd 7..15: a dozen segments or so, while the cubic curve alone would give none.
        double w = (double)s.Cwnd / Mss;
        Assert.InRange(w, 14, 20);
        Assert.True(cc.Cnt >= 2);
    }

    [Fact]
    public void Cubic_RTO_sets_the_loss_window_forgets_W_max_and_grows_5_percent_a_round_until_a_loss()
    {
        var cc = new Cubic { HyStart = false };
        var s = Fresh(cc);
        s.Cwnd = 100 * Mss;
        s.BytesInFlight = s.Cwnd;
        cc.OnRetransmitTimeout(ref s, 0);
        Assert.Equal(Mss, s.Cwnd);
        Assert.Equal(70 * Mss, s.Ssthresh);
        Assert.Equal(0, cc.WMax);

        s.InRecovery = true;
        cc.OnRetransmitTimeout(ref s, 1_000_000); // a repeated timeout keeps ssthresh
        Assert.Equal(70 * Mss, s.Ssthresh);
        s.InRecovery = false;

        long now = 2_000_000;
        Assert.False(cc.InEpoch);
        while (s.Cwnd < s.Ssthresh) Round(cc, ref s, ref now, 10_000);
        // Slow start 1, 2, 4 .. 64, then the ACKs past 70 went to congestion avoidance: an epoch with K = 0.
        Assert.InRange(s.Cwnd, 70 * Mss, 72 * Mss);
        Assert.True(cc.InEpoch);
        Assert.Equal(0, cc.K);
        // With W_max unknown cnt is at most 20: a cwnd of ~70 gains 3 or 4 segments a round.
        long before = s.Cwnd;
        Round(cc, ref s, ref now, 10_000);
        Assert.InRange(s.Cwnd - before, 3 * Mss, 4 * Mss);
        Assert.True(cc.Cnt <= 20);
    }

    [Fact]
    public void Cubic_undo_restores_cwnd_and_ssthresh_as_reno_undo()
    {
        var cc = new Cubic();
        var s = Fresh(cc);
        s.Cwnd = 100 * Mss;
        cc.OnEnterRecovery(ref s, 0);
        Assert.Equal(70 * Mss, s.Cwnd);
        cc.OnUndo(ref s, 2);
        Assert.Equal(100 * Mss, s.Cwnd);
        Assert.Equal(long.MaxValue, s.Ssthresh);
        Assert.Equal(100, cc.WMax); // Linux keeps the W_max of the undone reduction
    }

    [Fact]
    public void Cubic_does_not_credit_itself_idle_time_when_sending_resumes()
    {
        // CA_EVENT_TX_START: the epoch start moves forward by the idle spell, so the curve goes on from where it was.
        Cubic Make(out TcpCongestionState s)
        {
            var cc = new Cubic { HyStart = false };
            s = AfterLoss(cc, 100);
            return cc;
        }
        var busy = Make(out var sBusy);
        var idleTx = Make(out var sIdleTx);
        var idleNoTx = Make(out var sIdleNoTx);
        long nBusy = 0, nIdleTx = 0, nIdleNoTx = 0;
        for (int r = 0; r < 3; r++)
        {
            Round(busy, ref sBusy, ref nBusy, 100_000);
            Round(idleTx, ref sIdleTx, ref nIdleTx, 100_000);
            Round(idleNoTx, ref sIdleNoTx, ref nIdleNoTx, 100_000);
        }
        long lastSend = nIdleTx;
        nIdleTx += 10_000_000;
        nIdleNoTx += 10_000_000;
        idleTx.OnTxStart(ref sIdleTx, lastSend, nIdleTx);
        Round(busy, ref sBusy, ref nBusy, 100_000);
        Round(idleTx, ref sIdleTx, ref nIdleTx, 100_000);
        Round(idleNoTx, ref sIdleNoTx, ref nIdleNoTx, 100_000);
        Assert.InRange(sIdleTx.Cwnd, sBusy.Cwnd - Mss, sBusy.Cwnd + Mss);
        // Without the event the 10 s count as time on the curve: far past K, cnt at its floor of 2.
        Assert.True(sIdleNoTx.Cwnd > sBusy.Cwnd + 20 * Mss, $"{sIdleNoTx.Cwnd} vs {sBusy.Cwnd}");
        // Reno has nothing to shift.
        var reno = new NewReno();
        var sr = Fresh(reno);
        long before = sr.Cwnd;
        reno.OnTxStart(ref sr, 0, 10_000_000);
        Assert.Equal(before, sr.Cwnd);
    }

    /// <summary>A slow-start ACK of <paramref name="segs"/> segments at <paramref name="nowUs"/> with RTT sample <paramref name="rttUs"/>; snd.una advances.</summary>
    private static void SlowStartAck(Cubic cc, ref TcpCongestionState s, ref uint una, uint nxt, int segs, long rttUs, long nowUs)
    {
        una += (uint)(segs * Mss);
        s.SndUna = una;
        s.SndNxt = nxt;
        s.BytesInFlight = nxt - una;
        cc.OnAck(ref s, segs * Mss, rttUs, nowUs);
    }

    [Fact]
    public void HyStart_delay_ends_slow_start_when_8_samples_of_a_round_are_an_eighth_over_delay_min()
    {
        // packetdrill's cubic-hystart-delay-rtt-jumps-upward: delay_min 200 ms, then a round of 240 ms samples.
        var cc = new Cubic { HyStartDetect = Cubic.HyStartDelay };
        var s = Fresh(cc);
        uint una = 1;
        SlowStartAck(cc, ref s, ref una, 30_001, 10, 200_000, 400_000); // cwnd 10 -> 20, below the low window
        Assert.Equal(200_000, cc.DelayMinUs);
        Assert.Equal(20 * Mss, s.Cwnd);
        long now = 640_000;
        for (int i = 0; i < 8; i++, now += 1_000)
        {
            SlowStartAck(cc, ref s, ref una, 30_001, 2, 240_000 + i * 1_000, now);
            Assert.Equal(long.MaxValue, s.Ssthresh);
        }
        Assert.Equal(36 * Mss, s.Cwnd);
        // The ninth sample of the round: 240 ms > 200 + clamp(25, 4, 16) ms, ssthresh = cwnd, and this ACK goes
        // to congestion avoidance.
        SlowStartAck(cc, ref s, ref una, 30_001, 2, 248_000, now);
        Assert.Equal(36 * Mss, s.Ssthresh);
        Assert.Equal(36 * Mss, s.Cwnd);
        Assert.Equal(1, cc.HyStartExits);
    }

    [Fact]
    public void HyStart_delay_waits_for_8_samples_in_a_new_round_and_ignores_a_rise_under_the_threshold()
    {
        var cc = new Cubic { HyStartDetect = Cubic.HyStartDelay };
        var s = Fresh(cc);
        s.Cwnd = 20 * Mss;
        uint una = 1;
        long now = 1_000_000;
        for (int i = 0; i < 30; i++, now += 1_000) SlowStartAck(cc, ref s, ref una, 100_001, 1, 100_000 + 12_000, now); // delay_min = 112 ms
        Assert.Equal(112_000, cc.DelayMinUs);
        // +14 ms is under 112/8 = 14 ms... just: not over it.
        for (int i = 0; i < 20; i++, now += 1_000) SlowStartAck(cc, ref s, ref una, 100_001, 1, 126_000, now);
        Assert.Equal(long.MaxValue, s.Ssthresh);
        Assert.Equal(0, cc.HyStartExits);
    }

    [Fact]
    public void HyStart_ack_train_ends_slow_start_when_close_ACKs_span_half_delay_min()
    {
        var cc = new Cubic { HyStartDetect = Cubic.HyStartAckTrain };
        var s = Fresh(cc);
        s.Cwnd = 20 * Mss;
        s.SrttUs = 10_000;
        uint una = 1;
        long now = 1_000_000;
        // 10 ms RTT: a train of ACKs 1 ms apart passes 5 ms (+ the ACK delay) after the round began.
        for (int i = 0; i < 5; i++, now += 1_000) SlowStartAck(cc, ref s, ref una, 100_001, 1, 10_000, now);
        Assert.Equal(long.MaxValue, s.Ssthresh);
        for (int i = 0; i < 2; i++, now += 1_000) SlowStartAck(cc, ref s, ref una, 100_001, 1, 10_000, now);
        Assert.Equal(1, cc.HyStartExits);
        Assert.InRange(s.Ssthresh, 25 * Mss, 26 * Mss);
        // ACKs 3 ms apart are no train.
        var cc2 = new Cubic { HyStartDetect = Cubic.HyStartAckTrain };
        var s2 = Fresh(cc2);
        s2.Cwnd = 20 * Mss;
        una = 1;
        for (int i = 0; i < 20; i++, now += 3_000) SlowStartAck(cc2, ref s2, ref una, 100_001, 1, 10_000, now);
        Assert.Equal(0, cc2.HyStartExits);
    }

    [Fact]
    public void Without_HyStart_or_below_16_segments_an_RTT_rise_does_not_end_slow_start()
    {
        var off = new Cubic { HyStart = false };
        var small = new Cubic();
        foreach (var (cc, cwnd) in new[] { (off, 20), (small, 8) })
        {
            var s = Fresh(cc);
            s.Cwnd = cwnd * Mss;
            uint una = 1;
            long now = 1_000_000;
            SlowStartAck(cc, ref s, ref una, 10_001, 0, 10_000, now);
            for (int i = 0; i < 6; i++, now += 50_000) SlowStartAck(cc, ref s, ref una, 10_001, 1, 100_000, now);
            Assert.Equal(long.MaxValue, s.Ssthresh);
            Assert.Equal(0, cc.HyStartExits);
        }
    }

    [Theory]
    [InlineData("reno")]
    [InlineData("cubic")]
    public void Calls_allocate_nothing(string name)
    {
        var cc = CongestionControl.Create(name);
        var s = Fresh(cc);
        long now = 0;
        void Run(int n)
        {
            for (int i = 0; i < n; i++)
            {
                now += 100;
                s.BytesInFlight = s.Cwnd;
                cc.OnAck(ref s, Mss, 10_000, now);
                if (i % 5000 == 4999)
                {
                    cc.OnEnterRecovery(ref s, now);
                    s.InRecovery = true;
                    cc.OnAck(ref s, Mss, 10_000, now);
                    cc.OnExitRecovery(ref s, now);
                    s.InRecovery = false;
                }
                if (i % 20000 == 19999)
                {
                    cc.OnRetransmitTimeout(ref s, now);
                    cc.OnUndo(ref s, now);
                }
            }
        }
        Run(20_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(100_000);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(s.Cwnd >= 2 * Mss);
    }
}
