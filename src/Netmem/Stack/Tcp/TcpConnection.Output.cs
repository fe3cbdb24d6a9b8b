using System.Buffers.Binary;
using Netmem.Devices;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack.Tcp;

// Output: segment building (tcp_transmit_skb), the send loop (tcp_write_xmit), ACKs, RSTs, window selection.
public sealed partial class TcpConnection
{
    private uint SeqOfPos(long pos) => _sndUna + (uint)(pos - _sndUnaPos);
    private long PosOfSeq(uint seq) => _sndUnaPos + (int)(seq - _sndUna);
    private long FinPos => _sndBuf!.EndPos; // the FIN's sequence number is the byte after the data

    /// <summary>The largest payload one skb may carry: one MSS, or a TSO/GSO burst (whole segments, at most 64 KiB and MAX_SKB_FRAGS pages) when the route gives a GSO size (software GSO counts: the device segments).</summary>
    private int SizeGoal(int mssNow)
    {
        if (!Settings.AllowTso || (_route.Features & (NetdevFeatures.Tso | NetdevFeatures.Gso)) == 0 || _route.GsoMaxSize <= 0) return mssNow;
        if ((_route.Features & NetdevFeatures.Sg) == 0) return mssNow; // no scatter-gather: linear skbs of one MSS (sk_can_gso needs SG)
        int max = Math.Min(_route.GsoMaxSize, 65536) - 20 - TcpPacket.MaxHeaderLength; // IPv4 and TCP headers count against gso_max_size
        max = Math.Min(max, (SkBuff.MaxSkbFrags - 1) * Memory.PageArena.PageSize);
        return Math.Max(mssNow, max / mssNow * mssNow);
    }

    /// <summary><c>tcp_xmit_size_goal</c>: the skb size a write fills, <see cref="SizeGoal"/> bounded to half the largest window the peer offered (tcp_bound_to_half_wnd), in whole segments.</summary>
    private int WriteSizeGoal()
    {
        int mss = CurrentMss();
        int goal = SizeGoal(mss);
        long half = _maxSndWnd > 536 ? _maxSndWnd / 2 : _maxSndWnd;
        if (half > 0 && goal > half) goal = (int)Math.Max(mss, half / mss * mss);
        return goal;
    }

    /// <summary>sk_pacing_shift's default: a TSO burst carries about 1 ms (2^-10 s) of the pacing rate.</summary>
    private const int PacingShift = 10;
    /// <summary>net.ipv4.tcp_tso_rtt_log's default: below 2^9 µs of min RTT, bursts grow toward the GSO maximum.</summary>
    private const int TsoRttLog = 9;

    /// <summary>
    /// <c>tcp_update_pacing_rate</c>: bytes per second, cwnd (or what is in flight, if more) segments per
    /// smoothed RTT, times tcp_pacing_ss_ratio in slow start (cwnd below half ssthresh) or
    /// tcp_pacing_ca_ratio after. Unbounded (long.MaxValue) before the first RTT sample.
    /// </summary>
    private long PacingRate(int mss)
    {
        if (!_rtt.HasSample) return long.MaxValue;
        long segs = Math.Max(Cong.Cwnd, InFlight()) / Math.Max(1, mss);
        int ratio = Cong.Cwnd < Cong.Ssthresh / 2 ? Settings.PacingSsRatio : Settings.PacingCaRatio;
        return (long)Math.Min((double)mss * ratio / 100 * segs * 1_000_000 / Math.Max(1, _rtt.SrttUs), long.MaxValue);
    }

    /// <summary>
    /// <c>tcp_tso_autosize</c>: how many segments one TSO burst may carry: about 1 ms of the pacing rate,
    /// plus a share of the GSO maximum that grows as the min RTT shrinks below 512 µs (so a fast local
    /// path still sends full bursts), at most the GSO maximum and at least tcp_min_tso_segs.
    /// </summary>
    private int TsoSegs(int mss, int goal)
    {
        if (goal <= mss) return 1;
        long gsoMax = Math.Min(_route.GsoMaxSize, 65536);
        if (_pacingRate == 0) _pacingRate = PacingRate(mss);
        long bytes = _pacingRate >> PacingShift;
        long r = _rtt.MinRttUs >> TsoRttLog;
        if (r < 32) bytes += gsoMax >> (int)r;
        bytes = Math.Min(bytes, gsoMax);
        return (int)Math.Max(bytes / mss, Settings.MinTsoSegs);
    }

