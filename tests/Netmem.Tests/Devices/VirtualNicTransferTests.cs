using Netmem.Devices;
using Netmem.Drivers.VirtualNic;
using Netmem.Skb;

namespace Netmem.Tests.Devices;

public class VirtualNicTransferTests
{
    [Theory]
    [InlineData(60)]
    [InlineData(1514)]
    public void Frames_cross_the_pair_intact_without_split(int size)
    {
        using var env = new NicTestEnv();
        int mappings = env.A.Dma.LiveMappings; // the RX buffers A posted
        var sent = new List<byte[]>();
        for (int i = 0; i < 50; i++)
        {
            var f = TestFrames.Udp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, (ushort)(1000 + i), 9, TestFrames.Payload(size - 42, i));
            sent.Add(f);
            Assert.Equal(NetdevTxResult.Ok, env.Send(env.A, f));
        }
        env.Pair.PollAll();
        Assert.Equal(50, env.RxB.Received.Count);
        var got = env.RxB.Received.Select(r => CollectingHandler.FrameBytes(r.Skb)).ToList();
        // Frames of one flow keep their order; across flows (queues) the order may differ.
        Assert.Equal(sent.Select(Convert.ToHexString).Order(), got.Select(Convert.ToHexString).Order());
        foreach (var (_, skb) in env.RxB.Received)
        {
            Assert.False(skb.Unreadable);
            Assert.Equal(SkbChecksumState.Unnecessary, skb.IpSummed);
            Assert.Equal((ushort)0x0800, skb.Protocol);
            Assert.True(skb.PpRecycle);
        }
        long packets = env.B.RxQueues.ToArray().Sum(q => q.Stats.Packets);
        Assert.Equal(50, packets);
        Assert.Equal(50, env.A.TxQueues[0].Stats.Packets);
        Assert.Equal(mappings, env.A.Dma.LiveMappings); // TX mappings are undone at completion
    }

    [Fact]
    public void Jumbo_frames_span_several_rx_buffers()
    {
        var o = new VirtualNicOptions { Mtu = 9000 };
        using var env = new NicTestEnv(o, o);
        var f = TestFrames.Udp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 5, 6, TestFrames.Payload(9000 - 28, 3));
        env.Send(env.A, f);
        env.Pair.PollAll();
        var skb = Assert.Single(env.RxB.Received).Skb;
        Assert.Equal(2, skb.NrFrags); // head page plus two more 4 KiB buffers
        Assert.Equal(f, CollectingHandler.FrameBytes(skb));
    }

    [Fact]
    public void Header_split_puts_headers_in_the_head_and_payload_in_frags()
    {
        var o = new VirtualNicOptions { TcpDataSplit = TcpDataSplit.On };
        using var env = new NicTestEnv(o, o);
        Assert.True(env.B.GetRingParam().TcpDataSplitActive);
        var tcp = TestFrames.Tcp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 40000, 80, 1000, 0x18, TestFrames.Payload(1400, 1));
        env.Send(env.A, tcp);
        env.Pair.PollAll();
        var skb = Assert.Single(env.RxB.Received).Skb;
        Assert.Equal(20 + 20, skb.HeadLen);          // IP + TCP header (Ethernet pulled)
        Assert.Equal(1, skb.NrFrags);
        Assert.Equal(1400, skb.DataLen);
        Assert.Equal(tcp, CollectingHandler.FrameBytes(skb));
        var q = env.B.RxQueues[skb.QueueMapping];
        Assert.Equal(1, q.Stats.HdsSplit);
        Assert.NotNull(q.HeaderPagePool);
        Assert.NotSame(q.PagePool, q.HeaderPagePool);
    }

    [Fact]
    public void Hds_thresh_keeps_small_frames_whole_in_the_header_buffer()
    {
        var o = new VirtualNicOptions { TcpDataSplit = TcpDataSplit.On, HdsThresh = 256 };
        using var env = new NicTestEnv(o, o);
        Assert.Equal(256, env.B.GetRingParam().HdsThresh);
        var small = TestFrames.Udp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 7, 7, TestFrames.Payload(200, 2)); // 242 bytes
        var big = TestFrames.Udp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 7, 7, TestFrames.Payload(1000, 3));
        env.Send(env.A, small);
        env.Send(env.A, big);
        env.Pair.PollAll();
        Assert.Equal(2, env.RxB.Received.Count);
        var s = env.RxB.Received[0].Skb;
        var b = env.RxB.Received[1].Skb;
        Assert.Equal(0, s.NrFrags);
        Assert.Equal(small, CollectingHandler.FrameBytes(s));
        Assert.Equal(28, b.HeadLen); // split after the UDP header
        Assert.Equal(big, CollectingHandler.FrameBytes(b));
        var q = env.B.RxQueues[s.QueueMapping];
        Assert.Equal(1, q.Stats.HdsWhole);
        Assert.Equal(1, q.Stats.HdsSplit);
    }

    [Fact]
    public void Frames_for_another_mac_are_filtered_and_broadcast_passes()
    {
        using var env = new NicTestEnv();
        var other = Netmem.Wire.EthernetAddress.Parse("02:99:99:99:99:99");
        env.Send(env.A, TestFrames.Udp(other, env.A.Address, 1, 2, 3, 4, new byte[10]));
        env.Send(env.A, TestFrames.Udp(Netmem.Wire.EthernetAddress.Broadcast, env.A.Address, 1, 2, 3, 4, new byte[10]));
        env.Pair.PollAll();
        Assert.Single(env.RxB.Received);
        Assert.Equal(1, env.B.GetDropCount(SkbDropReason.OtherHost));
    }

    [Fact]
    public void Rx_checksum_offload_reports_good_and_bad_checksums()
    {
        using var env = new NicTestEnv();
        var good = TestFrames.Udp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 1, 2, TestFrames.Payload(100, 1));
        var bad = (byte[])good.Clone();
        bad[^1] ^= 0x40; // payload corrupted after the checksum was computed
        env.Send(env.A, good);
        env.Send(env.A, bad);
        env.Pair.PollAll();
        Assert.Equal(2, env.RxB.Received.Count);
        Assert.Equal(SkbChecksumState.Unnecessary, env.RxB.Received[0].Skb.IpSummed);
        Assert.Equal(SkbChecksumState.None, env.RxB.Received[1].Skb.IpSummed);
        Assert.Equal(1, env.B.RxQueues.ToArray().Sum(q => q.Stats.CsumBad));

        // With rx-checksum off the device gives no verdict at all.
        env.B.SetFeatures(env.B.Features & ~NetdevFeatures.RxCsum);
        env.Send(env.A, good);
        env.Pair.PollAll();
        Assert.Equal(SkbChecksumState.None, env.RxB.Received[2].Skb.IpSummed);
    }

    [Fact]
    public void Tso_segments_a_64k_skb_into_valid_mss_sized_frames()
    {
        using var env = new NicTestEnv(new VirtualNicOptions { Queues = 1 }, new VirtualNicOptions { Queues = 1 });
        const int mss = 1448, payloadLen = 64000;
        var payload = TestFrames.Payload(payloadLen, 9);
        // Headers in the head, payload in page frags: what the stack's TCP sends with TSO.
        var hdr = TestFrames.Tcp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 5000, 80, 777, 0x19 /* FIN PSH ACK */, []);
        var skb = env.TxCache.Alloc(128)!;
        skb.Reserve(64);
        skb.PutData(hdr.AsSpan(0, 54));
        skb.SetNetworkHeader(14);
        skb.SetTransportHeader(34);
        var pool = Netmem.Pool.PagePool.Create(new Netmem.Pool.PagePoolParams { Arena = env.Arena });
        for (int off = 0; off < payloadLen; off += 4096)
        {
            int n = Math.Min(4096, payloadLen - off);
            var page = pool.AllocNetmem();
            payload.AsSpan(off, n).CopyTo(page.GetSpan(0, n));
            skb.AddRxFragNetmem(page, 0, n, 4096);
        }
        skb.MarkForRecycle();
        skb.Shinfo.GsoSize = mss;
        skb.Shinfo.GsoType = SkbGsoType.TcpV4;
        skb.IpSummed = SkbChecksumState.Partial;
        Assert.Equal(NetdevTxResult.Ok, env.A.Transmit(skb));
        env.Pair.PollAll();

        int segs = (payloadLen + mss - 1) / mss;
        Assert.Equal(segs, env.RxB.Received.Count);
        var rebuilt = new List<byte>();
        for (int i = 0; i < segs; i++)
        {
            var f = CollectingHandler.FrameBytes(env.RxB.Received[i].Skb);
            Assert.True(TestFrames.ChecksumsOk(f), $"segment {i} has a bad checksum");
            Assert.Equal(SkbChecksumState.Unnecessary, env.RxB.Received[i].Skb.IpSummed);
            uint seq = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(38));
            Assert.Equal(777u + (uint)(i * mss), seq);
            byte flags = f[47];
            Assert.Equal(i == segs - 1 ? 0x19 : 0x10, flags); // FIN and PSH only on the last
            rebuilt.AddRange(f.AsSpan(54).ToArray());
        }
        Assert.Equal(payload, rebuilt.ToArray());
        var txs = env.A.TxQueues[0].Stats;
        Assert.Equal(1, txs.HwGsoPackets);
        Assert.Equal(segs, txs.HwGsoWirePackets);
        env.RxB.FreeAll();
        pool.Dispose();
        Assert.True(pool.IsFreed);
    }

    [Fact]
    public void Tso_is_refused_when_the_feature_is_off()
    {
        using var env = new NicTestEnv();
        env.A.SetFeatures(env.A.Features & ~NetdevFeatures.Tso);
        var skb = env.Skb(TestFrames.Tcp(env.B.Address, env.A.Address, 1, 2, 3, 4, 0, 0x10, new byte[3000]));
        skb.Shinfo.GsoSize = 1000;
        skb.Shinfo.GsoType = SkbGsoType.TcpV4;
        Assert.Equal(NetdevTxResult.Dropped, env.A.Transmit(skb));
        Assert.Equal(1, env.A.GetDropCount(SkbDropReason.TxInvalid));
    }

    [Fact]
    public void A_frame_with_no_posted_buffer_is_dropped_and_counted()
    {
        using var env = new NicTestEnv(new VirtualNicOptions { Queues = 1 }, new VirtualNicOptions { Queues = 1, RxRingSize = 8 });
        for (int i = 0; i < 20; i++)
            env.Send(env.A, TestFrames.Udp(env.B.Address, env.A.Address, 1, 2, 3, 4, new byte[100]));
        Assert.Equal(12, env.B.RxQueues[0].Stats.HwDrops);
        Assert.Equal(12, env.B.GetDropCount(SkbDropReason.RxNoBuffer));
        env.Pair.PollAll();
        Assert.Equal(8, env.RxB.Received.Count);
        // After the poll the ring is full of fresh buffers again.
        env.Send(env.A, TestFrames.Udp(env.B.Address, env.A.Address, 1, 2, 3, 4, new byte[100]));
        env.Pair.PollAll();
        Assert.Equal(9, env.RxB.Received.Count);
    }

    [Fact]
    public void Threaded_napi_delivers_on_its_own_thread()
    {
        var o = new VirtualNicOptions { ThreadedNapi = true, Queues = 1 };
        using var env = new NicTestEnv(o, o);
        int me = Environment.CurrentManagedThreadId;
        for (int i = 0; i < 100; i++)
            env.Send(env.A, TestFrames.Udp(env.B.Address, env.A.Address, 1, 2, 3, 4, TestFrames.Payload(500, i)));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            lock (env.RxB.Received) if (env.RxB.Received.Count == 100) break;
            Thread.Sleep(1);
        }
        Assert.Equal(100, env.RxB.Received.Count);
        Assert.True(env.B.GetNapi(0).IsThreaded);
        Assert.DoesNotContain(me, env.RxB.Threads); // run to completion on the NAPI thread, not the sender's
        for (int i = 0; i < 100; i++)
            Assert.Equal(TestFrames.Payload(500, i), CollectingHandler.FrameBytes(env.RxB.Received[i].Skb).AsSpan(42).ToArray());
        env.B.Close(); // stop the poll thread before the handler's skbs are freed on this thread
    }
}
