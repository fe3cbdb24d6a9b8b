namespace Netmem.Stack;

/// <summary>
/// Tunables of a <see cref="NetStack"/>, with Linux's defaults (the sysctl each mirrors is named).
/// Times are microseconds on the stack's <see cref="TimeProvider"/>.
/// </summary>
public sealed record NetStackOptions
{
    /// <summary>net.ipv4.neigh.*.mcast_solicit: broadcast requests for an unresolved address.</summary>
    public int McastProbes { get; init; } = 3;
    /// <summary>net.ipv4.neigh.*.ucast_solicit: unicast probes of a stale entry before it fails.</summary>
    public int UcastProbes { get; init; } = 3;
    /// <summary>net.ipv4.neigh.*.retrans_time_ms: 1 s between probes.</summary>
    public long RetransTimeUs { get; init; } = 1_000_000;
    /// <summary>net.ipv4.neigh.*.base_reachable_time_ms: 30 s (Linux randomises 0.5x..1.5x; here exact, so tests can step it).</summary>
    public long ReachableTimeUs { get; init; } = 30_000_000;
    /// <summary>net.ipv4.neigh.*.delay_first_probe_time: 5 s in DELAY before probing a stale entry in use.</summary>
    public long DelayFirstProbeUs { get; init; } = 5_000_000;
    /// <summary>net.ipv4.neigh.*.gc_stale_time: 60 s unused stale entries are kept.</summary>
    public long GcStaleTimeUs { get; init; } = 60_000_000;
    /// <summary>net.ipv4.neigh.*.unres_qlen_bytes: bytes (truesize) queued on one unresolved neighbour.</summary>
    public int UnresolvedQueueBytes { get; init; } = 212_992;
    /// <summary>net.ipv4.ipfrag_high_thresh: 4 MiB of fragments in all queues.</summary>
    public long FragHighThresh { get; init; } = 4 * 1024 * 1024;
    /// <summary>net.ipv4.ipfrag_time: 30 s to complete a datagram.</summary>
    public long FragTimeUs { get; init; } = 30_000_000;
    /// <summary>net.ipv4.icmp_ratelimit: 1000 ms between errors to one destination (burst 6, XRLIM_BURST_FACTOR).</summary>
    public long IcmpRateLimitUs { get; init; } = 1_000_000;
    /// <summary>net.ipv4.icmp_ratemask: types limited (dest unreachable, source quench, time exceeded, parameter problem).</summary>
    public uint IcmpRateMask { get; init; } = 0x1818;
    /// <summary>net.ipv4.icmp_msgs_per_sec: global ICMP error token rate.</summary>
    public int IcmpMsgsPerSec { get; init; } = 1000;
    /// <summary>net.ipv4.icmp_msgs_burst: global ICMP error bucket size.</summary>
    public int IcmpMsgsBurst { get; init; } = 50;
    /// <summary>net.ipv4.icmp_echo_ignore_broadcasts.</summary>
    public bool IcmpEchoIgnoreBroadcasts { get; init; } = true;
    /// <summary>net.ipv4.ip_default_ttl.</summary>
    public byte DefaultTtl { get; init; } = 64;
    /// <summary>net.ipv4.route.min_pmtu: a frag-needed never lowers a path MTU below 552.</summary>
    public int MinPmtu { get; init; } = 552;
    /// <summary>net.ipv4.route.mtu_expires: a learned path MTU is forgotten after 10 minutes.</summary>
    public long PmtuExpiresUs { get; init; } = 600_000_000;
    /// <summary>net.ipv4.ip_local_port_range.</summary>
    public int EphemeralPortLow { get; init; } = 32768;
    public int EphemeralPortHigh { get; init; } = 60999;
    /// <summary>net.core.rmem_default: a UDP socket's receive buffer (SO_RCVBUF), in truesize bytes.</summary>
    public int UdpReceiveBuffer { get; init; } = 212_992;
    /// <summary>What new TCP sockets start with (the net.ipv4.tcp_* sysctls). Null: <see cref="Tcp.TcpSettings"/>'s defaults.</summary>
    public Tcp.TcpSettings? Tcp { get; init; }
}
