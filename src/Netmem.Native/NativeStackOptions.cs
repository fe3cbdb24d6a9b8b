using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Native;

/// <summary>
/// What a C ABI stack instance is made with, from a flags string of space- or comma-separated
/// <c>key=value</c> pairs (packetdrill's <c>--so_flags</c>): <c>local=</c> (default 192.168.0.1),
/// <c>prefix=</c> (16), <c>gateway=</c> (192.168.0.1), <c>mtu=</c> (1500), <c>wscale=</c> (8),
/// <c>rmem=</c> (540000), <c>wmem=</c> (262144), <c>cc=</c> (cubic). The TCP defaults are those of
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
    public static NativeStackOptions Parse(string? flags)
    {
        var o = new NativeStackOptions();
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
                _ => throw new ArgumentException($"so_flags: unknown key '{k}'"),
            };
        }
        return o;
    }

    private static NativeStackOptions Set(NativeStackOptions o, Action a) { a(); return o; }
}
