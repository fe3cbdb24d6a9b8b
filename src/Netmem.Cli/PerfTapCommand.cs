using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Netmem.Cli;

/// <summary><c>netmem perf tap</c>: the stack against the kernel over a tap, beside the kernel's own figures (see <see cref="TapPerf"/>).</summary>
internal static class PerfTapCommand
{
    /// <summary>The <c>tap</c> subcommand of <c>netmem perf</c>.</summary>
    public static Command Create()
    {
        var seconds = new Option<double>("--seconds") { Description = "Length of each measured run", DefaultValueFactory = _ => 3 };
        var noOffloads = new Option<bool>("--no-offloads") { Description = "Tap without checksum offload and TSO (plain 1500-byte frames)" };
        var json = new Option<bool>("--json") { Description = "Print compact JSON" };
        var tap = new Command("tap", "TCP goodput kernel client -> stack server over a tap vs. kernel TCP over veth; small-packet frames/s vs. the bare driver (needs root)")
            { seconds, noOffloads, json };
        tap.SetAction(r => RunTap(Console.Out, Console.Error, r.GetValue(seconds), !r.GetValue(noOffloads), r.GetValue(json)));
        return tap;
    }

    public static int RunTap(TextWriter o, TextWriter err, double seconds, bool offloads, bool json)
    {
        if (!(seconds > 0 && seconds <= 600))
        {
            err.WriteLine($"netmem perf tap: --seconds {seconds} must be in (0, 600]");
            return 2;
        }
        if (!TapPerf.CanRun(out string why))
        {
            err.WriteLine($"netmem perf tap: {why}");
            return 1;
        }
        TapPerfResult r;
        try
        {
            r = TapPerf.Run(seconds, offloads, json ? TextWriter.Null : err);
        }
        catch (Exception e) when (e is InvalidOperationException or NetmemErrnoException or IOException)
        {
            err.WriteLine($"netmem perf tap: {e.Message}");
            return 1;
        }
        if (json)
        {
            o.WriteLine(ToJson(r));
            return 0;
        }
        var c = CultureInfo.InvariantCulture;
        o.WriteLine(string.Create(c, $"tcp goodput, kernel client -> stack over tap (offloads {(r.Offloads ? "on" : "off")}): {r.GoodputGbps:0.00} Gbit/s"));
        o.WriteLine(string.Create(c, $"tcp goodput, kernel -> kernel over veth (same client):      {r.KernelVethGbps:0.00} Gbit/s  (stack/kernel {r.Ratio:0.00})"));
        o.WriteLine(string.Create(c, $"{r.FrameBytes}-byte frames/s  rx: stack {r.StackRxFps:0}, driver alone {r.RawTapRxFps:0}   tx: stack {r.StackTxFps:0}, driver alone {r.RawTapTxFps:0}"));
        o.WriteLine($"{r.Machine}; Linux {r.Kernel}; {r.Date}");
        return 0;
    }

    internal static string ToJson(TapPerfResult r)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("seconds", r.Seconds);
            w.WriteBoolean("offloads", r.Offloads);
            w.WriteString("client", r.Client);
            w.WriteNumber("goodput_gbps", r.GoodputGbps);
            w.WriteNumber("kernel_veth_gbps", r.KernelVethGbps);
            w.WriteNumber("ratio", Math.Round(r.Ratio, 3));
            w.WriteNumber("frame_bytes", r.FrameBytes);
            w.WriteNumber("stack_rx_fps", r.StackRxFps);
            w.WriteNumber("raw_tap_rx_fps", r.RawTapRxFps);
            w.WriteNumber("stack_tx_fps", r.StackTxFps);
            w.WriteNumber("raw_tap_tx_fps", r.RawTapTxFps);
            w.WriteString("machine", r.Machine);
            w.WriteString("kernel", r.Kernel);
            w.WriteString("date", r.Date);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }
}
