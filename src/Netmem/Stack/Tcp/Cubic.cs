namespace Netmem.Stack.Tcp;

/// <summary>
/// CUBIC congestion control as Linux runs it (<c>tcp_cubic.c</c>: <c>bictcp_update</c>, <c>cubictcp_cong_avoid</c>,
/// <c>cubictcp_recalc_ssthresh</c>, <c>cubictcp_state</c>, <c>cubictcp_acked</c>, <c>hystart_update</c>), with its
/// integer arithmetic, so that cwnd moves packet for packet as the kernel's does (RFC 9438 describes the same curve).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Windows are counted in segments inside the algorithm and in bytes in <see cref="TcpCongestionState"/>. Time
/// for the curve is the kernel's jiffies at HZ = 1000 (milliseconds) and, inside the cubic function, 1/1024 s units.</item>
/// <item>Congestion avoidance: at most once per millisecond (and not again within 1/32 s while cwnd is unchanged) the
/// target W(t + delay_min) = origin ± 0.4·|t − K|³ sets <c>cnt</c>, the segments to ACK per cwnd increment
/// (cwnd / (target − cwnd), or 100·cwnd at or above the target); before any reduction (W_max = 0) cnt is at most 20
/// (5% a round). The Reno-friendly window grows by one for each 15/8·cwnd ACKed segments and caps cnt when ahead;
/// cnt is at least 2 (cwnd × 1.5 a round). Increments are applied as <c>tcp_cong_avoid_ai</c> does.</item>
/// <item>Loss: W_max = cwnd (fast convergence: cwnd·(1 + β)/2 when below the previous W_max), ssthresh =
/// max(cwnd·717/1024, 2). A retransmission timeout (the Loss state) resets all of it — W_max, delay_min, HyStart —
/// as <c>bictcp_reset</c> does, so the next epoch starts at K = 0 with the 20-segment cap.</item>
/// <item>HyStart (Linux's, not HyStart++) in any slow start until it fires once per reset, from 16 segments of cwnd:
/// the ACK train (ACKs at most 2 ms apart for longer than half of delay_min plus the ACK delay) and the delay
/// check (the smallest of the round's RTT samples, after 8, above delay_min + clamp(delay_min/8, 4 ms, 16 ms)); either
/// sets ssthresh = cwnd. A round ends when snd.una passes the snd.nxt of its start. RTT samples are per ACK (the
/// newest segment it covers, none when it covers a retransmission) and are ignored in the first second of an epoch.</item>
/// <item>Sending after idle with nothing in flight moves the epoch start forward by the idle time (CA_EVENT_TX_START).</item>
/// <item>Undo as <c>tcp_reno_undo_cwnd</c>: cwnd and ssthresh back to at least their values before the reduction.</item>
/// </list>
/// </remarks>
public sealed class Cubic : ICongestionControl
{
    /// <summary>The TCP_CONGESTION name.</summary>
    public const string AlgorithmName = "cubic";
    /// <summary>β in 1/1024 (<c>beta</c> = 717, about 0.7).</summary>
    public const int BetaScaled = 717;
    /// <summary>The scale of <see cref="BetaScaled"/> (<c>BICTCP_BETA_SCALE</c>).</summary>
    public const int BetaScale = 1024;
    /// <summary>C = 0.4 as Linux writes it: <c>bic_scale</c> 41 (in 1/1024), times 10 for <c>cube_rtt_scale</c>.</summary>
    public const int CubeRttScale = 41 * 10;
    /// <summary>The Reno-friendly increase (<c>beta_scale</c> = 8·(1024 + β)/3/(1024 − β), 15): one segment per 15/8·cwnd ACKed.</summary>
    public const int RenoBetaScale = 8 * (BetaScale + BetaScaled) / 3 / (BetaScale - BetaScaled);
    /// <summary>Time unit of the cubic function: 1/2^10 s (<c>BICTCP_HZ</c>).</summary>
    public const int TimeShift = 10;
    private const long CubeFactor = (1L << (10 + 3 * TimeShift)) / CubeRttScale;

    /// <summary>HyStart: cwnd from which it runs (<c>hystart_low_window</c>).</summary>
    public const int HyStartLowWindow = 16;
    /// <summary>HyStart: RTT samples a round takes before the delay check (<c>HYSTART_MIN_SAMPLES</c>).</summary>
    public const int HyStartMinSamples = 8;
    /// <summary>HyStart: the delay threshold's clamp in µs (<c>HYSTART_DELAY_MIN</c>, <c>HYSTART_DELAY_MAX</c>).</summary>
    public const long HyStartDelayMinUs = 4_000, HyStartDelayMaxUs = 16_000;
    /// <summary>HyStart: the largest gap between two ACKs of one train, in µs (<c>hystart_ack_delta_us</c>).</summary>
    public const long HyStartAckDeltaUs = 2_000;
    /// <summary>Which HyStart detections run (<c>hystart_detect</c>): 1 ACK train, 2 delay, 3 both (default).</summary>
    public const int HyStartAckTrain = 1, HyStartDelay = 2;

