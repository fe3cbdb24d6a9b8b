using Netmem.Memory;

namespace Netmem.Pool;

/// <summary>
/// The page allocator behind a pool whose RX queue has no memory provider: host pages from a
/// <see cref="PageArena"/>. The pool DMA-maps these pages itself when <see cref="PagePoolFlags.DmaMap"/>
/// is set. Never installed on a queue (<see cref="PagePool.MemoryProvider"/> is null for such a pool).
/// </summary>
public sealed class PageArenaProvider : IMemoryProvider
{
    public PageArenaProvider(PageArena arena) => Arena = arena ?? throw new ArgumentNullException(nameof(arena));

    public PageArena Arena { get; }

    public Errno Init(PagePool pool) => Errno.None;

    public int AllocNetmems(PagePool pool, Span<NetmemRef> netmems)
    {
        ArgumentNullException.ThrowIfNull(pool);
        if (pool.Params.Order == 0) return Arena.AllocPagesBulk(netmems);
        var page = Arena.AllocPages(pool.Params.Order);
        if (page.IsNull) return 0;
        netmems[0] = page;
        return 1;
    }

    public bool ReleaseNetmem(PagePool pool, NetmemRef netmem) => true;

    public void Destroy(PagePool pool) { }

    public MemoryProviderInfo NlFill(Netmem.Devices.NetdevRxQueue? rxq) => default;

    public void Uninstall(Netmem.Devices.NetdevRxQueue rxq) { }
}
