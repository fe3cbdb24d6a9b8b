using System.Threading.Tasks.Sources;
using Netmem.Stack;

namespace Netmem.Sockets;

internal enum TcpOpKind : byte { None, Connect, Send, Receive, Lease, Close, Shutdown, Abort }

/// <summary>
/// One pending socket call: posted to the connection's context as <see cref="StackWork"/> and completed
/// there through a reusable <see cref="IValueTaskSource{TResult}"/> (continuations run on the thread pool,
/// never on the stack's thread). A socket owns one per direction, so a call allocates nothing.
/// </summary>
internal sealed class TcpSocketOperation : StackWork, IValueTaskSource<int>, IValueTaskSource
{
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _reg;
    private const int Arming = 2; // taken by Start but not yet published: the connection's thread leaves it alone
    private int _pending;
    internal volatile bool CancelRequested;

    public TcpSocketOperation(TcpSocket socket) => Socket = socket;

    public TcpSocket Socket { get; }
    public TcpOpKind Kind;
    public ReadOnlyMemory<byte> SendBuffer;
    public Memory<byte> ReceiveBuffer;
    public int Done;
    public int MaxBytes;
    public bool IsPending => Volatile.Read(ref _pending) == 1;
    public short Version => _core.Version;

    /// <summary>
    /// Arms the operation (application thread). EALREADY when one of this kind is still running. Every
    /// field is set before the operation is published as pending: from then on the connection's thread
    /// may progress and complete it (a Readable or Writable event does not wait for the posted work), so
    /// it must never see the previous call's completed core or buffers.
    /// </summary>
    public void Start(TcpOpKind kind, CancellationToken ct, ReadOnlyMemory<byte> send = default, Memory<byte> receive = default, int maxBytes = 0)
    {
        if (Interlocked.CompareExchange(ref _pending, Arming, 0) != 0)
            throw new NetmemErrnoException(Errno.EALREADY, $"{Socket}: a {Kind} call is still in progress; this socket takes one at a time per direction");
        _core.Reset();
        Kind = kind;
        Done = 0;
        SendBuffer = send;
        ReceiveBuffer = receive;
        MaxBytes = maxBytes;
        CancelRequested = false;
        _reg = ct.CanBeCanceled ? ct.UnsafeRegister(static s => ((TcpSocketOperation)s!).RequestCancel(), this) : default;
        Volatile.Write(ref _pending, 1);
    }

    private void RequestCancel()
    {
        CancelRequested = true;
        Socket.Context?.Post(this);
    }

    protected internal override void Run(StackContext context) => Socket.Progress(this, context);

    public void Complete(int result)
    {
        if (Interlocked.CompareExchange(ref _pending, 0, 1) != 1) return;
        _reg.Unregister();
        SendBuffer = default;
        ReceiveBuffer = default;
        _core.SetResult(result);
    }

    public void Fail(Exception e)
    {
        if (Interlocked.CompareExchange(ref _pending, 0, 1) != 1) return;
        _reg.Unregister();
        SendBuffer = default;
        ReceiveBuffer = default;
        _core.SetException(e);
    }

    public int GetResult(short token) => _core.GetResult(token);
    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);
    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
