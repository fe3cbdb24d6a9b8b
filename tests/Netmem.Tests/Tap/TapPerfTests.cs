using System.Text.Json;
using Netmem.Cli;

namespace Netmem.Tests.Tap;

/// <summary><c>netmem perf tap --seconds 0.3 --json</c> runs briefly and prints every figure it promises.</summary>
public sealed class TapPerfTests(ITestOutputHelper output)
{
    [Fact]
    public void Perf_tap_prints_goodput_beside_the_kernel_veth_figure_and_small_packet_rates()
    {
        Requires.TapStack();
        var o = new StringWriter();
        var err = new StringWriter();
        int rc = PerfTapCommand.RunTap(o, err, seconds: 0.3, offloads: true, json: true);
        output.WriteLine(o.ToString());
        Assert.True(rc == 0, err.ToString());
        using var doc = JsonDocument.Parse(o.ToString());
        var r = doc.RootElement;
        foreach (var field in new[] { "goodput_gbps", "kernel_veth_gbps", "stack_rx_fps", "raw_tap_rx_fps", "stack_tx_fps", "raw_tap_tx_fps" })
            Assert.True(r.GetProperty(field).GetDouble() > 0, $"{field} is not positive: {r}");
        Assert.True(r.GetProperty("offloads").GetBoolean());
        Assert.Equal(0.3, r.GetProperty("seconds").GetDouble());
        Assert.Equal(60, r.GetProperty("frame_bytes").GetInt32());
        Assert.InRange(r.GetProperty("ratio").GetDouble(), 0.0001, 1000);
        Assert.False(string.IsNullOrEmpty(r.GetProperty("machine").GetString()));
        // Everything it made is gone: no namespace of this process is left.
        var ns = Netmem.Drivers.Tap.HostCommand.Run("ip", ["netns", "list"], TimeSpan.FromSeconds(5)).Stdout;
        Assert.DoesNotContain($"nm-{Environment.ProcessId}-p", ns);
    }

    [Fact]
    public void Perf_tap_rejects_a_bad_duration()
    {
        var err = new StringWriter();
        Assert.Equal(2, PerfTapCommand.RunTap(new StringWriter(), err, seconds: 0, offloads: true, json: true));
        Assert.Contains("--seconds", err.ToString());
    }
}
