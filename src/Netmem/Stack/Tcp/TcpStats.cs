namespace Netmem.Stack.Tcp;

/// <summary>
/// Counters of one <see cref="TcpLayer"/> (the TCP MIB, /proc/net/snmp and netstat's TcpExt). Updated
/// from any flow-owning context with interlocked adds; read as a snapshot.
/// </summary>
public sealed class TcpStats
{
    private readonly long[] _drops = new long[(int)TcpDropReason.Count];
    internal long InSegs, OutSegs, RetransSegs, OutRsts, InErrs, ActiveOpens, PassiveOpens, AttemptFails, EstabResets, IcmpErrs;
    internal long ChallengeAcks, ChallengeAcksLimited, LossProbes, FastRetransmits, SackRecoveries, Timeouts, ZeroWindowProbes, KeepaliveProbes, TimeWaitExpired, DelayedAcks, Handoffs, OfoQueued, DsacksSent, EcnCeReceived, EcnReductions, ReadFaults, DevmemFrags;
    internal long FastOpenActive, FastOpenActiveFail, FastOpenPassive, FastOpenPassiveFail, FastOpenCookieReqd, FastOpenListenOverflow, FastOpenPassiveAltKey;
    internal long ZerocopySends, ZerocopyCopiedSends, ZerocopyIgnored, ZerocopyFragCuts, LinearSegs;
    internal long DevmemTxSends, DevmemTxRefused;

    public long GetDrops(TcpDropReason reason) => Interlocked.Read(ref _drops[(int)reason]);
    public long TotalDrops { get { long s = 0; for (int i = 0; i < _drops.Length; i++) s += Interlocked.Read(ref _drops[i]); return s; } }
    internal void Drop(TcpDropReason reason) => Interlocked.Increment(ref _drops[(int)reason]);

    public long InSegments => Interlocked.Read(ref InSegs);
    public long OutSegments => Interlocked.Read(ref OutSegs);
    public long RetransmittedSegments => Interlocked.Read(ref RetransSegs);
    public long OutResets => Interlocked.Read(ref OutRsts);
    public long ActiveOpenCount => Interlocked.Read(ref ActiveOpens);
    public long PassiveOpenCount => Interlocked.Read(ref PassiveOpens);
    public long AttemptFailCount => Interlocked.Read(ref AttemptFails);
    public long ChallengeAckCount => Interlocked.Read(ref ChallengeAcks);
    /// <summary>Tail loss probes sent (LINUX_MIB_TCPLOSSPROBES).</summary>
    public long LossProbeCount => Interlocked.Read(ref LossProbes);
    public long ChallengeAckLimitedCount => Interlocked.Read(ref ChallengeAcksLimited);
    public long FastRetransmitCount => Interlocked.Read(ref FastRetransmits);
    public long SackRecoveryCount => Interlocked.Read(ref SackRecoveries);
    public long TimeoutCount => Interlocked.Read(ref Timeouts);
    public long ZeroWindowProbeCount => Interlocked.Read(ref ZeroWindowProbes);
    public long KeepaliveProbeCount => Interlocked.Read(ref KeepaliveProbes);
    public long IcmpErrorCount => Interlocked.Read(ref IcmpErrs);
    public long TimeWaitExpiredCount => Interlocked.Read(ref TimeWaitExpired);
    public long DelayedAckCount => Interlocked.Read(ref DelayedAcks);
    /// <summary>Segments that arrived on another context than their connection's and were handed over to it.</summary>
    public long HandoffCount => Interlocked.Read(ref Handoffs);
    /// <summary>TcpExt TCPOFOQueue: data segments that arrived out of order and were kept in the out-of-order queue.</summary>
    public long OutOfOrderQueuedCount => Interlocked.Read(ref OfoQueued);
    /// <summary>TcpExt TCPDSACKOldSent + TCPDSACKOfoSent: D-SACK blocks sent for duplicate data (RFC 2883).</summary>
    public long DsackSentCount => Interlocked.Read(ref DsacksSent);
    /// <summary>Data segments that arrived CE-marked and started an ECE echo (TcpExt TCPECNCeReceived-like).</summary>
    public long EcnCeReceivedCount => Interlocked.Read(ref EcnCeReceived);
    /// <summary>Window reductions for an ECN echo (entries into the CWR state).</summary>
    public long EcnReductionCount => Interlocked.Read(ref EcnReductions);
    /// <summary>Reads that failed at their first byte (EFAULT: unreadable data read without devmem; ENODEV, ETOOSMALL: devmem receive).</summary>
    public long ReadFaultCount => Interlocked.Read(ref ReadFaults);
    /// <summary>Dmabuf frags handed to applications as devmem tokens.</summary>
    public long DevmemFragCount => Interlocked.Read(ref DevmemFrags);

