using System.Text.Json;
using Netmem.Cli;

namespace Netmem.Tests.Cli;

/// <summary><c>netmem perf zcrx --json</c>: a short real run, fields checked (no speed asserted).</summary>
public sealed class PerfZcrxTests(ITestOutputHelper output)
{
    [Fact]
    public void Perf_zcrx_json_reports_both_receives_verified_with_every_pool_drained_and_the_area_freed()
    {
        var o = new StringWriter();
        var err = new StringWriter();
        int rc = PerfCommands.RunZcrx(o, err, seconds: 0.6, warmup: 0.2, mtu: 1500, json: true);
        output.WriteLine(o.ToString());
        Assert.True(rc == 0, $"rc {rc}: {err}{o}");
        using var doc = JsonDocument.Parse(o.ToString());
        var r = doc.RootElement;
        Assert.True(r.GetProperty("verified").GetBoolean(), r.GetProperty("verify_error").ToString());
        double zcrx = r.GetProperty("zcrx_gbps").GetDouble(), copy = r.GetProperty("copy_gbps").GetDouble();
        Assert.True(zcrx > 0 && copy > 0, $"zcrx {zcrx}, copy {copy}");
        Assert.Equal(zcrx / copy, r.GetProperty("ratio").GetDouble(), 0.01);
        Assert.True(r.GetProperty("zcrx_cpu_s_per_gb").GetDouble() > 0);
        Assert.True(r.GetProperty("copy_cpu_s_per_gb").GetDouble() > 0);
        Assert.True(r.GetProperty("zcrx_zero_copy_bytes").GetInt64() >= r.GetProperty("zcrx_bytes").GetInt64()); // the measured bytes and more (warm-up)
        Assert.Equal(0, r.GetProperty("zcrx_copy_fallback_bytes").GetInt64()); // header split on the steered queue: nothing copied
        Assert.True(r.GetProperty("refill_placed_in_cache").GetInt64() > 0);
        Assert.Equal(0, r.GetProperty("refill_malformed").GetInt64());
        Assert.Equal(0, r.GetProperty("pool_inflight").GetInt64());
        Assert.True(r.GetProperty("area_freed").GetBoolean());
        Assert.Equal(0, r.GetProperty("arena_pages_left").GetInt32());
    }

    [Fact]
    public void Perf_zcrx_rejects_bad_arguments_with_a_message()
    {
        var err = new StringWriter();
        Assert.Equal(2, PerfCommands.RunZcrx(TextWriter.Null, err, seconds: 0, warmup: 1, mtu: 1500, json: true));
        Assert.Contains("--seconds", err.ToString());
        err = new StringWriter();
        Assert.Equal(2, PerfCommands.RunZcrx(TextWriter.Null, err, seconds: 1, warmup: 99, mtu: 1500, json: true));
        Assert.Contains("--warmup", err.ToString());
    }
}
