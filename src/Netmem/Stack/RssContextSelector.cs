using Netmem.Devices;
using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Stack;

/// <summary>
/// The multi-queue <see cref="ITcpContextSelector"/> of a <see cref="NetStack"/>. A segment runs on the
/// <see cref="StackContext"/> of the interface RX queue it arrived on; a new outgoing flow is put on the
/// context of the RX queue its replies will arrive on, computed as the NIC will pick it: the first
/// matching ntuple rule, else RSS (Toeplitz over the reply's 4-tuple with the device's key and
/// indirection table). So every segment of a flow normally runs on its owner's thread with no handoff
/// (the kernel gets the same locality from RSS plus RFS; here it is what keeps the data path lock-free).
/// </summary>
public sealed class RssContextSelector : ITcpContextSelector
{
    private readonly NetStack _stack;
    private int _roundRobin;

    public RssContextSelector(NetStack stack) => _stack = stack ?? throw new ArgumentNullException(nameof(stack));

    public StackContext ForRxQueue(int ifIndex, int rxQueue)
    {
        var iface = _stack.GetInterface(ifIndex) ?? FirstInterface();
        return iface.GetContext((uint)rxQueue < (uint)iface.ContextCount ? rxQueue : 0);
    }

    public StackContext ForFlow(in TcpFourTuple tuple)
    {
        var iface = InterfaceFor(tuple.LocalAddress, tuple.RemoteAddress);
        return iface.GetContext(ReplyQueue(iface, tuple));
    }

    /// <summary>
    /// Where a socket with no port yet starts its connect: the context this thread is running (a connect
    /// from stack code stays local), else the route interface's contexts in turn, so connections from
    /// application threads spread over the queues. <see cref="TcpLayer.Connect"/> then picks an ephemeral
    /// port whose replies RSS delivers to that context.
    /// </summary>
    public StackContext ForNewConnection(Ipv4Address remote, ushort remotePort)
    {
        foreach (var i in _stack.Interfaces)
            if (i.CurrentContext is { } current) return current;
        var iface = InterfaceFor(Ipv4Address.Unspecified, remote);
        int n = iface.ContextCount;
        int k = (int)((uint)Interlocked.Increment(ref _roundRobin) % (uint)n);
        return iface.GetContext(k);
    }

    /// <summary>The RX queue the device of <paramref name="iface"/> delivers this flow's incoming segments to.</summary>
    public static int ReplyQueue(NetInterface iface, in TcpFourTuple tuple)
    {
        ArgumentNullException.ThrowIfNull(iface);
        // The reply travels remote -> local: that is the order the NIC hashes it in.
        var keys = new FlowKeys
        {
            EtherType = FlowDissector.EthPIp,
            NetworkOffset = EthernetFrame.MinHeaderLength,
            TransportOffset = EthernetFrame.MinHeaderLength + Ipv4Packet.MinHeaderLength,
            HeaderLength = EthernetFrame.MinHeaderLength + Ipv4Packet.MinHeaderLength + TcpPacket.MinHeaderLength,
            IpProto = FlowDissector.IpProtoTcp,
            SrcAddr = tuple.RemoteAddress.ToUInt32(),
            DstAddr = tuple.LocalAddress.ToUInt32(),
            SrcPort = tuple.RemotePort,
            DstPort = tuple.LocalPort,
        };
        int q = iface.Device.SelectRxQueue(keys, out _, out _);
        return (uint)q < (uint)iface.ContextCount ? q : 0; // a drop rule or a queue the stack has no context for
    }

    private NetInterface InterfaceFor(Ipv4Address local, Ipv4Address remote)
    {
        if (!local.IsUnspecified && _stack.FindLocal(local) is { } owner) return owner;
        if (_stack.Route(remote, Ipv4Address.Unspecified, out var route) == Errno.None && _stack.GetInterface(route.IfIndex) is { } routed) return routed;
        return FirstInterface();
    }

    private NetInterface FirstInterface()
    {
        var list = _stack.Interfaces;
        if (list.Count == 0) throw new NetmemErrnoException(Errno.ENETUNREACH, "the stack has no interface: add one before using TCP");
        return list[0];
    }
}