    /// <summary>TcpExt TCPFastOpenActive: SYNs whose data the server acknowledged in full.</summary>
    public long FastOpenActiveCount => Interlocked.Read(ref FastOpenActive);
    /// <summary>TcpExt TCPFastOpenActiveFail: SYN data not (all) acknowledged, sent again after the handshake.</summary>
    public long FastOpenActiveFailCount => Interlocked.Read(ref FastOpenActiveFail);
    /// <summary>TcpExt TCPFastOpenPassive: children created from a SYN (with data or a valid cookie) without the handshake.</summary>
    public long FastOpenPassiveCount => Interlocked.Read(ref FastOpenPassive);
    /// <summary>TcpExt TCPFastOpenPassiveFail: SYNs with a cookie that did not check out (answered with a fresh cookie).</summary>
    public long FastOpenPassiveFailCount => Interlocked.Read(ref FastOpenPassiveFail);
    /// <summary>TcpExt TCPFastOpenCookieReqd: SYNs asking for a cookie.</summary>
    public long FastOpenCookieRequestCount => Interlocked.Read(ref FastOpenCookieReqd);
    /// <summary>TcpExt TCPFastOpenListenOverflow: Fast Open SYNs a full Fast Open queue turned into ordinary ones.</summary>
    public long FastOpenListenOverflowCount => Interlocked.Read(ref FastOpenListenOverflow);
    /// <summary>TcpExt TCPFastOpenPassiveAltKey: cookies that checked out under the backup key.</summary>
    public long FastOpenPassiveAltKeyCount => Interlocked.Read(ref FastOpenPassiveAltKey);
    /// <summary>MSG_ZEROCOPY sends that queued bytes (each took a send id).</summary>
    public long ZerocopySendCount => Interlocked.Read(ref ZerocopySends);
    /// <summary>devmem TX sends that queued bytes from a dma-buf (each also counts as a zero-copy send).</summary>
    public long DevmemTxSendCount => Interlocked.Read(ref DevmemTxSends);
    /// <summary>devmem TX sends refused before queueing (no such TX binding, another device, no checksum offload or SG, a range past the dma-buf).</summary>
    public long DevmemTxRefusedCount => Interlocked.Read(ref DevmemTxRefused);
    /// <summary>MSG_ZEROCOPY sends copied at send time (the route has no scatter-gather): their completion says COPIED.</summary>
    public long ZerocopyCopiedSendCount => Interlocked.Read(ref ZerocopyCopiedSends);
    /// <summary>MSG_ZEROCOPY sends on a socket without SO_ZEROCOPY: sent as ordinary copies, no completion (as Linux ignores the flag).</summary>
    public long ZerocopyIgnoredCount => Interlocked.Read(ref ZerocopyIgnored);
    /// <summary>Segments ended early because their frags (MAX_SKB_FRAGS) or their send's completion ran out (sent with PSH).</summary>
    public long ZerocopyFragCutCount => Interlocked.Read(ref ZerocopyFragCuts);
    /// <summary>Segments whose payload was copied into a linear head for a device without scatter-gather.</summary>
    public long LinearSegmentCount => Interlocked.Read(ref LinearSegs);

    internal static void Inc(ref long field) => Interlocked.Increment(ref field);
    internal static void Add(ref long field, long n) => Interlocked.Add(ref field, n);
}
