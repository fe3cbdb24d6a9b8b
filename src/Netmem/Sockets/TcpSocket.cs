using Netmem.Dmabuf;
using Netmem.Skb;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Sockets;

/// <summary>
/// A TCP socket (SOCK_STREAM) over a <see cref="TcpLayer"/>. Calls come from any thread; each one is
/// posted to the connection's <see cref="StackContext"/> and completes through a reused value-task
/// source, so a steady stream of sends and receives allocates nothing. One send and one receive (copying, lease or
/// devmem) may be in flight at a time (EALREADY otherwise); any number of leases and devmem tokens may be held. Errors are <see cref="NetmemErrnoException"/> with Linux's errno.
/// </summary>
public sealed partial class TcpSocket : ITcpConnectionEvents, IDisposable
{
    private readonly TcpLayer _layer;
    private readonly TcpSocketOperation _send, _recv, _ctl;
    private volatile TcpConnection? _conn;
    private volatile StackContext? _ctx;
    private bool _connectIssued;
    private Ipv4Address _remote; private ushort _remotePort;
    private readonly Stack<TcpReceiveLease> _freeLeases = new(); // disposed leases, reused (locked: any thread disposes)
    private readonly DevmemTokenTable _tokens = new();
    private readonly Queue<ZerocopySendOperation> _zcQueue = new();       // zero-copy sends still being queued (context thread)
    private readonly Stack<ZerocopySendOperation> _zcFree = new();        // finished ones, reused (locked: any thread returns them)

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
    /// <summary>
    /// SO_ZEROCOPY: allows <see cref="SendZeroCopyAsync"/> (MSG_ZEROCOPY). A listener's value is inherited by the
    /// sockets it accepts.
    /// </summary>
    public bool ZeroCopy { get => Settings.ZeroCopy; set => Settings.ZeroCopy = value; }

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

    /// <summary>
    /// <c>send(MSG_ZEROCOPY)</c>: sends <paramref name="data"/> without copying it. The memory is pinned and the
    /// segments point at it; the ValueTask completes (with the length) when the memory may be reused: every byte
    /// was acknowledged and no skb in flight (a retransmission included) still references it, i.e. the send ids
    /// it took are covered by completions, which are also reported on the error queue
    /// (<see cref="TryReadErrorQueue"/>). Several may be outstanding; they are queued in call order. Requires
    /// <see cref="ZeroCopy"/> (InvalidOperationException otherwise, where Linux would silently copy).
    /// </summary>
    public ValueTask<int> SendZeroCopyAsync(ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        if (!Settings.ZeroCopy)
            throw new InvalidOperationException($"{this}: SendZeroCopyAsync needs SO_ZEROCOPY; set TcpSocket.ZeroCopy = true first");
        var c = RequireConnected();
        ZerocopySendOperation? op;
        lock (_zcFree) _zcFree.TryPop(out op);
        op ??= new ZerocopySendOperation(this);
        op.Start(data, ct);
        short version = op.Version;
        c.Context.Post(op);
        return new ValueTask<int>(op, version);
    }

