namespace Netmem.Memory;

/// <summary>
/// A device that does DMA, with its own software IOMMU domain (the kernel's <c>struct device</c>
/// plus the DMA API). Drivers map buffers here and move bytes only through <see cref="DeviceWrite"/>,
/// <see cref="DeviceRead"/> and <see cref="DeviceCopy"/>, which go through the IOMMU.
/// </summary>
public sealed unsafe class DmaDevice : IDisposable
{
    private readonly Iommu _iommu;
    private bool _disposed;

    public DmaDevice(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        _iommu = new Iommu(name);
    }

    public string Name { get; }
    public IommuStats Stats => _iommu.Stats;
    /// <summary>Whether the device (and its IOMMU domain, with every mapping in it) is gone.</summary>
    public bool IsDisposed => _disposed;
    /// <summary>Mappings currently live; 0 after everything was unmapped.</summary>
    public int LiveMappings => _iommu.LiveMappings;

    /// <summary><c>dma_map_page_attrs</c>: maps part of a readable host page (or compound page).</summary>
    public ulong MapPage(NetmemRef page, int offset, int size, DmaDirection dir)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!page.IsReadable)
            throw new NetmemException($"dma_map_page on {Name}: {page} is not a host page; net_iovs are mapped through their dma-buf binding");
        int pageBytes = PageArena.PageSize << page.Order;
        if (offset < 0 || size <= 0 || offset + (long)size > pageBytes)
            throw new ArgumentOutOfRangeException(nameof(size), $"dma_map_page on {Name}: [{offset}, {offset + (long)size}) outside the {pageBytes}-byte page");
        return _iommu.Map(page.Address + offset, size, dir);
    }

    /// <summary><c>dma_unmap_page_attrs</c>.</summary>
    public void UnmapPage(ulong iova, int size, DmaDirection dir) => Unmap(iova, size, dir);

    /// <summary>
    /// Maps a range of device memory (the importer side of <c>dma_buf_map_attachment</c>).
    /// </summary>
    public ulong MapDeviceMemory(DeviceMemory memory, long offset, long length, DmaDirection dir)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(memory);
        if (offset < 0 || length <= 0 || offset + length > memory.Size)
            throw new ArgumentOutOfRangeException(nameof(length), $"[{offset}, {offset + length}) is outside {memory.Name}");
        return _iommu.Map(memory.DeviceAddress + (nint)offset, length, dir);
    }

    /// <summary>Maps host memory the caller keeps alive (user memory registered for zero-copy receive).</summary>
    internal ulong MapHost(nint address, long length, DmaDirection dir)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _iommu.Map(address, length, dir);
    }

    /// <summary>Whether a live mapping of exactly <paramref name="length"/> bytes starts at <paramref name="iova"/> (introspection, as the IOMMU's debugfs).</summary>
    public bool IsMapped(ulong iova, long length) => !_disposed && _iommu.IsMapped(iova, length);

    /// <summary>Removes any mapping made by this device.</summary>
    public void Unmap(ulong iova, long length, DmaDirection dir)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _iommu.Unmap(iova, length, dir);
    }

    /// <summary><c>dma_sync_single_for_cpu</c>: hands [iova, iova+size) back to the CPU after device writes.</summary>
    public void SyncSingleForCpu(ulong iova, long size, DmaDirection dir) => Sync(iova, size, dir, forCpu: true);

    /// <summary><c>dma_sync_single_for_device</c>: hands [iova, iova+size) to the device.</summary>
    public void SyncSingleForDevice(ulong iova, long size, DmaDirection dir) => Sync(iova, size, dir, forCpu: false);

    private void Sync(ulong iova, long size, DmaDirection dir, bool forCpu)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (size <= 0) return;
        var mapped = _iommu.DirectionOf(iova, size);
        if (mapped != dir)
            throw new NetmemException($"DMA-API: {Name}: sync of IOVA 0x{iova:x} with direction {dir}, but it was mapped {mapped}");
        _iommu.CheckRange(iova, size, write: dir != DmaDirection.ToDevice);
        _iommu.CountSync(forCpu);
    }

    /// <summary>The device writes <paramref name="source"/> to memory at <paramref name="iova"/> (RX DMA).</summary>
    public void DeviceWrite(ulong iova, ReadOnlySpan<byte> source)
    {
        int done = 0;
        while (done < source.Length)
        {
            int inPage = Math.Min(source.Length - done, PageArena.PageSize - (int)(iova & (PageArena.PageSize - 1)));
            nint host = _iommu.Translate(iova, inPage, write: true);
            source.Slice(done, inPage).CopyTo(new Span<byte>((void*)host, inPage));
            iova += (ulong)inPage;
            done += inPage;
        }
        _iommu.CountWrite(source.Length);
    }

    /// <summary>The device reads memory at <paramref name="iova"/> into <paramref name="destination"/> (TX DMA).</summary>
    public void DeviceRead(ulong iova, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int inPage = Math.Min(destination.Length - done, PageArena.PageSize - (int)(iova & (PageArena.PageSize - 1)));
            nint host = _iommu.Translate(iova, inPage, write: false);
            new ReadOnlySpan<byte>((void*)host, inPage).CopyTo(destination.Slice(done, inPage));
            iova += (ulong)inPage;
            done += inPage;
        }
        _iommu.CountRead(destination.Length);
    }

    /// <summary>
    /// Peer-to-peer DMA: <paramref name="source"/> reads <paramref name="length"/> bytes at <paramref name="sourceIova"/>
    /// and this device writes them at <paramref name="iova"/>, both through their IOMMUs, with no bounce buffer.
    /// </summary>
    public void DeviceCopy(ulong iova, DmaDevice source, ulong sourceIova, int length)
    {
        ArgumentNullException.ThrowIfNull(source);
        int done = 0;
        while (done < length)
        {
            int n = Math.Min(length - done, PageArena.PageSize - (int)(iova & (PageArena.PageSize - 1)));
            n = Math.Min(n, PageArena.PageSize - (int)(sourceIova & (PageArena.PageSize - 1)));
            nint src = source._iommu.Translate(sourceIova, n, write: false);
            nint dst = _iommu.Translate(iova, n, write: true);
            Buffer.MemoryCopy((void*)src, (void*)dst, n, n);
            iova += (ulong)n;
            sourceIova += (ulong)n;
            done += n;
        }
        source._iommu.CountRead(length);
        _iommu.CountWrite(length);
    }

    /// <summary>Translation alone (for benchmarks and drivers that write in place).</summary>
    internal nint Translate(ulong iova, int length, bool write) => _iommu.Translate(iova, length, write);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _iommu.Dispose();
    }

    public override string ToString() => $"dma-device {Name}";
}
