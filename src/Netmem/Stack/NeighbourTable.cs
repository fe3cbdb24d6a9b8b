using System.Collections.Concurrent;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack;

/// <summary>
/// The ARP neighbour table of one interface (<c>arp_tbl</c> restricted to one device): resolves next
/// hops, answers requests for the interface address, learns from requests that target us and from
/// replies, and queues packets for addresses still being resolved. Shared by every RX context of the
/// interface: lookups are lock-free and allocation free (<see cref="ConcurrentDictionary{TKey,TValue}.TryGetValue"/>
/// and two volatile fields); entry changes lock the entry; all timers run on <see cref="TimerContext"/>.
/// </summary>
public sealed class NeighbourTable
{
    private readonly NetInterface _iface;
    private readonly NetStackOptions _o;
    private readonly IpStats _stats;
    private readonly ConcurrentDictionary<uint, Neighbour> _entries = new();

    internal NeighbourTable(NetInterface iface, NetStackOptions options, IpStats stats)
    {
        _iface = iface;
        _o = options;
        _stats = stats;
    }

    /// <summary>The context the entries' timers run on (the interface's first RX queue).</summary>
    public StackContext TimerContext => _iface.GetContext(0);
    public int Count => _entries.Count;
    private long Now => TimerContext.NowUs;

    /// <summary><c>neigh_lookup</c>: the entry for <paramref name="address"/>, or null.</summary>
    public Neighbour? Lookup(Ipv4Address address) => _entries.TryGetValue(address.ToUInt32(), out var n) ? n : null;

    /// <summary>Snapshot of the entries (diagnostics; allocates).</summary>
    public IReadOnlyList<Neighbour> Entries => [.. _entries.Values];

    private Neighbour GetOrCreate(Ipv4Address address)
    {
        while (true)
        {
            if (_entries.TryGetValue(address.ToUInt32(), out var n) && !n.Dead) return n;
            var fresh = new Neighbour(this, address);
            if (n is not null) _entries.TryUpdate(address.ToUInt32(), fresh, n);
            else _entries.TryAdd(address.ToUInt32(), fresh);
        }
    }

    // ------------------------------------------------------------------ output

    /// <summary>
    /// <c>neigh_output</c>: sends <paramref name="skb"/> (data at the IPv4 header) to <paramref name="nextHop"/>,
    /// resolving it first when needed (the skb then waits in the entry's queue and None is returned, as Linux does).
    /// </summary>
    public Errno Output(SkBuff skb, Ipv4Address nextHop)
    {
        if (_entries.TryGetValue(nextHop.ToUInt32(), out var n) && n.TryGetHardwareAddress(out var ha))
            return _iface.TransmitFrame(skb, ha, EtherType.Ipv4);
        return EventSend(GetOrCreate(nextHop), skb);
    }

    /// <summary><c>__neigh_event_send</c>: the slow path of a send through <paramref name="n"/>.</summary>
    private Errno EventSend(Neighbour n, SkBuff skb)
    {
        EthernetAddress ha;
        bool kick = false;
        lock (n.Lock)
        {
            switch (n.State)
            {
                case NeighbourState.Reachable:
                case NeighbourState.Delay:
                case NeighbourState.Probe:
                    ha = n.HardwareAddress;
                    break;
                case NeighbourState.Stale:
                    n.SetState(NeighbourState.Delay);
                    n.UpdatedUs = n.UsedUs = Now;
                    ha = n.HardwareAddress;
                    kick = true;
                    break;
                default: // None, Failed, Incomplete
                    if (n.State != NeighbourState.Incomplete)
                    {
                        n.SetState(NeighbourState.Incomplete);
                        n.Probes = 0;
                        n.UpdatedUs = Now;
                        kick = true;
                    }
                    n.EnqueueLocked(skb, _o.UnresolvedQueueBytes, _stats);
                    ha = default;
                    skb = null!;
                    break;
            }
        }
        if (kick) n.Kick();
        return skb is null ? Errno.None : _iface.TransmitFrame(skb, ha, EtherType.Ipv4);
    }

    // ------------------------------------------------------------------ updates

