namespace Netmem.Stack.Tcp;

/// <summary>
/// Per-connection settings (the socket options and the net.ipv4.tcp_* sysctls that apply to one
/// connection), with Linux's defaults. A listener's children start with a copy of the listener's.
/// </summary>
public sealed record TcpSettings
{
    /// <summary>TCP_NODELAY: send partial segments at once instead of waiting for ACKs (Nagle off).</summary>
    public bool NoDelay { get; set; }
    /// <summary>SO_SNDBUF in bytes (tcp_wmem[1] 16 KiB is Linux's start; it then auto-grows: we start larger).</summary>
    public int SendBufferSize { get; set; } = 256 * 1024;
    /// <summary>SO_RCVBUF in bytes: the initial receive buffer (tcp_rmem[1] = 131072).</summary>
    public int ReceiveBufferSize { get; set; } = 131072;
    /// <summary>Upper bound of receive-buffer auto-tuning (tcp_rmem[2] = 6 MiB).</summary>
    public int MaxReceiveBufferSize { get; set; } = 6 * 1024 * 1024;
    /// <summary>Whether receive-buffer auto-tuning runs (tcp_moderate_rcvbuf; off when SO_RCVBUF was set).</summary>
    public bool ReceiveBufferAutoTuning { get; set; } = true;
    /// <summary>SO_KEEPALIVE.</summary>
    public bool KeepAlive { get; set; }
    /// <summary>TCP_KEEPIDLE (tcp_keepalive_time 7200 s).</summary>
    public TimeSpan KeepAliveIdle { get; set; } = TimeSpan.FromSeconds(7200);
    /// <summary>TCP_KEEPINTVL (tcp_keepalive_intvl 75 s).</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(75);
    /// <summary>TCP_KEEPCNT (tcp_keepalive_probes 9).</summary>
    public int KeepAliveCount { get; set; } = 9;
    /// <summary>TCP_CONGESTION ("cubic" by default, "reno").</summary>
    public string CongestionControl { get; set; } = Tcp.CongestionControl.Default;
    /// <summary>tcp_window_scaling and the receive shift Linux ends up with for a default buffer (7).</summary>
    public bool WindowScaling { get; set; } = true;
    public byte ReceiveWindowScale { get; set; } = 7;
    /// <summary>tcp_timestamps.</summary>
    public bool Timestamps { get; set; } = true;
    /// <summary>tcp_sack.</summary>
    public bool Sack { get; set; } = true;
    /// <summary>tcp_dsack (on): report duplicate segments to a SACK peer with a D-SACK block (RFC 2883).</summary>
    public bool Dsack { get; set; } = true;
    /// <summary>tcp_syn_retries (6).</summary>
    public int SynRetries { get; set; } = 6;
    /// <summary>tcp_synack_retries (5).</summary>
    public int SynAckRetries { get; set; } = 5;
    /// <summary>tcp_retries2 (15): retransmissions of one segment before ETIMEDOUT.</summary>
    public int Retries2 { get; set; } = 15;
    /// <summary>TIME_WAIT length (TCP_TIMEWAIT_LEN 60 s).</summary>
    public TimeSpan TimeWaitLength { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>tcp_fin_timeout (60 s): how long an orphaned connection stays in FIN_WAIT_2.</summary>
    public TimeSpan FinTimeout { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>TCP_MAXSEG clamp (0: from the route MTU).</summary>
    public int MaxSegmentSize { get; set; }
    /// <summary>Use TSO when the route offers it.</summary>
    public bool AllowTso { get; set; } = true;
    /// <summary>net.ipv4.tcp_slow_start_after_idle (default on): data sent after more than an RTO with nothing in flight starts from a restart cwnd (RFC 5681 4.1).</summary>
    public bool SlowStartAfterIdle { get; set; } = true;
    /// <summary>net.ipv4.tcp_min_tso_segs (default 2): the fewest segments TSO autosizing puts in one burst, whatever the pacing rate.</summary>
    public int MinTsoSegs { get; set; } = 2;
    /// <summary>net.ipv4.tcp_pacing_ss_ratio in percent (default 200): the pacing rate in slow start (cwnd below ssthresh/2) is cwnd·mss/srtt times this.</summary>
    public int PacingSsRatio { get; set; } = 200;
    /// <summary>net.ipv4.tcp_pacing_ca_ratio in percent (default 120): the pacing rate past slow start is cwnd·mss/srtt times this.</summary>
    public int PacingCaRatio { get; set; } = 120;
    /// <summary>ECN (RFC 3168) as net.ipv4.tcp_ecn: 0 off, 1 request it on active opens and accept it, 2 accept it only (default 0). Negotiation and ECT(0) on new data; no reaction to CE marks yet.</summary>
    public int Ecn { get; set; }
    /// <summary>TCP_CORK: hold partial segments until uncorked, a full MSS, a FIN, or the probe timer (about one RTO: Linux's 200 ms ceiling) (default off).</summary>
    public bool Cork { get; set; }
    /// <summary>Tail loss probes (RFC 8985 7, Linux tcp_early_retrans 3/4): with SACK, probe the tail after 2 SRTT instead of waiting for the RTO (default on).</summary>
    public bool TailLossProbe { get; set; } = true;
    /// <summary>net.ipv4.tcp_recovery (default 1, Linux's: RACK loss detection). With SACK and RACK on, losses are marked by time (RFC 8985 6) and the reorder timer; off, by the RFC 6675 duplicate threshold.</summary>
    public TcpRecoveryFlags Recovery { get; set; } = TcpRecoveryFlags.RackLossDetection;
    /// <summary>TCP_NOTSENT_LOWAT in bytes: 0 (default) leaves it to <see cref="NotSentLowatSysctl"/>. Writes start a new skb and poll reports POLLOUT only while fewer unsent bytes than this are queued (half as many for POLLOUT).</summary>
    public uint NotSentLowat { get; set; }
    /// <summary>net.ipv4.tcp_notsent_lowat, used while <see cref="NotSentLowat"/> is 0 (default UINT_MAX: no limit).</summary>
    public uint NotSentLowatSysctl { get; set; } = uint.MaxValue;
    /// <summary>
    /// TCP_FASTOPEN_CONNECT: an active open asks the server for a Fast Open cookie (RFC 7413: the SYN carries an
    /// empty Fast Open option) and, once one is cached for that server, the connect returns at once and the SYN
    /// goes with the first write (default off).
    /// </summary>
    public bool FastOpenConnect { get; set; }
    /// <summary>net.ipv4.tcp_fastopen (default <see cref="TcpFastOpenFlags.Client"/>, Linux's).</summary>
    public TcpFastOpenFlags FastOpen { get; set; } = TcpFastOpenFlags.Client;
    /// <summary>
    /// The server's cookie key: TCP_FASTOPEN_KEY on the listener, else net.ipv4.tcp_fastopen_key (null: the layer's
    /// own random key, <see cref="TcpLayer.FastOpenKey"/>).
    /// </summary>
    public TcpFastOpenKey? FastOpenKey { get; set; }
    /// <summary>
    /// TCP_FASTOPEN on a listener: how many Fast Open children may wait for their handshake's final ACK
    /// (fastopenq.max_qlen; 0, the default: the listener takes no data in SYNs unless tcp_fastopen has 0x400).
    /// </summary>
    public int FastOpenQueueLength { get; set; }
    /// <summary>TCP_FASTOPEN_NO_COOKIE: Fast Open without cookies on this socket (the 0x4 / 0x200 behaviour for it alone).</summary>
    public bool FastOpenNoCookie { get; set; }
    /// <summary>
    /// SO_ZEROCOPY: sends may ask for MSG_ZEROCOPY (<see cref="TcpConnection.SendZeroCopy"/>). Without it the flag is
    /// ignored, as Linux ignores it: the data is copied and no completion is reported. Accepted sockets inherit it
    /// from the listener (default off).
    /// </summary>
    public bool ZeroCopy { get; set; }
    /// <summary>
    /// TCP_USER_TIMEOUT (0, the default: off): how long transmitted data may stay unacknowledged, counted from the
    /// first send of the oldest retransmitted segment, before the connection fails with ETIMEDOUT in place of
    /// tcp_retries2's count; it also bounds zero-window probing (from the first probe, answered or not) and
    /// replaces TCP_KEEPCNT while keepalive probes go unanswered. The RTO and probe timers are cut to what is left.
    /// </summary>
    public TimeSpan UserTimeout { get; set; }
}
