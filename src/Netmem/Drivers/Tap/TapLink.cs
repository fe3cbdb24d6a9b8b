using System.Diagnostics;
using System.Text.Json;
using Netmem.Wire;

namespace Netmem.Drivers.Tap;

/// <summary>Settings for <see cref="TapLink.Create"/>.</summary>
public sealed record TapLinkOptions
{
    /// <summary>The tap itself (its name is replaced by a unique one unless <see cref="KeepTapName"/>).</summary>
    public TapOptions Tap { get; init; } = new();
    /// <summary>Address and prefix of the kernel side, inside the namespace. Default 10.201.0.1/24.</summary>
    public Ipv4Cidr KernelAddress { get; init; } = Ipv4Cidr.Parse("10.201.0.1/24");
    /// <summary>The kernel side's MTU. Null: the same as <see cref="TapOptions.Mtu"/>.</summary>
    public int? KernelMtu { get; init; }
    /// <summary>Namespace name. Null: a unique <c>nm-&lt;pid&gt;-&lt;n&gt;</c>.</summary>
    public string? Namespace { get; init; }
    /// <summary>Use <see cref="TapOptions.Name"/> as given instead of a unique name. Default false.</summary>
    public bool KeepTapName { get; init; }
    /// <summary>Turn IPv6 off in the namespace, so no router solicitations or MLD reports reach the tap. Default true.</summary>
    public bool DisableIpv6 { get; init; } = true;
}

/// <summary>
/// A tap whose kernel side lives in a network namespace of its own: creates the namespace, creates the
/// tap (our fds), moves the kernel side into the namespace (the fds keep working), gives it an address,
/// MTU and link up. Everything it touches is inside the namespace it created, so tests talk only to
/// that namespace's stack. <see cref="Dispose"/> closes the device (a non-persistent tap vanishes with
/// its last fd) and deletes the namespace, also when a test failed half way.
/// </summary>
public sealed class TapLink : IDisposable
{
    private static int s_seq;
    private bool _disposed;

    private TapLink(string ns, TapDevice dev, Ipv4Cidr kernelAddress, EthernetAddress kernelMac)
    {
        Namespace = ns;
        Device = dev;
        KernelAddress = kernelAddress;
        KernelMac = kernelMac;
    }

    public string Namespace { get; }
    public TapDevice Device { get; }
    /// <summary>The kernel side's interface name (the same as the device's).</summary>
    public string InterfaceName => Device.Name;
    public Ipv4Cidr KernelAddress { get; }
    /// <summary>The kernel side's MAC address (what our frames to it are addressed to).</summary>
    public EthernetAddress KernelMac { get; }

    /// <summary>Builds the link; on any failure, what was made so far is removed and the error (with ip's stderr) thrown.</summary>
    public static TapLink Create(TapLinkOptions? options = null)
    {
        options ??= new TapLinkOptions();
        int n = Interlocked.Increment(ref s_seq);
        int pid = Environment.ProcessId;
        // A name left by an earlier process with the same pid (killed before it could clean up) is skipped,
        // never reused or deleted: it is not ours to touch.
        while (options.Namespace is null && File.Exists($"/run/netns/nm-{pid}-{n}")) n = Interlocked.Increment(ref s_seq);
        string ns = options.Namespace ?? $"nm-{pid}-{n}";
        var tapOptions = options.KeepTapName ? options.Tap : options.Tap with { Name = UniqueTapName(pid, n) };
        HostCommand.Ip("netns", "add", ns);
        TapDevice? dev = null;
        try
        {
            // Written through /proc in the namespace (sh is everywhere; sysctl from procps may not be).
            if (options.DisableIpv6)
                HostCommand.Ip("netns", "exec", ns, "sh", "-c",
                    "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6");
            dev = TapDevice.Create(tapOptions);
            string ifname = dev.Name;
            HostCommand.Ip("link", "set", ifname, "netns", ns);
            HostCommand.Ip("-n", ns, "link", "set", ifname, "mtu", (options.KernelMtu ?? tapOptions.Mtu).ToString());
            HostCommand.Ip("-n", ns, "addr", "add", $"{options.KernelAddress.Address}/{options.KernelAddress.PrefixLength}", "dev", ifname);
            HostCommand.Ip("-n", ns, "link", "set", "lo", "up");
            HostCommand.Ip("-n", ns, "link", "set", ifname, "up");
            var mac = ReadMac(ns, ifname);
            return new TapLink(ns, dev, options.KernelAddress, mac);
        }
        catch
        {
            dev?.Dispose();
            TryDeleteNamespace(ns);
            throw;
        }
    }

