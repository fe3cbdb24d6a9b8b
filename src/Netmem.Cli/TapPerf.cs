using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Netmem.Cli.Apps;
using Netmem.Devices;
using Netmem.Drivers.Tap;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Cli;

/// <summary>What <c>netmem perf tap</c> measured (JSON field names in snake case).</summary>
internal sealed record TapPerfResult
{
    public required double Seconds { get; init; }
    public required bool Offloads { get; init; }
    public required string Client { get; init; }
    /// <summary>Kernel client (in the tap's namespace) to the stack's discard server over the tap.</summary>
    public required double GoodputGbps { get; init; }
    /// <summary>The same client to a kernel server over a veth pair between two namespaces.</summary>
    public required double KernelVethGbps { get; init; }
    public double Ratio => KernelVethGbps > 0 ? GoodputGbps / KernelVethGbps : 0;
    /// <summary>Ethernet frame size of the small-packet runs.</summary>
    public required int FrameBytes { get; init; }
    /// <summary>Small UDP frames per second the stack took in (through IP and UDP to the socket queue).</summary>
    public required double StackRxFps { get; init; }
    /// <summary>The same sender with the driver alone (readv into page_pool buffers, skb built and freed; no stack).</summary>
    public required double RawTapRxFps { get; init; }
    /// <summary>Small UDP datagrams per second the stack sent from a socket (64 in flight).</summary>
    public required double StackTxFps { get; init; }
    /// <summary>Prebuilt frames per second the driver wrote (one writev each), no stack.</summary>
    public required double RawTapTxFps { get; init; }
    public required string Machine { get; init; }
    public required string Kernel { get; init; }
    public required string Date { get; init; }
}

/// <summary>
/// <c>netmem perf tap</c>: the stack on a real tap against the kernel, beside the kernel's own figures
/// measured in the same run with the same client. Goodput: a Python TCP client in the tap's namespace
/// writes 256 KiB buffers for the given time to the stack's discard server (no hashing), and the same
/// client writes to a Python server over a veth pair between two namespaces made for it. Small packets:
/// a Python UDP sender floods 60-byte frames at the stack, then at the bare driver (frames freed on
/// arrival), counted over the same window with the NAPI busy polled; the stack sends from a UDP socket,
/// then the driver writes prebuilt frames, both on this thread. Everything happens inside namespaces made here and removed afterwards; every run is
/// bounded by the time asked for.
/// </summary>
internal static class TapPerf
{
    private const string PyTcpClient = """
import socket, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((host, port), timeout=30)
buf, n = bytes(1 << 18), 0
t0 = time.perf_counter(); end = t0 + secs
while time.perf_counter() < end:
    s.sendall(buf); n += len(buf)
s.shutdown(socket.SHUT_WR)
s.recv(1)
print(n, time.perf_counter() - t0)
""";

    private const string PyTcpServer = """
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(1); l.settimeout(30)
print('ready', flush=True)
c, a = l.accept()
b = bytearray(1 << 20)
while c.recv_into(b): pass
c.close()
""";

    /// <summary>Sends a burst of N datagrams for each "go N" line on stdin and answers "sent"; stops at EOF.</summary>
    private const string PyUdpBursts = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], int(sys.argv[2])))
d = bytes(int(sys.argv[3]))
print('ready', flush=True)
for line in sys.stdin:
    for _ in range(int(line.split()[1])):
        try: s.send(d)
        except OSError: pass
    print('sent', flush=True)