    /// <summary>
    /// <c>tcp_current_mss</c>: the payload a data segment may carry now. <see cref="_mss"/> already leaves
    /// room for timestamps; SACK blocks riding on data (out-of-order data is queued, typically while both
    /// directions carry data) take more, and a full segment with them would no longer fit the MTU (every
    /// TSO segment repeats the same options).
    /// </summary>
    private int CurrentMss()
    {
        if (!_sackOk || (_ooo.Count == 0 && !_dsackPending)) return _mss;
        var opts = DataOptions(TcpFlags.Ack);
        int extra = opts.Length - (_tsOk ? 12 : 0);
        return Math.Max(64, _mss - extra);
    }

    /// <summary>
    /// The options of a segment that is not a SYN: timestamps, a pending D-SACK block first (RFC 2883 4),
    /// then SACK blocks while out-of-order data is queued.
    /// </summary>
    private TcpOptions DataOptions(TcpFlags flags)
    {
        var opts = default(TcpOptions);
        if (_tsOk) opts.Timestamp = new TcpTimestamp(TsNow(), _tsRecent);
        if (_sackOk && (_ooo.Count > 0 || _dsackPending) && (flags & TcpFlags.Rst) == 0)
        {
            int max = _tsOk ? 3 : 4;
            if (_dsackPending) { opts.AddSackBlock(_dsack); max--; }
            Span<TcpSackBlock> blocks = stackalloc TcpSackBlock[TcpOptions.MaxSackBlocks];
            int n = _ooo.FillSackBlocks(blocks, max);
            for (int i = 0; i < n; i++) opts.AddSackBlock(blocks[i]);
        }
        return opts;
    }

    /// <summary><c>tcp_dsack_set</c>: report [from, to) as duplicate on the next segment (a SACK peer, tcp_dsack on).</summary>
    private void DsackSet(uint from, uint to)
    {
        if (!_sackOk || !Settings.Dsack || from == to) return;
        _dsack = new TcpSackBlock(from, to);
        _dsackPending = true;
    }

    /// <summary><c>tcp_dsack_extend</c>: widen the pending D-SACK block by an adjacent or overlapping range, else start one.</summary>
    private void DsackExtend(uint from, uint to)
    {
        if (!_dsackPending) { DsackSet(from, to); return; }
        if (SeqNum.Le(from, _dsack.Right) && SeqNum.Ge(to, _dsack.Left))
            _dsack = new TcpSackBlock(SeqNum.Min(from, _dsack.Left), SeqNum.Max(to, _dsack.Right));
    }

    private long InFlight()
    {
        // After an RTO everything past snd.una counts as lost (tcp_enter_loss): in flight is only what
        // go-back-N has sent again since.
        if (_lossRecovery) return (long)(uint)(_sndNxt - _sndUna);
        if (RackActive) return RackPipe(); // Linux's packets_in_flight: SACKed and lost bytes have left the network
        if (_sackOk && _inRecovery) return _sack.Pipe(_sndUna, _sndMax, _highRxt, _mss);
        return (long)(uint)(_sndNxt - _sndUna);
    }

