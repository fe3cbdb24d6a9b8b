namespace Netmem.Devices;

/// <summary><c>ethtool -l/-L</c> (<c>struct ethtool_channels</c>): combined channels (one RX + one TX queue and one NAPI each).</summary>
public sealed record EthtoolChannels
{
    public int MaxCombined { get; init; }
    public int CombinedCount { get; init; }
    // rx-only/tx-only/other channels: this device model has none.
    public int MaxRx { get; init; }
    public int MaxTx { get; init; }
    public int RxCount { get; init; }
    public int TxCount { get; init; }
}
