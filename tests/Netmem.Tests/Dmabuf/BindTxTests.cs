using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Stack.Virtual;
using Netmem.Tests.Devices;
using Netmem.Wire;

namespace Netmem.Tests.Dmabuf;

/// <summary>
/// bind-tx (<see cref="NetDevmemBinding.BindTx"/>): the dma-buf mapped DMA_TO_DEVICE for the device, the tx
/// vector, the send-side lookups (<c>net_devmem_get_binding</c>, <c>net_devmem_get_niov_at</c>) with the kernel's
/// errors, validate_xmit_unreadable_skb letting the egress device's TX net_iovs through and dropping others, and
/// unbind waiting for the last net_iov reference.
/// </summary>
public class BindTxTests
{
    private const int Pages = 64;

    [Fact]
    public void Bind_tx_maps_the_dma_buf_to_device_and_indexes_every_page()
    {
        using var env = new NicTestEnv();
        using var buf = new DeviceMemoryDmaBuf(Pages * PageArena.PageSize, "hbm-tx", segmentSize: 16 * PageArena.PageSize);
        int mappingsBefore = env.A.Dma.LiveMappings;
        var b = NetDevmemBinding.BindTx(env.A, buf);
        Assert.True(b.IsTx);
        Assert.NotEqual(0u, b.Id);
        Assert.Equal(DmaDirection.ToDevice, b.Direction);
        Assert.Same(b, NetDevmemBinding.FromId(b.Id));
        Assert.Equal(4, b.Areas.Count); // one area per scatter-list entry
        Assert.Equal(Pages, b.NetIovCount);
        Assert.True(env.A.Dma.LiveMappings > mappingsBefore);

        for (long off = 0; off < buf.Size; off += 1000)
        {
            Assert.True(b.TryGetNetIovAt(off, out var niov, out int inNiov, out int size));
            Assert.Equal(off % PageArena.PageSize, inNiov);
            Assert.Equal(PageArena.PageSize - inNiov, size);
            Assert.Equal(b.NetIovAt((int)(off / PageArena.PageSize)), niov);
            Assert.Equal((ulong)(off - inNiov), niov.NetIovVirtualAddr);
            Assert.Equal(b.Id, niov.NetIovOwner.DmabufId);
        }
        Assert.False(b.TryGetNetIovAt(buf.Size, out _, out _, out _));
        Assert.False(b.TryGetNetIovAt(-1, out _, out _, out _));

        // The device may read through the mapping (TX DMA) but never write (it is not an RX buffer).
        buf.CopyFromHost(5 * PageArena.PageSize + 7, "devmem!"u8);
        var at = b.NetIovAt(5);
        var read = new byte[7];
        env.A.Dma.DeviceRead(at.DmaAddr + 7, read);
        Assert.Equal("devmem!"u8.ToArray(), read);
        Assert.Throws<IommuFaultException>(() => env.A.Dma.DeviceWrite(at.DmaAddr, new byte[4]));

        var unbound = b.UnbindAsync();
        Assert.True(unbound.IsCompletedSuccessfully); // nothing referenced a net_iov
        Assert.True(b.IsFreed);
        Assert.Null(NetDevmemBinding.FromId(b.Id));
        Assert.Equal(mappingsBefore, env.A.Dma.LiveMappings);
        Assert.Equal(1, buf.RefCount); // only the creator's reference is left
    }

    [Fact]
    public void Bind_tx_refuses_a_device_without_netmem_tx_with_eopnotsupp()
    {
        using var arena = new PageArena(new PageArenaOptions { PageCount = 64 });
        var ip = new IpTestDevice(new Ipv4Address(10, 9, 0, 1), 24, Ipv4Address.Unspecified, () => 0);
        using var dev = new IpTestNetdev(ip, arena, tcpDataSplit: false);
        Assert.False(dev.NetmemTx);
        using var buf = new DeviceMemoryDmaBuf(4 * PageArena.PageSize);
        var e = Assert.Throws<NetmemErrnoException>(() => NetDevmemBinding.BindTx(dev, buf));
        Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
        Assert.Equal(1, buf.RefCount);
        Assert.Equal(0, buf.Attachments);
    }

    [Fact]
    public void Send_lookup_fails_as_net_devmem_get_binding_does()
    {
        using var env = new NicTestEnv(new VirtualNicOptions { TcpDataSplit = TcpDataSplit.On }, new VirtualNicOptions { TcpDataSplit = TcpDataSplit.On });
        using var txBuf = new DeviceMemoryDmaBuf(8 * PageArena.PageSize, "tx");
        using var rxBuf = new DeviceMemoryDmaBuf(64 * PageArena.PageSize, "rx");
        var tx = NetDevmemBinding.BindTx(env.A, txBuf);
        var rx = NetDevmemBinding.BindRx(env.B, rxBuf, [1]);
        env.TrackPools();

        Assert.Equal(Errno.None, NetDevmemBinding.TryAcquireTx(tx.Id, env.A.Ifindex, out var got));
        Assert.Same(tx, got);
        long refs = tx.RefCount;
        Assert.Equal(2, refs); // the owner's and this send's
        got!.ReleaseTx();
        Assert.Equal(1, tx.RefCount);

        Assert.Equal(Errno.ENODEV, NetDevmemBinding.TryAcquireTx(tx.Id, env.B.Ifindex, out got)); // routed out of another device
        Assert.Null(got);
        Assert.Equal(Errno.EINVAL, NetDevmemBinding.TryAcquireTx(rx.Id, env.B.Ifindex, out got)); // an RX binding
        Assert.Equal(Errno.EINVAL, NetDevmemBinding.TryAcquireTx(0xdead_beef, env.A.Ifindex, out got)); // no such id
        Assert.Equal(1, tx.RefCount);

        Assert.True(tx.UnbindAsync().IsCompleted);
        Assert.Equal(Errno.EINVAL, NetDevmemBinding.TryAcquireTx(tx.Id, env.A.Ifindex, out got)); // unbound
        Assert.Null(got);

        var pool = env.B.RxQueues[1].PagePool!;
        rx.Dispose();
        env.TrackPools();
        Assert.True(pool.IsFreed);
        Assert.Equal(0, pool.Inflight);
        Assert.True(rx.IsFreed);
    }