    /// <summary>
    /// <c>tcp_write_xmit</c>: sends new data while the receive window, the congestion window, Nagle and
    /// sender-side SWS avoidance allow, then the FIN once all data is out. Arms the retransmit timer, or
    /// the persist timer when a zero window stops data that is waiting.
    /// </summary>
    internal void WriteXmit(int maxSegments = int.MaxValue, bool cork = false)
    {
        // A Fast Open child sends in SYN-RECEIVED: its SYN-ACK is the only unacknowledged byte before the data.
        if (_sndBuf is null || State is TcpState.Closed or TcpState.TimeWait or TcpState.SynSent) return;
        if (State == TcpState.SynReceived ? !_passiveFastOpen : _sndUnaPos < 0) return;
        if (_sndMax == _sndUna && _dataSegsOut > 0 && _sndBuf.EndPos > PosOfSeq(_sndNxt)) SlowStartAfterIdleCheck();
        int mss = CurrentMss();
        int goal = SizeGoal(mss);
        int tsoSegs = TsoSegs(mss, goal);
        _corkedXmit = Settings.Cork || cork; // corked bursts carry no push mark of their own
        bool cwndLimited = false, rwndLimited = false;
        int sent = 0;
        while (sent < maxSegments)
        {
            long pos = PosOfSeq(_sndNxt);
            long avail = _sndBuf.EndPos - pos;
            if (avail <= 0)
            {
                if (_finQueued && !_finSent && pos == FinPos) { TransmitData(pos, 0, fin: true); sent++; }
                break;
            }
            long wndRoom = (long)_sndWnd - (uint)(_sndNxt - _sndUna);
            long cwndRoom = Cong.Cwnd + _cwndBonus - InFlight();
            long len = Math.Min(Math.Min(avail, goal), wndRoom);
            long recordEnd = NextRecordEnd(pos);
            if (pos + len > recordEnd) len = recordEnd - pos; // never past the end of a MSG_EOR record
            // tcp_snd_wnd_test: the next segment must fit the receive window whole. A window too small for
            // it waits for the probe timer, whose probe sends the bytes that fit (tcp_write_wakeup).
            if (!_wakeupPush && wndRoom > 0 && wndRoom < Math.Min(Math.Min(avail, mss), recordEnd - pos))
            {
                if (_sndNxt == _sndUna && !_rtoTimer.IsArmed) ArmPersist();
                rwndLimited = true;
                break;
            }
            if (cwndRoom < len) { len = Math.Max(0, cwndRoom); cwndLimited = true; }
            // tcp_cwnd_test + tcp_tso_segs: one burst carries at most the autosized segment count and half
            // the cwnd (so at least two bursts are in flight), never a cwnd-limited partial: whole segments.
            long burst = Math.Min(tsoSegs, Math.Max(1, Cong.Cwnd / mss / 2)) * (long)mss;
            if (len > burst) len = burst;
            if (len <= 0)
            {
                if (wndRoom <= 0 && _sndNxt == _sndUna && !_rtoTimer.IsArmed) ArmPersist();
                rwndLimited |= wndRoom <= 0;
                break;
            }
            // An skb holds at most MAX_SKB_FRAGS frags and one send's completion: zero-copy pieces (each iovec
            // element its own frag) can end a segment early. Such a segment is a full skb: it goes at once, with
            // PSH (tcp_mark_push when skb_zerocopy_iter_stream runs out of frags), whatever Nagle says.
            bool fragCut = false;
            if (len > 0 && !LinearRoute)
            {
                int fit = _sndBuf.FitFrags(pos, (int)len, SkBuff.MaxSkbFrags, out fragCut);
                if (fragCut) { len = fit; TcpStats.Inc(ref _layer.Stats.ZerocopyFragCuts); }
            }
            // tcp_mss_split_point: a corked tail burst goes as whole MSS segments; the partial rest waits.
            if (len > mss && len == avail && (Settings.Cork || cork) && !_finQueued && !_forcePush) len -= len % mss;
            bool recordTail = pos + len == recordEnd || fragCut; // a record's last bytes (or a full skb): like the end of the data (Nagle, not SWS)
            if (len < mss && len < avail && !recordTail)
            {
                // Sender SWS avoidance (RFC 9293 3.8.6.2.1): a window- or cwnd-limited runt waits unless it is
                // at least half the largest window the peer offered, or nothing is in flight to clock it out.
                if (DataInFlight && len < _maxSndWnd / 2) break;
            }
            else if (len < mss && len == avail && !_forcePush && !fragCut)
            {
                // Only the tail of the queue waits (tcp_write_xmit passes TCP_NAGLE_PUSH for any other skb):
                // a record's end inside the queue always goes.
                bool corked = (Settings.Cork || cork) && !_finQueued;
                bool nagle = !Settings.NoDelay && DataInFlight && !_finQueued; // Nagle (RFC 896): one small segment in flight at a time
                if (corked || nagle)
                {
                    // Corked with nothing in flight: the probe timer sends it after about an RTO (tcp_check_probe_timer).
                    if (corked && _sndNxt == _sndUna && !_rtoTimer.IsArmed) ArmPersist();
                    break;
                }
            }
            bool fin = _finQueued && pos + len == FinPos;
            if (fin && (uint)(_sndNxt - _sndUna) + len + 1 > _sndWnd && wndRoom < len + 1) fin = false; // FIN rides later
            TransmitData(pos, (int)len, fin, fragCut);
            sent++;
        }
        // The rate the next round's bursts are sized by: Linux refreshes it on each ACK after the cwnd
        // update; taking it from the round before stands in for the processing delay that makes a real
        // stack's RTT samples exceed a script's nominal RTT (at exactly the nominal RTT, cwnd 16 and MSS
        // 1000 the rate is 3125 bytes per ms, just over the 3-segment edge the kernel stays under).
        if (goal > mss) _pacingRate = PacingRate(mss); // only TSO bursts are sized by it
        if (sent > 0 && _cwndBonus == 0) ScheduleLossProbe(advancing: false);
        // tcp_cwnd_validate: only a call that sent, or found cwnd full, updates the record, and a cwnd-limited mark
        // holds for the window it was set in (until snd.una passes the snd.nxt of then): an application that runs
        // out of data after filling cwnd still lets that window's ACKs grow it.
        long inFlight = InFlight();
        if (inFlight >= Cong.Cwnd) cwndLimited = true; // filled exactly: as limited as stopped by it
        if (sent > 0 || cwndLimited)
        {
            if (!SeqNum.Lt(_sndUna, _maxInFlightSeq) || cwndLimited || (!_isCwndLimited && inFlight > _maxInFlight))
            {
                _isCwndLimited = cwndLimited;
                _maxInFlight = inFlight;
                _maxInFlightSeq = _sndNxt;
            }
        }
        // tcp_is_cwnd_limited: the mark, or in slow start a cwnd below twice the most in flight this window.
        Cong.CwndLimited = _isCwndLimited || (Cong.Cwnd < Cong.Ssthresh && Cong.Cwnd < 2 * _maxInFlight);
        Cong.CwndFull = _isCwndLimited;
        if (rwndLimited) _chrono.Start(TcpChronoType.RwndLimited, _ctx.NowUs);
        else _chrono.Stop(TcpChronoType.RwndLimited, _ctx.NowUs, queuesEmpty: _sndBuf.Bytes == 0);
    }

