using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack.Tcp;

/// <summary>
/// One TCP connection: the transmission control block (<c>struct tcp_sock</c>'s nouns: snd_una, snd_nxt,
/// snd_wnd, rcv_nxt, rcv_wnd, ...) and the RFC 9293 state machine. Everything here runs on the owning
/// <see cref="StackContext"/>'s thread: segment input, timers, and socket calls (which reach it through
/// <see cref="StackContext.Post"/>). Received payload stays in its skbs (never read here); sent payload
/// lives in a <see cref="TcpSendBuffer"/> of host pages that segments reference.
/// </summary>
public sealed partial class TcpConnection : IStackTimerTarget
{
    internal const int TimerRetransmit = 0, TimerDelayedAck = 1, TimerKeepalive = 2, TimerTimeWait = 3;
    internal const long DelayedAckMinUs = 40_000;   // TCP_DELACK_MIN
    internal const long DelayedAckMaxUs = 200_000;  // TCP_DELACK_MAX
    internal const long ProbeMaxUs = 120_000_000;   // TCP_RTO_MAX caps the zero-window probe backoff
    internal const int DefaultMss = 536;
    internal const long InvalidRateLimitUs = 500_000; // tcp_invalid_ratelimit            // RFC 9293 3.7.1 when the peer sends no MSS option

    private readonly TcpLayer _layer;
    private readonly StackContext _ctx;
    private readonly IIpOutput _ip;
    private IpRoute _route;
    private readonly StackTimer _rtoTimer, _delackTimer, _keepaliveTimer, _twTimer;
    private ICongestionControl _cc;
    internal TcpCongestionState Cong;
    private readonly RttEstimator _rtt = new(minOnVariance: true); // Linux: RTO = SRTT + max(4 RTTVAR, 200 ms)
    private readonly SackScoreboard _sack = new();
    // RACK (RFC 8985): what is in flight with send times and SACKED/LOST/RETRANS bits, and the delivery state.
    private readonly TcpRtxQueue _rtx = new();
    private readonly Rack _rack = new();
    private int _reordSeen;            // tcpi_reord_seen
    private bool _reoArmed;            // the retransmit timer runs as RACK's reorder timer (ICSK_TIME_REO_TIMEOUT)
    private uint _priorFack;           // the highest SACKed sequence before the ACK being processed
    private uint _ackTsEcr;            // the TSecr of the ACK being processed (0: none)
    private bool _reoArmedThisAck;     // RACK armed the reorder timer on this ACK: the RTO/TLP re-arm leaves it (FLAG_SET_XMIT_TIMER cleared)
    private readonly TcpXmitTimes _xmitTimes = new(); // send time per burst, for congestion control's per-ACK RTT
    private bool _fastOpenSyn; // our SYN is a Fast Open one (tp->syn_fastopen): a cookie request, a cookie, or data without one
    // The Fast Open option our first SYN or SYN-ACK carries: -1 none, 0 a cookie request, else the cookie's length in _foCookie.
    private int _foCookieLen = -1;
    private byte[]? _foCookie;
    private bool _foCookieExp;           // in the experimental form (the peer's SYN used it)
    private bool _foOnSynAck;            // a listener's child: the SYN-ACK hands out _foCookie
    private int _synDataLen;             // bytes our SYN carried (tp->syn_data)
    private bool _synDataAcked;          // TCPI_OPT_SYN_DATA: the SYN's data was acknowledged (client) or accepted (server)
    private bool _passiveFastOpen;       // a Fast Open child still in SYN-RECEIVED (tcp_passive_fastopen): it may read and send
    private bool _synAckAckHeld;         // the SYN-ACK's ACK waits for the data of a writer that waited for the handshake
    private bool _atoStarted;            // icsk_ack.ato is running (quick-ack mode entered at the SYN-ACK): a send soon after is interactive
    private long _delivered;             // tp->delivered: segments delivered to the peer (the SYN counts one)
    private long _retransStampUs = -1; // first send of the oldest retransmitted data (retrans_stamp), -1: none
    private long _probesStampUs = -1;  // first zero-window probe of this episode (icsk_probes_tstamp), -1: none
    private readonly TcpOutOfOrderQueue _ooo = new();
    private TcpSendBuffer? _sndBuf;

