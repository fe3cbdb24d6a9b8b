namespace Netmem.Stack;

/// <summary>The IP-MIB / ICMP-MIB counters the stack keeps (RFC 4293 names, as <c>nstat</c> shows them).</summary>
public enum IpMib
{
    /// <summary>IpInReceives: IPv4 datagrams handed up by a device.</summary>
    InReceives,
    /// <summary>IpInDelivers: datagrams given to a transport protocol.</summary>
    InDelivers,
    /// <summary>IpOutRequests: datagrams transports asked to send.</summary>
    OutRequests,
    /// <summary>Frames handed to a device (after fragmentation and segmentation).</summary>
    OutTransmits,
    /// <summary>IpReasmReqds: fragments received.</summary>
    ReasmReqds,
    /// <summary>IpReasmOKs: datagrams reassembled.</summary>
    ReasmOKs,
    /// <summary>IpReasmFails: reassembly failures (timeouts, overlaps, limits).</summary>
    ReasmFails,
    /// <summary>Fragments that became part of a reassembled datagram without being its head.</summary>
    ReasmMerged,
    /// <summary>IpFragOKs: datagrams fragmented on output.</summary>
    FragOKs,
    /// <summary>IpFragCreates: fragments made.</summary>
    FragCreates,
    /// <summary>IpFragFails: datagrams that needed fragmentation but could not be (DF, unreadable).</summary>
    FragFails,
    /// <summary>GSO skbs segmented in software because the device lacks TSO.</summary>
    GsoSegmented,
    IcmpInMsgs,
    IcmpOutMsgs,
    IcmpInEchos,
    IcmpOutEchoReps,
    IcmpInEchoReps,
    IcmpOutDestUnreachs,
    IcmpOutTimeExcds,
    IcmpInErrors,
    /// <summary>ICMP errors not sent because of the global or per-destination rate limit.</summary>
    IcmpRateLimited,
    ArpRequestsIn,
    ArpRepliesIn,
    ArpRequestsOut,
    ArpRepliesOut,
}

/// <summary>Why the IPv4/ARP/ICMP layer dropped a packet (the <c>skb_drop_reason</c> values it produces, and a few more precise ones).</summary>
public enum IpDropReason
{
    /// <summary>Frame with an EtherType the stack does not speak.</summary>
    UnhandledEtherType,
    /// <summary>IpInHdrErrors: header shorter than 20 bytes, version not 4, IHL below 5.</summary>
    InHdrErrors,
    /// <summary>IpInTruncatedPkts: the skb is shorter than the total length.</summary>
    InTruncated,
    /// <summary>IPv4 header checksum wrong (IpInCsumErrors).</summary>
    InCsumErrors,
    /// <summary>IpInAddrErrors: not addressed to this host (a host does not forward).</summary>
    NotForUs,
    /// <summary>Source address that cannot be a sender (multicast, broadcast, zero, loopback from the wire).</summary>
    MartianSource,
    /// <summary>IpInUnknownProtos: no transport registered for the protocol number.</summary>
    UnknownProtocol,
    /// <summary>A fragment overlapping one already queued: the whole datagram is dropped (RFC 5722).</summary>
    FragOverlap,
    /// <summary>A fragment entirely inside data already queued (dropped, the queue kept).</summary>
    FragDuplicate,
    /// <summary>A fragment reaching past 65535 bytes or contradicting the datagram's end.</summary>
    FragBadLength,
    /// <summary>Fragment memory above ipfrag_high_thresh: new fragments refused.</summary>
    FragMemoryLimit,
    /// <summary>A fragment freed because its queue timed out (ipfrag_time) or was killed.</summary>
    FragTimeout,
    /// <summary>A fragment freed with its queue after an overlap or a bad length.</summary>
    FragQueueKilled,
    /// <summary>IpOutNoRoutes.</summary>
    NoRoute,
    /// <summary>DF set and the datagram exceeds the path MTU (EMSGSIZE).</summary>
    MessageTooBig,
    /// <summary>Fragmenting or segmenting needed to read payload the CPU may not read.</summary>
    Unreadable,
    /// <summary>No skb for a fragment, segment, reply or ARP packet.</summary>
    NoMemory,
    /// <summary>Neighbour resolution failed (NUD_FAILED): packets waiting were dropped.</summary>
    NeighFailed,
    /// <summary>The neighbour's pending queue was full: the oldest packet was dropped.</summary>
    NeighQueueOverflow,
    /// <summary>The device refused the frame.</summary>
    TxDropped,
    /// <summary>A GSO skb of a kind software segmentation does not handle.</summary>
    GsoUnsupported,
    /// <summary>ARP packet too short or of another hardware/protocol type.</summary>
    ArpMalformed,
    /// <summary>ARP with a sender address that cannot be a host (ours, multicast, zero for a reply).</summary>
    ArpBadSender,
    /// <summary>ARP neither for us nor from a neighbour we know (nothing to learn).</summary>
    ArpNotForUs,
    /// <summary>ICMP shorter than its header or its quote.</summary>
    IcmpMalformed,
    /// <summary>ICMP checksum wrong.</summary>
    IcmpCsum,
    /// <summary>ICMP type this host ignores.</summary>
    IcmpUnsupported,
    /// <summary>Echo request to a broadcast address (icmp_echo_ignore_broadcasts).</summary>
    IcmpEchoBroadcast,
    /// <summary>Echo reply nobody waits for.</summary>
    IcmpEchoNoWaiter,
    /// <summary>The stack was disposed with the packet still queued.</summary>
    Shutdown,
}

/// <summary>
/// The stack's counters: <see cref="IpMib"/> values and drops by <see cref="IpDropReason"/>. Updated with
/// interlocked adds from every RX context, read racily (like the kernel's per-CPU SNMP counters summed).
/// </summary>
public sealed class IpStats
{
    private readonly long[] _mib = new long[Enum.GetValues<IpMib>().Length];
    private readonly long[] _drops = new long[Enum.GetValues<IpDropReason>().Length];

    public void Inc(IpMib mib) => Interlocked.Increment(ref _mib[(int)mib]);
    public void Add(IpMib mib, long n) => Interlocked.Add(ref _mib[(int)mib], n);
    public void Drop(IpDropReason reason) => Interlocked.Increment(ref _drops[(int)reason]);
    public void Drop(IpDropReason reason, long n) => Interlocked.Add(ref _drops[(int)reason], n);

    public long this[IpMib mib] => Interlocked.Read(ref _mib[(int)mib]);
    public long this[IpDropReason reason] => Interlocked.Read(ref _drops[(int)reason]);

    /// <summary>All drops together.</summary>
    public long TotalDrops
    {
        get
        {
            long n = 0;
            for (int i = 0; i < _drops.Length; i++) n += Interlocked.Read(ref _drops[i]);
            return n;
        }
    }

    /// <summary>Nonzero drop counters (diagnostics; allocates).</summary>
    public IReadOnlyDictionary<IpDropReason, long> GetDrops()
    {
        var d = new SortedDictionary<IpDropReason, long>();
        for (int i = 0; i < _drops.Length; i++)
        {
            long n = Interlocked.Read(ref _drops[i]);
            if (n != 0) d[(IpDropReason)i] = n;
        }
        return d;
    }

    public override string ToString()
    {
        var parts = new List<string>();
        for (int i = 0; i < _mib.Length; i++) if (_mib[i] != 0) parts.Add($"{(IpMib)i}={_mib[i]}");
        foreach (var (k, v) in GetDrops()) parts.Add($"drop:{k}={v}");
        return string.Join(' ', parts);
    }
}
