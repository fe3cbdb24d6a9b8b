namespace Netmem.Stack.Tcp;

/// <summary>Why TCP input dropped a segment (a subset of the kernel's SKB_DROP_REASON_TCP_*).</summary>
public enum TcpDropReason
{
    BadHeader,
    BadChecksum,
    /// <summary>The payload is unreadable and the device did not verify the checksum: it cannot be checked.</summary>
    UnverifiableChecksum,
    BadOption,
    NoSocket,
    ListenOverflow,
    /// <summary>Outside the receive window (RFC 9293 3.10.7.4 first check).</summary>
    OutOfWindow,
    /// <summary>PAWS: timestamp older than ts_recent (RFC 7323 5.3).</summary>
    Paws,
    /// <summary>ACK above snd.max or too old (RFC 5961 5.2).</summary>
    InvalidAck,
    /// <summary>An RST not exactly at rcv.nxt (answered by a challenge ACK, RFC 5961 3.2).</summary>
    RstNotExact,
    /// <summary>A SYN on a synchronized connection (answered by a challenge ACK, RFC 5961 4.2).</summary>
    SynInSyncState,
    /// <summary>No ACK bit on a synchronized connection.</summary>
    NoAck,
    /// <summary>Data after our receive side was shut down or in a state that takes none.</summary>
    DataInWrongState,
    /// <summary>Flags that make no sense in this state (SYN-SENT without SYN, RST, ...).</summary>
    BadFlags,
    /// <summary>The out-of-order queue or receive buffer had no room.</summary>
    RcvBufferFull,
    /// <summary>Too many segments waiting to cross to the connection's own context (<c>sk_add_backlog</c> failing).</summary>
    BacklogFull,
    Count,
}
