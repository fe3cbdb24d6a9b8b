using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Sockets;
using Netmem.Stack.Tcp;
using Netmem.Tests.TcpNet;

namespace Netmem.Tests.DevmemRx;

/// <summary>
/// Two stacks over the VirtualNic pair where B's RX queue <see cref="Queue"/> receives into device memory: header
/// split on, a <see cref="DeviceMemoryDmaBuf"/> bound to that queue with bind-rx (<see cref="NetDevmemBinding"/>),
/// and an ntuple rule steering <see cref="Port"/> there. Deterministic: the test thread polls both NICs. Dispose
/// unbinds, checks every net_iov came back and the binding freed its memory, and (through the stack env) that
/// every page_pool ended with inflight 0.
/// </summary>
internal sealed class DevmemTestEnv : IDisposable
{
    public const int Queue = 1;
    public const ushort Port = 5201;

    public DevmemTestEnv(int niovs = 4096, TimeProvider? clock = null, TcpSettings? tcp = null, int pages = 16384, int rxRing = 0)
    {
        var nic = new VirtualNicOptions { TcpDataSplit = TcpDataSplit.On };
        if (rxRing > 0) nic = nic with { RxRingSize = rxRing };
        Net = new TcpNetEnv(queues: 2, a: nic, b: nic, clock: clock, tcp: tcp, pages: pages);
        Buf = new DeviceMemoryDmaBuf((long)niovs * PageArena.PageSize, "test-hbm");
        Binding = NetDevmemBinding.BindRx(Net.Pair.B, Buf, [Queue]);
        Net.Env.TrackPools();
        Net.Pair.B.AddNtupleRule(new NtupleRule { Location = 1, FlowType = NtupleFlowType.Tcp4, DstPort = Port, Action = Queue });
    }

    public TcpNetEnv Net { get; }
    public DeviceMemoryDmaBuf Buf { get; }
    public NetDevmemBinding Binding { get; }
    /// <summary>The id devmem records must carry (bind-rx's result).</summary>
    public uint DmabufId => Binding.Id;
    /// <summary>The bound queue's page_pool.</summary>
    public Netmem.Pool.PagePool Pool => Net.Pair.B.RxQueues[Queue].PagePool!;

    /// <summary>Bytes at <paramref name="offset"/> in the dma-buf, read the way a GPU-side check would.</summary>
    public void ReadDevice(long offset, Span<byte> into) => Buf.ReadForVerification(offset, into);

    /// <summary>What the device wrote for a dmabuf record.</summary>
    public byte[] ReadDevice(in DmabufCmsg c)
    {
        var b = new byte[c.FragSize];
        Buf.ReadForVerification((long)c.FragOffset, b);
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
        Binding.Dispose(); // unbind: the queue restarts on host pages
        Net.Poll();
        Assert.True(Binding.NetIovCount == Binding.Chunks.Available, $"{Binding.Chunks.Available} of {Binding.NetIovCount} net_iovs back; pool {Pool.GetStats()}");
        Assert.True(Binding.IsFreed, $"{Binding} still has {Binding.RefCount} references");
        Buf.Dispose();
        Net.Dispose(); // every page_pool freed with inflight 0 (asserted)
    }
}
