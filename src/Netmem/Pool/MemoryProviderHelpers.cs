using Netmem.Memory;

namespace Netmem.Pool;

/// <summary>
/// The helpers a memory provider uses on its net_iovs (the kernel's <c>net/page_pool/memory_provider.h</c>):
/// set the DMA address, stamp or clear the owning pool, and hand a netmem straight into a pool's cache.
/// </summary>
public static class MemoryProviderHelpers
{
    /// <summary><c>net_mp_niov_set_dma_addr</c>: the address the device uses for <paramref name="niov"/> (its binding's IOMMU mapping).</summary>
    public static void SetDmaAddr(NetmemRef niov, ulong dmaAddr)
    {
        RequireNetIov(niov);
        niov.SetDmaAddr(dmaAddr);
    }

    /// <summary>
    /// <c>net_mp_niov_set_page_pool</c>: stamps <paramref name="pool"/>'s pp info on <paramref name="niov"/>
    /// and counts it as held, for a net_iov the provider hands over outside <see cref="IMemoryProvider.AllocNetmems"/>.
    /// </summary>
    public static void SetPagePool(PagePool pool, NetmemRef niov)
    {
        ArgumentNullException.ThrowIfNull(pool);
        RequireNetIov(niov);
        pool.SetPpInfo(niov);
    }

    /// <summary><c>net_mp_niov_clear_page_pool</c>: clears pp, pp_magic and pp_ref_count (in <see cref="IMemoryProvider.ReleaseNetmem"/>).</summary>
    public static void ClearPagePool(NetmemRef niov)
    {
        RequireNetIov(niov);
        PagePool.ClearPpInfo(niov);
    }

    /// <summary>
    /// <c>net_mp_netmem_place_in_cache</c>: puts a netmem of <paramref name="pool"/> (pp info set, no user)
    /// into its alloc cache. Only from the pool's NAPI context (zcrx refill). False when the cache is full.
    /// </summary>
    public static bool PlaceInCache(PagePool pool, NetmemRef netmem)
    {
        ArgumentNullException.ThrowIfNull(pool);
        return pool.PlaceInCache(netmem);
    }

    private static void RequireNetIov(NetmemRef niov)
    {
        if (!niov.IsNetIov) throw new NetmemException($"memory provider helper on {niov}: not a net_iov");
    }
}
