using Netmem.Memory;

namespace Netmem.Dmabuf;

/// <summary>One scatter-list entry as the device sees it (<c>sg_dma_address</c>, <c>sg_dma_len</c>).</summary>
public readonly record struct DmaBufSgEntry(ulong DmaAddress, long Length);

/// <summary>
/// <c>struct sg_table</c> after <c>dma_buf_map_attachment</c>: the buffer in the device's IOVA space,
/// entry by entry in buffer order, with the direction it was mapped for.
/// </summary>
public sealed class DmaBufSgTable(IReadOnlyList<DmaBufSgEntry> entries, DmaDirection direction)
{
    public IReadOnlyList<DmaBufSgEntry> Entries { get; } = entries ?? throw new ArgumentNullException(nameof(entries));
    public DmaDirection Direction { get; } = direction;
    /// <summary>Sum of the entries' lengths.</summary>
    public long TotalLength => Entries.Sum(e => e.Length);
}