    /// <summary>
    /// devmem TX: <c>sendmsg(MSG_ZEROCOPY)</c> with <c>SCM_DEVMEM_DMABUF</c> = <paramref name="dmabufId"/> and one iovec
    /// whose base is <paramref name="offset"/> into the dma-buf of that TX binding (<see cref="NetDevmemBinding.BindTx"/>
    /// on the device this connection is routed through). The NIC DMAs the bytes from the dma-buf; the CPU never
    /// reads them. The ValueTask completes with <paramref name="length"/> when the range may be rewritten: all of it
    /// queued, acknowledged and no longer referenced by any skb (its completions, also reported on the error queue,
    /// arrived). Several may be outstanding, in call order with <see cref="SendZeroCopyAsync"/>. Fails with
    /// <see cref="NetmemErrnoException"/> as <see cref="TcpConnection.SendDevmem(uint, ReadOnlySpan{DmabufIov}, bool, bool)"/>
    /// (EINVAL unknown or unbound id, ENODEV another device, EOPNOTSUPP no checksum offload, EFAULT past the end).
    /// Requires <see cref="ZeroCopy"/> (InvalidOperationException otherwise; the kernel's EINVAL).
    /// </summary>
    public ValueTask<int> SendDevmemAsync(uint dmabufId, long offset, int length, CancellationToken ct = default)
    {
        if (!Settings.ZeroCopy)
            throw new InvalidOperationException($"{this}: SendDevmemAsync needs SO_ZEROCOPY (devmem TX is MSG_ZEROCOPY); set TcpSocket.ZeroCopy = true first");
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (dmabufId == 0) throw new NetmemErrnoException(Errno.EINVAL, $"{this}: dmabuf id 0 names no binding (ids start at 1)");
        var c = RequireConnected();
        ZerocopySendOperation? op;
        lock (_zcFree) _zcFree.TryPop(out op);
        op ??= new ZerocopySendOperation(this);
        op.StartDevmem(dmabufId, offset, length, ct);
        short version = op.Version;
        c.Context.Post(op);
        return new ValueTask<int>(op, version);
    }

    /// <summary>
    /// <c>recvmsg(MSG_ERRQUEUE)</c>: the oldest record of the socket's error queue (zero-copy completions: send
    /// ids [<see cref="SockExtendedErr.Info"/>, <see cref="SockExtendedErr.Data"/>], code
    /// <see cref="SockExtendedErr.CodeZerocopyCopied"/> when the data was copied after all), or false (EAGAIN).
    /// Any thread; allocates nothing.
    /// </summary>
    public bool TryReadErrorQueue(out SockExtendedErr err)
    {
        if (_conn is { } c) return c.ErrorQueue.TryDequeue(out err);
        err = default;
        return false;
    }

    /// <summary>
    /// Queues the socket's zero-copy sends in order (context thread): each takes as much of the send buffer as is
    /// free; a send that cannot finish waits for <see cref="TcpEvents.Writable"/> and holds the ones behind it.
    /// </summary>
    internal void ProgressZerocopy(ZerocopySendOperation? posted)
    {
        if (posted is not null && !posted.Enqueued)
        {
            posted.Enqueued = true;
            _zcQueue.Enqueue(posted);
        }
        var c = _conn;
        while (_zcQueue.TryPeek(out var op))
        {
            if (op.CancelRequested && op.Done < op.Length)
            {
                _zcQueue.Dequeue();
                op.EndQueueing(new OperationCanceledException($"zero-copy send on {this} was cancelled after {op.Done} of {op.Length} bytes"));
                continue;
            }
            while (op.Done < op.Length)
            {
                op.AddRef(); // the completion that takes the pin holds this one
                int n;
                if (op.DmabufId != 0)
                {
                    var dv = new DmabufIov((ulong)(op.DmabufOffset + op.Done), op.Length - op.Done);
                    n = c!.SendDevmem(op.DmabufId, new ReadOnlySpan<DmabufIov>(in dv), op);
                }
                else
                {
                    var iov = new UserIov(op.Address + op.Done, op.Length - op.Done);
                    n = c!.SendZeroCopy(new ReadOnlySpan<UserIov>(in iov), op);
                }
                if (n <= 0) op.Release(); // not taken
                if (n < 0)
                {
                    _zcQueue.Dequeue();
                    op.EndQueueing(new NetmemErrnoException((Errno)(-n), $"zero-copy send on {this}"));
                    goto next;
                }
                if (n == 0) return; // the buffer is full: Writable brings us back
                op.Done += n;
            }
            _zcQueue.Dequeue();
            op.EndQueueing(null);
        next:;
        }
    }

    internal void ReturnZerocopyOperation(ZerocopySendOperation op)
    {
        lock (_zcFree) _zcFree.Push(op);
    }

    /// <summary>
    /// <c>recv()</c> (copying): the bytes read, 0 at end of stream. Device memory (unreadable payload) is EFAULT and
    /// stays queued, after any readable bytes before it were returned: read it with <see cref="ReceiveDevmemAsync"/>.
    /// </summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> into, CancellationToken ct = default)
    {
        var c = RequireConnected();
        _recv.Start(TcpOpKind.Receive, ct);
        _recv.ReceiveBuffer = into;
        return new ValueTask<int>(_recv, _recv.Submit(c.Context));
    }