    /// <summary>
    /// <c>tcp_slow_start_after_idle_check</c> + <c>tcp_cwnd_restart</c> (RFC 5681 4.1): data about to go
    /// after more than an RTO with nothing in flight. ssthresh keeps at least 3/4 of the old cwnd; cwnd
    /// halves once per RTO idle, down to the restart window (the initial window, or cwnd if smaller).
    /// </summary>
    private void SlowStartAfterIdleCheck()
    {
        if (!Settings.SlowStartAfterIdle || _inRecovery || _lossRecovery) return;
        long delta = _ctx.NowUs - _lastDataSentUs;
        long rto = _rtt.RtoUs;
        if (delta <= rto || Cong.Mss <= 0) return;
        long cwnd = Cong.Cwnd;
        long restart = Math.Min(NewReno.InitialWindow(Cong.Mss), cwnd);
        if (Cong.Ssthresh != long.MaxValue) Cong.Ssthresh = Math.Max(Cong.Ssthresh, (cwnd >> 1) + (cwnd >> 2));
        while ((delta -= rto) > 0 && cwnd > restart) cwnd >>= 1;
        Cong.Cwnd = Math.Max(cwnd, restart);
    }

    /// <summary>Sequence space past snd.una is out, the SYN-ACK of a Fast Open child aside (it is the request's, not the child's, in Linux).</summary>
    private bool DataInFlight => _sndNxt != (_passiveFastOpen ? _iss + 1 : _sndUna);

    /// <summary>Sends bytes [pos, pos+len) as new data (advances snd.nxt) or as a retransmission (below snd.max).</summary>
    private void TransmitData(long pos, int len, bool fin, bool fragCut = false)
    {
        uint seq = SeqOfPos(pos);
        bool retrans = SeqNum.Lt(seq, _sndMax);
        // PSH as Linux sets it: on the segment that ends the queued data, and on every new TSO burst
        // (each carries the push mark of the skb it was cut from); a single MSS inside the stream and a
        // retransmission carry none.
        bool push = len > 0 && (pos + len == _pushMarkPos || _wakeupPush || fragCut || (!retrans && len > _mss && !_corkedXmit) || (_recordCount > 0 && pos + len == NextRecordEnd(pos)));
        var flags = TcpFlags.Ack | (fin ? TcpFlags.Fin : 0) | (push ? TcpFlags.Psh : 0);
        if (len > 0 && _dataSegsOut > 0 && InFlight() == 0) _cc.OnTxStart(ref Cong, _lastDataSentUs, _ctx.NowUs); // tcp_event_data_sent
        if (!Transmit(seq, flags, pos, len, synOptions: false)) return;
        if (len > 0) _xmitTimes.Sent(seq, seq + (uint)len, _ctx.NowUs, retrans);
        // Data sent within the ACK delay of the last data received: an interactive exchange (tcp_event_data_sent).
        if (!retrans && (_dataSegsIn > 0 || _atoStarted) && _ctx.NowUs - _lastDataRecvUs < DelayedAckMinUs) _pingpong = true;
        if (len > 0) { _dataSegsOut += (len + _mss - 1) / Math.Max(1, _mss); _lastDataSentUs = _ctx.NowUs; }
        uint end = seq + (uint)len + (fin ? 1u : 0u);
        // The skb's own push mark (a write's end, a record end, a wakeup), which a retransmission ending there
        // carries again; the PSH every multi-segment burst gets on the wire is not one.
        bool pushMark = len > 0 && (pos + len == _pushMarkPos || _wakeupPush || fragCut || (_recordCount > 0 && pos + len == NextRecordEnd(pos)));
        _rtx.OnTransmit(seq, end, _ctx.NowUs, pushMark);
        if (fin) _finSent = true;
        if (SeqNum.Gt(end, _sndNxt)) _sndNxt = end;
        if (SeqNum.Gt(end, _sndMax))
        {
            _lastNewSeq = seq;
            if (!_rttTiming && !retrans) { _rttTiming = true; _rttSeq = end; _rttSentUs = _ctx.NowUs; }
            _sndMax = end;
        }
        if (retrans) { _totalRetrans++; TcpStats.Inc(ref _layer.Stats.RetransSegs); if (_rttTiming && SeqNum.Le(seq, _rttSeq)) _rttTiming = false; }
        if (!_rtoTimer.IsArmed || _probing || _tlpArmed) ArmRto(); // a probe timer gives way to the RTO, then is scheduled again
    }

