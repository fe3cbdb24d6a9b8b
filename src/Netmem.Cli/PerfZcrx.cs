using Netmem.Cli.Ncdevmem;
using Netmem.Devices;
using Netmem.Memory;
using Netmem.Sockets;
using Netmem.Zcrx;

namespace Netmem.Cli;

/// <summary>What <c>netmem perf zcrx</c> measured.</summary>
internal sealed record PerfZcrxResult(PerfDevmemFigure Zcrx, PerfDevmemFigure Copy, bool Verified, string? VerifyError, int Mtu,
    ZcrxStats Stats, long PoolInflight, bool AreaFreed, int ArenaPagesLeft)
{
    public double Ratio => Copy.Gbps > 0 ? Zcrx.Gbps / Copy.Gbps : 0;
}

/// <summary>
/// io_uring zero-copy receive into application memory beside the copying socket receive, in one run over the
/// VirtualNic pair (vnic0 -> vnic1, a threaded NAPI context per queue) with one sender writing the same
/// pattern to both. zcrx: vnic1's queue 1 (header split on, the flow steered there by ntuple) registered with
/// a <see cref="ZcrxIfq"/> over 16000 pages of page-aligned application memory; each completion's payload is
/// validated in place in that memory and every call's buffers go back through the refill ring in one batch.
/// Copy: a second connection on queue 0 (host pages) read with <c>ReceiveAsync</c> into an 800 KiB buffer and
/// validated there. Every byte of both streams is checked against the pattern at its stream offset. The modes
/// take turns in measured windows (as <c>perf devmem</c>), so both see the same JIT tier and machine load.
/// </summary>
internal static class PerfZcrx
{
    private const ushort ZcrxPort = 5201, CopyPort = 5202;
    private const int Modulus = 251;
    private const int AreaPages = 16000;
    private const int Batch = 1024; // completions per call: about the copy's 800 KiB per call at MTU 1500

    public static PerfZcrxResult Run(double seconds, double warmup, int mtu, int rounds = 3)
    {
        var net = new PairStacks("perf0", "perf1", 1, 2, mtu);
        var (pair, stackB, ipB) = (net.Pair, net.B, PairStacks.AddressB);
        var dev = pair.B;
        var pattern = new NcdevmemPattern(Modulus);
        var mem = new PageAlignedMemory(AreaPages * PageArena.PageSize);
        ZcrxIfq? ifq = null;
        var figures = new PerfWindow[2];
        string? error = null;
        try
        {
            // What an io_uring zcrx user configures with ethtool: header split, RSS off the zcrx queue, the flow onto it.
            dev.SetRingParam(dev.GetRingParam() with { TcpDataSplit = TcpDataSplit.On, HdsThresh = 0 });
            var indir = new int[NetDevice.RssIndirSize];
            dev.SetRxfh(indir); // everything else on queue 0
            dev.SetFeatures(dev.Features | NetdevFeatures.Ntuple);
            dev.AddNtupleRule(new NtupleRule { Location = 1, FlowType = NtupleFlowType.Tcp4, DstIp = ipB.ToUInt32(), DstPort = ZcrxPort, Action = 1 });
            ifq = ZcrxIfq.Register(dev, 1, mem.Memory, 4096);
            net.TrackPools();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2 * warmup + seconds + rounds * 2 * PerfWindow.SettleSeconds + 60));
            using var zl = stackB.ListenTcp(ZcrxPort, ipB, backlog: 1);
            using var cl = stackB.ListenTcp(CopyPort, ipB, backlog: 1);
            long zGot = 0, cGot = 0;
            var z = ifq;
            var zValidator = new NcdevmemValidator(pattern, TextWriter.Null);
            var zReceiving = Task.Run(async () =>
            {
                using var s = await zl.AcceptAsync(cts.Token).ConfigureAwait(false);
                var comps = new ZcrxCompletion[Batch];
                var rqes = new ZcrxRqe[Batch];
                while (true)
                {
                    int n = await s.ReceiveZcrxAsync(z, comps, ct: cts.Token).ConfigureAwait(false);
                    if (n == 0) break;
                    long bytes = 0;
                    for (int i = 0; i < n; i++)
                    {
                        if (!zValidator.Check(z.GetPayload(comps[i]))) return "zcrx: validation failed";
                        bytes += comps[i].Len;
                        rqes[i] = comps[i].ToRqe();
                    }
                    int posted = z.RefillRing.Post(rqes.AsSpan(0, n));
                    for (int i = posted; i < n; i++) z.Return(comps[i]);
                    Volatile.Write(ref zGot, zGot + bytes);
                }
                return null;
            });
            var cValidator = new NcdevmemValidator(pattern, TextWriter.Null);
            var cReceiving = Task.Run(async () =>
            {
                using var s = await cl.AcceptAsync(cts.Token).ConfigureAwait(false);
                var buf = new byte[NcdevmemServer.IoBufSize];
                while (true)
                {
                    int n = await s.ReceiveAsync(buf, cts.Token).ConfigureAwait(false);
                    if (n == 0) break;
                    if (!cValidator.Check(buf.AsSpan(0, n))) return "copy: validation failed";
                    Volatile.Write(ref cGot, cGot + n);
                }
                return null;
            });
            Func<long>[] received = [() => Volatile.Read(ref zGot), () => Volatile.Read(ref cGot)];

            figures = PerfAlternation.Run(net, ZcrxPort, CopyPort, pattern, received, seconds, warmup, rounds, cts.Token);
            error = zReceiving.GetAwaiter().GetResult() ?? cReceiving.GetAwaiter().GetResult();
            if (error is null && zValidator.Errors + cValidator.Errors != 0) error = $"{zValidator.Errors} zcrx and {cValidator.Errors} copy mismatches";
            if (error is null && zValidator.Offset + cValidator.Offset == 0) error = "nothing received";
        }
        finally
        {
            ifq?.Dispose(); // unregister: the queue restarts on pages
            dev.ResetRxfh();
        }
        var stats = ifq!.GetStats();
        var left = net.Teardown();
        bool freed = ifq.IsFreed;
        if (freed) mem.Dispose();
        return new PerfZcrxResult(figures[0].Figure, figures[1].Figure, error is null, error, mtu, stats, left.Inflight, freed, left.ArenaPagesLeft);
    }
}
