using System.CommandLine;
using Netmem.Cli.Ncdevmem;
using Netmem.Wire;

namespace Netmem.Cli;

/// <summary>
/// <c>netmem ncdevmem</c>: the kernel's devmem TCP selftest tool (tools/testing/selftests/drivers/net/hw/ncdevmem.c)
/// on this stack. With no arguments both ends run here over the VirtualNic pair and at least 1 GiB is
/// validated; <c>--tap</c> puts the server on a tap with a kernel client in a namespace. The exit code is 0
/// only for a run with no error and no mismatch whose teardown left every pool at inflight 0.
/// </summary>
internal static class NcdevmemCommand
{
    public static Command Create()
    {
        var listen = new Option<bool>("--listen", "-l") { Description = "Server only (with --tap): wait for a client started in the tap's namespace" };
        var server = new Option<string?>("--server", "-s") { Description = "The server's (the stack's) IPv4 address; --tap only (default 10.203.0.2, the kernel gets .1)" };
        var port = new Option<int>("--port", "-p") { Description = "TCP port", DefaultValueFactory = _ => 5201 };
        var validate = new Option<int>("--validate", "-v") { Description = "Validate the stream: byte i is (i + 1) mod V, 0 sent as '\\n' (2..256; 0 = off)", DefaultValueFactory = _ => 7 };
        var queues = new Option<int>("--queues", "-q") { Description = "Number of RX queues to bind", DefaultValueFactory = _ => 1 };
        var start = new Option<int>("--start-queue", "-t") { Description = "First RX queue to bind (default: the last queue(s), as ncdevmem picks)", DefaultValueFactory = _ => -1 };
        var ifname = new Option<string?>("--ifname", "-f") { Description = "Name of the receiving interface (default vnic1, or nmtap%d with --tap)" };
        var bytes = new Option<long>("--bytes") { Description = "Bytes the client sends (default 1 GiB)", DefaultValueFactory = _ => 1L << 30 };
        var pages = new Option<int>("--pages") { Description = "Size of the dma-buf in 4 KiB pages (ncdevmem's NUM_PAGES)", DefaultValueFactory = _ => NcdevmemOptions.DefaultPages };
        var devmem = new Option<bool>("--device-memory") { Description = "Bind device memory the CPU cannot read (checked through the verification hook) instead of a memfd udmabuf" };
        var mtu = new Option<int>("--mtu") { Description = "MTU of the link", DefaultValueFactory = _ => 1500 };
        var tap = new Option<bool>("--tap") { Description = "Server on a tap (root), a kernel-side python3 client in its namespace" };
        var timeout = new Option<double>("--timeout") { Description = "Give up after this many seconds", DefaultValueFactory = _ => 300 };
        var client = new Option<string>("--client") { Description = "The kernel-side client with --tap: python3, or socat (ncdevmem's yes | head -c | nc pipeline)", DefaultValueFactory = _ => "python3" };
        client.AcceptOnlyFromAmong("python3", "socat");
        var verbose = new Option<bool>("--verbose") { Description = "One line per received frag, as ncdevmem prints (slow)" };
        var cmd = new Command("ncdevmem", "devmem TCP netcat, as the kernel's ncdevmem selftest: bind a dma-buf to RX queues, receive with tokens, validate, DONTNEED")
            { listen, server, port, validate, queues, start, ifname, bytes, pages, devmem, mtu, tap, timeout, client, verbose };
        cmd.SetAction(r => Run(Console.Out, Console.Error, new NcdevmemOptions
        {
            Port = (ushort)Math.Clamp(r.GetValue(port), 0, 65535), Modulus = r.GetValue(validate), NumQueues = r.GetValue(queues),
            StartQueue = r.GetValue(start), Bytes = r.GetValue(bytes), Pages = r.GetValue(pages), DeviceMemory = r.GetValue(devmem), Verbose = r.GetValue(verbose),
        }, r.GetValue(tap), r.GetValue(listen), r.GetValue(server), r.GetValue(ifname), r.GetValue(mtu), r.GetValue(timeout), r.GetValue(port), r.GetValue(client) ?? "python3"));
        cmd.Subcommands.Add(CreateClient());
        return cmd;
    }

