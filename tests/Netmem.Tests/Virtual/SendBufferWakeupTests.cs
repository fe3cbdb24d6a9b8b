using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// SO_SNDBUF as Linux applies it (packetdrill's blocking/blocking-write): the buffer is checked only when a
/// write starts a new skb of the size goal, so a write queues up to a size goal past it; and a writer stopped
/// by it becomes writeable again only when the free space is at least half of what is queued
/// (sk_stream_write_space / sk_stream_min_wspace), not when the first byte fits.
/// </summary>
public sealed class SendBufferWakeupTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);

    private static byte[] Ack(uint iss, uint ack) => IpPacketBuilder.Tcp(Remote, Local, 50000, 8080, 1, iss + ack, TcpFlags.Ack, 50000);

    private static void CheckSent(VirtualTcpHost host, uint iss, byte[] data, ref long sentEnd)
    {
        while (host.Device.TryTakeSent(out var p))
        {
            var r = IpPacketBuilder.ParseSent(p.Bytes, out _, out _, out var payload);
            int rel = (int)(r.SequenceNumber - iss - 1);
            Assert.Equal(data.AsSpan(rel, payload.Length).ToArray(), payload);
            sentEnd = Math.Max(sentEnd, rel + payload.Length);
        }
    }

    [Fact]
    public void WriteFillsTheSizeGoalPastSndbuf_WriteableAgainOnlyAtHalfQueued()
    {
        using var host = new VirtualTcpHost();
        var (c, iss) = LimitedTransmitTests.Establish(host, sack: false, win: 50000, synWin: 50000, wscale: 0);
        c.Settings.SendBufferSize = 42000; // setsockopt(SO_SNDBUF, 21000) doubled
        c.ApplySettings();
        var data = new byte[61000];
        new Random(51).NextBytes(data);
        long sentEnd = 0;

        // Size goal 25000 (half the peer's 50000 window): 25000, 10000 of it sent (IW10), the unsent 15000
        // topped up to 25000, then one more skb started at 35000 queued < 42000: 60000 taken.
        int n = c.Send(data);
        Assert.Equal(60000, n);
        CheckSent(host, iss, data, ref sentEnd);
        Assert.Equal(10000, sentEnd);
        Assert.False(c.StreamWriteable);

        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 10001)));
        CheckSent(host, iss, data, ref sentEnd);
        Assert.Equal(30000, sentEnd); // cwnd 20
        Assert.False(c.StreamWriteable); // 50000 queued

        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 30001)));
        Assert.Equal(30000, c.SendQueued);
        Assert.Equal(12000, c.SendFree);
        Assert.False(c.StreamWriteable); // 12000 free < 15000

        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 36001))); // (Linux's skb overhead is not counted: 35001 would do here, not there)
        Assert.True(c.StreamWriteable); // 18000 free >= 12000
        Assert.Equal(1000, c.Send(data.AsSpan(n)));
        host.RunPending();
        CheckSent(host, iss, data, ref sentEnd);

        // The rest drains: every byte went out once, in order, as written.
        for (uint ack = 36001; sentEnd < data.Length || ack < data.Length + 1;)
        {
            host.Advance(10_000);
            ack = (uint)sentEnd + 1;
            Assert.True(host.Inject(Ack(iss, ack)));
            CheckSent(host, iss, data, ref sentEnd);
        }
        Assert.Equal(data.Length, sentEnd);
        Assert.Equal(0, c.SendQueued);
        Assert.True(c.StreamWriteable);
    }
}
