using System.Buffers.Binary;
using System.IO.Hashing;
using Netmem.Devices;
using Netmem.Drivers.Tap;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Tests.Skb;
using Netmem.Wire;

namespace Netmem.Tests.Tap;

/// <summary>
/// The TAP driver's RX and TX paths against a socketpair that plays the kernel (no root needed):
/// vnet header parsing and refusal, scatter over several page_pool buffers, GSO super-frames, the
/// writev layout, unreadable frags, queue restart, and zero allocation once warm.
/// </summary>
public sealed class TapSeqpacketTests
{
    private static readonly EthernetAddress KernelMac = EthernetAddress.Parse("02:00:00:00:00:01");
    private static readonly Ipv4Address Kernel = new(10, 201, 0, 1), Us = new(10, 201, 0, 2);

    private static byte[] UdpTo(TapDevice dev, int payload, int seq, bool partial = false) =>
        TapFrames.Udp(KernelMac, dev.Address, Kernel, Us, 40000, 9000, TapFrames.Payload(payload, seq), partial);

    [Fact]
    public void A_frame_bigger_than_one_buffer_arrives_scattered_over_frags_intact()
    {
        using var env = new SeqpacketTapEnv(new TapOptions { Mtu = 9000 });
        var frame = UdpTo(env.Dev, 8900, 1);
        env.PeerSend(new VirtioNetHdr { Flags = VirtioNetHdr.FlagDataValid }, frame);
        env.Dev.PollAll();

        var skb = Assert.Single(env.Rx.Received);
        Assert.Equal(frame.Length - 14, skb.Len);
        Assert.Equal(2, skb.NrFrags); // 4032 in the head buffer, 4044 + 866 in two more
        Assert.Equal(4032 - 14, skb.HeadLen);
        Assert.True(skb.PpRecycle);
        Assert.Equal((ushort)EtherType.Ipv4, skb.Protocol);
        Assert.Equal(SkbChecksumState.Unnecessary, skb.IpSummed);
        Assert.Equal(XxHash3.HashToUInt64(frame), XxHash3.HashToUInt64(CollectingRx.FrameBytes(skb)));
        Assert.Equal(1, env.Dev.RxQueues[0].Stats.CsumUnnecessary);
    }

    [Fact]
    public void Needs_csum_becomes_checksum_partial_with_offsets_from_the_head()
    {
        using var env = new SeqpacketTapEnv();
        var frame = UdpTo(env.Dev, 300, 2, partial: true);
        env.PeerSend(new VirtioNetHdr { Flags = VirtioNetHdr.FlagNeedsCsum, CsumStart = 34, CsumOffset = 6 }, frame);
        env.Dev.PollAll();

        var skb = Assert.Single(env.Rx.Received);
        Assert.Equal(SkbChecksumState.Partial, skb.IpSummed);
        Assert.Equal(34, skb.CsumStart - skb.Headroom + 14); // relative to the frame, as the header said
        Assert.Equal(6, skb.CsumOffset);
        Assert.Equal(20, skb.TransportOffset);
        Assert.Equal(1, env.Dev.GetTapStats(0).RxCsumPartial);
    }

    [Fact]
    public void A_tcp_gso_super_frame_enters_as_one_skb_with_gso_fields()
    {
        using var env = new SeqpacketTapEnv();
        var payload = new byte[60000];
        TapFrames.FillPayload(payload, 9);
        var frame = TapFrames.TcpPartial(KernelMac, env.Dev.Address, Kernel, Us, payload);
        env.PeerSend(new VirtioNetHdr
        {
            Flags = VirtioNetHdr.FlagNeedsCsum, GsoType = VirtioNetHdr.GsoTcpV4, GsoSize = 1448,
            HdrLen = 54, CsumStart = 34, CsumOffset = 16,
        }, frame);
        env.Dev.PollAll();

        var skb = Assert.Single(env.Rx.Received);
        Assert.Equal(frame.Length - 14, skb.Len);
        Assert.Equal(SkbGsoType.TcpV4 | SkbGsoType.Dodgy, skb.Shinfo.GsoType);
        Assert.Equal(1448, skb.Shinfo.GsoSize);
        Assert.Equal((60000 + 1447) / 1448, skb.Shinfo.GsoSegs);
        Assert.Equal(14, skb.NrFrags);
        Assert.Equal(XxHash3.HashToUInt64(frame), XxHash3.HashToUInt64(CollectingRx.FrameBytes(skb)));
        Assert.Equal(1, env.Dev.GetTapStats(0).RxGsoPackets);
    }

