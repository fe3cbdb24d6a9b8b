using Netmem.Skb;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Sockets;

/// <summary>
/// A TCP socket (SOCK_STREAM) over a <see cref="TcpLayer"/>. Calls come from any thread; each one is
/// posted to the connection's <see cref="StackContext"/> and completes through a reused value-task
/// source, so a steady stream of sends and receives allocates nothing. One send and one receive may be
/// in flight at a time (EALREADY otherwise). Errors are <see cref="NetmemErrnoException"/> with Linux's errno.
/// </summary>
public sealed class TcpSocket : ITcpConnectionEvents, IDisposable
{
    private readonly TcpLayer _layer;
    private readonly TcpSocketOperation _send, _recv, _ctl;
    private volatile TcpConnection? _conn;
    private volatile StackContext? _ctx;
    private bool _connectIssued;
    private Ipv4Address _remote; private ushort _remotePort;
    private TcpReceiveLease? _lease;

    /// <summary>A socket on <paramref name="stack"/>'s TCP (<c>socket(AF_INET, SOCK_STREAM)</c>).</summary>
    public TcpSocket(NetStack stack) : this((stack ?? throw new ArgumentNullException(nameof(stack))).Tcp) { }

    public TcpSocket(TcpLayer layer)
    {
        _layer = layer ?? throw new ArgumentNullException(nameof(layer));
        Settings = layer.Defaults with { };
        _send = new TcpSocketOperation(this);
        _recv = new TcpSocketOperation(this);
        _ctl = new TcpSocketOperation(this);
    }

    internal TcpSocket(TcpLayer layer, TcpConnection accepted) : this(layer)
    {
        _conn = accepted;
        _ctx = accepted.Context;
        Settings = accepted.Settings;
        accepted.Events = this;
    }

    /// <summary>The options (copy of the layer's defaults): set before connecting, or call <see cref="ApplySettings"/> after.</summary>
    public TcpSettings Settings { get; private set; }
    public TcpConnection? Connection => _conn;
    internal StackContext? Context => _ctx;
    public TcpState State => _conn?.State ?? TcpState.Closed;
    public bool NoDelay { get => Settings.NoDelay; set { Settings.NoDelay = value; ApplySettings(); } }
    public int SendBufferSize { get => Settings.SendBufferSize; set { CheckPositive(value); Settings.SendBufferSize = value; ApplySettings(); } }
    public int ReceiveBufferSize { get => Settings.ReceiveBufferSize; set { CheckPositive(value); Settings.ReceiveBufferSize = value; Settings.ReceiveBufferAutoTuning = false; ApplySettings(); } }
    public bool KeepAlive { get => Settings.KeepAlive; set { Settings.KeepAlive = value; ApplySettings(); } }

    public void SetKeepAlive(TimeSpan idle, TimeSpan interval, int count)
    {
        if (idle <= TimeSpan.Zero || interval <= TimeSpan.Zero || count <= 0)
            throw new NetmemErrnoException(Errno.EINVAL, $"keepalive idle {idle}, interval {interval} and count {count} must be positive");
        Settings.KeepAliveIdle = idle; Settings.KeepAliveInterval = interval; Settings.KeepAliveCount = count; Settings.KeepAlive = true;
        ApplySettings();
    }

    /// <summary>TCP_CONGESTION: "cubic" or "reno" (EINVAL-style ArgumentException for anything else).</summary>
    public string CongestionControl
    {
        get => Settings.CongestionControl;
        set
        {
            Netmem.Stack.Tcp.CongestionControl.Create(value); // validates
            Settings.CongestionControl = value;
            if (_conn is { } c) _ctx!.Post(new ActionWork(() => c.SetCongestionControl(value)));
        }
    }

    private static void CheckPositive(int v)
    {
        if (v <= 0) throw new NetmemErrnoException(Errno.EINVAL, $"buffer size {v} must be positive");
    }

    private void ApplySettings()
    {
        if (_conn is { } c) _ctx!.Post(new ActionWork(c.ApplySettings));
    }

    // ------------------------------------------------------------------ calls

