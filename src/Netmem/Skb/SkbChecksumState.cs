namespace Netmem.Skb;

/// <summary><c>skb->ip_summed</c>: what is known about the payload checksum (CHECKSUM_*, kernel values).</summary>
public enum SkbChecksumState : byte
{
    /// <summary>CHECKSUM_NONE: nothing is known; the stack must verify (RX) or compute (TX) it.</summary>
    None = 0,
    /// <summary>CHECKSUM_UNNECESSARY: the device verified it (<c>csum_level</c> says how many levels).</summary>
    Unnecessary = 1,
    /// <summary>CHECKSUM_COMPLETE: <c>csum</c> holds the ones-complement sum of the packet from the data pointer.</summary>
    Complete = 2,
    /// <summary>CHECKSUM_PARTIAL: the device must fill the checksum from <c>csum_start</c>, storing it at <c>csum_offset</c>.</summary>
    Partial = 3,
}
