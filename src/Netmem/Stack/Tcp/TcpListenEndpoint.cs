namespace Netmem.Stack.Tcp;

/// <summary>The socket side of a listener (<c>sk_data_ready</c> on a listening socket).</summary>
public interface ITcpListenerEvents
{
    /// <summary>A child reached the accept queue. Called on the child's context thread.</summary>
    void OnAcceptable(TcpListenEndpoint listener);
}

/// <summary>
/// A listening socket in the stack (<c>inet_connection_sock</c> in TCP_LISTEN with its
/// <c>request_sock_queue</c>): children in SYN-RECEIVED count against the backlog, and move to the
/// accept queue on the final ACK. A SYN that finds the backlog full is dropped, as Linux does without
/// syncookies. Children may live on several contexts, so the queues take a lock (per connection, not per segment).
/// </summary>
public sealed class TcpListenEndpoint
{
    private readonly object _lock = new();
    private readonly Queue<TcpConnection> _accept = new();
    private int _synQueue;
    private int _fastOpenQueue; // Fast Open children still waiting for their handshake's final ACK (fastopenq.qlen)

    internal TcpListenEndpoint(TcpLayer layer, TcpEndpoint endpoint, int backlog, TcpSettings settings)
    {
        Layer = layer;
        Endpoint = endpoint;
        Backlog = Math.Max(1, backlog);
        Settings = settings;
        // inet_listen: with tcp_fastopen's 0x400 (and the server bit) a listener without TCP_FASTOPEN gets a
        // Fast Open queue as long as its backlog.
        const TcpFastOpenFlags anyListener = TcpFastOpenFlags.Server | TcpFastOpenFlags.ServerWithoutSockopt;
        if ((settings.FastOpen & anyListener) == anyListener && settings.FastOpenQueueLength == 0) settings.FastOpenQueueLength = Backlog;
    }

    public TcpLayer Layer { get; }
    public TcpEndpoint Endpoint { get; }
    public int Backlog { get; }
    public TcpSettings Settings { get; }
    public ITcpListenerEvents? Events { get; set; }
    public bool IsClosed { get; private set; }
    public int SynQueueLength { get { lock (_lock) return _synQueue; } }
    public int AcceptQueueLength { get { lock (_lock) return _accept.Count; } }
    /// <summary>Fast Open children not yet past their handshake (they count against <see cref="TcpSettings.FastOpenQueueLength"/>).</summary>
    public int FastOpenQueueCount { get { lock (_lock) return _fastOpenQueue; } }

    /// <summary>
    /// <c>tcp_fastopen_queue_check</c>: the listener takes Fast Open (a queue length set) and has room for one more
    /// child that skips the handshake. Overflow is counted.
    /// </summary>
    internal bool FastOpenQueueHasRoom()
    {
        int max = Settings.FastOpenQueueLength;
        if (max <= 0) return false;
        lock (_lock)
        {
            if (_fastOpenQueue < max) return true;
        }
        TcpStats.Inc(ref Layer.Stats.FastOpenListenOverflow);
        return false;
    }

    /// <summary>
    /// A Fast Open child (<c>tcp_fastopen_create_child</c>): it skips the SYN queue and goes straight to the accept
    /// queue in SYN-RECEIVED, counted in the Fast Open queue until its handshake completes or it goes.
    /// </summary>
    internal bool OnFastOpenChild(TcpConnection child)
    {
        lock (_lock)
        {
            if (IsClosed) return false;
            _synQueue--;
            _fastOpenQueue++;
            child.InAcceptQueue = true;
            child.Parent = null;
            child.FastOpenListener = this;
            _accept.Enqueue(child);
        }
        Events?.OnAcceptable(this);
        return true;
    }

    /// <summary>A Fast Open child completed its handshake or closed (<c>reqsk_fastopen_remove</c>).</summary>
    internal void OnFastOpenChildDone(TcpConnection child)
    {
        lock (_lock)
        {
            if (!ReferenceEquals(child.FastOpenListener, this)) return;
            child.FastOpenListener = null;
            _fastOpenQueue--;
        }
    }

    /// <summary>Room for one more child (<c>sk_acceptq_is_full</c> and the SYN queue together).</summary>
    internal bool TryReserveChild()
    {
        lock (_lock)
        {
            if (IsClosed || _synQueue + _accept.Count >= Backlog) return false;
            _synQueue++;
            return true;
        }
    }

    internal void OnChildEstablished(TcpConnection child)
    {
        lock (_lock)
        {
            if (child.InAcceptQueue) return;
            _synQueue--;
            child.InAcceptQueue = true;
            child.Parent = null;
            if (IsClosed) { child.Parent = null; }
            else _accept.Enqueue(child);
        }
        if (IsClosed) { child.Abort(); return; }
        Events?.OnAcceptable(this);
    }

    internal void OnChildGone(TcpConnection child)
    {
        lock (_lock) if (!child.InAcceptQueue) _synQueue--;
    }

    /// <summary><c>inet_csk_accept</c> without waiting: the oldest established child, or false.</summary>
    public bool TryAccept(out TcpConnection connection)
    {
        lock (_lock) return _accept.TryDequeue(out connection!);
    }

    /// <summary>Stops listening: the layer forgets the endpoint; children never accepted are reset (on their contexts).</summary>
    public void Close()
    {
        TcpConnection[] left;
        lock (_lock)
        {
            if (IsClosed) return;
            IsClosed = true;
            left = _accept.ToArray();
            _accept.Clear();
        }
        Layer.Unlisten(this);
        foreach (var c in left) c.Context.Post(new AbortWork(c));
    }

    private sealed class AbortWork(TcpConnection c) : StackWork
    {
        protected internal override void Run(StackContext context) => c.Abort();
    }

    public override string ToString() => $"tcp listen {Endpoint} (backlog {Backlog})";
}
