using Netmem.Wire;

namespace Netmem.Stack.Tcp;

// RACK loss detection (RFC 8985 6; Linux's tcp_recovery.c and its callers in tcp_input.c): the connection's side
// of Rack and TcpRtxQueue. With SACK and net.ipv4.tcp_recovery bit 1, losses are marked by time instead of
// the RFC 6675 duplicate threshold, recovery starts once something is marked lost, and the pipe is Linux's
// packets_out - (sacked_out + lost_out) + retrans_out. After an RTO the go-back-N loss state rules as before.
public sealed partial class TcpConnection
{
    /// <summary>tcp_is_rack: RACK marks losses on this connection (needs SACK).</summary>
    private const int DefaultReordering = 3; // TCP_REORDERING (net.ipv4.tcp_reordering)

    private bool RackOn => _sackOk && (Settings.Recovery & TcpRecoveryFlags.RackLossDetection) != 0;
    /// <summary>RACK drives loss marking now (not in the RTO's loss state, whose go-back-N does).</summary>
    private bool RackActive => RackOn && !_lossRecovery;

    /// <summary><c>tcp_packets_in_flight</c> in bytes: sent and not acknowledged, less SACKed and lost, plus retransmissions in flight.</summary>
    private long RackPipe()
    {
        long pipe = (long)(uint)(_sndMax - _sndUna) - _rtx.SackedBytes - _rtx.LostBytes + _rtx.RetransBytes;
        return Math.Max(0, pipe);
    }

    /// <summary>
    /// The SACK blocks of an ACK on the rtx queue (<c>tcp_sacktag_write_queue</c>): each newly SACKed range loses its
    /// LOST and RETRANS bits, advances RACK, and, when it was never retransmitted and lies below the highest
    /// SACK seen before, shows reordering. Only whole segments are tagged, as Linux fragments skbs on SACKs.
    /// </summary>
    private void RackTagSacks(ReadOnlySpan<TcpSackBlock> blocks, uint una)
    {
        long now = _ctx.NowUs;
        uint reord = _sndMax;
        for (int b = 0; b < blocks.Length; b++)
        {
            var blk = blocks[b];
            if (b == 0 && _sack.LastUpdateHadDsack && blk == _sack.LastDsack) continue;
            uint l = SeqNum.Max(blk.Left, una), r = SeqNum.Min(blk.Right, _sndMax);
            if (!SeqNum.Lt(l, r)) continue;
            int j = _rtx.IndexOf(l);
            if (j < 0) j = _rtx.SplitAt(l); // l in a gap or below the first range: the first range above it
            uint mss = (uint)Math.Max(1, _mss);
            for (; j < _rtx.Count; j++)
            {
                ref var e = ref _rtx[j];
                if (!SeqNum.Lt(e.Seq, r)) break;
                // tcp_match_skb_to_sack: a block covers whole segments of a range (counted from its start) and
                // its short tail; a block inside one segment tags nothing.
                uint a = e.Seq, z = e.End;
                uint lo = SeqNum.Le(l, a) ? a : a + (l - a + mss - 1) / mss * mss;
                if (!SeqNum.Lt(lo, z)) continue;
                uint hi = SeqNum.Ge(r, z) ? z : lo + (r - lo) / mss * mss;
                if (!SeqNum.Lt(lo, hi)) continue;
                if (lo != a) j = _rtx.SplitAt(lo);
                if (hi != _rtx[j].End) _rtx.SplitAt(hi);
                ref var t = ref _rtx[j];
                var f = t.Flags;
                if ((f & TcpRtxFlags.Sacked) != 0) continue;
                if ((f & (TcpRtxFlags.Retrans | TcpRtxFlags.EverRetrans)) == 0 && SeqNum.Lt(t.Seq, _priorFack) && SeqNum.Lt(t.Seq, reord)) reord = t.Seq;
                _rtx.ClearFlags(j, TcpRtxFlags.Lost | TcpRtxFlags.Retrans);
                _rtx.SetFlags(j, TcpRtxFlags.Sacked);
                _rack.Advance(f, t.End, t.XmitUs, now, _rtt.MinRttUs);
            }
        }
        if (_sack.LastUpdateHadDsack) _rack.DsackSeen = true;
        if (SeqNum.Lt(reord, _sndMax)) CheckReordering(reord);
    }

