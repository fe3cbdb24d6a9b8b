using Netmem.Devices;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Tests.Tcp;
using Netmem.Wire;
using static Netmem.Tests.Tcp.TcpTestUtil;

namespace Netmem.Tests.Zerocopy;

/// <summary>
/// MSG_ZEROCOPY on a connection (<see cref="TcpConnection.SendZeroCopy"/>) over the two-host test net:
/// segmentation (MAX_SKB_FRAGS, PSH), send ids and completion ranges, COPIED, memory held across a
/// retransmission, the SO_ZEROCOPY and closed-socket rules. The test net's "device" neither copies nor
/// marks, so completions here say zero-copy (code 0) unless the route lacks scatter-gather.
/// </summary>
public class ZerocopySendTests
{
    private static TcpSettings Zc(bool on = true) => new() { ZeroCopy = on };

    private readonly record struct Seg(int Len, bool Psh);

    private static List<Seg> DataSegmentsFromA(TcpTestNet net)
    {
        var l = new List<Seg>();
        net.Tap = (src, h, len) => { if (src == TcpTestNet.AddrA && len > 0) l.Add(new Seg(len, (h.Flags & TcpFlags.Psh) != 0)); };
        return l;
    }

    /// <summary>Pumps and runs timers (delayed ACKs, RTOs) until <paramref name="c"/> has nothing unacknowledged.</summary>
    private static void Settle(TcpTestNet net, TcpConnection c)
    {
        net.Pump();
        for (int i = 0; i < 200 && c.SendQueued > 0; i++) net.AdvanceToNextTimer(limitUs: 100_000);
        Assert.Equal(0, c.SendQueued);
    }

    private static byte[] ReadAll(TcpTestNet net, TcpConnection s, int bytes)
    {
        var got = new byte[bytes];
        int n = 0;
        for (int i = 0; i < 1000 && n < bytes; i++)
        {
            int r = s.Receive(got.AsSpan(n));
            if (r > 0) n += r;
            else net.Pump();
        }
        Assert.Equal(bytes, n);
        return got;
    }

    private static void AssertCompletion(TcpConnection c, uint lo, uint hi, bool copied)
    {
        Assert.True(c.ErrorQueue.TryDequeue(out var e), "a zero-copy completion is queued");
        Assert.True(e.IsZerocopy);
        Assert.Equal(SockExtendedErr.OriginZerocopy, e.Origin);
        Assert.Equal((lo, hi), (e.Info, e.Data));
        Assert.Equal(copied ? SockExtendedErr.CodeZerocopyCopied : (byte)0, e.Code);
    }

