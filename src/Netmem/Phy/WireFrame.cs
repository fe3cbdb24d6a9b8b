using Netmem.Memory;

namespace Netmem.Phy;

/// <summary>
/// One Ethernet frame on the wire, as a gather list the way a NIC's MAC sees it: bytes the sending
/// hardware holds itself (headers it built for TSO, or a whole frame a wire stage copied) followed by
/// DMA segments that are read from the sender's memory through its IOMMU. Nothing is copied until a
/// receiver writes the frame into its RX buffers (one device-to-device copy), or a stage that must keep
/// the frame copies it (<see cref="CopyFrom"/>). Pooled and reused: no allocation per frame.
/// </summary>
public sealed class WireFrame
{
    /// <summary>Most DMA segments in one frame: MAX_SKB_FRAGS plus the head and one spare.</summary>
    public const int MaxSegments = 20;
    /// <summary>Largest frame: a 65535-byte IP packet plus an Ethernet header with a VLAN tag.</summary>
    public const int MaxFrameSize = 65535 + 18;
    /// <summary>Room for hardware-built headers when the frame is not self-contained.</summary>
    public const int InlineCapacity = 256;

    private byte[] _bytes = new byte[InlineCapacity];
    private int _inlineLength;
    private readonly Segment[] _segments = new Segment[MaxSegments];
    private int _segmentCount;

    private struct Segment
    {
        public DmaDevice Device;
        public ulong Iova;
        public int Length;
    }

    /// <summary>Total length in bytes.</summary>
    public int Length { get; private set; }
    /// <summary>Bytes held by the frame itself (the start of the frame).</summary>
    public int InlineLength => _inlineLength;
    /// <summary>DMA segments after the inline bytes.</summary>
    public int SegmentCount => _segmentCount;
    /// <summary>True when every byte is held by the frame (no DMA segments), so it outlives the sender's buffers.</summary>
    public bool IsSelfContained => _segmentCount == 0;

    /// <summary>Empties the frame for reuse.</summary>
    public void Reset()
    {
        _inlineLength = 0;
        _segmentCount = 0;
        Length = 0;
    }

    /// <summary>
    /// Appends <paramref name="length"/> inline bytes and returns them to be written. Only valid before
    /// any DMA segment (inline bytes always come first).
    /// </summary>
    public Span<byte> AppendInline(int length)
    {
        if (_segmentCount != 0) throw new InvalidOperationException("wire frame: inline bytes must come before DMA segments");
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (_inlineLength + length > MaxFrameSize)
            throw new ArgumentOutOfRangeException(nameof(length), $"wire frame: {_inlineLength + length} bytes is over the {MaxFrameSize}-byte maximum");
        EnsureCapacity(_inlineLength + length);
        var span = _bytes.AsSpan(_inlineLength, length);
        _inlineLength += length;
        Length += length;
        return span;
    }

