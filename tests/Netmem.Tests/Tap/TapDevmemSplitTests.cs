using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Drivers.Tap;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Tests.Devices;
using Netmem.Tests.Dmabuf;
using Netmem.Wire;

namespace Netmem.Tests.Tap;

/// <summary>
/// The TAP driver's software header split into a dma-buf bound queue (no root: a socketpair plays the
/// kernel): headers in the host staging buffer that becomes the skb head, payload written into the
/// binding's net_iovs through the device's IOMMU, the checksum checked on the way when the kernel did not.
/// </summary>
public sealed class TapDevmemSplitTests
{
    private static readonly EthernetAddress KernelMac = EthernetAddress.Parse("02:00:00:00:00:01");
    private static readonly Ipv4Address Kernel = new(10, 201, 0, 1), Us = new(10, 201, 0, 2);

    private static (SeqpacketTapEnv Env, DeviceMemoryDmaBuf Buf, NetDevmemBinding Binding) Bound(TapOptions? o = null)
    {
        var env = new SeqpacketTapEnv(o);
        env.Dev.SetRingParam(env.Dev.GetRingParam() with { TcpDataSplit = TcpDataSplit.On });
        env.TrackPools();
        var buf = new DeviceMemoryDmaBuf(512L * PageArena.PageSize, "tap-hbm");
        var binding = NetDevmemBinding.BindRx(env.Dev, buf, [0]);
        env.TrackPools();
        return (env, buf, binding);
    }

    private static byte[] Tcp(TapDevice dev, int len, int seed) =>
        TestFrames.Tcp(dev.Address, KernelMac, Kernel.ToUInt32(), Us.ToUInt32(), 40000, 5201, (uint)seed, 0x18, TestFrames.Payload(len, seed));

    private static void Teardown(SeqpacketTapEnv env, DeviceMemoryDmaBuf buf, NetDevmemBinding binding)
    {
        env.Rx.FreeAll();
        env.Dev.PollAll(); // deferred frees
        binding.Dispose();
        env.TrackPools();
        Assert.True(binding.IsFreed);
        Assert.Equal(binding.NetIovCount, binding.Chunks.Available);
        buf.Dispose();
        Assert.True(buf.IsReleased);
        env.Dispose();
    }

    [Fact]
    public void Split_on_a_bound_tap_queue_puts_headers_in_host_memory_and_payload_in_net_iovs()
    {
        var (env, buf, binding) = Bound();
        var q = env.Dev.RxQueues[0];
        Assert.Same(binding, q.PagePool!.MemoryProvider);   // the data pool took the provider from the queue
        Assert.Null(q.HeaderPagePool!.MemoryProvider);      // the staging/header pool is host memory
        Assert.True(env.Dev.GetRingParam().TcpDataSplitActive);
        long writes = env.Dev.Dma.Stats.DeviceBytesWritten;
        int[] sizes = [1, 2, 100, 1000, 1460];
        var frames = sizes.Select((n, i) => Tcp(env.Dev, n, i + 1)).ToList();
        foreach (var f in frames) env.PeerSend(default, f); // full checksums, no flags: the engine checks them
        env.Dev.PollAll();
        Assert.Equal(sizes.Length, env.Rx.Received.Count);
        for (int i = 0; i < sizes.Length; i++)
        {
            var skb = env.Rx.Received[i];
            Assert.True(skb.Unreadable);
            Assert.Equal(40, skb.HeadLen);
            Assert.Equal(frames[i].AsSpan(14, 40).ToArray(), skb.Data[..40].ToArray());
            Assert.Equal(sizes[i], skb.DataLen);
            Assert.Equal(SkbChecksumState.Unnecessary, skb.IpSummed);
            Assert.Same(binding, skb.Frags[0].Netmem.NetIovOwner.Owner);
            Assert.Equal(frames[i].AsSpan(54).ToArray(), BindRxTests.DevmemPayload(skb, BindRxTests.Reader(buf)));
        }
        Assert.Equal(sizes.Sum(), env.Dev.Dma.Stats.DeviceBytesWritten - writes); // every payload byte went through the IOMMU
        Assert.Equal(sizes.Length, q.Stats.HdsSplit);
        Assert.Equal(sizes.Length, q.Stats.Unreadable);
        Assert.Equal(sizes.Length, q.Stats.CsumUnnecessary);
        Teardown(env, buf, binding);
    }

    [Fact]
    public void A_received_net_iov_sent_back_out_of_the_tap_is_a_counted_drop()
    {
        var (env, buf, binding) = Bound();
        const int n = 4;
        for (int i = 0; i < n; i++) env.PeerSend(default, Tcp(env.Dev, 1000, i + 1));
        env.Dev.PollAll();
        Assert.Equal(n, env.Rx.Received.Count);
        var skbs = env.Rx.Received.ToList();
        env.Rx.Received.Clear();
        long faults = env.Dev.Dma.Stats.Faults;
        foreach (var skb in skbs)
        {
            Assert.True(skb.Unreadable);
            skb.Push(14); // the Ethernet header is still in the host header buffer
            Assert.Equal(NetdevTxResult.Dropped, env.Dev.Transmit(skb)); // a tap writes bytes: device memory cannot go
        }
        Assert.Equal(n, env.Dev.GetDropCount(SkbDropReason.UnreadableTx));
        Assert.Equal(n, env.Dev.GetTapStats(0).TxUnreadable);
        Assert.Equal(n, env.Dev.GetStats().TxDropped);
        Assert.Equal(faults, env.Dev.Dma.Stats.Faults);
        Assert.Null(env.PeerReceive()); // nothing was written
        Teardown(env, buf, binding); // every net_iov back, pools at inflight 0
    }

