using Netmem.Devices;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack.Tcp;

/// <summary>Picks the <see cref="StackContext"/> that owns a flow.</summary>
public interface ITcpContextSelector
{
    /// <summary>The context that runs RX queue <paramref name="rxQueue"/> of interface <paramref name="ifIndex"/> (where <see cref="TcpLayer.Receive"/> is called).</summary>
    StackContext ForRxQueue(int ifIndex, int rxQueue);

    /// <summary>The context for a new outgoing flow: the one its replies will arrive on (RSS or a steering rule decides).</summary>
    StackContext ForFlow(in TcpFourTuple tuple);

    /// <summary>
    /// The context a connect to <paramref name="remote"/> starts on before it has a local port
    /// (<see cref="TcpLayer.Connect"/> then prefers a port whose flow lands on it).
    /// </summary>
    StackContext ForNewConnection(Ipv4Address remote, ushort remotePort) => ForFlow(new TcpFourTuple(Ipv4Address.Unspecified, 0, remote, remotePort));
}

/// <summary>Every flow on one context (a single-queue stack, or a test).</summary>
public sealed class SingleContextSelector(StackContext context) : ITcpContextSelector
{
    public StackContext ForRxQueue(int ifIndex, int rxQueue) => context;
    public StackContext ForFlow(in TcpFourTuple tuple) => context;
}

/// <summary>
/// TCP over IPv4 for one stack (<c>tcp_prot</c> + <c>tcp_v4_rcv</c>): the demux tables (established and
/// SYN-RECEIVED connections and TIME_WAIT by 4-tuple, listeners by address and port), ephemeral ports
/// (32768-60999, ip_local_port_range), RFC 6528 ISNs, checksum verification, and RSTs for segments that
/// find no connection (RFC 9293 3.10.7.1). Receive runs on the RX queue's context; the tables are the only
/// state shared between contexts, under one lock taken once per segment (a lookup) and on connect, accept and close.
/// </summary>
public sealed class TcpLayer : IIpProtocolHandler
{
    public const int EphemeralLow = 32768, EphemeralHigh = 60999;
    /// <summary>tcp_challenge_ack_limit: challenge ACKs per second for the whole layer (RFC 5961 7).</summary>
    public const int ChallengeAckLimit = 1000;

    private readonly object _lock = new();
    private readonly Dictionary<TcpFourTuple, TcpConnection> _conns = new();
    private readonly Dictionary<TcpEndpoint, TcpListenEndpoint> _listeners = new();
    private readonly ITcpContextSelector _contexts;
    private long _challengeWindowStartUs = long.MinValue / 2; // far in the past, without overflowing the subtraction
    private int _challengeCount;

    public TcpLayer(IIpOutput ip, ITcpContextSelector contexts, TcpSettings? defaults = null, long? isnSeed = null)
    {
        Ip = ip ?? throw new ArgumentNullException(nameof(ip));
        _contexts = contexts ?? throw new ArgumentNullException(nameof(contexts));
        Defaults = defaults ?? new TcpSettings();
        Isn = new TcpIsn(isnSeed);
    }

    public TcpLayer(IIpOutput ip, StackContext context, TcpSettings? defaults = null, long? isnSeed = null)
        : this(ip, new SingleContextSelector(context), defaults, isnSeed) { }

    public IpProtocol Protocol => IpProtocol.Tcp;
    public IIpOutput Ip { get; }
    public TcpIsn Isn { get; }
    public TcpStats Stats { get; } = new();
    /// <summary>The Fast Open cookies servers gave this host's connections (RFC 7413 client side).</summary>
    public TcpFastOpenCache FastOpenCookies { get; } = new();
    /// <summary>
    /// The server's Fast Open key when neither the listener (TCP_FASTOPEN_KEY) nor net.ipv4.tcp_fastopen_key set one:
    /// random per layer, as a network namespace's is on first use.
    /// </summary>
    public TcpFastOpenKey FastOpenKey { get; set; } = TcpFastOpenKey.Random();
    /// <summary>Settings new sockets start with.</summary>
    public TcpSettings Defaults { get; }
    public ITcpContextSelector Contexts => _contexts;

