using BenchmarkDotNet.Attributes;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;
using Netmem.Sockets;

namespace Netmem.Bench;

/// <summary>
/// One devmem read call's token work at MTU 1500 (566 frags of an 800 KiB read) and its DONTNEED, with the
/// page_pool cycle around it as in perf devmem: a net_iov-like netmem is allocated (the refill), the token
/// takes a pp reference, the skb's reference goes at read time, and DONTNEED puts the last one from outside
/// the NAPI context (the ptr_ring). Baseline: the table before this change, in the same run.
/// </summary>
[MemoryDiagnoser]
public class DevmemTokenTableBench
{
    private const int Frags = 566;
    private PageArena _arena = null!;
    private PagePool _pool = null!;
    private readonly NetmemRef[] _netmems = new NetmemRef[Frags];
    private readonly DmabufToken[] _range = [new DmabufToken(1, Frags)];
    private DevmemTokenTableBefore _before = null!;
    private DevmemTokenTable _after = null!;

    [GlobalSetup]
    public void Setup()
    {
        _arena = new PageArena(new PageArenaOptions { PageCount = 8192 });
        _pool = PagePool.Create(new PagePoolParams { Arena = _arena, PoolSize = 2048 });
        _before = new DevmemTokenTableBefore();
        _after = new DevmemTokenTable();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _before.Close();
        _after.Close();
        _pool.Dispose();
        _arena.Dispose();
    }

    private void Refill()
    {
        for (int i = 0; i < Frags; i++) _netmems[i] = _pool.AllocNetmem();
    }

    private void SkbFree()
    {
        for (int i = 0; i < Frags; i++) new SkbFrag(_netmems[i], 0, 0).Unref(true);
    }

    /// <summary>The same page_pool cycle with no table (a pp reference taken and put per frag): what any table costs on top.</summary>
    [Benchmark]
    public int PoolCycleOnly()
    {
        Refill();
        for (int i = 0; i < Frags; i++) PagePool.RefNetmem(_netmems[i]);
        SkbFree();
        SkbFree();
        return Frags;
    }

    [Benchmark(Baseline = true)]
    public int LockPerFragHeap()
    {
        Refill();
        for (int i = 0; i < Frags; i++) _before.Add(_netmems[i], true);
        SkbFree();
        return _before.Release(_range);
    }

    [Benchmark]
    public int LockPerCallBitmap()
    {
        Refill();
        _after.EnterAdds();
        for (int i = 0; i < Frags; i++) _after.AddLocked(_netmems[i], true);
        _after.ExitAdds();
        SkbFree();
        return _after.Release(_range);
    }

    [Benchmark]
    public int LockPerFragBitmap()
    {
        Refill();
        for (int i = 0; i < Frags; i++) _after.Add(_netmems[i], true);
        SkbFree();
        return _after.Release(_range);
    }
}
