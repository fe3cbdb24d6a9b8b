using Netmem.Dmabuf;
using Netmem.Memory;

namespace Netmem.Tests.Dmabuf;

/// <summary>
/// A dma-buf whose size and scatter list are whatever the test says, with no memory behind it: for the
/// bind-rx checks that must fail before anything is mapped or used (a size or entry not page aligned, a
/// size with more than 2^32-1 net_iovs). Mapping hands out made-up addresses and maps nothing.
/// </summary>
internal sealed class FakeDmaBuf(long size, params DmaBufSgEntry[] entries) : DmaBuf("fake")
{
    public int Maps, Unmaps;
    public bool Released;

    public override long Size => size;

    protected internal override DmaBufSgTable MapDmaBuf(DmaDevice device, DmaDirection dir)
    {
        Maps++;
        return new DmaBufSgTable(entries, dir);
    }

    protected internal override void UnmapDmaBuf(DmaDevice device, DmaBufSgTable table) => Unmaps++;

    protected override Span<byte> CpuView(long offset, int length, DmaDirection dir) => throw new NetmemErrnoException(Errno.EINVAL, "fake dma-buf has no memory");

    protected override void Release() => Released = true;
}
