using Netmem.Devices;
using Netmem.Drivers.VirtualNic;

namespace Netmem.Tests.Devices;

public class QueueMgmtTests
{
    private static readonly VirtualNicOptions Split = new() { TcpDataSplit = TcpDataSplit.On };

    private static byte[] TcpTo(NicTestEnv env, ushort dport, int len, int seed) =>
        TestFrames.Tcp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 40000, dport, 1, 0x10, TestFrames.Payload(len, seed));

    [Fact]
    public void Restart_gives_the_queue_a_new_page_pool_and_traffic_continues()
    {
        using var env = new NicTestEnv(Split, Split);
        var q = env.B.RxQueues[1];
        var oldPool = q.PagePool!;
        env.B.RestartRxQueue(1);
        env.TrackPools();
        Assert.NotSame(oldPool, q.PagePool);
        Assert.True(oldPool.IsFreed); // the old ring gave everything back
        Assert.True(q.IsStarted);
        for (int p = 0; p < 40; p++) env.Send(env.A, TcpTo(env, (ushort)(1000 + p), 1000, p));
        env.Pair.PollAll();
        Assert.Equal(40, env.RxB.Received.Count);
        Assert.Contains(env.RxB.Received, r => r.Queue == 1);
    }

    [Fact]
    public void A_failed_start_rolls_back_to_the_old_memory()
    {
        using var env = new NicTestEnv(Split, Split);
        var q = env.B.RxQueues[0];
        var oldPool = q.PagePool!;
        // Pools of this device's DMA domain only: other tests make and destroy pools in parallel.
        var before = Netmem.Pool.PagePool.All.Where(p => p.Params.Device == env.B.Dma).ToHashSet();
        env.B.InjectQueueFault(Errno.EIO);
        var ex = Assert.Throws<NetmemErrnoException>(() => env.B.RestartRxQueue(0));
        Assert.Equal(Errno.EIO, ex.Errno);
        Assert.Contains("old memory", ex.Message);
        Assert.Same(oldPool, q.PagePool);          // rolled back
        Assert.False(oldPool.IsDestroyed);
        Assert.True(q.IsStarted);
        Assert.DoesNotContain(Netmem.Pool.PagePool.All, p => p.Params.Device == env.B.Dma && !before.Contains(p)); // the new pools were destroyed
        env.B.AddNtupleRule(new NtupleRule { Location = 0, FlowType = NtupleFlowType.Tcp4, DstPort = 7, Action = 0 });
        env.Send(env.A, TcpTo(env, 7, 500, 1));
        env.Pair.PollAll();
        var r = Assert.Single(env.RxB.Received);
        Assert.Equal(0, r.Queue);
    }

    [Fact]
    public void A_failed_allocation_leaves_the_running_queue_alone()
    {
        using var env = new NicTestEnv(Split, Split);
        var q = env.B.RxQueues[0];
        var oldPool = q.PagePool!;
        env.B.InjectQueueFault(Errno.None, Errno.ENOMEM);
        Assert.Equal(Errno.ENOMEM, Assert.Throws<NetmemErrnoException>(() => env.B.RestartRxQueue(0)).Errno);
        Assert.Same(oldPool, q.PagePool);
        Assert.True(q.IsStarted);
    }
}