    /// <summary>Connections in the tables (every state but LISTEN and CLOSED, TIME_WAIT included).</summary>
    public int ConnectionCount { get { lock (_lock) return _conns.Count; } }
    public int ListenerCount { get { lock (_lock) return _listeners.Count; } }

    // ------------------------------------------------------------------ input

    public void Receive(in Ipv4Meta ip, SkBuff skb)
    {
        TcpStats.Inc(ref Stats.InSegs);
        if (!skb.PskbMayPull(TcpPacket.MinHeaderLength)) { DropSkb(skb, TcpDropReason.BadHeader); return; }
        int hlen = (skb.Data[12] >> 4) * 4;
        if (hlen < TcpPacket.MinHeaderLength || hlen > skb.Len || !skb.PskbMayPull(hlen)) { DropSkb(skb, TcpDropReason.BadHeader); return; }
        if (!ChecksumOk(ip, skb, out var why)) { DropSkb(skb, why); return; }
        var header = skb.Data[..hlen];
        if (TcpPacket.TryCreate(header, out var pkt) != ParseResult.Ok) { DropSkb(skb, TcpDropReason.BadHeader); return; }
        if (TcpOptions.Parse(pkt.Options, out var opts) != ParseResult.Ok) { DropSkb(skb, TcpDropReason.BadOption); return; }
        var seg = new TcpSegment(pkt.SequenceNumber, pkt.AcknowledgmentNumber, pkt.Flags, pkt.WindowSize, skb.Len - hlen, opts, (byte)(ip.Tos & 3));
        var tuple = new TcpFourTuple(ip.Destination, pkt.DestinationPort, ip.Source, pkt.SourcePort);
        var rxContext = _contexts.ForRxQueue(ip.IfIndex, ip.RxQueue);
        var conn = Lookup(tuple, out var listener);
        if (conn is not null && !ReferenceEquals(conn.Context, rxContext))
        {
            // Not the owner's queue (a steering rule or the RSS table changed, a reassembled datagram):
            // the connection's state is its owner's alone, so the segment crosses over, header and all.
            skb.IpSummed = SkbChecksumState.Unnecessary; // verified above
            if (!conn.Backlog.Enqueue(skb)) DropSkb(skb, TcpDropReason.BacklogFull);
            else TcpStats.Inc(ref Stats.Handoffs);
            return;
        }
        skb.Pull(hlen);
        Deliver(conn, listener, tuple, seg, skb, rxContext);
    }

    /// <summary>A segment <see cref="Receive"/> handed to its connection's context: data at the TCP header, checksum verified.</summary>
    internal void ReceiveHandedOff(TcpConnection owner, SkBuff skb)
    {
        int hlen = (skb.Data[12] >> 4) * 4;
        if (TcpPacket.TryCreate(skb.Data[..hlen], out var pkt) != ParseResult.Ok
            || TcpOptions.Parse(pkt.Options, out var opts) != ParseResult.Ok) { DropSkb(skb, TcpDropReason.BadHeader); return; }
        // The IPv4 header is still in front of the TCP header: its TOS byte carries the ECN field.
        byte ecn = skb.NetworkOffset is < 0 and >= -60 ? (byte)(skb.GetHeadSpan(skb.NetworkHeader + 1, 1)[0] & 3) : (byte)0;
        var seg = new TcpSegment(pkt.SequenceNumber, pkt.AcknowledgmentNumber, pkt.Flags, pkt.WindowSize, skb.Len - hlen, opts, ecn);
        skb.Pull(hlen);
        Dispatch(owner.Tuple, seg, skb, owner.Context);
    }

    private TcpConnection? Lookup(in TcpFourTuple tuple, out TcpListenEndpoint? listener)
    {
        listener = null;
        lock (_lock)
        {
            if (_conns.TryGetValue(tuple, out var conn)) return conn;
            if (!_listeners.TryGetValue(new TcpEndpoint(tuple.LocalAddress, tuple.LocalPort), out listener))
                _listeners.TryGetValue(new TcpEndpoint(Ipv4Address.Unspecified, tuple.LocalPort), out listener);
            return null;
        }
    }

