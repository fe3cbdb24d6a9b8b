using System.Diagnostics;
using Netmem.Cli.Ncdevmem;
using Netmem.Drivers.VirtualNic;
using Netmem.Sockets;

namespace Netmem.Cli;

/// <summary>One receive mode's figure in <c>netmem perf devmem</c>.</summary>
internal sealed record PerfDevmemFigure(double Gbps, long Bytes, double Seconds, long Packets, long AllocatedBytes, double CpuSeconds)
{
    /// <summary>Process CPU time (every thread: both stacks, sender and receiver) per received byte.</summary>
    public double CpuNsPerByte => Bytes > 0 ? CpuSeconds * 1e9 / Bytes : 0;
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
/// its stream offset. The modes take turns in measured windows on two connections fed by one sender;
/// allocation is counted over each window (every thread) and divided by the frames vnic1 received in it.
/// </summary>
internal static class PerfDevmem
{
    private const ushort DevmemPort = 5201, HostPort = 5202;
    private const int Modulus = 251; // a prime period: no MSS or page size lines up with it

    private const double SettleSeconds = PerfWindow.SettleSeconds;

    /// <summary>
    /// Runs the two modes in alternating windows (devmem, host, then host, devmem, ...) on two connections
    /// made at the start and fed by one sender task, so both see the same JIT tier, caches and machine load;
    /// each figure is its mode's bytes over its windows' total time.
    /// </summary>
    public static PerfDevmemResult Run(double seconds, double warmup, int mtu, int rounds = 3)
    {
        var net = new PairStacks("perf0", "perf1", 1, 2, mtu);
        var (pair, stackB, ipB) = (net.Pair, net.B, PairStacks.AddressB);
        var pattern = new NcdevmemPattern(Modulus);
        NcdevmemServer? server = null;
        var figures = new PerfWindow[2];
        string? error = null;
        try
        {
            server = NcdevmemServer.Start(stackB, pair.B, ipB, new NcdevmemOptions { Port = DevmemPort, Modulus = Modulus }, TextWriter.Null);
            net.TrackPools(); // the bound queue's new pool
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2 * warmup + seconds + rounds * 2 * SettleSeconds + 60));
            using var listener = stackB.ListenTcp(HostPort, ipB, backlog: 1);

            // devmem: the ncdevmem server's loop on the bound queue (queue 1).
            var serving = server.RunAsync(cts.Token);
            // host memory: a plain receiver on queue 0 (the server pointed RSS there).
            var hostValidator = new NcdevmemValidator(pattern, TextWriter.Null);
            long hostGot = 0;
            var hostReceiving = Task.Run(async () =>
            {
                using var s = await listener.AcceptAsync(cts.Token).ConfigureAwait(false);
                var buf = new byte[NcdevmemServer.IoBufSize];
                while (true)
                {
                    int n = await s.ReceiveAsync(buf, cts.Token).ConfigureAwait(false);
                    if (n == 0) break;
                    if (!hostValidator.Check(buf.AsSpan(0, n))) return "host: validation failed";
                    Volatile.Write(ref hostGot, hostGot + n);
                }
                return null;
            });
            Func<long>[] received = [() => server.ReceivedBytes, () => Volatile.Read(ref hostGot)];

            figures = PerfAlternation.Run(net, DevmemPort, HostPort, pattern, received, seconds, warmup, rounds, cts.Token);
            var d = serving.GetAwaiter().GetResult();
            if (!d.Ok) error = $"devmem: {d.Error ?? $"{d.Mismatches} mismatches"}";
            else if (!d.Validated) error = "devmem: not validated";
            error ??= hostReceiving.GetAwaiter().GetResult();
            if (error is null && hostValidator.Errors != 0) error = $"host: {hostValidator.Errors} mismatches";
        }
        finally
        {
            server?.Dispose(); // unbind: the bound queue restarts on pages
        }
        var left = net.Teardown();
        return new PerfDevmemResult(figures[0].Figure, figures[1].Figure, error is null, error, mtu, left.Inflight, server.Binding.IsFreed, left.ArenaPagesLeft);
    }

}
