using System.CommandLine;
using System.Text.Json;
using Netmem.Devices;

namespace Netmem.Cli;

/// <summary>
/// <c>netmem dev show|queue-get|napi-get</c>: the netdev netlink family's dev-get, queue-get and
/// napi-get (plus ip-link/ethtool-style detail and the per-queue qstats) for the demo's VirtualNic pair,
/// after it has carried the demo traffic.
/// </summary>
internal static class DevCommands
{
    public static Command Create()
    {
        var dev = new Command("dev", "Inspect the demo's network devices (netdev netlink family)");
        dev.Subcommands.Add(Make("show", "Devices with features, rings, channels, counters and drops (dev-get + qstats-get)", WriteShow));
        dev.Subcommands.Add(Make("queue-get", "RX and TX queues with their NAPI ids and page pools (queue-get)", WriteQueues));
        dev.Subcommands.Add(Make("napi-get", "NAPI contexts with their counters (napi-get)", WriteNapis));
        return dev;
    }

    private static Command Make(string name, string description, Action<Utf8JsonWriter, NetDevice> write)
    {
        var json = new Option<bool>("--json") { Description = "Print compact JSON (one array)" };
        var cmd = new Command(name, description) { json };
        cmd.SetAction(r => Run(Console.Out, r.GetValue(json), write));
        return cmd;
    }

    public static int RunShow(TextWriter o, bool json) => Run(o, json, WriteShow);
    public static int RunQueueGet(TextWriter o, bool json) => Run(o, json, WriteQueues);
    public static int RunNapiGet(TextWriter o, bool json) => Run(o, json, WriteNapis);

