using System.Runtime.InteropServices;

namespace Netmem.Sockets;

/// <summary>
/// <c>struct dmabuf_cmsg</c> (uapi/linux/uio.h), 24 bytes: the payload of a devmem receive's control
/// record. For <see cref="Devmem.SoDevmemDmabuf"/>: <see cref="FragSize"/> bytes at
/// <see cref="FragOffset"/> in dma-buf <see cref="DmabufId"/>, kept for the application until it
/// releases <see cref="FragToken"/>. For <see cref="Devmem.SoDevmemLinear"/>: only
/// <see cref="FragSize"/>, the bytes copied to the linear buffer.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct DmabufCmsg
{
    /// <summary>Offset into the dma-buf: the net_iov's place in the binding plus the offset in the net_iov.</summary>
    public ulong FragOffset;
    /// <summary>Bytes in this frag (or copied, for a linear record).</summary>
    public uint FragSize;
    /// <summary>The token to hand back with SO_DEVMEM_DONTNEED.</summary>
    public uint FragToken;
    /// <summary>The binding the frag belongs to (the id bind-rx returned).</summary>
    public uint DmabufId;
    public uint Flags;

    public override readonly string ToString() => $"dmabuf_cmsg(off {FragOffset}, size {FragSize}, token {FragToken}, dmabuf {DmabufId})";
}
