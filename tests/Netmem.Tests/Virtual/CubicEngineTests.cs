using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// CUBIC in the engine as Linux runs it: HyStart's delay detection fed with per-ACK RTT samples (the newest burst
/// each ACK covers; packetdrill's cubic-hystart-delay-rtt-jumps-upward), and the window after a retransmission
/// timeout, which leaving the Loss state does not deflate (cubic-rto-ss-ca-cwnd-bump).
/// </summary>
public sealed class CubicEngineTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);

    private static byte[] Ack(uint iss, uint ack) => IpPacketBuilder.Tcp(Remote, Local, 50000, 8080, 1, iss + ack, TcpFlags.Ack, 257);

    private static int TakeAll(VirtualTcpHost host, uint iss, byte[] data)
    {
        int total = 0;
        while (host.Device.TryTakeSent(out var p))
        {
            var r = IpPacketBuilder.ParseSent(p.Bytes, out _, out _, out var payload);
            Assert.Equal(data.AsSpan((int)(r.SequenceNumber - iss - 1), payload.Length).ToArray(), payload);
            total += payload.Length;
        }
        return total;
    }

    [Fact]
    public void HyStartDelay_EndsSlowStartAtThe9thSampleOfARoundAboveDelayMin()
    {
        using var host = new VirtualTcpHost();
        // A 200 ms handshake, as the script's: the tail loss probe (2·srtt) stays beyond the late ACKs.
        var (c, iss) = LimitedTransmitTests.Establish(host, sack: true, win: 257, handshakeUs: 200_000);
        Assert.Equal("cubic", c.Settings.CongestionControl);
        var data = new byte[30000];
        new Random(61).NextBytes(data);
        Assert.Equal(30000, c.Send(data));
        host.RunPending();
        Assert.Equal(10000, TakeAll(host, iss, data));

        host.Advance(200_000);
        Assert.True(host.Inject(Ack(iss, 10001))); // RTT 200 ms: delay_min
        Assert.Equal(20000, TakeAll(host, iss, data));
        Assert.Equal(20000, c.GetInfo().SndCwnd);

        // The next round's samples are 240 ms and more (the bursts went 200 ms before, these ACKs come 40 ms late).
        host.Advance(240_000);
        for (uint ack = 12001; ack <= 26001; ack += 2000)
        {
            Assert.True(host.Inject(Ack(iss, ack)));
            Assert.Equal(long.MaxValue, c.GetInfo().SndSsthresh);
            host.Advance(1_000);
        }
        Assert.Equal(36000, c.GetInfo().SndCwnd);
        Assert.True(host.Inject(Ack(iss, 28001)));
        Assert.Equal(36000, c.GetInfo().SndSsthresh);
        Assert.Equal(36000, c.GetInfo().SndCwnd);
        host.Advance(1_000);
        Assert.True(host.Inject(Ack(iss, 30001)));
        Assert.Equal(36000, c.GetInfo().SndCwnd);
        Assert.Equal(0, c.SendQueued);
    }

    [Fact]
    public void AfterAnRto_TheAckEndingLossRecoverySlowStartsFromTheLossWindow()
    {
        using var host = new VirtualTcpHost();
        var (c, iss) = LimitedTransmitTests.Establish(host, sack: true, win: 257);
        var data = new byte[20000];
        new Random(62).NextBytes(data);
        Assert.Equal(1000, c.Send(data.AsSpan(0, 1000)));
        host.RunPending();
        Assert.Equal(1000, TakeAll(host, iss, data));
        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 1001)));
        Assert.Equal(1000, c.Send(data.AsSpan(1000, 1000)));
        host.RunPending();
        Assert.Equal(1000, TakeAll(host, iss, data));

        // Lost: a tail loss probe, then the RTO (cwnd 10 -> loss window 1, ssthresh 7).
        Assert.True(host.RunUntilSent(1_000_000));
        Assert.Equal(1000, TakeAll(host, iss, data));
        Assert.True(host.RunUntilSent(1_000_000));
        Assert.Equal(1000, TakeAll(host, iss, data));
        Assert.Equal(1000, c.GetInfo().SndCwnd);
        Assert.Equal(7000, c.GetInfo().SndSsthresh);

        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 2001)));
        Assert.Equal(2000, c.GetInfo().SndCwnd); // slow start from 1, not ssthresh (tcp_end_cwnd_reduction is not for Loss)
        Assert.Equal(7000, c.GetInfo().SndSsthresh);
        Assert.Equal(0, c.GetInfo().CaState);
        Assert.Equal(18000, c.Send(data.AsSpan(2000)));
        host.RunPending();
        Assert.Equal(2000, TakeAll(host, iss, data));
    }

    [Fact]
    public void ACwndLimitedMarkHoldsForItsWindowAfterTheApplicationRunsOutOfData()
    {
        // tcp_cwnd_validate / tcp_is_cwnd_limited: the IW burst fills cwnd exactly, so that window counts as
        // cwnd-limited until snd.una passes its end, though nothing more is queued; a later window that does not
        // fill cwnd clears the mark once the ACKs pass the marked one.
        using var host = new VirtualTcpHost();
        var (c, iss) = LimitedTransmitTests.Establish(host, sack: true, win: 257);
        var data = new byte[14000];
        new Random(63).NextBytes(data);
        Assert.Equal(10000, c.Send(data.AsSpan(0, 10000)));
        host.RunPending();
        Assert.Equal(10000, TakeAll(host, iss, data));
        Assert.True(c.Cong.CwndFull);
        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 5001)));
        Assert.True(c.Cong.CwndFull); // nothing sent since: the mark stands
        Assert.Equal(15000, c.GetInfo().SndCwnd);
        Assert.Equal(4000, c.Send(data.AsSpan(10000, 4000))); // 9000 in flight of 15000: not full
        host.RunPending();
        Assert.Equal(4000, TakeAll(host, iss, data));
        Assert.True(c.Cong.CwndFull); // snd.una (5001) has not passed the marked window's end (10001)
        host.Advance(1_000);
        Assert.True(host.Inject(Ack(iss, 10001)));
        Assert.Equal(20000, c.GetInfo().SndCwnd); // slow start on the marked window's ACKs
        Assert.Equal(4000, c.Send(new byte[4000])); // 8000 in flight of 20000, the marked window passed
        host.RunPending();
        Assert.False(c.Cong.CwndFull);
        while (host.Device.TryTakeSent(out _)) { }
    }
}