    private static int Run(TextWriter o, bool json, Action<Utf8JsonWriter, NetDevice> write)
    {
        using var demo = new DemoNics();
        demo.Run();
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = !json }))
        {
            w.WriteStartArray();
            write(w, demo.Pair.A);
            write(w, demo.Pair.B);
            w.WriteEndArray();
        }
        o.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
        return 0;
    }

    internal static void WriteShow(Utf8JsonWriter w, NetDevice dev)
    {
        var d = NetdevFamily.DevGet(dev);
        w.WriteStartObject();
        w.WriteNumber("ifindex", d.Ifindex);
        w.WriteString("ifname", d.Name);
        w.WriteString("driver", d.Driver);
        w.WriteString("address", d.Address);
        w.WriteNumber("mtu", d.Mtu);
        w.WriteString("operstate", d.Up && d.Carrier ? "up" : "down");
        w.WriteStartArray("xdp-features");
        w.WriteEndArray();
        w.WriteStartArray("features");
        foreach (var f in Enum.GetValues<NetdevFeatures>())
            if (f != NetdevFeatures.None && (d.Features & f) != 0) w.WriteStringValue(FeatureName(f));
        w.WriteEndArray();
        w.WriteStartObject("rings");
        w.WriteNumber("rx", d.Rings.RxPending);
        w.WriteNumber("rx-max", d.Rings.RxMaxPending);
        w.WriteNumber("tx", d.Rings.TxPending);
        w.WriteNumber("tx-max", d.Rings.TxMaxPending);
        w.WriteNumber("rx-buf-len", d.Rings.RxBufLen);
        w.WriteString("tcp-data-split", d.Rings.TcpDataSplitActive ? "on" : "off");
        w.WriteNumber("hds-thresh", d.Rings.HdsThresh);
        w.WriteNumber("hds-thresh-max", d.Rings.HdsThreshMax);
        w.WriteEndObject();
        w.WriteStartObject("channels");
        w.WriteNumber("combined-max", d.Channels.MaxCombined);
        w.WriteNumber("combined-count", d.Channels.CombinedCount);
        w.WriteEndObject();
        w.WriteStartArray("qstats");
        foreach (var q in dev.RxQueues)
        {
            var s = q.Stats.Snapshot();
            w.WriteStartObject();
            w.WriteNumber("queue-id", q.Index);
            w.WriteString("queue-type", "rx");
            w.WriteNumber("rx-packets", s.Packets);
            w.WriteNumber("rx-bytes", s.Bytes);
            w.WriteNumber("rx-alloc-fail", s.AllocFail);
            w.WriteNumber("rx-hw-drops", s.HwDrops);
            w.WriteNumber("rx-hw-drop-overruns", s.HwDropOverruns);
            w.WriteNumber("rx-csum-unnecessary", s.CsumUnnecessary);
            w.WriteNumber("rx-csum-none", s.CsumNone);
            w.WriteNumber("rx-csum-bad", s.CsumBad);
            w.WriteNumber("rx-hds-split", s.HdsSplit);
            w.WriteNumber("rx-hds-whole", s.HdsWhole);
            w.WriteNumber("rx-unreadable", s.Unreadable);
            w.WriteNumber("rx-ntuple-hits", s.NtupleHits);
            w.WriteEndObject();
        }
        foreach (var q in dev.TxQueues)
        {
            var s = q.Stats.Snapshot();
            w.WriteStartObject();
            w.WriteNumber("queue-id", q.Index);
            w.WriteString("queue-type", "tx");
            w.WriteNumber("tx-packets", s.Packets);
            w.WriteNumber("tx-bytes", s.Bytes);
            w.WriteNumber("tx-hw-gso-packets", s.HwGsoPackets);
            w.WriteNumber("tx-hw-gso-wire-packets", s.HwGsoWirePackets);
            w.WriteNumber("tx-needs-csum", s.NeedsCsum);
            w.WriteNumber("tx-csum-none", s.CsumNone);
            w.WriteNumber("tx-drops", s.Drops);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartObject("drops");
        foreach (var (reason, n) in d.Drops) w.WriteNumber(reason.ToString(), n);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    internal static void WriteQueues(Utf8JsonWriter w, NetDevice dev)
    {
        foreach (var q in NetdevFamily.QueueGet(dev))
        {
            w.WriteStartObject();
            w.WriteNumber("id", q.Id);
            w.WriteNumber("ifindex", q.Ifindex);
            w.WriteString("type", q.Type);
            if (q.NapiId is uint napi) w.WriteNumber("napi-id", napi);
            if (q.Dmabuf is uint dmabuf) w.WriteNumber("dmabuf", dmabuf);
            if (q.IoUring)
            {
                w.WriteStartObject("io-uring");
                w.WriteEndObject();
            }
            if (q.PagePoolId is int pp) w.WriteNumber("page-pool-id", pp);
            w.WriteEndObject();
        }
    }

    internal static void WriteNapis(Utf8JsonWriter w, NetDevice dev)
    {
        foreach (var n in NetdevFamily.NapiGet(dev))
        {
            w.WriteStartObject();
            w.WriteNumber("id", n.Id);
            w.WriteNumber("ifindex", n.Ifindex);
            w.WriteString("threaded", n.Threaded ? "enabled" : "disabled");
            w.WriteString("name", n.Name);
            w.WriteNumber("schedules", n.Stats.Schedules);
            w.WriteNumber("polls", n.Stats.Polls);
            w.WriteNumber("work", n.Stats.Work);
            w.WriteNumber("budget-exhausted", n.Stats.BudgetExhausted);
            w.WriteEndObject();
        }
    }

    internal static string FeatureName(NetdevFeatures f) => f switch
    {
        NetdevFeatures.Sg => "scatter-gather",
        NetdevFeatures.IpCsum => "tx-checksum-ipv4",
        NetdevFeatures.RxCsum => "rx-checksum",
        NetdevFeatures.Tso => "tcp-segmentation-offload",
        NetdevFeatures.Gso => "generic-segmentation-offload",
        NetdevFeatures.Gro => "generic-receive-offload",
        NetdevFeatures.RxHash => "receive-hashing",
        NetdevFeatures.Ntuple => "ntuple-filters",
        NetdevFeatures.RxAll => "rx-all",
        NetdevFeatures.Promisc => "promisc",
        _ => f.ToString(),
    };
}
