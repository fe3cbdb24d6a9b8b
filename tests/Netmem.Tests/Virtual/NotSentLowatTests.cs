using System.Security.Cryptography;
using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// TCP_NOTSENT_LOWAT (tcp_stream_memory_free) on the deterministic host: how much a write takes (the
/// limit is checked only when a new skb of the size goal starts) and when the socket counts as writable
/// again (fewer than half the limit unsent), with the figures of packetdrill's notsent-lowat-setsockopt.
/// </summary>
public sealed class NotSentLowatTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);

    [Fact]
    public void WriteTopsUpThePartlySentSkbThenStopsAtTheLimit_WritableBelowHalfOfIt()
    {
        using var host = new VirtualTcpHost();
        var (_, c, iss) = VirtualTcpHostTests.Establish(host);
        c.Settings.NotSentLowat = 4000u;
        var data = new byte[59000];
        new Random(11).NextBytes(data);

        // Window 257 << 7 = 32896: size goal 16000. The first skb goes out as far as IW10 allows (10000),
        // its unsent 6000 are topped up to 16000, then the next skb would start with 16000 >= 4000 unsent.
        Assert.Equal(26000, c.Send(data));
        host.RunPending();
        var sent = new MemoryStream();
        var (r, _, payload, _) = VirtualTcpHostTests.TakeBurst(host, 10000);
        Assert.Equal(iss + 1, r.SequenceNumber);
        sent.Write(payload);
        Assert.Equal(16000, c.NotSentBytes);
        Assert.False(c.StreamMemoryFree(wake: false));
        Assert.False(host.Device.TryTakeSent(out _));

        // Each ACK of 2000 bytes lets 4000 more out (slow start); writable (wake) only below 2000 unsent.
        for (uint acked = 2000; acked <= 8000; acked += 2000)
        {
            Assert.False(c.StreamMemoryFree(wake: true));
            host.Advance(10_000);
            Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, 50000, 8080, 1, iss + 1 + acked, TcpFlags.Ack, 257)));
            var (rs, _, p, _) = VirtualTcpHostTests.TakeBurst(host, 4000);
            Assert.Equal(iss + 1 + (uint)sent.Length, rs.SequenceNumber);
            sent.Write(p);
        }
        Assert.Equal(0, c.NotSentBytes);
        Assert.True(c.StreamMemoryFree(wake: true));
        Assert.Equal(SHA256.HashData(data.AsSpan(0, 26000)), SHA256.HashData(sent.ToArray()));

        // Without a limit (the sysctl's UINT_MAX default) a write takes what the send buffer holds.
        c.Settings.NotSentLowat = 0u;
        Assert.Equal(30000, c.Send(data.AsSpan(0, 30000)));
    }
}
