using System.Collections.Concurrent;
using Netmem.Wire;

namespace Netmem.Stack;

/// <summary>
/// ICMP error rate limits as Linux applies them (<c>icmpv4_xrlim_allow</c>): first a global token bucket
/// (icmp_msgs_per_sec, burst icmp_msgs_burst), then a per-destination bucket (<c>inet_peer_xrlim_allow</c>:
/// each message costs icmp_ratelimit, the bucket holds XRLIM_BURST_FACTOR = 6 of them, and a new peer
/// starts full). Only the types in icmp_ratemask are limited. Slow path: a lock per bucket.
/// </summary>
public sealed class IcmpRateLimiter
{
    private const int BurstFactor = 6;
    private readonly NetStackOptions _o;
    private readonly Lock _globalLock = new();
    private double _credit;
    private long _stampUs = long.MinValue;
    private readonly ConcurrentDictionary<uint, Peer> _peers = new();

    private sealed class Peer
    {
        public readonly Lock Lock = new();
        public long Tokens, LastUs;
    }

    public IcmpRateLimiter(NetStackOptions options)
    {
        _o = options;
        _credit = options.IcmpMsgsBurst;
    }

    /// <summary>Whether <paramref name="type"/> is subject to the limit at all.</summary>
    public bool IsLimited(Icmpv4Message type) => (int)type < 32 && (_o.IcmpRateMask & (1u << (int)type)) != 0;

    /// <summary>Takes a token for an error of <paramref name="type"/> to <paramref name="destination"/>; false when over the limit.</summary>
    public bool Allow(Icmpv4Message type, Ipv4Address destination, long nowUs)
    {
        if (!IsLimited(type)) return true;
        lock (_globalLock)
        {
            if (_stampUs != long.MinValue)
            {
                long delta = nowUs - _stampUs;
                if (delta > 0) _credit = Math.Min(_o.IcmpMsgsBurst, _credit + delta * (double)_o.IcmpMsgsPerSec / 1_000_000);
            }
            _stampUs = nowUs;
            if (_credit < 1) return false;
            _credit -= 1;
        }
        long timeout = _o.IcmpRateLimitUs;
        if (timeout == 0) return true;
        var p = _peers.GetOrAdd(destination.ToUInt32(), static (_, now) => new Peer { Tokens = 0, LastUs = now - 60_000_000 }, nowUs);
        lock (p.Lock)
        {
            long token = p.Tokens + (nowUs - p.LastUs);
            p.LastUs = nowUs;
            if (token > BurstFactor * timeout) token = BurstFactor * timeout;
            bool ok = token >= timeout;
            if (ok) token -= timeout;
            p.Tokens = token;
            return ok;
        }
    }
}