    /// <summary>Retransmits one segment starting at <paramref name="seq"/> (at most <paramref name="maxLen"/> bytes, one MSS).</summary>
    private void RetransmitAt(uint seq, int maxLen)
    {
        long pos = PosOfSeq(seq);
        // Only what was sent before (below snd.max): a retransmission never carries new data, else snd.nxt
        // would pass snd.max and the peer's ACKs of it would look invalid.
        long dataLeft = Math.Min(_sndBuf!.EndPos, PosOfSeq(_sndMax)) - pos;
        int len = (int)Math.Min(Math.Min(maxLen, CurrentMss()), Math.Max(0, dataLeft));
        long recordEnd = NextRecordEnd(pos);
        if (pos + len > recordEnd) len = (int)(recordEnd - pos);
        bool fragCut = false;
        if (len > 0 && !LinearRoute) len = _sndBuf.FitFrags(pos, len, SkBuff.MaxSkbFrags, out fragCut);
        // A FIN sent before (it lies below snd.max) goes again; the RTO clears _finSent before calling here,
        // so _finQueued is what says there is one (else a lost lone FIN would never be retransmitted).
        bool fin = (_finSent || _finQueued) && pos + len == FinPos && SeqNum.Lt(seq + (uint)len, _sndMax);
        if (len == 0 && !fin) return;
        bool push = len > 0 && (pos + len == _pushMarkPos || fragCut || RtxEndsWithPush(seq + (uint)len)); // a segment that ended with PSH keeps it
        var flags = TcpFlags.Ack | (fin ? TcpFlags.Fin : 0) | (push ? TcpFlags.Psh : 0);
        if (!Transmit(seq, flags, pos, len, synOptions: false)) return;
        if (fin) _finSent = true;
        _totalRetrans++;
        TcpStats.Inc(ref _layer.Stats.RetransSegs);
        if (_rttTiming && SeqNum.Le(seq, _rttSeq)) _rttTiming = false; // Karn: no sample from a retransmitted range
        uint end = seq + (uint)len + (fin ? 1u : 0u);
        _rtx.OnTransmit(seq, end, _ctx.NowUs, push);
        _xmitTimes.MarkRetransmitted(seq, end);
        if (SeqNum.Gt(end, _highRxt)) _highRxt = end;
        if (SeqNum.Gt(end, _sndNxt)) _sndNxt = end;
        if (!_rtoTimer.IsArmed || _probing) ArmRto();
    }

    private void SendSyn(bool ack)
    {
        var flags = TcpFlags.Syn | (ack ? TcpFlags.Ack : 0);
        if (!ack && Settings.Ecn == 1 && _retransmits == 0) flags |= TcpFlags.Ece | TcpFlags.Cwr; // ECN-setup SYN (a retransmitted SYN falls back, tcp_ecn_fallback)
        else if (ack && _ecnOk) flags |= TcpFlags.Ece;                      // ECN-setup SYN-ACK
        // Fast Open data rides in the first SYN only: a retransmitted SYN goes bare (Linux retransmits the SYN skb,
        // the data after it is sent again once the handshake is done).
        int data = !ack && _retransmits == 0 ? _synDataLen : 0;
        Transmit(_iss, flags, 0, data, synOptions: true);
        uint end = _iss + 1 + (uint)data;
        if (SeqNum.Lt(_sndNxt, end)) _sndNxt = end; // never back over data a Fast Open child already sent
        if (SeqNum.Gt(_sndNxt, _sndMax)) _sndMax = _sndNxt;
        if (_retransmits == 0) { _rttTiming = true; _rttSeq = _iss + 1; _rttSentUs = _ctx.NowUs; }
        if (data > 0) { _lastDataSentUs = _ctx.NowUs; _dataSegsOut++; _lastNewSeq = _iss + 1; }
        ArmRto();
    }

    /// <summary>
    /// A pure ACK (<c>tcp_send_ack</c>) carrying the current window and SACK blocks, at snd.max (Linux's
    /// snd_nxt, which never moves back): after an RTO rewinds snd.nxt the peer already has those sequence
    /// numbers, and an ACK below its rcv.nxt would be judged unacceptable.
    /// </summary>
    internal void SendAck()
    {
        if (State is TcpState.Closed or TcpState.Listen or TcpState.SynSent) return;
        Transmit(_sndMax, TcpFlags.Ack, 0, 0, synOptions: false);
    }