    // ---- send sequence space (RFC 9293 3.3.1) ----
    private uint _iss, _sndUna, _sndNxt, _sndMax, _sndWl1, _sndWl2;
    private TcpChrono _chrono; // busy / rwnd-limited time for tcp_info
    private uint _lostMarkSeq;  // bytes below it not SACKed count as lost (tcpi_lost)
    private int _reordering = 3; // tcpi_reordering: net.ipv4.tcp_reordering, raised by SACK reordering
    private const int MaxReordering = 300; // net.ipv4.tcp_max_reordering
    private long _sndUnaPos = -1;      // stream position of snd.una (-1 while the SYN is unacknowledged)
    private long _sndWnd, _maxSndWnd;  // bytes, scaled
    private byte _sndWscale;           // the peer's shift, applied to windows it sends
    private bool _finQueued, _finSent;
    private int _mss;                  // sender MSS (payload, options excluded)

    // ---- receive sequence space ----
    private uint _irs, _rcvNxt, _rcvWup, _lastAckSent;
    private long _rcvWnd;              // advertised window (bytes) at _rcvWup
    private byte _rcvWscale;           // our shift
    private int _rcvMss = DefaultMss;  // estimate of the peer's segment size (icsk_ack.rcv_mss)
    private int _rcvBuf;
    private readonly TcpReceiveQueue _rcvQueue = new(); // in-order data the application has not read
    private bool _finReceived;
    private uint _oooFinSeq; private bool _oooFin;

    // ---- options ----
    private bool _wscaleOk, _sackOk, _tsOk;
    private uint _tsRecent, _tsOffset; private long _tsRecentStampUs;

    // ---- timers, recovery, counters ----
    private int _retransmits;          // icsk_retransmits of the head segment (or SYN)
    private int _probesOut;            // zero-window or keepalive probes unanswered
    private bool _probing;             // the retransmit timer runs as the persist timer
    private int _dupAcks;
    private bool _inRecovery, _lossRecovery;
    private uint _recover, _highRxt;
    private uint _rttSeq; private long _rttSentUs; private bool _rttTiming;
    private long _ackPendingBytes;     // received since the last ACK we sent
    private bool _quickAck;
    // RFC 2883: a duplicate range to report once, as the first SACK block of the next segment (tcp_dsack_set).
    private bool _dsackPending;
    private TcpSackBlock _dsack;
    // Quick-ACK mode (icsk_ack.quick / pingpong): the first segments of a connection, or after an idle
    // longer than the RTO, are ACKed at once so the peer's slow start is not held back by delayed ACKs;
    // once the application answers data within the ACK delay (interactive traffic), ACKs are delayed to
    // ride on the replies.
    private int _quickAcks;
    private bool _pingpong;
    private long _lastDataRecvUs = long.MinValue / 2;
    private long _lastDataSentUs, _dataSegsOut, _dataSegsIn;
    // Most bytes in flight during the current window and where that window ends (max_packets_out/seq):
    // in slow start Linux counts the flow cwnd-limited while cwnd < 2 * that (tcp_is_cwnd_limited).
    private long _maxInFlight;
    private bool _isCwndLimited; // tcp_sock.is_cwnd_limited: cwnd was full in the window ending at _maxInFlightSeq
    private long _cwndBonus;
    private bool _ecnOk; // ECN negotiated: new data goes out ECT(0)
    private long _prrDelivered, _prrOut, _recoverFs; // RFC 6937 state of the current SACK recovery
    private long _sackedBeforeAck;                   // SACKed bytes before the ACK being processed (delivered = acked + SACKed growth)
    // Push marks and corking: where the last write without MSG_MORE ended (PSH goes on the segment that
    // ends there); a one-shot push past cork and Nagle (TCP_NAGLE_PUSH), with PSH when it is the probe
    // timer's tcp_write_wakeup.
    private long _pushMarkPos = -1;
    private bool _forcePush, _wakeupPush, _corkedXmit;
    private long _pacingRate; // sk_pacing_rate (bytes/s) TSO autosizing reads; 0 until first computed
    // Tail loss probe: the retransmit timer is armed as a probe timeout; the probe in flight (tlp_high_seq);
    // where the last new-data transmission started (what a probe re-sends when no new data can go).
    private bool _tlpArmed, _tlpOutstanding;
    private uint _tlpHighSeq, _lastNewSeq; // limited transmit's allowance past cwnd, only while a duplicate ACK is handled
    // Ends of MSG_EOR records still unsent, oldest first (a fixed ring: no allocation per write).
    private readonly long[] _recordEnds = new long[32];
    private int _recordHead, _recordCount;
    private uint _maxInFlightSeq;
    internal const int MaxQuickAcks = 16;   // TCP_MAX_QUICKACKS
    private long _lastRecvUs, _lastOowAckUs = long.MinValue / 2; // far past: the first out-of-window ACK goes
    private bool _orphan, _released;
    private long _rcvSpaceBytes, _rcvSpaceStartUs; // auto-tuning sample (tcp_rcv_space_adjust): read since the start of the current RTT
    private long _rcvSpaceLast;                     // bytes read in the last measured RTT (rcvq_space.space)
    private long _rcvRttUs;                         // the receiver's RTT estimate (rcv_rtt_est), 0 until measured
    private uint _rcvRttSeq; private long _rcvRttStartUs; private bool _rcvRttTiming; // window-based measurement without timestamps