    private void Dispatch(in TcpFourTuple tuple, in TcpSegment seg, SkBuff skb, StackContext context)
    {
        var conn = Lookup(tuple, out var listener);
        if (conn is not null && !ReferenceEquals(conn.Context, context))
        {
            // A new connection for this tuple lives elsewhere now (handed off, or re-created meanwhile): the
            // header is gone, so it is dropped as the kernel drops a segment that races a socket change.
            DropSkb(skb, TcpDropReason.NoSocket);
            return;
        }
        Deliver(conn, listener, tuple, seg, skb, context);
    }

    private void Deliver(TcpConnection? conn, TcpListenEndpoint? listener, in TcpFourTuple tuple, in TcpSegment seg, SkBuff skb, StackContext context)
    {
        if (conn is not null) { conn.Input(seg, skb); return; }
        if (listener is not null) { ListenInput(listener, tuple, seg, skb, context); return; }
        Stats.Drop(TcpDropReason.NoSocket);
        skb.Free();
        ResetForNoSocket(tuple, seg, context);
    }

    /// <summary>A SYN that found a TIME_WAIT connection with a higher sequence number goes to the listener (after the old one is gone).</summary>
    internal void ReinjectSyn(in TcpFourTuple tuple, in TcpSegment seg, SkBuff skb, StackContext ctx) => Dispatch(tuple, seg, skb, ctx);

    private static bool ChecksumOk(in Ipv4Meta ip, SkBuff skb, out TcpDropReason why)
    {
        why = TcpDropReason.BadChecksum;
        if (skb.CsumUnnecessary) return true;
        // CHECKSUM_COMPLETE: the device's sum; a mismatch may mean it covers something else, so verify in full below.
        if (skb.IpSummed == SkbChecksumState.Complete
            && InetChecksum.Fold(PseudoHeader.Sum(ip.Source, ip.Destination, IpProtocol.Tcp, skb.Len, skb.Csum)) == 0) return true;
        if (skb.AnyUnreadable) { why = TcpDropReason.UnverifiableChecksum; return false; }
        uint sum = skb.Checksum(0, skb.Len);
        return PseudoHeader.Checksum(ip.Source, ip.Destination, IpProtocol.Tcp, skb.Len, sum) == 0;
    }

    private void DropSkb(SkBuff skb, TcpDropReason reason)
    {
        Stats.Drop(reason);
        TcpStats.Inc(ref Stats.InErrs);
        skb.Free();
    }

    /// <summary><c>tcp_v4_conn_request</c> and the LISTEN state of 3.10.7.2.</summary>
    private void ListenInput(TcpListenEndpoint listener, in TcpFourTuple tuple, in TcpSegment seg, SkBuff skb, StackContext ctx)
    {
        // Data on a SYN is queued only by a Fast Open child; otherwise the peer sends it again after the handshake.
        if (seg.Rst) { skb.Free(); return; }
        if (seg.HasAck) { skb.Free(); SendResetReply(tuple, seg.Ack, 0, ackFlag: false, ctx); return; }
        if (!seg.Syn) { skb.Free(); Stats.Drop(TcpDropReason.BadFlags); return; }
        if (Ip.Route(tuple.RemoteAddress, tuple.LocalAddress, out var route) != Errno.None) { skb.Free(); Stats.Drop(TcpDropReason.NoSocket); return; }
        if (!listener.TryReserveChild()) { skb.Free(); Stats.Drop(TcpDropReason.ListenOverflow); return; }
        var child = new TcpConnection(this, ctx, tuple, listener.Settings);
        lock (_lock)
        {
            if (!_conns.TryAdd(tuple, child)) { skb.Free(); listener.OnChildGone(child); return; }
        }
        var fastOpen = TryFastOpen(listener, tuple, seg);
        child.AcceptSyn(seg, skb, route, listener, fastOpen);
        if (fastOpen.CreateChild && !listener.OnFastOpenChild(child)) child.Abort();
    }

