using Microsoft.Extensions.Time.Testing;
using Netmem.Drivers.VirtualNic;
using Netmem.Phy;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Tests.Stack;
using Netmem.Wire;

namespace Netmem.Tests.TcpNet;

/// <summary>
/// Two stacks over the VirtualNic pair (a <see cref="StackTestEnv"/>) with TCP driven from inside the
/// stacks' contexts: engine calls are posted to the connection's <see cref="StackContext"/> and run in its
/// NAPI poll, as socket calls do. Deterministic by default (the test thread polls both NICs); with
/// <see cref="VirtualNicOptions.ThreadedNapi"/> the NAPI threads run them. Dispose aborts what is left and
/// checks every page_pool, mapping and page came back.
/// </summary>
internal sealed class TcpNetEnv : IDisposable
{
    public const ushort Port = 5201;
    public static readonly Ipv4Address IpA = StackTestEnv.IpA, IpB = StackTestEnv.IpB;
    private readonly List<Action> _pumps = [];

    public TcpNetEnv(int queues = 2, VirtualNicOptions? a = null, VirtualNicOptions? b = null,
        Func<IWireSink, IWireSink>? aToB = null, Func<IWireSink, IWireSink>? bToA = null,
        TcpSettings? tcp = null, TimeProvider? clock = null, int pages = 8192, TimeSpan latency = default, FakeTimeProvider? time = null)
    {
        var opts = new NetStackOptions { Tcp = tcp };
        time ??= NewTime();
        if (latency > TimeSpan.Zero)
        {
            // A one-way delay each way, in front of whatever faults the test asked for (they act first).
            var ab = aToB; var ba = bToA;
            aToB = w => Shape(w, ab);
            bToA = w => Shape(w, ba);
            IWireSink Shape(IWireSink w, Func<IWireSink, IWireSink>? inner)
            {
                var shaper = new LinkShaper(w, new LinkShaperOptions { Latency = latency, TimeProvider = clock ?? time, QueueLimitBytes = 64 << 20, QueueLimitFrames = 16384 });
                Shapers.Add(shaper);
                return inner?.Invoke(shaper) ?? shaper;
            }
        }
        Env = new StackTestEnv((a ?? new VirtualNicOptions()) with { Queues = queues }, (b ?? new VirtualNicOptions()) with { Queues = queues },
            opts, aToB, bToA, settle: !Threaded(a), clock: clock, pages: pages, time: time);
    }

    public static FakeTimeProvider NewTime() => new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));

    /// <summary>The delay stages (A to B first), when a latency was asked for.</summary>
    public List<LinkShaper> Shapers { get; } = [];

    private static bool Threaded(VirtualNicOptions? o) => o?.ThreadedNapi ?? false;

    public StackTestEnv Env { get; }
    public NetStack A => Env.StackA;
    public NetStack B => Env.StackB;
    public VirtualNicPair Pair => Env.Pair;
    public bool IsThreaded => Pair.A.GetNapi(0).IsThreaded;

    /// <summary>A wire stage that needs pumping (a LinkShaper): polled with the NICs.</summary>
    public void AddPump(Action pump) => _pumps.Add(pump);

    /// <summary>Polls the NICs and pumps the wire stages until nothing moves (deterministic mode).</summary>
    public long Poll()
    {
        long total = 0;
        for (int i = 0; i < 100_000; i++)
        {
            long n = Env.Poll();
            foreach (var p in _pumps) p();
            n += Env.Poll();
            total += n;
            if (n == 0) break;
        }
        return total;
    }

    /// <summary>Advances the fake clock in <paramref name="steps"/> steps, polling after each.</summary>
    public void Advance(TimeSpan by, int steps = 1)
    {
        for (int i = 0; i < steps; i++)
        {
            Env.Time.Advance(by / steps);
            Poll();
        }
    }

    /// <summary>Polls (or, threaded, waits) until <paramref name="done"/>, stepping the fake clock by <paramref name="step"/> when nothing moves.</summary>
    public void RunUntil(Func<bool> done, TimeSpan? step = null, int maxRounds = 2_000_000, string? what = null, Func<string>? describe = null)
    {
        var guard = System.Diagnostics.Stopwatch.StartNew();
        var st = step ?? TimeSpan.FromMilliseconds(10);
        int i = 0;
        for (; i < maxRounds && !done(); i++)
        {
            if (guard.Elapsed > TimeSpan.FromSeconds(120)) break; // a hang guard, not a speed check
            if (IsThreaded) { Thread.Sleep(1); continue; }
            if (Poll() == 0 && !done()) Advance(st);
        }
        if (!done()) Assert.Fail($"timed out waiting for {what ?? "the condition"} after {i} rounds, {guard.Elapsed.TotalSeconds:F1} s: {describe?.Invoke()}");
    }

    /// <summary>Runs <paramref name="action"/> on <paramref name="ctx"/>'s thread (in its NAPI poll) and waits for it.</summary>
    public void On(StackContext ctx, Action action)
    {
        var w = new ActionWork(action);
        ctx.Post(w);
        RunUntil(() => w.Done, what: $"work on {ctx.Name}");
        if (w.Error is { } e) throw new InvalidOperationException($"work on {ctx.Name} failed", e);
    }

    public TcpListenEndpoint Listen(NetStack on, ushort port = Port, int backlog = 128, TcpSettings? settings = null)
    {
        Assert.Equal(Errno.None, on.Tcp.Listen(new TcpEndpoint(Ipv4Address.Unspecified, port), backlog, settings ?? on.Tcp.Defaults, out var l));
        return l!;
    }

    /// <summary>An active open from <paramref name="from"/> to <paramref name="to"/>, issued on the context a socket would use; does not wait.</summary>
    public TcpConnection ConnectNoWait(NetStack from, Ipv4Address to, ushort port = Port, TcpSettings? settings = null, ushort localPort = 0, StackContext? on = null)
    {
        var ctx = on ?? from.Tcp.ContextFor(to, port);
        TcpConnection? c = null;
        var err = Errno.None;
        On(ctx, () => err = from.Tcp.Connect(to, port, Ipv4Address.Unspecified, localPort, settings ?? from.Tcp.Defaults, out c, on: ctx));
        Assert.Equal(Errno.None, err);
        return c!;
    }

    /// <summary>A connected pair, client on A, server accepted on B.</summary>
    public (TcpConnection Client, TcpConnection Server) Connect(TcpListenEndpoint listener, TcpSettings? client = null, ushort port = Port)
    {
        var c = ConnectNoWait(A, IpB, port, client);
        RunUntil(() => listener.AcceptQueueLength > 0 && c.State == TcpState.Established, what: "the handshake");
        Assert.True(listener.TryAccept(out var s));
        return (c, s);
    }

    /// <summary>Aborts whatever is still open on both sides (on their contexts), then tears everything down.</summary>
    public void Dispose()
    {
        if (!IsThreaded) Poll();
        Env.Dispose();
    }

    private sealed class ActionWork(Action action) : StackWork
    {
        public volatile bool Done;
        public Exception? Error;

        protected internal override void Run(StackContext context)
        {
            try { action(); }
            catch (Exception e) { Error = e; }
            Done = true;
        }
    }
}
