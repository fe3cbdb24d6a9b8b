namespace Netmem.Devices;

/// <summary>
/// <c>enum skb_drop_reason</c> (the subset this stack produces), so every dropped packet is counted
/// under a name a kernel engineer recognises.
/// </summary>
public enum SkbDropReason
{
    NotSpecified,
    /// <summary>No memory for a buffer or skb.</summary>
    Nomem,
    /// <summary>The frame was shorter than its headers.</summary>
    PktTooSmall,
    /// <summary>The frame was longer than the device accepts (or needed more RX buffers than an skb holds).</summary>
    PktTooBig,
    /// <summary>Destination MAC is neither ours, broadcast nor multicast.</summary>
    OtherHost,
    /// <summary>No protocol handler took the packet.</summary>
    UnhandledProto,
    /// <summary>The device is down.</summary>
    DevReady,
    /// <summary>No RX descriptor was posted when the frame arrived (rx_missed / rx_fifo).</summary>
    RxNoBuffer,
    /// <summary>The RX queue is stopped (being restarted).</summary>
    QueueStopped,
    /// <summary>IPv4 header checksum was wrong.</summary>
    IpCsum,
    /// <summary>Malformed IPv4 header.</summary>
    IpInhdr,
    /// <summary>TCP checksum was wrong.</summary>
    TcpCsum,
    /// <summary>UDP checksum was wrong.</summary>
    UdpCsum,
    /// <summary>The TX ring was full.</summary>
    TxRingFull,
    /// <summary>An skb the device cannot send (too many frags, bad GSO).</summary>
    TxInvalid,
    /// <summary>The frame was corrupted (FCS error).</summary>
    Fcs,
    /// <summary>The device's per-packet header (a TAP's virtio-net header) was invalid.</summary>
    DevHdr,
    /// <summary>
    /// An skb with unreadable (net_iov) frags the device may not send: it does not declare netmem TX, or the
    /// net_iovs are not those of a TX binding of this device (<c>validate_xmit_unreadable_skb</c>).
    /// </summary>
    UnreadableTx,
}
