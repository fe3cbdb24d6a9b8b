using Netmem.Drivers.Tap;
using Netmem.Stack;

namespace Netmem.Tests.Tap;

/// <summary>
/// The real stack (<see cref="NetStack"/>'s ARP and ICMP, not the test responder) against the Linux kernel
/// through a tap: the kernel's ping is answered, the stack's ping is answered by the kernel, and ARP
/// resolves both ways (each side's neighbour table holds the other's MAC), with offloads on and off.
/// </summary>
public sealed class TapStackIcmpArpTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Kernel_ping_is_answered_by_the_stack_and_the_kernel_learns_our_mac(bool offloads)
    {
        Requires.TapStack();
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = offloads }, output: output);
        var r = env.Exec(TimeSpan.FromSeconds(15), NsTools.Ping(env.OurAddress.ToString(), count: 3, size: 1000));
        output.WriteLine(r.Stdout);
        Assert.True(r.Succeeded, $"ping failed (exit {r.ExitCode}): {r.Stdout} {r.Stderr}; stack {env.Stack.Stats}");
        Assert.Contains("3 received", r.Stdout);
        Assert.True(env.Stack.Stats[IpMib.IcmpInEchos] >= 3);
        Assert.True(env.Stack.Stats[IpMib.IcmpOutEchoReps] >= 3);
        Assert.True(env.Stack.Stats[IpMib.ArpRepliesOut] + env.Stack.Stats[IpMib.ArpRequestsIn] >= 1
            || env.Stack.Stats[IpMib.ArpRequestsOut] >= 1, $"no ARP exchange was counted: {env.Stack.Stats}");

        // The kernel resolved us: its neighbour entry carries our MAC.
        var n = env.KernelNeighbour(env.OurAddress);
        Assert.NotNull(n);
        Assert.Equal(env.Dev.Address.ToString(), n.Value.LlAddr);
        Assert.DoesNotContain("FAILED", n.Value.States);
        // And the kernel's requests taught us its MAC (arp_process learns the sender of a request for us).
        var ours = env.Iface.Neighbours.Lookup(env.KernelAddress);
        Assert.NotNull(ours);
        Assert.True(ours.TryGetHardwareAddress(out var mac), ours.ToString());
        Assert.Equal(env.Link.KernelMac, mac);
    }

    [Fact]
    public async Task The_stack_pings_the_kernel_after_resolving_it_with_arp()
    {
        Requires.TapStack();
        using var env = new TapStackEnv(output: output);
        Assert.Null(env.KernelNeighbour(env.OurAddress)?.LlAddr); // nothing known yet (the gratuitous ARP teaches nothing to a host without an entry)
        var payload = new byte[1200];
        for (int i = 0; i < payload.Length; i++) payload[i] = (byte)(i * 31 + 7);
        for (ushort seq = 1; seq <= 3; seq++)
        {
            var reply = await env.Stack.Icmp.PingAsync(env.KernelAddress, payload, TimeSpan.FromSeconds(5), seq).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(env.KernelAddress, reply.From);
            Assert.Equal(seq, reply.Sequence);
            Assert.True(reply.PayloadMatches);
            Assert.Equal(payload.Length, reply.Length); // the echo data length
        }
        Assert.True(env.Stack.Stats[IpMib.ArpRequestsOut] >= 1);
        Assert.True(env.Stack.Stats[IpMib.ArpRepliesIn] >= 1);
        Assert.Equal(3, env.Stack.Stats[IpMib.IcmpInEchoReps]);
        var ours = env.Iface.Neighbours.Lookup(env.KernelAddress);
        Assert.NotNull(ours);
        Assert.True(ours.TryGetHardwareAddress(out var mac));
        Assert.Equal(env.Link.KernelMac, mac);
        // Our request carried our address: the kernel made an entry for us from it.
        var n = env.KernelNeighbour(env.OurAddress);
        Assert.NotNull(n);
        Assert.Equal(env.Dev.Address.ToString(), n.Value.LlAddr);
    }

    [Fact]
    public void A_jumbo_kernel_ping_is_reassembled_and_answered_in_fragments_over_a_1500_byte_link()
    {
        Requires.TapStack();
        using var env = new TapStackEnv(output: output);
        // 6000 bytes of ICMP over MTU 1500: the kernel fragments, the stack reassembles and fragments its reply.
        var r = env.Exec(TimeSpan.FromSeconds(15), NsTools.Ping(env.OurAddress.ToString(), count: 2, size: 6000));
        output.WriteLine(r.Stdout);
        Assert.True(r.Succeeded, $"ping failed (exit {r.ExitCode}): {r.Stdout} {r.Stderr}; stack {env.Stack.Stats}");
        Assert.True(env.Stack.Stats[IpMib.ReasmOKs] >= 2);
        Assert.True(env.Stack.Stats[IpMib.FragOKs] >= 2);
    }
}
