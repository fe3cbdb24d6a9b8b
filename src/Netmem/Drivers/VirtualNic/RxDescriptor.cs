namespace Netmem.Drivers.VirtualNic;

/// <summary>RX descriptor status bits the device writes back.</summary>
[Flags]
internal enum RxStatus
{
    /// <summary>The device is done with this descriptor (set last, on the first descriptor of a frame).</summary>
    Done = 1,
    /// <summary>Last descriptor of a frame.</summary>
    Eop = 2,
    /// <summary>Split packet header: the headers (or the whole small frame) are in the header buffer.</summary>
    Sph = 4,
    IpCsumOk = 8,
    IpCsumBad = 16,
    L4CsumOk = 32,
    L4CsumBad = 64,
    /// <summary>The RSS hash is valid (and covers ports when HashL4).</summary>
    Hash = 128,
    HashL4 = 256,
    /// <summary>The frame matched an ntuple steering rule.</summary>
    Steered = 512,
}

/// <summary>
/// One RX descriptor, the device-visible half of a ring slot: the driver posts IOVAs, the device
/// writes the frame through its IOMMU and writes the lengths and status back.
/// </summary>
internal struct RxDescriptor
{
    // posted by the driver
    public ulong BufAddr;
    public int BufLen;
    public ulong HdrAddr;
    public int HdrLen;
    // written back by the device
    public int Len;        // bytes in the data buffer
    public int HdrWritten; // bytes in the header buffer (first descriptor of a frame)
    public int NumDescs;   // descriptors the frame used (first descriptor)
    public uint Hash;
    public int Status;
}