    [Fact]
    public void Malformed_vnet_headers_are_dropped_and_counted_by_reason_and_the_queue_keeps_working()
    {
        using var env = new SeqpacketTapEnv();
        var udp = UdpTo(env.Dev, 100, 3);
        var arp = new byte[42];
        new EthernetRepr(KernelMac, env.Dev.Address, EtherType.Arp).Emit(arp);
        var cases = new (VirtioNetHdr Hdr, byte[] Frame, VirtioNetHdrError Why)[]
        {
            (new VirtioNetHdr { Flags = 0x10 }, udp, VirtioNetHdrError.UnknownFlags),
            (new VirtioNetHdr { Flags = VirtioNetHdr.FlagNeedsCsum, CsumStart = 34, CsumOffset = 2000 }, udp, VirtioNetHdrError.BadCsumOffsets),
            (new VirtioNetHdr { Flags = VirtioNetHdr.FlagNeedsCsum, CsumStart = 34, CsumOffset = 6, GsoType = 7, GsoSize = 1000 }, udp, VirtioNetHdrError.BadGso),
            (new VirtioNetHdr { Flags = VirtioNetHdr.FlagNeedsCsum, CsumStart = 34, CsumOffset = 6, GsoType = VirtioNetHdr.GsoTcpV4 }, udp, VirtioNetHdrError.BadGso),
            (new VirtioNetHdr { GsoType = VirtioNetHdr.GsoTcpV4, GsoSize = 1448 }, udp, VirtioNetHdrError.GsoWithoutCsum),
            (new VirtioNetHdr { Flags = VirtioNetHdr.FlagNeedsCsum, CsumStart = 14, CsumOffset = 6, GsoType = VirtioNetHdr.GsoTcpV4, GsoSize = 1448 }, arp, VirtioNetHdrError.GsoProtocolMismatch),
            (new VirtioNetHdr { GsoType = VirtioNetHdr.GsoEcn }, udp, VirtioNetHdrError.BadGso),
        };
        var ts = env.Dev.GetTapStats(0);
        foreach (var (hdr, frame, why) in cases)
        {
            env.PeerSend(hdr, frame);
            env.Dev.PollAll();
            Assert.Equal(why, ts.RxLastVnetHdrError);
        }
        env.PeerSendRaw(new byte[VirtioNetHdr.Size + 10]); // shorter than an Ethernet header
        env.Dev.PollAll();
        Assert.Empty(env.Rx.Received);
        Assert.Equal(cases.Length, ts.RxBadVnetHdr);
        Assert.Equal(cases.Length, env.Dev.GetDropCount(SkbDropReason.DevHdr));
        Assert.Equal(1, env.Dev.GetDropCount(SkbDropReason.PktTooSmall));

        // Dropped frames left their buffers posted; a good frame still gets through.
        env.PeerSend(default, udp);
        env.Dev.PollAll();
        var skb = Assert.Single(env.Rx.Received);
        Assert.Equal(udp, CollectingRx.FrameBytes(skb));
        Assert.Equal(SkbChecksumState.None, skb.IpSummed);
    }

    [Fact]
    public void Frames_for_another_mac_or_too_big_or_cut_short_are_dropped_by_reason()
    {
        using var env = new SeqpacketTapEnv(new TapOptions { Offloads = false });
        Assert.Equal(0u, env.Dev.TunOffloadFlags);
        Assert.Equal(2, env.Dev.GetRingParam().RxPending); // one 1518-byte frame fits one buffer; one spare
        var other = TapFrames.Udp(KernelMac, EthernetAddress.Parse("02:99:00:00:00:07"), Kernel, Us, 1, 2, new byte[10], false);
        env.PeerSend(default, other);
        env.PeerSend(default, UdpTo(env.Dev, 1600, 4));   // over our MTU 1500
        env.PeerSend(default, UdpTo(env.Dev, 9000, 5));   // more than the buffers posted: readv fills them all
        env.PeerSend(default, UdpTo(env.Dev, 1472, 6));   // a full 1514-byte frame
        env.Dev.PollAll();
        Assert.Equal(1, env.Dev.GetDropCount(SkbDropReason.OtherHost));
        Assert.Equal(2, env.Dev.GetDropCount(SkbDropReason.PktTooBig));
        Assert.Equal(1, env.Dev.GetTapStats(0).RxOverruns);
        var skb = Assert.Single(env.Rx.Received);
        Assert.Equal(1514 - 14, skb.Len);
    }

