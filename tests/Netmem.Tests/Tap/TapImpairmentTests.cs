using System.Text.Json;
using Netmem.Cli.Apps;
using Netmem.Devices;
using Netmem.Drivers.Tap;
using Netmem.Phy;
using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Tests.Tap;

/// <summary>
/// Transfers through an impaired tap stay byte exact: the stack-side fault wrapper
/// (<see cref="TapDevice.RxFaults"/>/<see cref="TapDevice.TxFaults"/>: loss, duplicate, corrupt) under TCP
/// both ways, and tc netem on the kernel side (loss, delay, reorder, duplicate, corrupt) under TCP and
/// UDP, where every UDP datagram the kernel put on the wire is either delivered intact or counted in a
/// drop counter. netem needs CONFIG_NET_SCH_NETEM; without it those tests print why and return.
/// </summary>
public sealed class TapImpairmentTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    private static async Task<string> SinkToDiscard(TapStackEnv env, DiscardServer discard, int total)
    {
        int before = discard.Finished.Count;
        var r = await Task.Run(() => env.Python(Limit, TapTcpInteropTests.PySink, env.OurAddress.ToString(), "9", total.ToString()));
        Assert.True(r.Succeeded, $"sender exit {r.ExitCode}: {r.Stdout} {r.Stderr}; tcp {env.Stack.Tcp.Stats.RetransmittedSegments} retransmitted");
        Assert.True(await TapStackEnv.WaitUntilAsync(() => discard.Finished.Count == before + 1, TimeSpan.FromSeconds(10)));
        var f = r.Stdout.Trim().Split(' ');
        Assert.Equal((long)total, discard.Finished[before].Bytes);
        Assert.Equal(f[2], discard.Finished[before].Sha256);
        return f[2];
    }

    private static async Task Download(TapStackEnv env, long n)
    {
        // The body is checked against the pattern in place (byte i is i % 251), so a failure says where
        // and how the stream went wrong, not only that a hash differs.
        const string check = """
import sys, urllib.request
n = int(sys.argv[2])
body = urllib.request.urlopen(f"http://{sys.argv[1]}/bytes/{n}", timeout=60).read()
want = (bytes(range(251)) * (n // 251 + 1))[:n]
bad = [i for i in range(n) if body[i] != want[i]] if len(body) == n and body != want else []
if len(body) != n: print(f"length {len(body)} of {n}")
elif bad: print(f"{len(bad)} bytes differ, first at {bad[0]}, last at {bad[-1]}: got {body[bad[0]:bad[0]+16].hex()} want {want[bad[0]:bad[0]+16].hex()}")
else: print("ok")
""";
        var r = await Task.Run(() => env.Python(Limit, check, env.OurAddress.ToString(), n.ToString()));
        Assert.True(r.Succeeded, $"client exit {r.ExitCode}: {r.Stderr}");
        Assert.Equal("ok", r.Stdout.Trim());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Tcp_both_ways_stays_byte_exact_under_the_stack_side_fault_wrapper(bool offloads)
    {
        Requires.TapStack("curl");
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = offloads }, output: output);
        await using var discard = new DiscardServer(env.Stack, 9);
        await using var http = new HttpServer(env.Stack, 80);
        var o = new FaultInjectorOptions { LossProbability = 0.01, DuplicateProbability = 0.01, CorruptProbability = 0.01 };
        env.Dev.RxFaults = new SkbFaultInjector(o with { Seed = 11 });
        env.Dev.TxFaults = new SkbFaultInjector(o with { Seed = 12 });

        await SinkToDiscard(env, discard, 6 << 20);   // kernel -> stack: data faults on RX, ACK faults on TX
        await Download(env, 12 << 20);                 // stack -> kernel: data faults on TX

        var rx = env.Dev.RxFaults.Stats;
        var tx = env.Dev.TxFaults.Stats;
        output.WriteLine($"rx faults {rx}; tx faults {tx}; stack retransmitted {env.Stack.Tcp.Stats.RetransmittedSegments}, tcp drops {env.Stack.Tcp.Stats.TotalDrops}, ip {env.Stack.Stats}");
        Assert.True(rx.Dropped > 0 && rx.Duplicated > 0, rx.ToString());
        Assert.True(tx.Dropped > 0 && tx.Duplicated > 0, tx.ToString());
        Assert.True(env.Stack.Tcp.Stats.RetransmittedSegments > 0);
        if (!offloads)
        {
            // Plain frames: every corruption is applied, and the stack's checksums catch the received ones.
            Assert.True(rx.Corrupted > 0 && tx.Corrupted > 0);
            long caught = env.Stack.Tcp.Stats.GetDrops(TcpDropReason.BadChecksum) + env.Stack.Stats.TotalDrops
                + env.Dev.GetDrops().Values.Sum();
            Assert.True(caught > 0, "no corrupted frame was counted as a drop");
        }
        env.Dev.RxFaults = null;
        env.Dev.TxFaults = null;
    }

    // ------------------------------------------------------------------ tc netem on the kernel side

    /// <summary>Puts netem with <paramref name="spec"/> on the kernel side of the tap; the test is skipped when the kernel has no netem.</summary>
    private static void AddNetem(TapStackEnv env, string spec)
    {
        var r = env.Sh(TimeSpan.FromSeconds(10), $"tc qdisc add dev {env.Ifname} root netem {spec}");
        if (!r.Succeeded)
            Requires.Skip($"'tc qdisc add ... netem {spec}' failed: {r.Stderr.Trim()} (this kernel lacks CONFIG_NET_SCH_NETEM)");
    }

    private static (long Packets, long Drops) QdiscStats(TapStackEnv env)
    {
        var r = env.Sh(TimeSpan.FromSeconds(10), $"tc -s -j qdisc show dev {env.Ifname}");
        using var doc = JsonDocument.Parse(r.Stdout);
        foreach (var q in doc.RootElement.EnumerateArray())
            if (q.GetProperty("kind").GetString() == "netem")
                return (q.GetProperty("packets").GetInt64(), q.GetProperty("drops").GetInt64());
        throw new InvalidOperationException($"no netem qdisc on {env.Ifname}: {r.Stdout}");
    }

    private static long Reads(TapStackEnv env)
    {
        long n = 0;
        for (int i = 0; i < env.Dev.RealNumRxQueues; i++) n += env.Dev.GetTapStats(i).RxReads;
        return n;
    }

    public static TheoryData<string, bool> NetemSpecs => new()
    {
        { "loss 5%", true },
        { "delay 5ms 2ms", true },
        { "delay 10ms reorder 25% 50%", true },
        { "duplicate 5%", true },
        { "corrupt 2%", true },
        { "corrupt 2%", false },
    };

    [Theory]
    [MemberData(nameof(NetemSpecs))]
    public async Task Tcp_under_kernel_netem_stays_byte_exact(string spec, bool offloads)
    {
        Requires.TapStack("curl", "tc");
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = offloads }, output: output);
        await using var discard = new DiscardServer(env.Stack, 9);
        await using var http = new HttpServer(env.Stack, 80);
        AddNetem(env, spec);
        await SinkToDiscard(env, discard, 4 << 20); // impaired data
        await Download(env, 8 << 20);               // impaired ACKs (netem is on the kernel's egress only)
        var (packets, drops) = QdiscStats(env);
        output.WriteLine($"netem {spec}: {packets} packets, {drops} drops; stack retransmitted {env.Stack.Tcp.Stats.RetransmittedSegments}");
        Assert.True(packets > 0);
    }

    [Theory]
    [MemberData(nameof(NetemSpecs))]
    public async Task Udp_under_kernel_netem_is_accounted_for(string spec, bool offloads)
    {
        Requires.TapStack("tc");
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = offloads }, output: output);
        env.PinKernelNeighbour(); // no ARP crosses the impaired link: only the test's datagrams do
        AddNetem(env, spec);
        using var sock = new UdpSocket(env.Stack) { ReceiveBufferSize = 32 << 20 };
        sock.Bind(new UdpEndpoint(env.OurAddress, 9000));
        var sizes = TapUdpPy.Sizes(500, 1400, seed: 9); // no IP fragments: one datagram, one frame
        var q0 = QdiscStats(env);
        long rx0 = Reads(env);
        var sender = Task.Run(() => env.Python(TimeSpan.FromSeconds(30), TapUdpPy.Send, env.OurAddress.ToString(), "9000", string.Join(',', sizes)));
        var got = await TapStackUdpTests.ReceiveAll(sock, int.MaxValue, sender, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(40));
        Assert.True((await sender).Succeeded);
        var q1 = QdiscStats(env);
        long wire = q1.Packets - q0.Packets, lost = q1.Drops - q0.Drops;
        long frames = Reads(env) - rx0;
        long counted = env.Stack.Stats.TotalDrops - env.Stack.Stats[IpDropReason.UnhandledEtherType] // also counted by the device
            + env.Stack.Udp.Stats[UdpMib.InCsumErrors] + env.Stack.Udp.Stats[UdpMib.InErrors] + env.Stack.Udp.Stats[UdpMib.NoPorts]
            + env.Dev.GetDrops().Values.Sum();
        output.WriteLine($"netem {spec}: sent {sizes.Length}, on the wire {wire}, netem drops {lost}, frames read {frames}; " +
            $"delivered {got.Datagrams} ({got.Lengths.Count} distinct, {got.Duplicates} copies, {got.Reordered} out of order), counted drops {counted}");
        Assert.Equal(0, got.Bad); // a corrupted datagram is never delivered
        foreach (var (seq, len) in got.Lengths) Assert.Equal(sizes[seq], len);
        Assert.Equal(wire, frames); // every frame netem let through reached the driver
        Assert.Equal(frames, got.Datagrams + counted); // and was delivered or counted
        Assert.True(sizes.Length - got.Lengths.Count <= lost + counted); // every missing datagram was lost or dropped on a count
        if (spec.StartsWith("loss")) Assert.True(lost > 0);
        if (spec.StartsWith("duplicate")) Assert.True(got.Duplicates > 0);
        if (spec.Contains("reorder")) Assert.True(got.Reordered > 0);
        if (spec.StartsWith("corrupt")) Assert.True(counted > 0);
        if (!spec.StartsWith("loss") && !spec.StartsWith("corrupt")) Assert.Equal(sizes.Length, got.Lengths.Count);
    }
}
