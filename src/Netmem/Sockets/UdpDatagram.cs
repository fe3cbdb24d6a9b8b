using System.Buffers;
using Netmem.Skb;

namespace Netmem.Sockets;

/// <summary>
/// A received datagram handed out without a copy (the zero-copy receive form): the skb itself, its data at
/// the UDP payload, which may live in unreadable device memory (<see cref="IsReadable"/>). The caller owns
/// the lease and must <see cref="Dispose"/> it, which returns the netmem to its page_pool (on the RX context it came from).
/// </summary>
public struct UdpDatagram : IDisposable
{
    private SkBuff? _skb;

    internal UdpDatagram(SkBuff skb, UdpEndpoint from)
    {
        _skb = skb;
        From = from;
    }

    public UdpEndpoint From { get; }
    public readonly int Length => Skb.Len;
    /// <summary>The skb (data = payload). Valid until disposed.</summary>
    public readonly SkBuff Skb => _skb ?? throw new ObjectDisposedException(nameof(UdpDatagram));
    public readonly bool IsReadable => !Skb.AnyUnreadable;
    /// <summary>The payload in place (no copy); throws for unreadable payload.</summary>
    public readonly ReadOnlySequence<byte> Payload => Skb.AsSequence();
    /// <summary>Copies the payload (throws for unreadable payload).</summary>
    public readonly int CopyTo(Span<byte> destination)
    {
        int n = Math.Min(destination.Length, Skb.Len);
        Skb.CopyBits(0, destination[..n]);
        return n;
    }

    public void Dispose()
    {
        var s = _skb;
        _skb = null;
        if (s is null) return;
        s.Free(); // an RX cache defers frees from other threads back to its NAPI (skb_attempt_defer_free)
    }
}
