using System.CommandLine;
using System.Text.Json;
using Netmem.Drivers.Tap;
using Netmem.Wire;

namespace Netmem.Cli;

/// <summary>
/// <c>netmem tap up|down</c>: makes (or removes) a persistent tap whose kernel side sits in a network
/// namespace of its own with an address, so the stack can later attach to it by name. Needs root and
/// /dev/net/tun; touches nothing outside the namespace it creates.
/// </summary>
internal static class TapCommands
{
    public static Command Create()
    {
        var tap = new Command("tap", "Create or remove a tap with its kernel side in a network namespace (needs root)");

        var name = new Option<string>("--name") { Description = "Interface name (at most 15 bytes)", Required = true };
        var address = new Option<string>("--address") { Description = "Kernel-side address and prefix, e.g. 10.201.0.1/24", Required = true };
        var mtu = new Option<int>("--mtu") { Description = "MTU of both sides", DefaultValueFactory = _ => 1500 };
        var noOffloads = new Option<bool>("--no-offloads") { Description = "TUNSETOFFLOAD(0): no checksum offload, no TSO" };
        var netns = new Option<string?>("--netns") { Description = "Namespace name (default nm-<name>)" };
        var json = new Option<bool>("--json") { Description = "Print compact JSON" };
        var up = new Command("up", "Create namespace and persistent tap, address and bring up the kernel side") { name, address, mtu, noOffloads, netns, json };
        up.SetAction(r => RunUp(Console.Out, Console.Error, r.GetValue(name)!, r.GetValue(address)!, r.GetValue(mtu), !r.GetValue(noOffloads), r.GetValue(netns), r.GetValue(json)));

        var dname = new Option<string>("--name") { Description = "Interface name", Required = true };
        var dnetns = new Option<string?>("--netns") { Description = "Namespace name (default nm-<name>)" };
        var down = new Command("down", "Remove the tap and its namespace") { dname, dnetns };
        down.SetAction(r => RunDown(Console.Out, Console.Error, r.GetValue(dname)!, r.GetValue(dnetns)));

        tap.Subcommands.Add(up);
        tap.Subcommands.Add(down);
        return tap;
    }

    public static int RunUp(TextWriter o, TextWriter err, string name, string address, int mtu, bool offloads, string? netns, bool json)
    {
        if (!Ipv4Cidr.TryParse(address, out var cidr))
        {
            err.WriteLine($"netmem tap up: '{address}' is not an IPv4 address with a prefix (a.b.c.d/n)");
            return 2;
        }
        if (!TapDevice.IsSupported(out string why))
        {
            err.WriteLine($"netmem tap up: {why}");
            return 1;
        }
        string ns = netns ?? "nm-" + name;
        TapLink link;
        try
        {
            link = TapLink.Create(new TapLinkOptions
            {
                Tap = new TapOptions { Name = name, Mtu = mtu, Offloads = offloads, Persist = true },
                KeepTapName = true,
                Namespace = ns,
                KernelAddress = cidr,
            });
        }
        catch (Exception e) when (e is NetmemErrnoException or InvalidOperationException or ArgumentException)
        {
            err.WriteLine($"netmem tap up: {e.Message}");
            return 1;
        }
        uint tunOffload = link.Device.TunOffloadFlags;
        var mac = link.KernelMac;
        link.Release(); // the tap is persistent: it stays when our fds close
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = !json }))
        {
            w.WriteStartObject();
            w.WriteString("ifname", name);
            w.WriteString("netns", ns);
            w.WriteString("address", $"{cidr.Address}/{cidr.PrefixLength}");
            w.WriteString("kernel-mac", mac.ToString());
            w.WriteNumber("mtu", mtu);
            w.WriteBoolean("offloads", offloads);
            w.WriteString("tun-offload", $"0x{tunOffload:x}");
            w.WriteNumber("vnet-hdr-size", VirtioNetHdr.Size);
            w.WriteBoolean("persistent", true);
            w.WriteEndObject();
        }
        o.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
        return 0;
    }

    public static int RunDown(TextWriter o, TextWriter err, string name, string? netns)
    {
        string ns = netns ?? "nm-" + name;
        try
        {
            foreach (var line in TapLink.Remove(name, ns)) o.WriteLine(line);
            return 0;
        }
        catch (InvalidOperationException e)
        {
            err.WriteLine($"netmem tap down: {e.Message}");
            return 1;
        }
    }
}
