namespace Netmem.Devices;

/// <summary>
/// <c>ethtool -g/-G</c> (<c>struct ethtool_ringparam</c> + <c>kernel_ethtool_ringparam</c>): ring sizes,
/// RX buffer length, header/data split and its threshold. Read-only maxima come from the driver.
/// </summary>
public sealed record EthtoolRingParam
{
    public int RxPending { get; init; }
    public int TxPending { get; init; }
    public int RxMaxPending { get; init; }
    public int TxMaxPending { get; init; }
    /// <summary>Size of each RX data buffer in bytes.</summary>
    public int RxBufLen { get; init; }
    /// <summary>The configured header/data split (Auto, Off, On).</summary>
    public TcpDataSplit TcpDataSplit { get; init; }
    /// <summary>Whether split is in effect now (what the kernel reports: Auto resolves to On or Off).</summary>
    public bool TcpDataSplitActive { get; init; }
    /// <summary>Frames up to this length stay whole in the header buffer (0 = always split).</summary>
    public int HdsThresh { get; init; }
    public int HdsThreshMax { get; init; }
}
