using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Tests.Pool;

/// <summary>A per-test arena and DMA device; checks on dispose that every pool was freed and no page leaked.</summary>
public abstract class PoolTestBase : IDisposable
{
    protected readonly PageArena Arena;
    protected readonly DmaDevice Device = new("nic-test");
    private readonly List<PagePool> _pools = new();

    protected PoolTestBase(int pages = 4096, int nid = 0) =>
        Arena = new PageArena(new PageArenaOptions { PageCount = pages, Nid = nid });

    protected PagePool NewPool(PagePoolParams? p = null)
    {
        p ??= new PagePoolParams();
        var pool = PagePool.Create(p.Arena is null ? p with { Arena = Arena } : p);
        _pools.Add(pool);
        return pool;
    }

    public virtual void Dispose()
    {
        foreach (var pool in _pools)
        {
            pool.Dispose();
            Assert.True(pool.IsFreed, $"{pool} still has {pool.Inflight} inflight at the end of the test");
            Assert.Equal(0, pool.Inflight);
        }
        Assert.Equal(0, Device.LiveMappings);
        Device.Dispose();
        Arena.Dispose(); // throws if any page leaked
        GC.SuppressFinalize(this);
    }
}

internal sealed class TestNapi(uint id) : INapiOwner
{
    public uint NapiId { get; } = id;
    public int PollThreadId => 0;
}
