using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack.Tcp;

// Input: RFC 9293 3.10.7 SEGMENT ARRIVES (tcp_rcv_state_process / tcp_rcv_established), with RFC 5961,
// RFC 7323 PAWS, RFC 5681/6582 fast recovery and RFC 6675 SACK recovery.
public sealed partial class TcpConnection
{
    /// <summary>A SYN to a listener created this child: SYN-RECEIVED, options negotiated, SYN-ACK out (<c>tcp_v4_conn_request</c>).</summary>
    internal void AcceptSyn(in TcpSegment seg, in IpRoute route, TcpListenEndpoint parent) => AcceptSyn(seg, null, route, parent, default);

    /// <summary>
    /// <see cref="AcceptSyn(in TcpSegment, in IpRoute, TcpListenEndpoint)"/> with the listener's Fast Open decision
    /// (<c>tcp_try_fastopen</c>): a Fast Open child takes the SYN's data (<paramref name="synSkb"/>, payload only,
    /// which it then owns) into its receive queue at once, acknowledges it in the SYN-ACK and may be read and written
    /// before the handshake completes; the SYN-ACK hands out <paramref name="fastOpen"/>'s cookie when it has one.
    /// </summary>
    internal void AcceptSyn(in TcpSegment seg, SkBuff? synSkb, in IpRoute route, TcpListenEndpoint parent, in TcpFastOpenDecision fastOpen)
    {
        _route = route;
        Parent = parent;
        _iss = _layer.Isn.Isn(Tuple, _ctx.NowUs);
        _tsOffset = _layer.Isn.TimestampOffset(Tuple);
        InitSendSide();
        _irs = seg.Seq;
        _rcvNxt = seg.Seq + 1;
        NegotiateOptions(seg);
        State = TcpState.SynReceived;
        _sndWnd = seg.Window; // a SYN's window is never scaled
        _maxSndWnd = _sndWnd;
        _sndWl1 = seg.Seq;
        _sndWl2 = _iss;
        _lastRecvUs = _ctx.NowUs;
        TcpStats.Inc(ref _layer.Stats.PassiveOpens);
        // An ECN-setup SYN (ECE and CWR) is answered with ECE when we accept ECN (tcp_ecn 1 or 2).
        _ecnOk = Settings.Ecn is 1 or 2 && (seg.Flags & (TcpFlags.Ece | TcpFlags.Cwr)) == (TcpFlags.Ece | TcpFlags.Cwr);
        if (fastOpen.Cookie is { } cookie)
        {
            _foOnSynAck = true;
            _foCookie = cookie;
            _foCookieLen = cookie.Length;
            _foCookieExp = fastOpen.Experimental;
        }
        if (fastOpen.CreateChild)
        {
            // tcp_fastopen_create_child: congestion control and buffers start now, the data is queued.
            _passiveFastOpen = true;
            _cc.Init(ref Cong, _ctx.NowUs);
            int len = seg.PayloadLength;
            if (len > 0 && synSkb is not null)
            {
                DataReceivedEvent();
                Enqueue(synSkb, len);
                _rcvNxt += (uint)len;
                _synDataAcked = true;
                synSkb = null;
            }
            TcpStats.Inc(ref _layer.Stats.FastOpenPassive);
        }
        synSkb?.Free();
        SendSyn(ack: true);
    }

    private void NegotiateOptions(in TcpSegment seg)
    {
        var o = seg.Options;
        _wscaleOk = Settings.WindowScaling && o.WindowScale is not null;
        _sndWscale = _wscaleOk ? Math.Min(o.WindowScale!.Value, (byte)14) : (byte)0;
        if (!_wscaleOk) _rcvWscale = 0;
        _sackOk = Settings.Sack && o.SackPermitted;
        _tsOk = Settings.Timestamps && o.Timestamp is not null;
        if (_tsOk) { _tsRecent = o.Timestamp!.Value.Value; _tsRecentStampUs = _ctx.NowUs; }
        int peerMss = o.MaxSegmentSize ?? DefaultMss;
        int mss = Math.Min(peerMss, AdvertisedMss());
        if (_tsOk) mss -= 12; // the timestamp option rides in every segment
        _mss = Math.Max(64, mss);
        _rcvMss = Math.Min(AdvertisedMss(), _mss + (_tsOk ? 12 : 0));
        if (_tsOk) _rcvMss -= 12;
        Cong.Mss = _mss;
        _sack.Reset(_iss);
    }

    /// <summary>One segment for this connection; owns <paramref name="skb"/> (payload only, header pulled).</summary>
    internal void Input(in TcpSegment seg, SkBuff skb)
    {
        _segsIn++;
        _lastRecvUs = _ctx.NowUs;
        if (_probesOut > 0 && !_probing) _probesOut = 0; // keepalive answered
        switch (State)
        {
            case TcpState.SynSent:
                InputSynSent(seg, skb);
                return;
            case TcpState.Closed:
            case TcpState.Listen:
                skb.Free();
                return;
        }
        if (!InputSynchronized(seg, skb)) return;
    }

    private void Drop(SkBuff skb, TcpDropReason reason)
    {
        _layer.Stats.Drop(reason);
        skb.Free();
    }

    // ---------------------------------------------------------------- SYN-SENT (3.10.7.3)