    // ---- tcp_info-style counters ----
    private long _totalRetrans, _bytesAcked, _bytesReceived, _segsOut, _segsIn;

    private TcpBacklog? _backlog;
    internal TcpListenEndpoint? Parent;     // while SYN-RECEIVED from a listener
    internal TcpListenEndpoint? FastOpenListener; // a Fast Open child counted in its listener's Fast Open queue
    internal bool InAcceptQueue;

    internal TcpConnection(TcpLayer layer, StackContext context, in TcpFourTuple tuple, TcpSettings settings)
    {
        _layer = layer;
        _ctx = context;
        _ip = layer.Ip;
        Tuple = tuple;
        Settings = settings with { };
        _cc = Tcp.CongestionControl.Create(Settings.CongestionControl);
        _rtoTimer = new StackTimer(this, TimerRetransmit);
        _delackTimer = new StackTimer(this, TimerDelayedAck);
        _keepaliveTimer = new StackTimer(this, TimerKeepalive);
        _twTimer = new StackTimer(this, TimerTimeWait);
        _rcvBuf = Settings.ReceiveBufferSize;
        _rcvWscale = Settings.WindowScaling ? Math.Min(Settings.ReceiveWindowScale, (byte)14) : (byte)0;
        Cong.Ssthresh = long.MaxValue;
    }

    public TcpFourTuple Tuple { get; }
    public StackContext Context => _ctx;
    public TcpLayer Layer => _layer;
    public TcpSettings Settings { get; }
    public TcpState State { get; private set; } = TcpState.Closed;
    /// <summary>The pending socket error (sk_err): ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE... or None.</summary>
    public Errno Error { get; private set; }
    public ITcpConnectionEvents? Events { get; set; }
    public string CongestionControlName => _cc.Name;

    public uint SndUna => _sndUna;
    public uint SndNxt => _sndNxt;
    public long SndWnd => _sndWnd;
    public uint RcvNxt => _rcvNxt;
    public long RcvWnd => _rcvWnd;
    public int Mss => _mss;
    public bool WindowScaleEnabled => _wscaleOk;
    public bool SackEnabled => _sackOk;
    public bool TimestampsEnabled => _tsOk;
    public byte SendWindowScale => _sndWscale;
    public byte ReceiveWindowScale => _rcvWscale;
    public int ReceiveBufferSize => _rcvBuf;
    /// <summary>The receiver's RTT estimate auto-tuning runs on (µs, 0 until measured).</summary>
    public long ReceiveRttUs => _rcvRttUs;
    /// <summary>Bytes waiting to be read (in order).</summary>
    public long ReceiveQueued => _rcvQueue.Bytes;
    public long OutOfOrderBytes => _ooo.Bytes;
    /// <summary>Bytes accepted by <see cref="Send(ReadOnlySpan{byte})"/> and not yet acknowledged.</summary>
    public int SendQueued => _sndBuf?.Bytes ?? 0;
    public int SendFree => _sndBuf is null || _finQueued ? 0 : _sndBuf.Free;
    public int SendPagesHeld => _sndBuf?.PagesHeld ?? 0;
    /// <summary>Bytes the send path copied (written with <see cref="Send(ReadOnlySpan{byte})"/>, or copied after all for a zero-copy send or a linear skb).</summary>
    public long SendCopiedBytes => _sndBuf?.CopiedBytes ?? 0;
    public bool ReceivedFin => _finReceived;
    public bool IsReleased => _released;
    internal bool IsSynchronized => State >= TcpState.Established;
    internal bool AppClosed => _orphan;

    /// <summary>Segments that arrived on another context, waiting to run on this one (made on first use, by any thread).</summary>
    internal TcpBacklog Backlog
    {
        get
        {
            var b = Volatile.Read(ref _backlog);
            if (b is not null) return b;
            Interlocked.CompareExchange(ref _backlog, new TcpBacklog(this), null);
            return _backlog!;
        }
    }

    // ------------------------------------------------------------------ socket calls (owner thread)

    /// <summary><see cref="StartConnect"/> on the owner's thread, from another (a connect made on a context the flow does not land on).</summary>
    internal void PostStartConnect(in IpRoute route, bool fastOpen = false) => _ctx.Post(new StartConnectWork(this, route, fastOpen));

