using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Tests.TcpNet;
using Netmem.Zcrx;

namespace Netmem.Tests.Zcrx;

/// <summary>Registration (<c>IORING_REGISTER_ZCRX_IFQ</c>) with the kernel's errors, and teardown with buffers still out.</summary>
public sealed class ZcrxRegistrationTests
{
    private static Errno Fails(Action a) => Assert.Throws<NetmemErrnoException>(a).Errno;

    [Fact]
    public void Registration_makes_an_area_of_iouring_net_iovs_mapped_for_the_device_on_the_queue()
    {
        using var env = new ZcrxTestEnv(areaPages: 256, rqEntries: 100);
        var ifq = env.Ifq;
        var q = env.Net.Pair.B.RxQueues[ZcrxTestEnv.Queue];
        Assert.Same(ifq, q.MemoryProvider);
        Assert.Same(ifq, env.Pool.MemoryProvider);
        Assert.True(env.Pool.GetInfo().IoUring);
        Assert.Null(env.Pool.GetInfo().Dmabuf);
        Assert.Equal(128u, ifq.RefillRing.Entries); // rounded up to a power of two
        Assert.Equal(127u, ifq.RefillRing.Mask);
        Assert.Equal(256, ifq.Area.Count);
        Assert.Equal(0ul, ifq.Area.Token);
        Assert.True(ifq.Area.IsMapped);
        for (int i = 0; i < ifq.Area.Count; i++)
        {
            var niov = ifq.Area.NetIovs[i];
            Assert.Equal(NetIovType.IoUring, niov.NetIovType);
            Assert.False(niov.IsReadable);
            Assert.NotEqual(0ul, niov.DmaAddr);
            Assert.True(env.Net.Pair.B.Dma!.IsMapped(ifq.Area.NetIovs[0].DmaAddr, ifq.Area.Length));
        }
        Assert.Throws<NetmemException>(() => ifq.Area.NetIovs[0].GetSpan(0, 1)); // the CPU does not read net_iovs through netmem
        Assert.Equal(ifq.Area.Count, ifq.Area.FreeCount + (int)env.Pool.Inflight); // the pool took its buffers from the freelist
        using var small = new PageAlignedMemory(4096);
        var clamped = ZcrxIfq.Register(env.Net.Pair.B, 0, small.Memory, 40000, clamp: true); // IORING_SETUP_CLAMP
        env.Net.Env.TrackPools();
        Assert.Equal(32768u, clamped.RefillRing.Entries);
        clamped.Dispose();
        Assert.True(clamped.IsFreed);
    }

    [Fact]
    public void Registration_errors_are_the_kernels_and_leave_nothing_installed_or_pinned()
    {
        var nic = new VirtualNicOptions { TcpDataSplit = TcpDataSplit.On };
        using var net = new TcpNetEnv(queues: 2, a: nic, b: nic);
        var dev = net.Pair.B;
        using var mem = new PageAlignedMemory(16 * PageArena.PageSize);
        Assert.Equal(Errno.EINVAL, Fails(() => ZcrxIfq.Register(dev, -1, mem.Memory, 64)));      // if_rxq -1
        Assert.Equal(Errno.EINVAL, Fails(() => ZcrxIfq.Register(dev, 1, mem.Memory, 0)));        // no rq entries
        Assert.Equal(Errno.EINVAL, Fails(() => ZcrxIfq.Register(dev, 1, mem.Memory, 32769)));    // > IO_RQ_MAX_ENTRIES without CLAMP
        Assert.Equal(Errno.EFAULT, Fails(() => ZcrxIfq.Register(dev, 1, Memory<byte>.Empty, 64))); // empty area
        Assert.Equal(Errno.EINVAL, Fails(() => ZcrxIfq.Register(dev, 1, mem.Memory.Slice(1, 4096), 64)));      // address not page aligned
        Assert.Equal(Errno.EINVAL, Fails(() => ZcrxIfq.Register(dev, 1, mem.Memory[..(4096 + 512)], 64)));   // length not page aligned
        Assert.Equal(Errno.ERANGE, Fails(() => ZcrxIfq.Register(dev, 2, mem.Memory, 64)));       // no such queue
        foreach (var q in dev.RxQueues) Assert.Null(q.MemoryProvider);

        using var ifq = ZcrxIfq.Register(dev, 1, mem.Memory[..(8 * PageArena.PageSize)], 64);
        net.Env.TrackPools();
        using var mem2 = new PageAlignedMemory(8 * PageArena.PageSize);
        Assert.Equal(Errno.EEXIST, Fails(() => ZcrxIfq.Register(dev, 1, mem2.Memory, 64)));     // the queue already has a provider
        using var buf = new MemfdDmaBuf(16 * PageArena.PageSize, "t");
        Assert.Equal(Errno.EEXIST, Fails(() => NetDevmemBinding.BindRx(dev, buf, [1])));         // devmem cannot take it either
        Assert.Same(ifq, dev.RxQueues[1].MemoryProvider);
        Assert.Equal(Errno.EINVAL, Fails(() => dev.SetRingParam(dev.GetRingParam() with { TcpDataSplit = TcpDataSplit.Off }))); // split stays on while bound
        ifq.Dispose();
        Assert.Null(dev.RxQueues[1].MemoryProvider);
        Assert.True(ifq.IsFreed);

        dev.SetRingParam(dev.GetRingParam() with { TcpDataSplit = TcpDataSplit.Off });
        Assert.Equal(Errno.EINVAL, Fails(() => ZcrxIfq.Register(dev, 1, mem2.Memory, 64)));      // header split off
        Assert.Null(dev.RxQueues[1].MemoryProvider);
        net.Env.TrackPools();
    }

