using System.Buffers.Binary;
using System.Collections.Concurrent;
using Netmem.Skb;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Sockets;

/// <summary>
/// UDP over IPv4 (<c>net/ipv4/udp.c</c>): the port table (bind with EADDRINUSE, ephemeral ports from
/// ip_local_port_range), input (length and checksum checks, socket lookup by best match, ICMP port
/// unreachable when nobody listens) and ICMP errors for connected sockets. Lookups read a per-port
/// snapshot array without a lock; binds copy it under one.
/// </summary>
public sealed class UdpLayer : IIpProtocolHandler
{
    private readonly NetStack _stack;
    private readonly ConcurrentDictionary<ushort, UdpSocket[]> _ports = new();
    private readonly Lock _bindLock = new();
    private readonly List<UdpSocket> _all = [];

    internal UdpLayer(NetStack stack) => _stack = stack;

    public IpProtocol Protocol => IpProtocol.Udp;
    public UdpStats Stats { get; } = new();

    /// <summary>A new socket on the stack's first interface, context of <paramref name="rxQueue"/>.</summary>
    public UdpSocket CreateSocket(int rxQueue = 0) => new(_stack, rxQueue);

    internal void Track(UdpSocket s)
    {
        lock (_bindLock) _all.Add(s);
    }

    // ------------------------------------------------------------------ port table

    internal UdpEndpoint BindPort(UdpSocket s, UdpEndpoint local)
    {
        lock (_bindLock)
        {
            if (local.Port != 0)
            {
                if (Conflicts(local)) throw new NetmemErrnoException(Errno.EADDRINUSE, $"{local} is already in use");
                Add(local.Port, s);
                return local;
            }
            int low = _stack.Options.EphemeralPortLow, high = _stack.Options.EphemeralPortHigh;
            int range = high - low + 1;
            int start = Random.Shared.Next(range);
            for (int i = 0; i < range; i++)
            {
                var cand = local with { Port = (ushort)(low + (start + i) % range) };
                if (Conflicts(cand)) continue;
                Add(cand.Port, s);
                return cand;
            }
            throw new NetmemErrnoException(Errno.EADDRINUSE, $"no free ephemeral port in {low}-{high}");
        }
    }

    private bool Conflicts(UdpEndpoint local)
    {
        if (!_ports.TryGetValue(local.Port, out var list)) return false;
        foreach (var o in list)
        {
            var a = o.LocalEndpoint.Address;
            if (a.IsUnspecified || local.Address.IsUnspecified || a == local.Address) return true;
        }
        return false;
    }

    private void Add(ushort port, UdpSocket s)
    {
        _ports.TryGetValue(port, out var list);
        _ports[port] = list is null ? [s] : [.. list, s];
    }

    internal void Unbind(UdpSocket s)
    {
        lock (_bindLock)
        {
            _all.Remove(s);
            ushort port = s.LocalEndpoint.Port;
            if (port == 0 || !_ports.TryGetValue(port, out var list)) return;
            var rest = Array.FindAll(list, x => x != s);
            if (rest.Length == 0) _ports.TryRemove(port, out _);
            else _ports[port] = rest;
        }
    }

    /// <summary><c>__udp4_lib_lookup</c>: the best socket for a datagram (connected and address-specific sockets win).</summary>
    public UdpSocket? Lookup(Ipv4Address src, ushort sport, Ipv4Address dst, ushort dport)
    {
        if (!_ports.TryGetValue(dport, out var list)) return null;
        UdpSocket? best = null;
        int bestScore = -1;
        for (int i = 0; i < list.Length; i++)
        {
            var s = list[i];
            var la = s.LocalEndpoint.Address;
            int score = 0;
            if (!la.IsUnspecified)
            {
                if (la != dst) continue;
                score += 4;
            }
            if (s.RemoteEndpoint is { } r)
            {
                if (r.Address != src || r.Port != sport) continue;
                score += 8;
            }
            if (score > bestScore)
            {
                best = s;
                bestScore = score;
            }
        }
        return best;
    }

    // ------------------------------------------------------------------ input

