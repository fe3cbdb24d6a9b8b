namespace Netmem.Stack.Tcp;

[Flags]
public enum TcpInfoOptions : byte
{
    None = 0,
    Timestamps = 1,  // TCPI_OPT_TIMESTAMPS
    Sack = 2,        // TCPI_OPT_SACK
    WindowScale = 4, // TCPI_OPT_WSCALE
    SynData = 32,    // TCPI_OPT_SYN_DATA: SYN data acknowledged (client) or accepted (Fast Open server)
}

/// <summary>A <c>struct tcp_info</c> snapshot (times in microseconds, windows in bytes).</summary>
public readonly record struct TcpInfo
{
    public TcpState State { get; init; }
    public long RttUs { get; init; }
    public long RttVarUs { get; init; }
    public long RtoUs { get; init; }
    public long SndCwnd { get; init; }
    public long SndSsthresh { get; init; }
    public int SndMss { get; init; }
    public int RcvMss { get; init; }
    /// <summary>tcpi_retransmits: timeouts of the current head segment.</summary>
    public int Retransmits { get; init; }
    public long TotalRetrans { get; init; }
    /// <summary>Bytes marked lost and not yet SACKed or acknowledged (Linux's lost_out, in bytes).</summary>
    public long Lost { get; init; }
    /// <summary>tcpi_reordering: the reordering degree in segments (3 until SACKs show more).</summary>
    public int Reordering { get; init; }
    /// <summary>Bytes currently marked SACKed.</summary>
    public long Sacked { get; init; }
    public long BytesAcked { get; init; }
    public long BytesReceived { get; init; }
    public long SegsOut { get; init; }
    public long SegsIn { get; init; }
    public long SndWnd { get; init; }
    public long RcvWnd { get; init; }
    public int RcvSpace { get; init; }
    public int Backoff { get; init; }
    public string CongestionControl { get; init; }
    public TcpInfoOptions Options { get; init; }
    /// <summary>tcpi_delivered: segments the peer acknowledged or SACKed (the SYN, or SYN with data, counts one).</summary>
    public long Delivered { get; init; }
    public byte SndWscale { get; init; }
    public byte RcvWscale { get; init; }
    public bool InRecovery { get; init; }
    /// <summary>tcpi_ca_state: 0 Open, 1 Disorder (dupACKs or SACKs seen), 3 Recovery, 4 Loss (after an RTO).</summary>
    public byte CaState { get; init; }
    /// <summary>Microseconds since data was last sent, data last received, an ACK last received (tcpi_last_*).</summary>
    public long SinceDataSentUs { get; init; }
    public long SinceDataRecvUs { get; init; }
    public long SinceAckRecvUs { get; init; }
    /// <summary>Data segments sent and received (tcpi_data_segs_out/in).</summary>
    public long DataSegsOut { get; init; }
    public long DataSegsIn { get; init; }
    /// <summary>tcpi_busy_time, tcpi_rwnd_limited, tcpi_sndbuf_limited (µs, <see cref="TcpChrono"/>).</summary>
    public long BusyUs { get; init; }
    public long RwndLimitedUs { get; init; }
    public long SndbufLimitedUs { get; init; }
    /// <summary>tcpi_reord_seen: how many times reordering was detected.</summary>
    public int ReordSeen { get; init; }
    /// <summary>tcpi_min_rtt in µs (0 before the first sample).</summary>
    public long MinRttUs { get; init; }
    /// <summary>tcpi_retrans in bytes: retransmissions in flight (RACK's retrans_out).</summary>
    public long RetransOut { get; init; }
}