    /// <summary>
    /// <c>netmem ncdevmem client --tx devmem</c>: ncdevmem's client side (<c>do_client</c>) over the VirtualNic pair.
    /// With <c>--tx devmem</c> it writes the pattern into device memory, binds it for TX on vnic0 and sends from it
    /// (MSG_ZEROCOPY + SCM_DEVMEM_DMABUF); the ncdevmem server on vnic1 validates the stream byte for byte.
    /// </summary>
    private static Command CreateClient()
    {
        var tx = new Option<string>("--tx") { Description = "How the client sends: devmem (from device memory bound with bind-tx) or copy (ordinary sends)", DefaultValueFactory = _ => "devmem" };
        tx.AcceptOnlyFromAmong("devmem", "copy");
        var port = new Option<int>("--port", "-p") { Description = "TCP port", DefaultValueFactory = _ => 5201 };
        var validate = new Option<int>("--validate", "-v") { Description = "The pattern: byte i is (i + 1) mod V, 0 sent as '\\n' (2..256)", DefaultValueFactory = _ => 7 };
        var bytes = new Option<long>("--bytes") { Description = "Bytes the client sends (default 1 GiB)", DefaultValueFactory = _ => 1L << 30 };
        var mtu = new Option<int>("--mtu") { Description = "MTU of the link", DefaultValueFactory = _ => 1500 };
        var timeout = new Option<double>("--timeout") { Description = "Give up after this many seconds", DefaultValueFactory = _ => 300 };
        var cmd = new Command("client", "ncdevmem's client: send the pattern (from device memory with --tx devmem) to the ncdevmem server on the VirtualNic pair, which validates it")
            { tx, port, validate, bytes, mtu, timeout };
        cmd.SetAction(r => Run(Console.Out, Console.Error, new NcdevmemOptions
        {
            Port = (ushort)Math.Clamp(r.GetValue(port), 0, 65535), Modulus = r.GetValue(validate), Bytes = r.GetValue(bytes),
            TxDevmem = r.GetValue(tx) != "copy", DeviceMemory = true, Pages = 4096,
        }, mtu: r.GetValue(mtu), timeoutSeconds: r.GetValue(timeout), port: r.GetValue(port)));
        return cmd;
    }

    /// <summary>Runs ncdevmem; the log goes to <paramref name="o"/>, usage errors to <paramref name="err"/>. 0 = validated, drained.</summary>
    public static int Run(TextWriter o, TextWriter err, NcdevmemOptions opts, bool tap = false, bool listen = false, string? server = null,
        string? ifname = null, int mtu = 1500, double timeoutSeconds = 300, int port = -1, string client = "python3")
    {
        string? usage = Check(opts, tap, listen, server, mtu, timeoutSeconds, port, client, out var address);
        if (usage is not null)
        {
            err.WriteLine($"netmem ncdevmem: {usage}");
            return 2;
        }
        if (tap && !NcdevmemTap.CanRun(out string why, client))
        {
            err.WriteLine($"netmem ncdevmem --tap: {why}");
            return 1;
        }
        NcdevmemRunResult r;
        try
        {
            var timeout = TimeSpan.FromSeconds(timeoutSeconds);
            r = tap ? NcdevmemTap.Run(opts, ifname, address, mtu, listen, timeout, o, client) : NcdevmemLocal.Run(opts, mtu, ifname, timeout, o);
        }
        catch (Exception e) when (e is NetmemErrnoException or InvalidOperationException or IOException)
        {
            err.WriteLine($"netmem ncdevmem: {e.Message}");
            return 1;
        }
        var s = r.Server;
        o.WriteLine($"{(r.Ok ? "PASS" : "FAIL")}: {s.StreamBytes} of {r.Sent} bytes received in {s.Seconds:0.00} s ({s.Gbps:0.00} Gbit/s), " +
                    $"{(s.Validated ? $"{s.Mismatches} mismatches (-v {opts.Modulus})" : "not validated (-v 0)")}, {s.TokensReleased} tokens released by DONTNEED, " +
                    $"pool inflight {r.PoolInflight}{(s.Error is null ? "" : $"; error: {s.Error}")}");
        return r.Ok ? 0 : 1;
    }

    private static string? Check(NcdevmemOptions o, bool tap, bool listen, string? server, int mtu, double timeout, int port, string client, out Ipv4Address? address)
    {
        address = null;
        if (port is not -1 and (< 1 or > 65535)) return $"-p must be in [1, 65535], got {port}";
        if (o.Modulus != 0 && (o.Modulus < 2 || o.Modulus > 256)) return $"-v must be 0 (off) or in [2, 256], got {o.Modulus}";
        if (o.NumQueues < 1) return $"-q must be at least 1, got {o.NumQueues}";
        if (o.Bytes < 1) return $"--bytes must be positive, got {o.Bytes}";
        if (o.Pages < 64) return $"--pages must be at least 64, got {o.Pages}";
        if (mtu < 576 || mtu > 65535) return $"--mtu must be in [576, 65535], got {mtu}";
        if (!(timeout > 0)) return $"--timeout must be positive, got {timeout}";
        if (client is not ("python3" or "socat")) return $"--client must be python3 or socat, got {client}";
        if (client == "socat" && o.SendModulus == 11) return "--client socat cannot send the -v 11 stream (the shell drops the trailing byte 10); use python3";
        if (o.TxDevmem && tap) return "--tx devmem needs the VirtualNic pair: a tap has no netmem TX (bind-tx is EOPNOTSUPP there)";
        if (o.TxDevmem && o.Modulus == 0) return "--tx devmem sends the -v pattern for the server to validate: -v 0 is not allowed";
        if (!tap && listen) return "-l (server only) needs --tap: in memory both ends run in this process";
        if (!tap && server is not null) return "-s needs --tap: in memory the addresses are fixed (10.77.0.1 -> 10.77.0.2)";
        if (server is not null)
        {
            if (!Ipv4Address.TryParse(server, out var a)) return $"-s: '{server}' is not an IPv4 address";
            address = a;
        }
        return null;
    }
}
