using Netmem.Drivers.Tap;

namespace Netmem.Tests.Tap;

/// <summary>
/// The kernel pings us through a real tap: it resolves our address with ARP and accepts our replies
/// (ping exits 0 only when replies came back), with the NAPI driven on the test thread or by the
/// driver's own interrupt and NAPI threads.
/// </summary>
public sealed class TapPingTests(ITestOutputHelper output)
{
    [Fact]
    public void Ping_from_the_namespace_is_answered_with_deterministic_polling()
    {
        Requires.Tap();
        using var env = new TapTestEnv();
        var r = env.RunPolling(TimeSpan.FromSeconds(10), NsTools.Ping(env.OurAddress.ToString()));
        output.WriteLine(r.Stdout);
        Assert.True(r.Succeeded, $"ping failed (exit {r.ExitCode}): {r.Stdout} {r.Stderr}");
        Assert.True(env.Responder.ArpReplies >= 1);
        Assert.True(env.Responder.EchoReplies >= 3);
        Assert.Contains("3 received", r.Stdout);
        var stats = env.Dev.GetStats();
        Assert.True(stats.RxPackets >= 4);
        Assert.True(stats.TxPackets >= 4);
        Assert.True(env.Dev.GetTapStats(0).RxReads >= 4);
    }

    [Fact]
    public void Ping_is_answered_by_the_interrupt_and_napi_threads()
    {
        Requires.Tap();
        using var env = new TapTestEnv(new TapOptions { ThreadedNapi = true });
        var r = env.Link.Exec(TimeSpan.FromSeconds(10), NsTools.Ping(env.OurAddress.ToString()));
        output.WriteLine(r.Stdout);
        Assert.True(r.Succeeded, $"ping failed (exit {r.ExitCode}): {r.Stdout} {r.Stderr}");
        Assert.True(env.Dev.GetNapi(0).IsThreaded);
        Assert.True(env.Dev.RxQueues[0].Stats.Interrupts >= 1);
        Assert.True(env.Responder.EchoReplies >= 3);
    }

    [Fact]
    public void A_jumbo_ping_scatters_over_frags_and_its_reply_goes_out_from_those_frags()
    {
        Requires.Tap();
        using var env = new TapTestEnv(new TapOptions { Mtu = 9000 }, kernelMtu: 9000);
        var r = env.RunPolling(TimeSpan.FromSeconds(10), NsTools.Ping(env.OurAddress.ToString(), count: 2, size: 8900));
        output.WriteLine(r.Stdout);
        Assert.True(r.Succeeded, $"ping failed (exit {r.ExitCode}): {r.Stdout} {r.Stderr}");
        Assert.Equal(20 + 8 + 8900, env.Responder.LargestEcho); // one 8942-byte frame: three RX buffers, sent back as head + 2 frags
        Assert.Equal(0, env.Dev.TxQueues[0].Stats.Drops);
    }
}
