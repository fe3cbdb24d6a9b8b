using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Native;

/// <summary>
/// What a C ABI stack instance is made with, from a flags string of space- or comma-separated
/// <c>key=value</c> pairs (packetdrill's <c>--so_flags</c>): <c>local=</c> (default 192.168.0.1),
/// <c>prefix=</c> (16), <c>gateway=</c> (192.168.0.1), <c>mtu=</c> (1500), <c>wscale=</c> (8),
/// <c>rmem=</c> (540000), <c>wmem=</c> (262144), <c>cc=</c> (cubic), <c>hds=</c> (off; <c>on</c> puts received
/// TCP payload in page_pool frags behind linear headers, as a NIC with header/data split does). The TCP defaults are those of
/// packetdrill's gtests/net/common/defaults.sh (tcp_rmem 4096 540000 15 MiB, tcp_wmem 4096 256 KiB 4 MiB,
/// syn retries 5), so scripts written against that configuration see the same window scale and buffers.
/// </summary>
internal sealed record NativeStackOptions
{
    public Ipv4Address Local { get; init; } = new(192, 168, 0, 1);
    public int PrefixLength { get; init; } = 16;
    public Ipv4Address Gateway { get; init; } = new(192, 168, 0, 1);
    public int Mtu { get; init; } = 1500;
    public TcpSettings Tcp { get; init; } = DefaultTcp();
    /// <summary>Header/data split on the IP test device (flag <c>hds=on</c>; default off).</summary>
    public bool TcpDataSplit { get; init; }
    /// <summary>
    /// Where to read the network namespace's TCP sysctls from at each socket() (null: never). packetdrill
    /// scripts configure the stack under test with sysctl (defaults.sh, per-script overrides); reading the
    /// same files from the namespace the library runs in makes those settings ours. Default for
    /// <c>packetdrill_interface_init</c>: /proc/sys (flag <c>sysctl=off</c> turns it off);
    /// <c>netmem_create</c>: off (flag <c>sysctl=/proc/sys</c> turns it on).
    /// </summary>
    public string? SysctlRoot { get; init; }
    /// <summary>
    /// The namespace interface whose segmentation offload switches the library's device copies at each
    /// socket() (null: never; flag <c>offloads=IFNAME</c> or <c>offloads=off</c>). Default: tun0 when
    /// sysctls are read (packetdrill), else off. See <see cref="ApplyOffloads"/>.
    /// </summary>
    public string? OffloadDevice { get; init; }

    public static TcpSettings DefaultTcp() => new()
    {
        ReceiveBufferSize = 540000,
        MaxReceiveBufferSize = 15 * 1024 * 1024,
        SendBufferSize = 256 * 1024,
        ReceiveWindowScale = 8,
        SynRetries = 5,
        SynAckRetries = 5,
        CongestionControl = "cubic",
    };

    /// <summary>Parses a flags string; an unknown key or bad value throws with a message naming it.</summary>
    public static NativeStackOptions Parse(string? flags, string? sysctlRoot = null)
    {
        var o = new NativeStackOptions { SysctlRoot = sysctlRoot, OffloadDevice = sysctlRoot is null ? null : "tun0" };
        if (string.IsNullOrWhiteSpace(flags)) return o;
        var tcp = o.Tcp;
        foreach (var part in flags.Split([' ', ',', ';'], StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"so_flags: '{part}' is not key=value");
            string k = part[..eq], v = part[(eq + 1)..];
            o = k switch
            {
                "local" => o with { Local = Ipv4Address.Parse(v) },
                "prefix" => o with { PrefixLength = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                "gateway" => o with { Gateway = Ipv4Address.Parse(v) },
                "mtu" => o with { Mtu = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                "wscale" => Set(o, () => tcp.ReceiveWindowScale = byte.Parse(v, System.Globalization.CultureInfo.InvariantCulture)),
                "rmem" => Set(o, () => tcp.ReceiveBufferSize = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture)),
                "wmem" => Set(o, () => tcp.SendBufferSize = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture)),
                "cc" => Set(o, () => tcp.CongestionControl = v),
                "hds" => o with { TcpDataSplit = v switch { "on" => true, "off" => false, _ => throw new ArgumentException($"so_flags: hds must be on or off, not '{v}'") } },
                "sysctl" => o with { SysctlRoot = v == "off" ? null : v },
                "offloads" => o with { OffloadDevice = v == "off" ? null : v },
                _ => throw new ArgumentException($"so_flags: unknown key '{k}'"),
            };
        }
        return o;
    }

    private static NativeStackOptions Set(NativeStackOptions o, Action a) { a(); return o; }