    private bool _fastConvergence = true;
    private bool _hystart = true;
    private int _hystartDetect = HyStartAckTrain | HyStartDelay;

    // bictcp: the epoch and the curve (segments; milliseconds; K in 1/1024 s).
    private uint _cnt;
    private uint _lastMaxCwnd, _lastCwnd, _originPoint, _tcpCwnd;
    private long _lastTimeMs = -1, _epochStartMs = -1;
    private uint _k, _ackCnt;
    private long _delayMinUs;
    private bool _found;
    // HyStart's round.
    private long _roundStartUs, _lastAckUs, _currRttUs;
    private uint _endSeq;
    private bool _roundValid;
    private int _sampleCnt;
    // tcp_sock's snd_cwnd_cnt and the part of an ACK below one segment.
    private uint _cwndCnt;
    private long _ackedCarry;
    // Undo.
    private bool _canUndo;
    private long _priorCwnd, _priorSsthresh;

    public string Name => AlgorithmName;

    /// <summary>Fast convergence, on by default like Linux's <c>fast_convergence</c>.</summary>
    public bool FastConvergence { get => _fastConvergence; set => _fastConvergence = value; }
    /// <summary>HyStart, on by default like Linux's <c>hystart</c>.</summary>
    public bool HyStart { get => _hystart; set => _hystart = value; }
    /// <summary>HyStart's detections (<c>hystart_detect</c>): <see cref="HyStartAckTrain"/> | <see cref="HyStartDelay"/> by default.</summary>
    public int HyStartDetect { get => _hystartDetect; set => _hystartDetect = value & (HyStartAckTrain | HyStartDelay); }
    /// <summary>Times HyStart ended a slow start (set ssthresh = cwnd) without a loss.</summary>
    public long HyStartExits { get; private set; }
    /// <summary>The smallest RTT sample since the last reset, in µs (0: none).</summary>
    public long DelayMinUs => _delayMinUs;
    /// <summary>W_max in segments (0 when unknown: no reduction yet, or forgotten after a timeout).</summary>
    public double WMax => _lastMaxCwnd;
    /// <summary>K of the current epoch in seconds (0 before one starts).</summary>
    public double K => _k / (double)(1 << TimeShift);
    /// <summary>Whether a congestion avoidance epoch is running.</summary>
    public bool InEpoch => _epochStartMs >= 0;
    /// <summary>The segments to ACK per cwnd increment as last computed (<c>ca->cnt</c>).</summary>
    public uint Cnt => _cnt;

    public void Init(ref TcpCongestionState s, long nowUs)
    {
        s.Cwnd = NewReno.InitialWindow(s.Mss);
        if (s.Ssthresh <= 0) s.Ssthresh = long.MaxValue;
        Reset();
        _canUndo = false;
        _cwndCnt = 0;
        _ackedCarry = 0;
        _roundValid = false; // the first HyStart sample starts a round
    }

    public void OnAck(ref TcpCongestionState s, long ackedBytes, long rttUs, long nowUs)
    {
        int mss = s.Mss;
        long ssthresh = s.Ssthresh;
        if (rttUs > 0) OnRttSample(ref s, rttUs, nowUs);
        // tcp_is_cwnd_limited is asked after HyStart: if it just ended slow start, only a full cwnd counts.
        bool limited = s.Ssthresh == ssthresh ? s.CwndLimited : s.CwndFull;
        if (ackedBytes <= 0 || !limited || s.InRecovery) return;
        if (s.Cwnd < s.Ssthresh)
        {
            ackedBytes = NewReno.SlowStart(ref s, ackedBytes);
            if (ackedBytes == 0) return;
        }
        _ackedCarry += ackedBytes;
        uint acked = (uint)(_ackedCarry / mss);
        _ackedCarry -= (long)acked * mss;
        if (acked == 0) return;
        uint cwnd = (uint)Math.Max(1, s.Cwnd / mss);
        Update(cwnd, acked, nowUs / 1000);
        s.Cwnd += (long)(AdditiveIncrease(cwnd, _cnt, acked) - cwnd) * mss; // whole segments; a byte remainder from slow start stays
    }

