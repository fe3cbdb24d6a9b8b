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
    private readonly Stack.NetStack? _stack;

    internal UdpDatagram(SkBuff skb, UdpEndpoint from, Stack.NetStack stack)
    {
        _skb = skb;
        _stack = stack;
        From = from;
    }

    public UdpEndpoint From { get; }
    public readonly int Length => Skb.Len;
    /// <summary>The skb (data = payload). Valid until disposed.</summary>
    public readonly SkBuff Skb => _skb ?? throw new ObjectDisposedException(nameof(UdpDatagram));
    public readonly bool IsReadable => !Skb.Unreadable;
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
        if (_stack is not null) _stack.FreeOnOwner(s); // back to the RX context's cache, not the GC
        else s.Free();
    }
}
