using Netmem.Devices;
using Netmem.Drivers.VirtualNic;

namespace Netmem.Tests.Devices;

public class SteeringAndEthtoolTests
{
    [Theory]
    // Microsoft's RSS verification suite (IPv4 with TCP ports, and addresses only), default key.
    [InlineData("66.9.149.187", 2794, "161.142.100.80", 1766, 0x51ccc178u, 0x323e8fc2u)]
    [InlineData("199.92.111.2", 14230, "65.69.140.83", 4739, 0xc626b0eau, 0xd718262au)]
    [InlineData("24.19.198.95", 12898, "12.22.207.184", 38024, 0x5c2b394au, 0xd2d0a5deu)]
    [InlineData("38.27.205.30", 48228, "209.142.163.6", 2217, 0xafc7327fu, 0x82989176u)]
    [InlineData("153.39.163.191", 44251, "202.188.127.2", 1303, 0x10e828a2u, 0x5d1809c5u)]
    public void Toeplitz_matches_the_rss_specification_vectors(string src, int sport, string dst, int dport, uint withPorts, uint addrsOnly)
    {
        static uint Ip(string s) => System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(System.Net.IPAddress.Parse(s).GetAddressBytes());
        Assert.Equal(withPorts, Toeplitz.HashIpv4(Toeplitz.DefaultKey, Ip(src), Ip(dst), (ushort)sport, (ushort)dport, true));
        Assert.Equal(addrsOnly, Toeplitz.HashIpv4(Toeplitz.DefaultKey, Ip(src), Ip(dst), 0, 0, false));
    }

    [Fact]
    public void Rss_spreads_flows_over_queues_and_keeps_each_flow_on_one()
    {
        var o = new VirtualNicOptions { Queues = 4 };
        using var env = new NicTestEnv(o, o);
        var byFlow = new Dictionary<int, HashSet<int>>();
        for (int round = 0; round < 3; round++)
            for (int flow = 0; flow < 64; flow++)
                env.Send(env.A, TestFrames.Udp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, (ushort)(20000 + flow), 53, TestFrames.Payload(64, flow)));
        env.Pair.PollAll();
        Assert.Equal(192, env.RxB.Received.Count);
        foreach (var (q, skb) in env.RxB.Received)
        {
            int sport = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(skb.Data.Slice(20, 2));
            (byFlow.TryGetValue(sport, out var set) ? set : byFlow[sport] = []).Add(q);
            Assert.True(skb.L4Hash);
            Assert.Equal(env.B.RssIndir[(int)(skb.Hash % 128)], q);
        }
        Assert.All(byFlow.Values, s => Assert.Single(s));
        Assert.All(env.B.RxQueues.ToArray(), q => Assert.True(q.Stats.Packets > 0, $"{q} got nothing"));
    }

    [Fact]
    public void An_ntuple_rule_steers_a_flow_and_a_drop_rule_drops_it()
    {
        var o = new VirtualNicOptions { Queues = 4 };
        using var env = new NicTestEnv(o, o);
        env.B.AddNtupleRule(new NtupleRule { Location = 1, FlowType = NtupleFlowType.Udp4, DstPort = 4789, Action = 3 });
        env.B.AddNtupleRule(new NtupleRule { Location = 2, FlowType = NtupleFlowType.Udp4, DstPort = 9999, Action = NtupleRule.ActionDrop });
        for (int flow = 0; flow < 20; flow++)
        {
            env.Send(env.A, TestFrames.Udp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, (ushort)(30000 + flow), 4789, new byte[32]));
            env.Send(env.A, TestFrames.Udp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, (ushort)(30000 + flow), 9999, new byte[32]));
        }
        env.Pair.PollAll();
        Assert.Equal(20, env.RxB.Received.Count);
        Assert.All(env.RxB.Received, r => Assert.Equal(3, r.Queue));
        Assert.Equal(20, env.B.RxQueues[3].Stats.NtupleHits);
        Assert.Equal(20, env.B.GetDropCount(SkbDropReason.NotSpecified));
        env.B.DeleteNtupleRule(1);
        Assert.Equal(Errno.ENOENT, Assert.Throws<NetmemErrnoException>(() => env.B.DeleteNtupleRule(1)).Errno);
        Assert.Single(env.B.NtupleRules.ToArray());
    }

    [Fact]
    public void Ntuple_and_rss_settings_are_checked()
    {
        using var env = new NicTestEnv();
        var e = Assert.Throws<NetmemErrnoException>(() => env.B.AddNtupleRule(new NtupleRule { FlowType = NtupleFlowType.Tcp4, Action = 7 }));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => env.B.AddNtupleRule(new NtupleRule { Location = 500, FlowType = NtupleFlowType.Tcp4 })).Errno);
        env.B.SetFeatures(env.B.Features & ~NetdevFeatures.Ntuple);
        Assert.Equal(Errno.EOPNOTSUPP, Assert.Throws<NetmemErrnoException>(() => env.B.AddNtupleRule(new NtupleRule { FlowType = NtupleFlowType.Tcp4 })).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => env.B.SetRxfh(new int[128].Select(_ => 5).ToArray())).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => env.B.SetRxfh(new int[10])).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => env.B.SetRxfh(default, new byte[12])).Errno);
        env.B.SetRxfh(Enumerable.Repeat(1, 128).ToArray());
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => env.B.SetChannels(1)).Errno); // the table needs queue 1
        env.B.ResetRxfh();
        env.B.SetChannels(1);
        env.TrackPools();
    }

    [Fact]
    public void Ring_mtu_feature_and_channel_settings_fail_with_the_kernel_errors()
    {
        using var env = new NicTestEnv();
        var b = env.B;
        var rp = b.GetRingParam();
        Assert.Equal(256, rp.RxPending);
        Assert.Equal(VirtualNic.MaxRingSize, rp.RxMaxPending);
        Assert.Equal(TcpDataSplit.Auto, rp.TcpDataSplit);
        Assert.False(rp.TcpDataSplitActive);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => b.SetRingParam(rp with { RxPending = 5000 })).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => b.SetRingParam(rp with { TxPending = 0 })).Errno);
        Assert.Equal(Errno.ERANGE, Assert.Throws<NetmemErrnoException>(() => b.SetRingParam(rp with { HdsThresh = rp.HdsThreshMax + 1 })).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => b.SetMtu(67)).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => b.SetMtu(70000)).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => b.SetChannels(9)).Errno);
        Assert.Equal(Errno.EADDRNOTAVAIL, Assert.Throws<NetmemErrnoException>(() => b.SetAddress(Netmem.Wire.EthernetAddress.Broadcast)).Errno);

        // A ring resize restarts every queue with new rings of the new size, and traffic flows.
        b.SetRingParam(rp with { RxPending = 64, TcpDataSplit = TcpDataSplit.On });
        env.TrackPools();
        Assert.Equal(64, b.GetRingParam().RxPending);
        Assert.True(b.GetRingParam().TcpDataSplitActive);
        Assert.All(b.RxQueues.ToArray(), q => Assert.NotNull(q.HeaderPagePool));
        b.SetChannels(4);
        env.TrackPools();
        Assert.Equal(4, b.GetChannels().CombinedCount);
        Assert.Equal(8, b.GetChannels().MaxCombined);
        for (int i = 0; i < 32; i++)
            env.Send(env.A, TestFrames.Udp(b.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, (ushort)i, 1, new byte[100]));
        env.Pair.PollAll();
        Assert.Equal(32, env.RxB.Received.Count);
        Assert.True(env.RxB.Received.Select(r => r.Queue).Distinct().Count() > 2);
    }
}
