using System.Security.Cryptography;
using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// The deterministic mode: a <see cref="VirtualTcpHost"/> driven only by injected IPv4 datagrams and
/// virtual time, checked packet by packet (headers, checksums, virtual send times).
/// </summary>
public sealed class VirtualTcpHostTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);
    private const ushort Port = 8080, PeerPort = 50000;

    private static TcpOptions SynOptions()
    {
        var o = new TcpOptions { MaxSegmentSize = 1000, SackPermitted = true, WindowScale = 7 };
        return o;
    }

    /// <summary>Passive open through the device; returns the listener, the accepted connection and the host's ISN.</summary>
    internal static (TcpListenEndpoint Listener, TcpConnection Conn, uint Iss) Establish(VirtualTcpHost host)
    {
        Assert.Equal(Errno.None, host.Tcp.Listen(new TcpEndpoint(Ipv4Address.Unspecified, Port), 8, host.Tcp.Defaults, out var l));
        host.Advance(100_000);
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 0, 0, TcpFlags.Syn, 32792, SynOptions())));
        Assert.True(host.Device.TryTakeSent(out var synAck));
        Assert.Equal(100_000, synAck.TimeUs);
        var r = IpPacketBuilder.ParseSent(synAck.Bytes, out var src, out var dst, out _);
        Assert.Equal(Local, src);
        Assert.Equal(Remote, dst);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, r.Flags);
        Assert.Equal(1u, r.AcknowledgmentNumber);
        Assert.Equal((ushort)1460, r.Options.MaxSegmentSize);
        Assert.True(r.Options.SackPermitted);
        host.Advance(100_000);
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1, r.SequenceNumber + 1, TcpFlags.Ack, 257)));
        Assert.True(l!.TryAccept(out var c));
        Assert.Equal(TcpState.Established, c.State);
        return (l, c, r.SequenceNumber);
    }

    /// <summary>
    /// Takes datagrams until <paramref name="bytes"/> of payload came (as packetdrill joins a TSO burst's
    /// pieces): the first one's header, the last one's flags, the payload joined, and how many datagrams.
    /// </summary>
    internal static (TcpRepr First, TcpFlags LastFlags, byte[] Payload, int Datagrams) TakeBurst(VirtualTcpHost host, int bytes)
    {
        var all = new MemoryStream();
        TcpRepr first = default;
        TcpFlags last = 0;
        int n = 0;
        while (all.Length < bytes && host.Device.TryTakeSent(out var pkt))
        {
            var r = IpPacketBuilder.ParseSent(pkt.Bytes, out _, out _, out var p);
            if (n++ == 0) first = r;
            last = r.Flags;
            all.Write(p);
        }
        Assert.Equal(bytes, all.Length);
        return (first, last, all.ToArray(), n);
    }

    [Fact]
    public void PassiveOpenAndDataThroughTheDevice_ContentAndAckTiming()
    {
        using var host = new VirtualTcpHost();
        var (_, c, iss) = Establish(host);
        var data = new byte[1000];
        new Random(7).NextBytes(data);
        host.Advance(10_000);
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1, iss + 1, TcpFlags.Ack | TcpFlags.Psh, 257, default, data)));
        // Quick-ACK mode: the first data segment is ACKed at once, at the instant it arrived.
        Assert.True(host.Device.TryTakeSent(out var ack));
        Assert.Equal(210_000, ack.TimeUs);
        var r = IpPacketBuilder.ParseSent(ack.Bytes, out _, out _, out var payload);
        Assert.Equal(1001u, r.AcknowledgmentNumber);
        Assert.Empty(payload);
        var got = new byte[2000];
        Assert.Equal(1000, c.Receive(got));
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(got.AsSpan(0, 1000)));

        // Data the other way: one segment, PSH (it ends the queue), at the current virtual time.
        var reply = new byte[3000];
        new Random(8).NextBytes(reply);
        Assert.Equal(3000, c.Send(reply));
        host.RunPending();
        var (rs, lastFlags, sent, datagrams) = TakeBurst(host, 3000);
        Assert.Equal(iss + 1, rs.SequenceNumber);
        Assert.True((lastFlags & TcpFlags.Psh) != 0);
        Assert.Equal(2, datagrams); // TSO autosizing at 100 ms RTT: 2 x 1000-byte MSS, then the last 1000
        Assert.Equal(SHA256.HashData(reply), SHA256.HashData(sent));
        Assert.Equal(0, host.Device.SentCount);
    }

    [Fact]
    public void SynAckRetransmitsAtItsRtoInVirtualTime()
    {
        using var host = new VirtualTcpHost();
        Assert.Equal(Errno.None, host.Tcp.Listen(new TcpEndpoint(Ipv4Address.Unspecified, Port), 8, host.Tcp.Defaults, out _));
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 0, 0, TcpFlags.Syn, 32792, SynOptions())));
        Assert.True(host.Device.TryTakeSent(out var first));
        Assert.Equal(0, first.TimeUs);
        // Nothing comes back: the SYN-ACK goes again after 1 s, then 2 s later (exponential backoff).
        Assert.True(host.RunUntilSent(10_000_000));
        Assert.True(host.Device.TryTakeSent(out var second));
        Assert.InRange(second.TimeUs, 1_000_000, 1_001_000);
        Assert.True(host.RunUntilSent(10_000_000));
        Assert.True(host.Device.TryTakeSent(out var third));
        Assert.InRange(third.TimeUs, 3_000_000, 3_002_000);
        var r2 = IpPacketBuilder.ParseSent(second.Bytes, out _, out _, out _);
        var r3 = IpPacketBuilder.ParseSent(third.Bytes, out _, out _, out _);
        Assert.Equal(r2.SequenceNumber, r3.SequenceNumber);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, r3.Flags);
    }

    [Fact]
    public void SameInputsGiveTheSamePacketsAtTheSameTimes()
    {
        static List<(string, long)> Run()
        {
            var log = new List<(string, long)>();
            using var host = new VirtualTcpHost(new VirtualTcpHostOptions { IsnSeed = 42 });
            var (_, c, iss) = Establish(host);
            while (host.Device.TryTakeSent(out var p)) log.Add((Convert.ToHexString(p.Bytes), p.TimeUs));
            var buf = new byte[20_000];
            for (int i = 0; i < buf.Length; i++) buf[i] = (byte)(i * 7);
            Assert.Equal(buf.Length, c.Send(buf));
            host.RunPending();
            // Lose everything: the RTO fires, backs off, and each retransmission lands at a fixed virtual time.
            for (int i = 0; i < 3 && host.RunUntilSent(host.NowUs + 60_000_000); i++)
                while (host.Device.TryTakeSent(out var p)) log.Add((Convert.ToHexString(p.Bytes), p.TimeUs));
            return log;
        }
        var a = Run();
        var b = Run();
        Assert.True(a.Count >= 3, $"only {a.Count} packets");
        Assert.Equal(a, b);
    }

    [Fact]
    public void EcnSetupIsAnsweredAndNewDataGoesOutEct0()
    {
        using var host = new VirtualTcpHost(new VirtualTcpHostOptions { Tcp = new TcpSettings { Ecn = 2 } });
        Assert.Equal(Errno.None, host.Tcp.Listen(new TcpEndpoint(Ipv4Address.Unspecified, Port), 8, host.Tcp.Defaults, out var l));
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 0, 0, TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr, 32792, SynOptions())));
        Assert.True(host.Device.TryTakeSent(out var synAck));
        var r = IpPacketBuilder.ParseSent(synAck.Bytes, out _, out _, out _);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Ece, r.Flags);
        Assert.Equal(0, synAck.Bytes[1] & 3); // control segments are not ECN-capable
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1, r.SequenceNumber + 1, TcpFlags.Ack, 257)));
        Assert.True(l!.TryAccept(out var c));
        Assert.Equal(100, c.Send(new byte[100]));
        host.RunPending();
        Assert.True(host.Device.TryTakeSent(out var data));
        Assert.Equal(2, data.Bytes[1] & 3); // ECT(0)
        // Without ECN configured, an ECN-setup SYN gets a plain SYN-ACK.
        using var plain = new VirtualTcpHost();
        Assert.Equal(Errno.None, plain.Tcp.Listen(new TcpEndpoint(Ipv4Address.Unspecified, Port), 8, plain.Tcp.Defaults, out _));
        Assert.True(plain.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 0, 0, TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr, 32792, SynOptions())));
        Assert.True(plain.Device.TryTakeSent(out var plainSynAck));
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, IpPacketBuilder.ParseSent(plainSynAck.Bytes, out _, out _, out _).Flags);
    }

    [Fact]
    public void DeviceCountsAndDropsBadInput()
    {
        using var host = new VirtualTcpHost();
        var good = IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 0, 0, TcpFlags.Syn, 1000, SynOptions());
        var badSum = (byte[])good.Clone();
        badSum[10] ^= 0xff;
        Assert.False(host.Inject(badSum));
        Assert.Equal(1, host.Device.Drops(IpTestDrop.BadHeaderChecksum));
        var other = IpPacketBuilder.Tcp(Remote, new Ipv4Address(10, 9, 9, 9), PeerPort, Port, 0, 0, TcpFlags.Syn, 1000);
        Assert.False(host.Inject(other));
        Assert.Equal(1, host.Device.Drops(IpTestDrop.NotForUs));
        Assert.False(host.Inject(good.AsSpan(0, 10)));
        Assert.Equal(1, host.Device.Drops(IpTestDrop.Malformed));
        // A SYN to a closed port: the device delivers it, TCP answers with RST|ACK.
        Assert.True(host.Inject(good));
        Assert.True(host.Device.TryTakeSent(out var rst));
        var r = IpPacketBuilder.ParseSent(rst.Bytes, out _, out _, out _);
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, r.Flags);
        Assert.Equal(1u, r.AcknowledgmentNumber);
    }

    [Fact]
    public void RoutesByPrefixAndGateway()
    {
        var clock = new VirtualClock();
        var dev = new IpTestDevice(Local, 16, new Ipv4Address(192, 168, 0, 254), () => clock.NowUs);
        Assert.Equal(Errno.None, dev.Route(new Ipv4Address(192, 168, 3, 4), default, out var onLink));
        Assert.Equal(new Ipv4Address(192, 168, 3, 4), onLink.NextHop);
        Assert.Equal(Errno.None, dev.Route(Remote, default, out var off));
        Assert.Equal(new Ipv4Address(192, 168, 0, 254), off.NextHop);
        Assert.Equal(Errno.EADDRNOTAVAIL, dev.Route(Remote, new Ipv4Address(1, 2, 3, 4), out _));
        var noGw = new IpTestDevice(Local, 16, Ipv4Address.Unspecified, () => clock.NowUs);
        Assert.Equal(Errno.ENETUNREACH, noGw.Route(Remote, default, out _));
    }

    [Fact]
    public void VirtualClockMovesOnlyWhenTold()
    {
        var clock = new VirtualClock();
        long t0 = clock.GetTimestamp();
        Assert.Equal(0, clock.NowUs);
        clock.Advance(1500);
        Assert.Equal(TimeSpan.FromMicroseconds(1500), clock.GetElapsedTime(t0));
        clock.SetUs(1000); // never back
        Assert.Equal(1500, clock.NowUs);
        Assert.Equal(clock.Epoch.AddTicks(15_000), clock.GetUtcNow());
        Assert.Throws<ArgumentOutOfRangeException>(() => clock.Advance(-1));
    }
}