    /// <summary>The ACK owed to an unacceptable segment, at most one per 500 ms (tcp_invalid_ratelimit), so two confused ends cannot ACK each other forever.</summary>
    /// <summary>
    /// <c>tcp_send_dupack</c> for a segment outside the window. Data below rcv.nxt is a retransmission the
    /// peer did not need: it gets a D-SACK for the old part and the ACK goes at once; only data-less
    /// segments are rate limited (tcp_oow_rate_limited: data does not start ACK loops).
    /// </summary>
    private void SendOutOfWindowAck(in TcpSegment seg)
    {
        if (seg.PayloadLength > 0 && !seg.Syn)
        {
            if (SeqNum.Lt(seg.Seq, _rcvNxt))
            {
                uint end = seg.Seq + (uint)seg.PayloadLength;
                DsackSet(seg.Seq, SeqNum.Lt(end, _rcvNxt) ? end : _rcvNxt);
            }
        }
        if (seg.PayloadLength > 0 && !seg.Syn) { SendAck(); return; } // data is never rate limited (tcp_oow_rate_limited)
        SendRateLimitedAck();
    }

    /// <summary>An ACK at most once per tcp_invalid_ratelimit (500 ms) on this connection (__tcp_oow_rate_limited).</summary>
    private void SendRateLimitedAck()
    {
        long now = _ctx.NowUs;
        if (now - _lastOowAckUs < InvalidRateLimitUs) return;
        _lastOowAckUs = now;
        SendAck();
    }

    /// <summary>A segment with an old sequence number (snd.una - 1) that makes the peer answer with an ACK (<c>tcp_xmit_probe_skb</c>): zero-window and keepalive probes.</summary>
    private void SendProbe() => Transmit(_sndUna - 1, TcpFlags.Ack, 0, 0, synOptions: false);

    private void SendReset(uint seq)
    {
        if (SeqNum.Lt(seq, _sndMax)) seq = _sndMax;
        Transmit(seq, TcpFlags.Rst | TcpFlags.Ack, 0, 0, synOptions: false);
        TcpStats.Inc(ref _layer.Stats.OutRsts);
    }