    /// <summary>Whether the SYN carried data that the peer acknowledged, or (server) a Fast Open SYN's data was accepted (TCPI_OPT_SYN_DATA).</summary>
    public bool SynDataAcked => _synDataAcked;
    /// <summary>Bytes of application data our SYN carried (TCP Fast Open client).</summary>
    public int SynDataLength => _synDataLen;
    /// <summary>
    /// <c>sk_write_pending</c>: a writer waits for the handshake to send what did not fit in a Fast Open SYN. The
    /// SYN-ACK's ACK is then held (up to the 200 ms delayed-ACK limit) to ride on that data, as Linux does.
    /// </summary>
    public bool WritePending { get; set; }
    /// <summary>A Fast Open child not yet past its handshake's final ACK (<c>tcp_passive_fastopen</c>): readable and writable already.</summary>
    public bool IsPassiveFastOpen => _passiveFastOpen;

    private sealed class StartConnectWork(TcpConnection c, IpRoute route, bool fastOpen) : StackWork
    {
        protected internal override void Run(StackContext context)
        {
            if (c._sndBuf is not null) return; // started already
            if (c._released) c._layer.Unregister(c); // closed before its SYN could go out
            else c.StartConnect(route, fastOpen);
        }
    }

    /// <summary>
    /// Active open (<c>tcp_v4_connect</c> + <c>tcp_connect</c>): the SYN goes out now. With
    /// <paramref name="fastOpen"/> (MSG_FASTOPEN) or TCP_FASTOPEN_CONNECT it carries a Fast Open cookie request.
    /// </summary>
    internal int StartConnect(in IpRoute route, bool fastOpen = false, ReadOnlySpan<byte> synData = default)
    {
        _fastOpenSyn = fastOpen || Settings.FastOpenConnect;
        _route = route;
        _iss = _layer.Isn.Isn(Tuple, _ctx.NowUs);
        _tsOffset = _layer.Isn.TimestampOffset(Tuple);
        InitSendSide();
        State = TcpState.SynSent;
        TcpStats.Inc(ref _layer.Stats.ActiveOpens);
        int queued = _fastOpenSyn ? PrepareSynData(synData) : 0;
        SendSyn(ack: false);
        return queued;
    }

    /// <summary>
    /// <c>tcp_send_syn_data</c>: with a cookie cached for the server (or with cookies off, tcp_fastopen 0x4 or
    /// TCP_FASTOPEN_NO_COOKIE) as much of <paramref name="data"/> as one segment of the cached MSS holds, less the
    /// 40 bytes of option space Linux keeps for middleboxes, is queued (by <see cref="Send(ReadOnlySpan{byte})"/>,
    /// as any write) and rides in the SYN; without one the SYN asks for a cookie and carries nothing. Returns the
    /// bytes queued.
    /// </summary>
    private int PrepareSynData(ReadOnlySpan<byte> data)
    {
        Span<byte> cookie = stackalloc byte[TcpOptions.MaxFastOpenCookie];
        int len = _layer.FastOpenCookies.Get(Tuple.RemoteAddress, cookie, out int cachedMss);
        bool noCookie = (Settings.FastOpen & TcpFastOpenFlags.ClientNoCookie) != 0 || Settings.FastOpenNoCookie;
        if (!noCookie && len == 0) { _foCookieLen = 0; return 0; } // a cookie request (TFO_COOKIE_UNAVAILABLE)
        _foCookieLen = noCookie ? -1 : len;
        if (len > 0 && !noCookie) _foCookie = cookie[..len].ToArray();
        // tcp_mss_clamp of the cached MSS (or our advertised one), then __tcp_mtu_to_mss less MAX_TCP_OPTION_SPACE.
        int clamp = cachedMss > 0 ? cachedMss : AdvertisedMss();
        if (Settings.MaxSegmentSize > 0 && Settings.MaxSegmentSize < clamp) clamp = Settings.MaxSegmentSize;
        int space = Math.Min(Math.Max(48, Math.Min(_route.Mtu - 40, clamp)) - TcpOptions.MaxLength, data.Length);
        if (space <= 0) return 0;
        int n = Math.Max(0, Send(data[..space]));
        _synDataLen = n;
        return n;
    }

    /// <summary>
    /// <c>tcp_sendmsg</c>: copies as much of <paramref name="data"/> as the send buffer takes and pushes
    /// segments out. Returns the bytes taken, or a negative errno (EPIPE after a shutdown or reset,
    /// ENOTCONN before the connection exists).
    /// </summary>
    public int Send(ReadOnlySpan<byte> data) => Send(data, endOfRecord: false, more: false);

