using System.Security.Cryptography;
using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// Header/data split does not change TCP: the same segments injected into a host whose test device
/// splits headers from payload (payload in page_pool frags) and into one that copies them whole give the
/// same packets at the same virtual times and the same bytes to the reader, and every page comes back.
/// </summary>
public sealed class HeaderSplitTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);
    private const ushort Port = 8080, PeerPort = 50000;

    private sealed record Outcome(List<(string Packet, long TimeUs)> Sent, byte[] Received, long Split, long SplitPoolAllocs);

    private static Outcome Run(bool split, byte[] data)
    {
        var sent = new List<(string, long)>();
        var got = new MemoryStream();
        long hds, allocs;
        using (var host = new VirtualTcpHost(new VirtualTcpHostOptions { TcpDataSplit = split }))
        {
            var (_, c, iss) = VirtualTcpHostTests.Establish(host);
            void Drain()
            {
                while (host.Device.TryTakeSent(out var p)) sent.Add((Convert.ToHexString(p.Bytes), p.TimeUs));
            }
            void Seg(int from, int to, TcpFlags flags = TcpFlags.Ack)
            {
                host.Advance(1_000);
                var payload = data.AsSpan(from, to - from).ToArray();
                host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, (uint)(1 + from), iss + 1, flags, 257, default, payload));
                Drain();
            }
            Drain();
            Seg(0, 1000);
            Seg(2000, 3000);          // out of order: a SACK block
            Seg(4000, 5000);          // a second hole
            Seg(1000, 2000);          // fills the first hole
            Seg(3000, 4000);          // fills the second: cumulative ACK to 5000
            Seg(2500, 3500);          // an old duplicate (D-SACK)
            Seg(5000, 15000);         // a 10000-byte GRO-sized datagram: three pages
            Seg(15000, 16000, TcpFlags.Ack | TcpFlags.Psh);
            var buf = new byte[4096];
            int n;
            while ((n = c.Receive(buf)) > 0) got.Write(buf, 0, n);
            host.Advance(200_000);    // delayed ACK, if one is owed
            Drain();
            hds = host.Device.HdsSplit;
            allocs = host.DataPool?.GetStats() is { } st ? st.AllocFast + st.AllocSlow : 0;
        } // Dispose throws if a page or skb did not come back (data pool inflight included)
        return new Outcome(sent, got.ToArray(), hds, allocs);
    }

    [Fact]
    public void SplitAndLinearDeliveryGiveTheSamePacketsTimesAndBytes()
    {
        var data = new byte[16000];
        new Random(11).NextBytes(data);
        var linear = Run(split: false, data);
        var split = Run(split: true, data);

        Assert.Equal(0, linear.Split);
        Assert.Equal(8, split.Split);                 // every data segment went through the split path
        Assert.True(split.SplitPoolAllocs >= 10, $"{split.SplitPoolAllocs} pages from the data pool");
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(linear.Received));
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(split.Received));
        Assert.True(linear.Sent.Count >= 6, $"only {linear.Sent.Count} packets sent");
        Assert.Equal(linear.Sent, split.Sent);
    }

    [Fact]
    public void PureAcksAndMalformedSegmentsAreNotSplit()
    {
        using var host = new VirtualTcpHost(new VirtualTcpHostOptions { TcpDataSplit = true });
        var (_, _, iss) = VirtualTcpHostTests.Establish(host);
        Assert.Equal(0, host.Device.HdsSplit); // handshake segments carry no payload
        // A data offset past the end of the segment: delivered whole, for TCP to count and drop.
        var bad = IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1, iss + 1, TcpFlags.Ack, 257, default, new byte[8]);
        bad[20 + 12] = 0xF0; // data offset 60 > 28 bytes of TCP
        host.Inject(bad);
        Assert.Equal(0, host.Device.HdsSplit);
        Assert.Equal(0, host.DataPool!.GetStats().AllocFast + host.DataPool.GetStats().AllocSlow);
    }
}
