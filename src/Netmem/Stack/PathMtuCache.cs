using System.Collections.Concurrent;
using Netmem.Wire;

namespace Netmem.Stack;

/// <summary>
/// Learned path MTUs per destination (the kernel keeps them as FIB nexthop exceptions, <c>fnhe_pmtu</c>):
/// an ICMP frag-needed lowers one, never below route.min_pmtu, and it expires after route.mtu_expires.
/// Lookups are lock-free and allocation free.
/// </summary>
public sealed class PathMtuCache
{
    private readonly ConcurrentDictionary<uint, Entry> _entries = new();
    private readonly int _minPmtu;
    private readonly long _expiresUs;

    private sealed class Entry
    {
        public volatile int Mtu;
        public long ExpiresUs;
    }

    public PathMtuCache(int minPmtu, long expiresUs)
    {
        _minPmtu = minPmtu;
        _expiresUs = expiresUs;
    }

    public int Count => _entries.Count;

    /// <summary>The path MTU to <paramref name="destination"/>: the learned one while valid, else <paramref name="deviceMtu"/>.</summary>
    public int Get(Ipv4Address destination, int deviceMtu, long nowUs)
    {
        if (_entries.IsEmpty || !_entries.TryGetValue(destination.ToUInt32(), out var e)) return deviceMtu;
        if (nowUs >= Volatile.Read(ref e.ExpiresUs))
        {
            _entries.TryRemove(destination.ToUInt32(), out _);
            return deviceMtu;
        }
        return Math.Min(e.Mtu, deviceMtu);
    }

    /// <summary>
    /// <c>__ip_rt_update_pmtu</c>: records <paramref name="mtu"/> (clamped up to min_pmtu) when it is below
    /// what the path has now. Returns the MTU in effect afterwards.
    /// </summary>
    public int Update(Ipv4Address destination, int mtu, int deviceMtu, long nowUs)
    {
        if (mtu < 68) return Get(destination, deviceMtu, nowUs); // a bogus value (RFC 1191 says ignore)
        mtu = Math.Max(mtu, _minPmtu);
        int current = Get(destination, deviceMtu, nowUs);
        if (mtu >= current) return current;
        var e = _entries.GetOrAdd(destination.ToUInt32(), static _ => new Entry());
        e.Mtu = mtu;
        Volatile.Write(ref e.ExpiresUs, nowUs + _expiresUs);
        return mtu;
    }

    public void Clear() => _entries.Clear();
}
