using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Tests.Dmabuf;

/// <summary>
/// A real devmem provider for tests that need a page_pool over net_iovs without traffic: a VirtualNic that
/// stays down (tcp-data-split on) with a <see cref="DeviceMemoryDmaBuf"/> bound to its RX queue 0. A pool
/// created with <see cref="PoolParams"/> takes the binding from the queue, as a driver's pool would.
/// </summary>
internal sealed class BoundQueue : IDisposable
{
    public BoundQueue(int niovs, PageArena? arena = null, string name = "mpq0")
    {
        Nic = new VirtualNic(new VirtualNicOptions { Name = name, Queues = 1, MaxQueues = 1, TcpDataSplit = TcpDataSplit.On, Arena = arena });
        Buf = new DeviceMemoryDmaBuf((long)niovs * PageArena.PageSize, name + "-hbm");
        Binding = NetDevmemBinding.BindRx(Nic, Buf, [0]);
    }

    public VirtualNic Nic { get; }
    public DeviceMemoryDmaBuf Buf { get; }
    public NetDevmemBinding Binding { get; }
    public NetdevRxQueue Queue => Nic.GetRxQueue(0);

    /// <summary>What a driver passes for queue 0: DMA_MAP | DMA_SYNC_DEV | ALLOW_UNREADABLE_NETMEM on the NIC's DMA device.</summary>
    public PagePoolParams PoolParams => new()
    {
        Flags = PagePoolFlags.DmaMap | PagePoolFlags.DmaSyncDev | PagePoolFlags.AllowUnreadableNetmem,
        Device = Nic.Dma,
        MaxLen = PageArena.PageSize,
        Netdev = Nic,
        QueueIndex = 0,
    };

    /// <summary>Unbinds, checks that every chunk came back and the binding's memory was freed, then tears down.</summary>
    public void Dispose()
    {
        Binding.Dispose();
        Assert.Equal(Binding.NetIovCount, Binding.Chunks.Available);
        Assert.True(Binding.IsFreed, $"{Binding} still has {Binding.RefCount} references");
        Buf.Dispose();
        Assert.True(Buf.IsReleased);
        Assert.Equal(0, Nic.Dma.LiveMappings);
        Nic.Dispose();
    }
}
