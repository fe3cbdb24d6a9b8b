using System.Security.Cryptography;
using Netmem.Drivers.Tap;
using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Tests.Tap;

/// <summary>
/// UDP between stack <see cref="UdpSocket"/>s and kernel sockets through a real tap, both ways, with the
/// offloads on and off: every datagram is checked byte for byte (sequence number and counter pattern,
/// SHA-256 over all of them), datagrams larger than the MTU are fragmented by the sender and reassembled
/// by the receiver on both sides, and the checksum path the offloads select is seen in the counters.
/// </summary>
public sealed class TapStackUdpTests(ITestOutputHelper output)
{
    /// <summary>What a stack socket received: datagrams by sequence number, copies and bad ones.</summary>
    internal sealed class Received
    {
        public Dictionary<int, int> Lengths { get; } = [];
        public int Datagrams, Duplicates, Bad, Reordered;
        public UdpEndpoint? LastFrom;
        public HashSet<ushort> SourcePorts { get; } = [];
    }

    /// <summary>
    /// Receives on <paramref name="sock"/> until <paramref name="want"/> distinct datagrams came or
    /// nothing arrived for <paramref name="idle"/> after <paramref name="senderDone"/>; checks every one.
    /// </summary>
    internal static async Task<Received> ReceiveAll(UdpSocket sock, int want, Task senderDone, TimeSpan idle, TimeSpan limit)
    {
        var got = new Received();
        var buf = new byte[65536];
        int maxSeq = -1;
        using var overall = new CancellationTokenSource(limit);
        while (got.Lengths.Count < want && !overall.IsCancellationRequested)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(overall.Token);
            cts.CancelAfter(idle);
            UdpReceiveResult r;
            try
            {
                r = await sock.ReceiveFromAsync(buf, cts.Token);
            }
            catch (OperationCanceledException)
            {
                if (senderDone.IsCompleted) break; // idle after the sender finished: nothing more comes
                continue;
            }
            got.Datagrams++;
            got.LastFrom = r.From;
            got.SourcePorts.Add(r.From.Port);
            Assert.False(r.Truncated);
            if (!TapUdpPy.Check(buf.AsSpan(0, r.Length), out int seq)) { got.Bad++; continue; }
            if (!got.Lengths.TryAdd(seq, r.Length)) got.Duplicates++;
            if (seq < maxSeq) got.Reordered++;
            maxSeq = Math.Max(maxSeq, seq);
        }
        return got;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Kernel_datagrams_reach_a_stack_socket_byte_exact_including_fragmented_ones(bool offloads)
    {
        Requires.TapStack();
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = offloads }, output: output);
        using var sock = new UdpSocket(env.Stack) { ReceiveBufferSize = 32 << 20 };
        sock.Bind(new UdpEndpoint(env.OurAddress, 9000));
        var sizes = TapUdpPy.Sizes(300, 4000, seed: 1); // every tenth is 4000 bytes: three IP fragments
        var sender = Task.Run(() => env.Python(TimeSpan.FromSeconds(20), TapUdpPy.Send, env.OurAddress.ToString(), "9000", string.Join(',', sizes)));
        var got = await ReceiveAll(sock, sizes.Length, sender, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(30));
        var r = await sender;
        Assert.True(r.Succeeded, $"sender: {r.Stderr}");
        Assert.Equal(0, got.Bad);
        Assert.Equal(0, got.Duplicates);
        Assert.True(sizes.Length == got.Lengths.Count,
            $"{got.Lengths.Count} of {sizes.Length} arrived; stack {env.Stack.Stats}; udp {env.Stack.Udp.Stats}; dev drops {string.Join(",", env.Dev.GetDrops())}");
        for (int i = 0; i < sizes.Length; i++) Assert.Equal(sizes[i], got.Lengths[i]);
        Assert.Equal(env.KernelAddress, got.LastFrom!.Value.Address);
        Assert.True(env.Stack.Stats[IpMib.ReasmOKs] >= 30);
        Assert.Equal(0, env.Stack.Udp.Stats[UdpMib.InCsumErrors]);
        // With offloads the kernel leaves unfragmented checksums to us (CHECKSUM_PARTIAL); without, it computes them.
        if (offloads) Assert.True(env.Dev.GetTapStats(0).RxCsumPartial > 0);
        else Assert.Equal(0, env.Dev.GetTapStats(0).RxCsumPartial);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Stack_datagrams_reach_a_kernel_socket_byte_exact_including_fragmented_ones(bool offloads)
    {
        Requires.TapStack();
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = offloads }, output: output);
        using var sock = new UdpSocket(env.Stack);
        sock.Bind(new UdpEndpoint(env.OurAddress, 5555));
        var sizes = TapUdpPy.Sizes(300, 4000, seed: 2);
        var dst = new UdpEndpoint(env.KernelAddress, 9001);
        var r = await env.RunWithAsync(TimeSpan.FromSeconds(30), async () =>
        {
            for (int i = 0; i < sizes.Length; i++)
            {
                Assert.Equal(sizes[i], await sock.SendToAsync(TapUdpPy.Pattern(i, sizes[i]), dst));
                if (i % 16 == 15) await Task.Delay(1); // the kernel socket drains at its own pace
            }
        }, "python3", "-c", TapUdpPy.Recv, env.KernelAddress.ToString(), "9001", sizes.Length.ToString());
        output.WriteLine(r.Stdout);
        Assert.True(r.Succeeded, $"receiver exit {r.ExitCode}: {r.Stdout} {r.Stderr}; stack {env.Stack.Stats}");
        Assert.Equal($"ok {sizes.Length} bad 0 {TapUdpPy.Sha256(sizes)}", r.Stdout.Trim());
        Assert.True(env.Stack.Stats[IpMib.FragOKs] >= 30);
        Assert.Equal(sizes.Length, env.Stack.Udp.Stats[UdpMib.OutDatagrams]);
        var tx = env.Dev.TxQueues[0].Stats;
        Assert.Equal(0, tx.Drops);
        // With offloads the stack hands unfragmented checksums to the kernel (VIRTIO_NET_HDR_F_NEEDS_CSUM).
        if (offloads) Assert.True(tx.NeedsCsum > 0, $"no partial checksum was sent: {tx.NeedsCsum}");
        else Assert.Equal(0, tx.NeedsCsum);
    }

    [Fact]
    public async Task A_stack_socket_echoes_kernel_datagrams_back()
    {
        Requires.TapStack();
        using var env = new TapStackEnv(output: output);
        using var sock = new UdpSocket(env.Stack);
        sock.Bind(new UdpEndpoint(Ipv4Address.Unspecified, 7));
        using var stop = new CancellationTokenSource();
        var echo = Task.Run(async () =>
        {
            var buf = new byte[65536];
            int n = 0;
            try
            {
                while (true)
                {
                    var r = await sock.ReceiveFromAsync(buf, stop.Token);
                    await sock.SendToAsync(buf.AsMemory(0, r.Length), r.From);
                    n++;
                }
            }
            catch (OperationCanceledException) { }
            return n;
        });
        const string client = """
import socket, sys, os, hashlib
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for i in range(100):
    d = os.urandom(1 + (i * 97) % 3000)
    s.sendto(d, (sys.argv[1], 7))
    r, a = s.recvfrom(70000)
    if hashlib.sha256(r).digest() != hashlib.sha256(d).digest(): print('mismatch', i); sys.exit(1)
print('echoed 100')
""";
        var res = await Task.Run(() => env.Python(TimeSpan.FromSeconds(30), client, env.OurAddress.ToString()));
        stop.Cancel();
        if (echo.IsFaulted) output.WriteLine($"echo server failed: {echo.Exception}");
        int echoed = await echo.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(res.Succeeded, $"client: {res.Stdout} {res.Stderr}; stack {env.Stack.Stats}");
        Assert.Contains("echoed 100", res.Stdout);
        Assert.Equal(100, echoed);
    }
}