    /// <summary>
    /// <c>tcp_transmit_skb</c>: an skb from the context's cache with the TCP header in its head (after
    /// MaxHeaderRoom) and [pos, pos+len) of the send buffer as page frags; checksum by the device
    /// (CHECKSUM_PARTIAL) when the route can, else in software; TSO metadata when it carries more than one MSS.
    /// </summary>
    private bool Transmit(uint seq, TcpFlags flags, long pos, int len, bool synOptions)
    {
        flags = EcnFlags(seq, len, flags);
        if ((_inRecovery && !_lossRecovery) || _inCwr) _prrOut += len; // RFC 6937 prr_out
        var cache = _ctx.SkbCache!;
        var opts = default(TcpOptions);
        bool syn = (flags & TcpFlags.Syn) != 0;
        bool ackFlag = (flags & TcpFlags.Ack) != 0;
        if (synOptions)
        {
            opts.MaxSegmentSize = (ushort)AdvertisedMss();
            bool active = State == TcpState.SynSent;
            if (Settings.WindowScaling && (active || _wscaleOk)) opts.WindowScale = _rcvWscale;
            if (Settings.Sack && (active || _sackOk)) opts.SackPermitted = true;
            if (Settings.Timestamps && (active || _tsOk)) opts.Timestamp = new TcpTimestamp(TsNow(), ackFlag ? _tsRecent : 0);
            // Fast Open, on the first SYN or SYN-ACK only (Linux leaves the option off retransmissions): the client's
            // cookie request or cookie (none when cookies are off), the server's cookie for the client.
            if (_retransmits == 0 && _foCookieLen >= 0 && (active ? _fastOpenSyn : _foOnSynAck))
                opts.SetFastOpen(_foCookieLen > 0 ? _foCookie.AsSpan(0, _foCookieLen) : default, _foCookieExp);
        }
        else opts = DataOptions(flags);
        ushort window = syn ? (ushort)Math.Min(_rcvBuf, 65535) : SelectWindow();
        if (syn) { _rcvWnd = window; _rcvWup = _rcvNxt; }
        var repr = new TcpRepr(Tuple.LocalPort, Tuple.RemotePort, seq, ackFlag ? _rcvNxt : 0, flags, window, 0) { Options = opts };
        int hlen = repr.HeaderLength;
        // A device without scatter-gather takes linear skbs: the payload is copied into the head (the kernel's
        // tcp_sendmsg copies for such a route; a zero-copy send's completion says COPIED).
        bool linear = len > 0 && LinearRoute && _sndBuf!.IsReadable(pos, len);
        var skb = cache.Alloc(_ip.MaxHeaderRoom + hlen + (linear ? len : 0));
        if (skb is null) { _layer.Stats.Drop(TcpDropReason.RcvBufferFull); return false; }
        skb.Reserve(_ip.MaxHeaderRoom);
        var h = skb.Put(hlen);
        repr.Emit(h, Tuple.LocalAddress, Tuple.RemoteAddress, fillChecksum: false);
        skb.ResetTransportHeader();
        if (linear)
        {
            _sndBuf!.CopyOut(pos, skb.Put(len), skb);
            TcpStats.Inc(ref _layer.Stats.LinearSegs);
        }
        else if (len > 0) _sndBuf!.AddFrags(skb, pos, len);
        int tcpLen = hlen + len;
        // Each segment's payload with these options must fit the MTU: mss less what the options take beyond timestamps.
        int segSize = syn ? _mss : Math.Max(64, _mss - (opts.Length - (_tsOk ? 12 : 0)));
        bool gso = !syn && len > segSize; // SYN data is at most one segment (and the MSS is not known yet)
        FillChecksum(skb, h, gso || (_route.Features & NetdevFeatures.IpCsum) != 0, Tuple.LocalAddress, Tuple.RemoteAddress, tcpLen);
        if (gso)
        {
            var sh = skb.Shinfo;
            sh.GsoSize = (ushort)segSize;
            sh.GsoSegs = (ushort)((len + segSize - 1) / segSize);
            sh.GsoType = SkbGsoType.TcpV4;
        }
        if (_dsackPending && opts.SackBlockCount > 0 && !synOptions)
        {
            _dsackPending = false; // reported once (tcp_options_write clears rx_opt.dsack)
            TcpStats.Inc(ref _layer.Stats.DsacksSent);
        }
        if (ackFlag)
        {
            _lastAckSent = _rcvNxt;
            if (_ackPendingBytes > 0 && _quickAcks > 0) _quickAcks--; // tcp_dec_quickack_mode
            _ackPendingBytes = 0;
            _synAckAckHeld = false;
            _quickAck = false;
            if (_delackTimer.IsArmed) _ctx.CancelTimer(_delackTimer);
        }
        _segsOut++;
        TcpStats.Inc(ref _layer.Stats.OutSegs);
        // ECT(0) on new data once ECN is negotiated (tcp_ecn_send: not on pure ACKs or retransmissions).
        byte tos = _ecnOk && len > 0 && !SeqNum.Lt(seq, _sndMax) ? (byte)0x02 : (byte)0;
        _ip.Output(skb, _route, Tuple.LocalAddress, Tuple.RemoteAddress, IpProtocol.Tcp, tos);
        return true;
    }

    /// <summary>
    /// <c>tcp_v4_send_check</c>: CHECKSUM_PARTIAL (pseudo-header seeded in the field) when the route offloads
    /// checksums or segments, else the full checksum in software. An skb with unreadable frags always goes
    /// PARTIAL, as the kernel's TCP always does: the stack may not read its payload, so either the device fills
    /// the field or the IP output's <c>skb_checksum_help</c> refuses it, a counted drop
    /// (<see cref="IpDropReason.Unreadable"/>), never an exception here.
    /// </summary>
    internal static void FillChecksum(SkBuff skb, Span<byte> h, bool offload, Ipv4Address src, Ipv4Address dst, int tcpLen)
    {
        if (offload || skb.AnyUnreadable)
        {
            skb.IpSummed = SkbChecksumState.Partial;
            skb.CsumStart = (ushort)skb.Headroom;
            skb.CsumOffset = 16;
            BinaryPrimitives.WriteUInt16BigEndian(h[16..], PseudoHeader.PartialChecksum(src, dst, IpProtocol.Tcp, tcpLen));
        }
        else
        {
            uint sum = skb.Checksum(0, skb.Len);
            BinaryPrimitives.WriteUInt16BigEndian(h[16..], PseudoHeader.Checksum(src, dst, IpProtocol.Tcp, tcpLen, sum));
            skb.IpSummed = SkbChecksumState.None;
        }
    }

    /// <summary>The route's device has no scatter-gather (NETIF_F_SG): segments go linear, their payload copied.</summary>
    private bool LinearRoute => (_route.Features & NetdevFeatures.Sg) == 0;

    /// <summary>The TSval this connection would send now.</summary>
    internal uint TsValue => TsNow();

    private uint TsNow() => (uint)(_ctx.NowUs / 1000) + _tsOffset; // a 1 ms clock, like Linux's default

