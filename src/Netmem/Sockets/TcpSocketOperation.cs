using System.Threading.Tasks.Sources;
using Netmem.Stack;

namespace Netmem.Sockets;

internal enum TcpOpKind : byte { None, Connect, Send, Receive, Lease, Devmem, Zcrx, Close, Shutdown, Abort }

/// <summary>
/// One pending socket call: posted to the connection's context as <see cref="StackWork"/> and completed
/// there through a reusable <see cref="IValueTaskSource{TResult}"/> (continuations run on the thread pool,
/// never on the stack's thread). A socket owns one per direction, so a call allocates nothing.
/// </summary>
internal sealed class TcpSocketOperation : StackWork, IValueTaskSource<int>, IValueTaskSource, IValueTaskSource<DevmemReceiveResult>, IValueTaskSource<TcpReceiveLease>
{
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _reg;
    private int _pending; // Idle, Arming (the caller fills in the call), Pending (the stack may complete it)
    private const int Idle = 0, Arming = 2, Pending = 1;
    internal volatile bool CancelRequested;

    public TcpSocketOperation(TcpSocket socket) => Socket = socket;

    public TcpSocket Socket { get; }
    public TcpOpKind Kind;
    public ReadOnlyMemory<byte> SendBuffer;
    public Memory<byte> ReceiveBuffer;
    public int Done;
    public int MaxBytes;
    public TcpReceiveLease? Lease;       // the lease a lease receive fills (cleared at completion)
    public TcpReceiveLease? LeaseResult; // what GetResult hands over
    public Memory<DevmemCmsg> DevmemRecords;
    public int LinearBytes, Records; // a devmem receive's result beside Done (set before it completes)
    public Zcrx.ZcrxIfq? ZcrxIfq;                          // a zcrx receive's interface queue
    public Memory<Zcrx.ZcrxCompletion> ZcrxCompletions;    // and where its completions go
    public bool IsPending => Volatile.Read(ref _pending) == Pending;
    public short Version => _core.Version;

    /// <summary>
    /// Arms the operation (application thread); the caller then fills in its arguments and calls
    /// <see cref="Submit"/>. Until then the stack's thread sees it as not pending, so an event arriving
    /// meanwhile cannot complete a half-armed call (or the previous call's completed core).
    /// EALREADY when one of this kind is still running.
    /// </summary>
    public void Start(TcpOpKind kind, CancellationToken ct)
    {
        if (Interlocked.CompareExchange(ref _pending, Arming, Idle) != Idle)
            throw new NetmemErrnoException(Errno.EALREADY, $"{Socket}: a {Kind} call is still in progress; this socket takes one at a time per direction");
        _core.Reset();
        Kind = kind;
        Done = 0;
        CancelRequested = false;
        _reg = ct.CanBeCanceled ? ct.UnsafeRegister(static s => ((TcpSocketOperation)s!).RequestCancel(), this) : default;
    }

    /// <summary>Publishes the armed call and posts it to <paramref name="context"/>; returns the version its ValueTask must carry.</summary>
    public short Submit(StackContext context)
    {
        short version = _core.Version;
        Volatile.Write(ref _pending, Pending);
        context.Post(this);
        return version;
    }

    private void RequestCancel()
    {
        CancelRequested = true;
        Socket.Context?.Post(this);
    }

    protected internal override void Run(StackContext context) => Socket.Progress(this, context);

    public void Complete(int result)
    {
        if (Interlocked.CompareExchange(ref _pending, Idle, Pending) != Pending) return;
        _reg.Unregister();
        SendBuffer = default;
        ReceiveBuffer = default;
        DevmemRecords = default;
        ZcrxIfq = null;
        ZcrxCompletions = default;
        Lease = null;
        _core.SetResult(result);
    }

    public void Fail(Exception e)
    {
        if (Interlocked.CompareExchange(ref _pending, Idle, Pending) != Pending) return;
        _reg.Unregister();
        SendBuffer = default;
        ReceiveBuffer = default;
        DevmemRecords = default;
        ZcrxIfq = null;
        ZcrxCompletions = default;
        Lease = null;
        _core.SetException(e);
    }

    public int GetResult(short token) => _core.GetResult(token);
    TcpReceiveLease IValueTaskSource<TcpReceiveLease>.GetResult(short token)
    {
        var lease = LeaseResult!; // written before the completion that GetResult observes
        _core.GetResult(token);
        return lease;
    }

    DevmemReceiveResult IValueTaskSource<DevmemReceiveResult>.GetResult(short token)
    {
        int lin = LinearBytes, rec = Records; // written before the completion that GetResult observes
        return new DevmemReceiveResult(_core.GetResult(token), lin, rec);
    }
    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);
    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
