using BenchmarkDotNet.Attributes;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Stack.Tcp;

namespace Netmem.Bench;

/// <summary>
/// The copying send path's queue work for 256 KiB: four 64 KiB writes copied in, each cut into 64 KiB segments
/// whose skbs point frags at the queue (as Transmit does) and are freed (the TX completion), then everything
/// acknowledged. The extent queue (copied pages, user pages and netmem side by side) against the page ring it
/// replaced, in the same run: the copying path should cost what it did.
/// </summary>
[MemoryDiagnoser]
public class TcpSendBufferBench
{
    private const int Write = 64 * 1024, Writes = 4, Segment = 65160;
    private PageArena _arena = null!;
    private SkbCache _cache = null!;
    private TcpSendBufferBefore _before = null!;
    private TcpSendBuffer _after = null!;
    private readonly byte[] _data = new byte[Write];

    [GlobalSetup]
    public void Setup()
    {
        _arena = new PageArena(new PageArenaOptions { PageCount = 4096 });
        _cache = new SkbCache(new SkbCacheOptions { Arena = _arena });
        _before = new TcpSendBufferBefore(_arena, 1 << 20);
        _after = new TcpSendBuffer(_arena, 1 << 20);
        new Random(1).NextBytes(_data);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _before.Dispose();
        _after.Dispose();
        _cache.Dispose();
    }

    [Benchmark(Baseline = true)]
    public long PageRing()
    {
        long start = _before.EndPos;
        for (int i = 0; i < Writes; i++) _before.Append(_data);
        for (long pos = start; pos < _before.EndPos; pos += Segment)
        {
            int len = (int)Math.Min(Segment, _before.EndPos - pos);
            var skb = _cache.Alloc(128)!;
            _before.AddFrags(skb, pos, len);
            skb.Free();
        }
        _before.Ack(_before.EndPos);
        return _before.EndPos;
    }

    [Benchmark]
    public long Extents()
    {
        long start = _after.EndPos;
        for (int i = 0; i < Writes; i++) _after.Append(_data);
        for (long pos = start; pos < _after.EndPos;)
        {
            int len = _after.FitFrags(pos, (int)Math.Min(Segment, _after.EndPos - pos), SkbSharedInfo.MaxSkbFrags, out _);
            var skb = _cache.Alloc(128)!;
            _after.AddFrags(skb, pos, len);
            skb.Free();
            pos += len;
        }
        _after.Ack(_after.EndPos);
        return _after.EndPos;
    }
}
