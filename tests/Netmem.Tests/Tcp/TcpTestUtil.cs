using System.IO.Hashing;
using Netmem.Stack.Tcp;

namespace Netmem.Tests.Tcp;

internal static class TcpTestUtil
{
    public const ushort Port = 5201;

    /// <summary>A connected pair: client on A, server (accepted) on B.</summary>
    public static (TcpConnection Client, TcpConnection Server) Connect(TcpTestNet net, TcpSettings? client = null, TcpSettings? server = null, ushort port = Port)
    {
        var l = net.B.Listen(port, settings: server);
        var c = net.A.Connect(net.B, port, client);
        net.Pump();
        Assert.Equal(TcpState.Established, c.State);
        var s = net.B.Accept(l);
        Assert.Equal(TcpState.Established, s.State);
        return (c, s);
    }

    public static string Describe(TcpConnection c) =>
        $"{c.State} una {c.SndUna} nxt {c.SndNxt} sndwnd {c.SndWnd} cwnd {c.Cong.Cwnd} sndq {c.SendQueued} rcvnxt {c.RcvNxt} rcvwnd {c.RcvWnd} rcvq {c.ReceiveQueued} ooo {c.OutOfOrderBytes} info {c.GetInfo()}";

    /// <summary>The byte at stream offset <paramref name="pos"/> of test stream <paramref name="seed"/>.</summary>
    public static void FillPattern(Span<byte> into, long pos, int seed)
    {
        for (int i = 0; i < into.Length; i++)
        {
            ulong x = (ulong)(pos + i) * 0x9E3779B97F4A7C15UL + (ulong)seed;
            into[i] = (byte)(x >> 56 ^ x >> 29);
        }
    }

    /// <summary>
    /// Moves <paramref name="total"/> bytes from each sender to its receiver (several streams at once),
    /// pumping the net and stepping time when nothing moves, and checks XxHash128 of what arrived against what was sent.
    /// </summary>
    public static void Transfer(TcpTestNet net, long total, params (TcpConnection Tx, TcpConnection Rx)[] flows)
    {
        int n = flows.Length;
        var sent = new long[n];
        var got = new long[n];
        var txHash = new XxHash128[n];
        var rxHash = new XxHash128[n];
        for (int i = 0; i < n; i++) { txHash[i] = new XxHash128(); rxHash[i] = new XxHash128(); }
        var chunk = new byte[256 * 1024];
        var buf = new byte[256 * 1024];
        int idle = 0;
        while (true)
        {
            bool progress = false, done = true;
            for (int i = 0; i < n; i++)
            {
                var (tx, rx) = flows[i];
                if (sent[i] < total)
                {
                    int len = (int)Math.Min(chunk.Length, total - sent[i]);
                    FillPattern(chunk.AsSpan(0, len), sent[i], i + 1);
                    int k = tx.Send(chunk.AsSpan(0, len));
                    Assert.True(k >= 0, $"send failed: errno {-k}");
                    if (k > 0) { txHash[i].Append(chunk.AsSpan(0, k)); sent[i] += k; progress = true; }
                }
                int r;
                while ((r = rx.Receive(buf)) > 0) { rxHash[i].Append(buf.AsSpan(0, r)); got[i] += r; progress = true; }
                if (got[i] < total) done = false;
            }
            if (done) break;
            if (net.Pump() > 0) progress = true;
            if (!progress)
            {
                if (++idle > 2_000) Assert.Fail($"transfer stalled at {string.Join(",", got)} of {total}: {Describe(flows[0].Tx)} / {Describe(flows[0].Rx)}; last flow: {Describe(flows[^1].Tx)} / {Describe(flows[^1].Rx)}");
                Assert.True(net.AdvanceToNextTimer(), $"stalled with no timer at {string.Join(",", got)} of {total}: last flow: {Describe(flows[^1].Tx)} / {Describe(flows[^1].Rx)}");
            }
            else idle = 0;
        }
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(total, got[i]);
            Assert.Equal(txHash[i].GetCurrentHashAsUInt128(), rxHash[i].GetCurrentHashAsUInt128());
        }
    }
}
