using System.Buffers;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Stack;

namespace Netmem.Sockets;

/// <summary>One piece of leased payload: a netmem (host page or net_iov), an offset and a length.</summary>
public readonly record struct NetmemSegment(NetmemRef Netmem, int Offset, int Length);

/// <summary>
/// Received skbs handed to the application without a copy (the zero-copy <see cref="TcpSocket.ReceiveLeaseAsync"/>).
/// Readable payload is exposed as a <see cref="ReadOnlySequence{T}"/> per skb; unreadable (device
/// memory) payload only as netmem segments. Dispose gives the skbs back (freed on the connection's
/// thread); the lease object is reused by its socket.
/// </summary>
public sealed class TcpReceiveLease : IDisposable
{
    public const int MaxSkbs = 64;
    private readonly TcpSocket _socket;
    private readonly SkBuff?[] _skbs = new SkBuff?[MaxSkbs];
    private readonly Lock _freeLock = new();
    private SkBuff? _toFree; // given back, not yet freed: linked through SkBuff.Next (several leases' worth when the owner is busy)
    private int _count;
    internal readonly StackWork FreeWork;

    internal TcpReceiveLease(TcpSocket socket)
    {
        _socket = socket;
        FreeWork = new FreeSkbs(this);
    }

    /// <summary>Skbs in the lease (0: end of stream).</summary>
    public int Count => _count;
    /// <summary>Payload bytes in the lease.</summary>
    public int Length { get; private set; }
    /// <summary>Whether every skb's payload is host memory the CPU may read.</summary>
    public bool IsReadable { get; private set; } = true;
    internal bool IsActive { get; private set; }

    internal void Reset()
    {
        _count = 0;
        Length = 0;
        IsReadable = true;
        IsActive = true;
    }

    internal void Add(SkBuff skb)
    {
        _skbs[_count++] = skb;
        Length += skb.Len;
        if (skb.Unreadable) IsReadable = false;
    }

    /// <summary>Skb <paramref name="index"/>'s payload as a sequence (readable payload only).</summary>
    public ReadOnlySequence<byte> GetSequence(int index)
    {
        var skb = Get(index);
        if (skb.Unreadable) throw new NetmemErrnoException(Errno.EFAULT, $"skb {index} of this lease holds device memory: use GetSegments");
        return skb.AsSequence();
    }

    /// <summary>Skb <paramref name="index"/>'s payload as spans in place, for <c>foreach</c> with no allocation (readable payload only).</summary>
    public SkbSpanEnumerator GetSpans(int index)
    {
        var skb = Get(index);
        if (skb.Unreadable) throw new NetmemErrnoException(Errno.EFAULT, $"skb {index} of this lease holds device memory: use GetSegments");
        return skb.ReadableSpans();
    }

    /// <summary>Copies the whole lease into <paramref name="into"/> (readable payload only); returns the bytes copied.</summary>
    public int CopyTo(Span<byte> into)
    {
        int done = 0;
        for (int i = 0; i < _count && done < into.Length; i++)
        {
            var skb = Get(i);
            if (skb.Unreadable) throw new NetmemErrnoException(Errno.EFAULT, $"skb {i} of this lease holds device memory: use GetSegments");
            int n = Math.Min(skb.Len, into.Length - done);
            skb.CopyBits(0, into.Slice(done, n));
            done += n;
        }
        return done;
    }

    /// <summary>Every payload piece (head bytes as the head page, then frags) in stream order, readable or not. Returns the count written.</summary>
    public int GetSegments(Span<NetmemSegment> into)
    {
        int k = 0;
        for (int i = 0; i < _count; i++)
        {
            var skb = Get(i);
            if (skb.HeadLen > 0 && k < into.Length)
            {
                var head = skb.HeadNetmem;
                int off = (int)(skb.DataAddress - head.Address);
                into[k++] = new NetmemSegment(head, off, skb.HeadLen);
            }
            foreach (ref readonly var f in skb.Frags)
                if (k < into.Length) into[k++] = new NetmemSegment(f.Netmem, f.Offset, f.Size);
        }
        return k;
    }

    private SkBuff Get(int index)
    {
        if (!IsActive) throw new ObjectDisposedException(nameof(TcpReceiveLease));
        if ((uint)index >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(index), $"the lease holds {_count} skbs");
        return _skbs[index]!;
    }

    public void Dispose()
    {
        if (!IsActive) return;
        IsActive = false;
        lock (_freeLock)
        {
            for (int i = 0; i < _count; i++)
            {
                var skb = _skbs[i]!;
                _skbs[i] = null;
                skb.Next = _toFree;
                _toFree = skb;
            }
        }
        _count = 0;
        _socket.ReleaseLease(this);
    }

    private sealed class FreeSkbs(TcpReceiveLease lease) : StackWork
    {
        protected internal override void Run(StackContext context)
        {
            SkBuff? list;
            lock (lease._freeLock)
            {
                list = lease._toFree;
                lease._toFree = null;
            }
            while (list is not null)
            {
                var skb = list;
                list = skb.Next;
                skb.Next = null;
                skb.Free();
            }
        }
    }
}