    /// <summary><c>connect()</c>: completes when established; ECONNREFUSED on RST, ETIMEDOUT after the SYN retries, EISCONN when already connected.</summary>
    public ValueTask ConnectAsync(Ipv4Address address, ushort port, CancellationToken ct = default)
    {
        if (_conn is not null) throw new NetmemErrnoException(Errno.EISCONN, $"{this} is already connected");
        if (port == 0) throw new NetmemErrnoException(Errno.EINVAL, "connect to port 0");
        _remote = address;
        _remotePort = port;
        _ctx = _layer.ContextFor(address, port);
        _ctl.Start(TcpOpKind.Connect, ct);
        return new ValueTask(_ctl, _ctl.Submit(_ctx));
    }

    /// <summary><c>send()</c>: completes with the whole length once every byte is in the send buffer (waits while it is full).</summary>
    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        var c = RequireConnected();
        _send.Start(TcpOpKind.Send, ct);
        _send.SendBuffer = data;
        return new ValueTask<int>(_send, _send.Submit(c.Context));
    }

    /// <summary><c>recv()</c> (copying): the bytes read, 0 at end of stream.</summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> into, CancellationToken ct = default)
    {
        var c = RequireConnected();
        _recv.Start(TcpOpKind.Receive, ct);
        _recv.ReceiveBuffer = into;
        return new ValueTask<int>(_recv, _recv.Submit(c.Context));
    }

    /// <summary>
    /// Zero-copy receive: the queued skbs themselves (up to <paramref name="maxBytes"/>, at least one),
    /// handed over as a lease the caller disposes. An empty lease means end of stream. One lease at a time.
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<TcpReceiveLease> ReceiveLeaseAsync(int maxBytes = int.MaxValue, CancellationToken ct = default)
    {
        var c = RequireConnected();
        if (_lease is { IsActive: true }) throw new NetmemErrnoException(Errno.EALREADY, $"{this}: dispose the previous receive lease first");
        _lease ??= new TcpReceiveLease(this);
        _lease.Reset();
        _recv.Start(TcpOpKind.Lease, ct);
        _recv.MaxBytes = maxBytes;
        await new ValueTask<int>(_recv, _recv.Submit(c.Context)).ConfigureAwait(false);
        return _lease;
    }

    /// <summary><c>shutdown(SHUT_WR)</c>: a FIN after the queued data.</summary>
    public void ShutdownSend()
    {
        var c = RequireConnected();
        c.Context.Post(new ActionWork(() => c.ShutdownSend()));
    }

    /// <summary><c>close()</c>: a FIN after the data, completing when the FIN exchange is done (TIME_WAIT or CLOSED); the data lingers until then.</summary>
    public ValueTask CloseAsync(CancellationToken ct = default)
    {
        if (_conn is null) return ValueTask.CompletedTask;
        _ctl.Start(TcpOpKind.Close, ct);
        return new ValueTask(_ctl, _ctl.Submit(_ctx!));
    }

    /// <summary>SO_LINGER 0 + close: RST now, queued data discarded.</summary>
    public void Abort()
    {
        if (_conn is { } c) _ctx!.Post(new ActionWork(c.Abort));
    }

    /// <summary>A <c>TCP_INFO</c> snapshot, taken on the connection's thread.</summary>
    public async ValueTask<TcpInfo> GetInfoAsync()
    {
        var c = RequireConnected();
        var tcs = new TaskCompletionSource<TcpInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        c.Context.Post(new ActionWork(() => tcs.SetResult(c.GetInfo())));
        return await tcs.Task.ConfigureAwait(false);
    }

    private TcpConnection RequireConnected() =>
        _conn ?? throw new NetmemErrnoException(Errno.ENOTCONN, $"{this} is not connected");

    // ------------------------------------------------------------------ on the connection's thread

    void ITcpConnectionEvents.OnTcpEvents(TcpConnection connection, TcpEvents events)
    {
        if (_conn is null)
        {
            // The connection's first events can come before the thread that made it has stored it (its SYN went out on another context).
            Settings = connection.Settings;
            _ctx = connection.Context;
            _conn = connection;
        }
        if (_ctl.IsPending) Progress(_ctl);
        if ((events & (TcpEvents.Writable | TcpEvents.Closed)) != 0 && _send.IsPending) Progress(_send);
        if ((events & (TcpEvents.Readable | TcpEvents.Closed)) != 0 && _recv.IsPending) Progress(_recv);
    }

    /// <summary>
    /// Moves <paramref name="op"/> on as far as the connection allows now, completing it when it is done.
    /// <paramref name="on"/> is the context running it when that may not be the connection's (a connect).
    /// </summary>
    internal void Progress(TcpSocketOperation op, StackContext? on = null)
    {
        if (!op.IsPending) return;
        if (op.CancelRequested) { op.Fail(new OperationCanceledException($"{op.Kind} on {this} was cancelled")); return; }
        var c = _conn;
        switch (op.Kind)
        {
            case TcpOpKind.Connect:
                if (c is null)
                {
                    if (_connectIssued) return; // made on another context: its events complete this
                    var err = _layer.Connect(_remote, _remotePort, Ipv4Address.Unspecified, 0, Settings, out c, events: this, on: on);
                    if (err != Errno.None) { op.Fail(new NetmemErrnoException(err, $"connect to {_remote}:{_remotePort}")); return; }
                    _connectIssued = true;
                    Settings = c!.Settings; // options set from now on reach the connection (it copied ours)
                    _ctx = c.Context;
                    _conn = c;
                    if (on is not null && !ReferenceEquals(on, c.Context)) return; // the owner's events complete this
                }
                if (c!.State == TcpState.Established || c.State == TcpState.CloseWait) op.Complete(0);
                else if (c.State == TcpState.Closed)
                    op.Fail(new NetmemErrnoException(c.Error == Errno.None ? Errno.ECONNREFUSED : c.Error, $"connect to {_remote}:{_remotePort}"));
                return;
            case TcpOpKind.Send:
            {
                var span = op.SendBuffer.Span;
                while (op.Done < span.Length)
                {
                    int n = c!.Send(span[op.Done..]);
                    if (n < 0) { op.Fail(new NetmemErrnoException((Errno)(-n), $"send on {this}")); return; }
                    if (n == 0) return; // the buffer is full: Writable brings us back
                    op.Done += n;
                }
                op.Complete(op.Done);
                return;
            }
            case TcpOpKind.Receive:
            {
                int n = c!.Receive(op.ReceiveBuffer.Span);
                if (n == -(int)Errno.EAGAIN) return;
                if (n < 0) op.Fail(new NetmemErrnoException((Errno)(-n), $"receive on {this}"));
                else op.Complete(n);
                return;
            }
            case TcpOpKind.Lease:
            {
                var lease = _lease!;
                while (lease.Length < op.MaxBytes && lease.Count < TcpReceiveLease.MaxSkbs && c!.TryTakeReceived(out var skb))
                    lease.Add(skb);
                if (lease.Count > 0) { op.Complete(lease.Length); return; }
                if (c!.IsReadable)
                {
                    if (c.Error != Errno.None && c.Error != Errno.EPIPE) op.Fail(new NetmemErrnoException(c.Error, $"receive on {this}"));
                    else op.Complete(0); // end of stream
                }
                return;
            }
            case TcpOpKind.Close:
                if (!c!.AppClosed) c.Close();
                if (c.State is TcpState.Closed or TcpState.TimeWait) op.Complete(0);
                return;
        }
    }

    internal void ReleaseLease(TcpReceiveLease lease) => _ctx!.Post(lease.FreeWork);

    public void Dispose()
    {
        if (_conn is { } c) _ctx!.Post(new ActionWork(c.Close));
    }

    public override string ToString() => _conn is null ? "tcp socket (unconnected)" : $"tcp socket {_conn.Tuple}";

    /// <summary>A one-off call on the context (control path only: it allocates).</summary>
    internal sealed class ActionWork(Action action) : StackWork
    {
        protected internal override void Run(StackContext context) => action();
    }
}