    [Fact]
    public void EachIovecIsAFragAndASegmentEndsWithPshWhenItsSeventeenFragsRunOut()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, Zc(), Zc());
        using var buf = new ZerocopyTestBuffer(64 * 4096);
        TcpTestUtil.FillPattern(buf.Span, 0, 5);
        var segs = DataSegmentsFromA(net);

        // 18 one-byte elements, each on its own page: 17 frags in the first skb, 1 in the second, both PSH.
        var iov = Enumerable.Range(0, 18).Select(i => buf.Iov(i * 4096, 1)).ToArray();
        Assert.Equal(18, c.SendZeroCopy(iov, null));
        Settle(net, c);
        Assert.Equal([new Seg(17, true), new Seg(1, true)], segs);
        Assert.Equal(iov.Select(v => buf.Span[(int)(v.Address - buf.Address)]).ToArray(), ReadAll(net, s, 18));
        AssertCompletion(c, 0, 0, copied: false);

        // 64 elements: 17, 17, 17, 13.
        segs.Clear();
        iov = Enumerable.Range(0, 64).Select(i => buf.Iov(i * 4096 + 7, 1)).ToArray();
        Assert.Equal(64, c.SendZeroCopy(iov, null));
        Settle(net, c);
        Assert.Equal([new Seg(17, true), new Seg(17, true), new Seg(17, true), new Seg(13, true)], segs);
        Assert.Equal(iov.Select(v => buf.Span[(int)(v.Address - buf.Address)]).ToArray(), ReadAll(net, s, 64));
        AssertCompletion(c, 1, 1, copied: false);
        Assert.False(c.ErrorQueue.TryDequeue(out _));
        Assert.True(net.A.Layer.Stats.ZerocopyFragCutCount >= 4);

        // Adjacent elements in one page are one frag: 18 of them go as a single segment.
        segs.Clear();
        iov = Enumerable.Range(0, 18).Select(i => buf.Iov(100 + i, 1)).ToArray();
        Assert.Equal(18, c.SendZeroCopy(iov, null));
        Settle(net, c);
        Assert.Equal([new Seg(18, true)], segs);
        Assert.Equal(buf.Span.Slice(100, 18).ToArray(), ReadAll(net, s, 18));
        AssertCompletion(c, 2, 2, copied: false);
    }

    [Fact]
    public void CompletionRangesCoalesceIntoOneRecord()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, Zc(), Zc());
        using var buf = new ZerocopyTestBuffer(5 * 4000);
        TcpTestUtil.FillPattern(buf.Span, 0, 9);
        var pins = new CountingPin[5];
        for (int i = 0; i < 5; i++)
        {
            pins[i] = new CountingPin();
            Assert.Equal(4000, c.SendZeroCopy([buf.Iov(i * 4000, 4000)], pins[i]));
            Assert.Equal((uint)i + 1, c.ZerocopyNextId); // each send that queued bytes took an id
            Settle(net, c);
            // The test net hands the sender's skbs to the receiver as loopback would: they hold the memory until read.
            Assert.Equal(buf.Span.Slice(i * 4000, 4000).ToArray(), ReadAll(net, s, 4000));
            Assert.Equal(1, pins[i].Released); // acknowledged and freed: the pin went back
        }
        Assert.Equal(1, c.ErrorQueue.Count);
        AssertCompletion(c, 0, 4, copied: false); // one read covers all five (skb_zerocopy_notify_extend)
        Assert.False(c.ErrorQueue.TryDequeue(out _));
        Assert.Equal(5, net.A.Layer.Stats.ZerocopySendCount);
    }

    [Fact]
    public void SendsQueuedBehindUnsentBytesShareOneCompletion()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, Zc(), Zc());
        using var buf = new ZerocopyTestBuffer(3 * 100);
        TcpTestUtil.FillPattern(buf.Span, 0, 3);
        var pin = new CountingPin();
        // The first small send goes at once; Nagle holds the next two while it is in flight, and they extend
        // one completion (msg_zerocopy_realloc) and go as one segment.
        var segs = DataSegmentsFromA(net);
        for (int i = 0; i < 3; i++) Assert.Equal(100, c.SendZeroCopy([buf.Iov(i * 100, 100)], pin));
        Assert.Equal(3u, c.ZerocopyNextId);
        Settle(net, c);
        Assert.Equal([new Seg(100, true), new Seg(200, true)], segs);
        Assert.Equal(buf.Span.ToArray(), ReadAll(net, s, 300));
        Assert.Equal(3, pin.Released);
        AssertCompletion(c, 0, 2, copied: false);
    }

    [Fact]
    public void CopiedSendsAfterZerocopyOnesKeepTheStreamInOrder()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, Zc(), Zc());
        using var buf = new ZerocopyTestBuffer(3 * 4096);
        TcpTestUtil.FillPattern(buf.Span, 0, 11);
        var copied = new byte[9000];
        TcpTestUtil.FillPattern(copied, 0, 12);
        var expect = new List<byte>();
        Assert.Equal(100, c.SendZeroCopy([buf.Iov(0, 100)], null)); expect.AddRange(buf.Span[..100].ToArray());
        Assert.Equal(5000, c.Send(copied.AsSpan(0, 5000))); expect.AddRange(copied[..5000]);
        Assert.Equal(6000, c.SendZeroCopy([buf.Iov(100, 6000)], null)); expect.AddRange(buf.Span.Slice(100, 6000).ToArray());
        Assert.Equal(4000, c.Send(copied.AsSpan(5000, 4000))); expect.AddRange(copied[5000..]);
        Assert.Equal(10, c.SendZeroCopy([buf.Iov(9000, 10)], null)); expect.AddRange(buf.Span.Slice(9000, 10).ToArray());
        Settle(net, c);
        Assert.Equal(expect.ToArray(), ReadAll(net, s, expect.Count));
        var ids = new List<(uint, uint)>();
        while (c.ErrorQueue.TryDequeue(out var e)) ids.Add((e.Info, e.Data));
        Assert.Equal(0u, ids[0].Item1);
        Assert.Equal(2u, ids[^1].Item2); // three zero-copy sends, ids 0..2, all completed
        Assert.True(c.SendPagesHeld <= 1, "only the page copies fill is left");
    }

    [Fact]
    public void MemoryStaysReferencedAcrossARetransmissionUntilItsAck()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, Zc(), Zc());
        using var buf = new ZerocopyTestBuffer(3000);
        TcpTestUtil.FillPattern(buf.Span, 0, 21);
        bool dropped = false;
        net.DropFilter = (src, h, len) => src == TcpTestNet.AddrA && len > 0 && !dropped && (dropped = true);
        var pin = new CountingPin();
        Assert.Equal(3000, c.SendZeroCopy([buf.Iov(0, 3000)], pin));
        net.Pump();
        Assert.True(dropped);
        Assert.Equal(0, pin.Released);
        Assert.True(c.ErrorQueue.IsEmpty, "no completion while the data is unacknowledged");
        Assert.True(c.SendPagesHeld > 0, "the queue still references the user pages");
        Assert.Equal(0, s.ReceiveQueued);
        // The retransmission reads the user memory again, not a copy: a byte written now is what arrives.
        buf.Span[1234] ^= 0xFF;
        long retrans = c.GetInfo().TotalRetrans;
        Settle(net, c);
        Assert.True(c.GetInfo().TotalRetrans > retrans);
        Assert.True(c.ErrorQueue.IsEmpty, "the receiver still holds the retransmitted skb (loopback-like test net)");
        Assert.Equal(buf.Span.ToArray(), ReadAll(net, s, 3000));
        Assert.Equal(1, pin.Released);
        AssertCompletion(c, 0, 0, copied: false);
    }

    [Fact]
    public void ASendOnAShutDownOrClosedConnectionTakesNoId()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, Zc(), Zc());
        using var buf = new ZerocopyTestBuffer(4096);
        var pin = new CountingPin();
        Assert.Equal(10, c.SendZeroCopy([buf.Iov(0, 10)], pin));
        Settle(net, c);
        Assert.Equal(1u, c.ZerocopyNextId);
        c.ShutdownSend();
        Assert.Equal(-(int)Errno.EPIPE, c.SendZeroCopy([buf.Iov(0, 10)], pin));
        Assert.Equal(1u, c.ZerocopyNextId);
        s.Abort();
        net.Pump();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.True(c.SendZeroCopy([buf.Iov(0, 10)], pin) < 0);
        Assert.Equal(1u, c.ZerocopyNextId);
        Assert.Equal(1, pin.Released); // only the send that queued took the pin
        AssertCompletion(c, 0, 0, copied: false);
        Assert.False(c.ErrorQueue.TryDequeue(out _));
    }

    [Fact]
    public void ASendThatQueuesNothingTakesNoId()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, Zc(), Zc());
        using var buf = new ZerocopyTestBuffer(4096);
        var pin = new CountingPin();
        Assert.Equal(0, c.SendZeroCopy([buf.Iov(0, 0)], pin));
        Assert.Equal(0u, c.ZerocopyNextId);
        Assert.Equal(5, c.SendZeroCopy([buf.Iov(0, 5)], pin));
        Assert.Equal(1u, c.ZerocopyNextId);
        Settle(net, c);
        Assert.Equal(buf.Span[..5].ToArray(), ReadAll(net, s, 5));
        Assert.Equal(1, pin.Released);
        AssertCompletion(c, 0, 0, copied: false);
    }

    [Fact]
    public void WithoutSoZerocopyTheFlagIsIgnored()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, Zc(false), Zc(false));
        using var buf = new ZerocopyTestBuffer(8192);
        TcpTestUtil.FillPattern(buf.Span, 0, 4);
        var pin = new CountingPin();
        Assert.Equal(8000, c.SendZeroCopy([buf.Iov(0, 3000), buf.Iov(3000, 5000)], pin));
        buf.Span.Clear(); // copied at send time: the user may reuse the memory at once
        Settle(net, c);
        var expect = new byte[8000];
        TcpTestUtil.FillPattern(expect, 0, 4);
        Assert.Equal(expect, ReadAll(net, s, 8000));
        Assert.Equal(0u, c.ZerocopyNextId);
        Assert.True(c.ErrorQueue.IsEmpty, "no completion without SO_ZEROCOPY");
        Assert.Equal(0, pin.Released); // never taken
        Assert.Equal(1, net.A.Layer.Stats.ZerocopyIgnoredCount);
    }

    [Fact]
    public void ARouteWithoutScatterGatherCopiesAndReportsCopied()
    {
        using var net = new TcpTestNet(features: NetdevFeatures.IpCsum);
        var (c, s) = Connect(net, Zc(), Zc());
        using var buf = new ZerocopyTestBuffer(20000);
        TcpTestUtil.FillPattern(buf.Span, 0, 6);
        var pin = new CountingPin();
        Assert.Equal(20000, c.SendZeroCopy([buf.Iov(0, 20000)], pin));
        var expect = buf.Span.ToArray();
        buf.Span.Clear(); // copied at send time
        Settle(net, c);
        Assert.Equal(expect, ReadAll(net, s, 20000));
        Assert.Equal(1, pin.Released);
        AssertCompletion(c, 0, 0, copied: true);
        Assert.Equal(1, net.A.Layer.Stats.ZerocopyCopiedSendCount);
        Assert.True(net.A.Layer.Stats.LinearSegmentCount >= 20000 / 1460);
    }

    [Fact]
    public void InheritedFromTheListener()
    {
        using var net = new TcpTestNet();
        var (c, s) = Connect(net, Zc(false), Zc(true));
        Assert.False(c.Settings.ZeroCopy);
        Assert.True(s.Settings.ZeroCopy);
        using var buf = new ZerocopyTestBuffer(4096);
        Assert.Equal(100, s.SendZeroCopy([buf.Iov(0, 100)], null));
        Settle(net, s);
        Assert.Equal(buf.Span[..100].ToArray(), ReadAll(net, c, 100));
        Assert.True(s.ErrorQueue.TryDequeue(out var e) && e.IsZerocopy);
    }

    [Fact]
    public void SteadyZerocopySendsAllocateNothingOnTheStackThread()
    {
        using var net = new TcpTestNet(features: NetdevFeatures.Sg | NetdevFeatures.IpCsum, clock: new StillClock());
        var (c, s) = Connect(net, Zc(), Zc());
        using var buf = new ZerocopyTestBuffer(64 * 1024);
        TcpTestUtil.FillPattern(buf.Span, 0, 8);
        var rx = new byte[64 * 1024];
        var pin = new CountingPin();
        int sends = 0;
        void Run(int rounds)
        {
            for (int i = 0; i < rounds; i++)
            {
                int n = c.SendZeroCopy([buf.Iov(0, buf.Length)], pin);
                if (n > 0) sends++;
                net.Pump();
                while (s.Receive(rx) > 0) { }
                net.Pump();
                while (c.ErrorQueue.TryDequeue(out _)) { }
            }
        }
        Run(200);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(200);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(sends > 300);
    }
}