    /// <summary>IFNAMSIZ leaves 15 bytes: "nmt" + the pid in hex + "-" + the sequence number.</summary>
    private static string UniqueTapName(int pid, int n)
    {
        string s = $"nmt{pid:x}-{n}";
        return s.Length <= 15 ? s : s[^15..];
    }

    internal static EthernetAddress ReadMac(string ns, string ifname)
    {
        string json = HostCommand.Ip("-n", ns, "-j", "link", "show", "dev", ifname);
        using var doc = JsonDocument.Parse(json);
        string? mac = doc.RootElement[0].GetProperty("address").GetString();
        return EthernetAddress.Parse(mac ?? throw new InvalidOperationException($"ip -j link show {ifname} printed no address"));
    }

    /// <summary>Runs a program inside the namespace (<c>ip netns exec</c>) and waits for it.</summary>
    public HostCommandResult Exec(TimeSpan timeout, params string[] args) =>
        HostCommand.Run("ip", ["netns", "exec", Namespace, .. args], timeout);

    /// <summary>Starts a program inside the namespace; the caller drives the device while it runs, then waits and disposes.</summary>
    public Process Start(params string[] args) => HostCommand.Start("ip", ["netns", "exec", Namespace, .. args]);

    /// <summary><c>ip -n NS ARGS</c> (throws on failure).</summary>
    public string Ip(params string[] args) => HostCommand.Ip(["-n", Namespace, .. args]);

    /// <summary>
    /// Closes our fds but leaves the namespace and a persistent tap (TUNSETPERSIST) in place, for
    /// <c>netmem tap up</c>; <see cref="Remove"/> takes them down later.
    /// </summary>
    public void Release()
    {
        if (_disposed) return;
        _disposed = true;
        Device.Dispose();
    }

    /// <summary>
    /// Removes a persistent tap and its namespace (<c>netmem tap down</c>): <c>ip tuntap del</c> inside the
    /// namespace clears TUNSETPERSIST, then the namespace goes. Returns what was done, for the CLI.
    /// </summary>
    public static IReadOnlyList<string> Remove(string ifname, string ns)
    {
        var done = new List<string>();
        var r = HostCommand.Run("ip", ["-n", ns, "tuntap", "del", "dev", ifname, "mode", "tap"], TimeSpan.FromSeconds(10));
        if (r.Succeeded) done.Add($"deleted tap {ifname}");
        var n = HostCommand.Run("ip", ["netns", "del", ns], TimeSpan.FromSeconds(10));
        if (n.Succeeded) done.Add($"deleted netns {ns}");
        if (!r.Succeeded && !n.Succeeded)
            throw new InvalidOperationException($"neither tap {ifname} nor netns {ns} could be removed: {r.Stderr.Trim()}; {n.Stderr.Trim()}");
        return done;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Device.Dispose();
        TryDeleteNamespace(Namespace);
    }

    private static void TryDeleteNamespace(string ns)
    {
        // Deleting the namespace also removes a kernel-side link still in it.
        HostCommand.Run("ip", ["netns", "del", ns], TimeSpan.FromSeconds(10));
    }

    public override string ToString() => $"tap {InterfaceName} in netns {Namespace} ({KernelAddress}, {KernelMac})";
}