    /// <summary>
    /// <c>tcp_sendmsg</c> with MSG_EOR when <paramref name="endOfRecord"/>: once the whole of
    /// <paramref name="data"/> is queued, no segment will carry bytes from both sides of its end (the
    /// record ends a segment, with PSH), as Linux marks the skb EOR so nothing coalesces past it.
    /// With MSG_MORE (<paramref name="more"/>) the data gets no push mark and this call holds a partial
    /// segment back as TCP_CORK would (a later push, an ACK or the probe timer sends it).
    /// </summary>
    public int Send(ReadOnlySpan<byte> data, bool endOfRecord, bool more = false)
    {
        if (Error != Errno.None) return -(int)(Error == Errno.ECONNRESET || Error == Errno.ETIMEDOUT ? Error : Errno.EPIPE);
        if (_finQueued) return -(int)Errno.EPIPE;
        if (State is TcpState.Closed or TcpState.Listen) return -(int)Errno.ENOTCONN;
        var sndBuf = _sndBuf!;
        // Before the handshake (a Fast Open SYN's data) there is no MSS to size skbs by: a plain copy.
        int n = _mss == 0 || (NotSentLowat == uint.MaxValue && data.Length <= sndBuf.Free) ? sndBuf.Append(data) : AppendBySizeGoal(data, more);
        if (n > 0) _chrono.Start(TcpChronoType.Busy, _ctx.NowUs); // tcp_add_write_queue_tail
        if (endOfRecord && n == data.Length) PushRecordEnd(sndBuf.EndPos);
        if (!more) _pushMarkPos = sndBuf.EndPos; // tcp_mark_push on the tail
        if (State is TcpState.Established or TcpState.CloseWait || _passiveFastOpen) WriteXmit(cork: more);
        return n;
    }

    /// <summary>
    /// <c>tcp_recvmsg</c> (copying): copies queued in-order data into <paramref name="into"/>. Returns the
    /// bytes copied, 0 at EOF, -EAGAIN when nothing is there yet, or a negative errno (ECONNRESET; EFAULT
    /// when the next byte is unreadable device memory, which only devmem receive or a lease hands out:
    /// it stays queued, and bytes before it are returned first).
    /// </summary>
    public int Receive(Span<byte> into)
    {
        var actor = new TcpCopyActor(into);
        return Read(ref actor, into.Length);
    }

    /// <summary>
    /// The one read of the receive queue (<c>tcp_recvmsg_locked</c>'s loop): offers up to
    /// <paramref name="maxBytes"/> in-order bytes to <paramref name="actor"/>, then does what a read does
    /// afterwards (receive-space sample, window update, ACK). Returns the bytes read, 0 at EOF, or a
    /// negative errno: the actor's when it stopped at the first byte (EFAULT for unreadable data without
    /// devmem), else EAGAIN when nothing is queued, or the connection's error.
    /// </summary>
    internal int Read<TActor>(ref TActor actor, int maxBytes) where TActor : ITcpReadActor, allows ref struct
    {
        var stop = Errno.None;
        int done = maxBytes > 0 ? _rcvQueue.Read(ref actor, maxBytes, out stop) : 0;
        if (done > 0) { AfterRead(done); return done; }
        if (stop != Errno.None) { TcpStats.Inc(ref _layer.Stats.ReadFaults); return -(int)stop; }
        if (Error != Errno.None && Error != Errno.EPIPE) return -(int)Error;
        if (_finReceived) return 0;
        // SYN-SENT has nothing yet (EAGAIN, as tcp_recvmsg: only CLOSE and LISTEN are ENOTCONN).
        if (State is TcpState.Closed or TcpState.Listen) return State == TcpState.Closed && _released ? 0 : -(int)Errno.ENOTCONN;
        return -(int)Errno.EAGAIN;
    }

    /// <summary>Whether a read would not block: data, EOF or an error.</summary>
    public bool IsReadable => !_rcvQueue.IsEmpty || _finReceived || (Error != Errno.None && Error != Errno.EPIPE) || (State == TcpState.Closed && _released);

    /// <summary><c>tcp_notsent_lowat</c>: the socket option, else the sysctl.</summary>
    private long NotSentLowat => Settings.NotSentLowat > 0 ? Settings.NotSentLowat : Settings.NotSentLowatSysctl;

    /// <summary>Bytes written and not sent yet (write_seq - snd_nxt, with snd_nxt the highest sent: a go-back-N rewind does not count).</summary>
    public long NotSentBytes => _sndBuf is null || _sndUnaPos < 0 ? 0 : Math.Max(0, _sndBuf.EndPos - PosOfSeq(_sndMax));

