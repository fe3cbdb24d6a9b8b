using System.Diagnostics;
using Netmem.Cli.Ncdevmem;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Cli;

/// <summary>One receive mode's figure in <c>netmem perf devmem</c>.</summary>
internal sealed record PerfDevmemFigure(double Gbps, long Bytes, double Seconds, long Packets, long AllocatedBytes)
{
    public double AllocBytesPerPacket => Packets > 0 ? (double)AllocatedBytes / Packets : 0;
}

/// <summary>What <c>netmem perf devmem</c> measured.</summary>
internal sealed record PerfDevmemResult(PerfDevmemFigure Devmem, PerfDevmemFigure Host, bool Verified, string? VerifyError,
    int Mtu, long PoolInflight, bool BindingFreed, int ArenaPagesLeft)
{
    public double Ratio => Host.Gbps > 0 ? Devmem.Gbps / Host.Gbps : 0;
}

/// <summary>
/// devmem receive beside an ordinary receive into host memory, in one run over the VirtualNic pair (vnic0 ->
/// vnic1, a threaded NAPI context per queue), with the same sender writing the ncdevmem pattern. devmem: the
/// ncdevmem server on vnic1's queue 1 bound to a memfd dma-buf; each frag is validated where it landed (in
/// place between begin and end CPU access: no copy, which is what devmem is for) and its token released with
/// DONTNEED. Host: a second connection on queue 0 (host pages) read with <c>ReceiveAsync</c> into an
/// 800 KiB buffer (a copy) and validated there. Every byte of both streams is checked against the pattern at
/// its stream offset. Each mode runs a warm-up, then a measured window; allocation is counted over each window
/// (every thread) and divided by the frames vnic1 received in it.
/// </summary>
internal static class PerfDevmem
{
    private const ushort DevmemPort = 5201, HostPort = 5202;
    private const int Modulus = 251; // a prime period: no MSS or page size lines up with it

    public static PerfDevmemResult Run(double seconds, double warmup, int mtu)
    {
        var arena = new PageArena(new PageArenaOptions { PageCount = 32768 });
        var pair = new VirtualNicPair(new VirtualNicPairOptions
        {
            A = new VirtualNicOptions { Name = "perf0", Arena = arena, Queues = 1, Mtu = mtu, ThreadedNapi = true, RxRingSize = 1024, TxRingSize = 1024 },
            B = new VirtualNicOptions { Name = "perf1", Arena = arena, Queues = 2, Mtu = mtu, ThreadedNapi = true, RxRingSize = 1024, TxRingSize = 1024 },
        });
        var ipA = new Ipv4Address(10, 77, 0, 1);
        var ipB = new Ipv4Address(10, 77, 0, 2);
        var pools = new HashSet<PagePool>();
        var stackA = NetStack.Create(pair.A, new Ipv4Cidr(ipA, 24));
        var stackB = NetStack.Create(pair.B, new Ipv4Cidr(ipB, 24));
        var pattern = new NcdevmemPattern(Modulus);
        NcdevmemServer? server = null;
        PerfDevmemFigure devmem, host;
        string? error = null;
        try
        {
            pair.B.CollectRxPagePools(pools);
            server = NcdevmemServer.Start(stackB, pair.B, ipB, new NcdevmemOptions { Port = DevmemPort, Modulus = Modulus }, TextWriter.Null);
            pair.B.CollectRxPagePools(pools);

            // devmem: the ncdevmem server's loop on the bound queue.
            using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(warmup + seconds + 60)))
            {
                var serving = server.RunAsync(cts.Token);
                devmem = Measure(stackA, ipB, DevmemPort, pattern, pair, warmup, seconds, () => server.ReceivedBytes, cts.Token);
                var r = serving.GetAwaiter().GetResult();
                if (!r.Ok) error = $"devmem: {r.Error ?? $"{r.Mismatches} mismatches"}";
                else if (!r.Validated) error = "devmem: not validated";
            }

            // host memory: the same sender to a plain receiver on queue 0.
            using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(warmup + seconds + 60)))
            using (var listener = stackB.ListenTcp(HostPort, ipB, backlog: 1))
            {
                var validator = new NcdevmemValidator(pattern, TextWriter.Null);
                long got = 0;
                var receiving = Task.Run(async () =>
                {
                    using var s = await listener.AcceptAsync(cts.Token).ConfigureAwait(false);
                    var buf = new byte[NcdevmemServer.IoBufSize];
                    while (true)
                    {
                        int n = await s.ReceiveAsync(buf, cts.Token).ConfigureAwait(false);
                        if (n == 0) break;
                        if (!validator.Check(buf.AsSpan(0, n))) return "host: validation failed";
                        Volatile.Write(ref got, got + n);
                    }
                    return null;
                });
                host = Measure(stackA, ipB, HostPort, pattern, pair, warmup, seconds, () => Volatile.Read(ref got), cts.Token);
                error ??= receiving.GetAwaiter().GetResult();
                if (error is null && validator.Errors != 0) error = $"host: {validator.Errors} mismatches";
            }
        }
        finally
        {
            server?.Dispose();
            pair.A.CollectRxPagePools(pools);
            pair.B.CollectRxPagePools(pools);
            stackA.Dispose();
            stackB.Dispose();
            pair.Dispose();
        }
        long inflight = 0;
        foreach (var p in pools) inflight += p.Inflight;
        int left = arena.UsedPages;
        if (left == 0) arena.Dispose();
        return new PerfDevmemResult(devmem, host, error is null, error, mtu, inflight, server.Binding.IsFreed, left);
    }

    /// <summary>
    /// Connects to <paramref name="port"/>, sends the pattern for the warm-up and the window, and reads the
    /// receiver's byte count (<paramref name="received"/>) at both ends of the window.
    /// </summary>
    private static PerfDevmemFigure Measure(NetStack stackA, Ipv4Address ipB, ushort port, NcdevmemPattern pattern, VirtualNicPair pair,
        double warmup, double seconds, Func<long> received, CancellationToken ct)
    {
        bool stop = false;
        var sending = Task.Run(async () =>
        {
            using var client = stackA.CreateTcpSocket();
            await client.ConnectAsync(ipB, port, ct).ConfigureAwait(false);
            long n = await NcdevmemClient.SendAsync(client, pattern, long.MaxValue, ct, () => Volatile.Read(ref stop)).ConfigureAwait(false);
            await client.CloseAsync(ct).ConfigureAwait(false);
            return n;
        });
        Thread.Sleep(TimeSpan.FromSeconds(warmup));
        long b0 = received(), f0 = pair.B.GetStats().RxPackets, a0 = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();
        Thread.Sleep(TimeSpan.FromSeconds(seconds));
        long b1 = received(), f1 = pair.B.GetStats().RxPackets, a1 = GC.GetTotalAllocatedBytes(precise: true);
        double secs = sw.Elapsed.TotalSeconds;
        Volatile.Write(ref stop, true);
        sending.GetAwaiter().GetResult();
        return new PerfDevmemFigure((b1 - b0) * 8 / secs / 1e9, b1 - b0, secs, f1 - f0, a1 - a0);
    }
}
