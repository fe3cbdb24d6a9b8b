using Netmem.Devices;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Phy;
using Netmem.Pool;
using Netmem.Skb;

namespace Netmem.Tests.Devices;

/// <summary>Collects what netif_receive_skb delivers; the test owns (and frees) the skbs.</summary>
internal sealed class CollectingHandler : INetdevRxHandler
{
    public readonly List<(int Queue, SkBuff Skb)> Received = [];
    public readonly HashSet<int> Threads = [];
    public void Receive(NetDevice dev, NetdevRxQueue queue, SkBuff skb)
    {
        lock (Received)
        {
            Received.Add((queue.Index, skb));
            Threads.Add(Environment.CurrentManagedThreadId);
        }
    }

    /// <summary>The whole frame (Ethernet header pushed back) of a readable skb.</summary>
    public static byte[] FrameBytes(SkBuff skb)
    {
        skb.Push(14);
        var b = new byte[skb.Len];
        skb.CopyBits(0, b);
        skb.Pull(14);
        return b;
    }

    public void FreeAll()
    {
        lock (Received)
        {
            foreach (var (_, skb) in Received) skb.Free();
            Received.Clear();
        }
    }
}

/// <summary>
/// A VirtualNic pair on a private arena, a TX skb cache, and collecting handlers on both sides. Dispose
/// frees what the test left, tears the pair down and checks that nothing leaked: every page_pool the
/// NICs created is freed with inflight 0, no DMA mapping is left, every arena page is free.
/// </summary>
internal sealed class NicTestEnv : IDisposable
{
    private readonly HashSet<PagePool> _pools = [];

    public NicTestEnv(VirtualNicOptions? a = null, VirtualNicOptions? b = null,
        Func<IWireSink, IWireSink>? aToB = null, Func<IWireSink, IWireSink>? bToA = null, int pages = 8192)
    {
        Arena = new PageArena(new PageArenaOptions { PageCount = pages });
        Pair = new VirtualNicPair(new VirtualNicPairOptions
        {
            A = (a ?? new VirtualNicOptions()) with { Name = a?.Name ?? "vtest0", Arena = Arena },
            B = (b ?? new VirtualNicOptions()) with { Name = b?.Name ?? "vtest1", Arena = Arena },
            AToB = aToB,
            BToA = bToA,
        });
        Pair.A.RxHandler = RxA;
        Pair.B.RxHandler = RxB;
        TxCache = new SkbCache(new SkbCacheOptions { Arena = Arena });
        TrackPools();
    }

    public PageArena Arena { get; }
    public VirtualNicPair Pair { get; }
    public VirtualNic A => Pair.A;
    public VirtualNic B => Pair.B;
    public CollectingHandler RxA { get; } = new();
    public CollectingHandler RxB { get; } = new();
    public SkbCache TxCache { get; }

    /// <summary>Remembers the NICs' current pools (call after a restart too) so Dispose can check them.</summary>
    public void TrackPools()
    {
        A.CollectRxPagePools(_pools);
        B.CollectRxPagePools(_pools);
    }

    /// <summary>An skb holding <paramref name="frame"/> in its head, for transmit.</summary>
    public SkBuff Skb(ReadOnlySpan<byte> frame, ushort queue = 0)
    {
        var skb = TxCache.Alloc(frame.Length + 64)!;
        skb.Reserve(64);
        skb.PutData(frame);
        skb.QueueMapping = queue;
        return skb;
    }

    public NetdevTxResult Send(VirtualNic from, ReadOnlySpan<byte> frame, ushort queue = 0) => from.Transmit(Skb(frame, queue));

    /// <summary>
    /// The zero-allocation check of a receive path: <paramref name="rounds"/> rounds of 32 copies of
    /// <paramref name="frame"/> from A, B's queue 0 polled after each, warm-up first; returns the bytes this
    /// thread allocated over the measured rounds (700 rounds in all).
    /// </summary>
    public long AllocatedOverSteadyRounds(byte[] frame, int warmup = 200, int rounds = 500)
    {
        var napi = B.GetNapi(0);
        void Round()
        {
            for (int i = 0; i < 32; i++) Send(A, frame);
            napi.RunUntilIdle();
        }
        for (int i = 0; i < warmup; i++) Round(); // caches, pools, rings, JIT
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < rounds; i++) Round();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    public void Dispose()
    {
        RxA.FreeAll();
        RxB.FreeAll();
        TrackPools();
        Pair.Dispose();
        TxCache.Dispose();
        foreach (var p in _pools)
        {
            Assert.True(p.IsFreed, $"{p} (ifindex {p.Params.Ifindex}, A {A.Ifindex}, B {B.Ifindex}, queue {p.Params.QueueIndex}, flags {p.Params.Flags}) was not freed: {p.GetStats()}");
            Assert.Equal(0, p.Inflight);
        }
        Assert.True(TxCache.HeadPool.IsFreed);
        Assert.Equal(0, A.Dma.LiveMappings);
        Assert.Equal(0, B.Dma.LiveMappings);
        Assert.Equal(Arena.TotalPages, Arena.FreePages);
        Arena.Dispose();
    }
}
