namespace Netmem.Zcrx;

/// <summary>
/// What a zcrx interface queue counted: refill ring entries by outcome (each malformed kind apart), buffers
/// the provider took from its freelist, zero-copy and copy-fallback completions, and the fallback's bytes by
/// reason. A snapshot (<see cref="ZcrxIfq.GetStats"/>).
/// </summary>
public readonly record struct ZcrxStats
{
    /// <summary>Refill ring entries consumed (good or not).</summary>
    public long RefillEntries { get; init; }
    /// <summary>Returned buffers placed straight into the page_pool's alloc cache (<c>net_mp_netmem_place_in_cache</c>).</summary>
    public long RefillPlacedInCache { get; init; }
    /// <summary>Returned buffers whose last pp reference went elsewhere: the freelist (copy fallback buffers) or an older pool of the queue.</summary>
    public long RefillReturnedElsewhere { get; init; }
    /// <summary>Returned with a user reference dropped but other references still held (the skb, more completions on the same net_iov).</summary>
    public long RefillStillReferenced { get; init; }
    /// <summary>Malformed: the area id in <c>off</c> names no area (or <c>__pad</c> is not 0).</summary>
    public long RefillBadArea { get; init; }
    /// <summary>Malformed: the net_iov index is past the area's end.</summary>
    public long RefillBadIndex { get; init; }
    /// <summary>Malformed: the application holds no user reference on that buffer (never given, or returned already).</summary>
    public long RefillNotHeld { get; init; }
    /// <summary>Returns that found the ring full: the ring's entries were processed at once (back by the pools' ptr_rings) to make room.</summary>
    public long RefillRingFull { get; init; }
    /// <summary>Entries processed at once because the interface queue was already unregistered.</summary>
    public long ReturnedAfterClose { get; init; }
    /// <summary>net_iovs handed to a page_pool from the freelist (<c>io_zcrx_refill_slow</c>).</summary>
    public long AllocFreelist { get; init; }
    /// <summary>Pool refills that found neither returned buffers nor free net_iovs.</summary>
    public long AllocEmpty { get; init; }
    /// <summary>Zero-copy completions (a net_iov frag of this queue handed to the application).</summary>
    public long ZeroCopyCompletions { get; init; }
    /// <summary>Zero-copy bytes.</summary>
    public long ZeroCopyBytes { get; init; }
    /// <summary>Copy-fallback completions (<c>io_zcrx_copy_chunk</c>: a fresh net_iov from the freelist, written by the CPU).</summary>
    public long CopyCompletions { get; init; }
    /// <summary>Bytes copied because they were in the skb's linear part: the packet was not header-split.</summary>
    public long CopyLinearBytes { get; init; }
    /// <summary>Bytes copied from page frags: the data landed on another queue, or was in host pages already.</summary>
    public long CopyPageFragBytes { get; init; }
    /// <summary>Copy fallbacks that found no free net_iov (ENOMEM when nothing else was read).</summary>
    public long CopyNoMemory { get; init; }
    /// <summary>Copy fallbacks that found the freelist empty and took the refill ring's entries back first.</summary>
    public long CopyRingDrains { get; init; }
    /// <summary>net_iov frags of another provider (a dma-buf, another zcrx queue): EFAULT, as the kernel.</summary>
    public long ForeignNetIov { get; init; }
    /// <summary>User references taken back by <see cref="ZcrxIfq.Scrub"/>.</summary>
    public long Scrubbed { get; init; }

    /// <summary>Malformed refill entries in all.</summary>
    public long RefillMalformed => RefillBadArea + RefillBadIndex + RefillNotHeld;
    /// <summary>Bytes the copy fallback wrote.</summary>
    public long CopyBytes => CopyLinearBytes + CopyPageFragBytes;
}
