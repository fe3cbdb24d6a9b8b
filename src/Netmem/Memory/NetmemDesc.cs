using System.Runtime.InteropServices;

namespace Netmem.Memory;

/// <summary>
/// The page_pool's view of a network memory descriptor (kernel <c>struct netmem_desc</c>).
/// Its fields sit at the same offsets as the page_pool fields of <see cref="PageDesc"/>
/// (<c>struct page</c>) and the start of <see cref="NetIovDesc"/> (<c>struct net_iov</c>),
/// so the pool reads both kinds through one pointer without a type switch.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 48)]
public struct NetmemDesc
{
    /// <summary><c>_flags</c>: page flags, order, node and arena id for pages; unused by net_iovs.</summary>
    [FieldOffset(0)] public nuint Flags;
    /// <summary><c>pp_magic</c>: PP_SIGNATURE while a page_pool owns it. Bit 0 marks a tail page
    /// (the word then holds the compound head), bit 1 marks pfmemalloc, as in the kernel.</summary>
    [FieldOffset(8)] public nuint PpMagic;
    /// <summary><c>pp</c>: the owning pool's native handle, 0 when no pool owns it.</summary>
    [FieldOffset(16)] public nint Pp;
    /// <summary><c>_pp_mapping_pad</c>: overlays page->mapping; must stay 0 for pool pages.</summary>
    [FieldOffset(24)] public nuint PpMappingPad;
    /// <summary><c>dma_addr</c>: IOVA the pool mapped this netmem at.</summary>
    [FieldOffset(32)] public nuint DmaAddr;
    /// <summary><c>pp_ref_count</c>: page_pool reference count (fragment users), atomic.</summary>
    [FieldOffset(40)] public long PpRefCount;
}

/// <summary>
/// Host page descriptor, the model of <c>struct page</c> (64 bytes, one per 4 KiB page, kept in an
/// arena's descriptor table the way the kernel keeps the vmemmap).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public struct PageDesc
{
    [FieldOffset(0)] public NetmemDesc Desc;
    /// <summary><c>_mapcount</c> slot (offset 48); the arena keeps a free block's order here.</summary>
    [FieldOffset(48)] public int MapCount;
    /// <summary><c>_refcount</c> (offset 52): page reference count; 0 means free.</summary>
    [FieldOffset(52)] public int RefCount;
    /// <summary><c>virtual</c> (WANT_PAGE_VIRTUAL): host address of the page's bytes.</summary>
    [FieldOffset(56)] public nint Virtual;
}

/// <summary>The model of <c>struct net_iov</c>: a PAGE_SIZE chunk of memory that is not a host page.</summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public unsafe struct NetIovDesc
{
    [FieldOffset(0)] public NetmemDesc Desc;
    /// <summary><c>owner</c>: the area this net_iov belongs to.</summary>
    [FieldOffset(48)] public NetIovAreaDesc* Owner;
    /// <summary><c>type</c>: who provides the memory.</summary>
    [FieldOffset(56)] public NetIovType Type;
}

/// <summary>The model of <c>struct net_iov_area</c>, followed by the arena registry id.</summary>
[StructLayout(LayoutKind.Explicit, Size = 32)]
public unsafe struct NetIovAreaDesc
{
    /// <summary><c>niovs</c>: the area's net_iov array.</summary>
    [FieldOffset(0)] public NetIovDesc* Niovs;
    /// <summary><c>num_niovs</c>.</summary>
    [FieldOffset(8)] public nuint NumNiovs;
    /// <summary><c>base_virtual</c>: offset of the area's first byte within its dma-buf.</summary>
    [FieldOffset(16)] public nuint BaseVirtual;
    /// <summary>Index into the managed <see cref="NetIovArea"/> registry (not in the kernel struct).</summary>
    [FieldOffset(24)] public int Id;
}

/// <summary><c>enum net_iov_type</c>.</summary>
public enum NetIovType : long
{
    /// <summary>Device memory imported from a dma-buf (devmem TCP).</summary>
    Dmabuf = 0,
    /// <summary>User memory registered by io_uring zero-copy receive.</summary>
    IoUring = 1,
}