    /// <summary>
    /// The cumulative part of an ACK on the rtx queue (<c>tcp_clean_rtx_queue</c>): RACK advances on what was
    /// acknowledged without having been SACKed (not on a retransmission the echoed timestamp shows was
    /// answered for its original), a never-retransmitted hole filled below the highest SACK is reordering,
    /// then the ranges go.
    /// </summary>
    private void RackCleanRtxQueue(uint ack, uint tsEcr)
    {
        long now = _ctx.NowUs;
        uint reord = _sndMax;
        for (int i = 0; i < _rtx.Count; i++)
        {
            ref var e = ref _rtx[i];
            if (!SeqNum.Lt(e.Seq, ack)) break;
            var f = e.Flags;
            if ((f & TcpRtxFlags.Sacked) != 0) continue;
            if ((f & (TcpRtxFlags.Retrans | TcpRtxFlags.EverRetrans)) == 0 && SeqNum.Lt(e.Seq, reord)) reord = e.Seq;
            if (!_sackOk) continue;
            // tcp_skb_spurious_retrans: the ACK echoes a timestamp older than the retransmission.
            bool spurious = (f & (TcpRtxFlags.Retrans | TcpRtxFlags.EverRetrans)) != 0 && _tsOk && tsEcr != 0
                && (int)(tsEcr - TsAt(e.XmitUs)) < 0;
            if (!spurious) _rack.Advance(f, e.End, e.XmitUs, now, _rtt.MinRttUs);
        }
        _rtx.AckTo(ack);
        if (_sackOk && SeqNum.Lt(reord, _priorFack)) CheckReordering(reord);
    }

    /// <summary>
    /// <c>tcp_check_sack_reordering</c>: data at <paramref name="low"/> delivered after data up to the highest SACK is
    /// reordering of that distance; tcpi_reordering keeps the largest in segments (rounded up), and each case counts in tcpi_reord_seen.
    /// </summary>
    private void CheckReordering(uint low)
    {
        uint fack = _sack.RangeCount > 0 ? _sack.HighestSacked : _sndUna;
        if (!SeqNum.Lt(low, fack) || _mss <= 0) return;
        long metric = (uint)(fack - low);
        if (metric > (long)_reordering * _mss) _reordering = (int)Math.Min((metric + _mss - 1) / _mss, MaxReordering);
        _reordSeen++;
    }

    /// <summary>The TSval a segment sent at <paramref name="us"/> carried.</summary>
    private uint TsAt(long us) => (uint)(us / 1000) + _tsOffset;

    /// <summary>
    /// <c>tcp_rack_mark_lost</c>: when a delivery advanced RACK, marks what it shows lost; ranges that may still be
    /// reordered arm the reorder timer for when the first of them would be. Returns the bytes newly marked.
    /// </summary>
    private long RackMarkLost()
    {
        if (!_rack.Advanced) return 0;
        _rack.Advanced = false;
        long lost = _rack.DetectLoss(_rtx, _ctx.NowUs, RackReoWnd(), out long waitUs);
        if (waitUs > 0) ArmReoTimer(waitUs);
        return lost;
    }

    private long RackReoWnd() => _rack.ReoWnd(_reordSeen, _inRecovery, _rtx.SackedBytes / Math.Max(1, _mss), _reordering,
        (Settings.Recovery & TcpRecoveryFlags.RackNoDupThresh) != 0, _rtt.MinRttUs, _rtt.SrttUs);

    /// <summary>The reorder timer (ICSK_TIME_REO_TIMEOUT) on the retransmit timer: the wait in whole ms plus TCP_TIMEOUT_MIN (2 ms), never past the RTO.</summary>
    private void ArmReoTimer(long waitUs)
    {
        long t = (waitUs + 999) / 1000 * 1000 + 2000;
        t = Math.Min(t, _rtt.RtoUs);
        _probing = false;
        _tlpArmed = false;
        _reoArmed = true;
        _reoArmedThisAck = true;
        _ctx.ArmTimer(_rtoTimer, _ctx.NowUs + t);
    }