    [Fact]
    public void Managed_memory_is_pinned_and_registers_when_page_aligned()
    {
        var nic = new VirtualNicOptions { TcpDataSplit = TcpDataSplit.On };
        using var net = new TcpNetEnv(queues: 2, a: nic, b: nic);
        var array = GC.AllocateUninitializedArray<byte>(9 * PageArena.PageSize, pinned: true);
        int skip;
        unsafe
        {
            fixed (byte* p = array) skip = (int)((PageArena.PageSize - (long)p % PageArena.PageSize) % PageArena.PageSize);
        }
        var ifq = ZcrxIfq.Register(net.Pair.B, 1, array.AsMemory(skip, 8 * PageArena.PageSize), 16);
        net.Env.TrackPools();
        Assert.Equal(8, ifq.Area.Count);
        ifq.Dispose();
        Assert.True(ifq.IsFreed);
        net.Env.TrackPools();
    }

    [Fact]
    public async Task Teardown_with_buffers_out_waits_for_them_and_they_stay_readable_until_returned()
    {
        using var env = new ZcrxTestEnv(areaPages: 512);
        var l = env.Listen();
        var (c, s) = env.Connect(l);
        var data = Netmem.Tests.DevmemRx.DevmemReceiveTests.Pattern(200_000, 3);
        env.Send(c, data);
        var comps = new ZcrxCompletion[256];
        int n = 0;
        long got = 0;
        while (got < data.Length)
        {
            int k = env.Run(s.ReceiveZcrxAsync(env.Ifq, comps.AsMemory(n)));
            for (int i = n; i < n + k; i++) got += comps[i].Len;
            n += k;
        }
        var pool = env.Pool;
        Assert.True(env.Ifq.Area.TotalUserRefs == n, $"{env.Ifq.Area.TotalUserRefs} user refs for {n} completions");

        var disposing = env.Ifq.DisposeAsync().AsTask();
        env.Net.Poll();
        Assert.Null(env.Net.Pair.B.RxQueues[ZcrxTestEnv.Queue].MemoryProvider); // the queue restarted on pages at once
        Assert.True(env.Ifq.IsClosed);
        Assert.False(env.Ifq.Area.IsMapped);                                    // the device can no longer write the area
        Assert.False(env.Ifq.IsFreed);                                          // but it waits for the buffers out
        Assert.False(disposing.IsCompleted);
        Assert.True(pool.IsDestroyed && !pool.IsFreed, $"{pool}");             // the old pool waits for its net_iovs too
        long at = 0;
        for (int i = 0; i < n; i++)
        {
            Assert.True(env.Ifq.GetPayload(comps[i]).SequenceEqual(data.AsSpan((int)at, comps[i].Len)), $"completion {i} changed after teardown");
            at += comps[i].Len;
        }
        for (int i = 0; i < n - 1; i++) env.Ifq.Return(comps[i]);
        Assert.False(env.Ifq.IsFreed);
        var lease = new ZcrxLease(env.Ifq, comps[n - 1]);
        lease.Dispose(); // the last one, through the refill ring: processed at once now that nothing refills from it
        await disposing.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(env.Ifq.IsFreed);
        Assert.True(pool.IsFreed);
        Assert.Equal(0, pool.Inflight);
        var st = env.Ifq.GetStats();
        Assert.Equal(n, st.ReturnedAfterClose);
        Assert.Equal(n, st.RefillEntries);
        Assert.Equal(0, st.RefillMalformed);
        c.Dispose();
        s.Dispose();
    }

    [Fact]
    public void Scrub_takes_back_what_the_application_still_holds()
    {
        using var env = new ZcrxTestEnv(areaPages: 512);
        var l = env.Listen();
        var (c, s) = env.Connect(l);
        env.Send(c, Netmem.Tests.DevmemRx.DevmemReceiveTests.Pattern(100_000, 4));
        var comps = new ZcrxCompletion[256];
        int n = 0;
        for (long got = 0; got < 100_000;)
        {
            int k = env.Run(s.ReceiveZcrxAsync(env.Ifq, comps.AsMemory(n)));
            for (int i = n; i < n + k; i++) got += comps[i].Len;
            n += k;
        }
        long refs = env.Ifq.Area.TotalUserRefs;
        Assert.Equal(n, refs);
        env.Ifq.Dispose();
        Assert.False(env.Ifq.IsFreed);
        Assert.Equal(refs, env.Ifq.Scrub());
        Assert.True(env.Ifq.IsFreed);
        Assert.Equal(refs, env.Ifq.GetStats().Scrubbed);
        c.Abort();
        s.Abort();
    }
}
