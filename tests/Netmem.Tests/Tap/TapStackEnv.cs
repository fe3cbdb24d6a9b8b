using System.Diagnostics;
using System.Text.Json;
using Netmem.Drivers.Tap;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Tests.Tap;

/// <summary>
/// The whole stack (<see cref="NetStack"/>: ARP, IPv4, ICMP, UDP, and TCP where wired) on a real tap whose
/// kernel side lives in a namespace of its own (10.202.x.1 is the kernel, 10.202.x.2 is us), on a private
/// arena. NAPI runs threaded by default (the driver's interrupt threads schedule it), so tests await socket
/// calls and run kernel tools in the namespace at the same time. Dispose closes the stack, removes the link
/// and namespace, and checks that every page_pool the device made is freed with inflight 0, no DMA mapping
/// is left and every arena page is back.
/// </summary>
internal sealed class TapStackEnv : IDisposable
{
    private static int s_subnet;
    private readonly HashSet<PagePool> _pools = [];
    private readonly ITestOutputHelper? _output;
    private bool _disposed;

    public TapStackEnv(TapOptions? tap = null, int? kernelMtu = null, NetStackOptions? options = null, int pages = 8192,
        ITestOutputHelper? output = null)
    {
        _output = output;
        Arena = new PageArena(new PageArenaOptions { PageCount = pages });
        int x = Interlocked.Increment(ref s_subnet) % 250;
        OurAddress = new Ipv4Address(10, 202, (byte)x, 2);
        try
        {
            Link = TapLink.Create(new TapLinkOptions
            {
                Tap = (tap ?? new TapOptions { ThreadedNapi = true }) with { Arena = Arena },
                KernelAddress = new Ipv4Cidr(new Ipv4Address(10, 202, (byte)x, 1), 24),
                KernelMtu = kernelMtu,
            });
        }
        catch
        {
            Arena.Dispose();
            throw;
        }
        Dev.Open();
        TrackPools();
        Stack = NetStack.Create(Dev, new Ipv4Cidr(OurAddress, 24), options: options);
    }

    public PageArena Arena { get; }
    public TapLink Link { get; }
    public TapDevice Dev => Link.Device;
    public NetStack Stack { get; }
    public NetInterface Iface => Stack.Interfaces[0];
    public Ipv4Address OurAddress { get; }
    public Ipv4Address KernelAddress => Link.KernelAddress.Address;
    public string Ns => Link.Namespace;
    public string Ifname => Link.InterfaceName;

    public void TrackPools()
    {
        Dev.CollectRxPagePools(_pools);
    }

    /// <summary>A program in the namespace, waited for up to <paramref name="timeout"/> (killed after that).</summary>
    public HostCommandResult Exec(TimeSpan timeout, params string[] args) => Link.Exec(timeout, args);

    /// <summary>A shell command line in the namespace.</summary>
    public HostCommandResult Sh(TimeSpan timeout, string command) => Link.Exec(timeout, "sh", "-c", command);

    /// <summary>Python code in the namespace with arguments.</summary>
    public HostCommandResult Python(TimeSpan timeout, string code, params string[] args) => Link.Exec(timeout, ["python3", "-c", code, .. args]);

    /// <summary>
    /// A kernel-side program that prints "ready" once it listens: starts it, waits for the line, runs
    /// <paramref name="whileRunning"/>, then waits for the program to exit. Everything bounded by <paramref name="timeout"/>.
    /// </summary>
    public async Task<HostCommandResult> RunWithAsync(TimeSpan timeout, Func<Task> whileRunning, params string[] args)
    {
        using var p = Link.Start(args);
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            string? line = await p.StandardOutput.ReadLineAsync(cts.Token);
            if (line != "ready")
            {
                Kill(p);
                return new HostCommandResult(-1, line ?? "", "never became ready: " + await Completed(stderr));
            }
            await whileRunning().WaitAsync(cts.Token);
            string rest = await p.StandardOutput.ReadToEndAsync(cts.Token);
            await p.WaitForExitAsync(cts.Token);
            return new HostCommandResult(p.ExitCode, rest, await Completed(stderr));
        }
        catch (OperationCanceledException)
        {
            Kill(p);
            return new HostCommandResult(-1, "", $"killed after {timeout.TotalSeconds:0.#} s: " + await Completed(stderr));
        }
        catch
        {
            Kill(p);
            throw;
        }
    }

    private static void Kill(Process p)
    {
        try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        p.WaitForExit(2000);
    }

    private static async Task<string> Completed(Task<string> t) => await Task.WhenAny(t, Task.Delay(1000)) == t ? t.Result : "";

    /// <summary>The kernel's neighbour entry for <paramref name="address"/> on the tap: (lladdr, states), or null.</summary>
    public (string? LlAddr, string[] States)? KernelNeighbour(Ipv4Address address)
    {
        string json = Link.Ip("-j", "neigh", "show", "dev", Ifname);
        using var doc = JsonDocument.Parse(string.IsNullOrWhiteSpace(json) ? "[]" : json);
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (e.GetProperty("dst").GetString() != address.ToString()) continue;
            string? ll = e.TryGetProperty("lladdr", out var l) ? l.GetString() : null;
            var states = e.TryGetProperty("state", out var s) ? s.EnumerateArray().Select(x => x.GetString() ?? "").ToArray() : [];
            return (ll, states);
        }
        return null;
    }

    /// <summary>Pins our address in the kernel's neighbour table, so no ARP crosses an impaired link.</summary>
    public void PinKernelNeighbour() =>
        Link.Ip("neigh", "replace", OurAddress.ToString(), "lladdr", Dev.Address.ToString(), "dev", Ifname, "nud", "permanent");

    /// <summary>Waits (bounded) until <paramref name="done"/>; true when it became true.</summary>
    public static async Task<bool> WaitUntilAsync(Func<bool> done, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!done())
        {
            if (sw.Elapsed > timeout) return false;
            await Task.Delay(10);
        }
        return true;
    }

    public void Log(string line) => _output?.WriteLine(line);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        TrackPools();
        Stack.Dispose();
        Link.Dispose();
        foreach (var p in _pools)
        {
            Assert.True(p.IsFreed, $"{p} (queue {p.Params.QueueIndex}) was not freed: {p.GetStats()}");
            Assert.Equal(0, p.Inflight);
        }
        Assert.Equal(0, Dev.Dma.LiveMappings);
        Assert.Equal(Arena.TotalPages, Arena.FreePages);
        Arena.Dispose();
    }
}
