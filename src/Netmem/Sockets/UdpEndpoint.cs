using Netmem.Wire;

namespace Netmem.Sockets;

/// <summary>An IPv4 address and UDP port (<c>struct sockaddr_in</c>).</summary>
public readonly record struct UdpEndpoint(Ipv4Address Address, ushort Port)
{
    public override string ToString() => $"{Address}:{Port}";
}

/// <summary>What a copying receive returns: bytes copied, the sender, and whether the datagram was longer than the buffer (MSG_TRUNC).</summary>
public readonly record struct UdpReceiveResult(int Length, UdpEndpoint From, bool Truncated, int DatagramLength);
