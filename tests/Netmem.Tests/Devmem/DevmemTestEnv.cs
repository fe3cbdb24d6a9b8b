using Netmem.Devices;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Sockets;
using Netmem.Stack.Tcp;
using Netmem.Tests.Devices;
using Netmem.Tests.TcpNet;

namespace Netmem.Tests.DevmemRx;

/// <summary>
/// Two stacks over the VirtualNic pair where B's RX queue <see cref="Queue"/> receives into device memory:
/// header split on, a devmem-like memory provider bound to that queue, and an ntuple rule steering
/// <see cref="Port"/> there. This is the ONE place the devmem tests get their provider from: it stands in
/// for a dma-buf binding (bind-rx) until that lands, so moving the tests onto the real binding changes
/// only this file. Deterministic: the test thread polls both NICs. Dispose unbinds the queue, checks every
/// net_iov came back to the provider and every page_pool ended with inflight 0.
/// </summary>
internal sealed class DevmemTestEnv : IDisposable
{
    public const int Queue = 1;
    public const ushort Port = 5201;
    /// <summary>The id the binding would report; set on the area by hand here (the binding sets it in src/).</summary>
    public const uint DmabufId = 7;

    public DevmemTestEnv(int niovs = 4096, TimeProvider? clock = null, TcpSettings? tcp = null, int pages = 16384, int rxRing = 0)
    {
        var nic = new VirtualNicOptions { TcpDataSplit = TcpDataSplit.On };
        if (rxRing > 0) nic = nic with { RxRingSize = rxRing };
        Net = new TcpNetEnv(queues: 2, a: nic, b: nic, clock: clock, tcp: tcp, pages: pages);
        Provider = new MappedNetIovProvider(Net.Pair.B.Dma, niovs);
        Provider.Area.DmabufId = DmabufId;
        Net.Pair.B.OpenMemoryProvider(Queue, Provider);
        Net.Env.TrackPools();
        Net.Pair.B.AddNtupleRule(new NtupleRule { Location = 1, FlowType = NtupleFlowType.Tcp4, DstPort = Port, Action = Queue });
    }

    public TcpNetEnv Net { get; }
    public MappedNetIovProvider Provider { get; }
    /// <summary>The device memory the bound queue receives into (frag_offset is an offset into it).</summary>
    public DeviceMemory Memory => Provider.Memory;
    /// <summary>The bound queue's page_pool.</summary>
    public Netmem.Pool.PagePool Pool => Net.Pair.B.RxQueues[Queue].PagePool!;

    /// <summary>What the device wrote for a dmabuf record, read back the way a GPU-side check would (cudaMemcpy DtoH).</summary>
    public byte[] ReadDevice(in DmabufCmsg c)
    {
        var b = new byte[c.FragSize];
        Memory.CopyToHost((long)c.FragOffset, b);
        return b;
    }

    /// <summary>A connected socket pair: client on A, server accepted on B (its flow on the bound queue).</summary>
    public (TcpSocket Client, TcpSocket Server) Connect(TcpListenEndpoint listener)
    {
        var (c, s) = Net.Connect(listener);
        return (new TcpSocket(Net.A.Tcp, c), new TcpSocket(Net.B.Tcp, s));
    }

    public TcpListenEndpoint Listen() => Net.Listen(Net.B, Port);

    /// <summary>
    /// Polls until <paramref name="op"/> completes and returns its result. It watches the operation itself,
    /// not a Task (whose completion would wait for the thread pool while virtual time ran on).
    /// </summary>
    public T Run<T>(ValueTask<T> op)
    {
        Net.RunUntil(() => op.IsCompleted, what: "the socket call");
        return op.GetAwaiter().GetResult();
    }

    public void Run(ValueTask op)
    {
        Net.RunUntil(() => op.IsCompleted, what: "the socket call");
        op.GetAwaiter().GetResult();
    }

    /// <summary>Runs <paramref name="op"/>, which must fail, and returns its errno.</summary>
    public Errno Fails<T>(ValueTask<T> op)
    {
        Net.RunUntil(() => op.IsCompleted, what: "the failing socket call");
        try
        {
            op.GetAwaiter().GetResult();
        }
        catch (NetmemErrnoException e)
        {
            return e.Errno;
        }
        Assert.Fail("the call succeeded");
        return Errno.None;
    }

    public void Dispose()
    {
        Net.Poll();
        var pool = Pool;
        Net.Pair.B.CloseMemoryProvider(Queue, Provider); // unbind: the queue restarts on host pages
        Net.Poll();
        Assert.True(Provider.FreeCount == Provider.Area.Count, $"provider {Provider.FreeCount}/{Provider.Area.Count}; old pool freed {pool.IsFreed} inflight {pool.Inflight} {pool.GetStats()}; B skbs live {Net.B.Interfaces[0]}");
        Provider.Dispose(); // every net_iov is back with the provider (asserted)
        Net.Dispose();      // every page_pool freed with inflight 0 (asserted)
    }
}
