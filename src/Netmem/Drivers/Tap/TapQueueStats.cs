namespace Netmem.Drivers.Tap;

/// <summary>
/// What the TAP driver counts per queue pair on top of the core's qstats: reads and writes, refused
/// vnet headers by reason, offload use. RX fields are written by the queue's NAPI context, TX fields
/// under the TX queue's lock.
/// </summary>
public sealed class TapQueueStats
{
    /// <summary>readv calls that returned a frame.</summary>
    public long RxReads;
    /// <summary>readv calls that found nothing (EAGAIN): the poll drained the fd.</summary>
    public long RxEmptyReads;
    /// <summary>Frames dropped because their virtio-net header was malformed.</summary>
    public long RxBadVnetHdr;
    /// <summary>Why the last malformed header was refused.</summary>
    public VirtioNetHdrError RxLastVnetHdrError;
    /// <summary>GSO super-frames received (one skb each).</summary>
    public long RxGsoPackets;
    /// <summary>Frames received with NEEDS_CSUM (CHECKSUM_PARTIAL).</summary>
    public long RxCsumPartial;
    /// <summary>Frames larger than the buffers posted (EFAULT/EINVAL from readv, or every buffer filled).</summary>
    public long RxOverruns;
    /// <summary>readv errors other than EAGAIN and overruns.</summary>
    public long RxReadErrors;
    /// <summary>The errno of the last read error.</summary>
    public int RxLastErrno;
    /// <summary>skbs refused because a frag was unreadable (net_iov) memory a tap cannot write from.</summary>
    public long TxUnreadable;
    /// <summary>writev errors.</summary>
    public long TxWriteErrors;
    /// <summary>The errno of the last write error.</summary>
    public int TxLastErrno;

    public TapQueueStats Snapshot() => (TapQueueStats)MemberwiseClone();
}
