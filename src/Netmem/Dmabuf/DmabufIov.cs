namespace Netmem.Dmabuf;

/// <summary>
/// One element of a devmem TX send: an iovec whose <c>iov_base</c> is not an address but an offset into the
/// dma-buf the send names (SCM_DEVMEM_DMABUF), as Linux devmem TX reads it.
/// </summary>
public readonly record struct DmabufIov(ulong Offset, int Length);
