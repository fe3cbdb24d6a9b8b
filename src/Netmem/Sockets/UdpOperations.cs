using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;
using Netmem.Stack;

namespace Netmem.Sockets;

/// <summary>
/// A pooled send: the application thread fills it and posts it to the socket's context, which builds the
/// datagram(s) and completes it. Reused after <see cref="GetResult"/>, so a send allocates nothing once warm.
/// </summary>
internal sealed class UdpSendOp : StackWork, IValueTaskSource<int>
{
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };
    private readonly UdpSocket _socket;
    public ReadOnlyMemory<byte> Data;
    public UdpEndpoint Destination;
    public bool HasDestination;
    public CancellationToken Token;

    public UdpSendOp(UdpSocket socket) => _socket = socket;

    public ValueTask<int> Start(ConcurrentQueue<UdpSendOp> pool)
    {
        var vt = new ValueTask<int>(this, _core.Version);
        _socket.Context.Post(this);
        return vt;
    }

    protected internal override void Run(StackContext context)
    {
        if (Token.IsCancellationRequested)
        {
            _core.SetException(new OperationCanceledException(Token));
            return;
        }
        var e = _socket.SendOnContext(this, out int sent);
        if (e == Errno.None) _core.SetResult(sent);
        else _core.SetException(new NetmemErrnoException(e, $"udp send to {(HasDestination ? Destination : _socket.RemoteEndpoint)}"));
    }

    public int GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            Data = default;
            Token = default;
            _core.Reset();
            _socket.ReturnSend(this);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}

internal enum UdpRecvMode { From, Count, Lease }

/// <summary>
/// A pooled receive, in one of three forms (copy with the sender, copy with the count, or the skb as a
/// lease). It waits on the socket's context in a FIFO; a cancellation posts it again so the context, the
/// only thread that completes it, takes it out of the queue.
/// </summary>
internal sealed class UdpRecvOp : StackWork, IValueTaskSource<UdpReceiveResult>, IValueTaskSource<int>, IValueTaskSource<UdpDatagram>
{
    private const int New = 0, Waiting = 1, Done = 2;
    private ManualResetValueTaskSourceCore<UdpReceiveResult> _core = new() { RunContinuationsAsynchronously = true };
    private readonly UdpSocket _socket;
    private CancellationTokenRegistration _reg;
    internal int Phase;
    internal volatile bool CancelRequested;
    internal UdpRecvOp? NextWaiter;
    public Memory<byte> Buffer;
    public UdpRecvMode Mode;
    public CancellationToken Token;
    public UdpDatagram Lease;

    public UdpRecvOp(UdpSocket socket) => _socket = socket;

    public short Arm(CancellationToken ct)
    {
        Token = ct;
        Phase = New;
        CancelRequested = false;
        short v = _core.Version;
        if (ct.CanBeCanceled) _reg = ct.UnsafeRegister(static s => ((UdpRecvOp)s!).OnCancel(), this);
        _socket.Context.Post(this);
        return v;
    }

    private void OnCancel()
    {
        CancelRequested = true;
        _socket.Context.Post(this);
    }

    protected internal override void Run(StackContext context)
    {
        if (Phase == New)
        {
            if (CancelRequested) { Cancel(); return; }
            _socket.StartReceive(this);
        }
        else if (Phase == Waiting && CancelRequested)
        {
            if (_socket.RemoveWaiter(this)) Cancel();
        }
    }

    internal void MarkWaiting() => Phase = Waiting;

    private void Cancel()
    {
        Phase = Done;
        _core.SetException(new OperationCanceledException(Token));
    }

    internal void Complete(UdpReceiveResult r)
    {
        Phase = Done;
        _core.SetResult(r);
    }

    internal void Fail(Errno e, string what)
    {
        Phase = Done;
        _core.SetException(new NetmemErrnoException(e, what));
    }

    private UdpReceiveResult Take(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _reg.Dispose();
            _reg = default;
            Buffer = default;
            Token = default;
            _core.Reset();
        }
    }

    UdpReceiveResult IValueTaskSource<UdpReceiveResult>.GetResult(short token)
    {
        try { return Take(token); }
        finally { _socket.ReturnRecv(this); }
    }

    int IValueTaskSource<int>.GetResult(short token)
    {
        try { return Take(token).Length; }
        finally { _socket.ReturnRecv(this); }
    }

    UdpDatagram IValueTaskSource<UdpDatagram>.GetResult(short token)
    {
        try
        {
            Take(token);
            var l = Lease;
            Lease = default;
            return l;
        }
        finally { _socket.ReturnRecv(this); }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
