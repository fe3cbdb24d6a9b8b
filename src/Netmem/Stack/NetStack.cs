using Netmem.Devices;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Sockets;
using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Stack;

/// <summary>
/// One IPv4 host stack (a network namespace, reduced): interfaces, the route table, learned path MTUs,
/// the transport registry (<c>inet_protos</c>), ICMP, UDP and TCP, and the counters. It is the
/// <see cref="IIpOutput"/> transports send through. Receive runs on the RX queue's NAPI context
/// (<see cref="NetInterface"/>); output runs on the calling flow's context.
/// </summary>
public sealed partial class NetStack : IIpOutput, IDisposable
{
    /// <summary>Headroom every TX skb gets: Ethernet (with a VLAN tag) and an IPv4 header with options, rounded up.</summary>
    public const int HeaderRoom = 96;

    private readonly IIpProtocolHandler?[] _protocols = new IIpProtocolHandler?[256];
    private readonly Lock _lock = new();
    private NetInterface[] _interfaces = [];
    private readonly long _start;
    private readonly uint[] _idents = new uint[2048]; // ip_idents: per-bucket IP ID counters
    private long _fragMem;
    private bool _disposed;

    public NetStack(TimeProvider? time = null, NetStackOptions? options = null)
    {
        Time = time ?? TimeProvider.System;
        Options = options ?? new NetStackOptions();
        _start = Time.GetTimestamp();
        PathMtu = new PathMtuCache(Options.MinPmtu, Options.PmtuExpiresUs);
        Icmp = new IcmpLayer(this);
        Register(Icmp);
        Udp = new UdpLayer(this);
        Register(Udp);
        Tcp = new TcpLayer(this, new RssContextSelector(this), Options.Tcp is { } t ? t with { } : null);
        Register(Tcp);
        var seed = Random.Shared;
        for (int i = 0; i < _idents.Length; i++) _idents[i] = (uint)seed.Next();
    }

    /// <summary>
    /// A stack on one opened device with one address (and a default route when <paramref name="gateway"/> is
    /// given), the device's RX handler set: what a test needs in one call.
    /// </summary>
    public static NetStack Create(NetDevice device, Ipv4Cidr address, Ipv4Address? gateway = null, TimeProvider? time = null, NetStackOptions? options = null)
    {
        var s = new NetStack(time, options);
        try
        {
            s.AddInterface(device, address, gateway);
        }
        catch
        {
            s.Dispose();
            throw;
        }
        return s;
    }

    public TimeProvider Time { get; }
    public NetStackOptions Options { get; }
    public IpStats Stats { get; } = new();
    public RouteTable Routes { get; } = new();
    public PathMtuCache PathMtu { get; }
    public IcmpLayer Icmp { get; }
    public UdpLayer Udp { get; }
    /// <summary>TCP: each flow on the context of the RX queue its segments arrive on (<see cref="RssContextSelector"/>).</summary>
    public TcpLayer Tcp { get; }
    public IReadOnlyList<NetInterface> Interfaces => Volatile.Read(ref _interfaces);
    /// <summary>Microseconds since the stack was made (ICMP rate limits, path MTU expiry).</summary>
    public long NowUs => Time.GetElapsedTime(_start).Ticks / TimeSpan.TicksPerMicrosecond;
    /// <summary>Bytes (truesize) of fragments waiting for reassembly in all contexts.</summary>
    public long FragmentMemory => Interlocked.Read(ref _fragMem);
    internal ref long FragMemRef => ref _fragMem;

    int IIpOutput.MaxHeaderRoom => HeaderRoom;
    public int MaxHeaderRoom => HeaderRoom;