    /// <summary>
    /// <c>tcp_try_fastopen</c>: a listener with the server bit of tcp_fastopen and room in its Fast Open queue
    /// creates the child at once for a SYN with data when cookies are not required (0x200, TCP_FASTOPEN_NO_COOKIE),
    /// or for a SYN whose cookie checks out under the key (the backup key's cookie gets the primary's in the SYN-ACK);
    /// a cookie request or a wrong cookie is answered with the valid cookie, and the handshake goes as usual.
    /// </summary>
    private TcpFastOpenDecision TryFastOpen(TcpListenEndpoint listener, in TcpFourTuple tuple, in TcpSegment seg)
    {
        var s = listener.Settings;
        var o = seg.Options;
        int presented = o.HasFastOpen ? o.FastOpenCookieLength : -1;
        bool exp = o.FastOpenExperimental;
        if (presented == 0) TcpStats.Inc(ref Stats.FastOpenCookieReqd);
        if ((s.FastOpen & TcpFastOpenFlags.Server) == 0 || (seg.PayloadLength == 0 && presented < 0) || !listener.FastOpenQueueHasRoom())
            return default;
        if ((s.FastOpen & TcpFastOpenFlags.ServerCookieNotRequired) != 0 || s.FastOpenNoCookie) return new TcpFastOpenDecision(true, null, false);
        if (presented < 0) return default;
        var key = s.FastOpenKey ?? FastOpenKey;
        var valid = new byte[TcpFastOpenKey.CookieSize];
        key.Cookie(tuple.RemoteAddress, tuple.LocalAddress, valid); // the SYN's source, then its destination
        if (presented == 0) return new TcpFastOpenDecision(false, valid, exp);
        Span<byte> cookie = stackalloc byte[TcpOptions.MaxFastOpenCookie];
        int check = key.Check(tuple.RemoteAddress, tuple.LocalAddress, cookie[..o.CopyFastOpenCookie(cookie)]);
        if (check == 0)
        {
            TcpStats.Inc(ref Stats.FastOpenPassiveFail);
            return new TcpFastOpenDecision(false, valid, exp);
        }
        if (check == 2) TcpStats.Inc(ref Stats.FastOpenPassiveAltKey);
        return new TcpFastOpenDecision(true, check == 2 ? valid : null, exp);
    }

    /// <summary>RFC 9293 3.10.7.1: a reset for a segment that found nothing (never for a reset).</summary>
    private void ResetForNoSocket(in TcpFourTuple tuple, in TcpSegment seg, StackContext ctx)
    {
        if (seg.Rst) return;
        if (seg.HasAck) SendResetReply(tuple, seg.Ack, 0, ackFlag: false, ctx);
        else SendResetReply(tuple, 0, seg.Seq + (uint)seg.SegLen, ackFlag: true, ctx);
    }

    /// <summary><c>tcp_v4_send_reset</c>: a bare RST (no connection state) on <paramref name="ctx"/>.</summary>
    internal void SendResetReply(in TcpFourTuple tuple, uint seq, uint ack, bool ackFlag, StackContext ctx)
    {
        var cache = ctx.SkbCache;
        if (cache is null) return;
        if (Ip.Route(tuple.RemoteAddress, tuple.LocalAddress, out var route) != Errno.None) return;
        var repr = new TcpRepr(tuple.LocalPort, tuple.RemotePort, seq, ackFlag ? ack : 0, TcpFlags.Rst | (ackFlag ? TcpFlags.Ack : 0), 0, 0);
        var skb = cache.Alloc(Ip.MaxHeaderRoom + TcpPacket.MinHeaderLength);
        if (skb is null) return;
        skb.Reserve(Ip.MaxHeaderRoom);
        var h = skb.Put(TcpPacket.MinHeaderLength);
        repr.Emit(h, tuple.LocalAddress, tuple.RemoteAddress, fillChecksum: true);
        skb.ResetTransportHeader();
        TcpStats.Inc(ref Stats.OutRsts);
        TcpStats.Inc(ref Stats.OutSegs);
        Ip.Output(skb, route, tuple.LocalAddress, tuple.RemoteAddress, IpProtocol.Tcp);
    }

