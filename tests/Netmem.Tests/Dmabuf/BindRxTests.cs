using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;
using Netmem.Tests.Devices;

namespace Netmem.Tests.Dmabuf;

/// <summary>bind-rx over the VirtualNic pair: the kernel's errors, rollback, unbind, and what lands where.</summary>
public class BindRxTests
{
    private static readonly VirtualNicOptions Split = new() { TcpDataSplit = TcpDataSplit.On };

    private static byte[] TcpTo(NicTestEnv env, ushort dport, int len, int seed) =>
        TestFrames.Tcp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 40000, dport, 1, 0x10, TestFrames.Payload(len, seed));

    /// <summary>The payload bytes of an unreadable skb, read back from the dma-buf frag by frag (the verification path).</summary>
    internal static byte[] DevmemPayload(SkBuff skb, Func<long, int, byte[]> read)
    {
        var all = new List<byte>();
        for (int i = 0; i < skb.NrFrags; i++)
        {
            var f = skb.Frags[i];
            Assert.True(f.IsNetIov, $"frag {i} of {skb} is not a net_iov");
            all.AddRange(read((long)f.Netmem.NetIovVirtualAddr + f.Offset, f.Size));
        }
        return all.ToArray();
    }

    internal static Func<long, int, byte[]> Reader(DeviceMemoryDmaBuf buf) => (off, len) =>
    {
        var b = new byte[len];
        buf.ReadForVerification(off, b);
        return b;
    };

    [Fact]
    public void A_bound_queue_receives_payload_into_device_memory_and_headers_into_host_memory()
    {
        using var env = new NicTestEnv(Split, Split);
        using var buf = new DeviceMemoryDmaBuf(1024L * PageArena.PageSize, "hbm");
        var binding = NetDevmemBinding.BindRx(env.B, buf, [1]);
        env.TrackPools();
        var q = env.B.RxQueues[1];
        Assert.Same(binding, q.MemoryProvider);
        Assert.Same(binding, q.PagePool!.MemoryProvider);   // the driver's pool took it from the queue
        Assert.Null(env.B.RxQueues[0].PagePool!.MemoryProvider);
        Assert.Equal([q], binding.BoundRxQueues);
        Assert.NotEqual(0u, binding.Id);
        Assert.Same(binding, NetDevmemBinding.FromId(binding.Id));
        Assert.Equal(binding.Id, q.PagePool.GetInfo().Dmabuf);                 // page-pool-get
        var queues = NetdevFamily.QueueGet(env.B);
        Assert.Equal(binding.Id, queues.Single(x => x.Type == "rx" && x.Id == 1).Dmabuf); // queue-get
        Assert.Null(queues.Single(x => x.Type == "rx" && x.Id == 0).Dmabuf);

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
            Assert.Throws<NetmemException>(() => skb.CopyBits(40, new byte[1]));
            Assert.Equal(binding.Id, skb.Frags[0].Netmem.NetIovOwner.DmabufId);
            Assert.Same(binding, skb.Frags[0].Netmem.NetIovOwner.Owner);
            Assert.Equal(frames[i].AsSpan(54).ToArray(), DevmemPayload(skb, Reader(buf)));
        }
        Assert.Equal(30, q.Stats.Unreadable);
        Assert.Equal(30, q.Stats.NtupleHits);
        Assert.Equal(30, q.Stats.CsumUnnecessary); // the stack cannot checksum unreadable payload: the device did

        // Unbind: the queue restarts on pages and every net_iov returns to the binding, which frees its memory.
        env.RxB.FreeAll();
        env.Pair.PollAll(); // deferred skb frees run on the NAPI context
        binding.Dispose();
        env.TrackPools();
        Assert.Null(q.MemoryProvider);
        Assert.Null(q.PagePool!.MemoryProvider);
        Assert.Empty(binding.BoundRxQueues);
        Assert.Null(NetDevmemBinding.FromId(binding.Id));
        Assert.True(binding.IsFreed);
        Assert.Equal(binding.NetIovCount, binding.Chunks.Available);
        Assert.All(binding.Areas, a => Assert.True(a.IsDisposed));
        Assert.Equal(1, buf.RefCount); // only the creator's reference is left
        Assert.Equal(0, buf.Attachments);
        Assert.Null(NetdevFamily.QueueGet(env.B).Single(x => x.Type == "rx" && x.Id == 1).Dmabuf);
    }

    [Fact]
    public void Bind_rx_errors_match_the_kernel_and_leave_nothing_behind()
    {
        using var env = new NicTestEnv(null, null);
        using var buf = new DeviceMemoryDmaBuf(64L * PageArena.PageSize, "hbm");
        int maps = env.B.Dma.LiveMappings;
        void Fails(Errno errno, string? text, Action bind)
        {
            var e = Assert.Throws<NetmemErrnoException>(bind);
            Assert.Equal(errno, e.Errno);
            if (text is not null) Assert.Contains(text, e.Message);
            Assert.All(env.B.RxQueues.ToArray(), q => Assert.Null(q.MemoryProvider));
            Assert.Equal(1, buf.RefCount);      // the binding's reference went with it
            Assert.Equal(0, buf.Attachments);
            Assert.Equal(maps, env.B.Dma.LiveMappings);
        }

        Fails(Errno.EINVAL, "tcp-data-split is disabled", () => NetDevmemBinding.BindRx(env.B, buf, [0]));
        env.B.SetRingParam(env.B.GetRingParam() with { TcpDataSplit = TcpDataSplit.On, HdsThresh = 100 });
        env.TrackPools();
        maps = env.B.Dma.LiveMappings;
        Fails(Errno.EINVAL, "hds-thresh is not zero", () => NetDevmemBinding.BindRx(env.B, buf, [0]));
        env.B.SetRingParam(env.B.GetRingParam() with { HdsThresh = 0 });
        env.TrackPools();
        maps = env.B.Dma.LiveMappings;

        env.B.SetXdpProgram(new XdpProgram("xdp_pass"));
        Fails(Errno.EEXIST, "XDP program attached", () => NetDevmemBinding.BindRx(env.B, buf, [0]));
        env.B.SetXdpProgram(null);

        Fails(Errno.ERANGE, "out of range", () => NetDevmemBinding.BindRx(env.B, buf, [2]));
        Fails(Errno.ERANGE, "out of range", () => NetDevmemBinding.BindRx(env.B, buf, [-1]));
        Fails(Errno.EINVAL, "at least one", () => NetDevmemBinding.BindRx(env.B, buf, []));
        env.TrackPools();

        // The dma-buf's shape: size and every scatter-list entry page aligned; at most 2^32-1 net_iovs.
        using (var odd = new FakeDmaBuf(PageArena.PageSize + 1))
        {
            Fails(Errno.EINVAL, "PAGE_SIZE", () => NetDevmemBinding.BindRx(env.B, odd, [0]));
            Assert.Equal(0, odd.Maps);
        }
        using (var oddEntry = new FakeDmaBuf(2 * PageArena.PageSize, new DmaBufSgEntry(0x10_0000, 2048), new DmaBufSgEntry(0x20_0000, 6144)))
        {
            Fails(Errno.EINVAL, "not page aligned", () => NetDevmemBinding.BindRx(env.B, oddEntry, [0]));
            Assert.Equal(1, oddEntry.Unmaps); // mapped, checked, unmapped
        }
        using (var oddAddr = new FakeDmaBuf(PageArena.PageSize, new DmaBufSgEntry(0x10_0800, PageArena.PageSize)))
            Fails(Errno.EINVAL, "not page aligned", () => NetDevmemBinding.BindRx(env.B, oddAddr, [0]));
        var huge = new FakeDmaBuf(((long)uint.MaxValue + 1) * PageArena.PageSize);
        Fails(Errno.E2BIG, "2^32-1", () => NetDevmemBinding.BindRx(env.B, huge, [0]));
        Assert.Equal(0, huge.Maps);
        huge.Dispose();
        Assert.True(huge.Released);

        // A queue already bound: EEXIST, and the first binding is untouched.
        using var first = NetDevmemBinding.BindRx(env.B, buf, [0]);
        env.TrackPools();
        maps = env.B.Dma.LiveMappings;
        using var other = new DeviceMemoryDmaBuf(16L * PageArena.PageSize, "hbm2");
        var e = Assert.Throws<NetmemErrnoException>(() => NetDevmemBinding.BindRx(env.B, other, [1, 0]));
        Assert.Equal(Errno.EEXIST, e.Errno);
        Assert.Contains("already memory provider bound", e.Message);
        Assert.Same(first, env.B.RxQueues[0].MemoryProvider);
        Assert.Null(env.B.RxQueues[1].MemoryProvider); // queue 1 was bound by the failed call and rolled back
        Assert.Equal(1, other.RefCount);
        Assert.Equal(maps, env.B.Dma.LiveMappings);
        env.TrackPools();

        // While bound: no XDP (EBUSY), split stays on, hds-thresh stays 0, the queue stays.
        Assert.Equal(Errno.EBUSY, Assert.Throws<NetmemErrnoException>(() => env.B.SetXdpProgram(new XdpProgram("xdp_drop"))).Errno);
        Assert.Null(env.B.XdpProgram);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => env.B.SetRingParam(env.B.GetRingParam() with { TcpDataSplit = TcpDataSplit.Off })).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => env.B.SetRingParam(env.B.GetRingParam() with { HdsThresh = 64 })).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => env.B.SetChannels(0)).Errno);
        first.Dispose();
        env.TrackPools();
        Assert.True(first.IsFreed);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => env.B.CloseMemoryProvider(0, first)).Errno);
    }

    [Fact]
    public void A_restart_whose_new_pool_did_not_take_the_provider_fails_with_enodata_and_keeps_the_old_pool()
    {
        using var env = new NicTestEnv(Split, Split);
        using var buf = new DeviceMemoryDmaBuf(256L * PageArena.PageSize, "hbm");
        var q = env.B.RxQueues[0];
        var oldPool = q.PagePool!;
        int maps = env.B.Dma.LiveMappings;
        env.B.InjectQueueFault(Errno.None, dropProvider: true); // the driver forgets ALLOW_UNREADABLE_NETMEM
        var e = Assert.Throws<NetmemErrnoException>(() => NetDevmemBinding.BindRx(env.B, buf, [0]));
        Assert.Equal(Errno.ENODATA, e.Errno);
        Assert.Contains("did not take the memory provider", e.Message);
        Assert.Null(q.MemoryProvider);
        Assert.Same(oldPool, q.PagePool); // the new memory was freed before the queue was touched
        Assert.True(q.IsStarted);
        Assert.Equal(1, buf.RefCount);
        Assert.Equal(0, buf.Attachments);
        Assert.Equal(maps, env.B.Dma.LiveMappings);

        // The queue still receives, into pages.
        env.B.AddNtupleRule(new NtupleRule { Location = 0, FlowType = NtupleFlowType.Tcp4, DstPort = 7, Action = 0 });
        env.Send(env.A, TcpTo(env, 7, 1000, 3));
        env.Pair.PollAll();
        var (queue, skb) = Assert.Single(env.RxB.Received);
        Assert.Equal(0, queue);
        Assert.False(skb.Unreadable);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_multi_queue_bind_whose_second_queue_fails_restores_the_first(bool dropProvider)
    {
        using var env = new NicTestEnv(Split, Split);
        using var buf = new DeviceMemoryDmaBuf(512L * PageArena.PageSize, "hbm");
        var q0 = env.B.RxQueues[0];
        var q1 = env.B.RxQueues[1];
        var q1Pool = q1.PagePool!;
        int maps = env.B.Dma.LiveMappings;
        if (dropProvider) env.B.InjectQueueFault(Errno.None, dropProvider: true, queue: 1);
        else env.B.InjectQueueFault(Errno.EIO, queue: 1);
        var e = Assert.Throws<NetmemErrnoException>(() => NetDevmemBinding.BindRx(env.B, buf, [0, 1]));
        env.TrackPools();
        Assert.Equal(dropProvider ? Errno.ENODATA : Errno.EIO, e.Errno);
        Assert.Null(q0.MemoryProvider);
        Assert.Null(q0.PagePool!.MemoryProvider); // queue 0 was bound, then restarted on pages again
        Assert.Null(q1.MemoryProvider);
        Assert.Same(q1Pool, q1.PagePool);
        Assert.True(q0.IsStarted && q1.IsStarted);
        Assert.Equal(1, buf.RefCount);
        Assert.Equal(maps, env.B.Dma.LiveMappings);

        // Both queues receive readable frames again.
        env.B.AddNtupleRule(new NtupleRule { Location = 0, FlowType = NtupleFlowType.Tcp4, DstPort = 7, Action = 0 });
        env.B.AddNtupleRule(new NtupleRule { Location = 1, FlowType = NtupleFlowType.Tcp4, DstPort = 8, Action = 1 });
        var f0 = TcpTo(env, 7, 1200, 1);
        var f1 = TcpTo(env, 8, 1200, 2);
        env.Send(env.A, f0);
        env.Send(env.A, f1);
        env.Pair.PollAll();
        Assert.Equal(2, env.RxB.Received.Count);
        foreach (var (queue, skb) in env.RxB.Received)
        {
            Assert.False(skb.Unreadable);
            Assert.Equal(queue == 0 ? f0 : f1, CollectingHandler.FrameBytes(skb));
        }
    }

    [Fact]
    public void Unbinding_while_frags_are_held_keeps_the_memory_until_the_last_one_is_released()
    {
        using var env = new NicTestEnv(Split, Split);
        var buf = new DeviceMemoryDmaBuf(128L * PageArena.PageSize, "hbm", segmentSize: 32L * PageArena.PageSize);
        var binding = NetDevmemBinding.BindRx(env.B, buf, [1]);
        env.TrackPools();
        Assert.Equal(4, binding.Areas.Count);
        var sg = binding.SgTable.Entries;
        bool Mapped() => sg.All(e => env.B.Dma.IsMapped(e.DmaAddress, e.Length));
        Assert.Equal(4, sg.Count);
        Assert.True(Mapped());
        var devPool = env.B.RxQueues[1].PagePool!;
        env.B.AddNtupleRule(new NtupleRule { Location = 0, FlowType = NtupleFlowType.Tcp4, DstPort = 9000, Action = 1 });
        var frames = Enumerable.Range(0, 8).Select(i => TcpTo(env, 9000, 1400, i)).ToList();
        foreach (var f in frames) env.Send(env.A, f);
        env.Pair.PollAll();
        var held = env.RxB.Received.Select(r => r.Skb).ToList();
        env.RxB.Received.Clear();
        Assert.Equal(8, held.Count);
        Assert.All(held, s => Assert.True(s.Unreadable));

        uint id = binding.Id;
        binding.Dispose();            // unbind: queue 1 restarts on pages
        buf.Dispose();                // and the user closes the dma-buf fd
        env.TrackPools();
        Assert.True(binding.IsUnbound);
        Assert.Null(NetDevmemBinding.FromId(id));
        Assert.Null(env.B.RxQueues[1].MemoryProvider);
        Assert.True(devPool.IsDestroyed);
        Assert.False(devPool.IsFreed);  // the held frags are its net_iovs
        Assert.False(binding.IsFreed);
        Assert.False(buf.IsReleased);   // the binding still holds the dma-buf
        Assert.All(binding.Areas, a => Assert.False(a.IsDisposed));
        Assert.True(Mapped()); // the binding's 4 IOMMU mappings are still there

        for (int i = 0; i < held.Count; i++)
        {
            // The device memory is still intact and readable through the verification hook until the last release.
            Assert.Equal(frames[i].AsSpan(54).ToArray(), DevmemPayload(held[i], Reader(buf)));
            held[i].Free();
            env.B.GetNapi(1).Schedule(); // a deferred free runs on the NAPI context
            env.Pair.PollAll();
            if (i < held.Count - 1)
            {
                Assert.False(binding.IsFreed);
                Assert.True(Mapped());
            }
        }
        Assert.True(devPool.IsFreed);
        Assert.Equal(0, devPool.Inflight);
        Assert.True(binding.IsFreed);
        Assert.Equal(binding.NetIovCount, binding.Chunks.Available);
        Assert.All(binding.Areas, a => Assert.True(a.IsDisposed));
        Assert.DoesNotContain(sg, e => env.B.Dma.IsMapped(e.DmaAddress, e.Length));
        Assert.True(buf.IsReleased);
    }

    [Fact]
    public void A_net_iov_reference_outside_the_pool_also_keeps_the_binding_alive()
    {
        using var bq = new BoundQueue(8);
        var binding = bq.Binding;
        var niov = binding.NetIovAt(5);
        long refs = binding.RefCount;
        niov.Get();                    // net_devmem_get_net_iov: a binding reference
        Assert.Equal(refs + 1, binding.RefCount);
        binding.Dispose();             // unbind: the owner's reference goes
        Assert.False(binding.IsFreed);
        Assert.Equal(1, binding.RefCount);
        niov.Put();
        Assert.True(binding.IsFreed);
        Assert.Throws<NetmemException>(() => niov.Get()); // the area is gone
    }

    [Fact]
    public void A_16k_net_iov_binding_binds_receives_and_unbinds()
    {
        const int count = 16384;
        using var env = new NicTestEnv(Split, Split);
        using var buf = new DeviceMemoryDmaBuf((long)count * PageArena.PageSize, "hbm64m", segmentSize: 1L << 20);
        using var binding = NetDevmemBinding.BindRx(env.B, buf, [0, 1]);
        env.TrackPools();
        Assert.Equal(count, binding.NetIovCount);
        Assert.Equal(64, binding.Areas.Count);
        Assert.Equal(count, binding.Chunks.Capacity);
        Assert.Equal(2, binding.BoundRxQueues.Count);
        for (int i = 0; i < count; i += 257)
        {
            var niov = binding.NetIovAt(i);
            var sg = binding.SgTable.Entries[i / 256];
            Assert.Equal(sg.DmaAddress + (ulong)(i % 256) * PageArena.PageSize, niov.DmaAddr);
            Assert.Equal((ulong)i * PageArena.PageSize, niov.NetIovVirtualAddr);
            Assert.Equal(i, binding.IndexOf(niov));
            Assert.Equal(binding.Id, niov.NetIovOwner.DmabufId);
            Assert.Equal(NetIovType.Dmabuf, niov.NetIovType);
        }
        // Both bound queues' pools draw from it.
        Assert.True(binding.Chunks.InUse > 0);
        env.B.AddNtupleRule(new NtupleRule { Location = 0, FlowType = NtupleFlowType.Tcp4, DstPort = 7, Action = 0 });
        env.B.AddNtupleRule(new NtupleRule { Location = 1, FlowType = NtupleFlowType.Tcp4, DstPort = 8, Action = 1 });
        var f0 = TcpTo(env, 7, 1400, 1);
        var f1 = TcpTo(env, 8, 1400, 2);
        env.Send(env.A, f0);
        env.Send(env.A, f1);
        env.Pair.PollAll();
        Assert.Equal(2, env.RxB.Received.Count);
        foreach (var (q, skb) in env.RxB.Received)
            Assert.Equal((q == 0 ? f0 : f1).AsSpan(54).ToArray(), DevmemPayload(skb, Reader(buf)));
        env.RxB.FreeAll();
        env.Pair.PollAll();
        binding.Dispose();
        env.TrackPools();
        Assert.True(binding.IsFreed);
        Assert.Equal(count, binding.Chunks.Available);
    }

    [Fact]
    public void Binding_ids_are_unique_and_nonzero()
    {
        using var env = new NicTestEnv(new VirtualNicOptions { TcpDataSplit = TcpDataSplit.On, Queues = 4 }, new VirtualNicOptions { TcpDataSplit = TcpDataSplit.On, Queues = 4 });
        var bufs = Enumerable.Range(0, 4).Select(i => new DeviceMemoryDmaBuf(64L * PageArena.PageSize, $"hbm{i}")).ToList();
        var bindings = bufs.Select((b, i) => NetDevmemBinding.BindRx(env.B, b, [i])).ToList();
        env.TrackPools();
        Assert.All(bindings, b => Assert.NotEqual(0u, b.Id));
        Assert.Equal(4, bindings.Select(b => b.Id).Distinct().Count());
        Assert.All(bindings, b => Assert.Same(b, NetDevmemBinding.FromId(b.Id)));
        var queues = NetdevFamily.QueueGet(env.B).Where(q => q.Type == "rx").ToList();
        for (int i = 0; i < 4; i++) Assert.Equal(bindings[i].Id, queues[i].Dmabuf);
        foreach (var b in bindings) b.Dispose();
        env.TrackPools();
        Assert.All(bindings, b => Assert.True(b.IsFreed));
        foreach (var b in bufs) b.Dispose();
    }

    [Fact]
    public void Disposing_the_device_first_uninstalls_the_binding_from_its_queues()
    {
        var nic = new VirtualNic(new VirtualNicOptions { Name = "mpgone", Queues = 1, TcpDataSplit = TcpDataSplit.On });
        using var buf = new DeviceMemoryDmaBuf(32L * PageArena.PageSize, "hbm");
        var binding = NetDevmemBinding.BindRx(nic, buf, [0]);
        nic.Dispose();
        Assert.Empty(binding.BoundRxQueues);   // uninstall on unregister
        binding.Dispose();                     // the netlink socket closes later: nothing left to restart
        Assert.True(binding.IsFreed);
        Assert.Equal(1, buf.RefCount);
    }
}
