using Netmem.Wire;

namespace Netmem.Stack.Tcp;

/// <summary>A connection's addresses and ports as seen from this host (the demux key of the established hash).</summary>
public readonly record struct TcpFourTuple(Ipv4Address LocalAddress, ushort LocalPort, Ipv4Address RemoteAddress, ushort RemotePort)
{
    public override string ToString() => $"{LocalAddress}:{LocalPort}<->{RemoteAddress}:{RemotePort}";
}

/// <summary>A listener's bound address and port (the listening hash key; Unspecified is INADDR_ANY).</summary>
public readonly record struct TcpEndpoint(Ipv4Address Address, ushort Port)
{
    public override string ToString() => $"{Address}:{Port}";
}
