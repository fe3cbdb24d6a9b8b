using System.Buffers.Binary;
using Microsoft.Extensions.Time.Testing;
using Netmem.Devices;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Tests.Tcp;

/// <summary>
/// Two hosts (A 10.0.0.1, B 10.0.0.2), each with its own arena, skb cache, hand-driven
/// <see cref="StackContext"/> and <see cref="TcpLayer"/>, joined by an in-memory IP layer
/// (<see cref="FakeIp"/>) that queues segments and delivers them when the test pumps, with seeded
/// loss, duplication, reordering and corruption. One FakeTimeProvider drives both. Dispose checks that
/// every skb and page came back.
/// </summary>
internal sealed class TcpTestNet : IDisposable
{
    public static readonly Ipv4Address AddrA = new(10, 0, 0, 1), AddrB = new(10, 0, 0, 2);
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
    public Host A { get; }
    public Host B { get; }
    private readonly Queue<Packet> _wire = new();
    private Packet? _held; // reordering: one segment waits behind the next
    public Random Rng { get; }
    public double Loss, Duplicate, Reorder, Corrupt;
    /// <summary>Drops segments for which this returns true (after the random faults).</summary>
    public DropFilterFn? DropFilter;
    /// <summary>Sees every delivered segment (source, header).</summary>
    public TapFn? Tap;
    public long Delivered, Lost, Duplicated, Reordered, Corrupted;

    /// <summary>A segment on the wire: its source, its header (no payload in the view) and its payload length.</summary>
    public delegate bool DropFilterFn(Ipv4Address src, TcpPacket header, int payloadLength);
    public delegate void TapFn(Ipv4Address src, TcpPacket header, int payloadLength);

    public TcpTestNet(NetdevFeatures features = NetdevFeatures.Tso | NetdevFeatures.Sg | NetdevFeatures.IpCsum, int mtu = 1500,
        TcpSettings? settings = null, int pages = 8192, int seed = 1, TimeProvider? clock = null)
    {
        Rng = new Random(seed);
        Clock = clock ?? Time;
        A = new Host(this, "A", AddrA, features, mtu, settings, pages);
        B = new Host(this, "B", AddrB, features, mtu, settings, pages);
    }

    /// <summary>The time the contexts run on (<see cref="Time"/> unless a test passes its own).</summary>
    public TimeProvider Clock { get; }

    public Host Peer(Host h) => ReferenceEquals(h, A) ? B : A;

    private readonly record struct Packet(SkBuff Skb, Ipv4Address Src, Ipv4Address Dst);

    internal void Enqueue(SkBuff skb, Ipv4Address src, Ipv4Address dst) => _wire.Enqueue(new Packet(skb, src, dst));

    /// <summary>Delivers queued segments and runs both contexts until nothing moves; returns segments delivered.</summary>
    public int Pump(int max = 1_000_000)
    {
        int n = 0;
        for (int round = 0; round < max; round++)
        {
            A.Context.RunUntilIdle();
            B.Context.RunUntilIdle();
            if (_wire.Count == 0)
            {
                if (_held is Packet h) { _held = null; Deliver(h); n++; continue; }
                break;
            }
            var p = _wire.Dequeue();
            if (Reorder > 0 && _held is null && _wire.Count > 0 && Rng.NextDouble() < Reorder) { _held = p; Reordered++; continue; }
            Deliver(p);
            n++;
            if (round == max - 1) throw new InvalidOperationException($"the net did not settle after {max} segments (an ACK storm?)");
            if (_held is Packet held) { _held = null; Deliver(held); n++; }
        }
        return n;
    }

    /// <summary>Advances time by <paramref name="us"/> in steps no larger than <paramref name="stepUs"/>, pumping after each.</summary>
    public void Advance(long us, long stepUs = 1_000_000)
    {
        while (us > 0)
        {
            long s = Math.Min(us, stepUs);
            Time.Advance(TimeSpan.FromTicks(s * 10));
            us -= s;
            Pump();
        }
    }

