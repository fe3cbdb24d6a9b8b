using Netmem.Stack.Tcp;
using Netmem.Wire;
using static Netmem.Tests.Tcp.TcpTestUtil;

namespace Netmem.Tests.Tcp;

public class TcpCloseTests
{
    private static int ReadAll(TcpConnection c, List<byte> into)
    {
        var buf = new byte[65536];
        int r;
        while ((r = c.Receive(buf)) > 0) into.AddRange(buf.AsSpan(0, r).ToArray());
        return r;
    }

    [Fact]
    public void ActiveCloseGoesThroughFinWaitAndTimeWaitExpires()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net);
        c.Send(new byte[5000]);
        Assert.Equal(Errno.None, c.ShutdownSend());
        Assert.Equal(TcpState.FinWait1, c.State);
        net.Pump();
        Assert.Equal(TcpState.FinWait2, c.State);
        Assert.Equal(TcpState.CloseWait, s.State);
        var got = new List<byte>();
        Assert.Equal(0, ReadAll(s, got)); // all data, then EOF
        Assert.Equal(5000, got.Count);
        s.Close();
        Assert.Equal(TcpState.LastAck, s.State);
        net.Pump();
        Assert.Equal(TcpState.Closed, s.State);
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal(1, net.A.Layer.ConnectionCount); // TIME_WAIT still holds the 4-tuple
        net.Advance(59_000_000);
        Assert.Equal(TcpState.TimeWait, c.State);
        net.Advance(2_000_000);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(1, net.A.Layer.Stats.TimeWaitExpiredCount);
        Assert.Equal(0, net.A.Layer.ConnectionCount);
        Assert.Equal(Errno.None, c.Error);
        c.Close();
        Assert.Equal(0, c.SendPagesHeld);
    }

    [Fact]
    public void SimultaneousCloseGoesThroughClosing()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net);
        c.ShutdownSend();
        s.ShutdownSend();
        var states = new HashSet<TcpState>();
        net.Tap = (src, p, plen) => { states.Add(c.State); states.Add(s.State); };
        net.Pump();
        Assert.Contains(TcpState.Closing, states);
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal(TcpState.TimeWait, s.State);
        net.Advance(61_000_000);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpState.Closed, s.State);
    }

    [Fact]
    public void HalfCloseBothWays()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net);
        c.ShutdownSend();
        net.Pump();
        Assert.Equal(0, s.Receive(new byte[10])); // EOF for the server
        Assert.Equal(-(int)Errno.EPIPE, c.Send(new byte[1]));
        // The server still sends after the client's FIN: the client receives it all.
        Transfer(net, 1 << 20, (s, c));
        s.ShutdownSend();
        net.Pump();
        Assert.Equal(0, c.Receive(new byte[10]));
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal(TcpState.Closed, s.State);
    }

    [Fact]
    public void AbortSendsRstAndPeerSeesConnReset()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net);
        c.Send(new byte[3000]);
        net.Pump();
        s.Abort();
        Assert.Equal(TcpState.Closed, s.State);
        net.Pump();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(Errno.ECONNRESET, c.Error);
        Assert.Equal(-(int)Errno.ECONNRESET, c.Receive(new byte[10]));
        Assert.True(c.Send(new byte[10]) < 0);
        Assert.Equal(0, net.A.Layer.ConnectionCount);
        Assert.Equal(0, net.B.Layer.ConnectionCount);
    }

    [Fact]
    public void CloseWithUnreadDataResets()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net);
        c.Send(new byte[3000]);
        net.Pump();
        s.Close(); // 3000 bytes never read: Linux answers with RST, not FIN
        net.Pump();
        Assert.Equal(Errno.ECONNRESET, c.Error);
        Assert.True(s.IsReleased);
    }

    [Fact]
    public void RstOutsideExactSequenceGetsChallengeAck()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net);
        int acks = 0;
        net.Tap = (src, p, plen) => { if (src == TcpTestNet.AddrB && p.Flags == TcpFlags.Ack) acks++; };
        // An in-window RST not at rcv.nxt (RFC 5961 3.2): challenge ACK, connection survives.
        Inject(net, c, s, s.RcvNxt + 100, TcpFlags.Rst);
        net.Pump();
        Assert.Equal(TcpState.Established, s.State);
        Assert.Equal(1, acks);
        Assert.Equal(1, net.B.Layer.Stats.ChallengeAckCount);
        Assert.Equal(1, net.B.Layer.Stats.GetDrops(TcpDropReason.RstNotExact));
        // Another within 500 ms: no second challenge ACK (tcp_invalid_ratelimit, per connection).
        Inject(net, c, s, s.RcvNxt + 10, TcpFlags.Syn);
        net.Pump();
        Assert.Equal(1, acks);
        Assert.Equal(1, net.B.Layer.Stats.ChallengeAckLimitedCount);
        // An in-window SYN (RFC 5961 4.2) later: challenge ACK too.
        net.Advance(600_000, 100_000);
        Inject(net, c, s, s.RcvNxt + 10, TcpFlags.Syn);
        net.Pump();
        Assert.Equal(TcpState.Established, s.State);
        Assert.Equal(2, net.B.Layer.Stats.ChallengeAckCount);
        // An RST exactly at rcv.nxt resets.
        Inject(net, c, s, s.RcvNxt, TcpFlags.Rst);
        net.Pump();
        Assert.Equal(TcpState.Closed, s.State);
        Assert.Equal(Errno.ECONNRESET, s.Error);
    }

    [Fact]
    public void ChallengeAcksAreRateLimited()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net);
        // Per connection: one challenge ACK per 500 ms however many bad RSTs come (Linux's tcp_invalid_ratelimit).
        for (int i = 0; i < 50; i++) Inject(net, c, s, s.RcvNxt + 1, TcpFlags.Rst);
        net.Pump();
        Assert.Equal(1, net.B.Layer.Stats.ChallengeAckCount);
        Assert.Equal(49, net.B.Layer.Stats.ChallengeAckLimitedCount);
        net.Advance(600_000);
        Inject(net, c, s, s.RcvNxt + 1, TcpFlags.Rst);
        net.Pump();
        Assert.Equal(2, net.B.Layer.Stats.ChallengeAckCount);
        Assert.Equal(TcpState.Established, s.State);
        // Layer-wide (RFC 5961 7): at most ChallengeAckLimit per second over all connections.
        long now = net.B.Context.NowUs;
        int allowed = 0;
        for (int i = 0; i < TcpLayer.ChallengeAckLimit + 50; i++) if (net.B.Layer.AllowChallengeAck(now)) allowed++;
        Assert.InRange(allowed, TcpLayer.ChallengeAckLimit - 2, TcpLayer.ChallengeAckLimit); // this second's window already had 2
        Assert.True(net.B.Layer.AllowChallengeAck(now + 1_100_000));
    }

    [Fact]
    public void OldAckAndAckAboveSndMaxAreDropped()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net);
        Inject(net, c, s, s.RcvNxt, TcpFlags.Ack, ack: s.SndNxt + 100_000);
        net.Pump();
        Assert.Equal(1, net.B.Layer.Stats.GetDrops(TcpDropReason.InvalidAck));
        Assert.Equal(TcpState.Established, s.State);
    }

    [Fact]
    public void PawsDropsOldTimestamp()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net);
        Inject(net, c, s, s.RcvNxt, TcpFlags.Ack, tsval: c.TsValue - 5000); // older than what the client sent already
        net.Pump();
        Assert.Equal(1, net.B.Layer.Stats.GetDrops(TcpDropReason.Paws));
    }

    /// <summary>A hand-made segment from the client's 4-tuple to the server.</summary>
    private static void Inject(TcpTestNet net, TcpConnection from, TcpConnection to, uint seq, TcpFlags flags, uint? ack = null, uint? tsval = null)
    {
        var opts = default(TcpOptions);
        if (from.TimestampsEnabled) opts.Timestamp = new TcpTimestamp(tsval ?? from.TsValue, 0);
        var repr = new TcpRepr(from.Tuple.LocalPort, from.Tuple.RemotePort, seq, ack ?? to.SndNxt, flags | ((flags & TcpFlags.Rst) != 0 || (flags & TcpFlags.Syn) != 0 ? 0 : TcpFlags.Ack), 1000, 0) { Options = opts };
        if ((flags & TcpFlags.Rst) == 0 && (flags & TcpFlags.Syn) == 0) repr = repr with { Flags = flags | TcpFlags.Ack };
        var skb = net.A.Cache.Alloc(64 + repr.HeaderLength)!;
        skb.Reserve(64);
        repr.Emit(skb.Put(repr.HeaderLength), from.Tuple.LocalAddress, from.Tuple.RemoteAddress);
        skb.ResetTransportHeader();
        net.A.Output(skb, default, from.Tuple.LocalAddress, from.Tuple.RemoteAddress, IpProtocol.Tcp);
    }
}
