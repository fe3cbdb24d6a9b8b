namespace Netmem.Skb;

/// <summary><c>SKB_GSO_*</c>: what kind of segmentation offload an skb needs, with the kernel's bit values.</summary>
[Flags]
public enum SkbGsoType : uint
{
    None = 0,
    TcpV4 = 1 << 0,
    /// <summary>SKB_GSO_DODGY: the header came from an untrusted source and must be checked.</summary>
    Dodgy = 1 << 1,
    TcpEcn = 1 << 2,
    TcpFixedId = 1 << 3,
    TcpV6 = 1 << 4,
    Fcoe = 1 << 5,
    Gre = 1 << 6,
    GreCsum = 1 << 7,
    IpXIp4 = 1 << 8,
    IpXIp6 = 1 << 9,
    UdpTunnel = 1 << 10,
    UdpTunnelCsum = 1 << 11,
    Partial = 1 << 12,
    TunnelRemCsum = 1 << 13,
    Sctp = 1 << 14,
    Esp = 1 << 15,
    Udp = 1 << 16,
    UdpL4 = 1 << 17,
    FragList = 1 << 18,
}
