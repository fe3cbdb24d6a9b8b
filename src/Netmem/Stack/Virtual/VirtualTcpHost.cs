using Netmem.Devices;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;
using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Stack.Virtual;

/// <summary>Options of a <see cref="VirtualTcpHost"/>, with documented defaults.</summary>
public sealed record VirtualTcpHostOptions
{
    /// <summary>The host's address (default 192.168.0.1, packetdrill's --local_ip).</summary>
    public Ipv4Address Local { get; init; } = new(192, 168, 0, 1);
    /// <summary>Prefix length of the local subnet (default 16, packetdrill's --netmask_ip 255.255.0.0).</summary>
    public int PrefixLength { get; init; } = 16;
    /// <summary>Next hop off the subnet (default 192.168.0.1, packetdrill's --gateway_ip).</summary>
    public Ipv4Address Gateway { get; init; } = new(192, 168, 0, 1);
    /// <summary>Device MTU (default 1500).</summary>
    public int Mtu { get; init; } = 1500;
    /// <summary>Pages in the host's arena (default 4096: 16 MiB of send buffers and heads).</summary>
    public int Pages { get; init; } = 4096;
    /// <summary>Settings new sockets start with (default: <see cref="TcpSettings"/>'s defaults).</summary>
    public TcpSettings? Tcp { get; init; }
    /// <summary>Seed of the ISN and port secret, so runs repeat exactly (default 1).</summary>
    public long IsnSeed { get; init; } = 1;
    /// <summary>
    /// Header/data split on the test device (default false): received TCP payload arrives in page_pool
    /// frags behind linear headers, as from a NIC with tcp-data-split on. TCP must behave the same.
    /// </summary>
    public bool TcpDataSplit { get; init; }
}

/// <summary>
/// The deterministic single-threaded mode: one <see cref="StackContext"/>, its <see cref="TcpLayer"/> and
/// an <see cref="IpTestDevice"/> on a <see cref="VirtualClock"/>. Nothing runs by itself: every call
/// (inject, advance, socket work) runs posted work and due timers on the caller's thread before it
/// returns, so the same inputs give the same packets at the same virtual times. Callers that use it
/// from several threads serialize the calls (the native library holds one lock).
/// </summary>
public sealed class VirtualTcpHost : IDisposable
{
    private bool _disposed;

    public VirtualTcpHost(VirtualTcpHostOptions? options = null)
    {
        Options = options ?? new VirtualTcpHostOptions();
        Clock = new VirtualClock();
        Arena = new PageArena(new PageArenaOptions { PageCount = Options.Pages });
        // No deferred frees: a caller on any thread frees straight back, under the caller's serialization.
        Cache = new SkbCache(new SkbCacheOptions { Arena = Arena, Capacity = 1024 });
        Context = new StackContext("virtual", Clock, Cache);
        Device = new IpTestDevice(Options.Local, Options.PrefixLength, Options.Gateway, () => Context.NowUs, Options.Mtu) { Cache = Cache };
        // The device's NetDevice face: its one RX queue owns the split data pool (queue management, bind-rx).
        Netdev = new IpTestNetdev(Device, Arena, Options.TcpDataSplit, Clock, netmemTx: true);
        Netdev.Open();
        Tcp = new TcpLayer(Device, Context, Options.Tcp, Options.IsnSeed);
        Device.Tcp = Tcp;
    }

    public VirtualTcpHostOptions Options { get; }
    public VirtualClock Clock { get; }
    public PageArena Arena { get; }
    public SkbCache Cache { get; }
    public StackContext Context { get; }
    public IpTestDevice Device { get; }
    /// <summary>The <see cref="NetDevice"/> of <see cref="Device"/>: ethtool ring settings (tcp-data-split) and the RX queue a dma-buf binds to.</summary>
    public IpTestNetdev Netdev { get; }
    /// <summary>The pool received payload lands in while tcp-data-split is on (else null): the RX queue's page_pool.</summary>
    public PagePool? DataPool => Device.DataPool;
    public TcpLayer Tcp { get; }
    /// <summary>Virtual microseconds since the host was made.</summary>
    public long NowUs => Context.NowUs;

    /// <summary>Runs posted work and timers due now.</summary>
    public void RunPending() => Context.RunUntilIdle();

    /// <summary>Injects one IPv4 datagram and runs what it causes. False when the device refused it.</summary>
    public bool Inject(ReadOnlySpan<byte> datagram)
    {
        bool ok = Device.Inject(datagram);
        RunPending();
        return ok;
    }

    /// <summary>Moves virtual time forward by <paramref name="us"/>, firing each timer at its own deadline on the way.</summary>
    public void Advance(long us)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(us);
        AdvanceTo(NowUs + us);
    }

    /// <summary>Moves virtual time to <paramref name="targetUs"/> (if later), firing timers at their deadlines in order.</summary>
    public void AdvanceTo(long targetUs)
    {
        RunPending();
        long next;
        while ((next = Context.Timers.NextDueUs) <= targetUs)
        {
            if (next > NowUs) Clock.SetUs(next);
            RunPending();
        }
        if (targetUs > NowUs) Clock.SetUs(targetUs);
        RunPending();
    }

    /// <summary>
    /// Advances time timer by timer until the stack has sent a packet or <paramref name="limitUs"/> is
    /// reached. False when nothing was sent by then (no timer left, or all later than the limit).
    /// </summary>
    public bool RunUntilSent(long limitUs)
    {
        RunPending();
        while (Device.SentCount == 0)
        {
            long next = Context.Timers.NextDueUs;
            if (next == long.MaxValue || next > limitUs) return false;
            if (next > NowUs) Clock.SetUs(next);
            RunPending();
        }
        return true;
    }

    /// <summary>Resets every connection and checks that every skb and page came back (throws if not).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Tcp.AbortAll();
        RunPending();
        Device.ClearSent();
        Context.Dispose();
        Cache.Dispose();
        var dataPool = DataPool;
        Netdev.Dispose(); // stops the queue (its pool is destroyed; what stays inflight after that is held by someone)
        long dataInflight = dataPool?.Inflight ?? 0;
        bool leak = Cache.HeadPool.Inflight != 0 || dataInflight != 0 || Arena.FreePages != Arena.TotalPages;
        string why = $"virtual host leak: head pool inflight {Cache.HeadPool.Inflight}, data pool inflight {dataInflight}, {Arena.TotalPages - Arena.FreePages} pages out";
        if (!leak) Arena.Dispose();
        if (leak) throw new NetmemException(why);
    }
}
