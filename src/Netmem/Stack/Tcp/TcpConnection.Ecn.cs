using Netmem.Wire;

namespace Netmem.Stack.Tcp;

/// <summary>
/// ECN's reaction to congestion marks once it is negotiated (RFC 3168 6.1; Linux's tcp_ecn_check_ce,
/// tcp_ecn_accept_cwr, tcp_enter_cwr, tcp_ecn_send). As receiver: data arriving CE-marked makes every ACK
/// carry ECE until the sender's CWR arrives. As sender: an ACK with ECE reduces the window once per
/// window of data (the CWR state: ssthresh from the congestion control, cwnd brought down to it by
/// proportional rate reduction as Linux does) and the next new data segment carries CWR.
/// </summary>
public sealed partial class TcpConnection
{
    private bool _ecnDemandCwr; // TCP_ECN_DEMAND_CWR: echo ECE until the peer's CWR
    private bool _ecnQueueCwr;  // TCP_ECN_QUEUE_CWR: put CWR on the next new data
    private bool _inCwr;        // TCP_CA_CWR: reduced for congestion, until snd.una reaches _cwrHighSeq
    private uint _cwrHighSeq;

    /// <summary>Whether the window was reduced for an ECN echo and the reduction's window of data is not yet acknowledged.</summary>
    internal bool InCwr => _inCwr;

    /// <summary>The receiver's part, before the segment's data is queued (<c>tcp_ecn_accept_cwr</c>, <c>__tcp_ecn_check_ce</c>).</summary>
    private void EcnReceive(in TcpSegment seg)
    {
        if (!_ecnOk) return;
        if ((seg.Flags & TcpFlags.Cwr) != 0)
        {
            _ecnDemandCwr = false;
            if (seg.PayloadLength > 0) _quickAck = true; // the sender's cwnd may be tiny now: ACK at once
        }
        if (seg.PayloadLength > 0 && seg.Ecn == EcnCe && !_ecnDemandCwr)
        {
            _ecnDemandCwr = true;
            _quickAcks = Math.Max(_quickAcks, 2); // tcp_enter_quickack_mode(sk, 2): do not delay the echo
            TcpStats.Inc(ref _layer.Stats.EcnCeReceived);
        }
    }

    /// <summary>
    /// The sender's part, for an ACK of <paramref name="ack"/> before its congestion update: the CWR state ends
    /// once snd.una reaches what was sent when it began (<c>tcp_end_cwnd_reduction</c>: cwnd = ssthresh), and an
    /// ECE with data in flight starts it (<c>tcp_enter_cwr</c> from <c>tcp_try_to_open</c>) unless a reduction
    /// (CWR or recovery) is already running. The ACK's own delivery is then paced by <see cref="CwrReduce"/>.
    /// </summary>
    private void EcnAck(in TcpSegment seg, uint ack)
    {
        if (!_ecnOk) return;
        if (_inCwr && SeqNum.Ge(ack, _cwrHighSeq))
        {
            _inCwr = false;
            if (Cong.Ssthresh != long.MaxValue) Cong.Cwnd = Cong.Ssthresh;
        }
        if ((seg.Flags & TcpFlags.Ece) == 0 || seg.Syn || _inCwr || _inRecovery) return; // _inRecovery covers the RTO's loss state too
        if (State is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)) return;
        if (_sndUna == _sndMax) return; // nothing in flight to reduce for
        long prior = Cong.Cwnd;
        _cc.OnEnterRecovery(ref Cong, _ctx.NowUs); // ssthresh from the algorithm (cubic: 0.7 W)
        Cong.Cwnd = prior;                          // PRR brings cwnd down to it ACK by ACK (tcp_init_cwnd_reduction)
        _recoverFs = Math.Max(_mss, prior);         // Linux divides by prior_cwnd in CWR
        _prrDelivered = 0;
        _prrOut = 0;
        _inCwr = true;
        _cwrHighSeq = _sndMax;
        _ecnQueueCwr = true;
        TcpStats.Inc(ref _layer.Stats.EcnReductions);
    }

    /// <summary>
    /// <c>tcp_cwnd_reduction</c> in the CWR state, for an ACK that delivered <paramref name="delivered"/> bytes:
    /// proportional rate reduction (RFC 6937) towards ssthresh as in recovery, but nothing is lost, so
    /// nothing is retransmitted: the allowance goes to new data.
    /// </summary>
    private void CwrReduce(long delivered, bool unaAdvanced)
    {
        if (delivered > 0) Cong.Cwnd = Math.Max(_mss, PrrCwnd(delivered, unaAdvanced, InFlight()));
    }

    /// <summary><c>tcp_ecn_send</c>: ECE on what we send while the peer's CWR is owed; CWR once, on the next new data.</summary>
    private TcpFlags EcnFlags(uint seq, int len, TcpFlags flags)
    {
        if (!_ecnOk || (flags & (TcpFlags.Syn | TcpFlags.Rst)) != 0) return flags;
        if (_ecnDemandCwr && (flags & TcpFlags.Ack) != 0) flags |= TcpFlags.Ece;
        if (_ecnQueueCwr && len > 0 && !SeqNum.Lt(seq, _sndMax))
        {
            flags |= TcpFlags.Cwr;
            _ecnQueueCwr = false;
        }
        return flags;
    }

    private const byte EcnCe = 3;
}
