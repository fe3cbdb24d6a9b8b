using System.Buffers.Binary;
using System.IO.Hashing;
using Netmem.Drivers.VirtualNic;
using Netmem.Phy;
using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Tests.Tcp;
using Netmem.Tests.TcpNet;

namespace Netmem.Tests.Zerocopy;

/// <summary>
/// MSG_ZEROCOPY between two stacks on the VirtualNic pair: the NIC DMAs frags from the user pages through its
/// IOMMU (completions are not COPIED), completions coalesce, a lost segment keeps the memory until its
/// retransmission is acknowledged, and the socket API completes when the memory may be reused. StackTestEnv's
/// teardown asserts every page_pool ended with inflight 0.
/// </summary>
public class ZerocopyNetTests(ITestOutputHelper output)
{
    private static readonly TcpSettings ZcSettings = new() { ZeroCopy = true };

    /// <summary>Drops the first frame that carries TCP payload, passes everything else.</summary>
    private sealed class DropFirstData(IWireSink inner) : WireStage(inner)
    {
        public int Dropped;

        public override void Transmit(WireFrame frame)
        {
            Span<byte> h = stackalloc byte[14 + 60 + 60];
            int n = Math.Min(h.Length, frame.Length);
            frame.CopyTo(0, h[..n]);
            if (Dropped == 0 && n >= 14 + 40 && BinaryPrimitives.ReadUInt16BigEndian(h[12..]) == 0x0800 && h[14 + 9] == 6)
            {
                int ipLen = BinaryPrimitives.ReadUInt16BigEndian(h[16..]);
                int ihl = (h[14] & 15) * 4;
                int thl = (h[14 + ihl + 12] >> 4) * 4;
                if (ipLen > ihl + thl)
                {
                    Dropped++;
                    return;
                }
            }
            Inner.Transmit(frame);
        }
    }

    private static int Drain(TcpNetEnv env, TcpConnection s, byte[] into, int offset)
    {
        int n = 0;
        env.On(s.Context, () =>
        {
            int r;
            while (offset + n < into.Length && (r = s.Receive(into.AsSpan(offset + n))) > 0) n += r;
        });
        return n;
    }

    [Fact]
    public void DmaFromUserPagesCompletesNotCopiedAndRangesCoalesce()
    {
        using var env = new TcpNetEnv(queues: 1, tcp: ZcSettings);
        var l = env.Listen(env.B);
        var (c, s) = env.Connect(l);
        const int sends = 8, size = 64 * 1024 + 123; // unaligned: pieces straddle pages
        using var buf = new ZerocopyTestBuffer(sends * size + 4096);
        TcpTestUtil.FillPattern(buf.Span, 0, 31);
        var pin = new CountingPin();
        var got = new byte[sends * size];
        int have = 0;
        for (int i = 0; i < sends; i++)
        {
            int queued = 0;
            var iov = buf.Iov(7 + i * size, size);
            env.RunUntil(() =>
            {
                env.On(c.Context, () =>
                {
                    int n = c.SendZeroCopy([new UserIov(iov.Address + queued, size - queued)], pin);
                    if (n > 0) queued += n;
                });
                have += Drain(env, s, got, have);
                return queued == size;
            }, what: $"send {i}");
        }
        env.RunUntil(() => { have += Drain(env, s, got, have); return have == got.Length && c.SendQueued == 0; }, what: "the data");
        Assert.Equal(buf.Span.Slice(7, got.Length).ToArray(), got);
        env.RunUntil(() => !c.ErrorQueue.IsEmpty && c.ErrorQueue.TryPeek(out var e) && e.Data == c.ZerocopyNextId - 1, what: "the completions");
        var ranges = new List<SockExtendedErr>();
        while (c.ErrorQueue.TryDequeue(out var e)) ranges.Add(e);
        output.WriteLine($"{c.ZerocopyNextId} ids, {ranges.Count} records: {string.Join(", ", ranges.Select(r => $"[{r.Info},{r.Data}] code {r.Code}"))}");
        Assert.All(ranges, r => Assert.Equal(0, r.Code)); // the NIC DMA'd the user pages: not copied
        Assert.Equal(0u, ranges[0].Info);
        Assert.Equal(c.ZerocopyNextId - 1, ranges[^1].Data);
        Assert.True(ranges.Count < c.ZerocopyNextId, "consecutive completions coalesced");
        Assert.Equal((int)c.ZerocopyNextId, pin.Released);
        Assert.True(c.SendPagesHeld <= 1, "only the page copies fill may be left");
    }

