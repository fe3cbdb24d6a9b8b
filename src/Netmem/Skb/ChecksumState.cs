namespace Netmem.Skb;

/// <summary><c>skb->ip_summed</c>: what is known about the payload checksum.</summary>
public enum ChecksumState
{
    /// <summary>CHECKSUM_NONE: nothing verified; software must check.</summary>
    None = 0,
    /// <summary>CHECKSUM_UNNECESSARY: the device verified it.</summary>
    Unnecessary = 1,
    /// <summary>CHECKSUM_COMPLETE: the device summed the packet; <see cref="SkBuff.Csum"/> holds the sum.</summary>
    Complete = 2,
    /// <summary>CHECKSUM_PARTIAL: on TX, the device fills the checksum at csum_start + csum_offset.</summary>
    Partial = 3,
}
