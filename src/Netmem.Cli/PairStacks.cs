using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Cli;

/// <summary>What a <see cref="PairStacks"/> left behind: page_pools the run made, their inflight sum, arena pages not returned.</summary>
internal readonly record struct PairLeftovers(int Pools, long Inflight, int ArenaPagesLeft)
{
    public bool Clean => Inflight == 0 && ArenaPagesLeft == 0;
}

/// <summary>
/// Two <see cref="NetStack"/>s over the in-memory VirtualNic pair on one arena (<see cref="AddressA"/> on A,
/// <see cref="AddressB"/> on B, a threaded NAPI context per queue, 1024-entry rings): what <c>perf tcp</c>,
/// <c>perf devmem</c> and <c>ncdevmem</c> run on. <see cref="Teardown"/> is the check they all end with:
/// every page_pool the run made (including those of queue restarts, collected by <see cref="TrackPools"/>)
/// back at inflight 0, every arena page free.
/// </summary>
internal sealed class PairStacks
{
    public static readonly Ipv4Address AddressA = new(10, 77, 0, 1);
    public static readonly Ipv4Address AddressB = new(10, 77, 0, 2);
    private readonly HashSet<PagePool> _pools = [];
    private PairLeftovers? _leftovers;

    /// <param name="tsoA">TSO on A's NIC (the sender in every use); set before the stacks see the device.</param>
    public PairStacks(string nameA, string nameB, int queuesA, int queuesB, int mtu, bool tsoA = true)
    {
        Arena = new PageArena(new PageArenaOptions { PageCount = 32768 });
        Pair = new VirtualNicPair(new VirtualNicPairOptions
        {
            A = new VirtualNicOptions { Name = nameA, Arena = Arena, Queues = queuesA, Mtu = mtu, ThreadedNapi = true, RxRingSize = 1024, TxRingSize = 1024 },
            B = new VirtualNicOptions { Name = nameB, Arena = Arena, Queues = queuesB, Mtu = mtu, ThreadedNapi = true, RxRingSize = 1024, TxRingSize = 1024 },
        });
        if (!tsoA) Pair.A.SetFeatures(Pair.A.Features & ~Devices.NetdevFeatures.Tso);
        A = NetStack.Create(Pair.A, new Ipv4Cidr(AddressA, 24));
        B = NetStack.Create(Pair.B, new Ipv4Cidr(AddressB, 24));
        TrackPools();
    }

    public PageArena Arena { get; }
    public VirtualNicPair Pair { get; }
    public NetStack A { get; }
    public NetStack B { get; }

    /// <summary>Remembers the pools both NICs run with now (call again after a queue restart, e.g. a bind).</summary>
    public void TrackPools()
    {
        Pair.A.CollectRxPagePools(_pools);
        Pair.B.CollectRxPagePools(_pools);
    }

    /// <summary>Disposes the stacks and the pair (once), then reports what was not given back; the arena is freed when empty.</summary>
    public PairLeftovers Teardown()
    {
        if (_leftovers is { } done) return done;
        TrackPools();
        A.Dispose();
        B.Dispose();
        Pair.Dispose();
        long inflight = 0;
        foreach (var p in _pools) inflight += p.Inflight;
        int left = Arena.UsedPages;
        if (left == 0) Arena.Dispose();
        _leftovers = new PairLeftovers(_pools.Count, inflight, left);
        return _leftovers.Value;
    }
}