    /// <summary>Advances time to the earliest timer of either host (at most <paramref name="limitUs"/>), then pumps. False when no timer is armed.</summary>
    public bool AdvanceToNextTimer(long limitUs = long.MaxValue)
    {
        long next = Math.Min(A.Context.Timers.NextDueUs, B.Context.Timers.NextDueUs);
        if (next == long.MaxValue) return false;
        long now = A.Context.NowUs;
        long d = Math.Min(Math.Max(1, next - now + 1), limitUs);
        Time.Advance(TimeSpan.FromTicks(d * 10));
        Pump();
        return true;
    }

    private void Deliver(Packet p)
    {
        var dst = p.Dst == AddrA ? A : B;
        var skb = p.Skb;
        if (Loss > 0 && Rng.NextDouble() < Loss) { Lost++; skb.Free(); return; }
        if (TcpPacket.TryCreate(skb.Data[..Math.Min(skb.HeadLen, 60)], out var pkt) == ParseResult.Ok)
        {
            int payload = skb.Len - pkt.HeaderLength;
            Tap?.Invoke(p.Src, pkt, payload);
            if (DropFilter is not null && DropFilter(p.Src, pkt, payload)) { Lost++; skb.Free(); return; }
        }
        if (Duplicate > 0 && Rng.NextDouble() < Duplicate)
        {
            Duplicated++;
            DeliverOne(dst, Copy(skb), p);
        }
        if (Corrupt > 0 && Rng.NextDouble() < Corrupt)
        {
            Corrupted++;
            var hb = skb.Data;
            hb[Rng.Next(4, Math.Min(hb.Length, 16))] ^= 0x5a; // a header byte: the checksum must catch it
            if (skb.IpSummed != SkbChecksumState.None) skb.IpSummed = SkbChecksumState.None;
        }
        DeliverOne(dst, skb, p);
    }

    private void DeliverOne(Host dst, SkBuff skb, Packet p)
    {
        Delivered++;
        // Locally built: a CHECKSUM_PARTIAL skb is complete in memory when the "device" fills it, so fill it here.
        if (skb.IpSummed == SkbChecksumState.Partial)
        {
            int tcpLen = skb.Len;
            var h = skb.Data;
            h[16] = h[17] = 0;
            uint sum = skb.Checksum(0, tcpLen);
            BinaryPrimitives.WriteUInt16BigEndian(h[16..], PseudoHeader.Checksum(p.Src, p.Dst, IpProtocol.Tcp, tcpLen, sum));
            skb.IpSummed = dst.VerifyInSoftware ? SkbChecksumState.None : SkbChecksumState.Unnecessary;
        }
        skb.Shinfo.GsoSize = 0; skb.Shinfo.GsoSegs = 0; skb.Shinfo.GsoType = SkbGsoType.None; // GRO'd, as loopback delivers it
        dst.Layer.Receive(new Ipv4Meta(p.Src, p.Dst, 64, 0, 1, 0), skb);
    }

    /// <summary>A second skb with the same header bytes and references to the same payload pages (a duplicate on the wire).</summary>
    private static SkBuff Copy(SkBuff skb)
    {
        var c = skb.Cache.Alloc(skb.HeadLen + 64)!;
        c.Reserve(64);
        skb.Data[..skb.HeadLen].CopyTo(c.Put(skb.HeadLen));
        c.ResetTransportHeader();
        foreach (ref var f in skb.Frags)
        {
            f.Netmem.Get();
            c.AddRxFragNetmem(f.Netmem, f.Offset, f.Size, f.Size);
        }
        c.IpSummed = skb.IpSummed;
        return c;
    }

    /// <summary>Makes both sides drop their connections and checks that every page and skb came back.</summary>
    public void Dispose()
    {
        while (_wire.Count > 0) _wire.Dequeue().Skb.Free();
        if (_held is Packet h) h.Skb.Free();
        A.Shutdown();
        B.Shutdown();
        while (_wire.Count > 0) _wire.Dequeue().Skb.Free(); // the resets of the shutdown
        A.CheckAndDispose();
        B.CheckAndDispose();
    }

