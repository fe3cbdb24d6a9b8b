using Netmem.Pool;

namespace Netmem.Devices;

/// <summary>dev-get: one device, with the netdev family's attributes plus what ip link / ethtool show.</summary>
public sealed record NetdevDevInfo(
    int Ifindex, string Name, string Driver, string Address, int Mtu, bool Up, bool Carrier,
    NetdevFeatures Features, NetdevFeatures HwFeatures, EthtoolRingParam Rings, EthtoolChannels Channels,
    IReadOnlyDictionary<SkbDropReason, long> Drops);

/// <summary>queue-get: one queue (<c>id</c>, <c>ifindex</c>, <c>type</c>, <c>napi-id</c>, <c>dmabuf</c>/<c>io-uring</c> when a provider is bound).</summary>
public sealed record NetdevQueueInfo(int Id, int Ifindex, string Type, uint? NapiId, uint? Dmabuf, bool IoUring, int? PagePoolId);

/// <summary>napi-get: one NAPI context (<c>id</c>, <c>ifindex</c>, <c>threaded</c>) with its counters.</summary>
public sealed record NetdevNapiInfo(uint Id, int Ifindex, string Name, bool Threaded, NapiStats Stats);

/// <summary>
/// The netdev generic netlink family's get operations (dev-get, queue-get, napi-get; page-pool-get is
/// <see cref="PagePool.GetInfo"/>), answered from the live objects.
/// </summary>
public static class NetdevFamily
{
    public static NetdevDevInfo DevGet(NetDevice dev) => new(
        dev.Ifindex, dev.Name, dev.DriverName, dev.Address.ToString(), dev.Mtu, dev.IsUp, dev.Carrier,
        dev.Features, dev.HwFeatures, dev.GetRingParam(), dev.GetChannels(), dev.GetDrops());

    public static IReadOnlyList<NetdevQueueInfo> QueueGet(NetDevice dev)
    {
        var list = new List<NetdevQueueInfo>();
        foreach (var q in dev.RxQueues)
        {
            // The provider attributes come from the queue's mp_params (nl_fill with the queue), not from its pool.
            var mp = q.MemoryProvider?.NlFill(q) ?? default;
            list.Add(new NetdevQueueInfo(q.Index, dev.Ifindex, "rx", q.Napi?.NapiId, mp.Dmabuf, mp.IoUring, q.PagePool?.Id));
        }
        foreach (var q in dev.TxQueues)
            list.Add(new NetdevQueueInfo(q.Index, dev.Ifindex, "tx", q.Napi?.NapiId, null, false, null));
        return list;
    }

    public static IReadOnlyList<NetdevNapiInfo> NapiGet(NetDevice dev)
    {
        var list = new List<NetdevNapiInfo>();
        foreach (var q in dev.RxQueues)
            if (q.Napi is { } n && !list.Exists(x => x.Id == n.NapiId))
                list.Add(new NetdevNapiInfo(n.NapiId, dev.Ifindex, n.Name, n.IsThreaded, n.Stats));
        return list;
    }
}
