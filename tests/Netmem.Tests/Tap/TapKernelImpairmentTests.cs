using Netmem.Cli.Apps;
using Netmem.Drivers.Tap;
using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Tests.Tap;

/// <summary>
/// Kernel-side impairment that runs on kernels without netem (<see cref="KernelImpairment"/>: an eBPF tc
/// filter on the kernel side of the tap): UDP from the stack under loss, duplication and corruption that
/// the kernel's checksums catch, and TCP both ways staying byte exact. UDP from the kernel under loss,
/// duplication and corruption is TapImpairmentTests.Udp_under_kernel_impairment_is_accounted_for.
/// </summary>
public sealed class TapKernelImpairmentTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Stack_udp_under_loss_duplication_and_corruption_reaches_the_kernel_intact_or_counted()
    {
        Requires.TapStack("tc");
        // Offloads off: our frames carry full checksums the kernel verifies (a partial one it would trust).
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = false }, output: output);
        using var sock = new UdpSocket(env.Stack);
        sock.Bind(new UdpEndpoint(env.OurAddress, 5555));
        var dst = new UdpEndpoint(env.KernelAddress, 9001);
        Assert.Equal(4, await sock.SendToAsync(TapUdpPy.Pattern(0, 4), new UdpEndpoint(env.KernelAddress, 9))); // ARP before the impairment
        await TapStackEnv.WaitUntilAsync(() => env.Iface.Neighbours.Lookup(env.KernelAddress) is { State: NeighbourState.Reachable }, TimeSpan.FromSeconds(5));
        KernelImpairment.Attach(env, ingress: true, loss: 0.05, duplicate: 0.05, corrupt: 0.1);
        const string recv = """
import socket, struct, sys
exec(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
s.bind((sys.argv[1], int(sys.argv[2]))); s.settimeout(2)
got, copies, bad = {}, 0, 0
print('ready', flush=True)
try:
    while True:
        d, a = s.recvfrom(70000)
        seq = struct.unpack('!I', d[:4])[0]
        if d != pattern(seq, len(d)): bad += 1; continue
        if seq in got: copies += 1
        got[seq] = len(d)
except socket.timeout:
    pass
print(len(got), copies, bad, ','.join('%d:%d' % kv for kv in sorted(got.items())))
""";
        const string patternDef = """
def pattern(seq, n):
    p = bytearray(((j * 13 + seq * 7 + 1) & 0xff) for j in range(n))
    p[0:4] = struct.pack('!I', seq)
    return bytes(p)
""";
        var sizes = TapUdpPy.Sizes(400, 1400, seed: 22);
        long csum0 = KernelImpairment.Snmp(env, "Udp", "InCsumErrors") + KernelImpairment.Snmp(env, "Ip", "InHdrErrors");
        var r = await env.RunWithAsync(Limit, async () =>
        {
            for (int i = 0; i < sizes.Length; i++)
            {
                Assert.Equal(sizes[i], await sock.SendToAsync(TapUdpPy.Pattern(i, sizes[i]), dst));
                if (i % 16 == 15) await Task.Delay(1);
            }
        }, "python3", "-c", recv, env.KernelAddress.ToString(), "9001", "", patternDef);
        Assert.True(r.Succeeded, $"receiver exit {r.ExitCode}: {r.Stderr}");
        var f = r.Stdout.Trim().Split(' ');
        int distinct = int.Parse(f[0]), copies = int.Parse(f[1]), bad = int.Parse(f[2]);
        long caught = KernelImpairment.Snmp(env, "Udp", "InCsumErrors") + KernelImpairment.Snmp(env, "Ip", "InHdrErrors") - csum0;
        var (_, dropped) = KernelImpairment.Stats(env);
        output.WriteLine($"sent {sizes.Length}: {distinct} distinct arrived, {copies} copies, {bad} bad; filter dropped {dropped}; kernel checksum/header errors {caught}");
        Assert.Equal(0, bad); // a corrupted datagram is never delivered
        if (f.Length > 3)
            foreach (var kv in f[3].Split(','))
            {
                var p = kv.Split(':');
                Assert.Equal(sizes[int.Parse(p[0])], int.Parse(p[1]));
            }
        Assert.True(caught > 0, "no corrupted datagram was caught by the kernel's checksums");
        Assert.True(dropped > 0 && copies > 0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Tcp_both_ways_stays_byte_exact_under_kernel_side_impairment(bool offloads)
    {
        Requires.TapStack("tc", "curl");
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = offloads }, output: output);
        await using var discard = new DiscardServer(env.Stack, 9);
        await using var http = new HttpServer(env.Stack, 80);
        // Corruption only where the kernel checks a full checksum: our frames without offloads.
        // 4% loss on our frames into the kernel: with offloads they are 64 KiB GSO frames, so an 8 MiB
        // download would be ~130 frames with a ~0.5% chance that none is lost (no retransmission: seen
        // once); the 16 MiB below is ~260 frames, where that chance is ~0.003%.
        KernelImpairment.Attach(env, ingress: true, loss: 0.04, duplicate: 0.02, corrupt: offloads ? 0 : 0.02);
        KernelImpairment.Attach(env, ingress: false, loss: 0.02, duplicate: 0.02, corrupt: 0);
        long csum0 = KernelImpairment.Snmp(env, "Tcp", "InCsumErrors");

        const string sink = """
import socket, sys, os, hashlib
s = socket.create_connection((sys.argv[1], 9), timeout=30)
h, left = hashlib.sha256(), int(sys.argv[2])
while left > 0:
    d = os.urandom(min(left, 1 << 18)); h.update(d); s.sendall(d); left -= len(d)
s.shutdown(socket.SHUT_WR); assert s.recv(1) == b''
print(h.hexdigest())
""";
        var upTask = Task.Run(() => env.Python(Limit, sink, env.OurAddress.ToString(), (2 << 20).ToString()));
        string ss = "";
        if (await Task.WhenAny(upTask, Task.Delay(12_000)) != upTask) ss = env.Exec(TimeSpan.FromSeconds(5), "ss", "-tin").Stdout; // a stall: what the kernel's side looks like
        var up = await upTask;
        Assert.True(up.Succeeded, $"sender exit {up.ExitCode}: {up.Stderr}; kernel: {ss}; stack tcp drops: " +
            string.Join(", ", Enum.GetValues<Netmem.Stack.Tcp.TcpDropReason>().Where(d => d != Netmem.Stack.Tcp.TcpDropReason.Count && env.Stack.Tcp.Stats.GetDrops(d) > 0).Select(d => $"{d}={env.Stack.Tcp.Stats.GetDrops(d)}")) +
            $"; in {env.Stack.Tcp.Stats.InSegments} out {env.Stack.Tcp.Stats.OutSegments}, resets sent {env.Stack.Tcp.Stats.OutResets}, connections {env.Stack.Tcp.ConnectionCount}; " +
            $"server finished {discard.Finished.Count}, failures {discard.Failures} {discard.LastError?.Message}; ip {env.Stack.Stats}");
        Assert.True(await TapStackEnv.WaitUntilAsync(() => discard.Finished.Count == 1, TimeSpan.FromSeconds(10)));
        Assert.Equal(up.Stdout.Trim(), discard.Finished[0].Sha256);

        long n = offloads ? 16 << 20 : 4 << 20;
        var down = await Task.Run(() => env.Sh(Limit, $"curl -s --max-time 80 http://{env.OurAddress}/bytes/{n} | sha256sum"));
        Assert.Equal(TapHttpTests.PatternSha256(n), down.Stdout.Split(' ')[0]);

        var (seen, dropped) = KernelImpairment.Stats(env);
        long caught = KernelImpairment.Snmp(env, "Tcp", "InCsumErrors") - csum0;
        output.WriteLine($"filters saw {seen}, dropped {dropped}; kernel TCP checksum errors {caught}; stack retransmitted {env.Stack.Tcp.Stats.RetransmittedSegments}");
        Assert.True(dropped > 0);
        Assert.True(env.Stack.Tcp.Stats.RetransmittedSegments > 0);
        if (!offloads) Assert.True(caught > 0, "no corrupted segment was caught by the kernel");
    }
}