    /// <summary>The interface on <paramref name="device"/>, with its connected route, then a gratuitous ARP.</summary>
    public NetInterface AddInterface(NetDevice device, Ipv4Cidr address, Ipv4Address? gateway = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!device.IsUp) throw new NetmemErrnoException(Errno.ENODEV, $"{device.Name} is down: open it before adding an IPv4 interface");
        if (gateway is { } g && !address.Contains(g))
            throw new NetmemErrnoException(Errno.ENETUNREACH, $"gateway {g} is not on {address.Network}");
        // TX skb heads come from the device's own arena, so a test's private arena accounts for every page.
        var arena = device switch
        {
            Drivers.VirtualNic.VirtualNic v => v.Arena,
            Drivers.Tap.TapDevice t => t.Arena,
            _ => PageArena.Shared,
        };
        NetInterface iface;
        lock (_lock)
        {
            foreach (var i in _interfaces)
                if (i.Device == device) throw new NetmemErrnoException(Errno.EEXIST, $"{device.Name} already has an IPv4 interface");
            iface = new NetInterface(this, device, address, gateway, arena);
            _interfaces = [.. _interfaces, iface];
        }
        Routes.Add(new Ipv4RouteEntry(address.Network, iface));
        if (gateway is { } gw) Routes.Add(new Ipv4RouteEntry(new Ipv4Cidr(Ipv4Address.Unspecified, 0), iface, gw));
        device.RxHandler = iface;
        iface.Neighbours.SendGratuitous();
        return iface;
    }

    internal void ReplaceConnectedRoute(NetInterface iface, Ipv4Cidr old, Ipv4Cidr now)
    {
        foreach (var r in Routes.Routes)
            if (r.Interface == iface && r.Gateway is null && r.Prefix == old.Network) Routes.Remove(r);
        Routes.Add(new Ipv4RouteEntry(now.Network, iface));
    }

    /// <summary>The interface with <paramref name="ifindex"/>, or null (no allocation).</summary>
    public NetInterface? GetInterface(int ifindex)
    {
        var list = Volatile.Read(ref _interfaces);
        for (int i = 0; i < list.Length; i++) if (list[i].Ifindex == ifindex) return list[i];
        return null;
    }

    /// <summary>The interface that owns <paramref name="address"/>, or null.</summary>
    public NetInterface? FindLocal(Ipv4Address address)
    {
        var list = Volatile.Read(ref _interfaces);
        for (int i = 0; i < list.Length; i++) if (list[i].IsLocal(address)) return list[i];
        return null;
    }

    /// <summary><c>inet_add_protocol</c>: EEXIST when the number is taken.</summary>
    public void Register(IIpProtocolHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        lock (_lock)
        {
            ref var slot = ref _protocols[(byte)handler.Protocol];
            if (slot is not null && !ReferenceEquals(slot, handler))
                throw new NetmemErrnoException(Errno.EEXIST, $"IP protocol {(byte)handler.Protocol} ({handler.Protocol}) already has a handler ({slot.GetType().Name})");
            Volatile.Write(ref slot, handler);
        }
    }

    /// <summary><c>inet_del_protocol</c>.</summary>
    public bool Unregister(IIpProtocolHandler handler)
    {
        lock (_lock)
        {
            ref var slot = ref _protocols[(byte)handler.Protocol];
            if (!ReferenceEquals(slot, handler)) return false;
            Volatile.Write(ref slot, null);
            return true;
        }
    }

    internal IIpProtocolHandler? GetHandler(IpProtocol protocol) => Volatile.Read(ref _protocols[(byte)protocol]);

    /// <summary><c>ip_route_output_key</c> (see <see cref="IIpOutput.Route"/>).</summary>
    public Errno Route(Ipv4Address destination, Ipv4Address source, out IpRoute route)
    {
        route = default;
        if (!source.IsUnspecified && FindLocal(source) is null) return Errno.EADDRNOTAVAIL;
        Ipv4RouteEntry? r;
        if (destination.IsBroadcast)
        {
            var list = Volatile.Read(ref _interfaces);
            r = null;
            foreach (var rt in Routes.Routes)
                if (rt.Gateway is null && rt.Interface.IsUp) { r = rt; break; }
            if (r is null || list.Length == 0) return Errno.ENETUNREACH;
        }
        else
        {
            r = Routes.Lookup(destination);
            if (r is null) return Errno.ENETUNREACH;
        }
        if (FindLocal(destination) is not null) return Errno.ENETUNREACH; // no loopback device here
        var iface = r.Interface;
        var dev = iface.Device;
        var src = source.IsUnspecified ? iface.Address.Address : source;
        var feats = dev.Features;
        route = new IpRoute(src, r.Gateway ?? destination, iface.Ifindex,
            PathMtu.Get(destination, dev.Mtu, NowUs), feats,
            (feats & NetdevFeatures.Tso) != 0 ? 65536 : 0);
        return Errno.None;
    }

    /// <summary>A TCP socket on this stack (connect it with <see cref="TcpSocket.ConnectAsync"/>).</summary>
    public TcpSocket CreateTcpSocket() => new(Tcp);

    /// <summary>A TCP listener on <paramref name="port"/> (any address unless <paramref name="address"/> is given), started with <paramref name="backlog"/>.</summary>
    public TcpListener ListenTcp(ushort port, Ipv4Address? address = null, int backlog = 128)
    {
        var l = new TcpListener(Tcp, address ?? Ipv4Address.Unspecified, port);
        l.Start(backlog);
        return l;
    }

    /// <summary><c>ip_select_ident</c>: IDs from a bucket picked by a hash of the addresses and protocol.</summary>
    internal ushort SelectIdent(Ipv4Address src, Ipv4Address dst, IpProtocol proto, int segs = 1)
    {
        uint h = (src.ToUInt32() * 0x9E3779B1u) ^ (dst.ToUInt32() * 0x85EBCA77u) ^ ((uint)proto * 0xC2B2AE3Du);
        h ^= h >> 15;
        ref uint slot = ref _idents[h & (uint)(_idents.Length - 1)];
        return (ushort)(Interlocked.Add(ref slot, (uint)segs) - (uint)segs);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        NetInterface[] list;
        lock (_lock) list = _interfaces;
        // TCP state belongs to the contexts' threads: stop their polls (napi_disable waits for a running one)
        // so the teardown below is the only thread touching it, then let the device have them back.
        var stopped = new List<Napi>();
        foreach (var i in list)
            for (int q = 0; q < i.ContextCount; q++)
                if (i.GetContext(q).Napi is { IsDisabled: false } n) { n.Disable(); stopped.Add(n); }
        DrainPosted(list); // segments handed between contexts, leases given back, socket calls
        Tcp.AbortAll();
        DrainPosted(list);
        Udp.Shutdown();
        foreach (var i in list)
        {
            Routes.RemoveAll(i);
            i.Dispose();
        }
        Icmp.Shutdown();
        foreach (var n in stopped) n.Enable();
    }

    /// <summary>Runs what was posted to the contexts (their NAPIs are disabled: this is the only thread), so no skb stays queued in work that would never run.</summary>
    private static void DrainPosted(NetInterface[] list)
    {
        foreach (var i in list)
            for (int q = 0; q < i.ContextCount; q++)
            {
                var ctx = i.GetContext(q);
                // In the disabled NAPI's scope: its skb cache and page_pools take this thread as their owner.
                using (Pool.NapiScope.Enter(ctx.Napi?.NapiId ?? 0)) ctx.RunUntilIdle(maxRounds: 100);
            }
    }

    public override string ToString() => $"netstack ({_interfaces.Length} interfaces) {Stats}";
}