    public void OnEnterRecovery(ref TcpCongestionState s, long nowUs)
    {
        SaveForUndo(s);
        RecalcSsthresh(ref s);
        s.Cwnd = s.Ssthresh;
        _cwndCnt = 0;
    }

    public void OnExitRecovery(ref TcpCongestionState s, long nowUs)
    {
        if (s.Ssthresh != long.MaxValue) s.Cwnd = s.Ssthresh;
    }

    public void OnRetransmitTimeout(ref TcpCongestionState s, long nowUs)
    {
        // A timeout inside a recovery, or a repeated timeout, keeps the ssthresh of the first reduction.
        if (!s.InRecovery)
        {
            SaveForUndo(s);
            RecalcSsthresh(ref s);
        }
        Reset(); // cubictcp_state(TCP_CA_Loss): the curve, delay_min and HyStart start over
        _roundValid = false;
        _cwndCnt = 0;
        _ackedCarry = 0;
        s.Cwnd = s.Mss;
    }

    public void OnUndo(ref TcpCongestionState s, long nowUs)
    {
        if (!_canUndo) return;
        s.Cwnd = Math.Max(s.Cwnd, _priorCwnd);
        s.Ssthresh = Math.Max(s.Ssthresh, _priorSsthresh);
        _canUndo = false;
    }

    /// <summary>
    /// <c>cubictcp_cwnd_event(CA_EVENT_TX_START)</c>: after an application-limited idle spell the epoch start moves
    /// forward by it (never past now), so the curve does not credit itself the idle time as growth.
    /// </summary>
    public void OnTxStart(ref TcpCongestionState s, long lastSendUs, long nowUs)
    {
        long nowMs = nowUs / 1000, delta = nowMs - lastSendUs / 1000;
        if (_epochStartMs >= 0 && delta > 0) _epochStartMs = Math.Min(_epochStartMs + delta, nowMs);
    }

    /// <summary><c>cubictcp_acked</c>: delay_min, and HyStart while in slow start.</summary>
    private void OnRttSample(ref TcpCongestionState s, long rttUs, long nowUs)
    {
        long nowMs = nowUs / 1000;
        if (_epochStartMs >= 0 && nowMs - _epochStartMs < 1000) return; // samples right after a reduction are noisy
        long delay = Math.Max(1, rttUs);
        if (_delayMinUs == 0 || _delayMinUs > delay) _delayMinUs = delay;
        int mss = s.Mss;
        if (!_found && _hystart && s.Cwnd < s.Ssthresh && s.Cwnd / mss >= HyStartLowWindow)
            HyStartUpdate(ref s, delay, nowUs);
    }

    /// <summary><c>hystart_update</c>: the ACK train and the delay increase, each able to end slow start.</summary>
    private void HyStartUpdate(ref TcpCongestionState s, long delay, long nowUs)
    {
        if (!_roundValid || SeqNum.Gt(s.SndUna, _endSeq)) StartRound(s, nowUs);
        if ((_hystartDetect & HyStartAckTrain) != 0 && nowUs - _lastAckUs <= HyStartAckDeltaUs)
        {
            _lastAckUs = nowUs;
            // Half of delay_min (plus what pacing would have spread the burst by): the train spans that much of
            // the round only if the bottleneck queue is already filling. Without a pacing qdisc Linux halves it.
            long threshold = (_delayMinUs + AckDelayUs(s)) >> 1;
            if (nowUs - _roundStartUs > threshold) Found(ref s);
        }
        if ((_hystartDetect & HyStartDelay) != 0)
        {
            if (_currRttUs > delay) _currRttUs = delay;
            if (_sampleCnt < HyStartMinSamples) _sampleCnt++;
            else if (_currRttUs > _delayMinUs + Math.Clamp(_delayMinUs >> 3, HyStartDelayMinUs, HyStartDelayMaxUs)) Found(ref s);
        }
    }

    private void Found(ref TcpCongestionState s)
    {
        if (_found) return;
        _found = true;
        s.Ssthresh = s.Cwnd;
        HyStartExits++;
    }

    /// <summary>
    /// <c>hystart_ack_delay</c>: how long the pacing rate (2× cwnd/srtt in slow start, as <c>tcp_update_pacing_rate</c>)
    /// takes to send four 64 KiB GSO bursts, at most 1 ms; 0 before an RTT is known.
    /// </summary>
    private static long AckDelayUs(in TcpCongestionState s)
    {
        if (s.SrttUs <= 0) return 0;
        double rate = (double)s.Cwnd * 1e6 / s.SrttUs * (s.Cwnd < s.Ssthresh / 2 ? 2.0 : 1.2); // bytes per second
        return (long)Math.Min(1000, 65536.0 * 4 * 1e6 / rate);
    }

