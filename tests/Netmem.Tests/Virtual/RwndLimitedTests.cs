using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// A receive window too small for the next segment (tcp_snd_wnd_test): nothing goes until the window
/// opens or the probe timer sends the bytes that fit (tcp_write_wakeup); the time spent so is
/// tcpi_rwnd_limited, and tcpi_busy_time counts everything from the first queued byte to the last ACK
/// (the chronograph), with the figures of packetdrill's tcp-info-rwnd-limited.
/// </summary>
public sealed class RwndLimitedTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);

    private static byte[] Ack(uint ack, ushort win) => IpPacketBuilder.Tcp(Remote, Local, 50000, 8080, 1, ack, TcpFlags.Ack, win);

    [Fact]
    public void SmallWindowWaitsForTheProbeWhichSendsWhatFits_ChronoCountsRwndAndBusyTime()
    {
        using var host = new VirtualTcpHost();
        var (_, c, iss) = VirtualTcpHostTests.Establish(host);
        Assert.Equal(0, c.GetInfo().BusyUs);
        Assert.True(host.Inject(Ack(iss + 1, 0))); // zero window
        var first = new byte[1000];
        new Random(21).NextBytes(first);
        Assert.Equal(1000, c.Send(first));
        host.RunPending();
        Assert.False(host.Device.TryTakeSent(out _));
        host.Advance(100_000);
        Assert.Equal(100_000, c.GetInfo().RwndLimitedUs);

        Assert.True(host.Inject(Ack(iss + 1, 16))); // 16 << 7 = 2048 bytes: the segment goes
        Assert.True(host.Device.TryTakeSent(out var seg));
        IpPacketBuilder.ParseSent(seg.Bytes, out _, out _, out var p1);
        Assert.Equal(first, p1.ToArray());
        host.Advance(30_000);
        Assert.True(host.Inject(Ack(iss + 1001, 1))); // all acknowledged; window 128 bytes
        var info = c.GetInfo();
        Assert.Equal(100_000, info.RwndLimitedUs);
        Assert.Equal(130_000, info.BusyUs);

        // 128 bytes of window cannot take a 1000-byte segment: it waits (Linux sends no runt here).
        var second = new byte[1000];
        new Random(22).NextBytes(second);
        Assert.Equal(1000, c.Send(second));
        host.RunPending();
        Assert.False(host.Device.TryTakeSent(out _));
        host.Advance(50_000);
        info = c.GetInfo();
        Assert.Equal(150_000, info.RwndLimitedUs);
        Assert.Equal(180_000, info.BusyUs);

        // The probe timer sends the 128 bytes that fit, as data.
        host.Advance(1_000_000);
        Assert.True(host.Device.TryTakeSent(out var probe));
        var r = IpPacketBuilder.ParseSent(probe.Bytes, out _, out _, out var p2);
        Assert.Equal(iss + 1001, r.SequenceNumber);
        Assert.Equal(second.AsSpan(0, 128).ToArray(), p2.ToArray());
    }
}