    [Fact]
    public void Unbind_completes_only_when_the_last_net_iov_reference_is_gone()
    {
        using var env = new NicTestEnv();
        using var buf = new DeviceMemoryDmaBuf(8 * PageArena.PageSize);
        var b = NetDevmemBinding.BindTx(env.A, buf);
        var n0 = b.NetIovAt(0);
        var n3 = b.NetIovAt(3);
        n0.Get(); // as frags on a send queue would
        n3.Get();
        n3.Get();
        Assert.Equal(3, b.NetIovRefs);

        var unbound = b.UnbindAsync();
        Assert.True(b.IsUnbound);
        Assert.False(unbound.IsCompleted);
        Assert.False(b.IsFreed);
        Assert.Null(NetDevmemBinding.FromId(b.Id)); // new sends cannot find it
        Assert.Equal(Errno.EINVAL, NetDevmemBinding.TryAcquireTx(b.Id, env.A.Ifindex, out _));
        Assert.True(env.A.Dma.IsMapped(n0.DmaAddr, 8 * PageArena.PageSize)); // in-flight frags still DMA from it

        n3.Put();
        n0.Put();
        Assert.False(unbound.IsCompleted);
        n3.Put(); // the last reference
        Assert.True(unbound.IsCompletedSuccessfully);
        Assert.True(b.IsFreed);
        Assert.Equal(0, buf.Attachments);
    }

    [Fact]
    public void A_tx_net_iov_goes_out_of_its_own_device_byte_exact_and_is_dropped_out_of_another()
    {
        using var env = new NicTestEnv();
        using var buf = new DeviceMemoryDmaBuf(16 * PageArena.PageSize, "tx");
        var payload = TestFrames.Payload(1400, 11);
        long at = 3 * PageArena.PageSize - 600; // straddles two net_iovs
        buf.CopyFromHost(at, payload);
        var bindA = NetDevmemBinding.BindTx(env.A, buf);
        var bindB = NetDevmemBinding.BindTx(env.B, buf); // the same dma-buf bound to B: B's IOVAs, not A's
        env.TrackPools();
        var frame = TestFrames.Udp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 4000, 4001, payload);

        // Out of A from A's binding: passes validation, the device DMAs the payload from device memory.
        var okSkb = Build(env, frame, bindA, at);
        Assert.True(okSkb.Unreadable);
        Assert.Equal(2, okSkb.NrFrags);
        Assert.Equal(NetdevTxResult.Ok, env.A.Transmit(okSkb));
        env.Pair.PollAll();
        Assert.Single(env.RxB.Received);
        Assert.Equal(frame, CollectingHandler.FrameBytes(env.RxB.Received[0].Skb));
        Assert.Equal(0, env.A.GetDropCount(SkbDropReason.UnreadableTx));
        env.RxB.FreeAll();
        Assert.Equal(0, bindA.NetIovRefs); // TX completion put the frags

        // Out of A with B's net_iovs (a wrong-device net_iov): dropped before DMA, counted.
        long faults = env.A.Dma.Stats.Faults;
        var bad = Build(env, frame, bindB, at);
        Assert.Equal(NetdevTxResult.Dropped, env.A.Transmit(bad));
        env.Pair.PollAll();
        Assert.Equal(1, env.A.GetDropCount(SkbDropReason.UnreadableTx));
        Assert.Empty(env.RxB.Received);
        Assert.Equal(faults, env.A.Dma.Stats.Faults);
        Assert.Equal(0, bindB.NetIovRefs);

        // One good frag and one foreign one: every net_iov is checked, not only the first.
        var mixed = env.Skb(frame.AsSpan(0, 42));
        Frag(mixed, bindA, at, 600);
        Frag(mixed, bindB, at + 600, 800);
        Assert.Equal(NetdevTxResult.Dropped, env.A.Transmit(mixed));
        Assert.Equal(2, env.A.GetDropCount(SkbDropReason.UnreadableTx));

        Assert.True(bindA.UnbindAsync().IsCompletedSuccessfully);
        Assert.True(bindB.UnbindAsync().IsCompletedSuccessfully);
        Assert.Equal(0, buf.Attachments);
    }

    private static SkBuff Build(NicTestEnv env, byte[] frame, NetDevmemBinding b, long at)
    {
        var skb = env.Skb(frame.AsSpan(0, 42)); // Ethernet, IPv4, UDP headers
        int len = frame.Length - 42;
        while (len > 0)
        {
            int n = Frag(skb, b, at, len);
            at += n;
            len -= n;
        }
        return skb;
    }

    private static int Frag(SkBuff skb, NetDevmemBinding b, long at, int len)
    {
        Assert.True(b.TryGetNetIovAt(at, out var niov, out int off, out int size));
        int n = Math.Min(size, len);
        niov.Get(); // the frag's reference, as zerocopy_fill_skb_from_devmem takes
        skb.AddRxFragNetmem(niov, off, n, PageArena.PageSize);
        return n;
    }
}