    /// <summary>
    /// <c>neigh_update</c>: records <paramref name="ha"/> for <paramref name="n"/> in <paramref name="state"/>
    /// (Reachable for a unicast reply, Stale otherwise). A Stale update with the same address keeps a
    /// better state. When the entry becomes usable its waiting packets go out.
    /// </summary>
    private void Update(Neighbour n, EthernetAddress ha, NeighbourState state)
    {
        SkBuff? flush = null;
        lock (n.Lock)
        {
            var old = n.State;
            bool valid = old is NeighbourState.Reachable or NeighbourState.Stale or NeighbourState.Delay or NeighbourState.Probe;
            if (state == NeighbourState.Stale && valid && n.HardwareAddress == ha)
            {
                if (old != NeighbourState.Stale) return; // keep REACHABLE/DELAY/PROBE; no confirmation from a mere request
            }
            n.SetHa(ha);
            n.SetState(state);
            long now = Now;
            n.UpdatedUs = now;
            if (state == NeighbourState.Reachable) n.ConfirmedUs = now;
            else n.UsedUs = now;
            n.Probes = 0;
            if (!valid) flush = n.TakeQueueLocked();
        }
        n.Kick();
        while (flush is not null)
        {
            var next = flush.Next;
            flush.Next = null;
            _iface.TransmitFrame(flush, ha, EtherType.Ipv4);
            flush = next;
        }
    }

    // ------------------------------------------------------------------ timers (on TimerContext)

    internal void ArmTimer(Neighbour n, StackTimer timer, StackContext ctx)
    {
        bool probe = false;
        lock (n.Lock)
        {
            if (n.Dead) { ctx.CancelTimer(timer); return; }
            long due;
            switch (n.State)
            {
                case NeighbourState.Incomplete:
                case NeighbourState.Probe:
                    if (n.Probes == 0)
                    {
                        probe = true;
                        n.Probes = 1;
                        n.UpdatedUs = ctx.NowUs;
                    }
                    due = n.UpdatedUs + _o.RetransTimeUs;
                    break;
                case NeighbourState.Reachable: due = n.ConfirmedUs + _o.ReachableTimeUs; break;
                case NeighbourState.Delay: due = n.UpdatedUs + _o.DelayFirstProbeUs; break;
                case NeighbourState.Stale: due = n.UsedUs + _o.GcStaleTimeUs; break;
                default: ctx.CancelTimer(timer); return;
            }
            ctx.ArmTimer(timer, due);
        }
        if (probe) Solicit(n);
    }

    internal void OnTimer(Neighbour n, long now)
    {
        bool probe = false, rearm = true;
        SkBuff? dropped = null;
        lock (n.Lock)
        {
            if (n.Dead) return;
            switch (n.State)
            {
                case NeighbourState.Reachable:
                    if (now >= n.ConfirmedUs + _o.ReachableTimeUs)
                    {
                        n.SetState(NeighbourState.Stale);
                        n.UpdatedUs = n.UsedUs = now;
                    }
                    break;
                case NeighbourState.Delay:
                    // A confirmation meanwhile (a unicast reply) already made the entry REACHABLE.
                    if (now >= n.UpdatedUs + _o.DelayFirstProbeUs)
                    {
                        n.SetState(NeighbourState.Probe);
                        n.Probes = 0; // ArmTimer sends the first unicast probe
                    }
                    break;
                case NeighbourState.Incomplete:
                case NeighbourState.Probe:
                    int max = n.State == NeighbourState.Incomplete ? _o.McastProbes : _o.UcastProbes;
                    if (n.Probes >= max)
                    {
                        n.SetState(NeighbourState.Failed);
                        dropped = n.TakeQueueLocked();
                        n.Dead = true;
                        _entries.TryRemove(new KeyValuePair<uint, Neighbour>(n.Address.ToUInt32(), n));
                        rearm = false;
                    }
                    else
                    {
                        probe = true;
                        n.Probes++;
                        n.UpdatedUs = now;
                    }
                    break;
                case NeighbourState.Stale:
                    if (now >= n.UsedUs + _o.GcStaleTimeUs)
                    {
                        n.Dead = true; // neigh_periodic_work: unused stale entries go
                        _entries.TryRemove(new KeyValuePair<uint, Neighbour>(n.Address.ToUInt32(), n));
                        rearm = false;
                    }
                    break;
                default:
                    rearm = false;
                    break;
            }
        }
        while (dropped is not null)
        {
            var next = dropped.Next;
            dropped.Next = null;
            _stats.Drop(IpDropReason.NeighFailed);
            dropped.Free();
            dropped = next;
        }
        if (probe) Solicit(n);
        if (rearm) ArmTimer(n, GetTimer(n), TimerContext);
    }

    private static StackTimer GetTimer(Neighbour n) => n.TimerField;

    /// <summary><c>arp_solicit</c>: broadcast while INCOMPLETE, unicast to the known address while PROBE.</summary>
    private void Solicit(Neighbour n)
    {
        var dst = n.State == NeighbourState.Probe ? n.HardwareAddress : EthernetAddress.Broadcast;
        SendArp(ArpOperation.Request, dst, _iface.Address.Address, n.Address, default);
    }

