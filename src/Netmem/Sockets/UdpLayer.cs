namespace Netmem.Sockets;
public sealed class UdpLayer : Netmem.Stack.IIpProtocolHandler
{
    private readonly Netmem.Stack.NetStack _stack;
    internal UdpLayer(Netmem.Stack.NetStack stack) => _stack = stack;
    public Netmem.Wire.IpProtocol Protocol => Netmem.Wire.IpProtocol.Udp;
    public void Receive(in Netmem.Stack.Ipv4Meta ip, Netmem.Skb.SkBuff skb) { skb.Free(); }
    public void ReceiveIcmpError(in Netmem.Stack.Ipv4Meta original, Netmem.Wire.Icmpv4Message message, byte code, uint info, ReadOnlySpan<byte> quotedTransport) { }
    internal void Shutdown() { }
}
