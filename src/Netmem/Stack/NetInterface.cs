using Netmem.Devices;
using Netmem.Pool;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack;

/// <summary>
/// One IPv4 interface (<c>struct in_device</c> on a <c>net_device</c>): the device, its address and prefix,
/// an optional gateway, the ARP table, and one <see cref="StackContext"/> per RX queue attached to that
/// queue's NAPI, each with its own <see cref="SkbCache"/> bound to the same NAPI, so packet processing,
/// protocol timers and TX allocation of the flows on a queue all run on that NAPI's thread. It is the
/// device's <see cref="INetdevRxHandler"/>: Ethernet demux to ARP and IPv4, every other frame counted and dropped.
/// </summary>
public sealed class NetInterface : INetdevRxHandler, IDisposable
{
    private readonly StackContext[] _contexts;
    private readonly SkbCache[] _caches;
    private readonly IpDefrag[] _defrag;
    private bool _disposed;

    internal NetInterface(NetStack stack, NetDevice device, Ipv4Cidr address, Ipv4Address? gateway, Memory.PageArena arena)
    {
        Stack = stack;
        Device = device;
        Address = address;
        Gateway = gateway;
        int n = device.RealNumRxQueues;
        _contexts = new StackContext[n];
        _caches = new SkbCache[n];
        _defrag = new IpDefrag[n];
        for (int i = 0; i < n; i++)
        {
            var napi = device.GetRxQueue(i).Napi
                ?? throw new InvalidOperationException($"{device.Name}: rx queue {i} has no NAPI context (open the device before adding the interface)");
            var cache = new SkbCache(new SkbCacheOptions { Arena = arena, DeferMax = 64 }); // drained by its context's polls
            cache.BindToNapi(napi);
            _caches[i] = cache;
            _contexts[i] = new StackContext($"{device.Name}-ip-{i}", stack.Time, cache);
            _defrag[i] = new IpDefrag(stack, this, _contexts[i]);
        }
        Neighbours = new NeighbourTable(this, stack.Options, stack.Stats);
        for (int i = 0; i < n; i++) _contexts[i].AttachTo(device.GetRxQueue(i).Napi!);
    }

    public NetStack Stack { get; }
    public NetDevice Device { get; }
    public string Name => Device.Name;
    public int Ifindex => Device.Ifindex;
    /// <summary>The interface address and on-link prefix.</summary>
    public Ipv4Cidr Address { get; private set; }
    public Ipv4Address? Gateway { get; }
    /// <summary>The device MTU (IPv4 datagram size).</summary>
    public int Mtu => Device.Mtu;
    public bool IsUp => Device.IsUp && !_disposed;
    public NeighbourTable Neighbours { get; }
    /// <summary>One context per RX queue.</summary>
    public int ContextCount => _contexts.Length;

    /// <summary>The context that owns the flows arriving on RX queue <paramref name="rxQueue"/>.</summary>
    public StackContext GetContext(int rxQueue)
    {
        if ((uint)rxQueue >= (uint)_contexts.Length)
            throw new ArgumentOutOfRangeException(nameof(rxQueue), $"{Name}: rx queue {rxQueue} is outside 0..{_contexts.Length - 1}");
        return _contexts[rxQueue];
    }

    /// <summary>The index of the context whose NAPI this thread is polling now, or -1 (an application thread).</summary>
    public int CurrentQueue
    {
        get
        {
            uint id = NapiScope.Current;
            if (id == 0) return -1;
            for (int i = 0; i < _contexts.Length; i++)
                if (_contexts[i].Napi?.NapiId == id) return i;
            return -1;
        }
    }

    /// <summary>The context running on this thread now (TX skbs must come from its cache), or null off the data path.</summary>
    public StackContext? CurrentContext
    {
        get
        {
            int q = CurrentQueue;
            return q < 0 ? null : _contexts[q];
        }
    }

    /// <summary>Whether the interface owns <paramref name="address"/> (its unicast address).</summary>
    public bool IsLocal(Ipv4Address address) => address == Address.Address && !address.IsUnspecified;

