using Netmem.Memory;

namespace Netmem.Dmabuf;

/// <summary>
/// <c>struct dma_buf_attachment</c>: one device attached to a dma-buf. <see cref="Map"/> is
/// <c>dma_buf_map_attachment</c> (the scatter list in the device's IOVA space), <see cref="Unmap"/> and
/// <see cref="Detach"/> undo it.
/// </summary>
public sealed class DmaBufAttachment
{
    private DmaBufSgTable? _table;
    private bool _detached;

    internal DmaBufAttachment(DmaBuf buf, DmaDevice device)
    {
        DmaBuf = buf;
        Device = device;
    }

    public DmaBuf DmaBuf { get; }
    public DmaDevice Device { get; }
    /// <summary>The mapped scatter list, or null when not mapped.</summary>
    public DmaBufSgTable? Table => _table;

    /// <summary><c>dma_buf_map_attachment</c>: maps the buffer through <see cref="Device"/>'s IOMMU (once per attachment).</summary>
    public DmaBufSgTable Map(DmaDirection dir)
    {
        if (_detached) throw new InvalidOperationException($"{DmaBuf}: map of a detached attachment");
        if (_table is not null) throw new InvalidOperationException($"{DmaBuf} is already mapped for {Device.Name}");
        return _table = DmaBuf.MapDmaBuf(Device, dir);
    }

    /// <summary><c>dma_buf_unmap_attachment</c>.</summary>
    public void Unmap()
    {
        var t = _table ?? throw new InvalidOperationException($"{DmaBuf} is not mapped for {Device.Name}");
        _table = null;
        DmaBuf.UnmapDmaBuf(Device, t);
    }

    /// <summary><c>dma_buf_detach</c>: unmaps if still mapped and drops the attachment's reference.</summary>
    public void Detach()
    {
        if (_detached) return;
        if (_table is not null) Unmap();
        _detached = true;
        DmaBuf.Detached();
    }
}
