namespace Netmem.Stack.Tcp;

// Timers: retransmission (tcp_retransmit_timer), persist (tcp_probe_timer), delayed ACK (tcp_delack_timer),
// keepalive (tcp_keepalive_timer), TIME_WAIT and FIN_WAIT_2 (tcp_time_wait / tcp_fin_timeout).
public sealed partial class TcpConnection
{
    public void OnTimer(StackTimer timer, int kind, long nowUs)
    {
        switch (kind)
        {
            case TimerRetransmit:
                if (_probing) OnPersistTimer();
                else if (_tlpArmed) OnLossProbe();
                else if (_reoArmed) OnReoTimeout();
                else OnRetransmitTimer();
                break;
            case TimerDelayedAck:
                if ((_ackPendingBytes > 0 || _synAckAckHeld) && State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
                {
                    TcpStats.Inc(ref _layer.Stats.DelayedAcks);
                    _pingpong = false; // the reply did not come within the delay: leave interactive mode
                    SendAck();
                }
                break;
            case TimerKeepalive:
                OnKeepaliveTimer(nowUs);
                break;
            case TimerTimeWait:
                if (State == TcpState.TimeWait) TcpStats.Inc(ref _layer.Stats.TimeWaitExpired);
                if (State is TcpState.TimeWait or TcpState.FinWait2)
                {
                    EnterClosed(Errno.None);
                    Release();
                }
                break;
        }
    }

    private void ArmRto()
    {
        _probing = false;
        _tlpArmed = false;
        _reoArmed = false;
        _ctx.ArmTimer(_rtoTimer, _ctx.NowUs + _rtt.RtoUs);
    }

    private void ArmPersist()
    {
        _probing = true;
        _tlpArmed = false;
        _reoArmed = false;
        long t = Math.Min(_rtt.RtoUs, ProbeMaxUs);
        _ctx.ArmTimer(_rtoTimer, _ctx.NowUs + t);
    }

    private void ArmKeepalive(long fromUs) =>
        _ctx.ArmTimer(_keepaliveTimer, fromUs + (long)Settings.KeepAliveIdle.TotalMicroseconds);

    private void ArmFinWait2() =>
        _ctx.ArmTimer(_twTimer, _ctx.NowUs + (long)Settings.FinTimeout.TotalMicroseconds);

    /// <summary>
    /// <c>tcp_schedule_loss_probe</c>: with SACK, in the open state (no whole segment SACKed: Linux's sacked_out counts segments), data in flight and no probe out,
    /// arm the retransmit timer as a probe timeout: 2 SRTT, plus the delayed-ACK allowance (200 ms)
    /// when one segment is out, else 2 ms; never later than the RTO would fire (<paramref name="advancing"/>:
    /// the RTO restarts now, as on an ACK; else what is left of the armed one). False when no probe applies.
    /// </summary>
    private bool ScheduleLossProbe(bool advancing)
    {
        if (!Settings.TailLossProbe || !_sackOk || _inRecovery || _sack.SackedBytes >= _mss || _probing || _tlpOutstanding || !_rtt.HasSample
            || _sndUna == _sndMax || State is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.LastAck or TcpState.Closing))
            return false;
        long now = _ctx.NowUs;
        long outstanding = (uint)(_sndMax - _sndUna);
        long pto = 2 * _rtt.SrttUs + (outstanding <= _mss ? 200_000 : 2_000);
        long rtoLeft = advancing || !_rtoTimer.IsArmed || _tlpArmed ? _rtt.RtoUs : _rtoTimer.DueUs - now;
        if (rtoLeft > 0) pto = Math.Min(pto, rtoLeft);
        _tlpArmed = true;
        _reoArmed = false;
        _ctx.ArmTimer(_rtoTimer, now + pto);
        return true;
    }

