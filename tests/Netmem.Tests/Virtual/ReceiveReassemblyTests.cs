using System.Security.Cryptography;
using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// Receive-side reassembly under any arrival order: segments of a stream cut at random points, repeated,
/// overlapping each other and rcv.nxt, delivered in random order (with and without header split and
/// D-SACK), must give the reader exactly the stream and end at the FIN, never earlier.
/// </summary>
public sealed class ReceiveReassemblyTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);
    private const ushort Port = 8080, PeerPort = 50000;

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void RandomCutsRepeatsAndOrderGiveExactlyTheStream(bool split, bool dsack)
    {
        for (int seed = 1; seed <= 60; seed++) RunOne(seed, split, dsack);
    }

    private void RunOne(int seed, bool split, bool dsack)
    {
        var rng = new Random(seed);
        int total = rng.Next(1, 120_000);
        var data = new byte[total];
        rng.NextBytes(data);
        using var host = new VirtualTcpHost(new VirtualTcpHostOptions { TcpDataSplit = split, Tcp = new TcpSettings { Dsack = dsack } });
        var (_, c, iss) = VirtualTcpHostTests.Establish(host);

        // Cut [0, total) into segments of 1..1460 bytes, then add repeats: exact copies and windows that
        // straddle segment boundaries.
        var segs = new List<(int From, int To, bool Fin)>();
        for (int at = 0; at < total;)
        {
            int n = Math.Min(total - at, rng.Next(1, 1461));
            segs.Add((at, at + n, at + n == total));
            at += n;
        }
        int extra = segs.Count / 3 + 1;
        for (int i = 0; i < extra; i++)
        {
            int from = rng.Next(0, total);
            int to = Math.Min(total, from + rng.Next(1, 2000));
            segs.Add((from, to, to == total && rng.Next(2) == 0));
        }
        // Shuffle locally (a displacement of up to 8 places, like a reordering network), sometimes fully.
        bool full = rng.Next(4) == 0;
        for (int i = 0; i < segs.Count; i++)
        {
            int j = full ? rng.Next(segs.Count) : Math.Min(segs.Count - 1, i + rng.Next(0, 8));
            (segs[i], segs[j]) = (segs[j], segs[i]);
        }

        using var got = new MemoryStream();
        var buf = new byte[8192];
        void Read()
        {
            int n;
            while ((n = c.Receive(buf)) > 0) got.Write(buf, 0, n);
        }
        bool eof = false;
        foreach (var (from, to, fin) in segs)
        {
            host.Advance(rng.Next(0, 3) * 1000);
            var flags = TcpFlags.Ack | (fin ? TcpFlags.Fin : 0);
            host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, (uint)(1 + from), iss + 1, flags, 257, default, data.AsSpan(from, to - from)));
            host.Device.ClearSent();
            if (rng.Next(3) == 0) Read();
            if (c.ReceivedFin && c.ReceiveQueued == 0)
            {
                Read();
                eof = true;
                Assert.True(got.Length == total, $"seed {seed}: end of stream after {got.Length} of {total} bytes");
            }
        }
        // Anything still missing: the peer retransmits the whole stream in order once more.
        if (!eof)
        {
            for (int at = 0; at < total; at += 1460)
            {
                int to = Math.Min(total, at + 1460);
                host.Inject(IpPacketBuilder.Tcp(Remote, Local, PeerPort, Port, (uint)(1 + at), iss + 1,
                    TcpFlags.Ack | (to == total ? TcpFlags.Fin : 0), 257, default, data.AsSpan(at, to - at)));
                Read();
            }
            host.Device.ClearSent();
        }
        Read();
        Assert.True(c.ReceivedFin, $"seed {seed}: no end of stream");
        Assert.True(got.Length == total, $"seed {seed}: read {got.Length} of {total} bytes (split {split}, dsack {dsack}, {segs.Count} segments)");
        Assert.True(SHA256.HashData(data).AsSpan().SequenceEqual(SHA256.HashData(got.ToArray())), $"seed {seed}: bytes differ");
    }
}