""";

    /// <summary>Frames per burst: below the tap's 1000-frame queue (txqueuelen), so none is dropped while we wait.</summary>
    private const int Burst = 800;

    /// <summary>UDP payload of the small-packet runs: 14 + 20 + 8 + 18 = a 60-byte frame (64 on a wire with the FCS).</summary>
    private const int SmallPayload = 18;

    public static bool CanRun(out string why)
    {
        if (!TapDevice.IsSupported(out why)) return false;
        foreach (var tool in new[] { "ip", "python3" })
            if (PerfBaselines.FindOnPath(tool) is null) { why = $"{tool} not found on PATH"; return false; }
        return true;
    }

    public static TapPerfResult Run(double seconds, bool offloads, TextWriter log)
    {
        var threaded = new TapOptions { ThreadedNapi = true, Offloads = offloads };
        var busyPoll = threaded with { ThreadedNapi = false };
        double goodput, veth, stackRx, rawRx, stackTx, rawTx;
        using (var arena = new PageArena(new PageArenaOptions { PageCount = 16384 }))
        {
            using (var env = new Env(threaded, arena, 1))
            {
                goodput = TcpGoodput(env, seconds);
                log.WriteLine($"stack over tap: {goodput:0.00} Gbit/s");
            }
            // Small packets are measured with this thread busy polling the NAPI (no interrupt or NAPI
            // thread wake-ups per frame, which on a loaded machine measure the scheduler), for the stack
            // and for the bare driver alike.
            using (var env = new Env(busyPoll, arena, 2))
            {
                stackRx = StackRx(env, seconds);
                stackTx = StackTx(env, seconds);
            }
            log.WriteLine($"stack small frames: rx {stackRx:0} /s, tx {stackTx:0} /s");
            using (var env = new Env(busyPoll, arena, 3, withStack: false))
            {
                rawRx = RawRx(env, seconds);
                rawTx = RawTx(env, seconds);
                log.WriteLine($"driver alone: rx {rawRx:0} /s, tx {rawTx:0} /s");
            }
        }
        veth = VethGoodput(seconds);
        log.WriteLine($"kernel over veth: {veth:0.00} Gbit/s");
        return new TapPerfResult
        {
            Seconds = seconds,
            Offloads = offloads,
            Client = "python3 (256 KiB sendall)",
            GoodputGbps = Math.Round(goodput, 3),
            KernelVethGbps = Math.Round(veth, 3),
            FrameBytes = 14 + 20 + 8 + SmallPayload,
            StackRxFps = Math.Round(stackRx),
            RawTapRxFps = Math.Round(rawRx),
            StackTxFps = Math.Round(stackTx),
            RawTapTxFps = Math.Round(rawTx),
            Machine = Machine(),
            Kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : Environment.OSVersion.VersionString,
            Date = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        };
    }

    private static string Machine()
    {
        string cpu = "unknown cpu";
        if (File.Exists("/proc/cpuinfo"))
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal)) { cpu = line[(line.IndexOf(':') + 1)..].Trim(); break; }
        return $"{cpu}, {Environment.ProcessorCount} cpus";
    }

    /// <summary>A tap link in a namespace of its own, with the stack on it (or a counting handler when <c>withStack</c> is false).</summary>
    private sealed class Env : IDisposable
    {
        public Env(TapOptions tap, PageArena arena, int subnet, bool withStack = true)
        {
            Link = TapLink.Create(new TapLinkOptions
            {
                Tap = tap with { Arena = arena },
                KernelAddress = new Ipv4Cidr(new Ipv4Address(10, 204, (byte)subnet, 1), 24),
            });
            Our = new Ipv4Address(10, 204, (byte)subnet, 2);
            Link.Device.Open();
            if (withStack) Stack = NetStack.Create(Link.Device, new Ipv4Cidr(Our, 24));
            else Link.Device.RxHandler = Counter;
            // Our MAC for the kernel, so no ARP is in any measured window.
            Link.Ip("neigh", "replace", Our.ToString(), "lladdr", Link.Device.Address.ToString(), "dev", Link.InterfaceName, "nud", "permanent");
        }

        public TapLink Link { get; }
        public TapDevice Dev => Link.Device;
        public NetStack? Stack { get; }
        public Ipv4Address Our { get; }
        public Ipv4Address Kernel => Link.KernelAddress.Address;
        public NetInterface Iface() => Stack!.Interfaces[0];
        public CountingHandler Counter { get; } = new();

        public void Dispose()
        {
            Stack?.Dispose();
            Link.Dispose();
        }
    }

    /// <summary>The driver-only receiver: counts each frame and frees it.</summary>
    private sealed class CountingHandler : INetdevRxHandler
    {
        private long _frames;
        public long Frames => Interlocked.Read(ref _frames);
        public void Receive(NetDevice dev, NetdevRxQueue queue, SkBuff skb)
        {
            Interlocked.Increment(ref _frames);
            skb.Free();
        }
    }

    private static double TcpGoodput(Env env, double seconds)
    {
        var server = new DiscardServer(env.Stack!, 9, hash: false);
        try
        {
            var r = env.Link.Exec(TimeSpan.FromSeconds(seconds + 60), "python3", "-c", PyTcpClient, env.Our.ToString(), "9", F(seconds));
            if (!r.Succeeded)
            {
                var ts = env.Stack!.Tcp.Stats;
                throw new InvalidOperationException($"tcp client over the tap failed (exit {r.ExitCode}): {r.Stderr.Trim()}; " +
                    $"server failures {server.Failures} ({server.LastError?.Message}); tcp resets sent {ts.OutResets}, drops {ts.TotalDrops}: " +
                    string.Join(", ", Enum.GetValues<Netmem.Stack.Tcp.TcpDropReason>().Where(d => d != Netmem.Stack.Tcp.TcpDropReason.Count && ts.GetDrops(d) > 0).Select(d => $"{d}={ts.GetDrops(d)}")));
            }
            return Gbps(r.Stdout);
        }
        finally
        {
            server.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(20));
        }
    }

    private static double Gbps(string clientOutput)
    {
        var f = clientOutput.Trim().Split(' ');
        return double.Parse(f[0], CultureInfo.InvariantCulture) * 8 / double.Parse(f[1], CultureInfo.InvariantCulture) / 1e9;
    }

    private static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>
    /// Small-packet receive rate: the kernel queues a burst of <see cref="Burst"/> frames in the tap while
    /// nobody reads, then this thread polls the NAPI until <paramref name="counter"/> has seen them all, timed.
    /// Bursts repeat for <paramref name="seconds"/>; the median burst rate is the figure (a burst the
    /// scheduler interrupted does not drag it down on a shared machine). <paramref name="between"/> runs
    /// after each burst, untimed.
    /// </summary>
    private static double BurstRx(Env env, double seconds, Func<long> counter, Action? between = null)
    {
        using var p = env.Link.Start("python3", "-c", PyUdpBursts, env.Our.ToString(), "9999", SmallPayload.ToString());
        try
        {
            if (!ReadLine(p, "ready")) throw new InvalidOperationException("the UDP burst sender never became ready: " + p.StandardError.ReadToEnd());
            var rates = new List<double>();
            var total = Stopwatch.StartNew();
            while (total.Elapsed.TotalSeconds < seconds || rates.Count < 3)
            {
                long c0 = counter();
                p.StandardInput.WriteLine($"go {Burst}");
                p.StandardInput.Flush();
                if (!ReadLine(p, "sent")) throw new InvalidOperationException("the UDP burst sender stopped");
                var sw = Stopwatch.StartNew();
                while (counter() - c0 < Burst && sw.ElapsedMilliseconds < 1000) env.Dev.PollAll();
                sw.Stop();
                long got = counter() - c0;
                if (got >= Burst / 2) rates.Add(got / sw.Elapsed.TotalSeconds);
                between?.Invoke();
                if (total.Elapsed.TotalSeconds > seconds + 30) break;
            }
            p.StandardInput.Close();
            if (!p.WaitForExit(TimeSpan.FromSeconds(10))) p.Kill(entireProcessTree: true);
            return Median(rates);
        }
        catch
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw;
        }
    }

    private static bool ReadLine(Process p, string want)
    {
        var t = p.StandardOutput.ReadLineAsync();
        return t.Wait(TimeSpan.FromSeconds(10)) && t.Result == want;
    }

    private static double Median(List<double> v)
    {
        if (v.Count == 0) return 0;
        v.Sort();
        return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
    }

    private static double StackRx(Env env, double seconds)
    {
        var stack = env.Stack!;
        using var sock = new UdpSocket(stack) { ReceiveBufferSize = 16 << 20 };
        sock.Bind(new UdpEndpoint(env.Our, 9999));
        var buf = new byte[2048];
        // Datagrams that went through IP and UDP into the socket's queue: the stack's work. The queue is
        // read empty between bursts (the application's work, not timed).
        return BurstRx(env, seconds, () => stack.Udp.Stats[UdpMib.InDatagrams] + stack.Udp.Stats[UdpMib.RcvbufErrors], () =>
        {
            while (sock.QueuedBytes > 0)
            {
                var t = sock.ReceiveAsync(buf);
                var sw = Stopwatch.StartNew();
                while (!t.IsCompleted && sw.ElapsedMilliseconds < 1000) env.Dev.PollAll(); // the receive runs on the socket's context
                if (!t.IsCompleted) break;
            }
        });
    }

    private static double RawRx(Env env, double seconds) => BurstRx(env, seconds, () => env.Counter.Frames);

    /// <summary>Times bursts of <paramref name="burst"/> sends for <paramref name="seconds"/>; the median burst rate.</summary>
    private static double BurstTx(double seconds, int burst, Action sendBurst)
    {
        var rates = new List<double>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds || rates.Count < 3)
        {
            var sw = Stopwatch.StartNew();
            sendBurst();
            rates.Add(burst / sw.Elapsed.TotalSeconds);
        }
        return Median(rates);
    }

    private static double StackTx(Env env, double seconds)
    {
        using var sock = new UdpSocket(env.Stack!);
        sock.Bind(new UdpEndpoint(env.Our, 5555));
        var dst = new UdpEndpoint(env.Kernel, 9999); // nobody listens: the kernel drops them (its ICMP errors are rate limited)
        var payload = new byte[SmallPayload];
        var first = sock.SendToAsync(payload, dst); // resolves the kernel's MAC first
        var w = Stopwatch.StartNew();
        while (!first.IsCompleted && w.ElapsedMilliseconds < 10_000) env.Dev.PollAll();
        if (!first.IsCompleted) throw new InvalidOperationException("the first stack UDP send did not complete");
        first.GetAwaiter().GetResult();
        while (env.Iface().Neighbours.Lookup(env.Kernel) is not { State: NeighbourState.Reachable } && w.ElapsedMilliseconds < 10_000) env.Dev.PollAll();
        const int inFlight = 64;
        var pending = new ValueTask<int>[inFlight];
        return BurstTx(seconds, inFlight * 4, () =>
        {
            for (int round = 0; round < 4; round++)
            {
                for (int i = 0; i < inFlight; i++) pending[i] = sock.SendToAsync(payload, dst);
                // The sends run on the socket's context: poll it here until every one has completed.
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < inFlight; i++)
                {
                    while (!pending[i].IsCompleted)
                    {
                        if (sw.ElapsedMilliseconds > 10_000) throw new InvalidOperationException("stack UDP sends did not complete");
                        env.Dev.PollAll();
                    }
                    pending[i].GetAwaiter().GetResult();
                }
            }
        });
    }

    private static double RawTx(Env env, double seconds)
    {
        var dev = env.Dev;
        var frame = SmallFrame(dev.Address, env.Link.KernelMac, env.Our, env.Kernel);
        using var cache = new SkbCache(new SkbCacheOptions { Arena = dev.Arena });
        return BurstTx(seconds, 256, () =>
        {
            for (int i = 0; i < 256; i++)
            {
                var skb = cache.Alloc(frame.Length + 64) ?? throw new InvalidOperationException("no skb for the raw TX run");
                skb.Reserve(64);
                skb.PutData(frame);
                dev.Transmit(skb);
            }
        });
    }

    /// <summary>Ethernet + IPv4 + UDP (checksum 0, allowed over IPv4) with an 18-byte zero payload.</summary>
    private static byte[] SmallFrame(EthernetAddress src, EthernetAddress dst, Ipv4Address from, Ipv4Address to)
    {
        var f = new byte[14 + 20 + 8 + SmallPayload];
        new EthernetRepr(src, dst, EtherType.Ipv4).Emit(f);
        var ip = f.AsSpan(14, 20);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 8 + SmallPayload));
        ip[8] = 64;
        ip[9] = (byte)IpProtocol.Udp;
        from.Write(ip[12..]);
        to.Write(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InetChecksum.Compute(ip));
        var udp = f.AsSpan(34, 8);
        BinaryPrimitives.WriteUInt16BigEndian(udp, 5556);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], 9999);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + SmallPayload));
        return f;
    }

    /// <summary>The kernel's own TCP: the same client in one namespace, a Python server in another, over a veth pair.</summary>
    private static double VethGoodput(double seconds)
    {
        int pid = Environment.ProcessId, k = 0;
        // Skip names an earlier process with the same pid left behind (killed before its cleanup).
        while (File.Exists($"/run/netns/nm-{pid}-pa{k}") || File.Exists($"/run/netns/nm-{pid}-pb{k}")) k++;
        string a = $"nm-{pid}-pa{k}", b = $"nm-{pid}-pb{k}";
        try
        {
            HostCommand.Ip("netns", "add", a);
            HostCommand.Ip("netns", "add", b);
            HostCommand.Ip("-n", a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", b);
            HostCommand.Ip("-n", a, "addr", "add", "10.205.0.1/24", "dev", "veth-a");
            HostCommand.Ip("-n", b, "addr", "add", "10.205.0.2/24", "dev", "veth-b");
            foreach (var (ns, dev) in new[] { (a, "veth-a"), (b, "veth-b"), (a, "lo"), (b, "lo") })
                HostCommand.Ip("-n", ns, "link", "set", dev, "up");
            using var server = HostCommand.Start("ip", ["netns", "exec", b, "python3", "-c", PyTcpServer, "10.205.0.2", "5201"]);
            try
            {
                var ready = server.StandardOutput.ReadLineAsync();
                if (!ready.Wait(TimeSpan.FromSeconds(10)) || ready.Result != "ready")
                    throw new InvalidOperationException("the veth server never became ready: " + server.StandardError.ReadToEnd());
                var r = HostCommand.Run("ip", ["netns", "exec", a, "python3", "-c", PyTcpClient, "10.205.0.2", "5201", F(seconds)], TimeSpan.FromSeconds(seconds + 60));
                if (!r.Succeeded) throw new InvalidOperationException($"tcp client over veth failed (exit {r.ExitCode}): {r.Stderr.Trim()}");
                server.WaitForExit(10_000);
                return Gbps(r.Stdout);
            }
            finally
            {
                if (!server.HasExited) server.Kill(entireProcessTree: true);
            }
        }
        finally
        {
            HostCommand.Run("ip", ["netns", "del", a], TimeSpan.FromSeconds(10));
            HostCommand.Run("ip", ["netns", "del", b], TimeSpan.FromSeconds(10));
        }
    }
}
