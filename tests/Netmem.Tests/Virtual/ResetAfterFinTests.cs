using System.Security.Cryptography;
using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// A reset after the peer's FIN does not take back data already received in order: the stream was
/// complete, so the reader still gets every byte and then end of stream (found on TAP: the kernel's RST
/// reaching our TIME-WAIT threw away up to a megabyte the application had not read yet).
/// </summary>
public sealed class ResetAfterFinTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);
    private const ushort Port = 8080, PeerPort = 50000;

    [Theory]
    [InlineData(true)]  // we closed first: FIN-WAIT-2, their FIN puts us in TIME-WAIT
    [InlineData(false)] // their FIN first: CLOSE-WAIT
    public void UnreadDataSurvivesAResetAfterTheFin(bool weCloseFirst)
    {
        using var host = new VirtualTcpHost();
        var (_, c, iss) = VirtualTcpHostTests.Establish(host);
        var data = new byte[5000];
        new Random(3).NextBytes(data);
        uint ourFin = iss + 1;
        if (weCloseFirst)
        {
            c.ShutdownSend();
            host.RunPending();
            Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1, ourFin + 1, TcpFlags.Ack, 257)));
            Assert.Equal(TcpState.FinWait2, c.State);
        }
        for (int at = 0; at < data.Length; at += 1000)
        {
            host.Advance(1_000);
            var flags = TcpFlags.Ack | (at + 1000 == data.Length ? TcpFlags.Fin : 0);
            Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, (uint)(1 + at), weCloseFirst ? ourFin + 1 : ourFin, flags, 257, default, data.AsSpan(at, 1000))));
        }
        Assert.Equal(weCloseFirst ? TcpState.TimeWait : TcpState.CloseWait, c.State);
        Assert.True(c.ReceivedFin);
        // The peer resets at rcv.nxt (after its FIN): nothing is read yet.
        host.Advance(1_000);
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, (uint)(1 + data.Length + 1), 0, TcpFlags.Rst, 0)));
        Assert.Equal(TcpState.Closed, c.State);
        var got = new byte[8192];
        int n, have = 0;
        while ((n = c.Receive(got.AsSpan(have))) > 0) have += n;
        Assert.Equal(data.Length, have);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(got.AsSpan(0, have)));
        c.Close();
    }

    /// <summary>
    /// A reset before the FIN leaves what arrived in order readable, then reports the reset: tcp_reset purges only
    /// the write queue, and tcp_recvmsg reads the queue before it looks at sk_err (packetdrill's
    /// tcp/fastopen/server/reset-after-accept.pkt reads the SYN's data after the RST, then gets the error).
    /// </summary>
    [Fact]
    public void AResetBeforeTheFinLeavesTheQueueReadableThenReportsTheReset()
    {
        using var host = new VirtualTcpHost();
        var (_, c, iss) = VirtualTcpHostTests.Establish(host);
        var data = new byte[1000];
        new Random(5).NextBytes(data);
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1, iss + 1, TcpFlags.Ack, 257, default, data)));
        Assert.Equal(1000, c.ReceiveQueued);
        Assert.True(host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, 1001, 0, TcpFlags.Rst, 0)));
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(1000, c.ReceiveQueued);
        var got = new byte[2000];
        Assert.Equal(1000, c.Receive(got));
        Assert.Equal(data, got.AsSpan(0, 1000).ToArray());
        Assert.Equal(-(int)Errno.ECONNRESET, c.Receive(got));
        c.Close();
    }
}