    /// <summary>
    /// RACK's part of <c>tcp_fastretrans_alert</c> for one ACK (after the cumulative part and any exit from recovery):
    /// the reordering window's D-SACK steps, loss marking, then recovery starts when something is lost
    /// (<c>tcp_time_to_recover</c>), or PRR paces what recovery sends; in the open state cwnd grows as usual.
    /// </summary>
    private void RackOnAck(long delivered, bool unaAdvanced, long dataAcked, long rttUs, bool recoveryJustEnded)
    {
        long now = _ctx.NowUs;
        _rack.UpdateReoWnd(now, _rtt.SrttUs, (Settings.Recovery & TcpRecoveryFlags.RackStaticReoWnd) != 0);
        bool dubious = !unaAdvanced || _inRecovery || delivered > dataAcked || _sack.LastUpdateHadDsack
            || _rtx.SackedBytes > 0 || _sackedBeforeAck > 0;
        if (dubious) RackMarkLost();
        if (!_inRecovery)
        {
            if (_rtx.LostBytes > 0) { EnterFastRecovery(delivered); return; }
            // tcp_cong_control counts what this ACK delivered, SACKed bytes included, but while reordering stays
            // at its default (3) only an ACK that moves snd.una may raise cwnd (tcp_may_raise_cwnd).
            bool mayRaise = _reordering > DefaultReordering ? delivered > 0 : dataAcked > 0;
            if (_inCwr) CwrReduce(delivered, unaAdvanced); // tcp_in_cwnd_reduction: PRR, no growth
            else if (mayRaise && delivered > 0 && !recoveryJustEnded) _cc.OnAck(ref Cong, delivered, rttUs, now);
            return;
        }
        PrrSend(delivered, unaAdvanced);
    }

    /// <summary>
    /// <c>tcp_rack_reo_timeout</c>: the reorder timer fired, so what waited for it is lost now; recovery starts
    /// (cwnd cut as for one delivered segment) or goes on, the lost ranges go out as cwnd allows, and the RTO
    /// is armed again from the head's transmission.
    /// </summary>
    private void OnReoTimeout()
    {
        _reoArmed = false;
        if (_sndUna == _sndMax || State is TcpState.Closed or TcpState.TimeWait) return;
        if (RackActive)
        {
            long prior = RackPipe();
            _rack.DetectLoss(_rtx, _ctx.NowUs, RackReoWnd(), out _);
            if (RackPipe() != prior)
            {
                if (!_inRecovery) EnterFastRecovery(_mss);
                else SackRecoverySend();
            }
        }
        if (!_rtoTimer.IsArmed || _reoArmed) ArmRtoFromHead();
    }

    /// <summary><c>tcp_rearm_rto</c> after a reorder or probe timeout: the RTO counts from the head's last transmission.</summary>
    private void ArmRtoFromHead()
    {
        long now = _ctx.NowUs;
        long due = _rtx.Count > 0 ? _rtx[0].XmitUs + _rtt.RtoUs : now + _rtt.RtoUs;
        if (due <= now) due = now + 1000;
        _probing = false;
        _tlpArmed = false;
        _reoArmed = false;
        _ctx.ArmTimer(_rtoTimer, due);
    }

    /// <summary>RACK's NextSeg: the first range marked lost and not yet retransmitted, at most one MSS of it.</summary>
    private bool RackNextLost(out uint seq, out int len)
    {
        if (_rtx.LostBytes > 0)
        {
            for (int i = 0; i < _rtx.Count; i++)
            {
                ref var e = ref _rtx[i];
                if ((e.Flags & (TcpRtxFlags.Lost | TcpRtxFlags.Retrans | TcpRtxFlags.Sacked)) != TcpRtxFlags.Lost) continue;
                seq = SeqNum.Max(e.Seq, _sndUna);
                len = (int)Math.Min((uint)CurrentMss(), e.End - seq);
                if (len > 0) return true;
            }
        }
        seq = 0;
        len = 0;
        return false;
    }

    /// <summary>Whether a retransmission ending at <paramref name="end"/> ends a range that was sent with PSH (the skb keeps its push flag).</summary>
    private bool RtxEndsWithPush(uint end)
    {
        int i = _rtx.IndexOf(end - 1);
        return i >= 0 && _rtx[i].End == end && (_rtx[i].Flags & TcpRtxFlags.Push) != 0;
    }
}