    [Fact]
    public void Transmit_writes_vnet_header_head_and_frags_in_one_message()
    {
        using var env = new SeqpacketTapEnv(new TapOptions { Mtu = 9000 });
        var frame = TapFrames.Udp(env.Dev.Address, KernelMac, Us, Kernel, 5555, 9001, TapFrames.Payload(6000, 7), partial: true);
        var skb = TapFrames.TxSkb(env.TxCache, frame, inHead: 500, fragSize: 2000);
        Assert.Equal(3, skb.NrFrags);
        skb.IpSummed = SkbChecksumState.Partial;
        skb.CsumStart = (ushort)(skb.Headroom + 34);
        skb.CsumOffset = 6;
        Assert.Equal(NetdevTxResult.Ok, env.Dev.Transmit(skb));

        var msg = env.PeerReceive();
        Assert.NotNull(msg);
        Assert.Equal(VirtioNetHdr.Size + frame.Length, msg.Length);
        Assert.Equal(VirtioNetHdr.FlagNeedsCsum, msg[0]);
        Assert.Equal(VirtioNetHdr.GsoNone, msg[1]);
        Assert.Equal(34, BinaryPrimitives.ReadUInt16LittleEndian(msg.AsSpan(6)));
        Assert.Equal(6, BinaryPrimitives.ReadUInt16LittleEndian(msg.AsSpan(8)));
        Assert.Equal(frame, msg.AsSpan(VirtioNetHdr.Size).ToArray());
        var tx = env.Dev.TxQueues[0].Stats;
        Assert.Equal(1, tx.Packets);
        Assert.Equal(1, tx.NeedsCsum);
        Assert.Equal(frame.Length, tx.Bytes);
        Assert.Null(env.PeerReceive());
    }

    [Fact]
    public void A_tso_skb_goes_out_with_gso_tcpv4_and_gso_size()
    {
        using var env = new SeqpacketTapEnv();
        var payload = TapFrames.Payload(20000, 8);
        var frame = TapFrames.TcpPartial(env.Dev.Address, KernelMac, Us, Kernel, payload);
        var skb = TapFrames.TxSkb(env.TxCache, frame, inHead: 54);
        skb.IpSummed = SkbChecksumState.Partial;
        skb.CsumStart = (ushort)(skb.Headroom + 34);
        skb.CsumOffset = 16;
        skb.Shinfo.GsoSize = 1448;
        skb.Shinfo.GsoType = SkbGsoType.TcpV4;
        Assert.Equal(NetdevTxResult.Ok, env.Dev.Transmit(skb));
        var msg = env.PeerReceive()!;
        Assert.Equal(VirtioNetHdr.GsoTcpV4, msg[1]);
        Assert.Equal(54, BinaryPrimitives.ReadUInt16LittleEndian(msg.AsSpan(2)));
        Assert.Equal(1448, BinaryPrimitives.ReadUInt16LittleEndian(msg.AsSpan(4)));
        Assert.Equal(XxHash3.HashToUInt64(frame), XxHash3.HashToUInt64(msg.AsSpan(VirtioNetHdr.Size)));
        Assert.Equal(1, env.Dev.TxQueues[0].Stats.HwGsoPackets);
        Assert.Equal((20000 + 1447) / 1448, env.Dev.TxQueues[0].Stats.HwGsoWirePackets);

        // With TSO off, a GSO skb is refused.
        env.Dev.SetFeatures(NetdevFeatures.Sg | NetdevFeatures.IpCsum | NetdevFeatures.RxCsum);
        var skb2 = TapFrames.TxSkb(env.TxCache, frame, inHead: 54);
        skb2.IpSummed = SkbChecksumState.Partial;
        skb2.CsumStart = (ushort)(skb2.Headroom + 34);
        skb2.CsumOffset = 16;
        skb2.Shinfo.GsoSize = 1448;
        skb2.Shinfo.GsoType = SkbGsoType.TcpV4;
        Assert.Equal(NetdevTxResult.Dropped, env.Dev.Transmit(skb2));
        Assert.Equal(1, env.Dev.GetDropCount(SkbDropReason.TxInvalid));
    }

