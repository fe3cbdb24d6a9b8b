namespace Netmem.Stack.Tcp;

/// <summary>
/// CUBIC congestion control (RFC 9438; the kernel's <c>tcp_cubic.c</c>, <c>cubictcp_*</c>/<c>bictcp_*</c>).
/// The window follows W_cubic(t) = C·(t − K)³ + W_max after a reduction, with the Reno-friendly
/// estimate W_est as a floor, fast convergence and β = 0.7.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Windows are in segments (doubles) inside the algorithm and in bytes in <see cref="TcpCongestionState"/>;
/// t is the engine's clock in µs turned into seconds.</item>
/// <item>Per ACK in congestion avoidance, cwnd grows by (target − cwnd)/cwnd segments for each segment the
/// ACK acknowledges (acked bytes / MSS), target being W_cubic(t + RTT) bounded to [cwnd, 1.5·cwnd] (RFC 9438 4.2);
/// the RTT is a 1/8 moving average of the samples the engine passes to <see cref="OnAck"/> (the RTT this ACK
/// measured; 0 when none). Fractions of a byte carry over.</item>
/// <item>When W_cubic(t) &lt; W_est, cwnd is set to W_est (the Reno-friendly region, 4.3); W_est grows by
/// α·acked/cwnd with α = 3(1 − β)/(1 + β), and α = 1 once W_est reaches the cwnd before the last reduction.</item>
/// <item>On loss, ssthresh = cwnd = max(β·cwnd, 2·MSS). RFC 9438 4.6 allows cwnd in place of flight size
/// when growth is limited to cwnd-limited periods, which <see cref="TcpCongestionState.CwndLimited"/> does (RFC 7661).</item>
/// <item>After a timeout (4.8), W_max is forgotten: the next congestion avoidance stage starts with K = 0 and
/// W_max = the cwnd at its start, as after a slow start that ended without loss (4.10).</item>
/// <item>Slow start is Reno's with ABC L = 2. The first slow start (ssthresh still infinite) runs HyStart++
/// (RFC 9406) when <see cref="HyStart"/> is on: an RTT rise of max(4 ms, min(lastRoundMinRTT/8, 16 ms)) over the
/// previous round's minimum (8 samples a round at least) moves it to Conservative Slow Start (growth / 4); an RTT back
/// below the CSS baseline resumes slow start; 5 rounds of CSS end slow start with ssthresh = cwnd. Without sequence
/// numbers in this interface a round is approximated as the bytes in flight when it began being acknowledged.</item>
/// </list>
/// </remarks>
public sealed class Cubic : ICongestionControl
{
    /// <summary>The TCP_CONGESTION name.</summary>
    public const string AlgorithmName = "cubic";
    /// <summary>C, in segments per second³.</summary>
    public const double C = 0.4;
    /// <summary>β_cubic: the multiplicative decrease factor.</summary>
    public const double Beta = 0.7;
    /// <summary>α_cubic = 3(1 − β)/(1 + β): W_est's additive increase per RTT while below the previous window.</summary>
    public const double RenoAlpha = 3 * (1 - Beta) / (1 + Beta);

    private bool _fastConvergence = true;
    private bool _hystart = true;
    private long _srttUs;         // the algorithm's own smoothed RTT, for the target's t + RTT

    // HyStart++ (RFC 9406).
    /// <summary>N_RTT_SAMPLE.</summary>
    public const int HyStartRttSamples = 8;
    /// <summary>CSS_GROWTH_DIVISOR.</summary>
    public const int HyStartCssGrowthDivisor = 4;
    /// <summary>CSS_ROUNDS.</summary>
    public const int HyStartCssRounds = 5;
    /// <summary>MIN_RTT_THRESH and MAX_RTT_THRESH in µs; MIN_RTT_DIVISOR.</summary>
    public const long HyStartMinRttThreshUs = 4_000, HyStartMaxRttThreshUs = 16_000;
    public const int HyStartMinRttDivisor = 8;
    private long _roundBytesLeft;
    private long _lastRoundMinRtt, _curRoundMinRtt, _cssBaselineMinRtt;
    private int _rttSamples, _cssRounds;
    private bool _inCss;
    private long _cssCarry;

    // The current congestion avoidance epoch (RFC 9438 4.1's t_epoch, cwnd_epoch, K, W_max, W_est).
    private long _epochStartUs = -1;
    private double _k;            // seconds
    private double _origin;       // the plateau W_cubic returns to: W_max, or cwnd_epoch when W_max is below it or unknown
    private double _wEst;         // segments
    private double _fracBytes;    // fractional cwnd growth carried between ACKs

    // Across epochs.
    private double _wMax;         // segments; 0: unknown (no reduction yet, or forgotten after a timeout)
    private double _cwndPrior;    // segments: cwnd before the last reduction (0: none yet)

