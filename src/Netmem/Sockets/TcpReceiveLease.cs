using System.Buffers;
using Netmem.Memory;
using Netmem.Skb;

namespace Netmem.Sockets;

/// <summary>One piece of leased payload: a netmem (host page or net_iov), an offset and a length.</summary>
public readonly record struct NetmemSegment(NetmemRef Netmem, int Offset, int Length);

/// <summary>
/// Received payload handed to the application without a copy (<see cref="TcpSocket.ReceiveLeaseAsync"/>):
/// the segments (linear head bytes and frags, frag_list included, in stream order) of the bytes read, each
/// holding one reference on its netmem. The skbs themselves were freed when they were read, so a lease
/// pins only the memory it shows. A segment goes back to its page_pool as soon as it is released
/// (<see cref="ReleaseSegment"/>, from any thread); <see cref="Dispose"/> releases the rest. One lease
/// never mixes readable and unreadable payload: readable payload is shown as spans and sequences,
/// unreadable (device memory) only as netmem segments.
/// <para>
/// A socket may hold any number of leases at once; disposed leases are reused by their socket, so a
/// lease must not be touched after <see cref="Dispose"/>.
/// </para>
/// </summary>
public sealed class TcpReceiveLease : IDisposable
{
    /// <summary>The most segments one lease holds; a read stops (at a segment boundary) when it is full.</summary>
    public const int MaxSegments = 128;
    private readonly TcpSocket? _socket; // the socket that reuses it (null: a lease used alone)
    private readonly NetmemSegment[] _segs = new NetmemSegment[MaxSegments];
    private readonly bool[] _pp = new bool[MaxSegments];       // how each reference goes back (page_pool or page)
    private readonly bool[] _released = new bool[MaxSegments];
    private SkbSequenceSegment[]? _sequence;
    private int _count, _releasedCount;

    internal TcpReceiveLease(TcpSocket? socket) => _socket = socket;

    /// <summary>Segments in the lease (0 with <see cref="Length"/> 0: end of stream).</summary>
    public int Count => _count;
    /// <summary>Payload bytes in the lease.</summary>
    public int Length { get; private set; }
    /// <summary>Whether the payload is host memory the CPU may read.</summary>
    public bool IsReadable { get; private set; } = true;
    /// <summary>Segments released so far.</summary>
    public int ReleasedCount => _releasedCount;
    internal bool IsActive { get; private set; }
    internal bool IsFull => _count == MaxSegments;

    /// <summary>The segments, in stream order (a view of the lease's own array: valid until it is disposed).</summary>
    public ReadOnlySpan<NetmemSegment> Segments
    {
        get
        {
            CheckActive();
            return _segs.AsSpan(0, _count);
        }
    }

    internal void Reset()
    {
        _count = _releasedCount = 0;
        Length = 0;
        IsReadable = true;
        IsActive = true;
    }

    /// <summary>Adds a segment; the lease takes a reference on its netmem (released with the segment).</summary>
    internal void Add(NetmemRef netmem, int offset, int length, bool ppRecycle, bool readable)
    {
        if (_count == 0) IsReadable = readable;
        new SkbFrag(netmem, offset, length).Ref(ppRecycle);
        _segs[_count] = new NetmemSegment(netmem, offset, length);
        _pp[_count] = ppRecycle;
        _released[_count] = false;
        _count++;
        Length += length;
    }

    /// <summary>
    /// Copies segments from <paramref name="start"/> into <paramref name="into"/>: as many as fit. Returns
    /// how many were written; <paramref name="remaining"/> says how many are left after them (0 when all
    /// fitted), so nothing is cut off silently.
    /// </summary>
    public int GetSegments(int start, Span<NetmemSegment> into, out int remaining)
    {
        CheckActive();
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start, _count);
        int n = Math.Min(into.Length, _count - start);
        _segs.AsSpan(start, n).CopyTo(into);
        remaining = _count - start - n;
        return n;
    }

    /// <summary>Segment <paramref name="index"/>'s bytes in place (readable payload only; EFAULT otherwise).</summary>
    public ReadOnlySpan<byte> GetSpan(int index)
    {
        var s = Get(index);
        if (!IsReadable) throw new NetmemErrnoException(Errno.EFAULT, $"segment {index} of this lease is device memory: read it through the device, not the CPU");
        if (_released[index]) throw new InvalidOperationException($"segment {index} of this lease was already released");
        return s.Netmem.GetSpan(s.Offset, s.Length);
    }

    /// <summary>
    /// The unreleased payload as one <see cref="ReadOnlySequence{T}"/> in place (readable payload only). The
    /// sequence's segments belong to the lease and are reused: valid until the lease changes or is disposed.
    /// </summary>
    public ReadOnlySequence<byte> GetSequence()
    {
        CheckActive();
        if (!IsReadable) throw new NetmemErrnoException(Errno.EFAULT, "this lease holds device memory: use Segments");
        _sequence ??= new SkbSequenceSegment[MaxSegments];
        SkbSequenceSegment? first = null, last = null;
        long running = 0;
        for (int i = 0; i < _count; i++)
        {
            if (_released[i] || _segs[i].Length == 0) continue;
            var seg = _sequence[i] ??= new SkbSequenceSegment();
            seg.Set(_segs[i].Netmem.GetSpan(_segs[i].Offset, _segs[i].Length), running);
            running += _segs[i].Length;
            if (last is null) first = seg; else last.Link(seg);
            last = seg;
        }
        return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    /// <summary>Copies the unreleased payload into <paramref name="into"/> (readable payload only); returns the bytes copied.</summary>
    public int CopyTo(Span<byte> into)
    {
        CheckActive();
        int done = 0;
        for (int i = 0; i < _count && done < into.Length; i++)
        {
            if (_released[i]) continue;
            var span = GetSpan(i);
            int n = Math.Min(span.Length, into.Length - done);
            span[..n].CopyTo(into[done..]);
            done += n;
        }
        return done;
    }

    /// <summary>
    /// Gives segment <paramref name="index"/> back now: its netmem returns to its page_pool (or its page
    /// reference is dropped) without waiting for the rest of the lease. Releasing twice is an error.
    /// </summary>
    public void ReleaseSegment(int index)
    {
        var s = Get(index);
        if (_released[index]) throw new InvalidOperationException($"segment {index} of this lease was already released");
        _released[index] = true;
        _releasedCount++;
        new SkbFrag(s.Netmem, s.Offset, s.Length).Unref(_pp[index]);
    }

    private NetmemSegment Get(int index)
    {
        CheckActive();
        if ((uint)index >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(index), $"the lease holds {_count} segments");
        return _segs[index];
    }

    private void CheckActive()
    {
        if (!IsActive) throw new ObjectDisposedException(nameof(TcpReceiveLease));
    }

    /// <summary>Releases every segment still held and gives the lease object back to its socket.</summary>
    public void Dispose()
    {
        if (!IsActive) return;
        for (int i = 0; i < _count; i++)
        {
            if (_released[i]) continue;
            _released[i] = true;
            new SkbFrag(_segs[i].Netmem, _segs[i].Offset, _segs[i].Length).Unref(_pp[i]);
        }
        Array.Clear(_segs, 0, _count);
        _count = _releasedCount = 0;
        Length = 0;
        IsActive = false;
        _socket?.ReturnLease(this);
    }
}
