using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Cli.Ncdevmem;

/// <summary>
/// <c>netmem ncdevmem</c> with no peer: both ends in this process over the VirtualNic pair (vnic0 -> vnic1,
/// one threaded NAPI context per queue). The server end binds vnic1's last queue(s) as ncdevmem does; the
/// client sends the pattern from vnic0. After the run everything is torn down and checked: every page_pool
/// (the bound queue's and those of the restarts) at inflight 0, the binding freed, the dma-buf released,
/// every arena page back.
/// </summary>
internal static class NcdevmemLocal
{
    public static NcdevmemRunResult Run(NcdevmemOptions o, int mtu, string? ifname, TimeSpan timeout, TextWriter log)
    {
        var arena = new PageArena(new PageArenaOptions { PageCount = 32768 });
        var pair = new VirtualNicPair(new VirtualNicPairOptions
        {
            A = new VirtualNicOptions { Name = "vnic0", Arena = arena, Queues = 1, Mtu = mtu, ThreadedNapi = true, RxRingSize = 1024, TxRingSize = 1024 },
            B = new VirtualNicOptions { Name = ifname ?? "vnic1", Arena = arena, Queues = 2, Mtu = mtu, ThreadedNapi = true, RxRingSize = 1024, TxRingSize = 1024 },
        });
        var ipA = new Ipv4Address(10, 77, 0, 1);
        var ipB = new Ipv4Address(10, 77, 0, 2);
        var pools = new HashSet<PagePool>();
        var stackA = NetStack.Create(pair.A, new Ipv4Cidr(ipA, 24));
        var stackB = NetStack.Create(pair.B, new Ipv4Cidr(ipB, 24));
        NcdevmemServer? server = null;
        NcdevmemResult? result = null;
        long sent = -1;
        try
        {
            pair.A.CollectRxPagePools(pools);
            pair.B.CollectRxPagePools(pools);
            server = NcdevmemServer.Start(stackB, pair.B, ipB, o, log);
            pair.B.CollectRxPagePools(pools); // the bound queue's new pool
            using var cts = new CancellationTokenSource(timeout);
            var serving = server.RunAsync(cts.Token);
            var sending = Task.Run(async () =>
            {
                using var client = stackA.CreateTcpSocket();
                await client.ConnectAsync(ipB, o.Port, cts.Token).ConfigureAwait(false);
                long n = await NcdevmemClient.SendAsync(client, new NcdevmemPattern(o.SendModulus), o.Bytes, cts.Token).ConfigureAwait(false);
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
        log.WriteLine($"client sent {sent} bytes; {pools.Count} page_pools, inflight {inflight}; binding freed {server!.Binding.IsFreed}, dma-buf released {server.Buffer.IsReleased}; arena pages not returned {left}");
        return new NcdevmemRunResult(result!, sent, pools.Count, inflight, server.Binding.IsFreed, server.Buffer.IsReleased, left);
    }
}
