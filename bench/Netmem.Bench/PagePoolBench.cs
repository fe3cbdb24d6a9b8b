using System.Buffers;
using BenchmarkDotNet.Attributes;
using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Bench;

/// <summary>
/// The page_pool paths of bench_page_pool_simple, with .NET's own pools as the baseline in the
/// same run. Every benchmark is one alloc plus one free of a 4 KiB buffer.
/// </summary>
[MemoryDiagnoser]
public class PagePoolBench
{
    private PageArena _arena = null!;
    private DmaDevice _dev = null!;
    private PagePool _fast = null!, _ring = null!, _slow = null!, _frag = null!, _dma = null!;
    private readonly NetmemRef[] _batch = new NetmemRef[64];

    [GlobalSetup]
    public void Setup()
    {
        _arena = new PageArena(new PageArenaOptions { PageCount = 16384 });
        _dev = new DmaDevice("bench");
        _fast = PagePool.Create(new PagePoolParams { Arena = _arena });
        _ring = PagePool.Create(new PagePoolParams { Arena = _arena });
        _slow = PagePool.Create(new PagePoolParams { Arena = _arena });
        _frag = PagePool.Create(new PagePoolParams { Arena = _arena });
        _dma = PagePool.Create(new PagePoolParams
        {
            Arena = _arena, Device = _dev, Flags = PagePoolFlags.DmaMap | PagePoolFlags.DmaSyncDev, MaxLen = 1500,
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var p in new[] { _fast, _ring, _slow, _frag, _dma }) p.Dispose();
        _dev.Dispose();
        _arena.Dispose();
    }

    [Benchmark(Baseline = true, Description = "ArrayPool<byte>.Shared Rent(4096)+Return")]
    public void ArrayPoolShared()
    {
        var a = ArrayPool<byte>.Shared.Rent(4096);
        ArrayPool<byte>.Shared.Return(a);
    }

    [Benchmark(Description = "MemoryPool<byte>.Shared Rent(4096)+Dispose")]
    public void MemoryPoolShared() => MemoryPool<byte>.Shared.Rent(4096).Dispose();

    /// <summary>Alloc from the cache, recycle straight back into it (allow_direct).</summary>
    [Benchmark(Description = "page_pool fast path (alloc + direct recycle)")]
    public void FastPath() => _fast.PutNetmem(_fast.AllocNetmem(), -1, allowDirect: true);

    /// <summary>Recycle through the ptr_ring; the cache refills from it 64 at a time.</summary>
    [Benchmark(Description = "page_pool ptr_ring path (alloc + ring recycle)")]
    public void RingPath() => _ring.PutNetmem(_ring.AllocNetmem(), -1, allowDirect: false);

    /// <summary>
    /// Every page comes from the page allocator (bulk of 64) and goes back to it: alloc slow path,
    /// release (released_refcnt path) and the arena's free.
    /// </summary>
    [Benchmark(OperationsPerInvoke = 64, Description = "page_pool slow path (allocator -> pool -> allocator)")]
    public void SlowPath()
    {
        var pool = _slow;
        var batch = _batch;
        for (int i = 0; i < batch.Length; i++) batch[i] = pool.AllocNetmem();
        for (int i = 0; i < batch.Length; i++)
        {
            var n = batch[i];
            n.Get();                       // a foreign page reference: the pool must release, not recycle
            pool.PutNetmem(n, -1, true);
            n.Put();                       // the page goes back to the arena
        }
    }

    /// <summary>A 1 KiB fragment (four to a page) and its direct recycle.</summary>
    [Benchmark(Description = "page_pool frag alloc 1 KiB + put")]
    public void FragAlloc() => _frag.PutNetmem(_frag.AllocFragNetmem(1024, out _), -1, allowDirect: true);

    /// <summary>Fast path with DMA_MAP | DMA_SYNC_DEV: each recycle syncs 1500 bytes for the device.</summary>
    [Benchmark(Description = "page_pool fast path + DMA sync for device")]
    public void FastPathDmaSync() => _dma.PutNetmem(_dma.AllocNetmem(), 1500, allowDirect: true);
}