    private void StartRound(in TcpCongestionState s, long nowUs)
    {
        _roundStartUs = _lastAckUs = nowUs;
        _endSeq = s.SndNxt;
        _currRttUs = long.MaxValue;
        _sampleCnt = 0;
        _roundValid = true;
    }

    /// <summary><c>bictcp_update</c>: recomputes cnt from the cubic curve and the Reno-friendly window.</summary>
    private void Update(uint cwnd, uint acked, long nowMs)
    {
        _ackCnt += acked;
        if (_lastCwnd == cwnd && nowMs - _lastTimeMs <= 1000 / 32) return;
        if (!(_epochStartMs >= 0 && nowMs == _lastTimeMs))
        {
            _lastCwnd = cwnd;
            _lastTimeMs = nowMs;
            if (_epochStartMs < 0)
            {
                _epochStartMs = nowMs;
                _ackCnt = acked;
                _tcpCwnd = cwnd;
                if (_lastMaxCwnd <= cwnd)
                {
                    _k = 0;
                    _originPoint = cwnd;
                }
                else
                {
                    _k = (uint)Math.Cbrt((double)CubeFactor * (_lastMaxCwnd - cwnd));
                    _originPoint = _lastMaxCwnd;
                }
            }

            // t + delay_min in 1/1024 s; the kernel rounds delay_min up to a jiffy.
            ulong t = (ulong)(nowMs - _epochStartMs + (_delayMinUs + 999) / 1000);
            t = (t << TimeShift) / 1000;
            ulong offs = t < _k ? _k - t : t - _k;
            uint delta = (uint)(unchecked(CubeRttScale * offs * offs * offs) >> (10 + 3 * TimeShift));
            uint target = t < _k ? unchecked(_originPoint - delta) : unchecked(_originPoint + delta);
            _cnt = target > cwnd ? cwnd / (target - cwnd) : 100 * cwnd;
            if (_lastMaxCwnd == 0 && _cnt > 20) _cnt = 20; // no loss yet: at least 5% a round while the capacity is unknown
        }

        // The Reno-friendly window: never slower than Reno with CUBIC's β would be.
        uint d = (cwnd * (uint)RenoBetaScale) >> 3;
        while (d > 0 && _ackCnt > d)
        {
            _ackCnt -= d;
            _tcpCwnd++;
        }
        if (_tcpCwnd > cwnd)
        {
            uint maxCnt = cwnd / (_tcpCwnd - cwnd);
            if (_cnt > maxCnt) _cnt = maxCnt;
        }
        _cnt = Math.Max(_cnt, 2u);
    }

    /// <summary><c>tcp_cong_avoid_ai</c>: one segment per <paramref name="w"/> ACKed, credits carried in snd_cwnd_cnt.</summary>
    private uint AdditiveIncrease(uint cwnd, uint w, uint acked)
    {
        if (_cwndCnt >= w)
        {
            _cwndCnt = 0;
            cwnd++;
        }
        _cwndCnt += acked;
        if (_cwndCnt >= w)
        {
            uint delta = _cwndCnt / w;
            _cwndCnt -= delta * w;
            cwnd += delta;
        }
        return cwnd;
    }

    /// <summary><c>cubictcp_recalc_ssthresh</c>: the epoch ends, W_max (with fast convergence) and ssthresh = β·cwnd.</summary>
    private void RecalcSsthresh(ref TcpCongestionState s)
    {
        uint cwnd = (uint)Math.Max(1, s.Cwnd / s.Mss);
        _epochStartMs = -1;
        _lastMaxCwnd = _fastConvergence && cwnd < _lastMaxCwnd ? cwnd * (uint)(BetaScale + BetaScaled) / (2 * BetaScale) : cwnd;
        s.Ssthresh = (long)Math.Max(cwnd * (uint)BetaScaled / BetaScale, 2u) * s.Mss;
    }

    /// <summary><c>bictcp_reset</c> with <c>bictcp_hystart_reset</c>.</summary>
    private void Reset()
    {
        _cnt = 0;
        _lastMaxCwnd = _lastCwnd = _originPoint = _tcpCwnd = 0;
        _lastTimeMs = _epochStartMs = -1;
        _k = _ackCnt = 0;
        _delayMinUs = 0;
        _found = false;
        _currRttUs = long.MaxValue;
        _sampleCnt = 0;
    }

    private void SaveForUndo(in TcpCongestionState s)
    {
        _priorCwnd = s.Cwnd;
        _priorSsthresh = s.Ssthresh;
        _canUndo = true;
    }

    public override string ToString() => $"{AlgorithmName} (W_max {_lastMaxCwnd}, K {K:F3} s, cnt {_cnt})";
}
