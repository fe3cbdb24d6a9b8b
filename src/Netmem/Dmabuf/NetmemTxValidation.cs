using Netmem.Devices;
using Netmem.Memory;
using Netmem.Skb;

namespace Netmem.Dmabuf;

/// <summary>
/// <c>validate_xmit_unreadable_skb</c>: an skb with unreadable frags may leave only through a device that
/// declares netmem TX (<see cref="NetDevice.NetmemTx"/>), and only if each net_iov belongs to a TX binding
/// (mapped DMA_TO_DEVICE) of that very device. Anything else would make the device read memory its IOMMU
/// does not map for it (an RX binding's net_iovs are mapped for writing only, or for another device), so
/// the driver drops it, counted as <see cref="SkbDropReason.UnreadableTx"/>, before any DMA.
/// </summary>
internal static class NetmemTxValidation
{
    /// <summary>NotSpecified when <paramref name="skb"/> may go out of <paramref name="dev"/>, else why not.</summary>
    public static SkbDropReason Validate(NetDevice dev, SkBuff skb)
    {
        if (!skb.AnyUnreadable) return SkbDropReason.NotSpecified;
        if (!dev.NetmemTx || skb.Shinfo.FragList is not null) return SkbDropReason.UnreadableTx;
        var frags = skb.Frags;
        for (int i = 0; i < frags.Length; i++)
        {
            var m = frags[i].Netmem;
            if (!m.IsNetIov) continue;
            if (m.NetIovOwner.Owner is not NetDevmemBinding b || b.Device != dev || b.Direction != DmaDirection.ToDevice)
                return SkbDropReason.UnreadableTx;
        }
        return SkbDropReason.NotSpecified;
    }
}
