namespace Netmem.Stack.Tcp;

/// <summary>
/// RACK loss detection (RFC 8985 6, Linux's tcp_recovery.c with net.ipv4.tcp_recovery = 1): a segment is lost
/// once a segment sent after it has been delivered and more than the RTT of that delivery plus a reordering
/// window has passed since it was sent. The state is that of the most recently sent segment known delivered
/// (<c>tp->rack</c>: its transmission time, end, the RTT it gave); <see cref="DetectLoss"/> marks ranges of the
/// <see cref="TcpRtxQueue"/> lost and says how long the others still have, for the reorder timer.
/// </summary>
public sealed class Rack
{
    /// <summary>TCP_RACK_RECOVERY_THRESH: recoveries a D-SACK-widened window survives.</summary>
    public const int RecoveryThresh = 16;

    /// <summary>rack.mstamp: transmission time of the most recently sent delivered segment.</summary>
    public long XmitUs { get; private set; }
    /// <summary>rack.end_seq: its end.</summary>
    public uint EndSeq { get; private set; }
    /// <summary>rack.rtt_us: the RTT the last <see cref="Advance"/> measured.</summary>
    public long RttUs { get; private set; }
    /// <summary>rack.advanced: a delivery moved the state since the last <see cref="DetectLoss"/> (nothing to scan otherwise).</summary>
    public bool Advanced { get; set; }
    /// <summary>rack.reo_wnd_steps: the reordering window in units of min_rtt/4 (D-SACKs widen it).</summary>
    public int ReoWndSteps { get; private set; } = 1;
    /// <summary>rack.reo_wnd_persist: recoveries left before a widened window returns to one step.</summary>
    public int ReoWndPersist { get; private set; }
    /// <summary>rack.dsack_seen: a D-SACK arrived since the window was last adjusted.</summary>
    public bool DsackSeen { get; set; }
    private long _lastStepUs = long.MinValue / 2;
    private bool _valid; // a delivery has been recorded: sequence comparisons with the zero state would depend on the ISN

    /// <summary>Forgets the delivery state (a new connection).</summary>
    public void Reset()
    {
        XmitUs = 0;
        EndSeq = 0;
        _valid = false;
        RttUs = 0;
        Advanced = false;
        ReoWndSteps = 1;
        ReoWndPersist = 0;
        DsackSeen = false;
    }

    /// <summary>
    /// <c>tcp_rack_advance</c>: a segment [.., <paramref name="endSeq"/>) sent at <paramref name="xmitUs"/> was (S)ACKed now.
    /// A retransmitted one whose RTT would be below min_rtt was more likely delivered by an earlier
    /// transmission, so it says nothing about when its last transmission arrived: ignored.
    /// </summary>
    public void Advance(TcpRtxFlags flags, uint endSeq, long xmitUs, long nowUs, long minRttUs)
    {
        long rtt = Math.Max(0, nowUs - xmitUs);
        if ((flags & (TcpRtxFlags.Retrans | TcpRtxFlags.EverRetrans)) != 0 && rtt < minRttUs) return;
        Advanced = true;
        RttUs = rtt;
        if (!_valid || SentAfter(xmitUs, endSeq, XmitUs, EndSeq))
        {
            XmitUs = xmitUs;
            EndSeq = endSeq;
            _valid = true;
        }
    }

    /// <summary><c>tcp_skb_sent_after</c>: sent later, or at the same time and ending later.</summary>
    public static bool SentAfter(long t1, uint seq1, long t2, uint seq2) => t1 > t2 || (t1 == t2 && SeqNum.Gt(seq1, seq2));

    /// <summary>
    /// <c>tcp_rack_reo_wnd</c>: no reordering window while none has been seen and the flow is recovering, or
    /// <paramref name="sackedSegs"/> already reach the duplicate threshold (<paramref name="reordering"/>) unless
    /// <paramref name="noDupThresh"/>; else min_rtt/4 per step, at most SRTT.
    /// </summary>
    public long ReoWnd(int reordSeen, bool inRecovery, long sackedSegs, int reordering, bool noDupThresh, long minRttUs, long srttUs)
    {
        if (reordSeen == 0)
        {
            if (inRecovery) return 0;
            if (sackedSegs >= reordering && !noDupThresh) return 0;
        }
        return Math.Min((minRttUs >> 2) * ReoWndSteps, srttUs);
    }

    /// <summary>
    /// <c>tcp_rack_detect_loss</c>: marks lost every range not SACKed (and not lost and waiting for its
    /// retransmission) that was sent before the RACK segment and has waited longer than RTT + <paramref name="reoWndUs"/>;
    /// a lost retransmission loses its RETRANS bit. Returns the bytes newly marked; <paramref name="waitUs"/> is
    /// the longest any other such range still has (0: none).
    /// </summary>
    public long DetectLoss(TcpRtxQueue q, long nowUs, long reoWndUs, out long waitUs)
    {
        waitUs = 0;
        long marked = 0;
        if (!_valid) return 0;
        for (int i = 0; i < q.Count; i++)
        {
            ref var e = ref q[i];
            var f = e.Flags;
            if ((f & TcpRtxFlags.Sacked) != 0) continue;
            if ((f & TcpRtxFlags.Lost) != 0 && (f & TcpRtxFlags.Retrans) == 0) continue; // waiting for its retransmission
            if (!SentAfter(XmitUs, EndSeq, e.XmitUs, e.End)) continue;
            // A retransmission leaves after the ACK that asked for it, so a delivery timed at the same instant
            // cannot be from a later send (only a clock that does not move, as virtual time, makes them equal).
            if ((f & TcpRtxFlags.Retrans) != 0 && e.XmitUs >= XmitUs) continue;
            long remaining = RttUs + reoWndUs - (nowUs - e.XmitUs);
            if (remaining <= 0)
            {
                q.ClearFlags(i, TcpRtxFlags.Retrans);
                q.SetFlags(i, TcpRtxFlags.Lost);
                marked += e.Length;
            }
            else if (remaining > waitUs) waitUs = remaining;
        }
        return marked;
    }

    /// <summary>
    /// <c>tcp_rack_update_reo_wnd</c> (once per ACK): a D-SACK means a retransmission was spurious, so the window
    /// grows a step (at most once per RTT, here <paramref name="srttUs"/> since the last step) and stays wide for
    /// <see cref="RecoveryThresh"/> recoveries; without D-SACKs and once those have passed it is one step again.
    /// <paramref name="staticWnd"/> (tcp_recovery bit 2) keeps it at one step.
    /// </summary>
    public void UpdateReoWnd(long nowUs, long srttUs, bool staticWnd)
    {
        if (staticWnd) return;
        if (DsackSeen && nowUs - _lastStepUs < srttUs) DsackSeen = false; // an RTT has not passed since the last step
        if (DsackSeen)
        {
            ReoWndSteps = Math.Min(0xFF, ReoWndSteps + 1);
            DsackSeen = false;
            _lastStepUs = nowUs;
            ReoWndPersist = RecoveryThresh;
        }
        else if (ReoWndPersist == 0) ReoWndSteps = 1;
    }

    /// <summary>A recovery ended: one fewer before a widened window shrinks back.</summary>
    public void OnRecoveryExit()
    {
        if (ReoWndPersist > 0) ReoWndPersist--;
    }

    public override string ToString() => $"rack (xmit {XmitUs} µs, end {EndSeq}, rtt {RttUs} µs, steps {ReoWndSteps})";
}