    [Fact]
    public void Udp_padding_gso_frames_and_frames_that_cannot_be_split()
    {
        var (env, buf, binding) = Bound();
        var q = env.Dev.RxQueues[0];
        // UDP: split after the 8-byte header; a NEEDS_CSUM frame keeps CHECKSUM_PARTIAL.
        var udp = TapFrames.Udp(KernelMac, env.Dev.Address, Kernel, Us, 40000, 9000, TapFrames.Payload(700, 4), partial: true);
        env.PeerSend(new VirtioNetHdr { Flags = VirtioNetHdr.FlagNeedsCsum, CsumStart = 34, CsumOffset = 6 }, udp);
        // A 1-byte TCP payload padded to the 60-byte Ethernet minimum: the padding is not payload.
        var tiny = Tcp(env.Dev, 1, 7);
        var padded = new byte[60];
        tiny.CopyTo(padded);
        env.PeerSend(default, padded);
        // A 60000-byte TSO super-frame: payload over 15 net_iovs.
        var payload = new byte[60000];
        TapFrames.FillPayload(payload, 9);
        var gso = TapFrames.TcpPartial(KernelMac, env.Dev.Address, Kernel, Us, payload);
        env.PeerSend(new VirtioNetHdr { Flags = VirtioNetHdr.FlagNeedsCsum, GsoType = VirtioNetHdr.GsoTcpV4, GsoSize = 1448, HdrLen = 54, CsumStart = 34, CsumOffset = 16 }, gso);
        // ARP cannot be split: it stays whole and readable.
        var arp = new byte[42];
        new EthernetRepr(KernelMac, EthernetAddress.Broadcast, EtherType.Arp).Emit(arp);
        env.PeerSend(default, arp);
        // A TCP frame whose checksum is wrong: split, but left CHECKSUM_NONE for the stack to drop.
        var bad = Tcp(env.Dev, 500, 8);
        bad[^1] ^= 0x40;
        env.PeerSend(default, bad);
        env.Dev.PollAll();

        var r = env.Rx.Received;
        Assert.Equal(5, r.Count);
        Assert.True(r[0].Unreadable);
        Assert.Equal(28, r[0].HeadLen);
        Assert.Equal(SkbChecksumState.Partial, r[0].IpSummed);
        Assert.Equal(udp.AsSpan(42).ToArray(), BindRxTests.DevmemPayload(r[0], BindRxTests.Reader(buf)));

        Assert.True(r[1].Unreadable);
        Assert.Equal(40 + 1, r[1].Len);
        Assert.Equal(tiny.AsSpan(54).ToArray(), BindRxTests.DevmemPayload(r[1], BindRxTests.Reader(buf)));

        Assert.True(r[2].Unreadable);
        Assert.Equal(15, r[2].NrFrags);
        Assert.Equal(1448, r[2].Shinfo.GsoSize);
        Assert.Equal(payload, BindRxTests.DevmemPayload(r[2], BindRxTests.Reader(buf)));

        Assert.False(r[3].Unreadable);
        Assert.Equal(arp, CollectingRx.FrameBytes(r[3]));

        Assert.True(r[4].Unreadable);
        Assert.Equal(SkbChecksumState.None, r[4].IpSummed);
        Assert.Equal(1, q.Stats.CsumBad);
        Assert.Equal(4, q.Stats.HdsSplit);
        Assert.Equal(1, q.Stats.HdsWhole);
        Teardown(env, buf, binding);
    }

    [Fact]
    public void Without_a_provider_split_on_changes_nothing_and_unbind_returns_the_queue_to_pages()
    {
        var (env, buf, binding) = Bound();
        binding.Dispose();
        env.TrackPools();
        var q = env.Dev.RxQueues[0];
        Assert.Null(q.MemoryProvider);
        Assert.Null(q.PagePool!.MemoryProvider);
        var f = Tcp(env.Dev, 1200, 3);
        env.PeerSend(default, f);
        env.Dev.PollAll();
        var skb = Assert.Single(env.Rx.Received);
        Assert.False(skb.Unreadable);
        Assert.Equal(f, CollectingRx.FrameBytes(skb));
        Teardown(env, buf, binding);
    }

    [Fact]
    public unsafe void The_split_receive_path_allocates_nothing_once_warm()
    {
        var (env, buf, binding) = Bound();
        var msgs = Enumerable.Range(0, 16).Select(i =>
        {
            var f = Tcp(env.Dev, 200 + i * 80, i);
            var m = new byte[VirtioNetHdr.Size + f.Length];
            f.CopyTo(m.AsSpan(VirtioNetHdr.Size));
            return m;
        }).ToArray();
        long Round()
        {
            foreach (var m in msgs) env.PeerSendRaw(m);
            long a = GC.GetAllocatedBytesForCurrentThread();
            env.Dev.PollAll();
            env.Rx.FreeAll();
            env.Dev.PollAll();
            return GC.GetAllocatedBytesForCurrentThread() - a;
        }
        for (int i = 0; i < 4; i++) Round();
        Assert.Equal(0, Round());
        Assert.True(env.Dev.RxQueues[0].Stats.HdsSplit >= 5 * 16);
        Teardown(env, buf, binding);
    }

    [Fact]
    public void A_tap_without_split_refuses_bind_rx()
    {
        using var env = new SeqpacketTapEnv();
        using var buf = new DeviceMemoryDmaBuf(16L * PageArena.PageSize, "tap-hbm");
        var e = Assert.Throws<NetmemErrnoException>(() => NetDevmemBinding.BindRx(env.Dev, buf, [0]));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Equal(1, buf.RefCount);
    }
}
