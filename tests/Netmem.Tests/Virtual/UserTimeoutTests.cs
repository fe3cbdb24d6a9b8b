using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// TCP_USER_TIMEOUT as Linux applies it: unacknowledged data fails the connection that long after its first send
/// (the RTO cut short to land exactly there), zero-window probing fails that long after its first probe even
/// when every probe is answered, and without it the retry counts rule as before.
/// </summary>
public sealed class UserTimeoutTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);

    private static byte[] Ack(uint iss, uint ack, ushort win) => IpPacketBuilder.Tcp(Remote, Local, 50000, 8080, 1, iss + ack, TcpFlags.Ack, win);

    [Fact]
    public void UnackedDataTimesOutAtTheUserTimeoutAfterItsFirstSend()
    {
        using var host = new VirtualTcpHost();
        var (c, iss) = LimitedTransmitTests.Establish(host, sack: false, win: 257);
        c.Settings.UserTimeout = TimeSpan.FromSeconds(3);
        var data = new byte[1000];
        new Random(71).NextBytes(data);
        long t0 = host.NowUs;
        Assert.Equal(1000, c.Send(data));
        host.RunPending();
        int sends = 0;
        while (host.Device.TryTakeSent(out var p))
        {
            IpPacketBuilder.ParseSent(p.Bytes, out _, out _, out var payload);
            Assert.Equal(data, payload);
            sends++;
        }
        Assert.Equal(1, sends);

        // Retransmissions back off (300 ms, 600, 1.2 s ...) but the last wait is cut to end at t0 + 3 s.
        long last = t0;
        var times = new List<long>();
        while (host.RunUntilSent(t0 + 2_999_000))
        {
            while (host.Device.TryTakeSent(out var p))
            {
                IpPacketBuilder.ParseSent(p.Bytes, out _, out _, out var payload);
                Assert.Equal(data, payload); // always the same bytes again
                last = p.TimeUs;
                times.Add(p.TimeUs - t0);
                sends++;
            }
        }
        Assert.Equal([300_000L, 900_000, 2_100_000], times); // RTO 300 ms from the handshake's RTT, doubling
        Assert.True(last < t0 + 3_000_000);
        host.AdvanceTo(t0 + 2_999_000);
        Assert.Equal(TcpState.Established, c.State);
        host.AdvanceTo(t0 + 3_000_000);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(Errno.ETIMEDOUT, c.Error);
    }

    [Fact]
    public void ZeroWindowProbingEndsAtTheUserTimeoutThoughEveryProbeIsAnswered()
    {
        using var host = new VirtualTcpHost();
        var (c, iss) = LimitedTransmitTests.Establish(host, sack: false, win: 257);
        c.Settings.UserTimeout = TimeSpan.FromSeconds(3);
        Assert.True(host.Inject(Ack(iss, 1, 0))); // the window closes
        var data = new byte[24];
        new Random(72).NextBytes(data);
        Assert.Equal(24, c.Send(data));
        host.RunPending();
        Assert.False(host.Device.TryTakeSent(out _));

        long firstProbe = -1;
        int probes = 0;
        while (c.State != TcpState.Closed && host.RunUntilSent(10_000_000))
        {
            while (host.Device.TryTakeSent(out var p))
            {
                var r = IpPacketBuilder.ParseSent(p.Bytes, out _, out _, out var payload);
                Assert.Empty(payload);
                Assert.Equal(iss, r.SequenceNumber); // snd.una - 1: the peer must answer with its window
                if (firstProbe < 0) firstProbe = p.TimeUs;
                probes++;
                Assert.True(host.Inject(Ack(iss, 1, 0))); // answered, the window still shut
            }
        }
        host.Advance(10_000_000);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(Errno.ETIMEDOUT, c.Error);
        Assert.InRange(probes, 3, 8);
        Assert.True(firstProbe > 0);
    }

    [Fact]
    public void WithoutAUserTimeoutAnsweredProbesGoOn()
    {
        using var host = new VirtualTcpHost();
        var (c, iss) = LimitedTransmitTests.Establish(host, sack: false, win: 257);
        Assert.True(host.Inject(Ack(iss, 1, 0)));
        Assert.Equal(24, c.Send(new byte[24]));
        host.RunPending();
        long end = host.NowUs + 30_000_000;
        while (host.RunUntilSent(end))
            while (host.Device.TryTakeSent(out _)) Assert.True(host.Inject(Ack(iss, 1, 0)));
        Assert.Equal(TcpState.Established, c.State);
        // The window opens: the data goes.
        Assert.True(host.Inject(Ack(iss, 1, 257)));
        Assert.True(host.Device.TryTakeSent(out var seg));
        IpPacketBuilder.ParseSent(seg.Bytes, out _, out _, out var payload);
        Assert.Equal(24, payload.Length);
    }

    [Fact]
    public void KeepaliveWithAUserTimeoutGivesUpAtTheFirstUnansweredProbeAfterIt()
    {
        using var host = new VirtualTcpHost();
        var (c, iss) = LimitedTransmitTests.Establish(host, sack: false, win: 257);
        long heard = host.NowUs;
        c.Settings.KeepAlive = true;
        c.Settings.KeepAliveIdle = TimeSpan.FromSeconds(10);
        c.Settings.KeepAliveInterval = TimeSpan.FromSeconds(1);
        c.Settings.UserTimeout = TimeSpan.FromSeconds(3.5);
        c.ApplySettings();
        // The first probe after 10 s idle (none out yet); at the next interval the peer has been silent longer than
        // the user timeout with a probe out: a reset and ETIMEDOUT, not TCP_KEEPCNT's 9 probes.
        var sent = new List<(long T, TcpFlags Flags)>();
        while (c.State != TcpState.Closed && host.RunUntilSent(heard + 60_000_000))
            while (host.Device.TryTakeSent(out var p)) sent.Add((p.TimeUs - heard, IpPacketBuilder.ParseSent(p.Bytes, out _, out _, out _).Flags));
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(Errno.ETIMEDOUT, c.Error);
        Assert.Equal(2, sent.Count);
        Assert.Equal((10_000_000L, TcpFlags.Ack), sent[0]);
        Assert.Equal(11_000_000L, sent[1].T);
        Assert.True((sent[1].Flags & TcpFlags.Rst) != 0);
    }
}
