using Netmem.Memory;

namespace Netmem.Dmabuf;

/// <summary>
/// A dma-buf over device memory the CPU cannot read (a GPU's HBM, simulated by <see cref="DeviceMemory"/>).
/// Devices reach it only through their IOMMU mappings; CPU access is refused (EINVAL). Tests and ncdevmem
/// check what landed with <see cref="ReadForVerification"/>, which is not a data path.
/// <paramref name="segmentSize"/> (0 = the whole buffer) cuts the scatter list into entries of that size.
/// </summary>
public sealed class DeviceMemoryDmaBuf(long size, string name = "devmem", long segmentSize = 0) : DmaBuf(name)
{
    private readonly long _segment = DmaBufSegments.Check(size, segmentSize, $"device memory {name}");
    private readonly DeviceMemory _memory = new(size, name);

    public override long Size => _memory.Size;

    /// <summary>
    /// Verification hook, not a data path: copies device memory at <paramref name="offset"/> into
    /// <paramref name="destination"/>, as a test harness (or cudaMemcpy DtoH) would to check received bytes.
    /// </summary>
    public void ReadForVerification(long offset, Span<byte> destination) => _memory.CopyToHost(offset, destination);

    /// <summary>
    /// The exporter's host-to-device copy (cudaMemcpy HtoD): how an application puts payload into device
    /// memory before it sends it with devmem TX. Not a stack path; the stack never reads the memory.
    /// </summary>
    public void CopyFromHost(long offset, ReadOnlySpan<byte> source) => _memory.CopyFromHost(offset, source);

    protected internal override DmaBufSgTable MapDmaBuf(DmaDevice device, DmaDirection dir) =>
        DmaBufSegments.Map(device, Size, _segment, dir, (off, len) => device.MapDeviceMemory(_memory, off, len, dir));

    protected internal override void UnmapDmaBuf(DmaDevice device, DmaBufSgTable table) => DmaBufSegments.Unmap(device, table);

    protected override Span<byte> CpuView(long offset, int length, DmaDirection dir) =>
        throw new NetmemErrnoException(Errno.EINVAL, $"{this}: the CPU cannot read device memory (use ReadForVerification to check contents)");

    protected override void Release() => _memory.Dispose();
}
