namespace Netmem.Wire;

/// <summary>The IPv4 protocol field (IANA assigned internet protocol numbers).</summary>
public enum IpProtocol : byte
{
    Icmp = 1,
    Igmp = 2,
    Tcp = 6,
    Udp = 17,
}
