namespace Netmem.Devices;

/// <summary>
/// <c>netdev_features_t</c>: the offloads a device can do (<see cref="NetDevice.HwFeatures"/>) and the
/// ones turned on (<see cref="NetDevice.Features"/>), with the kernel's ethtool -k names.
/// </summary>
[Flags]
public enum NetdevFeatures : ulong
{
    None = 0,
    /// <summary>NETIF_F_SG (scatter-gather): TX skbs may carry frags.</summary>
    Sg = 1 << 0,
    /// <summary>NETIF_F_IP_CSUM (tx-checksum-ipv4): the device fills TCP/UDP checksums (CHECKSUM_PARTIAL).</summary>
    IpCsum = 1 << 1,
    /// <summary>NETIF_F_RXCSUM (rx-checksum): the device verifies checksums and reports CHECKSUM_UNNECESSARY.</summary>
    RxCsum = 1 << 2,
    /// <summary>NETIF_F_TSO (tcp-segmentation-offload): the device segments TCP GSO skbs.</summary>
    Tso = 1 << 3,
    /// <summary>NETIF_F_GSO (generic-segmentation-offload): software segmentation before the driver.</summary>
    Gso = 1 << 4,
    /// <summary>NETIF_F_GRO (generic-receive-offload).</summary>
    Gro = 1 << 5,
    /// <summary>NETIF_F_RXHASH (receive-hashing): the device reports the RSS hash in the skb.</summary>
    RxHash = 1 << 6,
    /// <summary>NETIF_F_NTUPLE (ntuple-filters): flow steering rules are honoured.</summary>
    Ntuple = 1 << 7,
    /// <summary>NETIF_F_RXALL (rx-all): keep frames with bad FCS/checksums instead of dropping them in hardware.</summary>
    RxAll = 1 << 8,
    /// <summary>IFF_PROMISC stands in here: accept frames for any destination MAC.</summary>
    Promisc = 1 << 9,
}
