namespace Netmem.Wire;

/// <summary>
/// The Ethernet II type field (host-order value). Values under 0x0600 are 802.3 lengths, not types.
/// Any ushort is a valid <see cref="EtherType"/>; the named members are the ones this stack knows.
/// </summary>
public enum EtherType : ushort
{
    Ipv4 = 0x0800,
    Arp = 0x0806,
    /// <summary>IEEE 802.1Q customer VLAN tag (TPID).</summary>
    Vlan = 0x8100,
    Ipv6 = 0x86DD,
    /// <summary>IEEE 802.1ad service VLAN tag (QinQ outer TPID); recognised as a type only.</summary>
    QinQ = 0x88A8,
}