    // Undo (RFC 9438 4.9).
    private bool _canUndo;
    private long _priorCwnd, _priorSsthresh;
    private double _priorWMax, _priorCwndPrior;

    public string Name => AlgorithmName;

    /// <summary>Fast convergence (RFC 9438 4.7), on by default like Linux's <c>fast_convergence</c>.</summary>
    public bool FastConvergence { get => _fastConvergence; set => _fastConvergence = value; }

    /// <summary>HyStart++ in the first slow start (RFC 9406), on by default like Linux's <c>hystart</c>.</summary>
    public bool HyStart { get => _hystart; set => _hystart = value; }
    /// <summary>Whether HyStart++ is in Conservative Slow Start.</summary>
    public bool InConservativeSlowStart => _inCss;
    /// <summary>Times HyStart++ ended slow start (set ssthresh = cwnd) without a loss.</summary>
    public long HyStartExits { get; private set; }

    /// <summary>W_max in segments (0 when unknown).</summary>
    public double WMax => _wMax;
    /// <summary>K of the current epoch in seconds (0 before one starts).</summary>
    public double K => _k;
    /// <summary>The Reno-friendly estimate W_est of the current epoch, in segments.</summary>
    public double WEst => _wEst;
    /// <summary>Whether a congestion avoidance epoch is running (t_epoch is set).</summary>
    public bool InEpoch => _epochStartUs >= 0;

    public void Init(ref TcpCongestionState s, long nowUs)
    {
        s.Cwnd = NewReno.InitialWindow(s.Mss);
        if (s.Ssthresh <= 0) s.Ssthresh = long.MaxValue;
        _epochStartUs = -1;
        _k = _origin = _wEst = _fracBytes = 0;
        _wMax = _cwndPrior = 0;
        _canUndo = false;
        _srttUs = 0;
        ResetHyStart();
    }

    public void OnAck(ref TcpCongestionState s, long ackedBytes, long rttUs, long nowUs)
    {
        if (rttUs > 0) _srttUs = _srttUs == 0 ? rttUs : _srttUs + (rttUs - _srttUs) / 8;
        if (ackedBytes <= 0 || !s.CwndLimited || s.InRecovery) return;
        if (s.Cwnd < s.Ssthresh)
        {
            if (_hystart && s.Ssthresh == long.MaxValue)
            {
                HyStartAck(ref s, ackedBytes, rttUs);
                return;
            }
            ackedBytes = NewReno.SlowStart(ref s, ackedBytes);
            if (ackedBytes == 0) return;
        }

        int mss = s.Mss;
        double cwnd = (double)s.Cwnd / mss;
        if (_epochStartUs < 0) StartEpoch(cwnd, nowUs);

        double t = (nowUs - _epochStartUs) / 1e6;
        double rtt = _srttUs / 1e6;
        double acked = (double)ackedBytes / mss;

        // Reno-friendly estimate (4.3).
        double alpha = _wEst >= _cwndPrior ? 1.0 : RenoAlpha;
        _wEst += alpha * acked / cwnd;

        if (WCubic(t) < _wEst)
        {
            long est = (long)(_wEst * mss);
            if (est > s.Cwnd)
            {
                s.Cwnd = est;
                _fracBytes = 0;
                return;
            }
        }

        // Concave or convex region (4.4, 4.5).
        double target = Math.Clamp(WCubic(t + rtt), cwnd, 1.5 * cwnd);
        _fracBytes += (target - cwnd) / cwnd * acked * mss;
        long whole = (long)_fracBytes;
        s.Cwnd += whole;
        _fracBytes -= whole;
    }

    public void OnEnterRecovery(ref TcpCongestionState s, long nowUs)
    {
        SaveForUndo(s);
        Reduce(ref s);
        s.Cwnd = s.Ssthresh;
    }

    public void OnExitRecovery(ref TcpCongestionState s, long nowUs)
    {
        if (s.Ssthresh != long.MaxValue) s.Cwnd = s.Ssthresh;
        _epochStartUs = -1;
    }

    public void OnRetransmitTimeout(ref TcpCongestionState s, long nowUs)
    {
        // A timeout inside a recovery, or a repeated timeout, keeps the ssthresh of the first reduction.
        if (!s.InRecovery)
        {
            SaveForUndo(s);
            Reduce(ref s);
        }
        _wMax = 0; // 4.8: the next epoch starts with K = 0 from its own cwnd
        s.Cwnd = s.Mss;
        _epochStartUs = -1;
    }