    private void InputSynSent(in TcpSegment seg, SkBuff skb)
    {
        if (seg.HasAck && (SeqNum.Le(seg.Ack, _iss) || SeqNum.Gt(seg.Ack, _sndMax)))
        {
            if (!seg.Rst) _layer.SendResetReply(Tuple, seg.Ack, 0, ackFlag: false, _ctx);
            Drop(skb, TcpDropReason.InvalidAck);
            return;
        }
        if (seg.Rst)
        {
            skb.Free();
            if (seg.HasAck) EnterClosed(Errno.ECONNREFUSED);
            else _layer.Stats.Drop(TcpDropReason.BadFlags);
            return;
        }
        if (!seg.Syn) { Drop(skb, TcpDropReason.BadFlags); return; }
        _irs = seg.Seq;
        _rcvNxt = seg.Seq + 1;
        NegotiateOptions(seg);
        _sndWl1 = seg.Seq;
        if (seg.HasAck)
        {
            // SYN-ACK: our SYN is acknowledged; ECE without CWR accepts our ECN request (RFC 3168 6.1.1).
            _ecnOk = Settings.Ecn == 1 && (seg.Flags & (TcpFlags.Ece | TcpFlags.Cwr)) == TcpFlags.Ece;
            if (_fastOpenSyn)
            {
                // tcp_rcv_fastopen_synack: the MSS the server announced and its cookie (if it sent one) go to the cache
                // for the next connect; an unsolicited cookie is ignored (no Fast Open SYN).
                Span<byte> cookie = stackalloc byte[TcpOptions.MaxFastOpenCookie];
                int n = seg.Options.FastOpenCookieLength > 0 ? seg.Options.CopyFastOpenCookie(cookie) : 0;
                int mss = seg.Options.MaxSegmentSize ?? 0; // the SYN-ACK's own value, whatever TCP_MAXSEG says
                _layer.FastOpenCookies.Update(Tuple.RemoteAddress, mss, cookie[..n]);
            }
            AckSyn(seg.Ack);
            _sndWnd = seg.Window; // unscaled in a SYN
            _maxSndWnd = _sndWnd;
            _sndWl2 = seg.Ack;
            OnEstablished();
            if (_synDataLen > 0 && AckSynData(seg.Ack))
            {
                skb.Free(); // the server did not take our data: it will send its own again too
                Notify(TcpEvents.Connect | TcpEvents.Writable);
                return; // the retransmission carried the ACK
            }
            if (_fastOpenSyn && (seg.PayloadLength > 0 || seg.Fin))
            {
                // tcp_fastopen_add_skb: a Fast Open server's SYN-ACK may carry data (and a FIN); it is queued as the
                // first in-order segment, and acknowledged at once.
                _rcvWup = _rcvNxt;
                _quickAck = true;
                var rest = new TcpSegment(seg.Seq + 1, seg.Ack, seg.Flags & ~TcpFlags.Syn, seg.Window, seg.PayloadLength, seg.Options, seg.Ecn);
                Notify(TcpEvents.Connect | TcpEvents.Writable);
                QueueData(rest, skb);
                WriteXmit();
                return;
            }
            skb.Free(); // data on any other SYN-ACK is dropped, as Linux does: the peer sends it again
            if (WritePending && _retransmits == 0 && _totalRetrans == 0)
            {
                // tcp_rcv_synsent_state_process with sk_write_pending: quick-ack mode, and the ACK saved for the data
                // the waiting writer sends next (or the delayed-ACK timer at TCP_DELACK_MAX).
                _synAckAckHeld = true;
                _atoStarted = true;
                _quickAcks = MaxQuickAcks;
                _ctx.ArmTimer(_delackTimer, _ctx.NowUs + DelayedAckMaxUs);
            }
            else SendAck();
            Notify(TcpEvents.Connect | TcpEvents.Writable);
            WriteXmit();
            return;
        }
        // Simultaneous open (3.10.7.3 fifth step): SYN-RECEIVED, SYN-ACK with our old ISS.
        State = TcpState.SynReceived;
        _sndWnd = seg.Window;
        _maxSndWnd = _sndWnd;
        skb.Free();
        Transmit(_iss, TcpFlags.Syn | TcpFlags.Ack, 0, 0, synOptions: true);
        ArmRto();
    }

    /// <summary>
    /// The SYN-ACK's acknowledgment of our SYN's data (<c>tcp_ack</c> then <c>tcp_rcv_fastopen_synack</c>): what it
    /// covers leaves the send queue; what it does not is marked lost and sent again at once, as Linux does for a
    /// server that dropped the data (no Fast Open there) without touching the congestion window. True when a
    /// retransmission went (it carried the ACK).
    /// </summary>
    private bool AckSynData(uint ack)
    {
        if (SeqNum.Gt(ack, _sndUna))
        {
            long newPos = PosOfSeq(ack);
            long acked = Math.Min(newPos, _sndBuf!.EndPos) - _sndUnaPos;
            _sndUna = ack;
            _sndUnaPos = newPos;
            _sndBuf.Ack(Math.Min(newPos, _sndBuf.EndPos));
            RackCleanRtxQueue(ack, 0);
            if (SeqNum.Lt(_sndNxt, _sndUna)) _sndNxt = _sndUna;
            if (SeqNum.Lt(_highRxt, _sndUna)) _highRxt = _sndUna;
            _recover = _sndUna;
            _bytesAcked += acked;
            Cong.SndUna = _sndUna;
        }
        if (_sndUna == _sndMax)
        {
            _synDataAcked = true;
            TcpStats.Inc(ref _layer.Stats.FastOpenActive);
            if (_sndBuf!.Bytes == 0) _chrono.Stop(TcpChronoType.Busy, _ctx.NowUs, queuesEmpty: true);
            return false;
        }
        // tcp_non_congestion_loss_retransmit: the Loss state from here to snd.nxt, cwnd and ssthresh unchanged.
        TcpStats.Inc(ref _layer.Stats.FastOpenActiveFail);
        _inRecovery = true;
        _lossRecovery = true;
        _recover = _sndMax;
        _sndNxt = _sndUna;
        _highRxt = _sndUna;
        _rttTiming = false;
        long sent = _segsOut;
        WriteXmit();
        return _segsOut != sent;
    }

