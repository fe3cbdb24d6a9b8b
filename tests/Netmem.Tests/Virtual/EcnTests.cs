using System.Buffers.Binary;
using Netmem.Skb;
using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// ECN's reaction to congestion marks (RFC 3168 6.1, Linux tcp_ecn_check_ce / tcp_enter_cwr / tcp_ecn_send) on
/// virtual time: CE-marked data is echoed with ECE until CWR arrives; an ECE reduces the sender's window
/// once per window of data, and the next new data carries CWR.
/// </summary>
public sealed class EcnTests
{
    private static readonly Ipv4Address Local = IpPacketBuilder.HostAddress, Remote = IpPacketBuilder.PeerAddress;
    private const ushort Port = 8080, PeerPort = 50000;

    private static (TcpConnection C, uint Iss) EstablishEcn(VirtualTcpHost host)
    {
        Assert.Equal(Errno.None, host.Tcp.Listen(new TcpEndpoint(Ipv4Address.Unspecified, Port), 8, host.Tcp.Defaults, out var l));
        var o = new TcpOptions { MaxSegmentSize = 1000, SackPermitted = true, WindowScale = 7 };
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 0, 0, TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr, 32792, o)));
        Assert.True(host.Device.TryTakeSent(out var synAck));
        var r = IpPacketBuilder.ParseSent(synAck.Bytes, out _, out _, out _);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Ece, r.Flags);
        host.Advance(100_000);
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1, r.SequenceNumber + 1, TcpFlags.Ack, 320)));
        Assert.True(l!.TryAccept(out var c));
        return (c, r.SequenceNumber);
    }

    /// <summary>A datagram with its IP ECN field set (the header checksum recomputed).</summary>
    private static byte[] WithEcn(byte[] datagram, byte ecn)
    {
        datagram[1] = (byte)((datagram[1] & ~3) | ecn);
        datagram[10] = datagram[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(10), InetChecksum.Compute(datagram.AsSpan(0, 20)));
        return datagram;
    }

    private static TcpFlags AckFlagsFor(VirtualTcpHost host, byte[] datagram)
    {
        host.Advance(1_000);
        Assert.True(host.Inject(datagram));
        host.Advance(50_000); // any delayed ACK goes
        TcpFlags last = 0;
        bool any = false;
        while (host.Device.TryTakeSent(out var p)) { last = IpPacketBuilder.ParseSent(p.Bytes, out _, out _, out _).Flags; any = true; }
        Assert.True(any, "no ACK");
        return last;
    }

    private static bool Ece(TcpFlags f) => (f & TcpFlags.Ece) != 0;

    [Fact]
    public void CeMarkedDataIsEchoedWithEceUntilCwr()
    {
        using var host = new VirtualTcpHost(new VirtualTcpHostOptions { Tcp = new TcpSettings { Ecn = 2 } });
        var (c, iss) = EstablishEcn(host);
        var payload = new byte[1000];
        // ECT(0) data: a plain ACK.
        Assert.False(Ece(AckFlagsFor(host, WithEcn(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1, iss + 1, TcpFlags.Ack, 320, default, payload), 2))));
        // CE: ECE, and on every ACK after it (the next data is unmarked) until the sender says CWR.
        Assert.True(Ece(AckFlagsFor(host, WithEcn(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1001, iss + 1, TcpFlags.Ack, 320, default, payload), 3))));
        Assert.True(Ece(AckFlagsFor(host, WithEcn(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 2001, iss + 1, TcpFlags.Ack, 320, default, payload), 2))));
        Assert.False(Ece(AckFlagsFor(host, WithEcn(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 3001, iss + 1, TcpFlags.Ack | TcpFlags.Cwr, 320, default, payload), 2))));
        Assert.Equal(1, host.Tcp.Stats.EcnCeReceivedCount);
        Assert.Equal(4000, c.ReceiveQueued);
    }

    [Fact]
    public void NotNegotiatedCeIsIgnored()
    {
        using var host = new VirtualTcpHost();
        var (_, _, iss) = VirtualTcpHostTests.Establish(host);
        var flags = AckFlagsFor(host, WithEcn(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1, iss + 1, TcpFlags.Ack, 257, default, new byte[1000]), 3));
        Assert.False(Ece(flags));
        Assert.Equal(0, host.Tcp.Stats.EcnCeReceivedCount);
    }

    [Fact]
    public void EceReducesOncePerWindowAndTheNextNewDataCarriesCwr()
    {
        using var host = new VirtualTcpHost(new VirtualTcpHostOptions { Tcp = new TcpSettings { Ecn = 2 } });
        var (c, iss) = EstablishEcn(host);
        var data = new byte[30000];
        new Random(5).NextBytes(data);
        Assert.Equal(data.Length, c.Send(data));
        host.RunPending();
        host.Device.ClearSent();
        long cwnd0 = c.Cong.Cwnd;
        Assert.Equal(10_000, cwnd0);

        host.Advance(100_000);
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1, iss + 1001, TcpFlags.Ack | TcpFlags.Ece, 320)));
        Assert.True(c.InCwr);
        Assert.Equal(2, c.GetInfo().CaState); // TCP_CA_CWR
        long ssthresh = c.Cong.Ssthresh;
        Assert.True(ssthresh < cwnd0 && ssthresh >= 2 * 1000, $"ssthresh {ssthresh}");
        Assert.Equal(1, host.Tcp.Stats.EcnReductionCount);
        // PRR in CWR: 9000 in flight is above ssthresh, so this ACK lets one segment go (pipe + 1 MSS), new
        // data, and it carries CWR.
        Assert.Equal(10_000, c.Cong.Cwnd);
        var sent = new List<(TcpRepr H, int Len)>();
        void Take() { while (host.Device.TryTakeSent(out var p)) { var h = IpPacketBuilder.ParseSent(p.Bytes, out _, out _, out var pl); sent.Add((h, pl.Length)); } }
        Take();
        Assert.Single(sent);
        Assert.Equal(iss + 1 + 10_000, sent[0].H.SequenceNumber);
        Assert.Equal(1000, sent[0].Len);
        Assert.True((sent[0].H.Flags & TcpFlags.Cwr) != 0);
        // A second ECE within the same window of data neither reduces again nor raises cwnd; no second CWR.
        host.Advance(1_000);
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1, iss + 3001, TcpFlags.Ack | TcpFlags.Ece, 320)));
        Assert.Equal(1, host.Tcp.Stats.EcnReductionCount);
        Assert.Equal(ssthresh, c.Cong.Ssthresh);
        Assert.True(c.Cong.Cwnd < cwnd0, $"cwnd {c.Cong.Cwnd}");
        Take();
        Assert.Single(sent, s => (s.H.Flags & TcpFlags.Cwr) != 0);
        // Once everything sent before the reduction is acknowledged, CWR ends with cwnd at ssthresh.
        host.Advance(1_000);
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1, iss + 10_001, TcpFlags.Ack, 320)));
        Assert.False(c.InCwr);
        Assert.Equal(0, c.GetInfo().CaState);
        Take();
        Assert.Single(sent, s => (s.H.Flags & TcpFlags.Cwr) != 0);
    }
}
