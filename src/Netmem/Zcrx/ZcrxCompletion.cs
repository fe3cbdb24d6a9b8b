namespace Netmem.Zcrx;

/// <summary>
/// A zero-copy receive completion: <c>cqe->res</c> (<see cref="Len"/>) and <c>struct io_uring_zcrx_cqe</c>'s
/// <c>off</c>: <c>(area id &lt;&lt; 48) | (net_iov index &lt;&lt; 12) + offset in the page</c>. The bytes are
/// at <see cref="Off"/> in the registered area (<see cref="ZcrxIfq.GetPayload"/>); the buffer stays the
/// application's until it hands <see cref="Off"/> back through the refill ring.
/// </summary>
public readonly record struct ZcrxCompletion(ulong Off, int Len)
{
    /// <summary><c>IORING_ZCRX_AREA_SHIFT</c>.</summary>
    public const int AreaShift = 48;
    /// <summary><c>IORING_ZCRX_AREA_MASK</c>: the area id bits of an offset.</summary>
    public const ulong AreaMask = ~((1ul << AreaShift) - 1);
    /// <summary>PAGE_SHIFT: net_iovs are one page each.</summary>
    public const int NetIovShift = 12;

    /// <summary>The area id (<c>off &gt;&gt; IORING_ZCRX_AREA_SHIFT</c>).</summary>
    public int AreaId => (int)(Off >> AreaShift);
    /// <summary>The net_iov's index in its area.</summary>
    public long NetIovIndex => (long)((Off & ~AreaMask) >> NetIovShift);
    /// <summary>Where the bytes start in their net_iov.</summary>
    public int PageOffset => (int)(Off & ((1ul << NetIovShift) - 1));
    /// <summary>Byte offset in the area (<c>off &amp; ~IORING_ZCRX_AREA_MASK</c>).</summary>
    public long AreaOffset => (long)(Off & ~AreaMask);

    /// <summary>The refill entry that hands this buffer back.</summary>
    public ZcrxRqe ToRqe() => new(Off, (uint)Len);

    /// <summary>Builds <c>off</c> from its parts.</summary>
    public static ulong MakeOff(int areaId, int netIovIndex, int pageOffset) =>
        ((ulong)(uint)areaId << AreaShift) | ((ulong)(uint)netIovIndex << NetIovShift) + (uint)pageOffset;

    public override string ToString() => $"zcrx_cqe(area {AreaId}, niov {NetIovIndex}, offset {PageOffset}, len {Len})";
}
