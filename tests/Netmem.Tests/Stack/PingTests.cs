using System.Text;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Tests.Stack;

public class PingTests
{
    [Fact]
    public void Ping_over_the_pair_resolves_arp_and_echoes_the_payload()
    {
        using var env = new StackTestEnv();
        var payload = new byte[56];
        for (int i = 0; i < payload.Length; i++) payload[i] = (byte)(i * 7 + 3);
        var vt = env.StackA.Icmp.PingAsync(StackTestEnv.IpB, payload, TimeSpan.FromSeconds(1), sequence: 7);
        env.PollUntil(() => vt.IsCompleted);
        Assert.True(vt.IsCompleted, $"A: {env.StackA.Stats} B: {env.StackB.Stats}");
        var r = StackTestEnv.Result(vt);
        Assert.Equal(StackTestEnv.IpB, r.From);
        Assert.Equal(7, r.Sequence);
        Assert.Equal(56, r.Length);
        Assert.True(r.PayloadMatches);
        Assert.Equal(1, env.StackB.Stats[IpMib.IcmpInEchos]);
        Assert.Equal(1, env.StackB.Stats[IpMib.IcmpOutEchoReps]);
        Assert.Equal(NeighbourState.Reachable, env.IfA.Neighbours.Lookup(StackTestEnv.IpB)!.State);
        Assert.Equal(env.Pair.B.Address, env.IfA.Neighbours.Lookup(StackTestEnv.IpB)!.HardwareAddress);
        // B learned A from A's request as stale (a request is no confirmation), then used it for the reply: delay.
        Assert.Equal(NeighbourState.Delay, env.IfB.Neighbours.Lookup(StackTestEnv.IpA)!.State);
        Assert.Equal(0, env.StackA.Stats.TotalDrops - env.StackA.Stats[IpDropReason.ArpNotForUs]);
    }
}
