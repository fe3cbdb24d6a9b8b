using Netmem.Devices;
using Netmem.Memory;

namespace Netmem.Drivers.VirtualNic;

/// <summary>Settings for one <see cref="VirtualNic"/>; every default is what <c>new()</c> gives.</summary>
public sealed record VirtualNicOptions
{
    /// <summary>Interface name. Default "vnic0".</summary>
    public string Name { get; init; } = "vnic0";
    /// <summary>Combined channels at start (RX+TX queue and a NAPI each). Default 2.</summary>
    public int Queues { get; init; } = 2;
    /// <summary>Channels the hardware has (ethtool -l maximum). Default 8.</summary>
    public int MaxQueues { get; init; } = 8;
    /// <summary>RX descriptors per queue. Default 256 (maximum 4096).</summary>
    public int RxRingSize { get; init; } = 256;
    /// <summary>TX descriptors per queue. Default 256 (maximum 4096).</summary>
    public int TxRingSize { get; init; } = 256;
    /// <summary>MTU at start. Default 1500; the device allows 68..65535.</summary>
    public int Mtu { get; init; } = 1500;
    /// <summary>Header/data split at start. Default Auto (which this device resolves to off).</summary>
    public TcpDataSplit TcpDataSplit { get; init; } = TcpDataSplit.Auto;
    /// <summary>hds-thresh at start. Default 0.</summary>
    public int HdsThresh { get; init; }
    /// <summary>MAC address. Default: a locally administered address from the ifindex.</summary>
    public Netmem.Wire.EthernetAddress? Address { get; init; }
    /// <summary>Features on at start. Default: everything the device has.</summary>
    public NetdevFeatures? Features { get; init; }
    /// <summary>Give each NAPI context its own poll thread when the device opens. Default false (the caller polls: deterministic).</summary>
    public bool ThreadedNapi { get; init; }
    /// <summary>Where RX buffers and skb heads come from. Null means <see cref="PageArena.Shared"/>.</summary>
    public PageArena? Arena { get; init; }
}
