using Netmem.Devices;
using Netmem.Drivers.Tap;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;

namespace Netmem.Tests.Tap;

/// <summary>
/// A TapDevice over one end of an AF_UNIX SOCK_SEQPACKET socketpair: the test plays the kernel at the
/// other end, writing vnet-header framed frames (any bytes it likes, malformed ones included) and
/// reading what the device writes. Message boundaries and readv/writev behave as on a tap, so the RX
/// and TX paths run unchanged, without root. Dispose checks pools, mappings and arena pages.
/// </summary>
internal sealed unsafe class SeqpacketTapEnv : IDisposable
{
    private readonly HashSet<PagePool> _pools = [];
    private readonly int _peer;

    public SeqpacketTapEnv(TapOptions? options = null, INetdevRxHandler? handler = null, int pages = 2048)
    {
        Arena = new PageArena(new PageArenaOptions { PageCount = pages });
        int* sv = stackalloc int[2];
        int r = TapNative.SocketPair(TapNative.AF_UNIX, TapNative.SOCK_SEQPACKET | TapNative.SOCK_NONBLOCK | TapNative.SOCK_CLOEXEC, 0, sv);
        Assert.True(r == 0, $"socketpair failed: {TapNative.ErrnoText(TapNative.LastErrno)}");
        _peer = sv[1];
        Dev = TapDevice.CreateOverFds("sptap0", [sv[0]], (options ?? new TapOptions()) with { Arena = Arena });
        Rx = new CollectingRx();
        Dev.RxHandler = handler ?? Rx;
        Dev.Open();
        TxCache = new SkbCache(new SkbCacheOptions { Arena = Arena });
        TrackPools();
    }

    public PageArena Arena { get; }
    public TapDevice Dev { get; }
    public CollectingRx Rx { get; }
    public SkbCache TxCache { get; }

    public void TrackPools()
    {
        Dev.CollectRxPagePools(_pools);
    }

    /// <summary>
    /// One measured round of the zero-allocation tests: the peer sends <paramref name="frames"/> (its allocations
    /// are not counted), then the device polls them in and transmits <paramref name="tx"/> <paramref name="txCount"/>
    /// times. Returns the bytes this thread allocated while polling and transmitting.
    /// </summary>
    public long MeasuredRxTxRound(byte[][] frames, byte[] tx, int txCount = 32)
    {
        foreach (var f in frames) PeerSend(default, f);
        long a = GC.GetAllocatedBytesForCurrentThread();
        Dev.PollAll();
        for (int i = 0; i < txCount; i++)
        {
            var skb = TxCache.Alloc(tx.Length + 64)!;
            skb.Reserve(64);
            skb.PutData(tx);
            Dev.Transmit(skb);
        }
        return GC.GetAllocatedBytesForCurrentThread() - a;
    }

    /// <summary>The kernel's side: one message of vnet header + frame.</summary>
    public void PeerSend(in VirtioNetHdr hdr, ReadOnlySpan<byte> frame)
    {
        var msg = new byte[VirtioNetHdr.Size + frame.Length];
        fixed (byte* p = msg) *(VirtioNetHdr*)p = hdr;
        frame.CopyTo(msg.AsSpan(VirtioNetHdr.Size));
        PeerSendRaw(msg);
    }

    public void PeerSendRaw(ReadOnlySpan<byte> msg)
    {
        fixed (byte* p = msg)
        {
            nint w = TapNative.Write(_peer, p, (nuint)msg.Length);
            Assert.True(w == msg.Length, $"peer write of {msg.Length} bytes returned {w}: {TapNative.ErrnoText(TapNative.LastErrno)}");
        }
    }

    /// <summary>The next message the device wrote, or null when there is none.</summary>
    public byte[]? PeerReceive()
    {
        var buf = new byte[70000];
        fixed (byte* p = buf)
        {
            nint n = TapNative.Read(_peer, p, (nuint)buf.Length);
            if (n < 0) return null;
            return buf.AsSpan(0, (int)n).ToArray();
        }
    }

    public void Dispose()
    {
        Rx.FreeAll();
        TrackPools();
        Dev.Dispose();
        TapNative.Close(_peer);
        TxCache.Dispose();
        foreach (var p in _pools)
        {
            Assert.True(p.IsFreed, $"{p} was not freed: {p.GetStats()}");
            Assert.Equal(0, p.Inflight);
        }
        Assert.Equal(0, Dev.Dma.LiveMappings);
        Assert.Equal(Arena.TotalPages, Arena.FreePages);
        Arena.Dispose();
    }
}

/// <summary>Keeps every received skb (the test frees them).</summary>
internal sealed class CollectingRx : INetdevRxHandler
{
    public readonly List<SkBuff> Received = [];
    public void Receive(NetDevice dev, NetdevRxQueue queue, SkBuff skb)
    {
        lock (Received) Received.Add(skb);
    }

    /// <summary>The whole frame (Ethernet header pushed back) of a readable skb.</summary>
    public static byte[] FrameBytes(SkBuff skb) => Devices.CollectingHandler.FrameBytes(skb);

    public void FreeAll()
    {
        lock (Received)
        {
            foreach (var s in Received) s.Free();
            Received.Clear();
        }
    }
}
