using Netmem.Memory;
using Netmem.Skb;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// The TCP send path (write, burst cutting with TSO autosizing and the half-cwnd cap, PSH marking,
/// ACK-clocked sending) allocates no managed memory once warm: checked with
/// <see cref="GC.GetAllocatedBytesForCurrentThread"/> over a sink that frees each skb after hashing its
/// payload (the IP test device copies every datagram into a new array, which a real device does not).
/// </summary>
public sealed class TcpSendPathAllocationTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);

    /// <summary>Passes to the IP test device until <see cref="Sink"/> is set; then hashes TCP payload (FNV-1a) and frees.</summary>
    private sealed class SinkIp(IpTestDevice inner) : IIpOutput
    {
        private readonly byte[] _buf = new byte[70_000];
        public bool Sink;
        public ulong Hash = 14695981039346656037UL;
        public long Bytes, Datagrams;
        public int MaxHeaderRoom => inner.MaxHeaderRoom;
        public Errno Route(Ipv4Address destination, Ipv4Address source, out IpRoute route) => inner.Route(destination, source, out route);

        public Errno Output(SkBuff skb, in IpRoute route, Ipv4Address source, Ipv4Address destination, IpProtocol protocol, byte tos = 0, byte ttl = 64, bool dontFragment = true)
        {
            if (!Sink) return inner.Output(skb, route, source, destination, protocol, tos, ttl, dontFragment);
            int len = skb.Len;
            skb.CopyBits(0, _buf.AsSpan(0, len));
            skb.Free();
            int thl = (_buf[12] >> 4) * 4;
            for (int i = thl; i < len; i++) Hash = (Hash ^ _buf[i]) * 1099511628211UL;
            Bytes += len - thl;
            Datagrams++;
            return Errno.None;
        }
    }

    private static ulong Fnv(ReadOnlySpan<byte> data)
    {
        ulong h = 14695981039346656037UL;
        foreach (byte b in data) h = (h ^ b) * 1099511628211UL;
        return h;
    }

    [Fact]
    public void WarmSendPathAllocatesNothing()
    {
        var clock = new VirtualClock();
        var arena = new PageArena(new PageArenaOptions { PageCount = 1024 });
        var cache = new SkbCache(new SkbCacheOptions { Arena = arena, Capacity = 256 });
        var ctx = new StackContext("alloc", clock, cache);
        var dev = new IpTestDevice(Local, 16, Local, () => ctx.NowUs) { Cache = cache };
        var sink = new SinkIp(dev);
        var tcp = new TcpLayer(sink, ctx);
        dev.Tcp = tcp;
        try
        {
            Assert.Equal(Errno.None, tcp.Listen(new TcpEndpoint(Ipv4Address.Unspecified, 8080), 4, tcp.Defaults, out var l));
            var syn = new TcpOptions { MaxSegmentSize = 1000, SackPermitted = true, WindowScale = 7 };
            Assert.True(dev.Inject(IpPacketBuilder.Tcp(Remote, Local, 50000, 8080, 0, 0, TcpFlags.Syn, 32792, syn)));
            ctx.RunUntilIdle();
            Assert.True(dev.TryTakeSent(out var synAck));
            uint iss = IpPacketBuilder.ParseSent(synAck.Bytes, out _, out _, out _).SequenceNumber;
            clock.SetUs(clock.NowUs + 10_000);
            Assert.True(dev.Inject(IpPacketBuilder.Tcp(Remote, Local, 50000, 8080, 1, iss + 1, TcpFlags.Ack, 1024)));
            ctx.RunUntilIdle();
            Assert.True(l!.TryAccept(out var c));
            sink.Sink = true;

            const int Round = 10000, Rounds = 40, Warm = 8;
            var data = new byte[Round * Rounds];
            new Random(46).NextBytes(data);
            // Every ACK is built before the measured rounds: building one allocates, sending does not.
            var acks = new byte[Rounds][];
            for (int i = 0; i < Rounds; i++) acks[i] = IpPacketBuilder.Tcp(Remote, Local, 50000, 8080, 1, iss + 1 + (uint)(Round * (i + 1)), TcpFlags.Ack, 1024);
            long allocated = 0;
            for (int i = 0; i < Rounds; i++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                int n = c.Send(data.AsSpan(Round * i, Round));
                ctx.RunUntilIdle();
                clock.SetUs(clock.NowUs + 10_000);
                bool injected = dev.Inject(acks[i]);
                ctx.RunUntilIdle();
                long used = GC.GetAllocatedBytesForCurrentThread() - before;
                Assert.Equal(Round, n);
                Assert.True(injected);
                if (i >= Warm) allocated += used;
                Assert.Equal((long)Round * (i + 1), sink.Bytes); // everything written went out, in order
            }
            Assert.Equal(0, allocated);
            Assert.True(sink.Datagrams > Rounds, $"{sink.Datagrams} datagrams"); // bursts were cut, not one per write
            Assert.Equal(Fnv(data), sink.Hash);
            c.Close();
            ctx.RunUntilIdle();
            tcp.AbortAll();
            ctx.RunUntilIdle();
        }
        finally
        {
            dev.ClearSent();
            ctx.Dispose();
            cache.Dispose();
        }
        Assert.Equal(0, cache.HeadPool.Inflight);
        Assert.Equal(arena.TotalPages, arena.FreePages);
        arena.Dispose();
    }
}
