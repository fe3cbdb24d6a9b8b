using System.Buffers.Binary;
using System.Security.Cryptography;
using Netmem.Drivers.Tap;
using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Tests.Tap;

/// <summary>
/// Kernel-side delay and reordering on kernels without netem (<see cref="KernelShaping"/>: TBF
/// bottlenecks, ifb and an eBPF classifier with mirred): TCP both ways stays byte exact, the delay shows
/// in both ends' RTT, the reordering in both receivers' out-of-order counters, and UDP datagrams from
/// the stack through a reordering path are each delivered or dropped by the slow path's TBF on a count
/// (from the kernel: TapImpairmentTests.Udp_under_kernel_impairment_is_accounted_for's reorder row).
/// </summary>
public sealed class TapKernelDelayReorderTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    /// <summary>
    /// A kernel server: reads to EOF, answers with the byte count (8 bytes) and SHA-256 (32) of what came,
    /// then sends argv[2] random bytes and closes; prints their SHA-256 and the largest tcpi_rtt (us) it saw.
    /// </summary>
    private const string PyServer = """
import socket, sys, hashlib, os, struct
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], 8080)); l.listen(1); l.settimeout(60)
print('ready', flush=True)
c, a = l.accept(); c.settimeout(60)
rtt = lambda: struct.unpack_from('I', c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104), 68)[0]
h, n = hashlib.sha256(), 0
while True:
    d = c.recv(1 << 20)
    if not d: break
    h.update(d); n += len(d)
c.sendall(struct.pack('!Q', n) + h.digest())
h, left, top = hashlib.sha256(), int(sys.argv[2]), 0
while left > 0:
    d = os.urandom(min(left, 1 << 16)); h.update(d); c.sendall(d); left -= len(d); top = max(top, rtt())
c.shutdown(socket.SHUT_WR); c.settimeout(30); c.recv(1); c.close()
print(h.hexdigest(), top)
""";

    private sealed record Exchanged(long StackMaxRttUs, long KernelMaxRttUs);

    /// <summary>The stack connects to <see cref="PyServer"/>, sends <paramref name="up"/> random bytes and reads <paramref name="down"/>; both checked by SHA-256.</summary>
    private async Task<Exchanged> Exchange(TapStackEnv env, int up, int down, int? sendBuffer = null)
    {
        var data = new byte[up];
        new Random(up).NextBytes(data);
        long stackRtt = 0;
        byte[]? head = null;
        using var got = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long gotBytes = 0;
        var r = await env.RunWithAsync(Limit, async () =>
        {
            using var c = env.Stack.CreateTcpSocket();
            if (sendBuffer is { } sb) c.SendBufferSize = sb;
            await c.ConnectAsync(env.KernelAddress, 8080);
            using var stop = new CancellationTokenSource();
            var poll = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var info = await c.GetInfoAsync();
                    stackRtt = Math.Max(stackRtt, info.RttUs);
                    try { await Task.Delay(10, stop.Token); } catch (OperationCanceledException) { }
                }
            });
            var sw = System.Diagnostics.Stopwatch.StartNew();
            Assert.Equal(data.Length, await c.SendAsync(data));
            c.ShutdownSend();
            var buf = new byte[1 << 16];
            int n, have = 0;
            head = new byte[40];
            while (have < 40 && (n = await c.ReceiveAsync(head.AsMemory(have))) > 0) have += n;
            var upDone = sw.Elapsed;
            while ((n = await c.ReceiveAsync(buf)) > 0) { got.AppendData(buf, 0, n); gotBytes += n; }
            output.WriteLine($"up {upDone.TotalSeconds:0.00} s, down {(sw.Elapsed - upDone).TotalSeconds:0.00} s");
            stop.Cancel();
            await poll;
            await c.CloseAsync();
        }, "python3", "-c", PyServer, env.KernelAddress.ToString(), down.ToString());
        Assert.True(r.Succeeded, $"server exit {r.ExitCode}: {r.Stderr}; tcp {env.Stack.Tcp.Stats.RetransmittedSegments} retransmitted");
        Assert.NotNull(head);
        Assert.Equal((ulong)up, BinaryPrimitives.ReadUInt64BigEndian(head));            // the kernel got every byte we sent
        Assert.Equal(SHA256.HashData(data), head.AsSpan(8, 32).ToArray());              // and exactly those
        var f = r.Stdout.Trim().Split(' ');
        Assert.Equal((long)down, gotBytes);
        Assert.Equal(f[0], Convert.ToHexStringLower(got.GetHashAndReset()));        // we got exactly what the kernel sent
        return new Exchanged(stackRtt, long.Parse(f[1]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Tcp_both_ways_stays_byte_exact_under_kernel_side_delay(bool offloads)
    {
        Requires.TapStack("tc");
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = offloads }, output: output);
        // 10 Mbit/s holding up to 100 ms (125 kB) each way: a window above ~19 kB queues 15 ms or more. Our
        // window stays within the queue (64 kB send buffer: ~50 ms of it), so our data queues without tail drops.
        KernelShaping.AddDelay(env, ingress: false, rateMbit: 10, latencyMs: 100);
        KernelShaping.AddDelay(env, ingress: true, rateMbit: 10, latencyMs: 100);
        var x = await Exchange(env, up: 1 << 20, down: 1 << 20, sendBuffer: 64 << 10);
        var egress = KernelShaping.TbfStats(env, env.Ifname);
        var ingress = KernelShaping.TbfStats(env, KernelShaping.Ifb(ingress: true, reorder: false));
        output.WriteLine($"delay: stack max srtt {x.StackMaxRttUs} us, kernel max srtt {x.KernelMaxRttUs} us; tbf to stack {egress}, tbf to kernel {ingress}; " +
            $"stack retransmitted {env.Stack.Tcp.Stats.RetransmittedSegments}");
        Assert.True(egress.Packets > 0 && egress.Overlimits > 0, $"kernel to stack frames were not held by the TBF: {egress}");
        Assert.True(ingress.Packets > 0 && ingress.Overlimits > 0, $"stack to kernel frames were not held by the TBF: {ingress}");
        Assert.True(x.StackMaxRttUs >= 15_000, $"the stack's RTT never showed the delay: {x.StackMaxRttUs} us");
        Assert.True(x.KernelMaxRttUs >= 15_000, $"the kernel's RTT never showed the delay: {x.KernelMaxRttUs} us");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Tcp_both_ways_stays_byte_exact_under_kernel_side_reordering(bool offloads)
    {
        Requires.TapStack("tc");
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = offloads }, output: output);
        KernelShaping.AddReorder(env, ingress: false, fraction: 0.1, slowRateMbit: 20, latencyMs: 100);
        KernelShaping.AddReorder(env, ingress: true, fraction: 0.1, slowRateMbit: 20, latencyMs: 100);
        long kernelOfo0 = KernelShaping.Netstat(env, "TcpExt", "TCPOFOQueue");
        long kernelFr0 = KernelShaping.Netstat(env, "TcpExt", "TCPFastRetrans");
        // With offloads each way carries 64 kB GSO frames, about 32 for 2 MB, and a 10% diversion then misses
        // every one of them in 3% of runs (0.9^32; seen on CI: only ACKs took the slow path). 8 MB is about
        // 128 frames, where missing all of them is a one-in-a-million event.
        int bytes = offloads ? 8 << 20 : 2 << 20;
        var x = await Exchange(env, up: bytes, down: bytes);
        long kernelOfo = KernelShaping.Netstat(env, "TcpExt", "TCPOFOQueue") - kernelOfo0;
        long kernelFr = KernelShaping.Netstat(env, "TcpExt", "TCPFastRetrans") - kernelFr0; // the kernel's own RACK under the same reordering
        var toStack = KernelShaping.TbfStats(env, KernelShaping.Ifb(ingress: false, reorder: true));
        var toKernel = KernelShaping.TbfStats(env, KernelShaping.Ifb(ingress: true, reorder: true));
        long ours = env.Stack.Tcp.Stats.OutOfOrderQueuedCount;
        output.WriteLine($"reorder: slow path to stack {toStack}, to kernel {toKernel}; out of order queued: stack {ours}, kernel {kernelOfo}; " +
            $"stack retransmitted {env.Stack.Tcp.Stats.RetransmittedSegments}, sack recoveries {env.Stack.Tcp.Stats.SackRecoveryCount}; kernel fast retransmits {kernelFr}");
        Assert.True(toStack.Packets > 0 && toKernel.Packets > 0);
        Assert.True(ours > 0, "the stack never received a segment out of order");
        Assert.True(kernelOfo > 0, "the kernel never received a segment out of order");
    }

    [Fact]
    public async Task Stack_udp_through_a_reordering_path_reaches_the_kernel_reordered_and_accounted_for()
    {
        Requires.TapStack("tc");
        using var env = new TapStackEnv(output: output);
        using var sock = new UdpSocket(env.Stack);
        sock.Bind(new UdpEndpoint(env.OurAddress, 5555));
        Assert.Equal(4, await sock.SendToAsync(TapUdpPy.Pattern(0, 4), new UdpEndpoint(env.KernelAddress, 9))); // ARP before the impairment
        await TapStackEnv.WaitUntilAsync(() => env.Iface.Neighbours.Lookup(env.KernelAddress) is { State: NeighbourState.Reachable }, TimeSpan.FromSeconds(5));
        // A slow path (256 kbit/s, ~24 ms per average datagram, its queue building up) holds the diverted
        // datagrams long enough that later ones overtake them even when a loaded machine spaces our sends
        // out by milliseconds (at 2 Mbit/s, with the machine's two cores far overloaded, none did). 4 s of
        // queue (128 kB) holds nearly all the diverted ones; any it drops are counted below.
        KernelShaping.AddReorder(env, ingress: true, fraction: 0.2, slowRateMbit: 0.256, latencyMs: 4000);
        // The kernel's receiver: every datagram checked against the pattern; prints distinct, copies, bad, out of order, seq:len list.
        const string recv = """
import socket, struct, sys
def pattern(seq, n):
    p = bytearray(((j * 13 + seq * 7 + 1) & 0xff) for j in range(n))
    p[0:4] = struct.pack('!I', seq)
    return bytes(p)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
s.bind((sys.argv[1], int(sys.argv[2]))); s.settimeout(2)
got, copies, bad, late, top = {}, 0, 0, 0, -1
print('ready', flush=True)
try:
    while True:
        d = s.recv(70000)
        seq = struct.unpack('!I', d[:4])[0]
        if d != pattern(seq, len(d)): bad += 1; continue
        if seq in got: copies += 1
        if seq < top: late += 1
        top = max(top, seq); got[seq] = len(d)
except socket.timeout:
    pass
print(len(got), copies, bad, late, ','.join('%d:%d' % kv for kv in sorted(got.items())))
""";
        var sizes = TapUdpPy.Sizes(800, 1400, seed: 32);
        var dst = new UdpEndpoint(env.KernelAddress, 9001);
        long rcvbuf0 = KernelImpairment.Snmp(env, "Udp", "RcvbufErrors");
        var r = await env.RunWithAsync(Limit, async () =>
        {
            for (int i = 0; i < sizes.Length; i++)
            {
                Assert.Equal(sizes[i], await sock.SendToAsync(TapUdpPy.Pattern(i, sizes[i]), dst));
                if (i % 16 == 15) await Task.Delay(1);
            }
        }, "python3", "-c", recv, env.KernelAddress.ToString(), "9001");
        Assert.True(r.Succeeded, $"receiver exit {r.ExitCode}: {r.Stderr}");
        var f = r.Stdout.Trim().Split(' ');
        int distinct = int.Parse(f[0]), copies = int.Parse(f[1]), bad = int.Parse(f[2]), late = int.Parse(f[3]);
        long rcvbuf = KernelImpairment.Snmp(env, "Udp", "RcvbufErrors") - rcvbuf0;
        var slow = KernelShaping.TbfStats(env, KernelShaping.Ifb(ingress: true, reorder: true));
        output.WriteLine($"sent {sizes.Length}: {distinct} distinct arrived, {copies} copies, {bad} bad, {late} out of order; slow path {slow}; kernel rcvbuf errors {rcvbuf}");
        Assert.Equal(0, bad);
        Assert.Equal(0, copies);
        if (f.Length > 4)
            foreach (var kv in f[4].Split(','))
            {
                var p = kv.Split(':');
                Assert.Equal(sizes[int.Parse(p[0])], int.Parse(p[1]));
            }
        Assert.Equal(sizes.Length, distinct + slow.Drops + rcvbuf); // each one delivered, or dropped by the slow path or the socket on a count
        Assert.True(slow.Packets > 0);
        Assert.True(late > 0, "no datagram arrived after a later one");
    }
}
