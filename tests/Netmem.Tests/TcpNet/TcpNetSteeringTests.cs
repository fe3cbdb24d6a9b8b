using Netmem.Devices;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Tests.TcpNet;

/// <summary>Flows whose segments arrive on another RX queue than their owner context's: the stack hands them over.</summary>
public class TcpNetSteeringTests
{
    [Fact]
    public void NtupleRuleAddedMidConnectionHandsSegmentsToTheOwner()
    {
        using var env = new TcpNetEnv(queues: 4);
        var l = env.Listen(env.B);
        var (c, s) = env.Connect(l);
        var ifB = env.B.Interfaces[0];
        int owner = RssContextSelector.ReplyQueue(ifB, s.Tuple);
        int other = (owner + 1) % 4;
        // ethtool -N stk1 flow-type tcp4 src-port <client> dst-port 5201 action <other>
        env.Pair.B.AddNtupleRule(new NtupleRule { Location = 0, FlowType = NtupleFlowType.Tcp4, SrcPort = c.Tuple.LocalPort, DstPort = TcpNetEnv.Port, Action = other });
        Assert.Equal(other, RssContextSelector.ReplyQueue(ifB, s.Tuple));
        var bulk = new TcpBulk(c, s, 8 << 20, seed: 7);
        bulk.Start(env);
        env.RunUntil(() => bulk.Done, what: "the steered transfer");
        bulk.AssertEqual();
        Assert.Same(ifB.GetContext(owner), s.Context); // the connection stays where it was made
        Assert.True(env.B.Tcp.Stats.HandoffCount > 1000, $"only {env.B.Tcp.Stats.HandoffCount} handoffs");
        Assert.True(env.Pair.B.GetRxQueue(other).Stats.NtupleHits > 1000);
        Assert.Equal(0, env.B.Tcp.Stats.GetDrops(TcpDropReason.BacklogFull));
        TcpNetTransferTests.Close(env, c, s);
    }

    [Fact]
    public void FixedLocalPortOnAnotherContextStartsThereWithoutHandoffs()
    {
        using var env = new TcpNetEnv(queues: 4);
        var l = env.Listen(env.B);
        var ifA = env.A.Interfaces[0];
        // A port whose replies RSS delivers to queue 3, connected from queue 0's context.
        ushort port = 40000;
        while (RssContextSelector.ReplyQueue(ifA, new TcpFourTuple(TcpNetEnv.IpA, port, TcpNetEnv.IpB, TcpNetEnv.Port)) != 3) port++;
        var c = env.ConnectNoWait(env.A, TcpNetEnv.IpB, localPort: port, on: ifA.GetContext(0));
        Assert.Same(ifA.GetContext(3), c.Context);
        env.RunUntil(() => c.State == TcpState.Established && l.AcceptQueueLength == 1, what: "the handshake");
        Assert.True(l.TryAccept(out var s));
        Assert.Equal(0, env.A.Tcp.Stats.HandoffCount + env.B.Tcp.Stats.HandoffCount);
        // The same fixed port again is taken.
        var ctx = ifA.GetContext(0);
        var err = Errno.None;
        env.On(ctx, () => err = env.A.Tcp.Connect(TcpNetEnv.IpB, TcpNetEnv.Port, Ipv4Address.Unspecified, port, env.A.Tcp.Defaults, out _, on: ctx));
        Assert.Equal(Errno.EADDRINUSE, err);
        TcpNetTransferTests.Close(env, c, s);
    }

    [Fact]
    public void EphemeralPortsLandOnTheConnectingContext()
    {
        using var env = new TcpNetEnv(queues: 4);
        var l = env.Listen(env.B);
        var ifA = env.A.Interfaces[0];
        for (int q = 0; q < 4; q++)
        {
            var c = env.ConnectNoWait(env.A, TcpNetEnv.IpB, on: ifA.GetContext(q));
            Assert.Same(ifA.GetContext(q), c.Context);
            Assert.Equal(q, RssContextSelector.ReplyQueue(ifA, c.Tuple));
        }
        env.RunUntil(() => l.AcceptQueueLength == 4, what: "four handshakes");
        Assert.Equal(0, env.A.Tcp.Stats.HandoffCount + env.B.Tcp.Stats.HandoffCount);
    }
}
