using System.Diagnostics;
using Netmem.Drivers.Tap;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Tests.Tap;

/// <summary>
/// A real tap in a namespace of its own (10.201.x.1 is the kernel, 10.201.x.2 is us), on a private
/// arena, with the test responder as RxHandler and a TX skb cache. Dispose frees what the test kept,
/// removes the link and namespace, and checks that nothing leaked: every page_pool the device created
/// is freed with inflight 0 and every arena page is back.
/// </summary>
internal sealed class TapTestEnv : IDisposable
{
    private static int s_subnet;
    private readonly HashSet<PagePool> _pools = [];

    public TapTestEnv(TapOptions? tap = null, int? kernelMtu = null, int pages = 4096)
    {
        Arena = new PageArena(new PageArenaOptions { PageCount = pages });
        int x = Interlocked.Increment(ref s_subnet) % 250;
        var kernel = new Ipv4Address(10, 201, (byte)x, 1);
        OurAddress = new Ipv4Address(10, 201, (byte)x, 2);
        Link = TapLink.Create(new TapLinkOptions
        {
            Tap = (tap ?? new TapOptions()) with { Arena = Arena },
            KernelAddress = new Ipv4Cidr(kernel, 24),
            KernelMtu = kernelMtu,
        });
        Responder = new TestResponder(OurAddress);
        Dev.RxHandler = Responder;
        Dev.Open();
        TxCache = new SkbCache(new SkbCacheOptions { Arena = Arena });
        TrackPools();
    }

    public PageArena Arena { get; }
    public TapLink Link { get; }
    public TapDevice Dev => Link.Device;
    public TestResponder Responder { get; }
    public SkbCache TxCache { get; }
    public Ipv4Address OurAddress { get; }
    public Ipv4Address KernelAddress => Link.KernelAddress.Address;

    public void TrackPools()
    {
        Dev.CollectRxPagePools(_pools);
    }

    /// <summary>Polls the device (deterministic NAPI on this thread) until <paramref name="done"/> or the timeout; true when done.</summary>
    public bool PollUntil(Func<bool> done, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            Dev.PollAll();
            if (done()) return true;
            if (sw.Elapsed > timeout) return false;
            Dev.WaitForRx(10);
        }
    }

    /// <summary>Runs a program in the namespace while this thread polls the device; bounded by <paramref name="timeout"/>.</summary>
    public HostCommandResult RunPolling(TimeSpan timeout, params string[] args)
    {
        using var p = Link.Start(args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        bool exited = PollUntil(() => p.HasExited, timeout);
        if (!exited)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit(2000);
            return new HostCommandResult(-1, stdout.Wait(1000) ? stdout.Result : "", "killed after timeout; " + (stderr.Wait(1000) ? stderr.Result : ""));
        }
        p.WaitForExit();
        return new HostCommandResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// Runs a program in the namespace that prints "ready" when it is listening; polls the device until
    /// then, calls <paramref name="onReady"/>, and polls on until the program exits (bounded by <paramref name="timeout"/>).
    /// </summary>
    public HostCommandResult RunWhenReady(TimeSpan timeout, Action onReady, params string[] args)
    {
        using var p = Link.Start(args);
        var stderr = p.StandardError.ReadToEndAsync();
        var ready = p.StandardOutput.ReadLineAsync();
        if (!PollUntil(() => ready.IsCompleted, timeout) || ready.Result != "ready")
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit(2000);
            return new HostCommandResult(-1, "", "never became ready; " + (stderr.Wait(1000) ? stderr.Result : ""));
        }
        onReady();
        var rest = p.StandardOutput.ReadToEndAsync();
        if (!PollUntil(() => p.HasExited, timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit(2000);
            return new HostCommandResult(-1, rest.Wait(1000) ? rest.Result : "", "killed after timeout; " + (stderr.Wait(1000) ? stderr.Result : ""));
        }
        p.WaitForExit();
        return new HostCommandResult(p.ExitCode, rest.Result, stderr.Result);
    }

    public void Dispose()
    {
        Responder.FreeAll();
        TrackPools();
        Link.Dispose();
        TxCache.Dispose();
        foreach (var p in _pools)
        {
            Assert.True(p.IsFreed, $"{p} (queue {p.Params.QueueIndex}) was not freed: {p.GetStats()}");
            Assert.Equal(0, p.Inflight);
        }
        Assert.True(TxCache.HeadPool.IsFreed);
        Assert.Equal(0, Dev.Dma.LiveMappings);
        Assert.Equal(Arena.TotalPages, Arena.FreePages);
        Arena.Dispose();
    }
}