    /// <summary>
    /// <c>tcp_stream_memory_free</c>: fewer unsent bytes than TCP_NOTSENT_LOWAT. A writer asks with
    /// <paramref name="wake"/> false; poll asks with it true, which halves the limit so a woken writer
    /// finds room for a sizeable write.
    /// </summary>
    public bool StreamMemoryFree(bool wake) => (wake ? NotSentBytes * 2 : NotSentBytes) < NotSentLowat;

    /// <summary>
    /// <c>sk_stream_is_writeable</c>: free send buffer of at least half what is queued (<c>sk_stream_min_wspace</c>)
    /// and, under TCP_NOTSENT_LOWAT, fewer than half the limit unsent. Linux wakes a writer blocked on a full
    /// send buffer, and reports EPOLLOUT, only then, not as soon as a byte fits.
    /// </summary>
    public bool StreamWriteable => SendFree > 0 && SendFree >= SendQueued / 2 && StreamMemoryFree(wake: true);

    /// <summary>
    /// <c>tcp_sendmsg_locked</c> when the write does not simply fit (the send buffer or a TCP_NOTSENT_LOWAT
    /// limit stops it): bytes go into skbs of the size goal, SO_SNDBUF and the limit are checked only when a
    /// new skb is started (<c>sk_stream_memory_free</c>), and each full skb is pushed at once, so the unsent
    /// rest of a partly sent burst is topped up to the size goal before the check stops the write (as Linux,
    /// which is why a write can leave more than the limit unsent and queue up to a size goal past SO_SNDBUF).
    /// </summary>
    private int AppendBySizeGoal(ReadOnlySpan<byte> data, bool more)
    {
        var sndBuf = _sndBuf!;
        int goal = WriteSizeGoal();
        int done = 0;
        while (done < data.Length)
        {
            long notSent = NotSentBytes;
            int tail = notSent == 0 ? 0 : (int)(notSent % goal == 0 ? goal : notSent % goal); // the tail skb's unsent bytes
            if (tail == 0 || tail == goal)
            {
                if (sndBuf.Bytes >= sndBuf.Capacity || !StreamMemoryFree(wake: false)) break; // sk_stream_memory_free before a new skb
                tail = 0;
            }
            int n = sndBuf.Append(data.Slice(done, Math.Min(goal - tail, data.Length - done)), goal - tail);
            done += n;
            if (tail + n < goal) break; // out of data or of arena pages
            if (State is TcpState.Established or TcpState.CloseWait) WriteXmit(cork: more); // tcp_push_one on a full skb
        }
        return done;
    }

    private void PushRecordEnd(long pos)
    {
        if (_recordCount == _recordEnds.Length) return; // more records in flight than remembered: later ones may coalesce
        _recordEnds[(_recordHead + _recordCount) % _recordEnds.Length] = pos;
        _recordCount++;
    }

    /// <summary>
    /// The end of the first record ending after <paramref name="pos"/>, or long.MaxValue. Records stay
    /// until acknowledged, so retransmissions keep the boundaries too.
    /// </summary>
    private long NextRecordEnd(long pos)
    {
        long una = _sndUnaPos;
        while (_recordCount > 0 && _recordEnds[_recordHead] <= una)
        {
            _recordHead = (_recordHead + 1) % _recordEnds.Length;
            _recordCount--;
        }
        for (int i = 0; i < _recordCount; i++)
        {
            long end = _recordEnds[(_recordHead + i) % _recordEnds.Length];
            if (end > pos) return end;
        }
        return long.MaxValue;
    }

    /// <summary><c>tcp_shutdown(SEND_SHUTDOWN)</c>: a FIN after the queued data.</summary>
    public Errno ShutdownSend()
    {
        switch (State)
        {
            case TcpState.Established: State = TcpState.FinWait1; break;
            case TcpState.CloseWait: State = TcpState.LastAck; break;
            case TcpState.SynReceived: State = TcpState.FinWait1; break;
            case TcpState.SynSent: EnterClosed(Errno.None); return Errno.None;
            case TcpState.Closed: case TcpState.Listen: return Errno.ENOTCONN;
            default: return Errno.None; // already shut down
        }
        _finQueued = true;
        if (State != TcpState.FinWait1 || IsSynchronized || _sndUnaPos >= 0) WriteXmit();
        return Errno.None;
    }

