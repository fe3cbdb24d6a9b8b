using Netmem.Skb;

namespace Netmem.Devices;

/// <summary>
/// Where <c>netif_receive_skb</c> delivers: the stack's protocol entry point for one device. Called on
/// the RX queue's NAPI context; the handler owns the skb afterwards (frees or queues it).
/// </summary>
public interface INetdevRxHandler
{
    void Receive(NetDevice dev, NetdevRxQueue queue, SkBuff skb);
}
