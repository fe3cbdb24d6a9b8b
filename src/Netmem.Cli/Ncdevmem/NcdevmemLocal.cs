
namespace Netmem.Cli.Ncdevmem;

/// <summary>
/// <c>netmem ncdevmem</c> with no peer: both ends in this process over the VirtualNic pair (vnic0 -> vnic1,
/// one threaded NAPI context per queue). The server end binds vnic1's last queue(s) as ncdevmem does; the
/// client sends the pattern from vnic0 (copying sends, or with <see cref="NcdevmemOptions.TxDevmem"/> from
/// device memory bound for TX on vnic0). After the run everything is torn down and checked: every page_pool
/// (the bound queue's and those of the restarts) at inflight 0, the binding freed, the dma-buf released,
/// every arena page back.
/// </summary>
internal static class NcdevmemLocal
{
    public static NcdevmemRunResult Run(NcdevmemOptions o, int mtu, string? ifname, TimeSpan timeout, TextWriter log)
    {
        var net = new PairStacks("vnic0", ifname ?? "vnic1", 1, 2, mtu);
        var (pair, stackA, stackB, ipB) = (net.Pair, net.A, net.B, PairStacks.AddressB);
        NcdevmemServer? server = null;
        NcdevmemDevmemClient? tx = null;
        NcdevmemResult? result = null;
        long sent = -1;
        try
        {
            server = NcdevmemServer.Start(stackB, pair.B, ipB, o, log);
            net.TrackPools(); // the bound queue's new pool
            if (o.TxDevmem)
            {
                tx = NcdevmemDevmemClient.Bind(pair.A);
                log.WriteLine($"client: bind-tx {tx.Buffer} on {pair.A.Name}: dmabuf id {tx.Binding.Id}");
            }
            using var cts = new CancellationTokenSource(timeout);
            var serving = server.RunAsync(cts.Token);
            var sending = Task.Run(async () =>
            {
                using var client = stackA.CreateTcpSocket();
                await client.ConnectAsync(ipB, o.Port, cts.Token).ConfigureAwait(false);
                var pattern = new NcdevmemPattern(o.SendModulus);
                long n = tx is null
                    ? await NcdevmemClient.SendAsync(client, pattern, o.Bytes, cts.Token).ConfigureAwait(false)
                    : await tx.SendAsync(client, pattern, o.Bytes, cts.Token).ConfigureAwait(false);
                await client.CloseAsync(cts.Token).ConfigureAwait(false);
                return n;
            });
            try
            {
                result = serving.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                result = new NcdevmemResult { Error = $"timed out after {timeout.TotalSeconds:0} s", Validated = o.Modulus != 0 };
            }
            if (!result.Ok) cts.Cancel(); // the server stopped reading: do not wait for the sender's window
            try
            {
                sent = sending.GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is OperationCanceledException or NetmemErrnoException)
            {
                log.WriteLine($"client: {e.Message}");
            }
        }
        finally
        {
            server?.Dispose(); // unbind: the bound queue restarts on pages
            tx?.Dispose();     // unbind TX: freed once the last frag is gone
        }
        var left = net.Teardown();
        bool txFreed = tx is null || (tx.Binding.IsFreed && tx.Buffer.IsReleased);
        log.WriteLine($"client sent {sent} bytes{(tx is null ? "" : $" from device memory (TX binding freed {tx.Binding.IsFreed}, its dma-buf released {tx.Buffer.IsReleased})")}; " +
                      $"{left.Pools} page_pools, inflight {left.Inflight}; binding freed {server!.Binding.IsFreed}, dma-buf released {server.Buffer.IsReleased}; arena pages not returned {left.ArenaPagesLeft}");
        return new NcdevmemRunResult(result!, sent, left.Pools, left.Inflight, server.Binding.IsFreed && txFreed, server.Buffer.IsReleased && txFreed, left.ArenaPagesLeft);
    }
}