    public void OnUndo(ref TcpCongestionState s, long nowUs)
    {
        if (!_canUndo) return;
        s.Cwnd = Math.Max(s.Cwnd, _priorCwnd);
        s.Ssthresh = Math.Max(s.Ssthresh, _priorSsthresh);
        _wMax = _priorWMax;
        _cwndPrior = _priorCwndPrior;
        _epochStartUs = -1;
        _canUndo = false;
    }

    /// <summary>One slow-start ACK under HyStart++ (RFC 9406 4.2): rounds, RTT minimums, CSS entry and exit.</summary>
    private void HyStartAck(ref TcpCongestionState s, long ackedBytes, long rttUs)
    {
        if (_roundBytesLeft <= 0)
        {
            // A new round: windowEnd would be snd.nxt now, so the round lasts until what is in flight is acknowledged.
            _lastRoundMinRtt = _curRoundMinRtt;
            _curRoundMinRtt = long.MaxValue;
            _rttSamples = 0;
            _roundBytesLeft = Math.Max(s.BytesInFlight, s.Mss);
            if (_inCss && ++_cssRounds >= HyStartCssRounds)
            {
                // Slow start is over without a loss: congestion avoidance from here (RFC 9438 4.10: K = 0).
                s.Ssthresh = s.Cwnd;
                _inCss = false;
                HyStartExits++;
                return;
            }
        }
        _roundBytesLeft -= ackedBytes;
        if (rttUs > 0)
        {
            if (rttUs < _curRoundMinRtt) _curRoundMinRtt = rttUs;
            _rttSamples++;
        }

        long inc = ackedBytes; // no ABC cap, as in plain slow start (Linux)
        bool judged = _rttSamples >= HyStartRttSamples && _curRoundMinRtt != long.MaxValue && _lastRoundMinRtt != long.MaxValue;
        if (!_inCss)
        {
            s.Cwnd += inc;
            if (judged)
            {
                long thresh = Math.Clamp(_lastRoundMinRtt / HyStartMinRttDivisor, HyStartMinRttThreshUs, HyStartMaxRttThreshUs);
                if (_curRoundMinRtt >= _lastRoundMinRtt + thresh)
                {
                    _cssBaselineMinRtt = _curRoundMinRtt;
                    _inCss = true;
                    _cssRounds = 0;
                    _cssCarry = 0;
                }
            }
        }
        else
        {
            _cssCarry += inc;
            s.Cwnd += _cssCarry / HyStartCssGrowthDivisor;
            _cssCarry %= HyStartCssGrowthDivisor;
            if (judged && _curRoundMinRtt < _cssBaselineMinRtt)
            {
                // The RTT came back down: the rise was not congestion; resume slow start.
                _cssBaselineMinRtt = long.MaxValue;
                _inCss = false;
            }
        }
    }

    private void ResetHyStart()
    {
        _roundBytesLeft = 0;
        _lastRoundMinRtt = _curRoundMinRtt = _cssBaselineMinRtt = long.MaxValue;
        _rttSamples = _cssRounds = 0;
        _inCss = false;
        _cssCarry = 0;
    }

    /// <summary>W_cubic(t) of the current epoch, in segments.</summary>
    public double WCubic(double tSeconds)
    {
        double d = tSeconds - _k;
        return C * d * d * d + _origin;
    }

    private void StartEpoch(double cwnd, long nowUs)
    {
        _epochStartUs = nowUs;
        _fracBytes = 0;
        _wEst = cwnd;
        if (_cwndPrior <= 0) _cwndPrior = cwnd; // no reduction yet: slow start ended without loss (4.10)
        if (_wMax > cwnd)
        {
            _k = Math.Cbrt((_wMax - cwnd) / C);
            _origin = _wMax;
        }
        else
        {
            _k = 0;
            _origin = cwnd;
        }
    }

    /// <summary>Multiplicative decrease with fast convergence (4.6, 4.7): sets W_max, cwnd_prior and ssthresh.</summary>
    private void Reduce(ref TcpCongestionState s)
    {
        ResetHyStart(); // a loss ends slow start, conservative or not
        double cwnd = (double)s.Cwnd / s.Mss;
        _wMax = _fastConvergence && cwnd < _wMax ? cwnd * (1 + Beta) / 2 : cwnd;
        _cwndPrior = cwnd;
        s.Ssthresh = Math.Max((long)(s.Cwnd * Beta), 2L * s.Mss);
        _epochStartUs = -1;
    }

    private void SaveForUndo(in TcpCongestionState s)
    {
        _priorCwnd = s.Cwnd;
        _priorSsthresh = s.Ssthresh;
        _priorWMax = _wMax;
        _priorCwndPrior = _cwndPrior;
        _canUndo = true;
    }

    public override string ToString() => $"{AlgorithmName} (W_max {_wMax:F1}, K {_k:F3} s, W_est {_wEst:F1})";
}
