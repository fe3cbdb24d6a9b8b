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

    [Fact]
    public void A_memory_provider_on_one_queue_receives_payload_into_unreadable_device_memory()
    {
        using var env = new NicTestEnv(Split, Split);
        using var mp = new MappedNetIovProvider(env.B.Dma, 1024);
        env.B.OpenMemoryProvider(1, mp);
        env.TrackPools();
        var q = env.B.RxQueues[1];
        Assert.Same(mp, q.MemoryProvider);
        Assert.Same(mp, q.PagePool!.MemoryProvider);
        Assert.True(mp.Inits >= 1);
        Assert.Equal(42u, q.PagePool.GetInfo().Dmabuf);
        // devmem needs its flow on the bound queue: steer it there.
        env.B.AddNtupleRule(new NtupleRule { Location = 3, FlowType = NtupleFlowType.Tcp4, DstPort = 5201, Action = 1 });
        var frames = Enumerable.Range(0, 30).Select(i => TcpTo(env, 5201, 1448, i)).ToList();
        foreach (var f in frames) env.Send(env.A, f);
        env.Pair.PollAll();
        Assert.Equal(30, env.RxB.Received.Count);
        for (int i = 0; i < 30; i++)
        {
            var (queue, skb) = env.RxB.Received[i];
            Assert.Equal(1, queue);
            Assert.True(skb.Unreadable);
            Assert.Equal(40, skb.HeadLen); // IP + TCP headers are readable in the header buffer
            Assert.Equal(frames[i].AsSpan(14, 40).ToArray(), skb.Data[..40].ToArray());
            Assert.Throws<Netmem.Memory.NetmemException>(() => skb.CopyBits(40, new byte[1]));
            var frag = skb.Frags[0];
            Assert.True(frag.IsNetIov);
            Assert.Equal(frames[i].AsSpan(54).ToArray(), mp.Read(frag.Netmem, frag.Offset, frag.Size));
        }
        Assert.Equal(30, q.Stats.Unreadable);
        Assert.Equal(30, q.Stats.NtupleHits);
        Assert.Equal(30, q.Stats.CsumUnnecessary); // the stack cannot checksum unreadable payload: the device did

        // Unbind: the queue restarts on pages and every net_iov returns to the provider.
        env.RxB.FreeAll();
        env.B.CloseMemoryProvider(1, mp);
        env.TrackPools();
        Assert.Null(q.MemoryProvider);
        Assert.Null(q.PagePool!.Params.MemoryProvider);
        Assert.Equal(1, mp.Uninstalls);
        Assert.Equal(mp.Area.Count, mp.FreeCount);
    }

    [Fact]
    public void Memory_provider_binding_errors_match_the_kernel()
    {
        using var env = new NicTestEnv(null, null);
        using var mp = new MappedNetIovProvider(env.B.Dma, 64);
        var e = Assert.Throws<NetmemErrnoException>(() => env.B.OpenMemoryProvider(0, mp));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Contains("tcp-data-split is disabled", e.Message);
        Assert.Equal(Errno.ERANGE, Assert.Throws<NetmemErrnoException>(() => env.B.OpenMemoryProvider(5, mp)).Errno);

        env.B.SetRingParam(env.B.GetRingParam() with { TcpDataSplit = TcpDataSplit.On, HdsThresh = 100 });
        e = Assert.Throws<NetmemErrnoException>(() => env.B.OpenMemoryProvider(0, mp));
        Assert.Contains("hds-thresh is not zero", e.Message);
        env.B.SetRingParam(env.B.GetRingParam() with { HdsThresh = 0 });
        env.TrackPools();

        env.B.OpenMemoryProvider(0, mp);
        env.TrackPools();
        e = Assert.Throws<NetmemErrnoException>(() => env.B.OpenMemoryProvider(0, mp));
        Assert.Equal(Errno.EEXIST, e.Errno);
        Assert.Contains("already memory provider bound", e.Message);

        // While bound: split cannot be turned off, hds-thresh cannot rise, the queue cannot be removed.
        e = Assert.Throws<NetmemErrnoException>(() => env.B.SetRingParam(env.B.GetRingParam() with { TcpDataSplit = TcpDataSplit.Off }));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => env.B.SetRingParam(env.B.GetRingParam() with { HdsThresh = 64 })).Errno);
        e = Assert.Throws<NetmemErrnoException>(() => env.B.SetChannels(0));
        Assert.Equal(Errno.EINVAL, e.Errno);
        env.B.CloseMemoryProvider(0, mp);
        env.TrackPools();
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => env.B.CloseMemoryProvider(0, mp)).Errno);

        // A provider whose init fails: the queue keeps its pages.
        var q = env.B.RxQueues[1];
        var pool = q.PagePool;
        mp.InitResult = Errno.ENODEV;
        Assert.Equal(Errno.ENODEV, Assert.Throws<NetmemErrnoException>(() => env.B.OpenMemoryProvider(1, mp)).Errno);
        Assert.Null(q.MemoryProvider);
        Assert.Same(pool, q.PagePool);
    }

    [Fact]
    public void A_queue_with_a_provider_blocks_removing_it_with_set_channels()
    {
        using var env = new NicTestEnv(Split, Split);
        using var mp = new MappedNetIovProvider(env.B.Dma, 512);
        env.B.OpenMemoryProvider(1, mp);
        env.TrackPools();
        var e = Assert.Throws<NetmemErrnoException>(() => env.B.SetChannels(1));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Contains("too low for existing memory provider", e.Message);
        Assert.Equal(2, env.B.RealNumRxQueues);
        env.B.CloseMemoryProvider(1, mp);
        env.TrackPools();
        env.B.SetChannels(1);
        Assert.Equal(1, env.B.RealNumRxQueues);
        env.TrackPools();
    }
}
