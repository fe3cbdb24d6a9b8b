using Netmem.Wire;

namespace Netmem.Stack;

/// <summary>One route (<c>struct fib_alias</c> reduced to a host's needs): a prefix reached on an interface, directly or via a gateway.</summary>
public sealed record Ipv4RouteEntry(Ipv4Cidr Prefix, NetInterface Interface, Ipv4Address? Gateway = null, int Metric = 0)
{
    /// <summary>Whether <paramref name="destination"/> is inside the prefix.</summary>
    public bool Matches(Ipv4Address destination) => Prefix.Contains(destination);
    public override string ToString() =>
        Gateway is { } g ? $"{Prefix.Network} via {g} dev {Interface.Name}" : $"{Prefix.Network} dev {Interface.Name} scope link";
}

/// <summary>
/// The FIB of a host: connected routes from the interfaces' addresses and default or static routes via
/// gateways, looked up by longest prefix (then lowest metric). Readers take a snapshot array without a
/// lock (the table is tiny and rarely changes; writers copy it), so a lookup allocates nothing.
/// </summary>
public sealed class RouteTable
{
    private readonly Lock _lock = new();
    private Ipv4RouteEntry[] _routes = []; // sorted: longest prefix first, then metric

    public IReadOnlyList<Ipv4RouteEntry> Routes => Volatile.Read(ref _routes);

    public void Add(Ipv4RouteEntry route)
    {
        ArgumentNullException.ThrowIfNull(route);
        lock (_lock)
        {
            var cur = _routes;
            foreach (var r in cur)
                if (r.Prefix.Network == route.Prefix.Network && r.Metric == route.Metric && r.Interface == route.Interface)
                    throw new NetmemErrnoException(Errno.EEXIST, $"route {route} already exists");
            var next = new Ipv4RouteEntry[cur.Length + 1];
            int i = 0, j = 0;
            while (i < cur.Length && Before(cur[i], route)) next[j++] = cur[i++];
            next[j++] = route;
            while (i < cur.Length) next[j++] = cur[i++];
            Volatile.Write(ref _routes, next);
        }
    }

    public bool Remove(Ipv4RouteEntry route)
    {
        lock (_lock)
        {
            var cur = _routes;
            int at = Array.IndexOf(cur, route);
            if (at < 0) return false;
            var next = new Ipv4RouteEntry[cur.Length - 1];
            Array.Copy(cur, 0, next, 0, at);
            Array.Copy(cur, at + 1, next, at, cur.Length - at - 1);
            Volatile.Write(ref _routes, next);
            return true;
        }
    }

    /// <summary>Removes every route through <paramref name="iface"/> (the interface went away).</summary>
    public void RemoveAll(NetInterface iface)
    {
        lock (_lock)
        {
            var list = new List<Ipv4RouteEntry>();
            foreach (var r in _routes) if (r.Interface != iface) list.Add(r);
            Volatile.Write(ref _routes, list.ToArray());
        }
    }

    private static bool Before(Ipv4RouteEntry a, Ipv4RouteEntry b) =>
        a.Prefix.PrefixLength > b.Prefix.PrefixLength || (a.Prefix.PrefixLength == b.Prefix.PrefixLength && a.Metric <= b.Metric);

    /// <summary><c>fib_lookup</c>: the most specific route to <paramref name="destination"/>, or null.</summary>
    public Ipv4RouteEntry? Lookup(Ipv4Address destination)
    {
        var routes = Volatile.Read(ref _routes);
        for (int i = 0; i < routes.Length; i++)
            if (routes[i].Interface.IsUp && routes[i].Matches(destination)) return routes[i];
        return null;
    }
}
