using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack;

/// <summary>The NUD states of a neighbour entry (<c>NUD_*</c>), the subset ARP on Ethernet uses.</summary>
public enum NeighbourState
{
    /// <summary>NUD_NONE: just made, nothing sent yet.</summary>
    None,
    /// <summary>NUD_INCOMPLETE: requests sent, no answer yet; packets wait in the entry's queue.</summary>
    Incomplete,
    /// <summary>NUD_REACHABLE: confirmed within reachable_time.</summary>
    Reachable,
    /// <summary>NUD_STALE: an address is known but not recently confirmed; still used.</summary>
    Stale,
    /// <summary>NUD_DELAY: a stale entry was used; wait delay_first_probe_time for a confirmation before probing.</summary>
    Delay,
    /// <summary>NUD_PROBE: unicast probes of a stale address.</summary>
    Probe,
    /// <summary>NUD_FAILED: resolution failed; queued packets were dropped.</summary>
    Failed,
}

/// <summary>
/// <c>struct neighbour</c> for one IPv4 next hop on one interface. The fast path (<see cref="TryGetHardwareAddress"/>)
/// reads two volatile fields without a lock; state changes and the pending queue take the entry's lock.
/// Its timer runs on the interface's first context (the entry posts itself there to re-arm it), so any RX
/// context may confirm or use it.
/// </summary>
public sealed class Neighbour : StackWork, IStackTimerTarget
{
    private readonly NeighbourTable _table;
    private readonly StackTimer _timer;
    internal readonly Lock Lock = new();
    private volatile int _state;
    private long _ha; // EthernetAddress bits, valid when the state is Reachable/Stale/Delay/Probe
    private SkBuff? _qHead, _qTail;
    private int _qBytes, _qCount;

    internal Neighbour(NeighbourTable table, Ipv4Address address)
    {
        _table = table;
        Address = address;
        _timer = new StackTimer(this);
    }

    public Ipv4Address Address { get; }
    public NeighbourState State => (NeighbourState)_state;
    public EthernetAddress HardwareAddress => EthernetAddress.FromUInt64((ulong)Volatile.Read(ref _ha));
    /// <summary>Probes sent in the current INCOMPLETE or PROBE phase (<c>neigh->probes</c>).</summary>
    public int Probes { get; internal set; }
    /// <summary>Packets waiting for resolution (<c>arp_queue_len</c>).</summary>
    public int QueuedPackets => _qCount;
    public int QueuedBytes => _qBytes;
    /// <summary>Context time (of the table's timer context) the entry was last confirmed, updated or used.</summary>
    internal long ConfirmedUs, UpdatedUs, UsedUs;
    internal bool TimerArmed => _timer.IsArmed;
    internal StackTimer TimerField => _timer;
    internal bool Dead;

    /// <summary>The fast path: the address to send to when the entry is usable (CONNECTED, DELAY or PROBE).</summary>
    public bool TryGetHardwareAddress(out EthernetAddress ha)
    {
        var s = (NeighbourState)_state;
        if (s is NeighbourState.Reachable or NeighbourState.Delay or NeighbourState.Probe)
        {
            ha = EthernetAddress.FromUInt64((ulong)Volatile.Read(ref _ha));
            return true;
        }
        ha = default;
        return false;
    }

    internal void SetState(NeighbourState s) => _state = (int)s;
    internal void SetHa(EthernetAddress ha) => Volatile.Write(ref _ha, (long)ha.ToUInt64());

    /// <summary>
    /// Queues <paramref name="skb"/> (a complete frame minus the Ethernet header) until resolution, dropping
    /// the oldest while the queue's truesize would exceed the limit (<c>__neigh_event_send</c>). Caller holds <see cref="Lock"/>.
    /// </summary>
    internal void EnqueueLocked(SkBuff skb, int limitBytes, IpStats stats)
    {
        while (_qHead is not null && _qBytes + skb.Truesize > limitBytes)
        {
            var old = _qHead;
            _qHead = old.Next;
            if (_qHead is null) _qTail = null;
            old.Next = null;
            _qBytes -= old.Truesize;
            _qCount--;
            stats.Drop(IpDropReason.NeighQueueOverflow);
            old.Free();
        }
        skb.Next = null;
        if (_qTail is null) _qHead = skb; else _qTail.Next = skb;
        _qTail = skb;
        _qBytes += skb.Truesize;
        _qCount++;
    }

    /// <summary>Takes the whole pending queue (caller holds <see cref="Lock"/>).</summary>
    internal SkBuff? TakeQueueLocked()
    {
        var q = _qHead;
        _qHead = _qTail = null;
        _qBytes = _qCount = 0;
        return q;
    }

    /// <summary>Asks the timer context to (re)arm this entry's timer from its state.</summary>
    internal void Kick() => _table.TimerContext.Post(this);

    protected internal override void Run(StackContext context) => _table.ArmTimer(this, _timer, context);

    void IStackTimerTarget.OnTimer(StackTimer timer, int kind, long nowUs) => _table.OnTimer(this, nowUs);

    internal bool CancelTimer(StackContext ctx) => ctx.CancelTimer(_timer);

    public override string ToString() => $"{Address} lladdr {HardwareAddress} {State} (probes {Probes}, queued {_qCount})";
}