    /// <summary>
    /// Zero-copy receive: up to <paramref name="maxBytes"/> in-order bytes (at least one) as a lease of netmem
    /// segments, each holding a reference on its memory; the skbs they came from are freed at once. An empty
    /// lease means end of stream. A socket may hold several leases at a time; one lease never mixes readable
    /// and unreadable payload.
    /// </summary>
    public ValueTask<TcpReceiveLease> ReceiveLeaseAsync(int maxBytes = int.MaxValue, CancellationToken ct = default)
    {
        var c = RequireConnected();
        if (maxBytes <= 0) throw new NetmemErrnoException(Errno.EINVAL, $"a lease of {maxBytes} bytes");
        _recv.Start(TcpOpKind.Lease, ct);
        var lease = RentLease();
        _recv.Lease = _recv.LeaseResult = lease;
        _recv.MaxBytes = maxBytes;
        return new ValueTask<TcpReceiveLease>(_recv, _recv.Submit(c.Context));
    }

    /// <summary>
    /// <c>recvmsg(MSG_SOCK_DEVMEM)</c>: reads up to <paramref name="maxBytes"/> in-order bytes (by default the
    /// linear buffer's length, as the kernel's iov length bounds a read) and describes them in
    /// <paramref name="records"/>, in stream order: bytes in host memory are copied to
    /// <paramref name="linear"/> (with an SO_DEVMEM_LINEAR record when they belong to device-memory skbs, with
    /// none for an all-readable read, as the kernel does); payload in device memory becomes SO_DEVMEM_DMABUF
    /// records with tokens, released by <see cref="DevmemDontNeed"/> or when the socket closes. One call
    /// never mixes readable and device-memory skbs. Completes with 0 bytes at end of stream; ETOOSMALL when
    /// not even one record or byte fits. Allocates nothing per call.
    /// </summary>
    public ValueTask<DevmemReceiveResult> ReceiveDevmemAsync(Memory<byte> linear, Memory<DevmemCmsg> records, int maxBytes = -1, CancellationToken ct = default)
    {
        var c = RequireConnected();
        if (maxBytes < 0) maxBytes = linear.Length;
        if (maxBytes == 0) throw new NetmemErrnoException(Errno.EINVAL, "a devmem receive of 0 bytes (give a linear buffer or maxBytes)");
        _recv.Start(TcpOpKind.Devmem, ct);
        _recv.ReceiveBuffer = linear;
        _recv.DevmemRecords = records;
        _recv.MaxBytes = maxBytes;
        return new ValueTask<DevmemReceiveResult>(_recv, _recv.Submit(c.Context));
    }

    /// <summary>
    /// <c>setsockopt(SO_DEVMEM_DONTNEED)</c>: releases the devmem tokens in <paramref name="tokens"/> (at most
    /// <see cref="Devmem.MaxDontneedTokens"/> ranges, EINVAL beyond; at most
    /// <see cref="Devmem.MaxDontneedFrags"/> tokens looked at, the rest ignored). Tokens this socket does not
    /// hold (never handed out, already released, another socket's) are skipped. Returns how many frags were
    /// freed: their net_iovs go back to the page_pool. Any thread; allocates nothing.
    /// </summary>
    public int DevmemDontNeed(ReadOnlySpan<DmabufToken> tokens)
    {
        if (tokens.Length > Devmem.MaxDontneedTokens)
            throw new NetmemErrnoException(Errno.EINVAL, $"SO_DEVMEM_DONTNEED with {tokens.Length} token ranges (the most is {Devmem.MaxDontneedTokens})");
        return _tokens.Release(tokens);
    }

    /// <summary>Devmem tokens the application holds on this socket.</summary>
    public int DevmemTokensOutstanding => _tokens.Outstanding;