    /// <summary>
    /// <c>tcp_close</c>: the application lets go. Unread data makes it an abort (RFC 9293 3.10.4 / Linux:
    /// RST, data loss); otherwise a FIN follows the queued data and the connection lingers in the stack
    /// (orphaned) until the FIN exchange or TIME_WAIT ends.
    /// </summary>
    public void Close()
    {
        if (_orphan) return;
        _orphan = true;
        if (!_rcvQueue.IsEmpty && State != TcpState.Closed)
        {
            Abort();
            return;
        }
        PurgeReceive();
        if (State is TcpState.Established or TcpState.CloseWait or TcpState.SynReceived) ShutdownSend();
        else if (State is TcpState.SynSent) EnterClosed(Errno.None);
        if (State == TcpState.FinWait2) ArmFinWait2();
        if (State == TcpState.Closed) Release();
    }

    /// <summary>SO_LINGER 0 + close, or a reset after an error: RST to the peer and CLOSED at once.</summary>
    public void Abort()
    {
        if (State is TcpState.SynReceived or TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.CloseWait)
            SendReset(_sndNxt);
        _orphan = true;
        EnterClosed(Errno.ECONNRESET, notify: false);
        PurgeReceive();
        Release();
    }

    /// <summary>Sets TCP_CONGESTION (owner thread). EINVAL-style exception for an unknown name.</summary>
    public void SetCongestionControl(string name)
    {
        var cc = Tcp.CongestionControl.Create(name);
        Settings.CongestionControl = name;
        _cc = cc;
        if (_mss > 0) _cc.Init(ref Cong, _ctx.NowUs);
    }

    /// <summary>Applies changed <see cref="Settings"/> (buffer sizes, keepalive) on the owner thread.</summary>
    public void ApplySettings()
    {
        _sndBuf?.SetCapacity(Settings.SendBufferSize);
        _rcvBuf = Math.Max(_rcvBuf, Settings.ReceiveBufferSize);
        if (Settings.KeepAlive && IsSynchronized && State < TcpState.TimeWait) ArmKeepalive(_ctx.NowUs);
        else if (!Settings.KeepAlive) _ctx.CancelTimer(_keepaliveTimer);
        if (IsSynchronized && State is TcpState.Established or TcpState.CloseWait)
        {
            _forcePush = Settings.NoDelay; // setting TCP_NODELAY pushes even corked data (TCP_NAGLE_PUSH)
            WriteXmit();                   // and uncorking sends what cork held
            _forcePush = false;
        }
    }

    /// <summary>A <c>tcp_info</c> snapshot (owner thread).</summary>
    public TcpInfo GetInfo() => new()
    {
        State = State,
        RttUs = _rtt.SrttUs,
        RttVarUs = _rtt.RttVarUs,
        RtoUs = _rtt.RtoUs,
        SndCwnd = Cong.Cwnd,
        SndSsthresh = Cong.Ssthresh,
        SndMss = _mss,
        RcvMss = _rcvMss,
        Retransmits = _retransmits,
        TotalRetrans = _totalRetrans,
        Lost = RackActive ? _rtx.LostBytes : LostBytes(),
        Reordering = _reordering,
        Sacked = _sack.SackedBytes,
        BytesAcked = _bytesAcked,
        BytesReceived = _bytesReceived,
        SegsOut = _segsOut,
        SegsIn = _segsIn,
        SndWnd = _sndWnd,
        RcvWnd = _rcvWnd,
        RcvSpace = _rcvBuf,
        Backoff = _rtt.Backoff,
        CongestionControl = _cc.Name,
        Options = (_tsOk ? TcpInfoOptions.Timestamps : 0) | (_sackOk ? TcpInfoOptions.Sack : 0) | (_wscaleOk ? TcpInfoOptions.WindowScale : 0)
            | (_synDataAcked ? TcpInfoOptions.SynData : 0),
        SndWscale = _sndWscale,
        RcvWscale = _rcvWscale,
        InRecovery = _inRecovery,
        CaState = (byte)(_lossRecovery ? 4 : _inRecovery ? 3 : _inCwr ? 2 : _sack.SackedBytes >= _mss || (!_sackOk && _dupAcks > 0 && _sndUna != _sndMax) ? 1 : 0),
        SinceDataSentUs = _dataSegsOut == 0 ? 0 : _ctx.NowUs - _lastDataSentUs,
        SinceDataRecvUs = IsSynchronized ? _ctx.NowUs - _lastDataRecvUs : 0,
        SinceAckRecvUs = _ctx.NowUs - _lastRecvUs,
        DataSegsOut = _dataSegsOut,
        DataSegsIn = _dataSegsIn,
        BusyUs = _chrono.Totals(_ctx.NowUs).BusyUs,
        RwndLimitedUs = _chrono.Totals(_ctx.NowUs).RwndLimitedUs,
        SndbufLimitedUs = _chrono.Totals(_ctx.NowUs).SndbufLimitedUs,
        ReordSeen = _reordSeen,
        MinRttUs = _rtt.MinRttUs,
        RetransOut = RackActive || (RackOn && _synDataLen > 0) ? _rtx.RetransBytes : 0, // a Fast Open SYN's data sent again counts too
        Delivered = _delivered,
    };

