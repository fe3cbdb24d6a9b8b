namespace Netmem.Stack.Tcp;

/// <summary>
/// The congestion fields of a connection (<c>tcp_sock</c>'s snd_cwnd, snd_ssthresh), in bytes, shared by
/// the engine (which owns them) and its congestion control algorithm (which changes them).
/// </summary>
public struct TcpCongestionState
{
    /// <summary>Sender MSS in bytes (payload per segment, options excluded).</summary>
    public int Mss;
    /// <summary>Congestion window in bytes.</summary>
    public long Cwnd;
    /// <summary>Slow-start threshold in bytes (starts "infinite": <see cref="long.MaxValue"/>).</summary>
    public long Ssthresh;
    /// <summary>Bytes in flight as the engine computes them (RFC 6675 pipe, or snd.nxt - snd.una without SACK).</summary>
    public long BytesInFlight;
    /// <summary>Whether the engine is in fast recovery (or loss recovery after an RTO).</summary>
    public bool InRecovery;
    /// <summary>Whether the application is using the window (cwnd-limited); algorithms grow cwnd only then (RFC 7661).</summary>
    public bool CwndLimited;
    /// <summary>
    /// Whether cwnd was found full in the current window (<c>tp->is_cwnd_limited</c>): <see cref="CwndLimited"/> without
    /// slow start's "below twice the most in flight" allowance, for an algorithm that ends slow start inside an ACK.
    /// </summary>
    public bool CwndFull;
    /// <summary>snd.una after the ACK being processed (HyStart's rounds end when it passes a round's snd.nxt).</summary>
    public uint SndUna;
    /// <summary>The highest sequence number sent (<c>snd_nxt</c> in Linux, which an RTO does not move back).</summary>
    public uint SndNxt;
    /// <summary>The engine's smoothed RTT in µs (0: no sample yet), for the pacing rate an algorithm may derive.</summary>
    public long SrttUs;
}

/// <summary>
/// A pluggable congestion control algorithm (<c>struct tcp_congestion_ops</c>), one instance per
/// connection. The engine calls it on its context's thread; times are the context's microseconds.
/// </summary>
public interface ICongestionControl
{
    /// <summary>The TCP_CONGESTION name: "cubic", "reno".</summary>
    string Name { get; }

    /// <summary>Sets the initial window (RFC 6928: 10 segments) once the MSS is known.</summary>
    void Init(ref TcpCongestionState s, long nowUs);

    /// <summary>
    /// New data cumulatively acknowledged outside recovery (<c>pkts_acked</c> + <c>cong_avoid</c>): slow start or
    /// congestion avoidance. <paramref name="ackedBytes"/> is what the ACK newly delivered; <paramref name="rttUs"/> the
    /// RTT of the newest segment it acknowledged (Linux's <c>ca_rtt_us</c>), or 0 or less when it has none (it covers
    /// a retransmission, or only part of one send).
    /// </summary>
    void OnAck(ref TcpCongestionState s, long ackedBytes, long rttUs, long nowUs);

    /// <summary>Loss detected by duplicate ACKs or SACK (<c>ssthresh</c> + entering recovery): sets ssthresh and cwnd.</summary>
    void OnEnterRecovery(ref TcpCongestionState s, long nowUs);

    /// <summary>Recovery ended (the recovery point was acknowledged): cwnd is deflated to ssthresh.</summary>
    void OnExitRecovery(ref TcpCongestionState s, long nowUs);

    /// <summary>Retransmission timeout (RFC 5681 (4)): ssthresh from flight size, cwnd = 1 segment (loss window).</summary>
    void OnRetransmitTimeout(ref TcpCongestionState s, long nowUs);

    /// <summary>A retransmission judged spurious (undo): restore the state saved on entering recovery or the RTO.</summary>
    void OnUndo(ref TcpCongestionState s, long nowUs);

    /// <summary>
    /// Data is sent with nothing in flight (<c>CA_EVENT_TX_START</c>), <paramref name="lastSendUs"/> being when data was
    /// last sent: an algorithm whose growth follows the clock can leave the idle time out.
    /// </summary>
    void OnTxStart(ref TcpCongestionState s, long lastSendUs, long nowUs);
}