    private TcpReceiveLease RentLease()
    {
        TcpReceiveLease? lease;
        lock (_freeLeases) _freeLeases.TryPop(out lease);
        lease ??= new TcpReceiveLease(this);
        lease.Reset();
        return lease;
    }

    internal void ReturnLease(TcpReceiveLease lease)
    {
        lock (_freeLeases) _freeLeases.Push(lease);
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
        _tokens.Close(); // the descriptor goes: the application can no longer release tokens, so they are freed
        if (_conn is null) return ValueTask.CompletedTask;
        _ctl.Start(TcpOpKind.Close, ct);
        return new ValueTask(_ctl, _ctl.Submit(_ctx!));
    }

    /// <summary>SO_LINGER 0 + close: RST now, queued data discarded.</summary>
    public void Abort()
    {
        _tokens.Close();
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
        if ((events & (TcpEvents.Writable | TcpEvents.Closed)) != 0 && _zcQueue.Count > 0) ProgressZerocopy(null);
        if ((events & (TcpEvents.Readable | TcpEvents.Closed)) != 0 && _recv.IsPending) Progress(_recv);
    }

    /// <summary>
    /// Moves <paramref name="op"/> on as far as the connection allows now, completing it when it is done.
    /// <paramref name="on"/> is the context running it when that may not be the connection's (a connect).
    /// </summary>
    internal void Progress(TcpSocketOperation op, StackContext? on = null)
    {
        if (!op.IsPending) return;
        if (op.CancelRequested)
        {
            op.Lease?.Dispose(); // a cancelled lease receive read nothing into it
            op.Fail(new OperationCanceledException($"{op.Kind} on {this} was cancelled"));
            return;
        }
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
                var actor = new TcpCopyActor(op.ReceiveBuffer.Span);
                Finish(op, c!.Read(ref actor, op.ReceiveBuffer.Length), "receive");
                return;
            }
            case TcpOpKind.Lease:
            {
                var actor = new TcpLeaseActor(op.Lease!);
                int n = c!.Read(ref actor, op.MaxBytes);
                if (n < 0 && n != -(int)Errno.EAGAIN) op.Lease!.Dispose(); // back to the socket's spares
                Finish(op, n, "zero-copy receive");
                return;
            }
            case TcpOpKind.Devmem:
            {
                var actor = new TcpDevmemActor(op.ReceiveBuffer.Span, op.DevmemRecords.Span, _tokens);
                int n;
                try
                {
                    n = c!.Read(ref actor, op.MaxBytes);
                }
                finally
                {
                    actor.EndTokens();
                }
                op.LinearBytes = actor.LinearBytes;
                op.Records = actor.Records;
                if (actor.Frags > 0) TcpStats.Add(ref _layer.Stats.DevmemFrags, actor.Frags);
                Finish(op, n, "devmem receive");
                return;
            }
            case TcpOpKind.Zcrx:
                ProgressZcrx(op, c!);
                return;
            case TcpOpKind.Close:
                if (!c!.AppClosed) c.Close();
                if (c.State is TcpState.Closed or TcpState.TimeWait) op.Complete(0);
                return;
        }
    }

    // A read's result: bytes (0 = end of stream), EAGAIN (wait for Readable), or an error.
    private void Finish(TcpSocketOperation op, int n, string what)
    {
        if (n == -(int)Errno.EAGAIN) return;
        if (n < 0) op.Fail(new NetmemErrnoException((Errno)(-n), $"{what} on {this}"));
        else op.Complete(n);
    }

    /// <summary><c>close()</c> without waiting: a FIN after the data (RST when unread data is left); devmem tokens still out are released.</summary>
    public void Dispose()
    {
        _tokens.Close();
        if (_conn is { } c) _ctx!.Post(new ActionWork(c.Close));
    }

    public override string ToString() => _conn is null ? "tcp socket (unconnected)" : $"tcp socket {_conn.Tuple}";

    /// <summary>A one-off call on the context (control path only: it allocates).</summary>
    internal sealed class ActionWork(Action action) : StackWork
    {
        protected internal override void Run(StackContext context) => action();
    }
}
