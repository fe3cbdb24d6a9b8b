using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Netmem.Cli;

/// <summary>
/// <c>netmem perf tcp</c>: single-flow goodput between two stacks over the VirtualNic pair, with the
/// kernel's loopback TCP (iperf3) and a plain .NET Socket over loopback measured in the same run;
/// <c>netmem perf tap</c> (<see cref="PerfTapCommand"/>): the stack against the kernel over a tap.
/// </summary>
internal static class PerfCommands
{
    public static Command Create()
    {
        var perf = new Command("perf", "Measure the stack against baselines taken in the same run");

        var seconds = new Option<double>("--seconds") { Description = "Measured time per figure (after the warm-up)", DefaultValueFactory = _ => 5 };
        var mtu = new Option<int>("--mtu") { Description = "MTU of both VirtualNics", DefaultValueFactory = _ => 1500 };
        var noTso = new Option<bool>("--no-tso") { Description = "Turn TSO off on the sender" };
        var noBaselines = new Option<bool>("--no-baselines") { Description = "Skip the kernel and .NET Socket loopback baselines" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var warmup = new Option<double>("--warmup") { Description = "Seconds of transfer before measuring (windows open, pools and caches fill)", DefaultValueFactory = _ => 1 };
        var allocTrace = new Option<bool>("--alloc-trace") { Description = "Sample managed allocations in the measured window by type (GC allocation ticks) and print the top ones" };
        var zerocopy = new Option<bool>("--zerocopy") { Description = "MSG_ZEROCOPY sends (SendZeroCopyAsync) against copying sends, measured in the same run (64 KiB writes unless --write-size)" };
        var writeSize = new Option<int>("--write-size") { Description = "Bytes per write (default 256 KiB; 64 KiB with --zerocopy)" };
        var tcp = new Command("tcp", "TCP goodput between two stacks over the in-memory VirtualNic pair (one NAPI thread per side), every byte verified")
        { seconds, warmup, mtu, noTso, noBaselines, json, allocTrace, zerocopy, writeSize };
        tcp.SetAction(r => r.GetValue(zerocopy)
            ? RunTcpZerocopy(Console.Out, Console.Error, r.GetValue(seconds), r.GetValue(mtu), !r.GetValue(noTso), r.GetValue(json), r.GetValue(warmup), r.GetValue(writeSize) is > 0 and var w ? w : 64 * 1024)
            : RunTcp(Console.Out, Console.Error, r.GetValue(seconds), r.GetValue(mtu), !r.GetValue(noTso), !r.GetValue(noBaselines), r.GetValue(json), r.GetValue(allocTrace), r.GetValue(warmup), r.GetValue(writeSize) is > 0 and var ws ? ws : 256 * 1024));
        perf.Subcommands.Add(tcp);
        perf.Subcommands.Add(PerfTapCommand.Create());

        var dSeconds = new Option<double>("--seconds") { Description = "Measured time per receive mode (after the warm-up)", DefaultValueFactory = _ => 3 };
        var dWarmup = new Option<double>("--warmup") { Description = "Seconds of transfer in each mode before the measured windows (tiered JIT, pools, caches)", DefaultValueFactory = _ => 2 };
        var dMtu = new Option<int>("--mtu") { Description = "MTU of both VirtualNics", DefaultValueFactory = _ => 1500 };
        var dJson = new Option<bool>("--json") { Description = "Print one JSON object" };
        var devmem = new Command("devmem", "devmem receive (memfd dma-buf, tokens, in-place validation, DONTNEED) vs. receive into host memory, same run, same sender, every byte verified")
        { dSeconds, dWarmup, dMtu, dJson };
        devmem.SetAction(r => RunDevmem(Console.Out, Console.Error, r.GetValue(dSeconds), r.GetValue(dWarmup), r.GetValue(dMtu), r.GetValue(dJson)));
        perf.Subcommands.Add(devmem);

        var zSeconds = new Option<double>("--seconds") { Description = "Measured time per receive mode (after the warm-up)", DefaultValueFactory = _ => 3 };
        var zWarmup = new Option<double>("--warmup") { Description = "Seconds of transfer in each mode before the measured windows (tiered JIT, pools, caches)", DefaultValueFactory = _ => 2 };
        var zMtu = new Option<int>("--mtu") { Description = "MTU of both VirtualNics", DefaultValueFactory = _ => 1500 };
        var zJson = new Option<bool>("--json") { Description = "Print one JSON object" };
        var zcrx = new Command("zcrx", "io_uring zero-copy receive into application memory (refill ring, in-place validation) vs. the copying socket receive, same run, same sender, every byte verified")
        { zSeconds, zWarmup, zMtu, zJson };
        zcrx.SetAction(r => RunZcrx(Console.Out, Console.Error, r.GetValue(zSeconds), r.GetValue(zWarmup), r.GetValue(zMtu), r.GetValue(zJson)));
        perf.Subcommands.Add(zcrx);
        return perf;
    }

    public static int RunTcp(TextWriter o, TextWriter err, double seconds, int mtu, bool tso, bool baselines, bool json, bool allocTrace = false, double warmup = 1, int writeSize = 256 * 1024)
    {
        if (writeSize <= 0 || writeSize > 16 << 20)
        {
            err.WriteLine($"netmem perf tcp: --write-size must be in (0, 16 MiB], got {writeSize}");
            return 2;
        }
        if (!(seconds > 0 && seconds <= 600))
        {
            err.WriteLine($"netmem perf tcp: --seconds must be in (0, 600], got {seconds}");
            return 2;
        }
        if (!(warmup >= 0 && warmup <= 60))
        {
            err.WriteLine($"netmem perf tcp: --warmup must be in [0, 60], got {warmup}");
            return 2;
        }
        if (mtu < 576 || mtu > 65535)
        {
            err.WriteLine($"netmem perf tcp: --mtu must be in [576, 65535], got {mtu}");
            return 2;
        }
        PerfTcpResult r;
        using var sampler = allocTrace ? new AllocationSampler() : null;
        try
        {
            r = PerfTcp.Run(new PerfTcpOptions { Seconds = seconds, WarmupSeconds = warmup, Mtu = mtu, Tso = tso, Sampler = sampler, WriteSize = writeSize });
        }
        catch (Exception e) when (e is TimeoutException or NetmemErrnoException or AggregateException)
        {
            err.WriteLine($"netmem perf tcp: {e.GetBaseException().Message}");
            return 1;
        }
        BaselineResult? kernel = null, dotnet = null;
        if (baselines)
        {
            kernel = PerfBaselines.KernelLoopbackIperf3(seconds);
            dotnet = PerfBaselines.DotnetSocketLoopback(seconds);
        }
        var doc = new Dictionary<string, object?>
        {
            ["goodput_gbps"] = Math.Round(r.GoodputGbps, 3),
            ["bytes"] = r.Bytes,
            ["seconds"] = Math.Round(r.Seconds, 3),
            ["verified"] = r.Verified,
            ["verify_error"] = r.VerifyError,
            ["alloc_bytes_per_packet"] = Math.Round(r.AllocBytesPerPacket, 3),
            ["allocated_bytes"] = r.AllocatedBytes,
            ["napi_thread_alloc_bytes"] = r.NapiAllocatedBytes,
            ["packets"] = r.Packets,
            ["retransmits"] = r.Retransmits,
            ["pool_inflight"] = r.PoolInflight,
            ["arena_pages_left"] = r.ArenaPagesLeft,
            ["mtu"] = r.Mtu,
            ["tso"] = r.Tso,
            ["kernel_loopback_gbps"] = Round(kernel?.GoodputGbps),
            ["kernel_loopback_skipped"] = kernel?.Skipped,
            ["dotnet_socket_gbps"] = Round(dotnet?.GoodputGbps),
            ["dotnet_socket_skipped"] = dotnet?.Skipped,
            ["ratio_to_kernel"] = kernel?.GoodputGbps is > 0 ? Math.Round(r.GoodputGbps / kernel.GoodputGbps.Value, 3) : null,
            ["cores"] = Environment.ProcessorCount,
            ["runtime"] = RuntimeInformation.FrameworkDescription,
            ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd"),
        };
        if (sampler is not null)
            doc["alloc_trace"] = sampler.Top(15).Select(t => new Dictionary<string, object> { ["type"] = t.Type, ["sampled_bytes"] = t.Bytes }).ToList();
        if (json) o.WriteLine(JsonSerializer.Serialize(doc));
        else
        {
            o.WriteLine($"netmem tcp over VirtualNic (mtu {r.Mtu}, tso {(r.Tso ? "on" : "off")}): {r.GoodputGbps:0.000} Gbit/s, {r.Bytes} bytes in {r.Seconds:0.00} s, verified {r.Verified}{(r.VerifyError is null ? "" : $" ({r.VerifyError})")}");
            o.WriteLine($"  {r.AllocBytesPerPacket:0.###} managed bytes allocated per packet ({r.AllocatedBytes} B over {r.Packets} frames; {r.NapiAllocatedBytes} B on the NAPI threads), {r.Retransmits} retransmits, pool inflight {r.PoolInflight}");
            if (kernel is not null) o.WriteLine($"  kernel loopback (iperf3): {(kernel.GoodputGbps is { } k ? $"{k:0.000} Gbit/s" : kernel.Skipped)}");
            if (dotnet is not null) o.WriteLine($"  .NET Socket loopback:     {(dotnet.GoodputGbps is { } d ? $"{d:0.000} Gbit/s" : dotnet.Skipped)}");
            if (sampler is not null)
                foreach (var (type, bytes) in sampler.Top(15)) o.WriteLine($"  allocated (sampled): {bytes,12} B  {type}");
        }
        return r.Verified && r.PoolInflight == 0 && r.ArenaPagesLeft == 0 ? 0 : 1;
    }

    /// <summary>
    /// <c>netmem perf tcp --zerocopy</c>: the same single flow with copying sends and with MSG_ZEROCOPY sends of the
    /// same size, in one run, in two rounds of opposite order (copy, zero-copy, zero-copy, copy; fresh stacks and a
    /// warm-up each, half the measured time each) so both modes see the same JIT tier and machine load; every byte
    /// verified by the receiver. Reports each mode's goodput over its windows and the bytes the sending stack
    /// copied per byte delivered.
    /// </summary>
    public static int RunTcpZerocopy(TextWriter o, TextWriter err, double seconds, int mtu, bool tso, bool json, double warmup, int writeSize)
    {
        if (!CheckWindowArgs(err, "tcp", seconds, warmup, mtu)) return 2;
        if (writeSize <= 0 || writeSize > 16 << 20) { err.WriteLine($"netmem perf tcp: --write-size must be in (0, 16 MiB], got {writeSize}"); return 2; }
        PerfTcpResult copy, zc;
        try
        {
            var opts = new PerfTcpOptions { Seconds = seconds / 2, WarmupSeconds = warmup, Mtu = mtu, Tso = tso, WriteSize = writeSize };
            var c1 = PerfTcp.Run(opts);
            var z1 = PerfTcp.Run(opts with { ZeroCopy = true });
            var z2 = PerfTcp.Run(opts with { ZeroCopy = true });
            var c2 = PerfTcp.Run(opts);
            copy = Combine(c1, c2);
            zc = Combine(z1, z2);
        }
        catch (Exception e) when (e is TimeoutException or NetmemErrnoException or AggregateException or InvalidOperationException)
        {
            err.WriteLine($"netmem perf tcp --zerocopy: {e.GetBaseException().Message}");
            return 1;
        }
        bool verified = copy.Verified && zc.Verified;
        var doc = new Dictionary<string, object?>
        {
            ["zerocopy_gbps"] = Math.Round(zc.GoodputGbps, 3),
            ["copy_gbps"] = Math.Round(copy.GoodputGbps, 3),
            ["ratio_zerocopy_to_copy"] = copy.GoodputGbps > 0 ? Math.Round(zc.GoodputGbps / copy.GoodputGbps, 3) : null,
            ["verified"] = verified,
            ["verify_error"] = zc.VerifyError ?? copy.VerifyError,
            ["zerocopy_copied_per_byte"] = Math.Round(zc.CopiedPerByte, 6),
            ["copy_copied_per_byte"] = Math.Round(copy.CopiedPerByte, 6),
            ["zerocopy_bytes"] = zc.Bytes,
            ["copy_bytes"] = copy.Bytes,
            ["zerocopy_sends"] = zc.ZerocopySends,
            ["zerocopy_alloc_bytes_per_packet"] = Math.Round(zc.AllocBytesPerPacket, 3),
            ["copy_alloc_bytes_per_packet"] = Math.Round(copy.AllocBytesPerPacket, 3),
            ["zerocopy_retransmits"] = zc.Retransmits,
            ["copy_retransmits"] = copy.Retransmits,
            ["write_size"] = writeSize,
            ["seconds"] = Math.Round(zc.Seconds, 3),
            ["pool_inflight"] = zc.PoolInflight + copy.PoolInflight,
            ["arena_pages_left"] = zc.ArenaPagesLeft + copy.ArenaPagesLeft,
            ["mtu"] = mtu,
            ["tso"] = tso,
            ["cores"] = Environment.ProcessorCount,
            ["runtime"] = RuntimeInformation.FrameworkDescription,
            ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd"),
        };
        if (json) o.WriteLine(JsonSerializer.Serialize(doc));
        else
        {
            o.WriteLine($"netmem tcp over VirtualNic (mtu {mtu}, tso {(tso ? "on" : "off")}, {writeSize}-byte writes):");
            o.WriteLine($"  copying sends:  {copy.GoodputGbps:0.000} Gbit/s, {copy.CopiedPerByte:0.###} bytes copied per byte, verified {copy.Verified}");
            o.WriteLine($"  zero-copy:      {zc.GoodputGbps:0.000} Gbit/s, {zc.CopiedPerByte:0.###} bytes copied per byte, verified {zc.Verified} ({zc.ZerocopySends} zero-copy sends)");
            if (!verified) o.WriteLine($"  verify error: {zc.VerifyError ?? copy.VerifyError}");
        }
        return verified && zc.PoolInflight + copy.PoolInflight == 0 && zc.ArenaPagesLeft + copy.ArenaPagesLeft == 0 ? 0 : 1;
    }

    // Two windows of one mode as one figure: bytes over time, copies over bytes, every check of both.
    private static PerfTcpResult Combine(PerfTcpResult a, PerfTcpResult b)
    {
        double secs = a.Seconds + b.Seconds;
        long bytes = a.Bytes + b.Bytes, packets = a.Packets + b.Packets, alloc = a.AllocatedBytes + b.AllocatedBytes;
        return a with
        {
            GoodputGbps = secs > 0 ? bytes * 8 / secs / 1e9 : 0,
            Bytes = bytes,
            Seconds = secs,
            Verified = a.Verified && b.Verified,
            VerifyError = a.VerifyError ?? b.VerifyError,
            Packets = packets,
            AllocatedBytes = alloc,
            AllocBytesPerPacket = packets > 0 ? (double)alloc / packets : 0,
            Retransmits = a.Retransmits + b.Retransmits,
            PoolInflight = a.PoolInflight + b.PoolInflight,
            ArenaPagesLeft = a.ArenaPagesLeft + b.ArenaPagesLeft,
            TxCopiedBytes = a.TxCopiedBytes + b.TxCopiedBytes,
            ZerocopySends = a.ZerocopySends + b.ZerocopySends,
        };
    }

    /// <summary>The range checks every windowed perf mode shares; false (after saying which) when one fails.</summary>
    private static bool CheckWindowArgs(TextWriter err, string mode, double seconds, double warmup, int mtu)
    {
        string? why = !(seconds > 0 && seconds <= 600) ? $"--seconds must be in (0, 600], got {seconds}"
            : !(warmup >= 0 && warmup <= 60) ? $"--warmup must be in [0, 60], got {warmup}"
            : mtu < 576 || mtu > 65535 ? $"--mtu must be in [576, 65535], got {mtu}" : null;
        if (why is not null) err.WriteLine($"netmem perf {mode}: {why}");
        return why is null;
    }

    /// <summary>Runs a perf mode; a failure the run can report (timeout, errno, cancellation) is one line on stderr.</summary>
    private static bool TryRun<T>(TextWriter err, string mode, Func<T> run, out T result)
    {
        try
        {
            result = run();
            return true;
        }
        catch (Exception e) when (e is TimeoutException or NetmemErrnoException or AggregateException or OperationCanceledException)
        {
            err.WriteLine($"netmem perf {mode}: {e.GetBaseException().Message}");
            result = default!;
            return false;
        }
    }

    public static int RunDevmem(TextWriter o, TextWriter err, double seconds, double warmup, int mtu, bool json)
    {
        if (!CheckWindowArgs(err, "devmem", seconds, warmup, mtu)) return 2;
        if (!TryRun(err, "devmem", () => PerfDevmem.Run(seconds, warmup, mtu), out var r)) return 1;
        var doc = new Dictionary<string, object?>
        {
            ["devmem_gbps"] = Math.Round(r.Devmem.Gbps, 3),
            ["host_gbps"] = Math.Round(r.Host.Gbps, 3),
            ["ratio"] = Math.Round(r.Ratio, 3),
            ["verified"] = r.Verified,
            ["verify_error"] = r.VerifyError,
            ["devmem_bytes"] = r.Devmem.Bytes,
            ["host_bytes"] = r.Host.Bytes,
            ["bytes"] = r.Devmem.Bytes + r.Host.Bytes,
            ["seconds"] = Math.Round(r.Devmem.Seconds, 3),
            ["devmem_packets"] = r.Devmem.Packets,
            ["host_packets"] = r.Host.Packets,
            ["devmem_alloc_bytes_per_packet"] = Math.Round(r.Devmem.AllocBytesPerPacket, 3),
            ["host_alloc_bytes_per_packet"] = Math.Round(r.Host.AllocBytesPerPacket, 3),
            ["devmem_cpu_ns_per_byte"] = Math.Round(r.Devmem.CpuNsPerByte, 4),
            ["host_cpu_ns_per_byte"] = Math.Round(r.Host.CpuNsPerByte, 4),
            ["pool_inflight"] = r.PoolInflight,
            ["binding_freed"] = r.BindingFreed,
            ["arena_pages_left"] = r.ArenaPagesLeft,
            ["mtu"] = r.Mtu,
            ["cores"] = Environment.ProcessorCount,
            ["runtime"] = RuntimeInformation.FrameworkDescription,
            ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd"),
        };
        if (json) o.WriteLine(JsonSerializer.Serialize(doc));
        else
        {
            o.WriteLine($"devmem receive (memfd dma-buf, validated in place, DONTNEED): {r.Devmem.Gbps:0.000} Gbit/s, {r.Devmem.Bytes} bytes in {r.Devmem.Seconds:0.00} s, {r.Devmem.AllocBytesPerPacket:0.###} B allocated per packet, {r.Devmem.CpuNsPerByte:0.000} ns cpu per byte");
            o.WriteLine($"host receive (ReceiveAsync copy, validated):                  {r.Host.Gbps:0.000} Gbit/s, {r.Host.Bytes} bytes in {r.Host.Seconds:0.00} s, {r.Host.AllocBytesPerPacket:0.###} B allocated per packet, {r.Host.CpuNsPerByte:0.000} ns cpu per byte");
            o.WriteLine($"  devmem/host {r.Ratio:0.00}, MTU {r.Mtu}, verified {r.Verified}{(r.VerifyError is null ? "" : $" ({r.VerifyError})")}, pool inflight {r.PoolInflight}, binding freed {r.BindingFreed}");
        }
        return r.Verified && r.PoolInflight == 0 && r.BindingFreed && r.ArenaPagesLeft == 0 ? 0 : 1;
    }

    public static int RunZcrx(TextWriter o, TextWriter err, double seconds, double warmup, int mtu, bool json)
    {
        if (!CheckWindowArgs(err, "zcrx", seconds, warmup, mtu)) return 2;
        if (!TryRun(err, "zcrx", () => PerfZcrx.Run(seconds, warmup, mtu), out var r)) return 1;
        var doc = new Dictionary<string, object?>
        {
            ["zcrx_gbps"] = Math.Round(r.Zcrx.Gbps, 3),
            ["copy_gbps"] = Math.Round(r.Copy.Gbps, 3),
            ["ratio"] = Math.Round(r.Ratio, 3),
            ["verified"] = r.Verified,
            ["verify_error"] = r.VerifyError,
            ["zcrx_bytes"] = r.Zcrx.Bytes,
            ["copy_bytes"] = r.Copy.Bytes,
            ["seconds"] = Math.Round(r.Zcrx.Seconds, 3),
            ["zcrx_packets"] = r.Zcrx.Packets,
            ["copy_packets"] = r.Copy.Packets,
            // ns of process CPU time per byte is the same number as CPU seconds per GB (1e9 bytes).
            ["zcrx_cpu_s_per_gb"] = Math.Round(r.Zcrx.CpuNsPerByte, 4),
            ["copy_cpu_s_per_gb"] = Math.Round(r.Copy.CpuNsPerByte, 4),
            ["zcrx_alloc_bytes_per_packet"] = Math.Round(r.Zcrx.AllocBytesPerPacket, 3),
            ["copy_alloc_bytes_per_packet"] = Math.Round(r.Copy.AllocBytesPerPacket, 3),
            ["zcrx_zero_copy_bytes"] = r.Stats.ZeroCopyBytes,
            ["zcrx_copy_fallback_bytes"] = r.Stats.CopyBytes,
            ["refill_entries"] = r.Stats.RefillEntries,
            ["refill_placed_in_cache"] = r.Stats.RefillPlacedInCache,
            ["refill_malformed"] = r.Stats.RefillMalformed,
            ["pool_inflight"] = r.PoolInflight,
            ["area_freed"] = r.AreaFreed,
            ["arena_pages_left"] = r.ArenaPagesLeft,
            ["mtu"] = r.Mtu,
            ["cores"] = Environment.ProcessorCount,
            ["runtime"] = RuntimeInformation.FrameworkDescription,
            ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd"),
        };
        if (json) o.WriteLine(JsonSerializer.Serialize(doc));
        else
        {
            o.WriteLine($"zcrx receive (application memory, validated in place, refill ring): {r.Zcrx.Gbps:0.000} Gbit/s, {r.Zcrx.Bytes} bytes in {r.Zcrx.Seconds:0.00} s, {r.Zcrx.CpuNsPerByte:0.000} s cpu per GB, {r.Zcrx.AllocBytesPerPacket:0.###} B allocated per packet");
            o.WriteLine($"copy receive (ReceiveAsync into a buffer, validated):              {r.Copy.Gbps:0.000} Gbit/s, {r.Copy.Bytes} bytes in {r.Copy.Seconds:0.00} s, {r.Copy.CpuNsPerByte:0.000} s cpu per GB, {r.Copy.AllocBytesPerPacket:0.###} B allocated per packet");
            o.WriteLine($"  zcrx/copy {r.Ratio:0.00}, MTU {r.Mtu}, verified {r.Verified}{(r.VerifyError is null ? "" : $" ({r.VerifyError})")}, {r.Stats.ZeroCopyBytes} bytes zero copy, {r.Stats.CopyBytes} copied by the fallback, pool inflight {r.PoolInflight}, area freed {r.AreaFreed}");
        }
        return r.Verified && r.PoolInflight == 0 && r.AreaFreed && r.ArenaPagesLeft == 0 ? 0 : 1;
    }

    private static double? Round(double? v) => v is { } x ? Math.Round(x, 3) : null;
}
