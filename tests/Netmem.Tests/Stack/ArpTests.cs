using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Tests.Stack;

public class ArpTests
{
    [Fact]
    public void Entries_resolve_both_ways_and_age_reachable_stale_then_gone()
    {
        using var env = new StackTestEnv();
        var vt = env.StackA.Icmp.PingAsync(StackTestEnv.IpB, new byte[8], TimeSpan.FromSeconds(1));
        env.PollUntil(() => vt.IsCompleted);
        Assert.True(StackTestEnv.Result(vt).PayloadMatches);
        var na = env.IfA.Neighbours.Lookup(StackTestEnv.IpB)!;
        var nb = env.IfB.Neighbours.Lookup(StackTestEnv.IpA)!;
        Assert.Equal(NeighbourState.Reachable, na.State);
        Assert.Equal(env.Pair.B.Address, na.HardwareAddress);
        Assert.Equal(env.Pair.A.Address, nb.HardwareAddress);
        Assert.Equal(NeighbourState.Delay, nb.State); // learned stale from the request, then used for the reply

        // B: DELAY without a confirmation for delay_first_probe_time -> PROBE, a unicast probe that A answers -> REACHABLE.
        long reqs = env.StackB.Stats[IpMib.ArpRequestsOut];
        env.Advance(TimeSpan.FromSeconds(5.1), steps: 2);
        Assert.Equal(reqs + 1, env.StackB.Stats[IpMib.ArpRequestsOut]);
        Assert.True(NeighbourState.Reachable == nb.State, $"{nb} A: {env.StackA.Stats} B: {env.StackB.Stats}");

        // reachable_time passes -> STALE; gc_stale_time unused -> the entry goes.
        env.Advance(TimeSpan.FromSeconds(31), steps: 2);
        Assert.Equal(NeighbourState.Stale, na.State);
        env.Advance(TimeSpan.FromSeconds(61), steps: 2);
        Assert.Null(env.IfA.Neighbours.Lookup(StackTestEnv.IpB));

        // Used again later: resolved afresh.
        var vt2 = env.StackA.Icmp.PingAsync(StackTestEnv.IpB, new byte[8], TimeSpan.FromSeconds(1));
        env.PollUntil(() => vt2.IsCompleted);
        Assert.True(StackTestEnv.Result(vt2).PayloadMatches);
        Assert.Equal(NeighbourState.Reachable, env.IfA.Neighbours.Lookup(StackTestEnv.IpB)!.State);
    }

    [Fact]
    public void Unanswered_requests_are_retransmitted_three_times_then_queued_packets_fail()
    {
        var opts = new NetStackOptions { UnresolvedQueueBytes = 3000 };
        using var env = new StackTestEnv(options: opts);
        var ghost = new Ipv4Address(10, 0, 0, 3);
        using var s = new UdpSocket(env.StackA);
        var sends = new List<ValueTask<int>>();
        for (int i = 0; i < 10; i++) sends.Add(s.SendToAsync(Frames.Pattern(100, i), new UdpEndpoint(ghost, 9)));
        long before = env.StackA.Stats[IpMib.ArpRequestsOut];
        env.Poll();
        foreach (var t in sends) Assert.Equal(100, StackTestEnv.Result(t)); // queued, not failed (as Linux)
        var n = env.IfA.Neighbours.Lookup(ghost)!;
        Assert.Equal(NeighbourState.Incomplete, n.State);
        Assert.InRange(n.QueuedPackets, 1, 9);
        Assert.True(n.QueuedBytes <= 3000);
        Assert.Equal(10 - n.QueuedPackets, env.StackA.Stats[IpDropReason.NeighQueueOverflow]);
        Assert.Equal(before + 1, env.StackA.Stats[IpMib.ArpRequestsOut]);
        int queued = n.QueuedPackets;

        env.Advance(TimeSpan.FromSeconds(1.01));
        Assert.Equal(before + 2, env.StackA.Stats[IpMib.ArpRequestsOut]);
        env.Advance(TimeSpan.FromSeconds(1.01));
        Assert.Equal(before + 3, env.StackA.Stats[IpMib.ArpRequestsOut]);
        Assert.Equal(NeighbourState.Incomplete, n.State);
        env.Advance(TimeSpan.FromSeconds(1.01));
        Assert.Equal(before + 3, env.StackA.Stats[IpMib.ArpRequestsOut]); // mcast_solicit = 3
        Assert.Equal(NeighbourState.Failed, n.State);
        Assert.Null(env.IfA.Neighbours.Lookup(ghost));
        Assert.Equal(queued, env.StackA.Stats[IpDropReason.NeighFailed]);
    }

    [Fact]
    public void Requests_for_other_addresses_and_garbage_are_counted_not_answered()
    {
        using var env = new StackTestEnv();
        long replies = env.StackB.Stats[IpMib.ArpRepliesOut];
        var f = new byte[42];
        new EthernetRepr(env.Pair.A.Address, EthernetAddress.Broadcast, EtherType.Arp).Emit(f);
        new ArpRepr(ArpOperation.Request, env.Pair.A.Address, StackTestEnv.IpA, default, new Ipv4Address(10, 0, 0, 77)).Emit(f.AsSpan(14));
        env.SendRawFromA(f);
        env.SendRawFromA(f.AsSpan(0, 20)); // truncated
        env.Poll();
        Assert.Equal(replies, env.StackB.Stats[IpMib.ArpRepliesOut]);
        Assert.Equal(1, env.StackB.Stats[IpDropReason.ArpMalformed]);
        Assert.True(env.StackB.Stats[IpDropReason.ArpNotForUs] >= 1);
    }
}