    /// <summary>RFC 5961 7: at most <see cref="ChallengeAckLimit"/> challenge ACKs per second.</summary>
    internal bool AllowChallengeAck(long nowUs)
    {
        lock (_lock)
        {
            if (nowUs - _challengeWindowStartUs >= 1_000_000) { _challengeWindowStartUs = nowUs; _challengeCount = 0; }
            return ++_challengeCount <= ChallengeAckLimit;
        }
    }

    public void ReceiveIcmpError(in Ipv4Meta original, Icmpv4Message message, byte code, uint info, ReadOnlySpan<byte> quotedTransport)
    {
        // Soft errors only (RFC 1122 4.2.3.9): counted; path MTU changes are not acted on yet.
        TcpStats.Inc(ref Stats.IcmpErrs);
    }

    // ------------------------------------------------------------------ sockets

    /// <summary>
    /// <c>inet_stream_connect</c>: route, local port (EADDRINUSE when a fixed one is taken for this
    /// destination, EADDRNOTAVAIL when the ephemeral range is exhausted), registration, and the SYN.
    /// <paramref name="on"/> is the context the caller runs on (null: the caller runs on the connection's,
    /// as with a single context). An ephemeral port is picked, where one is free, so that the flow's
    /// replies land on <paramref name="on"/>; when the chosen port's flow belongs to another context (a
    /// fixed port, a steering rule) the connection is made there and its SYN is posted to it.
    /// <paramref name="events"/> is set before the SYN goes out, so no event can be missed.
    /// </summary>
    public Errno Connect(Ipv4Address remote, ushort remotePort, Ipv4Address local, ushort localPort, TcpSettings settings, out TcpConnection? connection,
        ITcpConnectionEvents? events = null, StackContext? on = null, bool fastOpen = false)
    {
        var err = Register(remote, remotePort, local, localPort, settings, events, on, out connection, out var route, out var ctx);
        if (err != Errno.None) return err;
        if (on is null || ReferenceEquals(on, ctx)) connection!.StartConnect(route, fastOpen);
        else connection!.PostStartConnect(route, fastOpen);
        return Errno.None;
    }

    /// <summary>
    /// A Fast Open connect (<c>tcp_sendmsg_fastopen</c>: sendmsg with MSG_FASTOPEN, or the first write after a
    /// TCP_FASTOPEN_CONNECT connect): as <see cref="Connect"/>, and with a cookie cached for the server (or cookies
    /// off) the first bytes of <paramref name="data"/> are queued and ride in the SYN. <paramref name="queued"/> says
    /// how many (0: the SYN only asks for a cookie, or the connection starts on another context, where the data
    /// waits for the handshake like any write).
    /// </summary>
    public Errno ConnectFastOpen(Ipv4Address remote, ushort remotePort, Ipv4Address local, ushort localPort, TcpSettings settings,
        ReadOnlySpan<byte> data, out TcpConnection? connection, out int queued, ITcpConnectionEvents? events = null, StackContext? on = null)
    {
        queued = 0;
        var err = Register(remote, remotePort, local, localPort, settings, events, on, out connection, out var route, out var ctx);
        if (err != Errno.None) return err;
        if (on is null || ReferenceEquals(on, ctx)) queued = connection!.StartConnect(route, fastOpen: true, data);
        else connection!.PostStartConnect(route, fastOpen: true);
        return Errno.None;
    }

    /// <summary>Route, local address and port, and the table entry of a new active open (the SYN not yet sent).</summary>
    private Errno Register(Ipv4Address remote, ushort remotePort, Ipv4Address local, ushort localPort, TcpSettings settings,
        ITcpConnectionEvents? events, StackContext? on, out TcpConnection? connection, out IpRoute route, out StackContext ctx)
    {
        connection = null;
        ctx = null!;
        route = default;
        if (remotePort == 0 || remote.IsUnspecified || !remote.IsUnicast) return Errno.EINVAL;
        var err = Ip.Route(remote, local, out route);
        if (err != Errno.None) return err;
        if (local.IsUnspecified) local = route.Source;
        var probe = new TcpFourTuple(local, 0, remote, remotePort);
        lock (_lock)
        {
            if (localPort != 0)
            {
                var t = probe with { LocalPort = localPort };
                if (_conns.ContainsKey(t)) return Errno.EADDRINUSE;
                probe = t;
                ctx = _contexts.ForFlow(probe);
            }
            else if (!PickEphemeral(ref probe, on, out ctx)) return Errno.EADDRNOTAVAIL;
            connection = new TcpConnection(this, ctx, probe, settings) { Events = events };
            _conns.Add(probe, connection);
        }
        return Errno.None;
    }