    /// <summary>
    /// <c>tcp_send_loss_probe</c>: one new segment if the window allows (past cwnd), else the last
    /// segment sent again (at most one MSS from its end); then the regular RTO.
    /// </summary>
    private void OnLossProbe()
    {
        _tlpArmed = false;
        if (_sndUna == _sndMax || State is TcpState.Closed or TcpState.TimeWait) return;
        uint before = _sndMax;
        long pending = _sndBuf!.EndPos - PosOfSeq(_sndNxt);
        if (pending > 0 && SeqNum.Ge(_sndNxt, _sndMax))
        {
            _cwndBonus = _mss;
            WriteXmit(maxSegments: 1);
            _cwndBonus = 0;
        }
        if (_sndMax == before)
        {
            uint end = _sndMax - (_finSent ? 1u : 0u);
            uint start = SeqNum.Gt(_lastNewSeq, _sndUna) || _lastNewSeq == _sndUna ? _lastNewSeq : _sndUna;
            if ((uint)(end - start) > (uint)_mss) start = end - (uint)_mss;
            RetransmitAt(start, _mss);
        }
        TcpStats.Inc(ref _layer.Stats.LossProbes);
        _tlpOutstanding = true;
        _tlpHighSeq = _sndMax;
        ArmRto();
    }

    /// <summary>
    /// RFC 6298 5.4-5.7 and RFC 5681 (4): retransmit the earliest unacknowledged segment, back off, collapse
    /// cwnd to the loss window and go back to snd.una. Too many tries: ETIMEDOUT (tcp_write_timeout).
    /// </summary>
    private void OnRetransmitTimer()
    {
        long now = _ctx.NowUs;
        switch (State)
        {
            case TcpState.SynSent:
            case TcpState.SynReceived:
            {
                int limit = State == TcpState.SynSent ? Settings.SynRetries : Settings.SynAckRetries;
                if (WriteTimedOut(now, limit)) { EnterClosed(Errno.ETIMEDOUT); return; }
                if (_retransmits == 0) _retransStampUs = _rttSentUs; // the first SYN's send time
                _retransmits++;
                _totalRetrans++;
                TcpStats.Inc(ref _layer.Stats.Timeouts);
                TcpStats.Inc(ref _layer.Stats.RetransSegs);
                _rtt.OnTimeout();
                _rttTiming = false;
                SendSyn(ack: State == TcpState.SynReceived);
                return;
            }
            case TcpState.Closed:
            case TcpState.TimeWait:
            case TcpState.Listen:
                return;
        }
        if (_sndUna == _sndMax) return; // nothing outstanding
        if (WriteTimedOut(now, Settings.Retries2)) { EnterClosed(Errno.ETIMEDOUT); return; }
        if (_retransmits == 0) _retransStampUs = _xmitTimes.OldestSentUs is >= 0 and var t ? t : now - _rtt.RtoUs; // head's first send
        _retransmits++;
        TcpStats.Inc(ref _layer.Stats.Timeouts);
        Cong.BytesInFlight = InFlight();
        if (!_lossRecovery || _retransmits == 1) _cc.OnRetransmitTimeout(ref Cong, now);
        else Cong.Cwnd = _mss;
        _rtt.OnTimeout();
        _inRecovery = true;       // loss recovery until everything sent so far is acknowledged
        _lossRecovery = true;
        _recover = _sndMax;
        _dupAcks = 0;
        _rttTiming = false;
        _sack.Reset(_sndUna);     // go-back-N from snd.una: SACK state is rebuilt by later ACKs
        _rtx.ClearAll(TcpRtxFlags.Sacked | TcpRtxFlags.Lost | TcpRtxFlags.Retrans);
        _sndNxt = _sndUna;        // everything after snd.una is sent again as the window opens
        _highRxt = _sndUna;
        if (_finSent && PosOfSeq(_sndUna) <= FinPos) _finSent = false;
        RetransmitAt(_sndUna, _mss);
        Cong.CwndLimited = Cong.CwndFull = true; // cwnd is one segment with more outstanding: slow start must grow it (tcp_is_cwnd_limited)
        _ctx.ArmTimer(_rtoTimer, now + ClampToUserTimeout(_rtt.RtoUs, _retransStampUs, now, 1_000));
    }

    /// <summary>
    /// <c>tcp_write_timeout</c> / <c>retransmits_timed_out</c>: with TCP_USER_TIMEOUT, whether that long has passed since
    /// the first send of what is being retransmitted (never before a first retransmission); else the retry count.
    /// </summary>
    private bool WriteTimedOut(long now, int retries)
    {
        long ut = (long)Settings.UserTimeout.TotalMicroseconds;
        if (ut <= 0) return _retransmits >= retries;
        return _retransmits > 0 && _retransStampUs >= 0 && now - _retransStampUs >= ut;
    }

