using Netmem.Dmabuf;
using Netmem.Memory;

namespace Netmem.Tests.Dmabuf;

public class NetIovChunkAllocatorTests
{
    [Fact]
    public void Chunks_go_out_lowest_first_and_come_back()
    {
        var a = new NetIovChunkAllocator(100);
        Assert.Equal(100, a.Capacity);
        Assert.Equal(100, a.Available);
        Span<int> got = stackalloc int[64];
        Assert.Equal(64, a.Alloc(got));
        for (int i = 0; i < 64; i++) Assert.Equal(i, got[i]);
        Assert.Equal(36, a.Alloc(got));   // only 36 left
        Assert.Equal(0, a.Alloc(got));
        Assert.False(a.TryAlloc(out int none));
        Assert.Equal(-1, none);
        Assert.Equal(0, a.Available);
        Assert.Equal(100, a.InUse);
        Assert.True(a.IsInUse(99));
        a.Free(42);
        Assert.False(a.IsInUse(42));
        Assert.True(a.TryAlloc(out int again));
        Assert.Equal(42, again);          // the freed chunk is the next to go out
        for (int i = 0; i < 100; i++) a.Free(i);
        Assert.Equal(100, a.Available);
        var (allocs, frees, failures) = a.Counters;
        Assert.Equal(101, allocs);
        Assert.Equal(101, frees);
        Assert.Equal(2, failures);
    }

    [Fact]
    public void Double_free_and_foreign_chunks_are_refused()
    {
        var a = new NetIovChunkAllocator(8);
        Assert.True(a.TryAlloc(out int c));
        a.Free(c);
        Assert.Contains("double free", Assert.Throws<NetmemException>(() => a.Free(c)).Message);
        Assert.Throws<NetmemException>(() => a.Free(5));   // never handed out
        Assert.Throws<NetmemException>(() => a.Free(8));   // outside
        Assert.Throws<NetmemException>(() => a.Free(-1));
        Assert.Equal(8, a.Available);
        Assert.Throws<ArgumentOutOfRangeException>(() => new NetIovChunkAllocator(0));
    }

    [Fact]
    public void Alloc_and_free_allocate_no_managed_memory()
    {
        var a = new NetIovChunkAllocator(16384);
        Span<int> bulk = stackalloc int[64];
        for (int warm = 0; warm < 2; warm++)
        {
            int n = a.Alloc(bulk);
            for (int i = 0; i < n; i++) a.Free(bulk[i]);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int round = 0; round < 1000; round++)
        {
            int n = a.Alloc(bulk);
            for (int i = 0; i < n; i++) a.Free(bulk[i]);
            Assert.True(a.TryAlloc(out int one));
            a.Free(one);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(16384, a.Available);
    }

    [Fact]
    public void Concurrent_alloc_and_free_lose_no_chunk()
    {
        var a = new NetIovChunkAllocator(4096);
        Parallel.For(0, 4, _ =>
        {
            Span<int> mine = stackalloc int[32];
            for (int r = 0; r < 2000; r++)
            {
                int n = a.Alloc(mine);
                for (int i = 0; i < n; i++) a.Free(mine[i]);
            }
        });
        Assert.Equal(4096, a.Available);
    }
}
