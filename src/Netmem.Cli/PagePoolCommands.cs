using System.CommandLine;
using System.Text.Json;
using Netmem.Pool;

namespace Netmem.Cli;

/// <summary>
/// <c>netmem page-pool-get</c> and <c>netmem page-pool-stats-get</c>: the netdev netlink family's
/// page-pool operations, for the demo's pools, with the family's attribute names.
/// </summary>
internal static class PagePoolCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Make("page-pool-get", "Show the demo's page pools (netdev page-pool-get)", WritePoolGet);
        yield return Make("page-pool-stats-get", "Show the demo's page pool statistics (netdev page-pool-stats-get)", WriteStatsGet);
    }

    private static Command Make(string name, string description, Action<Utf8JsonWriter, PagePool> write)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON (one array of objects)" };
        var id = new Option<int?>("--id") { Description = "Only the pool with this id" };
        var cmd = new Command(name, description) { json, id };
        cmd.SetAction(r => Run(Console.Out, r.GetValue(json), r.GetValue(id), write));
        return cmd;
    }

    public static int RunPoolGet(TextWriter o, bool json, int? id = null) => Run(o, json, id, WritePoolGet);
    public static int RunStatsGet(TextWriter o, bool json, int? id = null) => Run(o, json, id, WriteStatsGet);

    private static int Run(TextWriter o, bool json, int? id, Action<Utf8JsonWriter, PagePool> write)
    {
        using var demo = new DemoPools();
        demo.Run();
        var pools = demo.Pools.Where(p => id is null || p.Id == id).ToList();
        if (id is not null && pools.Count == 0)
        {
            Console.Error.WriteLine($"no page pool with id {id} (the demo's pools are {string.Join(", ", demo.Pools.Select(p => p.Id))})");
            return 2;
        }
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = !json }))
        {
            w.WriteStartArray();
            foreach (var p in pools) write(w, p);
            w.WriteEndArray();
        }
        o.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
        return 0;
    }

    internal static void WritePoolGet(Utf8JsonWriter w, PagePool pool)
    {
        var info = pool.GetInfo();
        w.WriteStartObject();
        w.WriteNumber("id", info.Id);
        if (info.Ifindex is int ifindex) w.WriteNumber("ifindex", ifindex);
        if (info.NapiId is uint napi) w.WriteNumber("napi-id", napi);
        w.WriteNumber("inflight", info.Inflight);
        w.WriteNumber("inflight-mem", info.InflightMem);
        if (info.DetachTime is long detach) w.WriteNumber("detach-time", detach);
        if (info.Dmabuf is uint dmabuf) w.WriteNumber("dmabuf", dmabuf);
        if (info.IoUring) w.WriteStartObject("io-uring");
        if (info.IoUring) w.WriteEndObject();
        w.WriteEndObject();
    }

    internal static void WriteStatsGet(Utf8JsonWriter w, PagePool pool)
    {
        var s = pool.GetStats();
        w.WriteStartObject();
        w.WriteStartObject("info");
        w.WriteNumber("id", pool.Id);
        if (pool.Params.Ifindex > 0) w.WriteNumber("ifindex", pool.Params.Ifindex);
        w.WriteEndObject();
        w.WriteNumber("alloc-fast", s.AllocFast);
        w.WriteNumber("alloc-slow", s.AllocSlow);
        w.WriteNumber("alloc-slow-high-order", s.AllocSlowHighOrder);
        w.WriteNumber("alloc-empty", s.AllocEmpty);
        w.WriteNumber("alloc-refill", s.AllocRefill);
        w.WriteNumber("alloc-waive", s.AllocWaive);
        w.WriteNumber("recycle-cached", s.RecycleCached);
        w.WriteNumber("recycle-cache-full", s.RecycleCacheFull);
        w.WriteNumber("recycle-ring", s.RecycleRing);
        w.WriteNumber("recycle-ring-full", s.RecycleRingFull);
        w.WriteNumber("recycle-released-refcnt", s.RecycleReleasedRefcnt);
        w.WriteEndObject();
    }
}
