using Netmem.Devices;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack;

/// <summary>The result of an output route lookup (<c>ip_route_output</c> + the device it leaves by).</summary>
public readonly record struct IpRoute(
    Ipv4Address Source,
    Ipv4Address NextHop,
    int IfIndex,
    // The path MTU (the device MTU unless an ICMP frag-needed lowered it).
    int Mtu,
    // Offloads of the device (<see cref="NetdevFeatures.Tso"/>, <see cref="NetdevFeatures.IpCsum"/>, <see cref="NetdevFeatures.Sg"/>).
    NetdevFeatures Features,
    // Largest GSO skb the device takes (<c>gso_max_size</c>), 0 without TSO.
    int GsoMaxSize);

/// <summary>What IPv4 input tells the transport protocol about a datagram it delivers.</summary>
public readonly record struct Ipv4Meta(
    Ipv4Address Source,
    Ipv4Address Destination,
    byte TimeToLive,
    byte Tos,
    int IfIndex,
    // The RX queue it arrived on (the flow's owner context).
    int RxQueue);

/// <summary>
/// The IPv4 layer as seen from above (what TCP and UDP call). Every method runs on the calling flow's
/// <see cref="StackContext"/> thread.
/// </summary>
public interface IIpOutput
{
    // Headroom a transport must reserve in a TX skb for the IPv4 and link headers (MAX_HEADER).
    int MaxHeaderRoom { get; }

    /// <summary>
    /// <c>ip_route_output_key</c>: picks the source address (or checks <paramref name="source"/> when it
    /// is not <see cref="Ipv4Address.Unspecified"/>), next hop, device and path MTU for <paramref name="destination"/>.
    /// ENETUNREACH when no route matches; EADDRNOTAVAIL when the source is not local.
    /// </summary>
    Errno Route(Ipv4Address destination, Ipv4Address source, out IpRoute route);

    /// <summary>
    /// <c>ip_queue_xmit</c>: <paramref name="skb"/>'s data starts at the transport header (its transport
    /// header offset set) with at least <see cref="MaxHeaderRoom"/> headroom. Pushes the IPv4 header,
    /// fragments when needed and allowed, resolves the next hop (queueing on ARP) and transmits.
    /// Always consumes the skb. Returns None, or why it was dropped (EMSGSIZE for DF over MTU, ENOBUFS...).
    /// </summary>
    Errno Output(SkBuff skb, in IpRoute route, Ipv4Address source, Ipv4Address destination, IpProtocol protocol,
        byte tos = 0, byte ttl = 64, bool dontFragment = true);
}

/// <summary>A transport protocol registered with IPv4 input (<c>struct net_protocol</c>).</summary>
public interface IIpProtocolHandler
{
    IpProtocol Protocol { get; }

    /// <summary>
    /// Called on the RX queue's context with <paramref name="skb"/>'s data at the transport header
    /// (network header set, trimmed to the IP total length, reassembled if it was fragmented). The handler
    /// owns the skb. Checksums not yet verified by the device (<c>skb.IpSummed</c> None) are the handler's to check.
    /// </summary>
    void Receive(in Ipv4Meta ip, SkBuff skb);

    /// <summary>
    /// An ICMP error about a datagram this protocol sent (<c>err_handler</c>): <paramref name="quotedTransport"/>
    /// is the start of the original transport header (at least 8 bytes), <paramref name="original"/> the
    /// quoted IPv4 header's addresses. Frag-needed carries the next-hop MTU in <paramref name="info"/>.
    /// </summary>
    void ReceiveIcmpError(in Ipv4Meta original, Icmpv4Message message, byte code, uint info, ReadOnlySpan<byte> quotedTransport);
}