    /// <summary>Whether <paramref name="address"/> is a broadcast address here (limited, or the prefix's directed broadcast).</summary>
    public bool IsBroadcast(Ipv4Address address) => address.IsBroadcast || Address.Broadcast == address;

    /// <summary>Changes the address (and announces it with a gratuitous ARP).</summary>
    public void SetAddress(Ipv4Cidr address)
    {
        Stack.ReplaceConnectedRoute(this, Address, address);
        Address = address;
        Neighbours.SendGratuitous();
    }

    /// <summary>
    /// A TX skb with <see cref="NetStack.HeaderRoom"/> reserved and room for <paramref name="length"/> bytes,
    /// from the current context's cache (or queue 0's, allocating the slow way, off the data path).
    /// </summary>
    public SkBuff? AllocTxSkb(int length)
    {
        int q = CurrentQueue;
        var cache = _caches[q < 0 ? 0 : q];
        var skb = cache.Alloc(length + NetStack.HeaderRoom);
        if (skb is null) return null;
        skb.Reserve(NetStack.HeaderRoom);
        skb.QueueMapping = (ushort)(q < 0 ? 0 : q);
        return skb;
    }

    internal SkbCache CurrentCache
    {
        get
        {
            int q = CurrentQueue;
            return _caches[q < 0 ? 0 : q];
        }
    }

    internal IpDefrag GetDefrag(int rxQueue) => _defrag[(uint)rxQueue < (uint)_defrag.Length ? rxQueue : 0];

    /// <summary>
    /// <c>dev_hard_header</c> + <c>dev_queue_xmit</c>: pushes the Ethernet header (data is at the network
    /// header) and hands the frame to the device. The skb is consumed either way.
    /// </summary>
    internal Errno TransmitFrame(SkBuff skb, EthernetAddress dst, EtherType type)
    {
        if (skb.Headroom < EthernetFrame.MinHeaderLength)
        {
            var e = skb.ExpandHead(EthernetFrame.MinHeaderLength, 0);
            if (e != Errno.None)
            {
                Stack.Stats.Drop(IpDropReason.NoMemory);
                skb.Free();
                return Errno.ENOBUFS;
            }
        }
        new EthernetRepr(Device.Address, dst, type).Emit(skb.Push(EthernetFrame.MinHeaderLength));
        skb.ResetMacHeader();
        skb.Protocol = (ushort)type;
        Stack.Stats.Inc(IpMib.OutTransmits);
        if (Device.Transmit(skb) != NetdevTxResult.Ok)
        {
            Stack.Stats.Drop(IpDropReason.TxDropped);
            return Errno.ENOBUFS;
        }
        return Errno.None;
    }

    /// <summary><c>__netif_receive_skb</c>'s protocol demux: data is at the network header, Ethernet already pulled.</summary>
    public void Receive(NetDevice dev, NetdevRxQueue queue, SkBuff skb)
    {
        if (_disposed)
        {
            Stack.Stats.Drop(IpDropReason.Shutdown);
            skb.Free();
            return;
        }
        switch ((EtherType)skb.Protocol)
        {
            case EtherType.Ipv4:
                Stack.Ipv4Receive(this, queue.Index, skb);
                break;
            case EtherType.Arp:
                Neighbours.Receive(skb);
                break;
            default:
                Stack.Stats.Drop(IpDropReason.UnhandledEtherType);
                dev.CountDrop(SkbDropReason.UnhandledProto);
                skb.Free();
                break;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (ReferenceEquals(Device.RxHandler, this)) Device.RxHandler = null;
        foreach (var d in _defrag) d.Flush();
        Neighbours.Flush();
        foreach (var c in _contexts) c.Dispose();
        foreach (var c in _caches) c.Dispose();
    }

    public override string ToString() => $"{Name} inet {Address}{(Gateway is { } g ? $" gw {g}" : "")} mtu {Mtu}";
}