    /// <summary>Free candidates looked at for one whose flow lands on the caller's context before any free one will do.</summary>
    private const int AffinityCandidates = 256;

    /// <summary><c>__inet_hash_connect</c> from the RFC 6056 offset, preferring a port whose replies RSS sends to <paramref name="on"/>.</summary>
    private bool PickEphemeral(ref TcpFourTuple probe, StackContext? on, out StackContext ctx)
    {
        int range = EphemeralHigh - EphemeralLow + 1;
        uint offset = Isn.PortOffset(probe);
        TcpFourTuple first = default;
        StackContext? firstCtx = null;
        int free = 0;
        for (int i = 0; i < range; i++)
        {
            ushort port = (ushort)(EphemeralLow + (int)((offset + (uint)i) % (uint)range));
            var t = probe with { LocalPort = port };
            if (_conns.ContainsKey(t) || _listeners.ContainsKey(new TcpEndpoint(probe.LocalAddress, port)) || _listeners.ContainsKey(new TcpEndpoint(Ipv4Address.Unspecified, port))) continue;
            var c = _contexts.ForFlow(t);
            if (on is null || ReferenceEquals(c, on)) { probe = t; ctx = c; return true; }
            if (firstCtx is null) { first = t; firstCtx = c; }
            if (++free >= AffinityCandidates) break;
        }
        ctx = firstCtx!;
        if (firstCtx is null) return false;
        probe = first;
        return true;
    }

    /// <summary>The context a connection to this destination starts on (so the caller can post Connect there).</summary>
    public StackContext ContextFor(Ipv4Address remote, ushort remotePort) => _contexts.ForNewConnection(remote, remotePort);

    /// <summary><c>inet_csk_listen_start</c>: EADDRINUSE when the address and port already listen (or overlap a wildcard).</summary>
    public Errno Listen(TcpEndpoint endpoint, int backlog, TcpSettings settings, out TcpListenEndpoint? listener)
    {
        listener = null;
        if (endpoint.Port == 0) return Errno.EINVAL;
        lock (_lock)
        {
            if (_listeners.ContainsKey(endpoint)) return Errno.EADDRINUSE;
            if (endpoint.Address.IsUnspecified)
            {
                foreach (var k in _listeners.Keys) if (k.Port == endpoint.Port) return Errno.EADDRINUSE;
            }
            else if (_listeners.ContainsKey(new TcpEndpoint(Ipv4Address.Unspecified, endpoint.Port))) return Errno.EADDRINUSE;
            listener = new TcpListenEndpoint(this, endpoint, backlog, settings with { });
            _listeners.Add(endpoint, listener);
        }
        return Errno.None;
    }

    internal void Unlisten(TcpListenEndpoint listener)
    {
        lock (_lock)
        {
            if (_listeners.TryGetValue(listener.Endpoint, out var l) && ReferenceEquals(l, listener)) _listeners.Remove(listener.Endpoint);
        }
    }

    internal void Unregister(TcpConnection c)
    {
        lock (_lock)
        {
            if (_conns.TryGetValue(c.Tuple, out var x) && ReferenceEquals(x, c)) _conns.Remove(c.Tuple);
        }
    }

    /// <summary>Resets every connection (stack shutdown). Run it on the contexts' thread (all of them here: a single-threaded teardown).</summary>
    public void AbortAll()
    {
        TcpConnection[] all;
        lock (_lock) { all = new TcpConnection[_conns.Count]; _conns.Values.CopyTo(all, 0); }
        foreach (var c in all) c.Abort();
    }

    /// <summary>The connection for a 4-tuple, if any (tests and diagnostics).</summary>
    public TcpConnection? Find(in TcpFourTuple tuple)
    {
        lock (_lock) return _conns.TryGetValue(tuple, out var c) ? c : null;
    }
}
