namespace Netmem.Memory;

/// <summary><c>enum dma_data_direction</c>, with the kernel's values.</summary>
public enum DmaDirection
{
    /// <summary>The device may read and write.</summary>
    Bidirectional = 0,
    /// <summary>Memory to device: the device may only read (TX buffers).</summary>
    ToDevice = 1,
    /// <summary>Device to memory: the device may only write (RX buffers).</summary>
    FromDevice = 2,
    /// <summary>No access (debugging).</summary>
    None = 3,
}