    // ------------------------------------------------------------------ ARP input

    /// <summary><c>arp_rcv</c> + <c>arp_process</c>: <paramref name="skb"/>'s data is at the ARP header. Consumes it.</summary>
    internal void Receive(SkBuff skb)
    {
        if (!skb.PskbMayPull(ArpPacket.Length) || ArpPacket.TryCreate(skb.Data, out var pkt) != ParseResult.Ok
            || ArpRepr.Parse(pkt, out var arp) != ParseResult.Ok)
        {
            Drop(skb, IpDropReason.ArpMalformed);
            return;
        }
        var me = _iface.Address.Address;
        var sip = arp.SenderProtocolAddress;
        var tip = arp.TargetProtocolAddress;
        var sha = arp.SenderHardwareAddress;
        if (sip.IsMulticast || sip.IsBroadcast || tip.IsMulticast || sha.IsMulticast || sha.IsZero || sha == _iface.Device.Address)
        {
            Drop(skb, IpDropReason.ArpBadSender);
            return;
        }
        bool forUs = tip == me && !me.IsUnspecified;
        if (arp.Operation == ArpOperation.Request)
        {
            _stats.Inc(IpMib.ArpRequestsIn);
            if (sip.IsUnspecified)
            {
                // Duplicate address detection probe (RFC 5227): answer it, learn nothing.
                if (forUs) SendArp(ArpOperation.Reply, sha, me, sip, sha);
                Consume(skb, forUs);
                return;
            }
            if (sip == me)
            {
                Drop(skb, IpDropReason.ArpBadSender); // someone else claims our address
                return;
            }
            if (forUs)
            {
                Update(GetOrCreate(sip), sha, NeighbourState.Stale); // neigh_event_ns
                SendArp(ArpOperation.Reply, sha, me, sip, sha);
                skb.Consume();
                return;
            }
        }
        else
        {
            _stats.Inc(IpMib.ArpRepliesIn);
            if (sip.IsUnspecified || sip == me)
            {
                Drop(skb, IpDropReason.ArpBadSender);
                return;
            }
        }
        var n = Lookup(sip);
        if (n is null || n.Dead)
        {
            Drop(skb, IpDropReason.ArpNotForUs);
            return;
        }
        // A reply sent to us alone confirms reachability; anything else (requests, broadcast replies) only says stale.
        bool unicastToUs = arp.Operation == ArpOperation.Reply && skb.MacHeaderWasSet
            && EthernetAddress.Read(skb.GetHeadSpan(skb.MacHeader, 6)) == _iface.Device.Address;
        Update(n, sha, unicastToUs ? NeighbourState.Reachable : NeighbourState.Stale);
        skb.Consume();
    }

    private void Consume(SkBuff skb, bool handled)
    {
        if (handled) skb.Consume();
        else Drop(skb, IpDropReason.ArpNotForUs);
    }

    private void Drop(SkBuff skb, IpDropReason reason)
    {
        _stats.Drop(reason);
        skb.Free();
    }

    /// <summary><c>arp_send</c>: builds and transmits one ARP packet.</summary>
    internal void SendArp(ArpOperation op, EthernetAddress dst, Ipv4Address sip, Ipv4Address tip, EthernetAddress tha)
    {
        var skb = _iface.AllocTxSkb(ArpPacket.Length);
        if (skb is null)
        {
            _stats.Drop(IpDropReason.NoMemory);
            return;
        }
        new ArpRepr(op, _iface.Device.Address, sip, tha, tip).Emit(skb.Put(ArpPacket.Length));
        skb.ResetNetworkHeader();
        _stats.Inc(op == ArpOperation.Request ? IpMib.ArpRequestsOut : IpMib.ArpRepliesOut);
        _iface.TransmitFrame(skb, dst, EtherType.Arp);
    }

    /// <summary>Announces the interface address (a gratuitous ARP request, sender = target = the address).</summary>
    public void SendGratuitous()
    {
        var me = _iface.Address.Address;
        if (!me.IsUnspecified) SendArp(ArpOperation.Request, EthernetAddress.Broadcast, me, me, default);
    }

    /// <summary>Frees every queued packet and forgets every entry (interface going away).</summary>
    internal void Flush()
    {
        foreach (var n in _entries.Values)
        {
            SkBuff? q;
            lock (n.Lock)
            {
                n.Dead = true;
                q = n.TakeQueueLocked();
            }
            n.CancelTimer(TimerContext);
            while (q is not null)
            {
                var next = q.Next;
                q.Next = null;
                _stats.Drop(IpDropReason.Shutdown);
                q.Free();
                q = next;
            }
        }
        _entries.Clear();
    }
}