    // ------------------------------------------------------------------ lifecycle helpers

    private void InitSendSide()
    {
        _sndUna = _iss;
        _sndNxt = _iss;
        _sndMax = _iss;
        _lostMarkSeq = _iss;
        _sndUnaPos = -1;
        _recover = _iss;
        _xmitTimes.Clear();
        var arena = _ctx.SkbCache?.Arena ?? throw new InvalidOperationException($"stack context {_ctx.Name} has no skb cache: TCP needs one for its TX skbs");
        _sndBuf = new TcpSendBuffer(arena, Settings.SendBufferSize);
    }

    /// <summary>Called when the connection reaches ESTABLISHED (either side).</summary>
    private void OnEstablished()
    {
        State = TcpState.Established;
        _lastDataRecvUs = _ctx.NowUs; // icsk_ack.lrcvtime starts at the handshake
        _rtt.ResetBackoff();
        _retransmits = 0;
        _retransStampUs = -1;
        Cong.Mss = _mss;
        if (_passiveFastOpen) _passiveFastOpen = false; // its congestion control started with the child (tcp_rcv_synrecv_state_fastopen)
        else _cc.Init(ref Cong, _ctx.NowUs);
        if (FastOpenListener is { } l) l.OnFastOpenChildDone(this);
        _rcvSpaceStartUs = _ctx.NowUs;
        _rcvSpaceLast = Math.Min(_rcvBuf, 10L * _rcvMss); // rcvq_space starts at the initial window's worth
        if (Settings.KeepAlive) ArmKeepalive(_ctx.NowUs);
    }

    private void EnterTimeWait()
    {
        State = TcpState.TimeWait;
        _ctx.CancelTimer(_rtoTimer);
        _ctx.CancelTimer(_delackTimer);
        _ctx.CancelTimer(_keepaliveTimer);
        _ctx.ArmTimer(_twTimer, _ctx.NowUs + (long)Settings.TimeWaitLength.TotalMicroseconds);
        ReleaseSendSide();
        Notify(TcpEvents.Closed | TcpEvents.Readable | TcpEvents.Writable);
    }

    /// <summary><c>tcp_done</c>: CLOSED, timers off, the tables let go; the error (if any) goes to the socket.</summary>
    private void EnterClosed(Errno error, bool notify = true)
    {
        var was = State;
        if (error != Errno.None && Error == Errno.None) Error = error;
        State = TcpState.Closed;
        _ctx.CancelTimer(_rtoTimer);
        _ctx.CancelTimer(_delackTimer);
        _ctx.CancelTimer(_keepaliveTimer);
        _ctx.CancelTimer(_twTimer);
        if (was == TcpState.SynSent && error != Errno.None) TcpStats.Inc(ref _layer.Stats.AttemptFails);
        if (error == Errno.ECONNRESET && was is TcpState.Established or TcpState.CloseWait) TcpStats.Inc(ref _layer.Stats.EstabResets);
        _layer.Unregister(this);
        ReleaseSendSide();
        if (error != Errno.None) { _ooo.Purge(); }
        if (Parent is not null) { Parent.OnChildGone(this); Parent = null; }
        if (FastOpenListener is { } fol) fol.OnFastOpenChildDone(this);
        _passiveFastOpen = false;
        if (notify) Notify(TcpEvents.Connect | TcpEvents.Closed | TcpEvents.Readable | TcpEvents.Writable);
        if (_orphan) Release();
    }

    private void ReleaseSendSide()
    {
        _sndBuf?.Dispose();
        _sack.Reset(_sndUna);
        _rtx.Clear(_sndUna);
    }

    /// <summary>Frees everything the connection still holds (after CLOSED, once the application let go).</summary>
    internal void Release()
    {
        if (_released) return;
        if (State != TcpState.Closed) return;
        _released = true;
        PurgeReceive();
        _ooo.Purge();
        _sndBuf?.Dispose();
    }

    private void PurgeReceive() => _rcvQueue.Purge();

    private void Notify(TcpEvents ev)
    {
        Events?.OnTcpEvents(this, ev);
        if ((ev & TcpEvents.Connect) != 0 && Parent is not null && State == TcpState.Established) Parent.OnChildEstablished(this);
    }

    public override string ToString() => $"tcp {Tuple} {State}";
}
