using System.Globalization;
using Netmem.Drivers.Tap;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Cli.Ncdevmem;

/// <summary>
/// <c>netmem ncdevmem --tap</c> (root): the server end on a tap whose kernel side is a namespace made for the
/// run, the stack in this process. The tap driver splits headers in software into the binding. Unless
/// <c>listenOnly</c>, a Python client in the namespace sends the pattern (what ncdevmem's usage pipes
/// through nc), bounded by the timeout; with it, the server waits for a client the user starts there.
/// Teardown is checked as in memory: every page_pool at inflight 0, binding freed, dma-buf released, arena whole.
/// </summary>
internal static class NcdevmemTap
{
    /// <summary>Sends n bytes of the -v pattern: a buffer that is a whole number of periods, so each send continues the stream.</summary>
    internal const string PyClient = """
import socket, sys
host, port, n, v = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
period = bytes(((i + 1) % v) or 10 for i in range(v))
buf = memoryview(period * ((1 << 18) // v))
s = socket.create_connection((host, port), timeout=30)
sent = 0
while sent < n:
    m = min(len(buf), n - sent)
    s.sendall(buf[:m]); sent += m
s.shutdown(socket.SHUT_WR)
s.recv(1)
print(sent)
""";

    /// <summary>
    /// The socat client: ncdevmem's documented sender, <c>yes $(printf '\001...') | head -c N | nc</c>, with socat
    /// for nc. <c>yes</c> repeats bytes 1..v-1 and a newline, which is the -v v stream. v = 11 cannot be
    /// written this way (the shell's $(...) drops the trailing byte 10).
    /// </summary>
    internal static string[] SocatClient(Ipv4Address server, ushort port, long bytes, int v)
    {
        var octal = string.Concat(Enumerable.Range(1, v - 1).Select(b => $"\\{Convert.ToString(b, 8).PadLeft(3, '0')}"));
        return ["sh", "-c", $"yes \"$(printf '{octal}')\" | head -c {bytes.ToString(CultureInfo.InvariantCulture)} | socat -u - TCP:{server}:{port} && echo {bytes.ToString(CultureInfo.InvariantCulture)}"];
    }

    public static bool CanRun(out string why, string client = "python3")
    {
        if (!TapDevice.IsSupported(out why)) return false;
        foreach (var tool in new[] { "ip", client })
            if (PerfBaselines.FindOnPath(tool) is null) { why = $"{tool} not found on PATH"; return false; }
        return true;
    }

    public static NcdevmemRunResult Run(NcdevmemOptions o, string? ifname, Ipv4Address? address, int mtu, bool listenOnly, TimeSpan timeout, TextWriter log, string client = "python3")
    {
        var arena = new PageArena(new PageArenaOptions { PageCount = 16384 });
        var our = address ?? new Ipv4Address(10, 203, 0, 2);
        var kernel = new Ipv4Address((our.ToUInt32() & 0xFFFF_FF00u) | (our.ToUInt32() % 256 == 1 ? 2u : 1u));
        TapLink link;
        try
        {
            link = TapLink.Create(new TapLinkOptions
            {
                Tap = new TapOptions { Name = ifname ?? "nmtap%d", ThreadedNapi = true, Mtu = mtu, Arena = arena },
                KernelAddress = new Ipv4Cidr(kernel, 24),
                KernelMtu = mtu,
            });
        }
        catch
        {
            arena.Dispose();
            throw;
        }
        var pools = new HashSet<PagePool>();
        NetStack? stack = null;
        NcdevmemServer? server = null;
        NcdevmemResult? result = null;
        long sent = -1;
        try
        {
            link.Device.Open();
            link.Device.CollectRxPagePools(pools);
            stack = NetStack.Create(link.Device, new Ipv4Cidr(our, 24));
            server = NcdevmemServer.Start(stack, link.Device, our, o, log);
            link.Device.CollectRxPagePools(pools);
            log.WriteLine($"{link}; the stack is {our}");
            using var cts = new CancellationTokenSource(timeout);
            var serving = server.RunAsync(cts.Token);
            Task<HostCommandResult>? clientRun = null;
            if (listenOnly)
                log.WriteLine($"listening; send the -v pattern from the namespace, e.g. (-v 7): ip netns exec {link.Namespace} sh -c " +
                    $"'yes \"$(printf \"\\\\001\\\\002\\\\003\\\\004\\\\005\\\\006\")\" | head -c 1G | nc {our} {o.Port}'");
            else
            {
                int v = o.SendModulus;
                string[] args = client == "socat" ? SocatClient(our, o.Port, o.Bytes, v)
                    : ["python3", "-c", PyClient, our.ToString(), o.Port.ToString(CultureInfo.InvariantCulture), o.Bytes.ToString(CultureInfo.InvariantCulture), v.ToString(CultureInfo.InvariantCulture)];
                log.WriteLine($"kernel client: {client} in {link.Namespace}");
                clientRun = Task.Run(() => link.Exec(timeout, args));
            }
            try
            {
                result = serving.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                result = new NcdevmemResult { Error = $"timed out after {timeout.TotalSeconds:0} s", Validated = o.Modulus != 0 };
            }
            if (clientRun is not null)
            {
                if (!result.Ok) cts.Cancel();
                var r = clientRun.GetAwaiter().GetResult();
                if (r.Succeeded && long.TryParse(r.Stdout.Trim(), CultureInfo.InvariantCulture, out long n)) sent = n;
                else log.WriteLine($"kernel client ({client} in {link.Namespace}) failed, exit {r.ExitCode}: {r.Stderr.Trim()}");
            }
            else sent = result.StreamBytes;
        }
        finally
        {
            server?.Dispose();
            link.Device.CollectRxPagePools(pools);
            stack?.Dispose();
            link.Dispose();
        }
        long inflight = 0;
        foreach (var p in pools) inflight += p.Inflight;
        int left = arena.UsedPages;
        if (left == 0) arena.Dispose();
        log.WriteLine($"kernel client sent {sent} bytes; {pools.Count} page_pools, inflight {inflight}; binding freed {server!.Binding.IsFreed}, dma-buf released {server.Buffer.IsReleased}; arena pages not returned {left}");
        return new NcdevmemRunResult(result!, sent, pools.Count, inflight, server.Binding.IsFreed, server.Buffer.IsReleased, left);
    }
}
