using System.Text.Json;
using Netmem.Cli;

namespace Netmem.Tests.Cli;

/// <summary><c>netmem perf tcp</c>: a short real run between two stacks over the VirtualNic pair (bounded in time).</summary>
public sealed class PerfTcpTests
{
    [Fact]
    public void Perf_tcp_json_reports_a_verified_transfer_with_every_pool_drained()
    {
        var o = new StringWriter();
        var err = new StringWriter();
        int rc = PerfCommands.RunTcp(o, err, seconds: 0.3, mtu: 1500, tso: true, baselines: false, json: true, warmup: 0.2);
        Assert.True(rc == 0, $"rc {rc}: {err}{o}");
        using var doc = JsonDocument.Parse(o.ToString());
        var r = doc.RootElement;
        Assert.True(r.GetProperty("verified").GetBoolean(), r.GetProperty("verify_error").ToString());
        Assert.True(r.GetProperty("bytes").GetInt64() > 0);
        Assert.True(r.GetProperty("goodput_gbps").GetDouble() > 0);
        Assert.True(r.GetProperty("packets").GetInt64() > 0);
        Assert.True(r.GetProperty("alloc_bytes_per_packet").GetDouble() >= 0);
        Assert.Equal(0, r.GetProperty("pool_inflight").GetInt64());
        Assert.Equal(0, r.GetProperty("arena_pages_left").GetInt32());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("kernel_loopback_gbps").ValueKind); // --no-baselines
    }

    [Fact]
    public void Perf_tcp_rejects_bad_arguments_with_a_message()
    {
        var err = new StringWriter();
        Assert.Equal(2, PerfCommands.RunTcp(TextWriter.Null, err, seconds: 0, mtu: 1500, tso: true, baselines: false, json: true));
        Assert.Contains("--seconds", err.ToString());
        err = new StringWriter();
        Assert.Equal(2, PerfCommands.RunTcp(TextWriter.Null, err, seconds: 1, mtu: 100, tso: true, baselines: false, json: true));
        Assert.Contains("--mtu", err.ToString());
    }

    [Fact]
    public void The_pattern_check_catches_a_flipped_byte_and_a_misplaced_piece()
    {
        var p = PerfTcp.MakePattern(4096);
        long at = PerfTcp.PatternLength - 100; // a piece that wraps the pattern's end
        var piece = p.AsSpan((int)(at % PerfTcp.PatternLength), 1000).ToArray();
        Assert.True(PerfTcp.Check(p, at, piece));
        piece[777] ^= 1;
        Assert.False(PerfTcp.Check(p, at, piece));
        piece[777] ^= 1;
        Assert.False(PerfTcp.Check(p, at + 1448, piece)); // right bytes at the wrong stream offset
    }
}
