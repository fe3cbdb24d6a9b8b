using Netmem.Memory;

namespace Netmem.Dmabuf;

/// <summary>
/// <c>struct dma_buf</c>: a buffer an exporter shares with devices. The exporter's side (<c>dma_buf_ops</c>)
/// is the abstract members: <see cref="Size"/>, <see cref="MapDmaBuf"/>/<see cref="UnmapDmaBuf"/> (the scatter
/// list a device sees through its IOMMU), <see cref="CpuView"/> for CPU access between
/// <see cref="BeginCpuAccess"/> and <see cref="EndCpuAccess"/>, and <see cref="Release"/>. The base does what
/// the dma-buf core does for every exporter: reference counting (<see cref="Get"/>/<see cref="Put"/>; the
/// creator's reference is <see cref="Dispose"/>, like closing the fd) and attachments. Exporters today:
/// <see cref="MemfdDmaBuf"/> (host memory the user reads, like udmabuf) and <see cref="DeviceMemoryDmaBuf"/>
/// (memory the CPU cannot read); a CUDA exporter fits the same shape.
/// </summary>
public abstract class DmaBuf : IDisposable
{
    private int _refs = 1;
    private int _disposed;
    private int _attachments;
    private int _cpuAccess;

    protected DmaBuf(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
    }

    /// <summary>The exporter's name for the buffer (<c>dma_buf->name</c>).</summary>
    public string Name { get; }
    /// <summary><c>dma_buf->size</c> in bytes.</summary>
    public abstract long Size { get; }
    /// <summary>References held (the creator's, attachments', importers' such as a binding).</summary>
    public int RefCount => Volatile.Read(ref _refs);
    /// <summary>Whether the last reference went and the exporter released the memory.</summary>
    public bool IsReleased => Volatile.Read(ref _refs) == 0;
    /// <summary>Live attachments.</summary>
    public int Attachments => Volatile.Read(ref _attachments);

    /// <summary><c>get_dma_buf</c>: one more reference (an importer keeping the buffer alive).</summary>
    public DmaBuf Get()
    {
        int r;
        do
        {
            r = Volatile.Read(ref _refs);
            if (r == 0) throw new ObjectDisposedException(ToString(), "get_dma_buf on a released dma-buf");
        }
        while (Interlocked.CompareExchange(ref _refs, r + 1, r) != r);
        return this;
    }

    /// <summary><c>dma_buf_put</c>: drops a reference; the last one releases the exporter's memory.</summary>
    public void Put()
    {
        int r = Interlocked.Decrement(ref _refs);
        if (r < 0)
        {
            Interlocked.Increment(ref _refs);
            throw new NetmemException($"dma_buf_put on {this}: no reference held (double put)");
        }
        if (r == 0) Release();
    }

    /// <summary>Drops the creator's reference (closing the dma-buf fd). Importers keep the memory alive until they put theirs.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Put();
        GC.SuppressFinalize(this);
    }

    /// <summary><c>dma_buf_attach</c>: attaches <paramref name="device"/> (takes a reference until <see cref="DmaBufAttachment.Detach"/>).</summary>
    public DmaBufAttachment Attach(DmaDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        Get();
        Interlocked.Increment(ref _attachments);
        return new DmaBufAttachment(this, device);
    }

    internal void Detached()
    {
        Interlocked.Decrement(ref _attachments);
        Put();
    }

    /// <summary>
    /// <c>dma_buf_begin_cpu_access</c> (DMA_BUF_IOCTL_SYNC start) plus the mapping: the CPU view of
    /// [<paramref name="offset"/>, +<paramref name="length"/>), valid until <see cref="EndCpuAccess"/>. Exporters
    /// whose memory the CPU cannot reach refuse (EINVAL).
    /// </summary>
    public Span<byte> BeginCpuAccess(long offset, int length, DmaDirection dir)
    {
        if (IsReleased) throw new ObjectDisposedException(ToString());
        if (offset < 0 || length < 0 || offset + length > Size)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset + length}) is outside {this}");
        var span = CpuView(offset, length, dir);
        Interlocked.Increment(ref _cpuAccess);
        return span;
    }

    /// <summary><c>dma_buf_end_cpu_access</c> (DMA_BUF_IOCTL_SYNC end): the CPU is done; devices may use the memory again.</summary>
    public void EndCpuAccess(DmaDirection dir)
    {
        if (Interlocked.Decrement(ref _cpuAccess) < 0)
        {
            Interlocked.Increment(ref _cpuAccess);
            throw new NetmemException($"dma_buf_end_cpu_access on {this} without a begin");
        }
    }

    /// <summary>CPU accesses begun and not ended.</summary>
    public int CpuAccessCount => Volatile.Read(ref _cpuAccess);

    /// <summary>
    /// <c>map_dma_buf</c>: maps the whole buffer for <paramref name="device"/> through its IOMMU and returns
    /// the scatter list of DMA addresses it sees.
    /// </summary>
    protected internal abstract DmaBufSgTable MapDmaBuf(DmaDevice device, DmaDirection dir);

    /// <summary><c>unmap_dma_buf</c>: removes the IOMMU mappings <see cref="MapDmaBuf"/> made.</summary>
    protected internal abstract void UnmapDmaBuf(DmaDevice device, DmaBufSgTable table);

    /// <summary>The CPU view of a range (checked against <see cref="Size"/> already), or an EINVAL when the CPU cannot reach the memory.</summary>
    protected abstract Span<byte> CpuView(long offset, int length, DmaDirection dir);

    /// <summary><c>release</c>: the last reference went; free the memory.</summary>
    protected abstract void Release();

    public override string ToString() => $"dma-buf {Name} ({Size} bytes)";
}
