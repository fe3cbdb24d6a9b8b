using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Cli;

/// <summary>
/// The demo's page_pools: two RX-queue pools on a simulated NIC, driven through every path
/// (fast, ring, fragments, NAPI-local detection), and one destroyed while netmem is still held,
/// so introspection has something real to report; and a devmem pool: the pool a driver creates for an RX
/// queue with a dma-buf bound (a VirtualNic left down, its queue 0 bound to device memory), which
/// page-pool-get reports with the binding's dmabuf id.
/// </summary>
internal sealed class DemoPools : IDisposable
{
    private readonly List<NetmemRef> _held = new();

    public DemoPools()
    {
        Arena = new PageArena(new PageArenaOptions { PageCount = 4096 });
        Device = new DmaDevice("vnic0");
        Rx0 = PagePool.Create(new PagePoolParams
        {
            Arena = Arena, Device = Device, Flags = PagePoolFlags.DmaMap | PagePoolFlags.DmaSyncDev,
            MaxLen = 1536, Napi = new DemoNapi(101), Ifindex = 2, QueueIndex = 0,
        });
        Rx1 = PagePool.Create(new PagePoolParams { Arena = Arena, Napi = new DemoNapi(102), Ifindex = 2, QueueIndex = 1 });
        Detached = PagePool.Create(new PagePoolParams { Arena = Arena, Ifindex = 2, QueueIndex = 2 });
        Nic = new VirtualNic(new VirtualNicOptions { Name = "vnic9", Queues = 1, MaxQueues = 1, TcpDataSplit = TcpDataSplit.On, Arena = Arena });
        Hbm = new DeviceMemoryDmaBuf(256L * PageArena.PageSize, "demo-hbm");
        Binding = NetDevmemBinding.BindRx(Nic, Hbm, [0]);
        Devmem = PagePool.Create(new PagePoolParams
        {
            Flags = PagePoolFlags.DmaMap | PagePoolFlags.DmaSyncDev | PagePoolFlags.AllowUnreadableNetmem,
            Device = Nic.Dma, MaxLen = PageArena.PageSize, Netdev = Nic, QueueIndex = 0, Napi = new DemoNapi(103),
        });
    }

    public PageArena Arena { get; }
    public DmaDevice Device { get; }
    public PagePool Rx0 { get; }
    public PagePool Rx1 { get; }
    public PagePool Detached { get; }
    public VirtualNic Nic { get; }
    public DeviceMemoryDmaBuf Hbm { get; }
    public NetDevmemBinding Binding { get; }
    /// <summary>The pool of a queue with a dma-buf bound: it hands out net_iovs.</summary>
    public PagePool Devmem { get; }
    public IEnumerable<PagePool> Pools => [Rx0, Rx1, Detached, Devmem];

    /// <summary>Runs a small workload through every path and leaves <see cref="Detached"/> destroyed with netmem held.</summary>
    public void Run(int rounds = 10_000)
    {
        using (NapiScope.Enter(101))
        {
            for (int i = 0; i < rounds; i++)
            {
                var n = Rx0.AllocNetmem();
                // The "device" writes a frame into the buffer through the IOMMU, the CPU syncs it back.
                Device.DeviceWrite(n.DmaAddr, BitConverter.GetBytes(i));
                Rx0.DmaSyncNetmemForCpu(n, 0, 4);
                Rx0.PutNetmem(n, 64, allowDirect: (i & 3) != 0); // 1 in 4 looks remote but is NAPI-local
            }
        }
        var batch = new List<NetmemRef>();
        for (int i = 0; i < rounds; i++)
        {
            batch.Add(Rx1.AllocFragNetmem(1500, out _));
            if (batch.Count == 200)
            {
                foreach (var n in batch) Rx1.PutNetmem(n, -1, allowDirect: false); // from "another CPU": the ring
                batch.Clear();
            }
        }
        foreach (var n in batch) Rx1.PutNetmem(n, -1, allowDirect: false);
        using (NapiScope.Enter(103))
            for (int i = 0; i < rounds / 10; i++)
            {
                var niov = Devmem.AllocNetmem();
                Nic.Dma.DeviceWrite(niov.DmaAddr, BitConverter.GetBytes(i)); // the NIC writes device memory through its IOMMU
                Devmem.PutNetmem(niov, 64, allowDirect: true);
            }
        for (int i = 0; i < 3; i++) _held.Add(Detached.AllocNetmem());
        Detached.Dispose(); // three buffers are still held by "sockets": the pool waits for them
    }

    public void Dispose()
    {
        foreach (var n in _held) Detached.PutNetmem(n, -1, false);
        Rx0.Dispose();
        Rx1.Dispose();
        Detached.Dispose();
        Devmem.Dispose();
        Binding.Dispose();
        Hbm.Dispose();
        Nic.Dispose();
        Device.Dispose();
        Arena.Dispose();
    }

    private sealed class DemoNapi(uint id) : INapiOwner
    {
        public uint NapiId { get; } = id;
        public int PollThreadId => Environment.CurrentManagedThreadId;
    }
}
