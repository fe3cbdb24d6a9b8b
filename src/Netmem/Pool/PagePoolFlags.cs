namespace Netmem.Pool;

/// <summary>page_pool creation flags (PP_FLAG_*), with the kernel's bit values.</summary>
[Flags]
public enum PagePoolFlags
{
    None = 0,
    /// <summary>PP_FLAG_DMA_MAP: the pool DMA-maps pages when it allocates them and unmaps on release.</summary>
    DmaMap = 1 << 0,
    /// <summary>PP_FLAG_DMA_SYNC_DEV: the pool syncs min(len, max_len) from offset for the device on recycle. Needs DmaMap and MaxLen.</summary>
    DmaSyncDev = 1 << 1,
    /// <summary>PP_FLAG_SYSTEM_POOL: a per-CPU system pool.</summary>
    SystemPool = 1 << 2,
    /// <summary>PP_FLAG_ALLOW_UNREADABLE_NETMEM: the driver can take net_iovs; required for a memory provider.</summary>
    AllowUnreadableNetmem = 1 << 3,
}
