using System.Text.Json;
using Netmem.Cli;

namespace Netmem.Tests.Cli;

public class PagePoolCommandTests
{
    [Fact]
    public void Page_pool_get_json_reports_the_demo_pools_with_netlink_names()
    {
        var sw = new StringWriter();
        Assert.Equal(0, PagePoolCommands.RunPoolGet(sw, json: true));
        using var doc = JsonDocument.Parse(sw.ToString());
        var pools = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(4, pools.Count);
        Assert.All(pools.Take(3), p => Assert.Equal(2, p.GetProperty("ifindex").GetInt32()));
        Assert.All(pools.Take(3), p => Assert.False(p.TryGetProperty("dmabuf", out _)));
        // The pool of the queue with a dma-buf bound names the binding.
        Assert.True(pools[3].GetProperty("dmabuf").GetUInt32() > 0);
        Assert.True(pools[3].GetProperty("ifindex").GetInt32() > 1); // the bound VirtualNic's
        Assert.Equal(64, pools[3].GetProperty("inflight").GetInt64()); // a bulk of net_iovs in its cache
        Assert.Equal(101u, pools[0].GetProperty("napi-id").GetUInt32());
        // The destroyed pool still holds 3 buffers: inflight and detach-time are reported.
        var detached = pools[2];
        Assert.Equal(3, detached.GetProperty("inflight").GetInt64());
        Assert.Equal(3 * 4096, detached.GetProperty("inflight-mem").GetInt64());
        Assert.True(detached.GetProperty("detach-time").GetInt64() > 1_700_000_000);
        Assert.False(pools[0].TryGetProperty("detach-time", out _));
    }

    [Fact]
    public void Page_pool_stats_get_json_has_all_eleven_counters()
    {
        var sw = new StringWriter();
        Assert.Equal(0, PagePoolCommands.RunStatsGet(sw, json: true));
        using var doc = JsonDocument.Parse(sw.ToString());
        var first = doc.RootElement[0];
        string[] names = ["alloc-fast", "alloc-slow", "alloc-slow-high-order", "alloc-empty", "alloc-refill", "alloc-waive",
            "recycle-cached", "recycle-cache-full", "recycle-ring", "recycle-ring-full", "recycle-released-refcnt"];
        foreach (var n in names) Assert.True(first.TryGetProperty(n, out _), n);
        Assert.Equal(10_000, first.GetProperty("alloc-fast").GetInt64() + first.GetProperty("alloc-slow").GetInt64()
                             + first.GetProperty("alloc-refill").GetInt64());
        Assert.Equal(10_000, first.GetProperty("recycle-cached").GetInt64()); // all NAPI-local
        var second = doc.RootElement[1];
        Assert.True(second.GetProperty("recycle-ring").GetInt64() > 0);
        Assert.True(second.GetProperty("info").GetProperty("id").GetInt32() > 0);
    }

    [Fact]
    public void Unknown_pool_id_is_an_error()
    {
        Assert.Equal(2, PagePoolCommands.RunPoolGet(new StringWriter(), json: true, id: -5));
    }
}
