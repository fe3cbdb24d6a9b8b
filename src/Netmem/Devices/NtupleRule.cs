namespace Netmem.Devices;

/// <summary>Flow types an ntuple rule can match (<c>TCP_V4_FLOW</c>, <c>UDP_V4_FLOW</c>).</summary>
public enum NtupleFlowType : byte
{
    Tcp4 = 1,
    Udp4 = 2,
}

/// <summary>
/// <c>ethtool -N ... flow-type tcp4 dst-ip A dst-port P action Q loc L</c>: steers matching frames to RX
/// queue <see cref="Action"/> (or drops them with <see cref="ActionDrop"/>). Zero fields are wildcards,
/// as in ethtool; addresses and ports in host order.
/// </summary>
public readonly record struct NtupleRule
{
    /// <summary>RX_CLS_FLOW_DISC: drop matching frames.</summary>
    public const int ActionDrop = -1;

    public int Location { get; init; }
    public NtupleFlowType FlowType { get; init; }
    public uint SrcIp { get; init; }
    public uint DstIp { get; init; }
    public ushort SrcPort { get; init; }
    public ushort DstPort { get; init; }
    /// <summary>Target RX queue, or <see cref="ActionDrop"/>.</summary>
    public int Action { get; init; }

    internal bool Matches(in FlowKeys k)
    {
        if (!k.HasPorts) return false;
        byte proto = FlowType == NtupleFlowType.Tcp4 ? FlowDissector.IpProtoTcp : FlowDissector.IpProtoUdp;
        return k.IpProto == proto
            && (SrcIp == 0 || SrcIp == k.SrcAddr) && (DstIp == 0 || DstIp == k.DstAddr)
            && (SrcPort == 0 || SrcPort == k.SrcPort) && (DstPort == 0 || DstPort == k.DstPort);
    }
}