    [Fact]
    public void ALostSegmentKeepsTheUserMemoryUntilItsRetransmissionIsAcked()
    {
        DropFirstData? drop = null;
        using var env = new TcpNetEnv(queues: 1, tcp: ZcSettings, aToB: w => drop = new DropFirstData(w));
        var l = env.Listen(env.B);
        var (c, s) = env.Connect(l);
        // One segment's worth: nothing after it can trigger a fast retransmit, so only a timer repairs it.
        using var buf = new ZerocopyTestBuffer(1200);
        TcpTestUtil.FillPattern(buf.Span, 0, 41);
        var pin = new CountingPin();
        int n = 0;
        env.On(c.Context, () => n = c.SendZeroCopy([buf.Iov(0, 1200)], pin));
        Assert.Equal(1200, n);
        env.Poll();
        Assert.Equal(1, drop!.Dropped);
        Assert.Equal(0, pin.Released);
        Assert.True(c.ErrorQueue.IsEmpty, "no completion before the ACK");
        Assert.True(c.SendQueued > 0 && c.SendPagesHeld > 0, "the queue still references the user pages");
        buf.Span[100] ^= 0x5A; // the retransmission reads the user memory again: this byte is what arrives
        long retrans = env.A.Tcp.Stats.RetransmittedSegments;
        env.Advance(TimeSpan.FromSeconds(3), steps: 30);
        Assert.True(env.A.Tcp.Stats.RetransmittedSegments > retrans);
        var got = new byte[1200];
        int have = 0;
        env.RunUntil(() => (have += Drain(env, s, got, have)) == got.Length && c.SendQueued == 0, what: "the data");
        Assert.Equal(buf.Span.ToArray(), got);
        env.RunUntil(() => pin.Released == 1, what: "the pin");
        Assert.True(c.ErrorQueue.TryDequeue(out var e));
        Assert.Equal((0u, 0u, (byte)0), (e.Info, e.Data, e.Code));
    }

    [Fact]
    public async Task SendZeroCopyAsyncCompletesWhenTheMemoryMayBeReused()
    {
        var nic = new VirtualNicOptions { ThreadedNapi = true };
        using var env = new TcpNetEnv(queues: 2, a: nic, b: nic, clock: TimeProvider.System);
        using var listener = new TcpListener(env.B, TcpNetEnv.Port);
        listener.ZeroCopy = true; // inherited by what it accepts (unused by the receiver here)
        listener.Start();
        const int chunk = 64 * 1024, inFlight = 8;
        const long total = 16L << 20;

        async Task<(UInt128, long, bool)> Serve()
        {
            using var s = await listener.AcceptAsync();
            bool inherited = s.ZeroCopy;
            var h = new XxHash128();
            var rx = new byte[256 * 1024];
            long got = 0;
            int r;
            while ((r = await s.ReceiveAsync(rx)) > 0) { h.Append(rx.AsSpan(0, r)); got += r; }
            await s.CloseAsync();
            return (h.GetCurrentHashAsUInt128(), got, inherited);
        }

        var server = Task.Run(Serve);
        var c = env.A.CreateTcpSocket();
        await c.ConnectAsync(TcpNetEnv.IpB, TcpNetEnv.Port);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await c.SendZeroCopyAsync(new byte[10]));
        Assert.Contains("TcpSocket.ZeroCopy", Assert.Throws<InvalidOperationException>(() => { _ = c.SendZeroCopyAsync(new byte[10]); }).Message);
        c.ZeroCopy = true;
        var bufs = Enumerable.Range(0, inFlight).Select(_ => new byte[chunk]).ToArray();
        var pending = new ValueTask<int>[inFlight];
        var h = new XxHash128();
        long sent = 0, allocated = 0;
        int k = 0;
        for (; sent < total; k++)
        {
            int slot = k % inFlight;
            if (k >= inFlight) Assert.Equal(chunk, await pending[slot]); // its memory may be reused now
            TcpTestUtil.FillPattern(bufs[slot], sent, 77);
            h.Append(bufs[slot]);
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            pending[slot] = c.SendZeroCopyAsync(bufs[slot]);
            if (k >= 4 * inFlight) allocated += GC.GetAllocatedBytesForCurrentThread() - a0;
            sent += chunk;
        }
        for (int i = 0; i < inFlight; i++) Assert.Equal(chunk, await pending[(k + i) % inFlight]);
        await c.CloseAsync();
        var (rxHash, got, inheritedZc) = await server.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(total, got);
        Assert.Equal(h.GetCurrentHashAsUInt128(), rxHash);
        Assert.True(inheritedZc);
        Assert.Equal(0, allocated); // pooled operations and completions: no allocation per send once warm
        // The lower-level view: the ranges cover every send id, none copied (the NIC DMAs).
        uint next = 0;
        while (c.TryReadErrorQueue(out var e))
        {
            Assert.True(e.IsZerocopy);
            Assert.Equal(0, e.Code);
            Assert.Equal(next, e.Info);
            next = e.Data + 1;
        }
        Assert.Equal(c.Connection!.ZerocopyNextId, next);
        output.WriteLine($"{k} sends, {next} send ids, {env.A.Tcp.Stats.ZerocopySendCount} zero-copy sends");
        c.Dispose();
    }
}
