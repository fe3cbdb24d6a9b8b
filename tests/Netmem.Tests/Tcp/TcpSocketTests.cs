using System.Buffers;
using System.IO.Hashing;
using Netmem.Sockets;
using Netmem.Stack.Tcp;
using static Netmem.Tests.Tcp.TcpTestUtil;

namespace Netmem.Tests.Tcp;

public class TcpSocketTests
{
    /// <summary>Pumps the net on this thread (the stack's thread) until <paramref name="t"/> completes; app code runs on the pool.</summary>
    /// <summary>
    /// Pumps the net until <paramref name="t"/> completes. Socket completions run on the thread pool, which a
    /// busy test run can starve for a while, so an idle pump waits on the task briefly instead of spinning, and
    /// gives up only after a generous bound (a hang, not a speed check).
    /// </summary>
    private static void Drive(TcpTestNet net, Task t)
    {
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        int idle = 0;
        while (!t.IsCompleted)
        {
            if (net.Pump() == 0)
            {
                if (deadline.Elapsed > TimeSpan.FromSeconds(60)) Assert.Fail("the operation did not complete");
                if (++idle % 1000 == 0)
                {
                    net.AdvanceToNextTimer(10_000);
                    ((IAsyncResult)t).AsyncWaitHandle.WaitOne(1);
                }
                else Thread.Yield();
            }
            else idle = 0;
        }
        net.Pump();
    }

    [Fact]
    public async Task ConnectAcceptSendReceiveClose()
    {
        using var net = new TcpTestNet();
        var listener = new TcpListener(net.B.Layer, default, Port);
        listener.Start();
        const int total = 2 << 20;
        async Task<UInt128> Server()
        {
            using var s = await listener.AcceptAsync();
            var h = new XxHash128();
            var buf = new byte[100_000];
            int n;
            long got = 0;
            while ((n = await s.ReceiveAsync(buf)) > 0) { h.Append(buf.AsSpan(0, n)); got += n; }
            Assert.Equal(total, got);
            await s.CloseAsync();
            return h.GetCurrentHashAsUInt128();
        }
        async Task<UInt128> Client()
        {
            var c = new TcpSocket(net.A.Layer);
            await c.ConnectAsync(TcpTestNet.AddrB, Port);
            Assert.Equal(TcpState.Established, c.State);
            await Assert.ThrowsAsync<NetmemErrnoException>(async () => await c.ConnectAsync(TcpTestNet.AddrB, Port));
            var h = new XxHash128();
            var chunk = new byte[300_000];
            for (long sent = 0; sent < total; sent += chunk.Length)
            {
                int len = (int)Math.Min(chunk.Length, total - sent);
                FillPattern(chunk.AsSpan(0, len), sent, 9);
                h.Append(chunk.AsSpan(0, len));
                Assert.Equal(len, await c.SendAsync(chunk.AsMemory(0, len)));
            }
            var info = await c.GetInfoAsync();
            Assert.Equal(TcpState.Established, info.State);
            Assert.Equal("cubic", info.CongestionControl);
            await c.CloseAsync();
            return h.GetCurrentHashAsUInt128();
        }
        var server = Task.Run(Server);
        var client = Task.Run(Client);
        Drive(net, Task.WhenAll(server, client));
        Assert.Equal(await client, await server);
        listener.Stop();
    }

    [Fact]
    public void ConnectRefusedAndTimedOut()
    {
        using var net = new TcpTestNet();
        var c = new TcpSocket(net.A.Layer);
        var t = c.ConnectAsync(TcpTestNet.AddrB, 81).AsTask();
        Drive(net, t);
        Assert.Equal(Errno.ECONNREFUSED, Assert.IsType<NetmemErrnoException>(t.Exception!.InnerException).Errno);

        net.DropFilter = (src, p, n) => true;
        var d = new TcpSocket(net.A.Layer);
        var t2 = d.ConnectAsync(TcpTestNet.AddrB, 82).AsTask();
        for (int i = 0; i < 1_000_000 && !t2.IsCompleted; i++) { net.Pump(); net.AdvanceToNextTimer(); Thread.Yield(); }
        // The failure completes on the thread pool; on a busy machine it may land after the timers run out.
        Assert.True(((IAsyncResult)t2).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30)), "connect neither failed nor completed");
        Assert.Equal(Errno.ETIMEDOUT, Assert.IsType<NetmemErrnoException>(t2.Exception!.InnerException).Errno);
        Assert.Throws<NetmemErrnoException>(() => { _ = new TcpSocket(net.A.Layer).SendAsync(new byte[1]); });
    }

    [Fact]
    public async Task ZeroCopyLeaseAndCancellation()
    {
        using var net = new TcpTestNet();
        var listener = new TcpListener(net.B.Layer, default, Port);
        listener.Start();
        var accept = listener.AcceptAsync().AsTask();
        var c = new TcpSocket(net.A.Layer);
        Drive(net, c.ConnectAsync(TcpTestNet.AddrB, Port).AsTask());
        Drive(net, accept);
        var s = await accept;
        // A receive with nothing to read is cancelled.
        using var cts = new CancellationTokenSource();
        var pending = s.ReceiveAsync(new byte[10], cts.Token).AsTask();
        net.Pump();
        Assert.False(pending.IsCompleted);
        cts.Cancel();
        Drive(net, Task.WhenAny(pending));
        Assert.True(pending.IsCanceled || pending.Exception?.InnerException is OperationCanceledException);

        var data = new byte[50_000];
        FillPattern(data, 0, 3);
        Drive(net, c.SendAsync(data).AsTask());
        var got = new List<byte>();
        while (got.Count < data.Length)
        {
            var lt = s.ReceiveLeaseAsync().AsTask();
            Drive(net, lt);
            using var lease = await lt;
            Assert.True(lease.IsReadable);
            Assert.True(lease.Count > 0);
            var segs = new NetmemSegment[256];
            int nseg = lease.GetSegments(0, segs, out int left);
            Assert.Equal(lease.Count, nseg);
            Assert.Equal(0, left);
            Assert.Equal(lease.Length, segs.Take(nseg).Sum(x => x.Length));
            var copy = new byte[lease.Length];
            Assert.Equal(lease.Length, lease.CopyTo(copy));
            Assert.Equal(copy, lease.GetSequence().ToArray());
            Assert.Equal(copy, Enumerable.Range(0, lease.Count).SelectMany(i => lease.GetSpan(i).ToArray()).ToArray());
            got.AddRange(copy);
        }
        Assert.Equal(data, got.ToArray());
        c.Abort();
        net.Pump();
        var r = s.ReceiveAsync(new byte[10]).AsTask();
        Drive(net, Task.WhenAny(r));
        Assert.Equal(Errno.ECONNRESET, Assert.IsType<NetmemErrnoException>(r.Exception!.InnerException).Errno);
        listener.Stop();
    }
}