    private int AdvertisedMss()
    {
        int mss = _route.Mtu - 40;
        if (Settings.MaxSegmentSize > 0) mss = Math.Min(mss, Settings.MaxSegmentSize);
        return Math.Max(88, mss);
    }

    /// <summary>
    /// <c>tcp_select_window</c>: the free receive space, never shrinking the right edge already offered,
    /// and moving it only by at least min(rcvbuf/2, MSS) (receiver SWS avoidance, RFC 9293 3.8.6.2.2),
    /// rounded down to the window-scale granularity. Returns the 16-bit field.
    /// </summary>
    private ushort SelectWindow()
    {
        long space = Math.Max(0, _rcvBuf - _rcvQueue.Bytes - _ooo.Bytes);
        long cur = (long)_rcvWnd - (uint)(_rcvNxt - _rcvWup); // what is left of the last offer
        if (cur < 0) cur = 0;
        long wnd = space;
        if (wnd < cur) wnd = cur; // RFC 9293 3.8.6.2.2: do not shrink
        else if (wnd - cur < Math.Min(_rcvBuf / 2, _rcvMss) && cur > 0) wnd = cur;
        long max = 65535L << _rcvWscale;
        if (wnd > max) wnd = max;
        long gran = (1L << _rcvWscale) - 1;
        long rounded = wnd & ~gran;
        if (rounded < cur) rounded = (cur + gran) & ~gran; // rounding must not shrink either (the offer only grows)
        wnd = Math.Min(rounded, max);
        _rcvWnd = wnd;
        _rcvWup = _rcvNxt;
        return (ushort)(wnd >> _rcvWscale);
    }

    /// <summary>
    /// After the application read <paramref name="bytes"/> (<c>tcp_rcv_space_adjust</c> + <c>tcp_cleanup_rbuf</c>):
    /// grows the buffer when the reader keeps up, and sends a window update when the window it could
    /// offer now is at least twice what the peer has left (and a segment more).
    /// </summary>
    private void AfterRead(int bytes)
    {
        if (State is TcpState.Closed or TcpState.TimeWait) return;
        AdjustReceiveSpace(bytes);
        // tcp_cleanup_rbuf: an ACK still owed goes now when more than a segment awaits it, or when the
        // reader drained the queue (outside interactive mode): the sender's next runt may be waiting for it.
        if (_ackPendingBytes > 0 && IsSynchronized && (_ackPendingBytes > _rcvMss || (_rcvQueue.Bytes == 0 && !_pingpong)))
        {
            SendAck();
            return;
        }
        long space = Math.Max(0, _rcvBuf - _rcvQueue.Bytes - _ooo.Bytes);
        long cur = Math.Max(0, (long)_rcvWnd - (uint)(_rcvNxt - _rcvWup));
        // tcp_cleanup_rbuf: only when the window left is at most half what could be offered (window_clamp).
        long clamp = Math.Min(_rcvBuf, 65535L << _rcvWscale);
        if (2 * cur <= clamp && space >= 2 * cur && space - cur >= _rcvMss && IsSynchronized && !_finReceived) SendAck();
    }

    /// <summary>
    /// <c>tcp_rcv_space_adjust</c> (dynamic right-sizing): once per receiver RTT, the bytes the reader
    /// took in that RTT are what the sender managed; when that grew, the buffer (and so the window) is
    /// set to twice it plus 16 segments, plus twice the growth rate again so a sender still in slow start
    /// is not held back, up to <see cref="TcpSettings.MaxReceiveBufferSize"/>. It never shrinks, and does
    /// nothing when auto-tuning is off (SO_RCVBUF set) or before an RTT is known.
    /// </summary>
    private void AdjustReceiveSpace(int copied)
    {
        if (!Settings.ReceiveBufferAutoTuning) return;
        _rcvSpaceBytes += copied;
        long rtt = _rcvRttUs > 0 ? _rcvRttUs : _rtt.HasSample ? _rtt.SrttUs : 0;
        if (rtt <= 0) return;
        long now = _ctx.NowUs;
        if (now - _rcvSpaceStartUs < rtt) return;
        long got = _rcvSpaceBytes;
        _rcvSpaceBytes = 0;
        _rcvSpaceStartUs = now;
        if (got <= _rcvSpaceLast) return;
        long win = 2 * got + 16L * _rcvMss;
        if (_rcvSpaceLast > 0) win += 2 * (win * (got - _rcvSpaceLast) / _rcvSpaceLast);
        long cap = Math.Min(Settings.MaxReceiveBufferSize, 65535L << _rcvWscale);
        if (win > _rcvBuf && _rcvBuf < cap) _rcvBuf = (int)Math.Min(cap, win);
        _rcvSpaceLast = got;
    }
}
