using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Tests.Stack;

public class ReassemblyTests
{
    private static byte[] Frag(StackTestEnv env, ushort id, int offset, bool more, ReadOnlySpan<byte> data) =>
        Frames.Ipv4(env.Pair.B.Address, env.Pair.A.Address, StackTestEnv.IpA, StackTestEnv.IpB, IpProtocol.Udp, id, offset, more, data);

    [Fact]
    public void Incomplete_datagram_times_out_frees_everything_and_sends_time_exceeded()
    {
        using var env = new StackTestEnv();
        var udp = Frames.Udp(StackTestEnv.IpA, StackTestEnv.IpB, 1, 2, Frames.Pattern(100, 1));
        env.SendRawFromA(Frag(env, 42, 0, true, udp.AsSpan(0, 48)));
        env.SendRawFromA(Frag(env, 43, 8, true, udp.AsSpan(8, 16))); // a second datagram without its first fragment
        env.Poll();
        Assert.True(env.StackB.FragmentMemory > 0);
        env.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(0, env.StackB.Stats[IpDropReason.FragTimeout]);
        env.Advance(TimeSpan.FromSeconds(1.1));
        Assert.Equal(2, env.StackB.Stats[IpDropReason.FragTimeout]);
        Assert.Equal(2, env.StackB.Stats[IpMib.ReasmFails]);
        Assert.Equal(0, env.StackB.FragmentMemory);
        Assert.Equal(1, env.StackB.Stats[IpMib.IcmpOutTimeExcds]); // only where the first fragment was seen
        Assert.Equal(1, env.StackA.Stats[IpMib.IcmpInErrors]);
    }

    [Fact]
    public void Overlapping_fragments_kill_the_datagram_and_duplicates_are_dropped_alone()
    {
        using var env = new StackTestEnv();
        using var b = new UdpSocket(env.StackB);
        b.Bind(new UdpEndpoint(StackTestEnv.IpB, 2));
        var udp = Frames.Udp(StackTestEnv.IpA, StackTestEnv.IpB, 1, 2, Frames.Pattern(40, 2)); // 48 bytes
        // Overlap: [0,24) then [16,48).
        env.SendRawFromA(Frag(env, 7, 0, true, udp.AsSpan(0, 24)));
        env.SendRawFromA(Frag(env, 7, 16, false, udp.AsSpan(16, 32)));
        env.Poll();
        Assert.Equal(1, env.StackB.Stats[IpDropReason.FragOverlap]);
        Assert.Equal(1, env.StackB.Stats[IpDropReason.FragQueueKilled]);
        Assert.Equal(0, env.StackB.FragmentMemory);
        // Duplicate: [0,24) twice, then the rest completes it.
        env.SendRawFromA(Frag(env, 8, 0, true, udp.AsSpan(0, 24)));
        env.SendRawFromA(Frag(env, 8, 0, true, udp.AsSpan(0, 24)));
        env.SendRawFromA(Frag(env, 8, 24, false, udp.AsSpan(24, 24)));
        var r = b.ReceiveAsync(new byte[100]);
        env.Poll();
        Assert.Equal(1, env.StackB.Stats[IpDropReason.FragDuplicate]);
        Assert.Equal(40, StackTestEnv.Result(r));
        Assert.Equal(1, env.StackB.Stats[IpMib.ReasmOKs]);
    }

    [Fact]
    public void Fragment_memory_over_the_high_threshold_refuses_fragments()
    {
        using var env = new StackTestEnv(options: new NetStackOptions { FragHighThresh = 20_000 });
        var data = Frames.Pattern(64, 3);
        for (int i = 0; i < 20; i++) env.SendRawFromA(Frag(env, (ushort)(100 + i), 0, true, data));
        env.Poll();
        long refused = env.StackB.Stats[IpDropReason.FragMemoryLimit];
        Assert.True(refused > 0 && refused < 20, $"refused {refused}");
        Assert.True(env.StackB.FragmentMemory <= 20_000 + 8192);
        env.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(20 - refused, env.StackB.Stats[IpDropReason.FragTimeout]);
        Assert.Equal(0, env.StackB.FragmentMemory);
    }
}
