using System.Diagnostics;
using System.IO.Hashing;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Netmem.Cli;

/// <summary>A baseline goodput measured in the same run as the stack's own figure, or why it could not be.</summary>
internal sealed record BaselineResult(string Name, double? GoodputGbps, long Bytes, string? Skipped);

/// <summary>
/// The reference points for <c>netmem perf</c>: the Linux kernel's own TCP over loopback (iperf3, one
/// stream, its default 128 KiB writes) and a plain .NET <see cref="Socket"/> over loopback (64 KiB async
/// sends). Both only ever talk to 127.0.0.1 and stop by themselves after the given time.
/// </summary>
internal static class PerfBaselines
{
    /// <summary>iperf3 -c 127.0.0.1 for <paramref name="seconds"/>; null goodput with a reason when iperf3 is absent.</summary>
    public static BaselineResult KernelLoopbackIperf3(double seconds)
    {
        string? iperf = FindOnPath("iperf3");
        if (iperf is null) return new("kernel-loopback-iperf3", null, 0, "iperf3 not found on PATH (apt-get install iperf3)");
        int port = FreeTcpPort();
        using var server = Process.Start(new ProcessStartInfo(iperf, ["-s", "-1", "-B", "127.0.0.1", "-p", port.ToString()])
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        try
        {
            string json = "";
            for (int attempt = 0; attempt < 50; attempt++) // the server needs a moment to listen
            {
                Thread.Sleep(100);
                using var client = Process.Start(new ProcessStartInfo(iperf,
                    ["-c", "127.0.0.1", "-p", port.ToString(), "-t", seconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture), "-J"])
                { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
                json = client.StandardOutput.ReadToEnd();
                if (!client.WaitForExit(TimeSpan.FromSeconds(seconds + 30))) { client.Kill(); break; }
                if (client.ExitCode == 0) break;
            }
            using var doc = JsonDocument.Parse(json);
            var sum = doc.RootElement.GetProperty("end").GetProperty("sum_received");
            double bps = sum.GetProperty("bits_per_second").GetDouble();
            long bytes = sum.GetProperty("bytes").GetInt64();
            return new("kernel-loopback-iperf3", bps / 1e9, bytes, null);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return new("kernel-loopback-iperf3", null, 0, $"iperf3 gave no result: {e.Message}");
        }
        finally
        {
            if (!server.HasExited) server.Kill();
            server.WaitForExit(5000);
        }
    }

    /// <summary>
    /// A .NET Socket pair over 127.0.0.1: one sender doing 64 KiB async sends of a counter pattern, one
    /// receiver hashing what it gets (XxHash3, compared with the sender's hash at the end).
    /// </summary>
    public static BaselineResult DotnetSocketLoopback(double seconds)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var endpoint = (IPEndPoint)listener.LocalEndPoint!;
        var stop = Stopwatch.StartNew();
        long limitTicks = (long)(seconds * Stopwatch.Frequency);

        var receiver = Task.Run(async () =>
        {
            using var s = await listener.AcceptAsync();
            var h = new XxHash3();
            var buf = new byte[256 * 1024];
            long total = 0;
            int n;
            while ((n = await s.ReceiveAsync(buf, SocketFlags.None)) > 0) { h.Append(buf.AsSpan(0, n)); total += n; }
            return (total, h.GetCurrentHashAsUInt64());
        });
        var sender = Task.Run(async () =>
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await s.ConnectAsync(endpoint);
            var buf = new byte[64 * 1024];
            var h = new XxHash3();
            long total = 0;
            uint counter = 0;
            do // at least one buffer, even when starting took the whole time
            {
                for (int i = 0; i < buf.Length; i += 4) { System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(i), counter++); }
                int sent = 0;
                while (sent < buf.Length) sent += await s.SendAsync(buf.AsMemory(sent), SocketFlags.None);
                h.Append(buf);
                total += buf.Length;
            }
            while (stop.ElapsedTicks < limitTicks);
            s.Shutdown(SocketShutdown.Send);
            return (total, h.GetCurrentHashAsUInt64());
        });
        var (sentBytes, sentHash) = sender.GetAwaiter().GetResult();
        double elapsed = stop.Elapsed.TotalSeconds;
        var (gotBytes, gotHash) = receiver.GetAwaiter().GetResult();
        if (gotBytes != sentBytes || gotHash != sentHash)
            return new("dotnet-socket-loopback", null, gotBytes, $"content mismatch: sent {sentBytes} B hash {sentHash:x16}, received {gotBytes} B hash {gotHash:x16}");
        return new("dotnet-socket-loopback", gotBytes * 8 / elapsed / 1e9, gotBytes, null);
    }

    internal static int FreeTcpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    internal static string? FindOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string p = Path.Combine(dir, name);
            if (File.Exists(p)) return p;
        }
        return null;
    }
}
