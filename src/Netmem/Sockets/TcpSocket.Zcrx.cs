using System.Runtime.CompilerServices;
using Netmem.Stack.Tcp;
using Netmem.Zcrx;

namespace Netmem.Sockets;

public sealed partial class TcpSocket
{
    /// <summary>
    /// io_uring zero-copy receive (<c>IORING_OP_RECV_ZC</c> on <paramref name="ifq"/>): reads up to
    /// <paramref name="maxBytes"/> in-order bytes as completions in <paramref name="completions"/>, in stream
    /// order, and returns how many it filled (0: end of stream). Payload on the interface queue's net_iovs is
    /// handed over in place; anything else readable is copied into area buffers (the copy fallback). Each
    /// completion's buffer is the application's until it is handed back through <see cref="ZcrxIfq.RefillRing"/>
    /// or <see cref="ZcrxIfq.Return"/>. ENOSPC when no completion fits, ENOMEM when a copy found no free
    /// buffer, EFAULT at a net_iov of another provider; nothing is consumed then. Allocates nothing.
    /// </summary>
    public ValueTask<int> ReceiveZcrxAsync(ZcrxIfq ifq, Memory<ZcrxCompletion> completions, int maxBytes = int.MaxValue, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(ifq);
        var c = RequireConnected();
        if (completions.IsEmpty) throw new NetmemErrnoException(Errno.EINVAL, "a zcrx receive needs room for at least one completion");
        if (maxBytes <= 0) throw new NetmemErrnoException(Errno.EINVAL, $"a zcrx receive of {maxBytes} bytes");
        _recv.Start(TcpOpKind.Zcrx, ct);
        _recv.ZcrxIfq = ifq;
        _recv.ZcrxCompletions = completions;
        _recv.MaxBytes = maxBytes;
        return new ValueTask<int>(_recv, _recv.Submit(c.Context));
    }

    /// <summary>
    /// The stream as leases (<see cref="ReceiveZcrxAsync"/> in batches of <paramref name="batch"/>): each
    /// lease's Span is its payload in the area, its Dispose hands the buffer back through the refill ring. Ends
    /// at end of stream. Completions read but not yet yielded when the enumeration is abandoned are handed back.
    /// </summary>
    public async IAsyncEnumerable<ZcrxLease> ReceiveZcrxLeasesAsync(ZcrxIfq ifq, int batch = 64, [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(ifq);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        var buf = new ZcrxCompletion[batch];
        int next = 0, n = 0;
        try
        {
            while (true)
            {
                n = await ReceiveZcrxAsync(ifq, buf, ct: ct).ConfigureAwait(false);
                if (n == 0) yield break;
                for (next = 0; next < n;)
                {
                    var lease = new ZcrxLease(ifq, buf[next]);
                    next++;
                    yield return lease;
                }
            }
        }
        finally
        {
            for (; next < n; next++) ifq.Return(buf[next]);
        }
    }

    private void ProgressZcrx(TcpSocketOperation op, TcpConnection c)
    {
        var actor = new TcpZcrxActor(op.ZcrxIfq!, op.ZcrxCompletions.Span);
        int n = c.Read(ref actor, op.MaxBytes);
        op.ZcrxIfq!.CountZeroCopy(actor.ZeroCopy, actor.ZeroCopyBytes);
        Finish(op, n > 0 ? actor.Count : n, "zcrx receive");
    }
}
