using System.Text.Json;
using Netmem.Cli;

namespace Netmem.Tests.Cli;

public class DevCommandTests
{
    [Fact]
    public void Demo_moves_frames_between_two_virtual_nics_and_verifies_them()
    {
        var sw = new StringWriter();
        Assert.Equal(0, DemoCommand.Run(sw));
        string text = sw.ToString();
        Assert.Contains("vnic1 received 573; content verified", text);
        Assert.Contains("hw-gso=1 (-> 45 frames)", text);
        Assert.Contains("vnic1 rx-3", text);
        Assert.Contains("drops on vnic1: none", text);
    }

    [Fact]
    public void Dev_show_json_reports_devices_rings_and_queue_counters()
    {
        var sw = new StringWriter();
        Assert.Equal(0, DevCommands.RunShow(sw, json: true));
        using var doc = JsonDocument.Parse(sw.ToString());
        var devs = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(2, devs.Count);
        var b = devs[1];
        Assert.Equal("vnic1", b.GetProperty("ifname").GetString());
        Assert.Equal("virtual_nic", b.GetProperty("driver").GetString());
        Assert.Equal("on", b.GetProperty("rings").GetProperty("tcp-data-split").GetString());
        Assert.Equal(4, b.GetProperty("channels").GetProperty("combined-count").GetInt32());
        Assert.Contains("tcp-segmentation-offload", b.GetProperty("features").EnumerateArray().Select(e => e.GetString()));
        var rx = b.GetProperty("qstats").EnumerateArray().Where(q => q.GetProperty("queue-type").GetString() == "rx").ToList();
        Assert.Equal(4, rx.Count);
        Assert.Equal(573, rx.Sum(q => q.GetProperty("rx-packets").GetInt64()));
        Assert.Equal(573, rx.Sum(q => q.GetProperty("rx-csum-unnecessary").GetInt64()));
        var tx = devs[0].GetProperty("qstats").EnumerateArray().Where(q => q.GetProperty("queue-type").GetString() == "tx");
        Assert.Equal(45, tx.Sum(q => q.GetProperty("tx-hw-gso-wire-packets").GetInt64()));
    }

    [Fact]
    public void Queue_get_and_napi_get_link_queues_to_napi_contexts_and_pools()
    {
        var sw = new StringWriter();
        Assert.Equal(0, DevCommands.RunQueueGet(sw, json: true));
        using var q = JsonDocument.Parse(sw.ToString());
        var queues = q.RootElement.EnumerateArray().ToList();
        var rx = queues.Where(e => e.GetProperty("type").GetString() == "rx").ToList();
        Assert.Equal(2 + 4, rx.Count);
        Assert.All(rx, e => Assert.True(e.GetProperty("napi-id").GetUInt32() >= 8193));
        Assert.All(rx, e => Assert.True(e.GetProperty("page-pool-id").GetInt32() > 0));
        // vnic1's queue 3 (where ntuple steers TCP 5201) has the demo's dma-buf bound; no other queue has one.
        var bound = Assert.Single(rx, e => e.TryGetProperty("dmabuf", out _));
        Assert.Equal(3, bound.GetProperty("id").GetInt32());
        Assert.True(bound.GetProperty("dmabuf").GetUInt32() > 0);
        Assert.Equal(2 + 4, queues.Count(e => e.GetProperty("type").GetString() == "tx"));

        sw = new StringWriter();
        Assert.Equal(0, DevCommands.RunNapiGet(sw, json: true));
        using var n = JsonDocument.Parse(sw.ToString());
        var napis = n.RootElement.EnumerateArray().ToList();
        Assert.Equal(6, napis.Count);
        Assert.All(napis, e => Assert.Equal("disabled", e.GetProperty("threaded").GetString()));
        Assert.Equal(573, napis.Sum(e => e.GetProperty("work").GetInt64()));
    }
}
