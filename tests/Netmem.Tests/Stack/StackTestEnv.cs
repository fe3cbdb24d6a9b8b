using Microsoft.Extensions.Time.Testing;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Phy;
using Netmem.Pool;
using Netmem.Skb;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Tests.Stack;

/// <summary>
/// Two stacks (10.0.0.1/24 on A, 10.0.0.2/24 on B) over a VirtualNic pair on a private arena, with a fake
/// clock. Dispose tears down both stacks and the pair and checks that every page_pool was freed with
/// inflight 0, no DMA mapping is left and every arena page is back.
/// </summary>
internal sealed class StackTestEnv : IDisposable
{
    public static readonly Ipv4Address IpA = new(10, 0, 0, 1), IpB = new(10, 0, 0, 2);
    private readonly HashSet<PagePool> _pools = [];

    public StackTestEnv(VirtualNicOptions? a = null, VirtualNicOptions? b = null, NetStackOptions? options = null,
        Func<IWireSink, IWireSink>? aToB = null, Func<IWireSink, IWireSink>? bToA = null, bool settle = true, TimeProvider? clock = null, int pages = 8192, FakeTimeProvider? time = null)
    {
        Time = time ?? new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Clock = clock ?? Time;
        Arena = new PageArena(new PageArenaOptions { PageCount = pages });
        Pair = new VirtualNicPair(new VirtualNicPairOptions
        {
            A = (a ?? new VirtualNicOptions()) with { Name = "stk0", Arena = Arena },
            B = (b ?? new VirtualNicOptions()) with { Name = "stk1", Arena = Arena },
            AToB = aToB,
            BToA = bToA,
        });
        TrackPools();
        StackA = NetStack.Create(Pair.A, new Ipv4Cidr(IpA, 24), time: Clock, options: options);
        StackB = NetStack.Create(Pair.B, new Ipv4Cidr(IpB, 24), time: Clock, options: options);
        RawTx = new SkbCache(new SkbCacheOptions { Arena = Arena });
        if (settle) Poll(); // the gratuitous ARPs
    }

    public FakeTimeProvider Time { get; }
    /// <summary>The clock the stacks run on: <see cref="Time"/> unless the test passed another (a still clock for allocation checks, the system clock for threaded runs).</summary>
    public TimeProvider Clock { get; }
    public PageArena Arena { get; }
    public VirtualNicPair Pair { get; }
    public NetStack StackA { get; }
    public NetStack StackB { get; }
    public NetInterface IfA => StackA.Interfaces[0];
    public NetInterface IfB => StackB.Interfaces[0];
    /// <summary>For frames a test builds by hand.</summary>
    public SkbCache RawTx { get; }

    /// <summary>
    /// Polls both NICs until no NAPI context is scheduled. (PollAll stops when the drivers saw no frame,
    /// but a stack context's timer or posted work may have just sent one: keep going while anything is scheduled.)
    /// </summary>
    public long Poll()
    {
        long total = 0;
        for (int round = 0; round < 10_000; round++)
        {
            total += Pair.PollAll();
            if (!AnyScheduled(Pair.A) && !AnyScheduled(Pair.B)) break;
        }
        return total;
    }

    /// <summary>Advances the fake clock in steps, polling after each (timers fire through the NAPI contexts).</summary>
    public void Advance(TimeSpan by, int steps = 1)
    {
        for (int i = 0; i < steps; i++)
        {
            Time.Advance(by / steps);
            Poll();
        }
    }

    private static bool AnyScheduled(VirtualNic nic)
    {
        for (int i = 0; i < nic.RealNumRxQueues; i++)
            if (nic.GetNapi(i).IsScheduled) return true;
        return false;
    }

    /// <summary>The result of a completed ValueTask (deterministic tests poll until it completes).</summary>
    public static T Result<T>(ValueTask<T> vt)
    {
        Assert.True(vt.IsCompleted, "the operation did not complete");
        return vt.GetAwaiter().GetResult();
    }

    /// <summary>Polls until <paramref name="done"/> or the round limit.</summary>
    public void PollUntil(Func<bool> done, int rounds = 1000)
    {
        for (int i = 0; i < rounds && !done(); i++) Poll();
    }

    /// <summary>Sends a raw Ethernet frame from A's device (bypassing A's stack).</summary>
    public void SendRawFromA(ReadOnlySpan<byte> frame)
    {
        var skb = RawTx.Alloc(frame.Length + 64)!;
        skb.Reserve(64);
        skb.PutData(frame);
        Pair.A.Transmit(skb);
    }

    public void TrackPools()
    {
        Pair.A.CollectRxPagePools(_pools);
        Pair.B.CollectRxPagePools(_pools);
    }

    public void Dispose()
    {
        Poll();
        TrackPools();
        StackA.Dispose();
        StackB.Dispose();
        Pair.Dispose();
        RawTx.Dispose();
        foreach (var p in _pools)
        {
            Assert.True(p.IsFreed, $"{p} was not freed: {p.GetStats()}");
            Assert.Equal(0, p.Inflight);
        }
        Assert.Equal(0, Pair.A.Dma.LiveMappings);
        Assert.Equal(0, Pair.B.Dma.LiveMappings);
        Assert.Equal(Arena.TotalPages, Arena.FreePages);
        Arena.Dispose();
    }
}