    /// <summary><c>udp_rcv</c>: data at the UDP header.</summary>
    public void Receive(in Ipv4Meta ip, SkBuff skb)
    {
        if (!skb.PskbMayPull(UdpPacket.HeaderLength))
        {
            Drop(skb, UdpMib.InErrors);
            return;
        }
        var h = skb.Data;
        int ulen = BinaryPrimitives.ReadUInt16BigEndian(h[4..]);
        if (ulen < UdpPacket.HeaderLength || ulen > skb.Len)
        {
            Drop(skb, UdpMib.InErrors);
            return;
        }
        if (ulen < skb.Len) skb.Trim(ulen);
        h = skb.Data;
        ushort check = BinaryPrimitives.ReadUInt16BigEndian(h[6..]);
        if (check != 0 && !skb.CsumUnnecessary)
        {
            if (skb.AnyUnreadable && skb.Len > skb.HeadLen)
            {
                Drop(skb, UdpMib.CsumUnverifiable);
                return;
            }
            uint sum = skb.Checksum(0, ulen);
            if (PseudoHeader.Checksum(ip.Source, ip.Destination, IpProtocol.Udp, ulen, sum) != 0)
            {
                Drop(skb, UdpMib.InCsumErrors);
                return;
            }
        }
        ushort sport = BinaryPrimitives.ReadUInt16BigEndian(h);
        ushort dport = BinaryPrimitives.ReadUInt16BigEndian(h[2..]);
        var sock = Lookup(ip.Source, sport, ip.Destination, dport);
        var iface = _stack.GetInterface(ip.IfIndex);
        if (sock is null)
        {
            Stats.Inc(UdpMib.NoPorts);
            if (iface is not null && !iface.IsBroadcast(ip.Destination))
                _stack.Icmp.SendError(iface, skb, Icmpv4Message.DestinationUnreachable, (byte)Icmpv4Unreachable.PortUnreachable, 0);
            skb.Free();
            return;
        }
        skb.Pull(UdpPacket.HeaderLength);
        var current = iface?.CurrentContext;
        if (!sock.Enqueue(skb, current))
        {
            Drop(skb, UdpMib.RcvbufErrors);
            return;
        }
        Stats.Inc(UdpMib.InDatagrams);
    }

    /// <summary><c>udp_err</c>: hard errors (port or protocol unreachable...) go to the connected socket that sent the datagram.</summary>
    public void ReceiveIcmpError(in Ipv4Meta original, Icmpv4Message message, byte code, uint info, ReadOnlySpan<byte> quotedTransport)
    {
        if (quotedTransport.Length < 4 || message != Icmpv4Message.DestinationUnreachable) return; // time exceeded is a soft error
        ushort sport = BinaryPrimitives.ReadUInt16BigEndian(quotedTransport);
        ushort dport = BinaryPrimitives.ReadUInt16BigEndian(quotedTransport[2..]);
        // The quoted datagram went from us (original.Source) to the peer: look it up reversed.
        var s = Lookup(original.Destination, dport, original.Source, sport);
        if (s is null || !s.IsConnected) return; // without IP_RECVERR only connected sockets hear about errors
        var e = (Icmpv4Unreachable)code switch
        {
            Icmpv4Unreachable.PortUnreachable => Errno.ECONNREFUSED,
            Icmpv4Unreachable.ProtocolUnreachable => Errno.ENOPROTOOPT,
            Icmpv4Unreachable.NetUnknown or Icmpv4Unreachable.NetProhibited => Errno.ENETUNREACH,
            Icmpv4Unreachable.HostProhibited or Icmpv4Unreachable.CommunicationProhibited => Errno.EHOSTUNREACH,
            _ => Errno.None, // soft errors (icmp_err_convert fatal = 0) are not reported
        };
        if (e != Errno.None) s.SetError(e);
    }

    private void Drop(SkBuff skb, UdpMib why)
    {
        Stats.Inc(why);
        skb.Free();
    }

    internal void Shutdown()
    {
        UdpSocket[] all;
        lock (_bindLock) all = [.. _all];
        foreach (var s in all) s.CloseNow();
    }
}
