using Netmem.Memory;

namespace Netmem.Dmabuf;

/// <summary>
/// A dma-buf over host memory the user can read, as udmabuf makes one from a memfd: <c>memfd_create</c> +
/// <c>mmap</c>, mapped for devices through their IOMMU, and readable by the CPU between
/// <see cref="DmaBuf.BeginCpuAccess"/> and <see cref="DmaBuf.EndCpuAccess"/>. <paramref name="segmentSize"/>
/// (0 = the whole buffer) cuts the scatter list into entries of that size.
/// </summary>
public sealed class MemfdDmaBuf(long size, string name = "udmabuf", long segmentSize = 0) : DmaBuf(name)
{
    private readonly long _segment = DmaBufSegments.Check(size, segmentSize, $"udmabuf {name}");
    private readonly MemfdRegion _memfd = new(name, size);

    public override long Size => _memfd.Size;
    /// <summary>The memfd behind the buffer.</summary>
    public int MemfdFd => _memfd.Fd;

    protected internal override DmaBufSgTable MapDmaBuf(DmaDevice device, DmaDirection dir) =>
        DmaBufSegments.Map(device, Size, _segment, dir, (off, len) => device.MapHost(_memfd.Address + (nint)off, len, dir));

    protected internal override void UnmapDmaBuf(DmaDevice device, DmaBufSgTable table) => DmaBufSegments.Unmap(device, table);

    protected override Span<byte> CpuView(long offset, int length, DmaDirection dir) => _memfd.GetSpan(offset, length);

    protected override void Release() => _memfd.Dispose();
}
