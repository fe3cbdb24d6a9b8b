using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Tests.Devices;

namespace Netmem.Tests.Dmabuf;

/// <summary>
/// validate_xmit_unreadable_skb in the VirtualNic driver: an RX net_iov (of a bind-rx binding) sent back out
/// of a NIC, the other one or the one that received it, is dropped before any DMA and counted as
/// <see cref="SkbDropReason.UnreadableTx"/>; the IOMMU sees nothing.
/// </summary>
public class UnreadableTxTests
{
    private static readonly VirtualNicOptions Split = new() { TcpDataSplit = TcpDataSplit.On };

    [Theory]
    [InlineData(true)]  // out of A: B's RX binding is not A's (its addresses are not in A's IOMMU)
    [InlineData(false)] // out of B: B's own binding, but mapped DMA_FROM_DEVICE (an RX binding)
    public void An_rx_net_iov_sent_out_of_a_nic_is_a_counted_drop_not_an_iommu_fault(bool otherNic)
    {
        using var env = new NicTestEnv(Split, Split);
        using var buf = new DeviceMemoryDmaBuf(256L * PageArena.PageSize, "hbm");
        var binding = NetDevmemBinding.BindRx(env.B, buf, [1]);
        env.TrackPools();
        env.B.AddNtupleRule(new NtupleRule { Location = 0, FlowType = NtupleFlowType.Tcp4, DstPort = 5201, Action = 1 });
        const int n = 6;
        for (int i = 0; i < n; i++)
            env.Send(env.A, TestFrames.Tcp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 40000, 5201, 1, 0x10, TestFrames.Payload(1400, i)));
        env.Pair.PollAll();
        Assert.Equal(n, env.RxB.Received.Count);
        var skbs = env.RxB.Received.Select(r => r.Skb).ToList();
        env.RxB.Received.Clear();

        var dev = otherNic ? env.A : env.B;
        var aFaults = env.A.Dma.Stats.Faults;
        var bFaults = env.B.Dma.Stats.Faults;
        var sentBefore = dev.GetStats();
        long rxA = env.RxA.Received.Count, rxB = env.RxB.Received.Count;
        foreach (var skb in skbs)
        {
            Assert.True(skb.Unreadable);
            Assert.True(skb.Frags[0].IsNetIov);
            skb.Push(14); // the Ethernet header the RX path pulled is still in the header buffer
            Assert.Equal(NetdevTxResult.Dropped, dev.Transmit(skb));
        }
        env.Pair.PollAll();

        Assert.Equal(n, dev.GetDropCount(SkbDropReason.UnreadableTx));
        Assert.Equal(0, dev.GetDropCount(SkbDropReason.TxInvalid));
        var sent = dev.GetStats();
        Assert.Equal(n, sent.TxDropped - sentBefore.TxDropped); // counted on the TX queue too
        Assert.Equal(sentBefore.TxPackets, sent.TxPackets);
        Assert.Equal(aFaults, env.A.Dma.Stats.Faults);
        Assert.Equal(bFaults, env.B.Dma.Stats.Faults);
        Assert.Equal(rxA, env.RxA.Received.Count); // nothing reached the wire
        Assert.Equal(rxB, env.RxB.Received.Count);

        // Every net_iov came back to the pool: unbind frees the binding, and the env checks inflight 0.
        env.B.GetNapi(1).Schedule(); // deferred frees run on the NAPI context
        env.Pair.PollAll();
        var devPool = env.B.RxQueues[1].PagePool!;
        binding.Dispose(); // unbind: queue 1 restarts on pages, its device-memory pool is destroyed
        env.TrackPools();
        Assert.True(devPool.IsFreed);
        Assert.Equal(0, devPool.Inflight);
        Assert.True(binding.IsFreed);
        Assert.Equal(binding.NetIovCount, binding.Chunks.Available);
    }

    [Fact]
    public void Readable_skbs_still_pass_the_check()
    {
        using var env = new NicTestEnv();
        var frame = TestFrames.Tcp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 40000, 80, 1, 0x10, TestFrames.Payload(100, 3));
        Assert.Equal(NetdevTxResult.Ok, env.Send(env.A, frame));
        env.Pair.PollAll();
        Assert.Single(env.RxB.Received);
        Assert.Equal(frame, CollectingHandler.FrameBytes(env.RxB.Received[0].Skb));
        Assert.Equal(0, env.A.GetDropCount(SkbDropReason.UnreadableTx));
    }
}
