namespace Netmem.Devices;

/// <summary>
/// <c>struct netdev_queue_stats_rx</c>: one RX queue's counters, named as the netdev netlink family
/// names them (qstats-get). Written only by the queue's NAPI context (no atomics, like the kernel's
/// per-queue u64_stats); readers take a racy but tear-free snapshot.
/// </summary>
public sealed class NetdevRxQueueStats
{
    /// <summary>rx-packets: packets handed to the stack.</summary>
    public long Packets;
    /// <summary>rx-bytes.</summary>
    public long Bytes;
    /// <summary>rx-alloc-fail: buffer allocations that failed while refilling the ring.</summary>
    public long AllocFail;
    /// <summary>rx-hw-drops: frames the device dropped because no descriptor was posted (rx_missed).</summary>
    public long HwDrops;
    /// <summary>rx-hw-drop-overruns: frames needing more buffers than an skb can hold.</summary>
    public long HwDropOverruns;
    /// <summary>rx-csum-unnecessary: the device verified the L4 checksum.</summary>
    public long CsumUnnecessary;
    /// <summary>rx-csum-none: no checksum verdict from the device.</summary>
    public long CsumNone;
    /// <summary>rx-csum-bad: the device found a bad checksum (the packet still goes up, as CHECKSUM_NONE).</summary>
    public long CsumBad;
    /// <summary>Frames delivered with header/data split (header buffer + payload buffers).</summary>
    public long HdsSplit;
    /// <summary>Frames kept whole in the header buffer because they were at most hds-thresh bytes.</summary>
    public long HdsWhole;
    /// <summary>Frames whose payload landed in unreadable (net_iov) memory.</summary>
    public long Unreadable;
    /// <summary>Frames that matched an ntuple steering rule.</summary>
    public long NtupleHits;
    /// <summary>Interrupts raised (NAPI schedules requested by the device).</summary>
    public long Interrupts;

    public NetdevRxQueueStats Snapshot() => (NetdevRxQueueStats)MemberwiseClone();
}

/// <summary><c>struct netdev_queue_stats_tx</c>: one TX queue's counters (written under the queue's xmit lock).</summary>
public sealed class NetdevTxQueueStats
{
    /// <summary>tx-packets: frames put on the wire (each TSO segment counts).</summary>
    public long Packets;
    /// <summary>tx-bytes: bytes put on the wire.</summary>
    public long Bytes;
    /// <summary>tx-hw-gso-packets: GSO skbs the device segmented.</summary>
    public long HwGsoPackets;
    /// <summary>tx-hw-gso-wire-packets: the frames those skbs became.</summary>
    public long HwGsoWirePackets;
    /// <summary>tx-csum-none: frames sent with no checksum work for the device.</summary>
    public long CsumNone;
    /// <summary>tx-needs-csum: frames the device checksummed (CHECKSUM_PARTIAL).</summary>
    public long NeedsCsum;
    /// <summary>tx-stop: times the queue stopped because its ring was full.</summary>
    public long Stop;
    /// <summary>tx-wake.</summary>
    public long Wake;
    /// <summary>skbs dropped by the driver (bad skb or ring full).</summary>
    public long Drops;
    /// <summary>Completions reclaimed (skbs freed after the device read them).</summary>
    public long Completions;

    public NetdevTxQueueStats Snapshot() => (NetdevTxQueueStats)MemberwiseClone();
}
