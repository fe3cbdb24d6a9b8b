using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Tests.Devices;

/// <summary>
/// A devmem-like memory provider for device tests: device memory (unreadable to the CPU) cut into
/// net_iovs and mapped into one NIC's IOMMU, so that the NIC can DMA received payload into it.
/// </summary>
internal sealed class MappedNetIovProvider : IMemoryProvider, IDisposable
{
    private readonly Stack<int> _free = new();
    private readonly DmaDevice _dma;
    private readonly ulong _iova;
    private readonly long _bytes;

    public MappedNetIovProvider(DmaDevice dma, int count)
    {
        _dma = dma;
        _bytes = (long)count * PageArena.PageSize;
        Memory = new DeviceMemory(_bytes, "test-hbm");
        Area = NetIovArea.Create(NetIovType.Dmabuf, Memory, 0, count);
        _iova = dma.MapDeviceMemory(Memory, 0, _bytes, DmaDirection.FromDevice);
        for (int i = count - 1; i >= 0; i--) _free.Push(i);
    }

    public DeviceMemory Memory { get; }
    public NetIovArea Area { get; }
    public int FreeCount { get { lock (_free) return _free.Count; } }
    public int Inits, Destroys, Uninstalls;
    public Errno InitResult { get; set; }
    public bool ManagesDma => true;

    public Errno Init(PagePool pool) { Interlocked.Increment(ref Inits); return InitResult; }

    public int AllocNetmems(PagePool pool, Span<NetmemRef> netmems)
    {
        int n = 0;
        lock (_free)
            while (n < netmems.Length && _free.Count > 0)
            {
                var niov = Area[_free.Pop()];
                niov.SetDmaAddr(_iova + (ulong)niov.NetIovIndex * PageArena.PageSize);
                netmems[n++] = niov;
            }
        return n;
    }

    public bool ReleaseNetmem(PagePool pool, NetmemRef netmem)
    {
        Assert.True(Area.Owns(netmem), $"{netmem} released to a provider that does not own it");
        PagePool.ClearPpInfo(netmem);
        lock (_free) _free.Push(netmem.NetIovIndex);
        return false;
    }

    /// <summary>The bytes of a received net_iov frag, read back from device memory (as a GPU kernel or cudaMemcpy would).</summary>
    public byte[] Read(NetmemRef niov, int offset, int size)
    {
        var b = new byte[size];
        Memory.CopyToHost((long)niov.NetIovIndex * PageArena.PageSize + offset, b);
        return b;
    }

    public void Destroy(PagePool pool) => Interlocked.Increment(ref Destroys);
    public PagePoolInfo Fill(PagePoolInfo info) => info with { Dmabuf = 42 };
    public void Uninstall(int queueIndex) => Interlocked.Increment(ref Uninstalls);

    public void Dispose()
    {
        Assert.Equal(Area.Count, FreeCount);
        _dma.Unmap(_iova, _bytes, DmaDirection.FromDevice);
        Area.Dispose();
        Memory.Dispose();
    }
}
