namespace Netmem.Stack.Tcp;

/// <summary>
/// Reno/NewReno congestion control (RFC 5681; the kernel's <c>tcp_reno_cong_avoid</c>,
/// <c>tcp_reno_ssthresh</c>, <c>tcp_reno_undo_cwnd</c>). Partial-ACK handling (RFC 6582) and the
/// retransmissions themselves are the engine's; this type only moves cwnd and ssthresh.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Initial window: RFC 6928, min(10·MSS, max(2·MSS, 14600)).</item>
/// <item>Slow start with Appropriate Byte Counting, L = 2 (RFC 3465): cwnd += min(acked, 2·MSS) per ACK;
/// the part of an ACK that crosses ssthresh is counted in congestion avoidance.</item>
/// <item>Congestion avoidance counted in bytes (RFC 3465 2.1): one MSS each time a full cwnd has been acknowledged.</item>
/// <item>Loss (RFC 5681 (4), RFC 6675 4.2 style): ssthresh = max(FlightSize/2, 2·MSS) and cwnd = ssthresh — no
/// 3·MSS inflation, since the engine counts pipe rather than duplicate ACKs.</item>
/// <item>RTO: the same ssthresh (held constant on a repeated timeout, RFC 5681 3.1's note), cwnd = 1·MSS.</item>
/// <item>Undo: cwnd and ssthresh go back to at least what they were before the reduction.</item>
/// </list>
/// Growth happens only while the engine says the connection is cwnd-limited (RFC 7661).
/// </remarks>
public sealed class NewReno : ICongestionControl
{
    /// <summary>The TCP_CONGESTION name.</summary>
    public const string AlgorithmName = "reno";

    private long _bytesAcked;     // congestion avoidance byte counter (RFC 3465)
    private long _priorCwnd, _priorSsthresh;
    private bool _canUndo;

    public string Name => AlgorithmName;

    public void Init(ref TcpCongestionState s, long nowUs)
    {
        s.Cwnd = InitialWindow(s.Mss);
        if (s.Ssthresh <= 0) s.Ssthresh = long.MaxValue;
        _bytesAcked = 0;
        _canUndo = false;
    }

    public void OnAck(ref TcpCongestionState s, long ackedBytes, long rttUs, long nowUs)
    {
        if (ackedBytes <= 0 || !s.CwndLimited || s.InRecovery) return;
        ackedBytes = SlowStart(ref s, ackedBytes);
        if (ackedBytes > 0) CongestionAvoidance(ref s, ref _bytesAcked, ackedBytes);
    }

    public void OnEnterRecovery(ref TcpCongestionState s, long nowUs)
    {
        SaveForUndo(s);
        s.Ssthresh = HalfFlight(s);
        s.Cwnd = s.Ssthresh;
        _bytesAcked = 0;
    }

    public void OnExitRecovery(ref TcpCongestionState s, long nowUs)
    {
        if (s.Ssthresh != long.MaxValue) s.Cwnd = s.Ssthresh;
        _bytesAcked = 0;
    }

    public void OnRetransmitTimeout(ref TcpCongestionState s, long nowUs)
    {
        // A timeout during a recovery (or a second timeout) keeps the ssthresh of the first reduction.
        if (!s.InRecovery)
        {
            SaveForUndo(s);
            s.Ssthresh = HalfFlight(s);
        }
        s.Cwnd = s.Mss;
        _bytesAcked = 0;
    }

    public void OnUndo(ref TcpCongestionState s, long nowUs)
    {
        if (!_canUndo) return;
        s.Cwnd = Math.Max(s.Cwnd, _priorCwnd);
        s.Ssthresh = Math.Max(s.Ssthresh, _priorSsthresh);
        _canUndo = false;
        _bytesAcked = 0;
    }

    /// <summary>Reno's growth counts ACKs, not time: nothing to do after idle.</summary>
    public void OnTxStart(ref TcpCongestionState s, long lastSendUs, long nowUs) { }

    private void SaveForUndo(in TcpCongestionState s)
    {
        _priorCwnd = s.Cwnd;
        _priorSsthresh = s.Ssthresh;
        _canUndo = true;
    }

    private static long HalfFlight(in TcpCongestionState s) => Math.Max(s.BytesInFlight / 2, 2L * s.Mss);

    /// <summary>RFC 6928's initial window for <paramref name="mss"/>.</summary>
    internal static long InitialWindow(int mss)
    {
        if (mss <= 0) throw new ArgumentOutOfRangeException(nameof(mss), mss, "the congestion window needs the MSS: set TcpCongestionState.Mss before Init");
        return Math.Min(10L * mss, Math.Max(2L * mss, 14600));
    }

    /// <summary>
    /// Slow start while cwnd &lt; ssthresh, never past ssthresh; returns the acknowledged bytes left over
    /// for congestion avoidance (<c>tcp_slow_start</c>'s return). As Linux, cwnd grows by everything a
    /// (stretch) ACK covers: no RFC 3465 L = 2 cap, which Linux dropped with tcp_abc; packetdrill's
    /// slow-start scripts check exactly that growth.
    /// </summary>
    internal static long SlowStart(ref TcpCongestionState s, long ackedBytes)
    {
        if (s.Cwnd >= s.Ssthresh) return ackedBytes;
        long room = s.Ssthresh - s.Cwnd;
        long inc = Math.Min(ackedBytes, room);
        s.Cwnd += inc;
        return s.Cwnd >= s.Ssthresh ? ackedBytes - inc : 0;
    }

    /// <summary>Byte-counted congestion avoidance: one MSS per cwnd of acknowledged bytes.</summary>
    internal static void CongestionAvoidance(ref TcpCongestionState s, ref long bytesAcked, long ackedBytes)
    {
        bytesAcked += ackedBytes;
        while (bytesAcked >= s.Cwnd && s.Cwnd > 0)
        {
            bytesAcked -= s.Cwnd;
            s.Cwnd += s.Mss;
        }
    }

    public override string ToString() => AlgorithmName;
}