    private void AckSyn(uint ack)
    {
        if (_rttTiming && SeqNum.Ge(ack, _rttSeq) && _retransmits == 0) _rtt.AddSample(Math.Max(1, _ctx.NowUs - _rttSentUs));
        _rttTiming = false;
        _sndUna = _iss + 1;
        _sndUnaPos = 0;
        _delivered++; // the SYN (Linux counts SYN data acked with it as part of the same one)
        if (SeqNum.Lt(_sndNxt, _sndUna)) _sndNxt = _sndUna;
        _retransmits = 0;
        _retransStampUs = -1;
        _ctx.CancelTimer(_rtoTimer);
        _sack.Reset(_sndUna);
        _rtx.Clear(_sndUna);
        // Data already out past the SYN (a Fast Open SYN's, or what a Fast Open child sent in SYN-RECEIVED) stays
        // in flight as one send.
        if (SeqNum.Gt(_sndMax, _sndUna))
        {
            _rtx.OnTransmit(_sndUna, _sndMax, _lastDataSentUs, push: true);
            ArmRto();
        }
        _recover = _sndUna;
        _highRxt = _sndUna;
    }

    // ---------------------------------------------------------------- synchronized states (3.10.7.4)

    private bool InputSynchronized(in TcpSegment seg, SkBuff skb)
    {
        var o = seg.Options;
        // PAWS (RFC 7323 5.3): an older timestamp than ts_recent is a stale duplicate (RST excepted).
        if (_tsOk && o.Timestamp is TcpTimestamp ts && !seg.Rst)
        {
            if ((int)(ts.Value - _tsRecent) < 0 && _ctx.NowUs - _tsRecentStampUs < 24L * 86400 * 1_000_000)
            {
                Drop(skb, TcpDropReason.Paws);
                SendOutOfWindowAck(seg);
                return false;
            }
        }

        // 1. sequence acceptability
        if (!SequenceAcceptable(seg))
        {
            if (State == TcpState.TimeWait && seg.Syn && !seg.HasAck && SeqNum.Gt(seg.Seq, _rcvNxt))
            {
                // A new incarnation (tcp_timewait_state_process TCP_TW_SYN): let a listener take it.
                var t = Tuple;
                EnterClosed(Errno.None, notify: false);
                Release();
                _layer.ReinjectSyn(t, seg, skb, _ctx);
                return false;
            }
            _layer.Stats.Drop(TcpDropReason.OutOfWindow);
            skb.Free();
            if (!seg.Rst) SendOutOfWindowAck(seg);
            return false;
        }

        // 2. RST (RFC 5961 3.2): exactly rcv.nxt resets; anywhere else in the window gets a challenge ACK.
        if (seg.Rst)
        {
            skb.Free();
            if (seg.Seq == _rcvNxt)
            {
                if (State == TcpState.SynReceived && Parent is not null) { EnterClosed(Errno.None); return false; }
                Errno err = State switch
                {
                    TcpState.SynReceived => _passiveFastOpen ? Errno.ECONNRESET : Errno.ECONNREFUSED, // an accepted Fast Open child: tcp_reset's default
                    TcpState.CloseWait => Errno.EPIPE,
                    TcpState.Closing or TcpState.LastAck or TcpState.TimeWait => Errno.None,
                    _ => Errno.ECONNRESET,
                };
                PurgeOnReset();
                EnterClosed(err);
                if (_orphan) Release();
                return false;
            }
            _layer.Stats.Drop(TcpDropReason.RstNotExact);
            SendChallengeAck();
            return false;
        }

        // 3. SYN on a synchronized connection (RFC 5961 4.2): challenge ACK.
        if (seg.Syn)
        {
            if (State == TcpState.SynReceived && !seg.HasAck && seg.Seq == _irs)
            {
                // Our SYN-ACK was lost and the peer retransmitted its SYN: answer it again.
                skb.Free();
                Transmit(_iss, TcpFlags.Syn | TcpFlags.Ack, 0, 0, synOptions: true);
                return false;
            }
            _layer.Stats.Drop(TcpDropReason.SynInSyncState);
            skb.Free();
            SendChallengeAck();
            return false;
        }

        // 4. ACK
        if (!seg.HasAck) { Drop(skb, TcpDropReason.NoAck); return false; }
        if (_tsOk && o.Timestamp is TcpTimestamp ts2 && SeqNum.Le(seg.Seq, _lastAckSent))
        {
            _tsRecent = ts2.Value; // RFC 7323 4.3: update when the segment covers the last ACK we sent
            _tsRecentStampUs = _ctx.NowUs;
        }
        if (State == TcpState.SynReceived)
        {
            if (SeqNum.Gt(seg.Ack, _sndUna) && SeqNum.Le(seg.Ack, _sndMax))
            {
                AckSyn(_iss + 1);
                _sndWnd = (long)seg.Window << _sndWscale;
                _maxSndWnd = Math.Max(_maxSndWnd, _sndWnd);
                _sndWl1 = seg.Seq;
                _sndWl2 = seg.Ack;
                bool finQueued = _finQueued;
                OnEstablished();
                if (finQueued) State = TcpState.FinWait1; // closed while SYN-RECEIVED
                Notify(TcpEvents.Connect | TcpEvents.Writable);
            }
            else
            {
                _layer.SendResetReply(Tuple, seg.Ack, 0, ackFlag: false, _ctx);
                Drop(skb, TcpDropReason.InvalidAck);
                return false;
            }
        }
        if (!ProcessAck(seg)) { skb.Free(); return false; }
        if (State == TcpState.Closed) { skb.Free(); return false; }
        EcnReceive(seg);

        // 5. data; 6. FIN
        bool fin = seg.Fin;
        // New data for an application that closed (RFC 1122 4.2.2.13, Linux TCPAbortOnData): nobody will
        // read it, so reset the connection, the RST answering the segment (seq = its ACK).
        if (_orphan && seg.PayloadLength > 0 && State is TcpState.FinWait1 or TcpState.FinWait2
            && SeqNum.Gt(seg.Seq + (uint)seg.PayloadLength, _rcvNxt))
        {
            _layer.SendResetReply(Tuple, seg.Ack, 0, ackFlag: false, _ctx);
            Drop(skb, TcpDropReason.DataInWrongState);
            EnterClosed(Errno.ECONNRESET, notify: false);
            Release();
            return false;
        }
        if (seg.PayloadLength > 0 || fin)
        {
            if (State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
            {
                QueueData(seg, skb);
                WriteXmit(); // the ACK this data carried may have opened the window or released Nagle
                return true;
            }
            if (State == TcpState.TimeWait && fin)
            {
                // A retransmitted FIN: our last ACK was lost. ACK again and restart 2MSL.
                skb.Free();
                SendAck();
                _ctx.ArmTimer(_twTimer, _ctx.NowUs + (long)Settings.TimeWaitLength.TotalMicroseconds);
                return true;
            }
            if (seg.PayloadLength > 0) { Drop(skb, TcpDropReason.DataInWrongState); SendAck(); return false; }
        }
        skb.Free();
        WriteXmit();
        return true;
    }

    private void PurgeOnReset()
    {
        _ooo.Purge();
        // tcp_reset leaves the receive queue alone: the reader still gets the bytes that arrived in order, then the
        // error (tcp_recvmsg reads the queue before it looks at sk_err). Nobody reads an orphan's.
        if (_orphan) PurgeReceive();
    }

    /// <summary>RFC 9293 3.10.7.4 first check, with the four cases of zero/non-zero length and window.</summary>
    private bool SequenceAcceptable(in TcpSegment seg)
    {
        long wnd = Math.Max(0, (long)_rcvWnd - (uint)(_rcvNxt - _rcvWup));
        int len = seg.SegLen;
        if (len == 0)
        {
            if (wnd == 0) return seg.Seq == _rcvNxt;
            return SeqNum.InWindow(seg.Seq, _rcvNxt, (uint)wnd) || (seg.Seq == _rcvNxt);
        }
        if (wnd == 0) return false;
        uint last = seg.Seq + (uint)len - 1;
        return SeqNum.InWindow(seg.Seq, _rcvNxt, (uint)wnd) || SeqNum.InWindow(last, _rcvNxt, (uint)wnd)
            || (SeqNum.Lt(seg.Seq, _rcvNxt) && SeqNum.Gt(last, _rcvNxt)); // covers the whole window
    }

    /// <summary>
    /// <c>tcp_send_challenge_ack</c>: first the per-connection out-of-window limit (one per
    /// tcp_invalid_ratelimit, 500 ms), then the layer-wide RFC 5961 7 limit.
    /// </summary>
    private void SendChallengeAck()
    {
        long now = _ctx.NowUs;
        if (now - _lastOowAckUs < InvalidRateLimitUs)
        {
            TcpStats.Inc(ref _layer.Stats.ChallengeAcksLimited);
            return;
        }
        _lastOowAckUs = now;
        if (_layer.AllowChallengeAck(now))
        {
            TcpStats.Inc(ref _layer.Stats.ChallengeAcks);
            SendAck();
        }
        else TcpStats.Inc(ref _layer.Stats.ChallengeAcksLimited);
    }

    /// <summary>
    /// <c>tcp_ack</c>: acceptability (RFC 5961 5.2), window update, snd.una advance with send-buffer
    /// release and RTT sampling, congestion control, duplicate-ACK and SACK loss detection, state
    /// changes when our FIN is acknowledged. False when the segment must be dropped.
    /// </summary>
    private bool ProcessAck(in TcpSegment seg)
    {
        uint ack = seg.Ack;
        if (SeqNum.Gt(ack, _sndMax))
        {
            _layer.Stats.Drop(TcpDropReason.InvalidAck);
            SendRateLimitedAck();
            return false;
        }
        if (SeqNum.Lt(ack, _sndUna - (uint)Math.Min(_maxSndWnd, int.MaxValue)))
        {
            _layer.Stats.Drop(TcpDropReason.InvalidAck);
            SendChallengeAck();
            return false;
        }
        long now = _ctx.NowUs;
        long oldWnd = _sndWnd;
        // Window update (3.10.7.4 fifth check): only from a newer segment, or the same with a newer ack.
        if (SeqNum.Lt(_sndWl1, seg.Seq) || (_sndWl1 == seg.Seq && SeqNum.Le(_sndWl2, ack)))
        {
            _sndWnd = (long)seg.Window << _sndWscale;
            _sndWl1 = seg.Seq;
            _sndWl2 = ack;
            if (_sndWnd > _maxSndWnd) _maxSndWnd = _sndWnd;
        }
        if (_probing && _sndWnd > 0) { _probing = false; _probesOut = 0; _probesStampUs = -1; _ctx.CancelTimer(_rtoTimer); _rtt.ResetBackoff(); }

        long newlySacked = 0;
        _sackedBeforeAck = _sack.SackedBytes;
        _priorFack = _sack.RangeCount > 0 ? _sack.HighestSacked : _sndUna;
        _reoArmedThisAck = false;
        var o = seg.Options;
        _ackTsEcr = o.Timestamp is TcpTimestamp ets ? ets.EchoReply : 0;
        if (_sackOk && o.SackBlockCount > 0)
        {
            Span<TcpSackBlock> blocks = stackalloc TcpSackBlock[TcpOptions.MaxSackBlocks];
            for (int i = 0; i < o.SackBlockCount; i++) blocks[i] = o.GetSackBlock(i);
            if (!RackOn) CheckSackReordering(blocks[..o.SackBlockCount]);
            newlySacked = _sack.Update(SeqNum.Max(ack, _sndUna), _sndMax, blocks[..o.SackBlockCount]);
            if (RackOn) RackTagSacks(blocks[..o.SackBlockCount], SeqNum.Max(ack, _sndUna));
        }
        else if (_sackOk && _sack.RangeCount > 0 && SeqNum.Gt(ack, _sack.SndUna) && SeqNum.Le(ack, _sndMax))
            _sack.Update(ack, _sndMax, default); // a cumulative ACK without blocks still retires what it covers

        // An ACK below snd.una (reordered on the way) acknowledges nothing new; only its SACKs count (tcp_ack's old-ACK case).
        long acked = SeqNum.Gt(ack, _sndUna) ? (uint)(ack - _sndUna) : 0;
        EcnAck(seg, ack); // CWR ends or starts before this ACK's congestion update, as tcp_fastretrans_alert precedes tcp_cong_control
        if (acked > 0)
        {
            OnNewAck(ack, acked, now);
        }
        else if (seg.PayloadLength == 0 && !seg.Fin && _sndWnd == oldWnd && _sndUna != _sndMax && ack == _sndUna)
        {
            OnDuplicateAck(newlySacked);
        }
        else if (RackActive && (newlySacked > 0 || _inRecovery || _sack.LastUpdateHadDsack))
        {
            RackOnAck(newlySacked, unaAdvanced: false, dataAcked: 0, rttUs: -1, recoveryJustEnded: false);
        }
        else if (_inRecovery && _sackOk && newlySacked > 0)
        {
            SackRecoverySend();
        }
        MarkLost();

        // Our FIN acknowledged?
        if (_finSent && _sndUna == _sndMax && PosOfSeq(_sndUna) == FinPos + 1)
        {
            switch (State)
            {
                case TcpState.FinWait1:
                    State = TcpState.FinWait2;
                    if (_orphan) ArmFinWait2();
                    Notify(TcpEvents.Writable);
                    break;
                case TcpState.Closing:
                    EnterTimeWait();
                    break;
                case TcpState.LastAck:
                    EnterClosed(Errno.None);
                    return false;
            }
        }
        return true;
    }

    private void OnNewAck(uint ack, long acked, long now)
    {
        // RTT (RFC 6298, Karn): the timed segment acknowledged without having been retransmitted.
        long rttUs = -1;
        if (_rttTiming && SeqNum.Ge(ack, _rttSeq))
        {
            rttUs = Math.Max(1, now - _rttSentUs);
            _rtt.AddSample(rttUs);
            _rttTiming = false;
        }
        long caRttUs = _xmitTimes.Acked(ack, now); // the congestion control's sample: the newest burst this ACK covers
        long newPos = PosOfSeq(ack);
        long dataAcked = Math.Min(newPos, _sndBuf!.EndPos) - Math.Max(0, _sndUnaPos);
        _sndUna = ack;
        _sndUnaPos = newPos;
        _sndBuf.Ack(Math.Min(newPos, _sndBuf.EndPos));
        RackCleanRtxQueue(ack, _ackTsEcr);
        if (SeqNum.Lt(_sndNxt, _sndUna)) _sndNxt = _sndUna;
        if (SeqNum.Lt(_highRxt, _sndUna)) _highRxt = _sndUna;
        _bytesAcked += dataAcked;
        _retransmits = 0;
        _retransStampUs = -1;
        _rtt.ResetBackoff();
        if (_tlpOutstanding && SeqNum.Ge(ack, _tlpHighSeq)) _tlpOutstanding = false; // the probe's episode is over

        Cong.BytesInFlight = InFlight();
        Cong.SndUna = _sndUna;
        Cong.SndNxt = _sndMax;
        Cong.SrttUs = _rtt.SrttUs;
        long delivered = NewlyDelivered(dataAcked);
        if (delivered > 0) _delivered += (delivered + Math.Max(1, _mss) - 1) / Math.Max(1, _mss);
        if (_inRecovery)
        {
            if (SeqNum.Ge(ack, _recover))
            {
                bool afterRto = _lossRecovery;
                _inRecovery = false;
                _lossRecovery = false;
                _dupAcks = 0;
                // Leaving the Loss state deflates nothing (tcp_end_cwnd_reduction is for Recovery and CWR): the
                // slow start since the RTO goes on, this ACK included.
                if (afterRto) _cc.OnAck(ref Cong, dataAcked, caRttUs, now);
                else _cc.OnExitRecovery(ref Cong, now);
                if (RackOn)
                {
                    _rack.OnRecoveryExit();
                    RackOnAck(delivered, unaAdvanced: true, dataAcked, caRttUs, recoveryJustEnded: true); // reordering then loss: a new recovery may start at once
                }
            }
            else if (!_lossRecovery)
            {
                if (RackActive) RackOnAck(delivered, unaAdvanced: dataAcked > 0, dataAcked, caRttUs, recoveryJustEnded: false);
                else if (_sackOk) PrrSend(delivered, unaAdvanced: dataAcked > 0);
                else
                {
                    // NewReno partial ACK (RFC 6582 3.2 step 3): the next hole is lost too.
                    RetransmitAt(_sndUna, _mss);
                    Cong.Cwnd = Math.Max(_mss, Cong.Cwnd - dataAcked + (dataAcked >= _mss ? _mss : 0));
                }
            }
            else _cc.OnAck(ref Cong, dataAcked, caRttUs, now); // slow start after an RTO (the scoreboard was reset: re-SACKs would look new)
        }
        else
        {
            _dupAcks = 0;
            if (RackActive) RackOnAck(delivered, unaAdvanced: true, dataAcked, caRttUs, recoveryJustEnded: false);
            else if (_inCwr) CwrReduce(delivered, unaAdvanced: true); // tcp_in_cwnd_reduction: PRR, no growth
            else _cc.OnAck(ref Cong, delivered, caRttUs, now);
        }

        if (_sndUna == _sndMax) { _ctx.CancelTimer(_rtoTimer); _probing = false; _reoArmed = false; }
        else if (_reoArmedThisAck) { } // RACK's reorder timer stands (tcp_rack_mark_lost cleared FLAG_SET_XMIT_TIMER)
        else if (!ScheduleLossProbe(advancing: true)) ArmRto(); // RFC 6298 5.3, or a tail loss probe first
        if (dataAcked > 0 && _sndBuf.Bytes == 0) _chrono.Stop(TcpChronoType.Busy, now, queuesEmpty: true); // all acknowledged
        if (dataAcked > 0 && !_finQueued && StreamWriteable) Notify(TcpEvents.Writable); // sk_stream_write_space
    }

    /// <summary>
    /// What this ACK delivered for the congestion control (Linux's <c>tp->delivered</c> delta): bytes newly
    /// acknowledged or SACKed, less those a SACK had already delivered. Without SACK each duplicate ACK counted
    /// one segment as delivered (<c>tcp_add_reno_sack</c>), so a cumulative ACK ending a reordering episode
    /// delivers what the duplicates had not, one segment at least (<c>tcp_remove_reno_sacks</c>). Slow start
    /// then grows cwnd by one segment, not three, when the ACK after two limited-transmit dupacks covers 3.
    /// </summary>
    private long NewlyDelivered(long dataAcked)
    {
        if (dataAcked <= 0) return dataAcked;
        if (_sackOk) return Math.Max(0, dataAcked + _sack.SackedBytes - _sackedBeforeAck);
        if (_dupAcks <= 0) return dataAcked;
        return Math.Max(Math.Min(dataAcked, _mss), dataAcked - (long)_dupAcks * _mss);
    }

    /// <summary>
    /// <c>tcp_check_sack_reordering</c>: a never-retransmitted byte SACKed for the first time below the
    /// highest SACKed one shows reordering of that many segments; tcpi_reordering keeps the largest seen.
    /// </summary>
    private void CheckSackReordering(ReadOnlySpan<TcpSackBlock> blocks)
    {
        if (_sack.RangeCount == 0 || _mss <= 0) return;
        uint fack = _sack.HighestSacked;
        foreach (var b in blocks)
        {
            uint low = b.Left;
            for (int i = 0; i < _sack.RangeCount && SeqNum.Lt(low, b.Right); i++)
            {
                var r = _sack.GetRange(i);
                if (SeqNum.Le(r.Left, low) && SeqNum.Lt(low, r.Right)) low = r.Right; // already SACKed: not new
            }
            if (!SeqNum.Lt(low, b.Right) || !SeqNum.Lt(low, fack) || SeqNum.Lt(low, _highRxt) || SeqNum.Lt(low, _sndUna)) continue;
            long metric = (uint)(fack - low);
            if (metric > (long)_reordering * _mss) _reordering = (int)Math.Min(metric / _mss, MaxReordering);
        }
    }

    /// <summary>
    /// Segments marked lost (Linux's lost_out, for tcpi_lost): in SACK recovery everything not SACKed below
    /// the highest SACKed range, as RACK marks it with no reordering window while it recovers; after an RTO
    /// everything outstanding. A mark stays until its bytes are SACKed or acknowledged.
    /// </summary>
    private void MarkLost()
    {
        if (_lossRecovery) _lostMarkSeq = SeqNum.Max(_lostMarkSeq, _sndMax);
        else if (_inRecovery && _sackOk && _sack.RangeCount > 0) _lostMarkSeq = SeqNum.Max(_lostMarkSeq, _sack.GetRange(_sack.RangeCount - 1).Left);
        if (!SeqNum.Gt(_lostMarkSeq, _sndUna)) _lostMarkSeq = _sndUna;
    }

    /// <summary>Bytes marked lost and neither SACKed nor acknowledged.</summary>
    private long LostBytes()
    {
        if (!SeqNum.Gt(_lostMarkSeq, _sndUna)) return 0;
        long lost = (uint)(_lostMarkSeq - _sndUna);
        for (int i = 0; i < _sack.RangeCount; i++)
        {
            var r = _sack.GetRange(i);
            uint left = SeqNum.Max(r.Left, _sndUna), right = SeqNum.Lt(r.Right, _lostMarkSeq) ? r.Right : _lostMarkSeq;
            if (SeqNum.Lt(left, right)) lost -= (uint)(right - left);
        }
        return Math.Max(0, lost);
    }

    private void OnDuplicateAck(long newlySacked)
    {
        _dupAcks++;
        // tcp_set_xmit_timer on every ACK: a probe timeout armed in the open state gives way to the RTO
        // once SACKs show the flow is out of order.
        if (_tlpArmed && _sack.SackedBytes >= _mss) ArmRto();
        if (RackActive)
        {
            RackOnAck(newlySacked, unaAdvanced: false, dataAcked: 0, rttUs: -1, recoveryJustEnded: false);
            return;
        }
        if (!_inRecovery)
        {
            bool lost = _dupAcks >= 3 || (_sackOk && _sack.IsLost(_sndUna, _mss));
            // RFC 6582 4.1: no new recovery for duplicates of data sent before the last one began.
            if (lost && SeqNum.Ge(_sndUna, _recover) && (_dupAcks >= 3 || newlySacked > 0))
                EnterFastRecovery(newlySacked);
            else if (_dupAcks <= 2)
            {
                // Limited transmit (RFC 3042): each of the first two duplicate ACKs lets one new segment
                // out past cwnd (at most cwnd + 2 MSS outstanding), to keep the ACK clock running.
                _cwndBonus = (long)_dupAcks * _mss;
                WriteXmit(maxSegments: 1);
                _cwndBonus = 0;
            }
            return;
        }
        if (_lossRecovery) return;
        if (_sackOk) PrrSend(newlySacked);
        else
        {
            Cong.Cwnd += _mss; // RFC 5681 3.2 step 4: inflate for each segment that left the network
            WriteXmit();
        }
    }

    private void EnterFastRecovery(long delivered)
    {
        long now = _ctx.NowUs;
        _inRecovery = true;
        _lossRecovery = false;
        _recover = _sndMax;
        _highRxt = _sndUna;
        Cong.BytesInFlight = (long)(uint)(_sndMax - _sndUna);
        if (_inCwr) _inCwr = false; // already reduced for an ECN echo: recovery goes on from there (tcp_enter_recovery)
        else _cc.OnEnterRecovery(ref Cong, now);
        TcpStats.Inc(ref _layer.Stats.FastRetransmits);
        if (_sackOk)
        {
            TcpStats.Inc(ref _layer.Stats.SackRecoveries);
            _recoverFs = Math.Max(_mss, (long)(uint)(_sndMax - _sndUna));
            _prrDelivered = 0;
            _prrOut = 0;
            PrrSend(delivered);
        }
        else
        {
            RetransmitAt(_sndUna, _mss);
            Cong.Cwnd = Cong.Ssthresh + 3L * _mss; // RFC 5681 3.2 step 2
        }
    }

    /// <summary>The pipe recovery paces against: RACK's packets in flight, or RFC 6675 SetPipe.</summary>
    private long RecoveryPipe() => RackActive ? RackPipe() : _sack.Pipe(_sndUna, _sndMax, _highRxt, _mss);

    /// <summary>RFC 6675 5 (C): while cwnd - pipe allows a segment, retransmit holes (NextSeg rules 1 and 3) or send new data (rule 2).</summary>
    /// <summary>
    /// Proportional rate reduction (RFC 6937, tcp_cwnd_reduction): on each ACK in SACK recovery, cwnd
    /// becomes pipe + sndcnt, where sndcnt paces sending to ssthresh/RecoverFS of what was delivered while
    /// pipe is above ssthresh, and below it grows back towards ssthresh by what was delivered (PRR-CRB),
    /// or one segment more when snd.una advanced (PRR-SSRB), as Linux chooses; the first retransmission always goes.
    /// </summary>
    private void PrrSend(long delivered, bool unaAdvanced = false)
    {
        if (delivered < 0) delivered = 0;
        Cong.Cwnd = PrrCwnd(delivered, unaAdvanced, RecoveryPipe());
        if (!RackActive && _prrOut == 0 && !_sack.IsSacked(_sndUna)) RetransmitAt(_sndUna, _mss); // RFC 6675 4.3: the first loss goes now (RACK: the first marked lost, below)
        SackRecoverySend();
    }

    /// <summary>
    /// RFC 6937's cwnd for one ACK that delivered <paramref name="delivered"/> bytes with <paramref name="pipe"/> in
    /// flight (<c>tcp_cwnd_reduction</c>, shared by recovery and the ECN CWR state): proportional to ssthresh over
    /// RecoverFS while pipe is above ssthresh, else back up towards it (PRR-SSRB when snd.una advanced, PRR-CRB not).
    /// </summary>
    private long PrrCwnd(long delivered, bool unaAdvanced, long pipe)
    {
        _prrDelivered += delivered;
        long ssthresh = Cong.Ssthresh;
        long sndcnt = pipe > ssthresh
            ? (_prrDelivered * ssthresh + _recoverFs - 1) / _recoverFs - _prrOut
            : unaAdvanced
                ? Math.Min(ssthresh - pipe, Math.Max(_prrDelivered - _prrOut, delivered) + _mss) // PRR-SSRB
                : Math.Min(ssthresh - pipe, delivered);                                          // PRR-CRB (Linux without snd.una progress)
        if (_prrOut == 0) sndcnt = Math.Max(sndcnt, _mss);
        return pipe + Math.Max(0, sndcnt);
    }

    private void SackRecoverySend()
    {
        for (int guard = 0; guard < 1024; guard++)
        {
            long pipe = RecoveryPipe();
            if (Cong.Cwnd - pipe < _mss) break;
            if (RackActive ? RackNextLost(out uint seq, out int len) : _sack.NextSeg(_sndUna, _sndMax, _highRxt, _mss, out seq, out len))
            {
                RetransmitAt(seq, len);
                continue;
            }
            uint before = _sndNxt;
            WriteXmit(maxSegments: 1);
            if (_sndNxt == before) break;
        }
    }

    /// <summary>Queues in-order data for the reader (or out-of-order data in the ooo queue) and acts on a FIN.</summary>
    private void QueueData(in TcpSegment seg, SkBuff skb)
    {
        uint seq = seg.Seq;
        int len = seg.PayloadLength;
        bool fin = seg.Fin;
        if (len > _rcvMss && len <= AdvertisedMss()) _rcvMss = len;
        // Trim what we already have (a retransmission overlapping rcv.nxt).
        SkBuff? data = skb;
        if (SeqNum.Lt(seq, _rcvNxt))
        {
            uint dup = _rcvNxt - seq;
            if (dup >= (uint)len)
            {
                data.Free();
                data = null;
                bool newFin = fin && !_finReceived && seq + (uint)len == _rcvNxt;
                DsackSet(seq, seq + (uint)len);
                if (!newFin) { SendAck(); return; } // a pure duplicate: tell the sender at once, with the D-SACK
                seq = _rcvNxt;
                len = 0;
            }
            else
            {
                var trimmed = data!;
                DsackSet(seq, _rcvNxt); // partly old: the repeated front is reported (seq < rcv.nxt < end)
                if (!SkBuff.TrimHead(ref trimmed, (int)dup)) { Drop(trimmed, TcpDropReason.BadHeader); return; }
                data = trimmed;
                seq += dup;
                len -= (int)dup;
            }
        }
        // Trim what lies past the window.
        long wndLeft = (long)_rcvWnd - (uint)(_rcvNxt - _rcvWup);
        long room = wndLeft - (uint)(seq - _rcvNxt);
        if (data is not null && len > 0 && len > room)
        {
            if (room <= 0) { Drop(data, TcpDropReason.OutOfWindow); SendAck(); return; }
            data.Trim((int)room);
            len = (int)room;
            fin = false;
        }

        if (seq == _rcvNxt)
        {
            bool filled = false;
            if (data is not null && len > 0)
            {
                DataReceivedEvent();
                MeasureReceiveRtt(seg, len);
                Enqueue(data, len);
                _rcvNxt += (uint)len;
                _ackPendingBytes += len;
            }
            else data?.Free();
            // The hole may have closed: take what now continues the stream.
            while (_ooo.Count > 0 && _ooo.TryTakeInOrder(_rcvNxt, out _, out var next))
            {
                int n = next.Len;
                Enqueue(next, n);
                _rcvNxt += (uint)n;
                _ackPendingBytes += n;
                filled = true;
            }
            if (fin) ProcessFin();
            else if (_oooFin && _oooFinSeq == _rcvNxt) { _oooFin = false; ProcessFin(); }
            if (filled) _quickAck = true; // a hole filled: tell the sender at once (RFC 5681 4.2)
            AckAfterData(fin);
            if (len > 0 || filled || fin) Notify(TcpEvents.Readable);
            return;
        }

        // Out of order: keep it, and ACK at once with SACK blocks (RFC 5681 4.2, RFC 2018).
        if (data is not null && len > 0)
        {
            if (_rcvQueue.Bytes + _ooo.Bytes + len > (long)_rcvBuf * 2) { Drop(data, TcpDropReason.RcvBufferFull); SendAck(); return; }
            _ooo.Insert(seq, data);
            TcpStats.Inc(ref _layer.Stats.OfoQueued);
            var dupOfo = _ooo.LastInsertDuplicate;
            if (dupOfo.Left != dupOfo.Right) DsackExtend(dupOfo.Left, dupOfo.Right); // tcp_data_queue_ofo's D-SACK
        }
        else data?.Free();
        if (fin) { _oooFin = true; _oooFinSeq = seq + (uint)len; }
        SendAck();
    }

    /// <summary>
    /// The receiver's RTT estimate that paces auto-tuning (<c>tcp_rcv_rtt_measure_ts</c> and
    /// <c>tcp_rcv_rtt_measure</c>): a pure receiver has no ACKed data to time. With timestamps, a
    /// full-sized segment echoing our TSval gives now - TSecr; without, the time one window of data takes
    /// to arrive. A lower sample is taken at once; higher ones are smoothed in (timestamps) or ignored
    /// (window samples, which only bound the RTT from above).
    /// </summary>
    private void MeasureReceiveRtt(in TcpSegment seg, int len)
    {
        long now = _ctx.NowUs;
        if (_tsOk && seg.Options.Timestamp is { EchoReply: not 0 } ts && len >= _rcvMss)
        {
            long ms = (long)(uint)(TsNow() - ts.EchoReply);
            if (ms >= 0 && ms < 60_000) UpdateReceiveRtt(Math.Max(1, ms) * 1000, windowSample: false);
            return;
        }
        if (!_rcvRttTiming) { _rcvRttTiming = true; _rcvRttSeq = _rcvNxt + (uint)Math.Max(_rcvWnd, _rcvMss); _rcvRttStartUs = now; return; }
        if (SeqNum.Lt(_rcvNxt + (uint)len, _rcvRttSeq)) return;
        UpdateReceiveRtt(Math.Max(1, now - _rcvRttStartUs), windowSample: true);
        _rcvRttSeq = _rcvNxt + (uint)len + (uint)Math.Max(_rcvWnd, _rcvMss);
        _rcvRttStartUs = now;
    }

    private void UpdateReceiveRtt(long sampleUs, bool windowSample)
    {
        if (_rcvRttUs == 0 || sampleUs < _rcvRttUs) _rcvRttUs = sampleUs;
        else if (!windowSample) _rcvRttUs += (sampleUs - _rcvRttUs) / 8;
    }

    private void Enqueue(SkBuff skb, int len)
    {
        _rcvQueue.Enqueue(skb);
        _bytesReceived += len;
    }

    /// <summary><c>__tcp_ack_snd_check</c>: ACK now after two full segments, out of order or a filled hole; else delay up to 40 ms.</summary>
    private void AckAfterData(bool fin)
    {
        if (fin || _quickAck || (_quickAcks > 0 && !_pingpong) || _ackPendingBytes >= 2L * _rcvMss || _rcvWnd - (uint)(_rcvNxt - _rcvWup) < _rcvMss)
        {
            SendAck();
            return;
        }
        if (_ackPendingBytes > 0 && !_delackTimer.IsArmed)
            _ctx.ArmTimer(_delackTimer, _ctx.NowUs + DelayedAckMinUs);
    }

    /// <summary>
    /// <c>tcp_event_data_recv</c>'s quick-ACK part: the first data of the connection, or data after a
    /// silence longer than the RTO, re-enters quick-ACK mode for up to rcv_wnd / (2 * rcv_mss) segments (at most 16).
    /// </summary>
    private void DataReceivedEvent()
    {
        long now = _ctx.NowUs;
        _dataSegsIn++;
        if (_bytesReceived == 0 || now - _lastDataRecvUs > _rtt.RtoUs)
        {
            int quick = (int)Math.Min(MaxQuickAcks, Math.Max(2, _rcvWnd / (2L * Math.Max(1, _rcvMss))));
            if (quick > _quickAcks) _quickAcks = quick;
        }
        _lastDataRecvUs = now;
    }

    /// <summary><c>tcp_fin</c>: the peer will send nothing more.</summary>
    private void ProcessFin()
    {
        if (_finReceived) return;
        _finReceived = true;
        _rcvNxt += 1;
        switch (State)
        {
            case TcpState.Established:
                State = TcpState.CloseWait;
                break;
            case TcpState.FinWait1:
                // Our FIN not yet acknowledged (else ProcessAck moved us to FIN-WAIT-2): simultaneous close.
                State = TcpState.Closing;
                break;
            case TcpState.FinWait2:
                EnterTimeWait();
                break;
        }
    }
}