    /// <summary>
    /// Applies the net.ipv4 TCP sysctls under <see cref="SysctlRoot"/> to <paramref name="tcp"/> (missing
    /// or unreadable files leave a setting alone): tcp_timestamps, tcp_sack, tcp_window_scaling, tcp_rmem
    /// (default and, for the window scale, max), tcp_wmem (default), tcp_syn_retries, tcp_synack_retries, tcp_ecn, tcp_notsent_lowat,
    /// tcp_min_tso_segs, tcp_pacing_ss_ratio, tcp_pacing_ca_ratio (TSO autosizing), tcp_slow_start_after_idle, tcp_fastopen
    /// and tcp_fastopen_key.
    /// </summary>
    public void ApplySysctls(TcpSettings tcp)
    {
        if (SysctlRoot is null) return;
        string dir = Path.Combine(SysctlRoot, "net", "ipv4");
        if (Read(dir, "tcp_timestamps") is [var ts, ..]) tcp.Timestamps = ts != 0;
        if (Read(dir, "tcp_sack") is [var sack, ..]) tcp.Sack = sack != 0;
        if (Read(dir, "tcp_dsack") is [var dsack, ..]) tcp.Dsack = dsack != 0;
        if (Read(dir, "tcp_window_scaling") is [var ws, ..]) tcp.WindowScaling = ws != 0;
        if (Read(dir, "tcp_rmem") is [_, var rdef, var rmax])
        {
            tcp.ReceiveBufferSize = (int)Math.Clamp(rdef, 2048, int.MaxValue);
            tcp.MaxReceiveBufferSize = (int)Math.Clamp(rmax, 2048, int.MaxValue);
            // tcp_select_initial_window: the smallest shift that fits the largest receive space in 16 bits.
            long space = Math.Max(rmax, rdef);
            byte wscale = 0;
            while (space > 65535 && wscale < 14) { space >>= 1; wscale++; }
            tcp.ReceiveWindowScale = wscale;
        }
        if (Read(dir, "tcp_wmem") is [_, var wdef, _]) tcp.SendBufferSize = (int)Math.Clamp(wdef, 4096, int.MaxValue);
        if (Read(dir, "tcp_syn_retries") is [var syn, ..]) tcp.SynRetries = (int)Math.Clamp(syn, 1, 127);
        if (Read(dir, "tcp_ecn") is [var ecn, ..]) tcp.Ecn = (int)Math.Clamp(ecn, 0, 2);
        if (Read(dir, "tcp_notsent_lowat") is [var lowat, ..]) tcp.NotSentLowatSysctl = (uint)Math.Clamp(lowat, 0, uint.MaxValue);
        if (Read(dir, "tcp_recovery") is [var recovery, ..]) tcp.Recovery = (TcpRecoveryFlags)(recovery & 7);
        if (Read(dir, "tcp_slow_start_after_idle") is [var ssai, ..]) tcp.SlowStartAfterIdle = ssai != 0;
        if (Read(dir, "tcp_min_tso_segs") is [var minTso, ..]) tcp.MinTsoSegs = (int)Math.Clamp(minTso, 1, 255);
        if (Read(dir, "tcp_pacing_ss_ratio") is [var ss, ..]) tcp.PacingSsRatio = (int)Math.Clamp(ss, 0, 1000);
        if (Read(dir, "tcp_pacing_ca_ratio") is [var ca, ..]) tcp.PacingCaRatio = (int)Math.Clamp(ca, 0, 1000);
        if (Read(dir, "tcp_synack_retries") is [var synack, ..]) tcp.SynAckRetries = (int)Math.Clamp(synack, 1, 127);
        if (Read(dir, "tcp_fastopen") is [var fo, ..]) tcp.FastOpen = (TcpFastOpenFlags)(int)Math.Clamp(fo, 0, int.MaxValue);
        // An unconfigured namespace reads back zeros: the layer's random key stays.
        if (ReadText(dir, "tcp_fastopen_key") is { } key) tcp.FastOpenKey = TcpFastOpenKey.TryParse(key, out var k) ? k : null;
    }

    private static string? ReadText(string dir, string name)
    {
        try { return File.ReadAllText(Path.Combine(dir, name)); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// Copies <see cref="OffloadDevice"/>'s segmentation switches to <paramref name="device"/>: with both
    /// TSO and GSO off (<c>ethtool -K tun0 tso off gso off</c>, what a script does to see MSS-sized
    /// frames) the device loses TSO and segments TCP's GSO skbs itself, as Linux's TCP, which builds GSO
    /// skbs whatever the device, leaves the kernel to do; otherwise it keeps TSO. TSO alone says nothing:
    /// a tun nobody attached (the one run-one.sh makes) cannot turn TSO on, and packetdrill's own tun has it on.
    /// </summary>
    public void ApplyOffloads(Netmem.Stack.Virtual.IpTestDevice device)
    {
        if (OffloadDevice is null || !Libc.TryGetSegmentationOffloads(OffloadDevice, out bool tso, out bool gso)) return;
        const Netmem.Devices.NetdevFeatures tsoBit = Netmem.Devices.NetdevFeatures.Tso, gsoBit = Netmem.Devices.NetdevFeatures.Gso;
        device.Features = !tso && !gso ? (device.Features & ~tsoBit) | gsoBit : (device.Features | tsoBit) & ~gsoBit;
    }

    private static long[] Read(string dir, string name)
    {
        try
        {
            var parts = File.ReadAllText(Path.Combine(dir, name)).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            var v = new long[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!long.TryParse(parts[i], System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out v[i])) return [];
            return v;
        }
        catch (IOException) { return []; }
        catch (UnauthorizedAccessException) { return []; }
    }
}
