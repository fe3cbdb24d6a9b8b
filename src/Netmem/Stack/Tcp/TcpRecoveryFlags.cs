namespace Netmem.Stack.Tcp;

/// <summary>net.ipv4.tcp_recovery's bits: how the sender detects losses.</summary>
[Flags]
public enum TcpRecoveryFlags
{
    /// <summary>No RACK: losses marked by the RFC 6675 duplicate threshold (three SACKed segments above a hole).</summary>
    None = 0,
    /// <summary>TCP_RACK_LOSS_DETECTION (1): RACK (RFC 8985) marks losses by time, with the reorder timer.</summary>
    RackLossDetection = 1,
    /// <summary>TCP_RACK_STATIC_REO_WND (2): D-SACKs do not widen the reordering window.</summary>
    RackStaticReoWnd = 2,
    /// <summary>TCP_RACK_NO_DUPTHRESH (4): keep the reordering window even when three segments are SACKed.</summary>
    RackNoDupThresh = 4,
}
