using System.IO.Hashing;
using Netmem.Devices;
using Netmem.Drivers.VirtualNic;
using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Stack.Tcp;

namespace Netmem.Tests.TcpNet;

/// <summary>The async sockets over two stacks on the VirtualNic pair, with real NAPI threads (one per RX queue) and the system clock.</summary>
public class TcpNetSocketTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(60); // a hang guard, not a speed check

    [Fact]
    public async Task ThreadedNapiSocketsOverFourQueues()
    {
        var nic = new VirtualNicOptions { ThreadedNapi = true };
        using var env = new TcpNetEnv(queues: 4, a: nic, b: nic, clock: TimeProvider.System);
        Assert.True(env.IsThreaded);
        using var listener = new TcpListener(env.B, TcpNetEnv.Port);
        listener.Start();
        const int flows = 8;
        const int bytes = 2 << 20;

        async Task<(UInt128, long)> Serve()
        {
            using var s = await listener.AcceptAsync();
            var h = new XxHash128();
            long got = 0;
            while (true)
            {
                using var lease = await s.ReceiveLeaseAsync(); // zero copy: the skbs themselves
                if (lease.Length == 0) break;
                for (int i = 0; i < lease.Count; i++)
                    foreach (var m in lease.GetSequence(i)) h.Append(m.Span);
                got += lease.Length;
            }
            await s.CloseAsync();
            return (h.GetCurrentHashAsUInt128(), got);
        }

        async Task<(UInt128, StackContext)> Client(int i)
        {
            var c = env.A.CreateTcpSocket();
            c.NoDelay = i % 2 == 0;
            await c.ConnectAsync(TcpNetEnv.IpB, TcpNetEnv.Port);
            Assert.Equal(TcpState.Established, c.State);
            var h = new XxHash128();
            var chunk = new byte[96 * 1024];
            var rng = new Random(i);
            for (int sent = 0; sent < bytes; sent += chunk.Length)
            {
                int len = Math.Min(chunk.Length, bytes - sent);
                rng.NextBytes(chunk.AsSpan(0, len));
                h.Append(chunk.AsSpan(0, len));
                Assert.Equal(len, await c.SendAsync(chunk.AsMemory(0, len)));
            }
            await c.CloseAsync();
            return (h.GetCurrentHashAsUInt128(), c.Connection!.Context);
        }

        var servers = Enumerable.Range(0, flows).Select(_ => Task.Run(Serve)).ToArray();
        var clients = Enumerable.Range(0, flows).Select(i => Task.Run(() => Client(i))).ToArray();
        var sent = await Task.WhenAll(clients).WaitAsync(Guard);
        var got = await Task.WhenAll(servers).WaitAsync(Guard);
        Assert.All(got, g => Assert.Equal(bytes, g.Item2));
        Assert.Equal(sent.Select(x => x.Item1).OrderBy(x => x), got.Select(x => x.Item1).OrderBy(x => x));
        int contexts = sent.Select(x => x.Item2).Distinct().Count();
        output.WriteLine($"{flows} flows on {contexts} of 4 client contexts; handoffs A {env.A.Tcp.Stats.HandoffCount} B {env.B.Tcp.Stats.HandoffCount}");
        Assert.Equal(4, contexts); // connects from the pool go round the contexts
        Assert.Equal(0, env.A.Tcp.Stats.HandoffCount + env.B.Tcp.Stats.HandoffCount);
        // Every connection closes cleanly; the active closers sit in TIME_WAIT (aborted at teardown).
        var deadline = DateTime.UtcNow + Guard;
        while (env.B.Tcp.ConnectionCount > 0 && DateTime.UtcNow < deadline) await Task.Delay(5);
        Assert.Equal(0, env.B.Tcp.ConnectionCount);
        Assert.Equal(0, env.A.Tcp.Stats.OutResets + env.B.Tcp.Stats.OutResets);
    }

    [Fact]
    public async Task ThreadedHandoffWhenASteeringRuleMovesAFlowMidTransfer()
    {
        var nic = new VirtualNicOptions { ThreadedNapi = true };
        using var env = new TcpNetEnv(queues: 4, a: nic, b: nic, clock: TimeProvider.System);
        using var listener = env.B.ListenTcp(TcpNetEnv.Port);
        var accept = listener.AcceptAsync().AsTask();
        var c = env.A.CreateTcpSocket();
        await c.ConnectAsync(TcpNetEnv.IpB, TcpNetEnv.Port).AsTask().WaitAsync(Guard);
        using var s = await accept.WaitAsync(Guard);
        const int bytes = 16 << 20;
        var block = new byte[1 << 20];
        new Random(11).NextBytes(block);
        long received = 0;
        var rxHash = new XxHash128();
        async Task Read()
        {
            var buf = new byte[128 * 1024];
            int n;
            while ((n = await s.ReceiveAsync(buf)) > 0) { rxHash.Append(buf.AsSpan(0, n)); Interlocked.Add(ref received, n); }
        }
        var reader = Task.Run(Read);
        var txHash = new XxHash128();
        var ifA = env.A.Interfaces[0];
        var ifB = env.B.Interfaces[0];
        var tuple = c.Connection!.Tuple;
        for (int sent = 0; sent < bytes; sent += block.Length)
        {
            if (sent == bytes / 2)
            {
                // Both directions of the flow move to another queue while data is in flight: every later
                // segment arrives on a NAPI thread that does not own the connection and must cross over.
                int qb = RssContextSelector.ReplyQueue(ifB, s.Connection!.Tuple), qa = RssContextSelector.ReplyQueue(ifA, tuple);
                env.Pair.B.AddNtupleRule(new NtupleRule { Location = 1, FlowType = NtupleFlowType.Tcp4, SrcPort = tuple.LocalPort, DstPort = TcpNetEnv.Port, Action = (qb + 1) % 4 });
                env.Pair.A.AddNtupleRule(new NtupleRule { Location = 1, FlowType = NtupleFlowType.Tcp4, SrcPort = TcpNetEnv.Port, DstPort = tuple.LocalPort, Action = (qa + 2) % 4 });
            }
            txHash.Append(block);
            Assert.Equal(block.Length, await c.SendAsync(block).AsTask().WaitAsync(Guard));
        }
        var closing = c.CloseAsync().AsTask(); // completes once the server closes too (TIME_WAIT)
        await reader.WaitAsync(Guard);
        Assert.Equal(bytes, Interlocked.Read(ref received));
        Assert.Equal(txHash.GetCurrentHashAsUInt128(), rxHash.GetCurrentHashAsUInt128());
        output.WriteLine($"handoffs A {env.A.Tcp.Stats.HandoffCount} B {env.B.Tcp.Stats.HandoffCount}");
        Assert.True(env.B.Tcp.Stats.HandoffCount > 100 && env.A.Tcp.Stats.HandoffCount > 10);
        await s.CloseAsync().AsTask().WaitAsync(Guard);
        await closing.WaitAsync(Guard);
    }

    [Fact]
    public async Task StackFactoriesRefusedConnectListenConflictAndOptionsAfterConnect()
    {
        var nic = new VirtualNicOptions { ThreadedNapi = true };
        using var env = new TcpNetEnv(queues: 2, a: nic, b: nic, clock: TimeProvider.System);
        var c = env.A.CreateTcpSocket();
        var e = await Assert.ThrowsAsync<NetmemErrnoException>(async () => await c.ConnectAsync(TcpNetEnv.IpB, 9).AsTask().WaitAsync(Guard));
        Assert.Equal(Errno.ECONNREFUSED, e.Errno);
        using var l = env.B.ListenTcp(TcpNetEnv.Port);
        var dup = Assert.Throws<NetmemErrnoException>(() => env.B.ListenTcp(TcpNetEnv.Port));
        Assert.Equal(Errno.EADDRINUSE, dup.Errno);

        // Options set after connect reach the connection (SO_RCVBUF also stops auto-tuning).
        var ok = new TcpSocket(env.A);
        var accept = l.AcceptAsync().AsTask();
        await ok.ConnectAsync(TcpNetEnv.IpB, TcpNetEnv.Port).AsTask().WaitAsync(Guard);
        using var server = await accept.WaitAsync(Guard);
        ok.ReceiveBufferSize = 1 << 20;
        ok.NoDelay = true;
        Assert.Same(ok.Settings, ok.Connection!.Settings);
        Assert.False(ok.Connection.Settings.ReceiveBufferAutoTuning);
        Assert.True(ok.Connection.Settings.NoDelay);
        var info = await ok.GetInfoAsync().AsTask().WaitAsync(Guard); // runs after the posted ApplySettings
        Assert.Equal(1 << 20, info.RcvSpace);
        ok.Abort();
    }
}