    [Fact]
    public void An_skb_with_an_unreadable_frag_is_dropped_as_unreadable_tx_and_nothing_is_written()
    {
        using var env = new SeqpacketTapEnv();
        using var skbEnv = new SkbTestEnv();
        var skb = skbEnv.Cache.NapiAlloc(128)!;
        TapFrames.Udp(env.Dev.Address, KernelMac, Us, Kernel, 1, 2, new byte[58], false).AsSpan(0, 100).CopyTo(skb.Put(100));
        skb.MarkForRecycle();
        skb.AddRxFragNetmem(skbEnv.DevPool.AllocNetmem(), 0, 1000, PageArena.PageSize);
        Assert.True(skb.Unreadable);
        Assert.Equal(NetdevTxResult.Dropped, env.Dev.Transmit(skb));
        Assert.Equal(1, env.Dev.GetTapStats(0).TxUnreadable);
        Assert.Equal(1, env.Dev.GetDropCount(SkbDropReason.UnreadableTx));
        Assert.Equal(0, env.Dev.GetDropCount(SkbDropReason.TxInvalid));
        Assert.Null(env.PeerReceive());
    }

    [Fact]
    public void Restarting_the_rx_queue_swaps_its_page_pool_and_frames_keep_flowing()
    {
        using var env = new SeqpacketTapEnv();
        var oldPool = env.Dev.RxQueues[0].PagePool!;
        env.PeerSend(default, UdpTo(env.Dev, 100, 1));
        env.Dev.PollAll();
        env.Dev.RestartRxQueue(0);
        env.TrackPools();
        var newPool = env.Dev.RxQueues[0].PagePool!;
        Assert.NotSame(oldPool, newPool);
        Assert.False(oldPool.IsFreed); // the skb still holds one of its pages
        env.PeerSend(default, UdpTo(env.Dev, 100, 2));
        env.Dev.PollAll();
        Assert.Equal(2, env.Rx.Received.Count);
        Assert.Same(newPool, PagePoolOf(env.Rx.Received[1]));
        env.Rx.FreeAll();
        env.Dev.PollAll(); // skbs freed off the NAPI context wait for it (skb_attempt_defer_free)
        Assert.True(oldPool.IsFreed);

        // A memory provider needs tcp-data-split, which a tap cannot do.
        var e = Assert.Throws<NetmemErrnoException>(() => env.Dev.OpenMemoryProvider(0, new Netmem.Pool.PageArenaProvider(env.Arena)));
        Assert.Equal(Errno.EINVAL, e.Errno);
    }

    private static Netmem.Pool.PagePool? PagePoolOf(SkBuff skb) => Netmem.Pool.PagePool.FromNetmem(skb.HeadNetmem);

    [Fact]
    public void Receive_and_transmit_allocate_nothing_once_warm()
    {
        var sink = new CountingSink();
        using var env = new SeqpacketTapEnv(handler: sink);
        var frames = new byte[64][];
        for (int i = 0; i < frames.Length; i++) frames[i] = UdpTo(env.Dev, 200 + i * 20, i);
        var tx = TapFrames.Udp(env.Dev.Address, KernelMac, Us, Kernel, 5555, 9001, TapFrames.Payload(1000, 1), partial: false);

        long allocated = 0;
        for (int round = 0; round < 5; round++)
        {
            long used = env.MeasuredRxTxRound(frames, tx); // the peer's side allocates; it is not measured
            if (round >= 2) allocated += used; // rounds 0 and 1 warm the caches
            int n = 0;
            while (env.PeerReceive() is { } m)
            {
                Assert.Equal(tx, m.AsSpan(VirtioNetHdr.Size).ToArray());
                n++;
            }
            Assert.Equal(32, n);
        }
        Assert.Equal(5 * 64, sink.Frames);
        Assert.Equal(0, allocated);
    }
}

/// <summary>Counts received frames and frees them (no allocation).</summary>
internal sealed class CountingSink : INetdevRxHandler
{
    public long Frames, Bytes;
    public void Receive(NetDevice dev, NetdevRxQueue queue, SkBuff skb)
    {
        Frames++;
        Bytes += skb.Len;
        skb.Free();
    }
}
