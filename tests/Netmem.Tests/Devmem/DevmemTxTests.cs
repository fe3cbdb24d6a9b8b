using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Phy;
using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Tests.TcpNet;

namespace Netmem.Tests.DevmemTx;

/// <summary>
/// devmem TX over the VirtualNic pair: TCP payload sent from device memory bound with bind-tx on A's NIC
/// (<see cref="TcpConnection.SendDevmem"/>, <see cref="TcpSocket.SendDevmemAsync"/>), DMA'd by the NIC from
/// the dma-buf through its IOMMU and received by B byte for byte; completions on the error queue; the kernel's
/// errors; a route without checksum offload refused; unbind waiting for frags still in the send queue. Every
/// page_pool ends with inflight 0 (the env's Dispose asserts it) and every TX binding freed.
/// </summary>
public class DevmemTxTests
{
    private const int Pages = 64;
    private static TcpSettings Zc(bool on = true) => new() { ZeroCopy = on };

    /// <summary>The pattern written into device memory: a byte no two nearby offsets share.</summary>
    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = (byte)((i * 31 + seed + (i >> 8)) & 0xff);
        return b;
    }

    private sealed class Setup : IDisposable
    {
        public Setup(VirtualNicOptions? a = null, TcpSettings? client = null, Func<IWireSink, IWireSink>? bToA = null,
            TimeProvider? clock = null, int queues = 2, int pages = 8192)
        {
            // B gets A's rings and sizes but all of its offloads.
            Net = new TcpNetEnv(queues: queues, a: a, b: a is null ? null : a with { Features = null }, bToA: bToA, clock: clock, pages: pages);
            var l = Net.Listen(Net.B);
            (C, S) = Net.Connect(l, client ?? Zc());
            Hbm = new DeviceMemoryDmaBuf(Pages * PageArena.PageSize, "hbm-tx");
            Content = Pattern((int)Hbm.Size, 3);
            Hbm.CopyFromHost(0, Content); // cudaMemcpy HtoD: the application fills device memory
            Tx = NetDevmemBinding.BindTx(Net.Pair.A, Hbm);
        }

        public TcpNetEnv Net { get; }
        public TcpConnection C { get; }
        public TcpConnection S { get; }
        public DeviceMemoryDmaBuf Hbm { get; }
        public byte[] Content { get; }
        public NetDevmemBinding Tx { get; }

        public int SendDevmem(params DmabufIov[] iov) => SendDevmem(Tx.Id, iov);

        public int SendDevmem(uint id, params DmabufIov[] iov)
        {
            int r = 0;
            Net.On(C.Context, () => r = C.SendDevmem(id, iov));
            return r;
        }

        public byte[] ReadAll(int bytes)
        {
            var got = new byte[bytes];
            int n = 0;
            Net.RunUntil(() =>
            {
                int r = 0;
                Net.On(S.Context, () => r = S.Receive(got.AsSpan(n)));
                if (r > 0) n += r;
                return n == bytes;
            }, what: $"{bytes} bytes at B");
            return got;
        }

        public byte[] Expected(params DmabufIov[] iov) =>
            iov.SelectMany(v => Content.AsSpan((int)v.Offset, v.Length).ToArray()).ToArray();

        public void Dispose()
        {
            if (!Tx.IsUnbound) Assert.True(Tx.UnbindAsync().IsCompleted, $"{Tx}: {Tx.NetIovRefs} net_iov references left");
            Assert.True(Tx.IsFreed);
            Hbm.Dispose();
            Assert.True(Hbm.IsReleased);
            Net.Dispose(); // every page_pool at inflight 0, every mapping and page back
        }
    }

    /// <summary>The result of an operation the test already saw complete (polled, never blocked on).</summary>
    private static int Done(ValueTask<int> op)
    {
        Assert.True(op.IsCompleted);
        return op.GetAwaiter().GetResult();
    }

    private static void AssertCompletion(TcpConnection c, uint lo, uint hi)
    {
        Assert.True(c.ErrorQueue.TryDequeue(out var e), "a zero-copy completion is queued");
        Assert.True(e.IsZerocopy);
        Assert.Equal((lo, hi), (e.Info, e.Data));
        Assert.Equal((byte)0, e.Code); // never COPIED: nothing copies device memory
    }

    [Fact]
    public void Devmem_tx_sends_device_memory_byte_exact_over_the_virtual_nic_pair()
    {
        using var t = new Setup();
        long dmaReads = t.Net.Pair.A.Dma.Stats.DeviceBytesRead;
        DmabufIov[] iov = [new(123, 150_000), new(7, 5000), new(4096 * 40 + 1, 30_000)];
        int total = iov.Sum(v => v.Length);
        Assert.Equal(total, t.SendDevmem(iov));
        Assert.Equal(1u, t.C.ZerocopyNextId);
        Assert.True(t.Tx.NetIovRefs > 0); // the send queue's extents hold the binding's net_iovs
        Assert.Equal(t.Expected(iov), t.ReadAll(total));
        t.Net.RunUntil(() => t.C.SendQueued == 0 && !t.C.ErrorQueue.IsEmpty, what: "the ACK and the completion");
        AssertCompletion(t.C, 0, 0);
        Assert.Equal(0, t.Tx.NetIovRefs);
        Assert.True(t.Net.Pair.A.Dma.Stats.DeviceBytesRead - dmaReads >= total); // the NIC read the payload from device memory
        Assert.Equal(1, t.Net.A.Tcp.Stats.DevmemTxSendCount);
        Assert.Equal(0, t.Net.Pair.A.GetDropCount(SkbDropReason.UnreadableTx));
    }

    [Fact]
    public void The_socket_api_completes_each_send_when_its_range_may_be_rewritten()
    {
        using var t = new Setup();
        using var client = new TcpSocket(t.Net.A.Tcp, t.C);
        Assert.True(client.ZeroCopy);
        var sends = new[] { client.SendDevmemAsync(t.Tx.Id, 0, 64 * 1024), client.SendDevmemAsync(t.Tx.Id, 100_000, 70_000), client.SendDevmemAsync(t.Tx.Id, 5, 3) };
        var expected = t.Expected(new(0, 64 * 1024), new(100_000, 70_000), new(5, 3));
        Assert.Equal(expected, t.ReadAll(expected.Length));
        t.Net.RunUntil(() => sends.All(s => s.IsCompleted), what: "the three completions");
        Assert.Equal([64 * 1024, 70_000, 3], sends.Select(Done).ToArray());
        // The error queue has them too, coalesced as Linux does.
        Assert.True(client.TryReadErrorQueue(out var e));
        Assert.Equal((0u, 2u, (byte)0), (e.Info, e.Data, e.Code));
        Assert.Equal(0, t.Tx.NetIovRefs);

        // The memory may be rewritten now: new content, sent again, arrives as written.
        var fresh = Pattern(4096, 99);
        t.Hbm.CopyFromHost(0, fresh);
        var again = client.SendDevmemAsync(t.Tx.Id, 0, 4096);
        Assert.Equal(fresh, t.ReadAll(4096));
        t.Net.RunUntil(() => again.IsCompleted, what: "the completion");
        Assert.Equal(4096, Done(again));
    }

    [Fact]
    public void Sends_fail_with_the_kernels_errors_and_take_no_send_id()
    {
        using var t = new Setup();
        using var rxBuf = new DeviceMemoryDmaBuf(8 * PageArena.PageSize, "other");
        var onB = NetDevmemBinding.BindTx(t.Net.Pair.B, rxBuf);
        long refused = t.Net.A.Tcp.Stats.DevmemTxRefusedCount;

        Assert.Equal(-(int)Errno.ENODEV, t.SendDevmem(onB.Id, new DmabufIov(0, 100)));  // B's binding, A's route
        Assert.Equal(-(int)Errno.EINVAL, t.SendDevmem(0xdead_beef, new DmabufIov(0, 100))); // no such binding
        Assert.Equal(-(int)Errno.EFAULT, t.SendDevmem(new DmabufIov((ulong)t.Hbm.Size - 10, 11))); // past the end
        Assert.Equal(-(int)Errno.EFAULT, t.SendDevmem(new DmabufIov(0, 10), new DmabufIov((ulong)t.Hbm.Size, 1)));
        Assert.Equal(0, t.SendDevmem(new DmabufIov(0, 0))); // nothing to send: no lookup, no id
        Assert.Equal(0u, t.C.ZerocopyNextId);
        Assert.Equal(0, t.C.SendQueued);
        Assert.Equal(refused + 4, t.Net.A.Tcp.Stats.DevmemTxRefusedCount);
        Assert.Equal(0, t.Tx.NetIovRefs);

        // The .NET API reports the same errno.
        using var client = new TcpSocket(t.Net.A.Tcp, t.C);
        var op = client.SendDevmemAsync(onB.Id, 0, 100);
        t.Net.RunUntil(() => op.IsCompleted, what: "the failing send");
        Assert.Equal(Errno.ENODEV, Assert.Throws<NetmemErrnoException>(() => Done(op)).Errno);
        Assert.True(onB.UnbindAsync().IsCompleted);
    }

    [Fact]
    public void A_dmabuf_id_without_so_zerocopy_is_einval()
    {
        using var t = new Setup(client: Zc(false));
        Assert.Equal(-(int)Errno.EINVAL, t.SendDevmem(new DmabufIov(0, 100)));
        Assert.Equal(0, t.C.SendQueued);
        using var client = new TcpSocket(t.Net.A.Tcp, t.C);
        Assert.Throws<InvalidOperationException>(() => { _ = client.SendDevmemAsync(t.Tx.Id, 0, 100); });
    }

    [Fact]
    public void A_route_without_checksum_offload_is_refused_with_eopnotsupp()
    {
        using var t = new Setup(a: new VirtualNicOptions { Features = NetdevFeatures.Sg | NetdevFeatures.RxCsum });
        Assert.Equal(NetdevFeatures.None, t.Net.Pair.A.Features & NetdevFeatures.IpCsum);
        Assert.Equal(-(int)Errno.EOPNOTSUPP, t.SendDevmem(new DmabufIov(0, 1000)));
        Assert.Equal(0, t.C.SendQueued);
        Assert.Equal(0u, t.C.ZerocopyNextId);
        Assert.Equal(0, t.Tx.NetIovRefs);
        Assert.True(t.C.ErrorQueue.IsEmpty);
        // Ordinary sends on the same connection still work (software checksums).
        int n = 0;
        t.Net.On(t.C.Context, () => n = t.C.Send(t.Content.AsSpan(0, 3000)));
        Assert.Equal(3000, n);
        Assert.Equal(t.Content.AsSpan(0, 3000).ToArray(), t.ReadAll(3000));
    }

    [Fact]
    public void Unbind_with_frags_in_flight_completes_only_after_the_ack()
    {
        var gate = new GateSink();
        using var t = new Setup(bToA: w => gate.Wrap(w));
        gate.Drop = true; // B's ACKs are lost: the data stays in A's send queue
        DmabufIov[] iov = [new(4096 * 3 + 17, 40_000)];
        Assert.Equal(40_000, t.SendDevmem(iov));
        t.Net.Poll();
        Assert.True(t.Tx.NetIovRefs > 0);
        ulong iova = t.Tx.NetIovAt(0).DmaAddr;

        var unbound = t.Tx.UnbindAsync();
        Assert.False(unbound.IsCompleted);
        Assert.False(t.Tx.IsFreed);
        Assert.Equal(-(int)Errno.EINVAL, t.SendDevmem(iov)); // the id is gone for new sends
        Assert.True(t.Net.Pair.A.Dma.IsMapped(iova, t.Hbm.Size)); // retransmissions still DMA from it

        t.Net.Advance(TimeSpan.FromMilliseconds(300)); // an RTO: retransmitted, still unacknowledged
        Assert.False(unbound.IsCompleted);

        gate.Drop = false;
        t.Net.RunUntil(() => unbound.IsCompleted, what: "the ACK freeing the last frag");
        Assert.True(t.Tx.IsFreed);
        Assert.Equal(0, t.Tx.NetIovRefs);
        Assert.Equal(0, t.C.SendQueued);
        Assert.False(t.Net.Pair.A.Dma.IsMapped(iova, t.Hbm.Size));
        Assert.Equal(t.Expected(iov), t.ReadAll(40_000));
        AssertCompletion(t.C, 0, 0);
    }

    [Fact]
    public void Aborting_the_connection_frees_the_frags_and_completes_a_pending_unbind()
    {
        var gate = new GateSink();
        using var t = new Setup(bToA: w => gate.Wrap(w));
        gate.Drop = true;
        Assert.Equal(20_000, t.SendDevmem(new DmabufIov(0, 20_000)));
        t.Net.Poll();
        var unbound = t.Tx.UnbindAsync();
        Assert.False(unbound.IsCompleted);
        t.Net.On(t.C.Context, t.C.Abort); // the send queue goes: its extents put their net_iovs
        t.Net.RunUntil(() => unbound.IsCompleted, what: "the unbind after the abort");
        Assert.True(t.Tx.IsFreed);
        Assert.Equal(0, t.Tx.NetIovRefs);
        // B got the reset; its unread bytes stay readable until its application closes (tcp_reset keeps the receive queue).
        t.Net.RunUntil(() => t.S.State == TcpState.Closed, what: "the reset at B");
        t.Net.On(t.S.Context, t.S.Close);
    }

    [Fact]
    public void Steady_devmem_sends_allocate_nothing_on_the_stack_thread()
    {
        // A clock that stands still (re-arming timers allocates nothing), one queue, deep rings, the test thread
        // polling; the send and the reads run on the connections' contexts as socket calls do.
        var nic = new VirtualNicOptions { RxRingSize = VirtualNic.MaxRingSize };
        using var t = new Setup(a: nic, clock: new Netmem.Tests.Tcp.StillClock(), queues: 1, pages: 16384);
        var work = new SteadyWork(t, [new(4096 + 5, 32 * 1024)]);
        void Run(int rounds)
        {
            for (int i = 0; i < rounds; i++)
            {
                t.C.Context.Post(work.Send);
                t.Net.Pair.PollAll(1);
                t.S.Context.Post(work.Drain);
                t.Net.Pair.PollAll(1);
            }
        }
        Run(100);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int sendsBefore = work.Sends;
        Run(200);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(work.Sends - sendsBefore >= 150, $"{work.Sends - sendsBefore} of 200 sends queued bytes");
        Assert.Equal(0, allocated);
        Assert.True(work.Received >= 250L * 32 * 1024);
        Assert.Equal(0, work.Mismatches);
        t.Net.RunUntil(() => t.C.SendQueued == 0, what: "the last ACK");
        Assert.Equal(0, t.Tx.NetIovRefs);
    }

    /// <summary>Preallocated work for the allocation test: a devmem send on A's context, a checked read and the completions on B's and A's.</summary>
    private sealed class SteadyWork
    {
        private readonly Setup _t;
        private readonly DmabufIov[] _iov;
        private readonly byte[] _expected, _rx = new byte[64 * 1024];

        public SteadyWork(Setup t, DmabufIov[] iov)
        {
            _t = t;
            _iov = iov;
            _expected = t.Expected(iov);
            Send = new Step(DoSend);
            Drain = new Step(DoDrain);
        }

        public StackWork Send { get; }
        public StackWork Drain { get; }
        public int Sends, Mismatches;
        public long Received;

        private void DoSend()
        {
            while (_t.C.ErrorQueue.TryDequeue(out _)) { }
            if (_t.C.SendDevmem(_t.Tx.Id, _iov) > 0) Sends++;
        }

        private void DoDrain()
        {
            int r;
            while ((r = _t.S.Receive(_rx)) > 0)
            {
                for (int k = 0; k < r; k++)
                    if (_rx[k] != _expected[(int)((Received + k) % _expected.Length)]) Mismatches++;
                Received += r;
            }
        }

        private sealed class Step(Action action) : StackWork
        {
            protected internal override void Run(StackContext context) => action();
        }
    }

    /// <summary>A wire stage that loses every frame while <see cref="Drop"/> is set.</summary>
    private sealed class GateSink
    {
        public volatile bool Drop;
        public IWireSink Wrap(IWireSink inner) => new Stage(this, inner);

        private sealed class Stage(GateSink gate, IWireSink inner) : IWireSink
        {
            public void Transmit(WireFrame frame)
            {
                if (!gate.Drop) inner.Transmit(frame);
            }
        }
    }
}
