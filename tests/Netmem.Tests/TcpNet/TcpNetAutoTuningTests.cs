using Netmem.Stack.Tcp;

namespace Netmem.Tests.TcpNet;

/// <summary>
/// Receive-buffer auto-tuning (<c>tcp_rcv_space_adjust</c>, dynamic right-sizing) over a path with delay:
/// the window the receiver advertises on the wire grows while the reader keeps up, to the limit and no
/// further, and stays put when auto-tuning is off.
/// </summary>
public class TcpNetAutoTuningTests(ITestOutputHelper output)
{
    private const int Initial = 128 * 1024;

    private (TcpWindowTap Tap, TcpConnection Server, TcpInfo Info) Run(TcpSettings server, long total, TimeSpan latency, bool timestamps = true)
    {
        TcpWindowTap? tap = null;
        var client = new TcpSettings { SendBufferSize = 16 << 20, Timestamps = timestamps };
        // Rings deep enough for a 4 MiB window that arrives in one burst: the sender is limited by the window, not by losses.
        var nic = new Netmem.Drivers.VirtualNic.VirtualNicOptions { RxRingSize = Netmem.Drivers.VirtualNic.VirtualNic.MaxRingSize };
        using var env = new TcpNetEnv(queues: 1, a: nic, b: nic, latency: latency, pages: 32768, bToA: w => tap = new TcpWindowTap(w));
        var l = env.Listen(env.B, settings: server with { Timestamps = timestamps });
        var (c, s) = env.Connect(l, client);
        var bulk = new TcpBulk(c, s, total, seed: 9);
        bulk.Start(env);
        env.RunUntil(() => bulk.Done, step: TimeSpan.FromMilliseconds(1), what: "the transfer");
        bulk.AssertEqual();
        var info = TcpNetTransferTests.Info(env, s);
        var ci = TcpNetTransferTests.Info(env, c);
        output.WriteLine($"windows advertised: first {tap!.FirstWindow}, max {tap.MaxWindow}, last {tap.LastWindow} over {tap.Segments} segments; server rcvbuf {s.ReceiveBufferSize}, receiver RTT {s.ReceiveRttUs} us; client {ci}");
        Assert.Equal(0, ci.TotalRetrans); // nothing lost: what limited the sender was the window
        TcpNetTransferTests.Close(env, c, s);
        return (tap, s, info);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WindowGrowsToTheLimitWhenTheReaderKeepsUp(bool timestamps)
    {
        const int max = 4 << 20;
        var (tap, s, _) = Run(new TcpSettings { ReceiveBufferSize = Initial, MaxReceiveBufferSize = max }, 96L << 20, TimeSpan.FromMilliseconds(5), timestamps);
        Assert.InRange(tap.FirstWindow, Initial / 2, Initial);
        Assert.Equal(max, s.ReceiveBufferSize);
        Assert.InRange(tap.MaxWindow, max - 128 * 1024, max); // what went on the wire, to the limit and no further
    }

    [Fact]
    public void WindowStaysPutWhenAutoTuningIsOff()
    {
        var (tap, s, _) = Run(new TcpSettings { ReceiveBufferSize = Initial, ReceiveBufferAutoTuning = false }, 16L << 20, TimeSpan.FromMilliseconds(5));
        Assert.Equal(Initial, s.ReceiveBufferSize);
        Assert.InRange(tap.MaxWindow, Initial / 2, Initial);
    }

    [Fact]
    public void WindowFollowsASlowReader()
    {
        // The reader takes 64 KiB every 10 ms over a 10 ms RTT. The first RTT's reads exceed the initial
        // estimate (10 segments), so the buffer grows once, with the growth term; after that each RTT reads
        // the same and it stays, far below the limit, however much the sender has queued.
        var nic = new Netmem.Drivers.VirtualNic.VirtualNicOptions { RxRingSize = Netmem.Drivers.VirtualNic.VirtualNic.MaxRingSize };
        TcpWindowTap? tap = null;
        using var env = new TcpNetEnv(queues: 1, a: nic, b: nic, latency: TimeSpan.FromMilliseconds(5), pages: 32768, bToA: w => tap = new TcpWindowTap(w));
        var l = env.Listen(env.B, settings: new TcpSettings { ReceiveBufferSize = Initial, MaxReceiveBufferSize = 4 << 20 });
        var (c, s) = env.Connect(l, new TcpSettings { SendBufferSize = 8 << 20 });
        const long total = 8L << 20;
        var bulk = new TcpBulk(c, s, total, seed: 10, manualRead: true);
        bulk.Start(env);
        int early = 0;
        for (int ms = 0; ms < 10_000 && !bulk.Done; ms++)
        {
            env.Advance(TimeSpan.FromMilliseconds(1));
            if (ms % 10 == 9) env.On(s.Context, () => bulk.ReadSome(64 * 1024));
            if (ms == 200) early = s.ReceiveBufferSize;
        }
        bulk.AssertEqual();
        output.WriteLine($"slow reader: windows first {tap!.FirstWindow}, max {tap.MaxWindow}; rcvbuf at 200 ms {early}, at the end {s.ReceiveBufferSize}; receiver RTT {s.ReceiveRttUs} us");
        Assert.Equal(early, s.ReceiveBufferSize); // no growth while the reader's rate stays the same
        Assert.InRange(s.ReceiveBufferSize, Initial, 1 << 20); // a quarter of the limit at most
        Assert.True(tap.MaxWindow <= s.ReceiveBufferSize);
        TcpNetTransferTests.Close(env, c, s);
    }

    [Fact]
    public void SettingTheReceiveBufferSizeLocksIt()
    {
        // SO_RCVBUF on a socket turns auto-tuning off (SOCK_RCVBUF_LOCK).
        using var net = new Netmem.Tests.Tcp.TcpTestNet();
        var sock = new Netmem.Sockets.TcpSocket(net.A.Layer);
        Assert.True(sock.Settings.ReceiveBufferAutoTuning);
        sock.ReceiveBufferSize = 256 * 1024;
        Assert.False(sock.Settings.ReceiveBufferAutoTuning);
        Assert.Equal(256 * 1024, sock.Settings.ReceiveBufferSize);
    }
}
