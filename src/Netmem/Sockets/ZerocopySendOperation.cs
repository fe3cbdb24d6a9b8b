using System.Buffers;
using System.Threading.Tasks.Sources;
using Netmem.Memory;
using Netmem.Stack;
using Netmem.Stack.Tcp;

namespace Netmem.Sockets;

/// <summary>
/// One <see cref="TcpSocket.SendZeroCopyAsync"/>: the buffer pinned, queued on the connection's thread in
/// order with the socket's other zero-copy sends (as the send buffer makes room), then waiting for every
/// completion that took its pin. It is the pin (<see cref="IZerocopyPin"/>): a reference per call that
/// queued part of it, plus one while it is still being queued; the last release unpins the memory and
/// completes the ValueTask. Pooled by the socket: a steady sender allocates nothing.
/// </summary>
internal sealed class ZerocopySendOperation : StackWork, IValueTaskSource<int>, IZerocopyPin
{
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _reg;
    private MemoryHandle _handle;
    private int _refs;
    private Exception? _error;

    public ZerocopySendOperation(TcpSocket socket) => Socket = socket;

    public TcpSocket Socket { get; }
    public nint Address;
    public uint DmabufId;         // devmem TX: the dma-buf's id (0: user memory at Address)
    public long DmabufOffset;     // devmem TX: where the bytes start in the dma-buf
    public int Length;
    public int Done;
    public bool Enqueued;         // in the socket's queue (context thread)
    public volatile bool CancelRequested;
    public short Version => _core.Version;

    /// <summary>Arms it for <paramref name="data"/> (application thread): pins the memory.</summary>
    public void Start(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        _core.Reset();
        Address = UserMemory.Pin(data, out _handle);
        DmabufId = 0;
        DmabufOffset = 0;
        Length = data.Length;
        Arm(ct);
    }

    /// <summary>Arms it for devmem TX of [<paramref name="offset"/>, +<paramref name="length"/>) of dma-buf <paramref name="dmabufId"/>: nothing to pin (the net_iov references hold the memory).</summary>
    public void StartDevmem(uint dmabufId, long offset, int length, CancellationToken ct)
    {
        _core.Reset();
        Address = 0;
        _handle = default;
        DmabufId = dmabufId;
        DmabufOffset = offset;
        Length = length;
        Arm(ct);
    }

    private void Arm(CancellationToken ct)
    {
        Done = 0;
        Enqueued = false;
        _error = null;
        CancelRequested = false;
        Volatile.Write(ref _refs, 1); // the queueing reference
        _reg = ct.CanBeCanceled ? ct.UnsafeRegister(static s => ((ZerocopySendOperation)s!).RequestCancel(), this) : default;
    }

    private void RequestCancel()
    {
        CancelRequested = true;
        Socket.Context?.Post(this);
    }

    /// <summary>A call is about to offer part of it to the connection: the completion that may take it holds a reference.</summary>
    public void AddRef() => Interlocked.Increment(ref _refs);

    /// <summary>Queueing is over (all queued, failed or cancelled): drops the queueing reference.</summary>
    public void EndQueueing(Exception? error)
    {
        if (error is not null) _error = error;
        Release();
    }

    /// <summary><see cref="IZerocopyPin.Release"/>: a completion (or the queueing) let go; the last unpins and completes.</summary>
    public void Release()
    {
        int now = Interlocked.Decrement(ref _refs);
        if (now > 0) return;
        if (now < 0) throw new InvalidOperationException($"zero-copy send on {Socket}: its pin was released more often than taken");
        _reg.Unregister();
        _handle.Dispose();
        _handle = default;
        if (_error is not null) _core.SetException(_error);
        else _core.SetResult(Done);
    }

    protected internal override void Run(StackContext context) => Socket.ProgressZerocopy(this);

    public int GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            Socket.ReturnZerocopyOperation(this);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
