using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Tests.TcpNet;

/// <summary>Opens, resets and closes between two stacks over the VirtualNic pair (deterministic NAPI, fake clock).</summary>
public class TcpNetHandshakeTests
{
    [Fact]
    public void ActiveAndPassiveOpenNegotiateOptionsOnTheFlowsRxContexts()
    {
        using var env = new TcpNetEnv(queues: 2);
        var l = env.Listen(env.B);
        var (c, s) = env.Connect(l);
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(TcpState.Established, s.State);
        Assert.Equal(1500 - 40 - 12, c.Mss); // MSS 1460 less the timestamp option
        Assert.True(c.WindowScaleEnabled && c.SackEnabled && c.TimestampsEnabled);
        Assert.True(s.WindowScaleEnabled && s.SackEnabled && s.TimestampsEnabled);
        Assert.Equal(c.Tuple.LocalPort, s.Tuple.RemotePort);
        // Each side owns the flow on the context of the RX queue its NIC delivers the flow to.
        Assert.Same(env.A.Interfaces[0].GetContext(RssContextSelector.ReplyQueue(env.A.Interfaces[0], c.Tuple)), c.Context);
        Assert.Same(env.B.Interfaces[0].GetContext(RssContextSelector.ReplyQueue(env.B.Interfaces[0], s.Tuple)), s.Context);
        Assert.Equal(0, env.A.Tcp.Stats.HandoffCount + env.B.Tcp.Stats.HandoffCount);
        Assert.Equal(1, env.A.Tcp.Stats.ActiveOpenCount);
        Assert.Equal(1, env.B.Tcp.Stats.PassiveOpenCount);
        env.On(c.Context, c.Abort);
        env.Poll();
        Assert.Equal(TcpState.Closed, s.State);
        Assert.Equal(Errno.ECONNRESET, s.Error);
        env.On(s.Context, s.Close);
    }

    [Fact]
    public void SynToAClosedPortIsRefusedWithARst()
    {
        using var env = new TcpNetEnv(queues: 2);
        var c = env.ConnectNoWait(env.A, TcpNetEnv.IpB, 9);
        env.Poll();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(Errno.ECONNREFUSED, c.Error);
        Assert.Equal(1, env.B.Tcp.Stats.OutResets);
        Assert.Equal(1, env.B.Tcp.Stats.GetDrops(TcpDropReason.NoSocket));
        Assert.Equal(1, env.A.Tcp.Stats.AttemptFailCount);
        Assert.Equal(0, env.A.Tcp.ConnectionCount);
        env.On(c.Context, c.Close);
    }

    [Fact]
    public void SimultaneousOpenWithFixedPorts()
    {
        using var env = new TcpNetEnv(queues: 2);
        var ca = env.A.Tcp.ContextFor(TcpNetEnv.IpB, 40001);
        var cb = env.B.Tcp.ContextFor(TcpNetEnv.IpA, 40000);
        TcpConnection? a = null, b = null;
        // Both SYNs are queued before either NIC is polled: they cross on the wire.
        ca.Post(new Work(() => Assert.Equal(Errno.None, env.A.Tcp.Connect(TcpNetEnv.IpB, 40001, Ipv4Address.Unspecified, 40000, env.A.Tcp.Defaults, out a, on: ca))));
        cb.Post(new Work(() => Assert.Equal(Errno.None, env.B.Tcp.Connect(TcpNetEnv.IpA, 40000, Ipv4Address.Unspecified, 40001, env.B.Tcp.Defaults, out b, on: cb))));
        env.RunUntil(() => a?.State == TcpState.Established && b?.State == TcpState.Established, what: "simultaneous open");
        Assert.Equal(0, env.A.Tcp.Stats.PassiveOpenCount + env.B.Tcp.Stats.PassiveOpenCount);
        Assert.Equal(0, env.A.Tcp.Stats.OutResets + env.B.Tcp.Stats.OutResets);
        var bulk = new TcpBulk(a!, b!, 1 << 20);
        bulk.Start(env);
        env.RunUntil(() => bulk.Done, what: "the transfer");
        bulk.AssertEqual();
        env.On(a!.Context, a.Abort);
        env.On(b!.Context, b.Close);
    }

    [Fact]
    public void SimultaneousCloseEndsInTimeWaitOnBothSides()
    {
        using var env = new TcpNetEnv(queues: 2, latency: TimeSpan.FromMilliseconds(1));
        var l = env.Listen(env.B);
        var (c, s) = env.Connect(l);
        // Both closes run before either FIN arrives (1 ms each way): FIN_WAIT_1 -> CLOSING -> TIME_WAIT on each side.
        c.Context.Post(new Work(c.Close));
        s.Context.Post(new Work(s.Close));
        env.Poll();
        Assert.Equal(TcpState.FinWait1, c.State);
        Assert.Equal(TcpState.FinWait1, s.State);
        env.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(TcpState.Closing, c.State);
        env.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal(TcpState.TimeWait, s.State);
        Assert.Equal(0, env.A.Tcp.Stats.OutResets + env.B.Tcp.Stats.OutResets);
        env.Advance(TimeSpan.FromSeconds(61), steps: 2);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpState.Closed, s.State);
        Assert.Equal(0, env.A.Tcp.ConnectionCount + env.B.Tcp.ConnectionCount);
        Assert.Equal(1, env.A.Tcp.Stats.TimeWaitExpiredCount);
        Assert.Equal(1, env.B.Tcp.Stats.TimeWaitExpiredCount);
    }

    [Fact]
    public void HalfCloseThenGracefulClose()
    {
        using var env = new TcpNetEnv(queues: 2);
        var l = env.Listen(env.B);
        var (c, s) = env.Connect(l);
        env.On(c.Context, () => c.ShutdownSend());
        env.Poll();
        Assert.Equal(TcpState.FinWait2, c.State);
        Assert.Equal(TcpState.CloseWait, s.State);
        Assert.True(s.ReceivedFin);
        // The server can still send on its half.
        var bulk = new TcpBulk(s, c, 300_000, closeWhenDone: true);
        bulk.Start(env);
        env.RunUntil(() => bulk.Done && bulk.ReceiverSawEof, what: "the server's data and FIN");
        bulk.AssertEqual();
        Assert.Equal(TcpState.TimeWait, c.State);
        env.Poll();
        Assert.Equal(TcpState.Closed, s.State);
        env.On(c.Context, c.Close);
    }

    private sealed class Work(Action a) : StackWork
    {
        protected internal override void Run(StackContext context) => a();
    }
}
