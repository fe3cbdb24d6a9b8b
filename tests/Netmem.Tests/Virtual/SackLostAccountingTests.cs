using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// tcpi_lost and tcpi_reordering as Linux counts them in SACK recovery (lost_out: everything not SACKed
/// below the highest SACK is marked lost and stays so until SACKed or acknowledged; reordering from a
/// first SACK below the highest one), with the figures of packetdrill's sack-shift-sacked-2-6-8-3-9-nofack.
/// </summary>
public sealed class SackLostAccountingTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);

    private static byte[] Ack(uint iss, uint ack, params (uint L, uint R)[] sacks) => IpPacketBuilder.PeerAck(iss, ack, 257, sacks);

    [Fact]
    public void LostIsUnsackedBelowHighestSack_ReorderingFromSackBelowIt()
    {
        using var host = new VirtualTcpHost();
        var (_, c, iss) = VirtualTcpHostTests.Establish(host);
        var data = new byte[10000];
        new Random(31).NextBytes(data);
        Assert.Equal(10000, c.Send(data));
        host.RunPending();
        VirtualTcpHostTests.TakeBurst(host, 10000);
        Assert.Equal(0, c.GetInfo().Lost);

        host.Advance(100_000);
        Assert.True(host.Inject(Ack(iss, 1, (2001, 3001))));
        host.Advance(1_000);
        Assert.True(host.Inject(Ack(iss, 1, (2001, 3001), (6001, 7001))));
        host.Advance(1_000);
        Assert.True(host.Inject(Ack(iss, 1, (2001, 3001), (6001, 7001), (8001, 9001))));
        Assert.True(host.Device.TryTakeSent(out var rtx)); // fast retransmit of the head
        var r = IpPacketBuilder.ParseSent(rtx.Bytes, out _, out _, out var p);
        Assert.Equal(iss + 1, r.SequenceNumber);
        Assert.Equal(data.AsSpan(0, 1000).ToArray(), p.ToArray());
        var info = c.GetInfo();
        Assert.Equal(3, info.CaState);
        Assert.Equal(6000, info.Lost); // 1:2001, 3001:6001, 7001:8001
        Assert.Equal(3, info.Reordering);

        // 3001:4001 SACKed for the first time, 6 segments below the highest SACK (9001).
        host.Advance(7_000);
        Assert.True(host.Inject(Ack(iss, 1, (2001, 4001), (6001, 7001), (8001, 9001))));
        Assert.Equal(5000, c.GetInfo().Lost);
        Assert.Equal(6, c.GetInfo().Reordering);
        host.Advance(10_000);
        Assert.True(host.Inject(Ack(iss, 1, (2001, 4001), (6001, 7001), (8001, 10001))));
        Assert.Equal(5000, c.GetInfo().Lost); // above the highest SACK: never marked
        host.Advance(83_000);
        Assert.True(host.Inject(Ack(iss, 1001, (2001, 4001), (6001, 7001), (8001, 10001))));
        Assert.Equal(4000, c.GetInfo().Lost);
        host.Advance(17_000);
        Assert.True(host.Inject(Ack(iss, 4001, (6001, 7001), (8001, 10001))));
        Assert.Equal(3000, c.GetInfo().Lost);
        host.Advance(10_000);
        Assert.True(host.Inject(Ack(iss, 10001)));
        Assert.Equal(0, c.GetInfo().Lost);
        Assert.Equal(0, c.GetInfo().CaState);
    }
}
