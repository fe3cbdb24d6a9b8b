using Netmem.Memory;

namespace Netmem.Dmabuf;

/// <summary>How an exporter cuts its buffer into scatter-list entries: equal segments, each mapped on its own.</summary>
internal static class DmaBufSegments
{
    public static long Check(long size, long segmentSize, string what)
    {
        if (size <= 0 || size % PageArena.PageSize != 0)
            throw new NetmemErrnoException(Errno.EINVAL, $"{what}: size {size} is not a positive multiple of PAGE_SIZE ({PageArena.PageSize})");
        if (segmentSize == 0) return size;
        if (segmentSize < 0 || segmentSize % PageArena.PageSize != 0)
            throw new NetmemErrnoException(Errno.EINVAL, $"{what}: segment size {segmentSize} is not a positive multiple of PAGE_SIZE");
        return segmentSize;
    }

    /// <summary>Maps every segment with <paramref name="map"/> (offset, length -> IOVA), unmapping what was done if one fails.</summary>
    public static DmaBufSgTable Map(DmaDevice device, long size, long segment, DmaDirection dir, Func<long, long, ulong> map)
    {
        var entries = new List<DmaBufSgEntry>((int)((size + segment - 1) / segment));
        try
        {
            for (long off = 0; off < size; off += segment)
            {
                long len = Math.Min(segment, size - off);
                entries.Add(new DmaBufSgEntry(map(off, len), len));
            }
        }
        catch
        {
            foreach (var e in entries) device.Unmap(e.DmaAddress, e.Length, dir);
            throw;
        }
        return new DmaBufSgTable(entries, dir);
    }

    public static void Unmap(DmaDevice device, DmaBufSgTable table)
    {
        if (device.IsDisposed) return; // the IOMMU domain went with the device, and its mappings with it
        foreach (var e in table.Entries) device.Unmap(e.DmaAddress, e.Length, table.Direction);
    }
}
