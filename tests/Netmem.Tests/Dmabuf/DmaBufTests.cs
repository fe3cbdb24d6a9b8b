using Netmem.Dmabuf;
using Netmem.Memory;

namespace Netmem.Tests.Dmabuf;

/// <summary>The two exporters: host memory the CPU reads (memfd, like udmabuf) and device memory it cannot.</summary>
public class DmaBufTests
{
    private static byte[] Pattern(int n, int seed)
    {
        var b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte)(seed + i * 13 + (i >> 9));
        return b;
    }

    [Fact]
    public void A_memfd_dma_buf_is_written_by_the_device_through_the_iommu_and_read_by_the_cpu()
    {
        using var dev = new DmaDevice("udma-test");
        var buf = new MemfdDmaBuf(16L * PageArena.PageSize, "udmabuf0", segmentSize: 4L * PageArena.PageSize);
        Assert.True(buf.MemfdFd >= 0);
        Assert.Equal(16L * PageArena.PageSize, buf.Size);
        var att = buf.Attach(dev);
        Assert.Equal(2, buf.RefCount);
        Assert.Equal(1, buf.Attachments);
        var sgt = att.Map(DmaDirection.FromDevice);
        Assert.Equal(4, sgt.Entries.Count);
        Assert.Equal(buf.Size, sgt.TotalLength);
        Assert.All(sgt.Entries, e => Assert.Equal(0ul, e.DmaAddress % PageArena.PageSize));
        Assert.Equal(4, dev.LiveMappings);

        // The device writes into the third entry (buffer offset 8 pages + 100); the CPU reads it back.
        var data = Pattern(5000, 3);
        dev.DeviceWrite(sgt.Entries[2].DmaAddress + 100, data);
        var view = buf.BeginCpuAccess(8L * PageArena.PageSize + 100, data.Length, DmaDirection.FromDevice);
        Assert.Equal(data, view.ToArray());
        buf.EndCpuAccess(DmaDirection.FromDevice);
        Assert.Equal(0, buf.CpuAccessCount);
        Assert.Throws<NetmemException>(() => buf.EndCpuAccess(DmaDirection.FromDevice));
        // Direction: the mapping is device-write only.
        Assert.Throws<IommuFaultException>(() => dev.DeviceRead(sgt.Entries[0].DmaAddress, new byte[16]));
        Assert.Throws<ArgumentOutOfRangeException>(() => buf.BeginCpuAccess(buf.Size - 10, 20, DmaDirection.FromDevice));

        att.Detach(); // unmaps too
        Assert.Equal(0, dev.LiveMappings);
        Assert.Throws<IommuFaultException>(() => dev.DeviceWrite(sgt.Entries[2].DmaAddress, data)); // gone from the IOMMU
        Assert.Equal(1, buf.RefCount);
        buf.Dispose();
        buf.Dispose(); // the creator's reference goes once
        Assert.True(buf.IsReleased);
        Assert.Throws<ObjectDisposedException>(() => buf.Get());
        Assert.Throws<ObjectDisposedException>(() => buf.BeginCpuAccess(0, 1, DmaDirection.FromDevice));
    }

    [Fact]
    public void A_device_memory_dma_buf_refuses_the_cpu_and_is_checked_through_the_verification_hook()
    {
        using var dev = new DmaDevice("hbm-test");
        using var buf = new DeviceMemoryDmaBuf(8L * PageArena.PageSize, "hbm0");
        var e = Assert.Throws<NetmemErrnoException>(() => buf.BeginCpuAccess(0, 64, DmaDirection.FromDevice));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Contains("cannot read device memory", e.Message);
        var att = buf.Attach(dev);
        var sgt = att.Map(DmaDirection.FromDevice);
        var only = Assert.Single(sgt.Entries);
        Assert.Equal(buf.Size, only.Length);
        var data = Pattern(3 * PageArena.PageSize, 9);
        dev.DeviceWrite(only.DmaAddress + 4096 + 7, data);
        var back = new byte[data.Length];
        buf.ReadForVerification(4096 + 7, back);
        Assert.Equal(data, back);
        Assert.Throws<IommuFaultException>(() => dev.DeviceWrite(only.DmaAddress + (ulong)buf.Size - 8, new byte[16])); // past the end
        Assert.Throws<InvalidOperationException>(() => att.Map(DmaDirection.FromDevice)); // mapped once per attachment
        att.Unmap();
        Assert.Equal(0, dev.LiveMappings);
        att.Detach();
        Assert.Equal(0, buf.Attachments);
    }

    [Fact]
    public void Exporters_refuse_sizes_that_are_not_page_multiples()
    {
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => new MemfdDmaBuf(PageArena.PageSize + 1)).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => new DeviceMemoryDmaBuf(0)).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => new DeviceMemoryDmaBuf(2L * PageArena.PageSize, segmentSize: 100)).Errno);
    }

    [Fact]
    public void A_binding_keeps_the_dma_buf_alive_after_the_user_drops_it()
    {
        using var bq = new BoundQueue(8);
        bq.Buf.Dispose();           // the user closes the fd: the binding holds its own reference
        Assert.False(bq.Buf.IsReleased);
        Assert.Equal(1, bq.Buf.Attachments);
        bq.Binding.Dispose();
        Assert.True(bq.Buf.IsReleased);
        Assert.Equal(0, bq.Buf.Attachments);
    }
}
