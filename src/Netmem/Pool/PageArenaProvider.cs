using Netmem.Memory;

namespace Netmem.Pool;

/// <summary>
/// The default memory provider: host pages from a <see cref="PageArena"/> (the kernel's page
/// allocator). The pool DMA-maps these pages itself when <see cref="PagePoolFlags.DmaMap"/> is set.
/// </summary>
public sealed class PageArenaProvider : IMemoryProvider
{
    public PageArenaProvider(PageArena arena) => Arena = arena ?? throw new ArgumentNullException(nameof(arena));

    public PageArena Arena { get; }

    public bool ManagesDma => false;

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

    public PagePoolInfo Fill(PagePoolInfo info) => info;

    public void Uninstall(int queueIndex) { }
}
