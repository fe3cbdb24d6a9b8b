using System.Text.Json;
using Netmem.Cli;

namespace Netmem.Tests.Cli;

/// <summary><c>netmem perf devmem --json</c>: a short real run, fields checked (no speed asserted).</summary>
public sealed class PerfDevmemTests(ITestOutputHelper output)
{
    [Fact]
    public void Perf_devmem_json_reports_both_receives_verified_with_every_pool_drained()
    {
        var o = new StringWriter();
        var err = new StringWriter();
        int rc = PerfCommands.RunDevmem(o, err, seconds: 0.6, warmup: 0.2, mtu: 1500, json: true);
        output.WriteLine(o.ToString());
        Assert.True(rc == 0, $"rc {rc}: {err}{o}");
        using var doc = JsonDocument.Parse(o.ToString());
        var r = doc.RootElement;
        Assert.True(r.GetProperty("verified").GetBoolean(), r.GetProperty("verify_error").ToString());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("verify_error").ValueKind);
        double devmem = r.GetProperty("devmem_gbps").GetDouble(), host = r.GetProperty("host_gbps").GetDouble();
        Assert.True(devmem > 0 && host > 0, $"devmem {devmem}, host {host}");
        Assert.Equal(devmem / host, r.GetProperty("ratio").GetDouble(), 0.01); // the fields are rounded to 3 decimals
        Assert.True(r.GetProperty("devmem_bytes").GetInt64() > 0);
        Assert.True(r.GetProperty("host_bytes").GetInt64() > 0);
        Assert.Equal(r.GetProperty("devmem_bytes").GetInt64() + r.GetProperty("host_bytes").GetInt64(), r.GetProperty("bytes").GetInt64());
        Assert.True(r.GetProperty("devmem_packets").GetInt64() > 0);
        Assert.True(r.GetProperty("devmem_alloc_bytes_per_packet").GetDouble() >= 0);
        Assert.True(r.GetProperty("host_alloc_bytes_per_packet").GetDouble() >= 0);
        Assert.Equal(0, r.GetProperty("pool_inflight").GetInt64());
        Assert.True(r.GetProperty("binding_freed").GetBoolean());
        Assert.Equal(0, r.GetProperty("arena_pages_left").GetInt32());
        Assert.Equal(1500, r.GetProperty("mtu").GetInt32());
    }

    [Fact]
    public void Perf_devmem_rejects_bad_arguments_with_a_message()
    {
        var err = new StringWriter();
        Assert.Equal(2, PerfCommands.RunDevmem(TextWriter.Null, err, seconds: 0, warmup: 1, mtu: 1500, json: true));
        Assert.Contains("--seconds", err.ToString());
        err = new StringWriter();
        Assert.Equal(2, PerfCommands.RunDevmem(TextWriter.Null, err, seconds: 1, warmup: 1, mtu: 100, json: true));
        Assert.Contains("--mtu", err.ToString());
    }
}
