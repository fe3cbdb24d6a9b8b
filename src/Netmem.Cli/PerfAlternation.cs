using Netmem.Cli.Ncdevmem;
using Netmem.Sockets;

namespace Netmem.Cli;

/// <summary>
/// How the receive perf modes compare two receivers in one run: one sender on stack A writes the ncdevmem pattern
/// to two connections (B's ports), feeding one at a time; each mode is warmed up, then measured in
/// <c>rounds</c> pairs of windows in alternating order (0, 1, then 1, 0, ...), so both see the same JIT tier,
/// caches and machine load.
/// </summary>
internal static class PerfAlternation
{
    /// <summary>Bytes per send.</summary>
    public const int WriteSize = 256 * 1024;

    /// <summary>
    /// Connects, warms up and measures; returns each mode's summed windows once the sender has shut down and
    /// closed both connections. <paramref name="received"/> reads each receiver's byte count.
    /// </summary>
    public static PerfWindow[] Run(PairStacks net, ushort port0, ushort port1, NcdevmemPattern pattern, Func<long>[] received,
        double seconds, double warmup, int rounds, CancellationToken ct)
    {
        var figures = new PerfWindow[2];
        int mode = -1; // which connection the sender feeds (-1: none, -2: done)
        var sending = Task.Run(async () =>
        {
            using var c0 = net.A.CreateTcpSocket();
            using var c1 = net.A.CreateTcpSocket();
            await c0.ConnectAsync(PairStacks.AddressB, port0, ct).ConfigureAwait(false);
            await c1.ConnectAsync(PairStacks.AddressB, port1, ct).ConfigureAwait(false);
            TcpSocket[] socks = [c0, c1];
            long[] sent = [0, 0];
            while (true)
            {
                int m = Volatile.Read(ref mode);
                if (m == -2) break;
                if (m < 0) { await Task.Delay(1, ct).ConfigureAwait(false); continue; }
                sent[m] += await socks[m].SendAsync(pattern.Slice(sent[m], WriteSize), ct).ConfigureAwait(false);
            }
            foreach (var c in socks) c.ShutdownSend();
            foreach (var c in socks) await c.CloseAsync(ct).ConfigureAwait(false);
        });

        // Warm-up: each mode for the warm-up time, so both paths run tier-1 code (tiered JIT) and their pools and
        // caches are full before any window; a first devmem window measured after 0.5 s came out 2.5x lower.
        for (int m = 0; m < 2; m++) { Volatile.Write(ref mode, m); Thread.Sleep(TimeSpan.FromSeconds(warmup)); }
        for (int r = 0; r < rounds; r++)
            foreach (int m in r % 2 == 0 ? new[] { 0, 1 } : [1, 0])
            {
                Volatile.Write(ref mode, m);
                Thread.Sleep(TimeSpan.FromSeconds(PerfWindow.SettleSeconds));
                figures[m] += PerfWindow.Measure(net.Pair, received[m], seconds / rounds);
            }
        Volatile.Write(ref mode, -2);
        sending.GetAwaiter().GetResult();
        return figures;
    }
}