    /// <summary>
    /// <c>tcp_clamp_rto_to_user_timeout</c> and <c>tcp_clamp_probe0_to_user_timeout</c>: a timer never waits past
    /// the user timeout counted from <paramref name="fromUs"/>; once it has passed, <paramref name="minUs"/>.
    /// </summary>
    private long ClampToUserTimeout(long intervalUs, long fromUs, long now, long minUs)
    {
        long ut = (long)Settings.UserTimeout.TotalMicroseconds;
        if (ut <= 0 || fromUs < 0) return intervalUs;
        long remaining = ut - (now - fromUs);
        return remaining <= 0 ? minUs : Math.Min(intervalUs, remaining);
    }

    /// <summary>Zero-window probe (<c>tcp_probe_timer</c>): an old-sequence ACK the peer must answer with its window; backs off to 120 s.</summary>
    private void OnPersistTimer()
    {
        if (State is TcpState.Closed or TcpState.TimeWait) return;
        long pending = _sndBuf is null ? 0 : _sndBuf.EndPos - PosOfSeq(_sndNxt);
        if (_sndWnd > 0 || (pending <= 0 && !(_finQueued && !_finSent)))
        {
            _probing = false;
            _probesOut = 0;
            _probesStampUs = -1;
            // tcp_write_wakeup: one segment goes whatever cork or Nagle say, with PSH; then the normal rules.
            _forcePush = _wakeupPush = true;
            WriteXmit(maxSegments: 1);
            _forcePush = _wakeupPush = false;
            WriteXmit();
            return;
        }
        long now = _ctx.NowUs;
        // TCP_USER_TIMEOUT bounds the probing from its first probe, answered or not (a peer that keeps its window
        // shut that long is as good as dead); the probe count alone only counts unanswered ones.
        if (_probesStampUs < 0) _probesStampUs = now;
        else if (Settings.UserTimeout > TimeSpan.Zero && now - _probesStampUs >= (long)Settings.UserTimeout.TotalMicroseconds) { EnterClosed(Errno.ETIMEDOUT); return; }
        if (_probesOut >= Settings.Retries2) { EnterClosed(Errno.ETIMEDOUT); return; }
        _probesOut++;
        TcpStats.Inc(ref _layer.Stats.ZeroWindowProbes);
        SendProbe();
        _rtt.OnTimeout();
        _probing = true;
        _ctx.ArmTimer(_rtoTimer, now + ClampToUserTimeout(Math.Min(_rtt.RtoUs, ProbeMaxUs), _probesStampUs, now, 2_000));
    }

    /// <summary>Keepalive (RFC 9293 3.8.4, Linux's timer): probe after idle, every interval, give up after count probes.</summary>
    private void OnKeepaliveTimer(long now)
    {
        if (!Settings.KeepAlive || State is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait2)) return;
        long idle = (long)Settings.KeepAliveIdle.TotalMicroseconds;
        long intvl = (long)Settings.KeepAliveInterval.TotalMicroseconds;
        if (_sndUna != _sndMax) { _ctx.ArmTimer(_keepaliveTimer, now + idle); return; } // data in flight: the RTO watches
        long since = now - _lastRecvUs;
        if (since < idle && _probesOut == 0) { _ctx.ArmTimer(_keepaliveTimer, _lastRecvUs + idle); return; }
        // TCP_USER_TIMEOUT in place of TCP_KEEPCNT: dead once that long passed without hearing from the peer, probes out.
        long ut = (long)Settings.UserTimeout.TotalMicroseconds;
        if (ut > 0 ? _probesOut > 0 && since >= ut : _probesOut >= Settings.KeepAliveCount) { SendReset(_sndNxt); EnterClosed(Errno.ETIMEDOUT); return; }
        _probesOut++;
        TcpStats.Inc(ref _layer.Stats.KeepaliveProbes);
        SendProbe();
        _ctx.ArmTimer(_keepaliveTimer, now + intvl);
    }
}
