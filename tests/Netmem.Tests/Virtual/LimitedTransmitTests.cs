using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// Limited transmit (RFC 3042) and what the ACK ending the reordering delivers: Linux counts SACKed bytes
/// (or, without SACK, one segment per duplicate ACK) as delivered when they arrive, so the cumulative ACK
/// of 1:3001 after two dupacks delivers one segment and slow start grows cwnd from 10 to 11 segments, not 13
/// (packetdrill's limited_transmit/limited-transmit-sack and -no-sack).
/// </summary>
public sealed class LimitedTransmitTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);
    private const ushort Port = 8080, PeerPort = 50000;

    /// <summary>Passive open with an MSS of 1000, the peer's SYN offering <paramref name="synWin"/> and window scale <paramref name="wscale"/>.</summary>
    internal static (TcpConnection Conn, uint Iss) Establish(VirtualTcpHost host, bool sack, ushort win = 320, ushort synWin = 32792, byte wscale = 7, long handshakeUs = 100_000)
    {
        Assert.Equal(Errno.None, host.Tcp.Listen(new TcpEndpoint(Ipv4Address.Unspecified, Port), 8, host.Tcp.Defaults, out var l));
        host.Advance(100_000);
        var o = new TcpOptions { MaxSegmentSize = 1000, SackPermitted = sack, WindowScale = wscale };
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 0, 0, TcpFlags.Syn, synWin, o)));
        Assert.True(host.Device.TryTakeSent(out var synAck));
        var r = IpPacketBuilder.ParseSent(synAck.Bytes, out _, out _, out _);
        Assert.Equal(sack, r.Options.SackPermitted);
        host.Advance(handshakeUs);
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1, r.SequenceNumber + 1, TcpFlags.Ack, win)));
        Assert.True(l!.TryAccept(out var c));
        return (c, r.SequenceNumber);
    }

    private static byte[] Ack(uint iss, uint ack, params (uint L, uint R)[] sacks) => IpPacketBuilder.PeerAck(iss, ack, 320, sacks);

    /// <summary>Takes every datagram sent so far; returns (first relative seq, total payload), checking the payload against <paramref name="data"/>.</summary>
    private static (uint Seq, int Bytes) TakeAll(VirtualTcpHost host, uint iss, byte[] data)
    {
        uint first = 0;
        int total = 0;
        while (host.Device.TryTakeSent(out var p))
        {
            var r = IpPacketBuilder.ParseSent(p.Bytes, out _, out _, out var payload);
            uint rel = r.SequenceNumber - iss;
            if (total == 0) first = rel;
            Assert.Equal(data.AsSpan((int)rel - 1, payload.Length).ToArray(), payload);
            total += payload.Length;
        }
        return (first, total);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TwoDupacksSendTwoNewSegments_TheEndingAckDeliversOneSegment(bool sack)
    {
        using var host = new VirtualTcpHost();
        var (c, iss) = Establish(host, sack);
        var data = new byte[15000];
        new Random(41).NextBytes(data);
        Assert.Equal(15000, c.Send(data));
        host.RunPending();
        Assert.Equal((1u, 10000), TakeAll(host, iss, data)); // IW10

        host.Advance(110_000);
        Assert.True(host.Inject(sack ? Ack(iss, 1, (1001, 2001)) : Ack(iss, 1)));
        Assert.Equal((10001u, 1000), TakeAll(host, iss, data)); // limited transmit, first dupack
        host.Advance(10_000);
        Assert.True(host.Inject(sack ? Ack(iss, 1, (1001, 3001)) : Ack(iss, 1)));
        Assert.Equal((11001u, 1000), TakeAll(host, iss, data)); // and the second
        Assert.Equal(10000, c.GetInfo().SndCwnd);

        // Reordering, not loss: 1:1001 is the only newly delivered segment; cwnd 11, 9 in flight: 2 go.
        host.Advance(10_000);
        Assert.True(host.Inject(Ack(iss, 3001)));
        Assert.Equal(11000, c.GetInfo().SndCwnd);
        Assert.Equal((12001u, 2000), TakeAll(host, iss, data));
        Assert.Equal(0, c.GetInfo().CaState);

        // A plain cumulative ACK of two segments grows slow start by two.
        host.Advance(20_000);
        Assert.True(host.Inject(Ack(iss, 5001)));
        Assert.Equal(13000, c.GetInfo().SndCwnd);
        Assert.Equal((14001u, 1000), TakeAll(host, iss, data)); // the rest of the 15000
    }
}
