namespace Netmem.Memory;

/// <summary>Why the software IOMMU refused a device access.</summary>
public enum IommuFaultReason
{
    /// <summary>No mapping covers the IOVA.</summary>
    Unmapped,
    /// <summary>The access runs past the end of its mapping.</summary>
    OutOfRange,
    /// <summary>The mapping's DMA direction does not allow this access.</summary>
    Direction,
}

/// <summary>A device touched memory outside its DMA mappings. A driver bug shows here, not as silent corruption.</summary>
public sealed class IommuFaultException : InvalidOperationException
{
    public IommuFaultException(string device, ulong iova, int length, bool write, IommuFaultReason reason)
        : base($"IOMMU fault on {device}: device {(write ? "write" : "read")} of {length} bytes at IOVA 0x{iova:x}: {Describe(reason)}")
    {
        Device = device;
        Iova = iova;
        Length = length;
        IsWrite = write;
        Reason = reason;
    }

    public string Device { get; }
    public ulong Iova { get; }
    public int Length { get; }
    public bool IsWrite { get; }
    public IommuFaultReason Reason { get; }

    private static string Describe(IommuFaultReason r) => r switch
    {
        IommuFaultReason.Unmapped => "no mapping",
        IommuFaultReason.OutOfRange => "access runs past the end of the mapping",
        _ => "mapping direction forbids this access",
    };
}
