using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// D-SACK on the receive side (RFC 2883, Linux's tcp_dsack_set/tcp_dsack_extend with net.ipv4.tcp_dsack=1):
/// a duplicate segment is answered at once with the repeated range as the first SACK block, reported once.
/// </summary>
public sealed class DsackTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);
    private const ushort Port = 8080, PeerPort = 50000;

    private static (uint Ack, TcpSackBlock[] Blocks) Inject(VirtualTcpHost host, uint iss, int from, int to)
    {
        host.Advance(1_000);
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, (uint)(1 + from), iss + 1, TcpFlags.Ack, 257, default, new byte[to - from])));
        Assert.True(host.Device.TryTakeSent(out var p), $"no immediate ACK for {from}:{to}");
        Assert.False(host.Device.TryTakeSent(out _));
        var r = IpPacketBuilder.ParseSent(p.Bytes, out _, out _, out var payload);
        Assert.Empty(payload);
        var blocks = new TcpSackBlock[r.Options.SackBlockCount];
        for (int i = 0; i < blocks.Length; i++) blocks[i] = r.Options.GetSackBlock(i);
        return (r.AcknowledgmentNumber, blocks);
    }

    private static TcpSackBlock B(int from, int to) => new((uint)(1 + from), (uint)(1 + to));

    [Fact]
    public void OldDuplicateGetsADsackBlockOnceAndAtOnce()
    {
        using var host = new VirtualTcpHost();
        var (_, _, iss) = VirtualTcpHostTests.Establish(host);
        Assert.Equal(1001u, Inject(host, iss, 0, 1000).Ack);
        // The same segment again, twice within tcp_invalid_ratelimit (500 ms): data is never rate limited
        // (tcp_oow_rate_limited), so both are answered at once, each with the D-SACK.
        var (ack, blocks) = Inject(host, iss, 0, 1000);
        Assert.Equal(1001u, ack);
        Assert.Equal([B(0, 1000)], blocks);
        (ack, blocks) = Inject(host, iss, 0, 1000);
        Assert.Equal([B(0, 1000)], blocks);
        Assert.Equal(2, host.Tcp.Stats.DsackSentCount);
        // The next ACK (new data, out of order) carries only the SACK block: the D-SACK was reported once.
        (ack, blocks) = Inject(host, iss, 2000, 3000);
        Assert.Equal(1001u, ack);
        Assert.Equal([B(2000, 3000)], blocks);
    }

    [Fact]
    public void PartlyOldSegmentReportsTheRepeatedFront()
    {
        using var host = new VirtualTcpHost();
        var (_, _, iss) = VirtualTcpHostTests.Establish(host);
        Inject(host, iss, 0, 1000);
        // 500:1500 repeats 500:1000 and brings 1000:1500 (quick-ACK mode at the start: ACKed at once).
        var (ack, blocks) = Inject(host, iss, 500, 1500);
        Assert.Equal(1501u, ack);
        Assert.Equal([B(500, 1000)], blocks);
        Assert.Equal(1, host.Tcp.Stats.DsackSentCount);
    }

    [Fact]
    public void OutOfOrderDuplicateIsReportedBeforeTheSackBlocks()
    {
        using var host = new VirtualTcpHost();
        var (_, _, iss) = VirtualTcpHostTests.Establish(host);
        Inject(host, iss, 0, 1000);
        Assert.Equal([B(2000, 3000)], Inject(host, iss, 2000, 3000).Blocks);
        Assert.Equal([B(4000, 5000), B(2000, 3000)], Inject(host, iss, 4000, 5000).Blocks);
        // 2000:3000 again: D-SACK first, then the blocks (the repeated one included, RFC 2883 4).
        var (ack, blocks) = Inject(host, iss, 2000, 3000);
        Assert.Equal(1001u, ack);
        Assert.Equal(B(2000, 3000), blocks[0]);
        Assert.Contains(B(4000, 5000), blocks[1..]);
        Assert.Equal(1, host.Tcp.Stats.DsackSentCount);
    }

    [Fact]
    public void TcpDsackOffSendsPlainDuplicateAcks()
    {
        using var host = new VirtualTcpHost(new VirtualTcpHostOptions { Tcp = new TcpSettings { Dsack = false } });
        var (_, _, iss) = VirtualTcpHostTests.Establish(host);
        Inject(host, iss, 0, 1000);
        var (ack, blocks) = Inject(host, iss, 0, 1000);
        Assert.Equal(1001u, ack);
        Assert.Empty(blocks);
        Assert.Equal(0, host.Tcp.Stats.DsackSentCount);
    }
}