    /// <summary>Appends a segment the receiver reads from <paramref name="device"/> at <paramref name="iova"/> (through its IOMMU).</summary>
    public void AppendDma(DmaDevice device, ulong iova, int length)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (length <= 0) throw new ArgumentOutOfRangeException(nameof(length), "wire frame: a DMA segment needs a positive length");
        if (_segmentCount == MaxSegments) throw new InvalidOperationException($"wire frame: more than {MaxSegments} DMA segments");
        if (Length + length > MaxFrameSize)
            throw new ArgumentOutOfRangeException(nameof(length), $"wire frame: {Length + length} bytes is over the {MaxFrameSize}-byte maximum");
        ref var s = ref _segments[_segmentCount++];
        s.Device = device;
        s.Iova = iova;
        s.Length = length;
        Length += length;
    }

    /// <summary>The frame's own bytes (the first <see cref="InlineLength"/> bytes of the frame), writable so a stage can corrupt them.</summary>
    public Span<byte> InlineBytes => _bytes.AsSpan(0, _inlineLength);

    /// <summary>Reads <paramref name="destination"/>.Length bytes starting at <paramref name="offset"/> (DMA segments through their IOMMUs).</summary>
    public void CopyTo(int offset, Span<byte> destination)
    {
        if (offset < 0 || offset + (long)destination.Length > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"wire frame: [{offset}, {offset + (long)destination.Length}) is outside the {Length}-byte frame");
        int done = 0;
        if (offset < _inlineLength)
        {
            int n = Math.Min(_inlineLength - offset, destination.Length);
            _bytes.AsSpan(offset, n).CopyTo(destination);
            done = n;
            offset += n;
        }
        int pos = _inlineLength;
        for (int i = 0; i < _segmentCount && done < destination.Length; i++)
        {
            ref var s = ref _segments[i];
            if (offset < pos + s.Length)
            {
                int inSeg = offset - pos;
                int n = Math.Min(s.Length - inSeg, destination.Length - done);
                s.Device.DeviceRead(s.Iova + (ulong)inSeg, destination.Slice(done, n));
                done += n;
                offset += n;
            }
            pos += s.Length;
        }
    }

    /// <summary>
    /// The receiving hardware's DMA write: puts <paramref name="length"/> bytes of the frame starting at
    /// <paramref name="offset"/> at <paramref name="iova"/> of <paramref name="device"/>. DMA segments go
    /// device to device (<see cref="DmaDevice.DeviceCopy"/>), with no bounce buffer.
    /// </summary>
    public void WriteTo(DmaDevice device, ulong iova, int offset, int length)
    {
        if (offset < 0 || length < 0 || offset + (long)length > Length)
            throw new ArgumentOutOfRangeException(nameof(length), $"wire frame: [{offset}, {offset + (long)length}) is outside the {Length}-byte frame");
        int end = offset + length;
        if (offset < _inlineLength)
        {
            int n = Math.Min(_inlineLength, end) - offset;
            device.DeviceWrite(iova, _bytes.AsSpan(offset, n));
            iova += (ulong)n;
            offset += n;
        }
        int pos = _inlineLength;
        for (int i = 0; i < _segmentCount && offset < end; i++)
        {
            ref var s = ref _segments[i];
            if (offset < pos + s.Length)
            {
                int inSeg = offset - pos;
                int n = Math.Min(pos + s.Length, end) - offset;
                device.DeviceCopy(iova, s.Device, s.Iova + (ulong)inSeg, n);
                iova += (ulong)n;
                offset += n;
            }
            pos += s.Length;
        }
    }

    /// <summary>
    /// The hardware checksum engine: the ones-complement sum (<c>csum_partial</c>) of
    /// <paramref name="length"/> bytes from <paramref name="offset"/>, read in place (DMA segments are
    /// translated through their IOMMU, page by page), added to <paramref name="sum"/>.
    /// </summary>
    public unsafe uint Checksum(int offset, int length, uint sum = 0)
    {
        if (offset < 0 || length < 0 || offset + (long)length > Length)
            throw new ArgumentOutOfRangeException(nameof(length), $"wire frame: [{offset}, {offset + (long)length}) is outside the {Length}-byte frame");
        int end = offset + length, done = 0;
        if (offset < _inlineLength)
        {
            int n = Math.Min(_inlineLength, end) - offset;
            sum = Netmem.Skb.InetChecksum.Add(sum, Netmem.Skb.InetChecksum.Partial(_bytes.AsSpan(offset, n)));
            offset += n;
            done = n;
        }
        int pos = _inlineLength;
        for (int i = 0; i < _segmentCount && offset < end; i++)
        {
            ref var s = ref _segments[i];
            if (offset < pos + s.Length)
            {
                ulong iova = s.Iova + (ulong)(offset - pos);
                int left = Math.Min(pos + s.Length, end) - offset;
                while (left > 0)
                {
                    int n = Math.Min(left, PageArena.PageSize - (int)(iova & (PageArena.PageSize - 1)));
                    nint p = s.Device.Translate(iova, n, write: false);
                    uint part = Netmem.Skb.InetChecksum.Partial(new ReadOnlySpan<byte>((void*)p, n));
                    sum = Netmem.Skb.InetChecksum.BlockAdd(sum, part, done);
                    iova += (ulong)n;
                    offset += n;
                    done += n;
                    left -= n;
                }
            }
            pos += s.Length;
        }
        return sum;
    }

    /// <summary>Makes this frame a self-contained copy of <paramref name="source"/> (for stages that hold frames).</summary>
    public void CopyFrom(WireFrame source)
    {
        ArgumentNullException.ThrowIfNull(source);
        Reset();
        EnsureCapacity(source.Length);
        source.CopyTo(0, _bytes.AsSpan(0, source.Length));
        _inlineLength = source.Length;
        Length = source.Length;
    }

    /// <summary>Makes this frame a self-contained copy of <paramref name="bytes"/>.</summary>
    public void SetBytes(ReadOnlySpan<byte> bytes)
    {
        Reset();
        bytes.CopyTo(AppendInline(bytes.Length));
    }

    private void EnsureCapacity(int length)
    {
        if (length <= _bytes.Length) return;
        // Grows once to the frame size the link carries; a warmed-up pool never grows again.
        int size = Math.Min(MaxFrameSize, Math.Max(length, Math.Min(MaxFrameSize, _bytes.Length * 2)));
        Array.Resize(ref _bytes, Math.Max(size, length));
    }

    public override string ToString() => $"wire frame ({Length} bytes: {_inlineLength} inline, {_segmentCount} DMA segments)";
}
