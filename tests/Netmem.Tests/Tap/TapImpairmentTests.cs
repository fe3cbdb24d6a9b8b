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
/// both ways, and kernel-side impairment (<see cref="KernelEgressImpairment"/>: loss, delay, reorder,
/// duplicate, corrupt) under TCP and UDP, where every UDP datagram the kernel put on the wire is either
/// delivered intact or counted in a drop counter. The kernel side is tc netem where the kernel has it
/// and netem-less substitutes where not, so these run on every kernel; the output names which ran.
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

    // ------------------------------------------------------------------ kernel-side impairment (netem, or its substitutes)

    private static long Reads(TapStackEnv env)
    {
        long n = 0;
        for (int i = 0; i < env.Dev.RealNumRxQueues; i++) n += env.Dev.GetTapStats(i).RxReads;
        return n;
    }

    /// <summary>
    /// Rows in netem's words. Only corruption is left for TCP: with the substitutes, loss, duplicate,
    /// delay and reorder on the kernel's egress alone were weaker copies of tests that impair both
    /// directions and check more (TapKernelImpairmentTests.Tcp_both_ways_stays_byte_exact_under_kernel_side_impairment,
    /// TapKernelDelayReorderTests.Tcp_both_ways_stays_byte_exact_under_kernel_side_delay and _reordering).
    /// Without netem the corruption is a bit flipped in the IPv4 header of a frame that is not GSO, whose
    /// checksum is final before tc (a payload flip would be covered by the checksum the kernel fills in
    /// after tc, or with offloads on passed as partial for the stack to trust; a GSO frame's headers are
    /// written anew when it is segmented); so both rows check that the stack counts and drops corrupted
    /// frames and TCP repairs the stream, as under netem's flips. The kernel sends this transfer's data as
    /// GSO frames (segmented after tc, or by the stack with offloads on) and only some 100-200 others
    /// (ACKs, small segments), so the rows corrupt 10% (was 2%): at 2% about one run in 15 would
    /// corrupt none of them.
    /// </summary>
    public static TheoryData<string, bool> TcpSpecs => new()
    {
        { "corrupt 10%", true },
        { "corrupt 10%", false },
    };

    [Theory]
    [MemberData(nameof(TcpSpecs))]
    public async Task Tcp_under_kernel_impairment_stays_byte_exact(string netem, bool offloads)
    {
        Requires.TapStack("curl", "tc");
        var spec = KernelImpairmentSpec.Parse(netem);
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = offloads }, output: output);
        await using var discard = new DiscardServer(env.Stack, 9);
        await using var http = new HttpServer(env.Stack, 80);
        var impairment = KernelEgressImpairment.Apply(env, spec);
        output.WriteLine($"kernel impairment '{spec}' by {impairment.Backend}");
        await SinkToDiscard(env, discard, 4 << 20); // impaired data
        await Download(env, 8 << 20);               // impaired ACKs (the impairment is on the kernel's egress only)
        var c = impairment.Counters();
        long caught = env.Stack.Tcp.Stats.GetDrops(TcpDropReason.BadChecksum) + env.Stack.Stats.TotalDrops + env.Dev.GetDrops().Values.Sum();
        output.WriteLine($"{c}; stack drops {caught} (ip {env.Stack.Stats}; tcp checksum {env.Stack.Tcp.Stats.GetDrops(TcpDropReason.BadChecksum)}; device {string.Join(' ', env.Dev.GetDrops())}), retransmitted {env.Stack.Tcp.Stats.RetransmittedSegments}");
        Assert.True(c.Passed > 0);
        if (spec.Corrupt > 0) Assert.True(caught > 0, "no corrupted frame was counted as a drop");
    }

    /// <summary>
    /// Rows in netem's words. Without netem: loss and duplicate by the eBPF filter; corruption in the
    /// IPv4 header (see <see cref="TcpSpecs"/>), so both offload rows check the stack's count of it;
    /// delay as queueing behind a 4 Mbit/s TBF that the burst overruns (every frame after the first
    /// few waits, longer as the queue grows; no jitter, so no jitter-made reordering: reordering has its
    /// own row); reorder by a quarter of the frames taking a slow path, so later frames overtake them.
    /// </summary>
    public static TheoryData<string, bool> UdpSpecs => new()
    {
        { "loss 5%", true },
        { "delay 5ms 2ms", true },
        { "delay 10ms reorder 25% 50%", true },
        { "duplicate 5%", true },
        { "corrupt 2%", true },
        { "corrupt 2%", false },
    };

    [Theory]
    [MemberData(nameof(UdpSpecs))]
    public async Task Udp_under_kernel_impairment_is_accounted_for(string netem, bool offloads)
    {
        Requires.TapStack("tc");
        var spec = KernelImpairmentSpec.Parse(netem);
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = offloads }, output: output);
        env.PinKernelNeighbour(); // no ARP crosses the impaired link: only the test's datagrams do
        var impairment = KernelEgressImpairment.Apply(env, spec);
        output.WriteLine($"kernel impairment '{spec}' by {impairment.Backend}");
        using var sock = new UdpSocket(env.Stack) { ReceiveBufferSize = 32 << 20 };
        sock.Bind(new UdpEndpoint(env.OurAddress, 9000));
        var sizes = TapUdpPy.Sizes(500, 1400, seed: 9); // no IP fragments: one datagram, one frame
        var c0 = impairment.Counters();
        long rx0 = Reads(env);
        var sender = Task.Run(() => env.Python(TimeSpan.FromSeconds(30), TapUdpPy.Send, env.OurAddress.ToString(), "9000", string.Join(',', sizes)));
        var got = await TapStackUdpTests.ReceiveAll(sock, int.MaxValue, sender, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(40));
        Assert.True((await sender).Succeeded);
        var c1 = impairment.Counters();
        long wire = c1.Passed - c0.Passed, lost = c1.Dropped - c0.Dropped;
        long frames = Reads(env) - rx0;
        long checksums = env.Stack.Stats[IpDropReason.InCsumErrors] + env.Stack.Udp.Stats[UdpMib.InCsumErrors];
        long counted = env.Stack.Stats.TotalDrops - env.Stack.Stats[IpDropReason.UnhandledEtherType] // also counted by the device
            + env.Stack.Udp.Stats[UdpMib.InCsumErrors] + env.Stack.Udp.Stats[UdpMib.InErrors] + env.Stack.Udp.Stats[UdpMib.NoPorts]
            + env.Stack.Udp.Stats[UdpMib.RcvbufErrors] + env.Dev.GetDrops().Values.Sum();
        output.WriteLine($"sent {sizes.Length}, on the wire {wire}, impairment drops {lost}, held {c1.Held - c0.Held}, frames read {frames}; " +
            $"delivered {got.Datagrams} ({got.Lengths.Count} distinct, {got.Duplicates} copies, {got.Reordered} out of order), counted drops {counted} ({checksums} checksum)");
        Assert.Equal(0, got.Bad); // a corrupted datagram is never delivered
        foreach (var (seq, len) in got.Lengths) Assert.Equal(sizes[seq], len);
        Assert.Equal(wire, frames); // every frame the impairment let through reached the driver
        Assert.Equal(frames, got.Datagrams + counted); // and was delivered or counted
        Assert.True(sizes.Length - got.Lengths.Count <= lost + counted); // every missing datagram was lost or dropped on a count
        if (spec.Loss > 0) Assert.True(lost > 0, "nothing was lost");
        if (spec.Duplicate > 0) Assert.True(got.Duplicates > 0, "nothing was duplicated");
        else Assert.Equal(0, got.Duplicates);
        if (spec.Reorder > 0) Assert.True(got.Reordered > 0, "no datagram arrived after a later one");
        if (spec.DelayMs > 0 && c1.Held is { } held) Assert.True(held - (c0.Held ?? 0) > 0, $"the substitute never held a frame: {c1}");
        if (spec.Corrupt > 0) Assert.True(checksums > 0, "no corrupted datagram was caught by a checksum");
        else Assert.Equal(0, checksums);
        if (spec.Loss == 0 && spec.Corrupt == 0) Assert.Equal(sizes.Length, got.Lengths.Count);
    }
}
