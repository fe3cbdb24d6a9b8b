using Netmem.Memory;

namespace Netmem.Pool;

/// <summary>
/// <c>struct memory_provider_ops</c>: replaces the page allocator for one RX queue's pool.
/// The pool calls it only from its slow paths.
/// </summary>
public interface IMemoryProvider
{
    /// <summary>True when the provider sets DMA addresses itself (dma-buf, zcrx); false when the pool maps host pages.</summary>
    bool ManagesDma { get; }

    /// <summary><c>init</c>: called once when the pool is created; a nonzero errno fails the creation.</summary>
    Errno Init(PagePool pool);

    /// <summary><c>alloc_netmems</c>: fills <paramref name="netmems"/> (at least one on success) and returns how many.</summary>
    int AllocNetmems(PagePool pool, Span<NetmemRef> netmems);

    /// <summary>
    /// <c>release_netmem</c>: the pool is done with <paramref name="netmem"/>. Returns true when the pool
    /// should clear its pp fields and drop the page reference itself, false when the provider took it back.
    /// </summary>
    bool ReleaseNetmem(PagePool pool, NetmemRef netmem);

    /// <summary><c>destroy</c>: the pool is freed.</summary>
    void Destroy(PagePool pool);

    /// <summary><c>nl_fill</c>: adds provider attributes to page-pool-get.</summary>
    PagePoolInfo Fill(PagePoolInfo info);

    /// <summary><c>uninstall</c>: the provider is being removed from RX queue <paramref name="queueIndex"/>.</summary>
    void Uninstall(int queueIndex);
}
