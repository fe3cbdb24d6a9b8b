using Netmem.Drivers.Tap;
using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Tests.Tap;

/// <summary>
/// A multi-queue tap (IFF_MULTI_QUEUE, one fd per queue pair, each queue with its own page_pool, NAPI
/// thread and stack context) under the whole stack: the kernel spreads flows over the fds by flow hash,
/// datagrams from every queue reach one socket, sockets on different contexts send on their own TX queue,
/// and every queue's pool ends with nothing in flight (checked when the env is disposed).
/// </summary>
public sealed class TapStackMultiQueueTests(ITestOutputHelper output)
{
    private const int Queues = 4;

    [Fact]
    public async Task Kernel_flows_spread_over_the_rx_queues_and_all_reach_one_socket()
    {
        Requires.TapStack();
        using var env = new TapStackEnv(new TapOptions { Queues = Queues, ThreadedNapi = true }, output: output);
        Assert.Equal(Queues, env.Dev.RealNumRxQueues);
        Assert.Equal(Queues, env.Iface.ContextCount);
        var pools = env.Dev.RxQueues.ToArray().Select(q => q.PagePool).Distinct().ToList();
        Assert.Equal(Queues, pools.Count);
        Assert.DoesNotContain(null, pools);

        using var sock = new UdpSocket(env.Stack) { ReceiveBufferSize = 32 << 20 };
        sock.Bind(new UdpEndpoint(env.OurAddress, 9000));
        var sizes = TapUdpPy.Sizes(640, 1400, seed: 3);
        var sports = Enumerable.Range(40000, 32).ToArray(); // 32 flows, cycled per datagram
        var sender = Task.Run(() => env.Python(TimeSpan.FromSeconds(20), TapUdpPy.Send, env.OurAddress.ToString(), "9000",
            string.Join(',', sizes), string.Join(',', sports)));
        var got = await TapStackUdpTests.ReceiveAll(sock, sizes.Length, sender, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(30));
        var r = await sender;
        Assert.True(r.Succeeded, $"sender: {r.Stderr}");
        Assert.Equal(0, got.Bad);
        Assert.True(sizes.Length == got.Lengths.Count, $"{got.Lengths.Count} of {sizes.Length} arrived; udp {env.Stack.Udp.Stats}");
        for (int i = 0; i < sizes.Length; i++) Assert.Equal(sizes[i], got.Lengths[i]);
        Assert.Equal(sports.Length, got.SourcePorts.Count);

        var perQueue = env.Dev.RxQueues.ToArray().Select(q => q.Stats.Packets).ToArray();
        output.WriteLine($"rx packets per queue: {string.Join(' ', perQueue)}");
        Assert.True(perQueue.Count(n => n > 0) >= 2, $"the kernel used one queue only: {string.Join(' ', perQueue)}");
        Assert.True(perQueue.Sum() >= sizes.Length);
        for (int i = 0; i < Queues; i++)
            if (perQueue[i] > 0) Assert.True(env.Dev.GetTapStats(i).RxReads > 0);
    }

    [Fact]
    public async Task Sockets_on_each_context_send_on_their_own_tx_queue()
    {
        Requires.TapStack();
        using var env = new TapStackEnv(new TapOptions { Queues = Queues, ThreadedNapi = true }, output: output);
        var socks = new UdpSocket[Queues];
        try
        {
            for (int q = 0; q < Queues; q++)
            {
                socks[q] = new UdpSocket(env.Stack, rxQueue: q);
                socks[q].Bind(new UdpEndpoint(env.OurAddress, (ushort)(6000 + q)));
            }
            var sizes = TapUdpPy.Sizes(400, 1400, seed: 4);
            var dst = new UdpEndpoint(env.KernelAddress, 9001);
            var r = await env.RunWithAsync(TimeSpan.FromSeconds(30), async () =>
            {
                // Each socket sends every Queues-th datagram, all at once: four contexts transmit in parallel.
                await Task.WhenAll(Enumerable.Range(0, Queues).Select(q => Task.Run(async () =>
                {
                    for (int i = q; i < sizes.Length; i += Queues)
                    {
                        Assert.Equal(sizes[i], await socks[q].SendToAsync(TapUdpPy.Pattern(i, sizes[i]), dst));
                        if (i % 32 == q) await Task.Delay(1);
                    }
                })));
            }, "python3", "-c", TapUdpPy.Recv, env.KernelAddress.ToString(), "9001", sizes.Length.ToString());
            output.WriteLine(r.Stdout);
            Assert.True(r.Succeeded, $"receiver exit {r.ExitCode}: {r.Stdout} {r.Stderr}");
            Assert.Equal($"ok {sizes.Length} bad 0 {TapUdpPy.Sha256(sizes)}", r.Stdout.Trim());
            var perQueue = env.Dev.TxQueues.ToArray().Select(q => q.Stats.Packets).ToArray();
            output.WriteLine($"tx packets per queue: {string.Join(' ', perQueue)}");
            for (int q = 0; q < Queues; q++)
            {
                Assert.True(perQueue[q] >= sizes.Length / Queues, $"tx queue {q} sent {perQueue[q]}");
                Assert.Equal(0, env.Dev.TxQueues[q].Stats.Drops);
            }
        }
        finally
        {
            foreach (var s in socks) s?.Dispose();
        }
    }
}
