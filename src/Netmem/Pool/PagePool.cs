using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Netmem.Memory;

namespace Netmem.Pool;

/// <summary>
/// <c>struct page_pool</c>: hands netmem to one RX queue and takes it back.
/// <para>
/// Allocation (<see cref="AllocNetmem()"/>) runs only in the owning NAPI context: it pops a plain
/// 128-entry array cache with no atomics, refills it 64 at a time from the MPSC ptr_ring, and only
/// then asks the memory provider (the page allocator by default) in bulk. Recycling
/// (<see cref="PutNetmem"/>) drops a pp reference; the last one returns the netmem to the cache when
/// the caller is in the NAPI context, otherwise to the ring, and releases it when both are full.
/// Each branch bumps a named counter (<see cref="GetStats"/>). The fast paths are a few lines;
/// everything rare lives in PagePool.Slow.cs.
/// </para>
/// <para>
/// One difference from the kernel, on purpose: a netmem the pool owns (in its cache or ring) has
/// pp_ref_count 0, and a handed-out one has at least 1, so a double put is caught on the fast path
/// instead of silently corrupting the cache.
/// </para>
/// </summary>
public sealed unsafe partial class PagePool : IDisposable
{
    /// <summary>PP_ALLOC_CACHE_SIZE.</summary>
    public const int AllocCacheSize = 128;
    /// <summary>PP_ALLOC_CACHE_REFILL.</summary>
    public const int AllocCacheRefill = 64;
    /// <summary>BIAS_MAX: the pp_ref_count a page starts with when it is split into fragments.</summary>
    public const long BiasMax = long.MaxValue / 2;
    /// <summary>Fragment sizes are rounded up to a cache line, so fragments never share one.</summary>
    public const int FragAlignment = 64;

    // put flags: any bit set sends a put down the slow path
    private const int PutDestroyed = 1, PutSyncDev = 2;

    // ---- hot fields: touched by every alloc/put ----
    private readonly nuint* _cache;
    private int _cacheCount;
    private int _putFlags;
    private readonly nint _pp;        // the value stored in desc->pp: address of this pool's native handle
    private readonly uint _napiId;
    private int _nid;
    private long _allocFast, _recycleCached;

    private static readonly NetmemRef s_null = default;

    /// <summary><c>page_pool_alloc_netmems</c>: one netmem (a whole page of the pool's order), or a null ref when out of memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public NetmemRef AllocNetmem()
    {
        int n = _cacheCount - 1;
        if (n >= 0)
        {
            _cacheCount = n;
            nuint v = _cache[n];
            _allocFast++;
            ((NetmemDesc*)(v & ~NetmemRef.NetIovBit))->PpRefCount = 1;
            return NetmemRef.FromRaw(v);
        }
        return AllocNetmemSlow();
    }

    /// <summary>
    /// <c>page_pool_put_netmem</c>: drops one pp reference; the last one recycles the netmem.
    /// <paramref name="dmaSyncSize"/> bytes (from the pool's offset, at most max_len; -1 = max_len) are
    /// synced for the device with DmaSyncDev. <paramref name="allowDirect"/> promises the caller runs in
    /// the pool's NAPI context, as in the kernel; without it the pool checks that itself.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PutNetmem(NetmemRef netmem, int dmaSyncSize, bool allowDirect)
    {
        NetmemDesc* d = netmem.Desc;
        if (d == null || d->Pp != _pp || ((ulong)d->PpMagic & ~PpMagic.LowBitsMask) != PpMagic.Signature)
            ThrowNotOurs(netmem);
        long rc = d->PpRefCount;
        if (rc == 1) d->PpRefCount = 0;           // last user: no atomic needed
        else if (UnrefSlow(netmem, rc) != 0) return; // other users remain (or a double put throws)

        if (allowDirect && _putFlags == 0 && _cacheCount < AllocCacheSize
            && (_napiId == 0 || NapiScope.Current == _napiId) && IsReusable(netmem, d))
        {
            _cache[_cacheCount++] = netmem.Value;
            _recycleCached++;
            return;
        }
        PutUnrefedSlow(netmem, dmaSyncSize, allowDirect);
    }

    /// <summary><c>page_pool_put_full_netmem</c>: put, syncing up to max_len.</summary>
    public void PutFullNetmem(NetmemRef netmem, bool allowDirect) => PutNetmem(netmem, -1, allowDirect);

    /// <summary><c>page_pool_recycle_direct_netmem</c>: put from the NAPI context, full sync.</summary>
    public void RecycleDirect(NetmemRef netmem) => PutNetmem(netmem, -1, allowDirect: true);

    /// <summary>
    /// <c>__page_pool_page_can_be_recycled</c>: net_iovs always; pages only with no other page
    /// reference, on the pool's node and not from the pfmemalloc reserves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsReusable(NetmemRef netmem, NetmemDesc* d) =>
        netmem.IsNetIov
        || (((PageDesc*)d)->RefCount == 1
            && (int)((d->Flags >> PageFlags.NidShift) & PageFlags.NidMask) == _nid
            && (d->PpMagic & (nuint)PpMagic.PfmemallocBit) == 0);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowNotOurs(NetmemRef netmem)
    {
        if (netmem.IsNull) throw new NetmemException($"page_pool {Id}: put of a null netmem_ref");
        NetmemDesc* d = netmem.Desc;
        if (((ulong)d->PpMagic & ~PpMagic.LowBitsMask) != PpMagic.Signature)
            throw new NetmemException($"page_pool {Id}: put of {netmem} whose pp_magic 0x{(ulong)d->PpMagic:x} is not PP_SIGNATURE (not page_pool memory, or already released)");
        var owner = FromPp(d->Pp);
        throw new NetmemException($"page_pool {Id}: put of {netmem}, which belongs to page_pool {owner?.Id.ToString() ?? "(none)"} (foreign netmem)");
    }

    /// <summary>Native part of the pool: what desc->pp points at.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct PpHandle
    {
        public int Slot;
        public int Id;
    }
}