    internal sealed class Host : IIpOutput
    {
        private readonly TcpTestNet _net;
        private readonly List<TcpConnection> _conns = new();
        public PageArena Arena { get; }
        public SkbCache Cache { get; }
        public StackContext Context { get; }
        public TcpLayer Layer { get; }
        public Ipv4Address Address { get; }
        public NetdevFeatures Features { get; set; }
        public int Mtu { get; set; }
        public bool VerifyInSoftware { get; set; }
        public long Sent;

        public Host(TcpTestNet net, string name, Ipv4Address address, NetdevFeatures features, int mtu, TcpSettings? settings, int pages)
        {
            _net = net;
            Address = address;
            Features = features;
            Mtu = mtu;
            Arena = new PageArena(new PageArenaOptions { PageCount = pages });
            Cache = new SkbCache(new SkbCacheOptions { Arena = Arena, Capacity = 1024 });
            Context = new StackContext(name, net.Clock, Cache);
            Layer = new TcpLayer(this, Context, settings, isnSeed: name.GetHashCode());
        }

        public int MaxHeaderRoom => 64;

        public Errno Route(Ipv4Address destination, Ipv4Address source, out IpRoute route)
        {
            route = new IpRoute(Address, destination, 1, Mtu, Features, (Features & NetdevFeatures.Tso) != 0 ? 65536 : 0);
            if (!source.IsUnspecified && source != Address) return Errno.EADDRNOTAVAIL;
            return destination == AddrA || destination == AddrB ? Errno.None : Errno.ENETUNREACH;
        }

        public Errno Output(SkBuff skb, in IpRoute route, Ipv4Address source, Ipv4Address destination, IpProtocol protocol, byte tos = 0, byte ttl = 64, bool dontFragment = true)
        {
            Sent++;
            _net.Enqueue(skb, source, destination);
            return Errno.None;
        }

        public TcpConnection Connect(Host peer, ushort port, TcpSettings? settings = null)
        {
            var err = Layer.Connect(peer.Address, port, Ipv4Address.Unspecified, 0, settings ?? Layer.Defaults, out var c);
            Assert.Equal(Errno.None, err);
            _conns.Add(c!);
            return c!;
        }

        public TcpListenEndpoint Listen(ushort port, int backlog = 128, TcpSettings? settings = null)
        {
            Assert.Equal(Errno.None, Layer.Listen(new TcpEndpoint(Ipv4Address.Unspecified, port), backlog, settings ?? Layer.Defaults, out var l));
            _listeners.Add(l!);
            return l!;
        }

        private readonly List<TcpListenEndpoint> _listeners = new();

        public TcpConnection Accept(TcpListenEndpoint l)
        {
            Assert.True(l.TryAccept(out var c), $"nothing to accept on {l}");
            _conns.Add(c);
            return c;
        }

        public void Track(TcpConnection c) => _conns.Add(c);

        internal void Shutdown()
        {
            foreach (var l in _listeners) l.Close();
            Context.RunUntilIdle();
            foreach (var c in _conns) if (!c.IsReleased) c.Abort();
            Layer.AbortAll();
            Context.RunUntilIdle();
        }

        internal void CheckAndDispose()
        {
            Assert.Equal(0, Layer.ConnectionCount);
            Context.Dispose();
            Cache.Dispose();
            Assert.True(Cache.HeadPool.IsFreed, $"{name()} head pool not freed: an skb is still out");
            Assert.Equal(0, Cache.HeadPool.Inflight);
            Assert.Equal(Arena.TotalPages, Arena.FreePages);
            Arena.Dispose();
            string name() => Context.Name;
        }
    }
}

/// <summary>
/// A clock that stands still and whose timers never call back (tests poll): unlike FakeTimeProvider,
/// re-arming its timer allocates nothing, so an allocation test sees only the stack's own allocations.
/// </summary>
internal sealed class StillClock : TimeProvider
{
    public override long GetTimestamp() => 0;
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new NoTimer();

    private sealed class NoTimer : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => true;
        public void Dispose() { }
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
