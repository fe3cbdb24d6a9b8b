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

/// <summary><c>struct dmabuf_token</c>: a range of tokens to release with SO_DEVMEM_DONTNEED.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct DmabufToken
{
    public uint TokenStart;
    public uint TokenCount;

    public DmabufToken(uint start, uint count)
    {
        TokenStart = start;
        TokenCount = count;
    }

    public override readonly string ToString() => $"tokens [{TokenStart}, {(ulong)TokenStart + TokenCount})";
}

/// <summary>
/// One control record of a devmem receive, in stream order: the cmsg type
/// (<see cref="Devmem.SoDevmemLinear"/> or <see cref="Devmem.SoDevmemDmabuf"/>, the <c>cmsg_type</c>
/// of the kernel's SOL_SOCKET cmsg) and its <see cref="DmabufCmsg"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct DevmemCmsg(int Type, DmabufCmsg Data)
{
    /// <summary>Bytes that landed in host memory, copied to the linear buffer.</summary>
    public bool IsLinear => Type == Devmem.SoDevmemLinear;
    /// <summary>A frag in device memory, held by <see cref="DmabufCmsg.FragToken"/>.</summary>
    public bool IsDmabuf => Type == Devmem.SoDevmemDmabuf;
}

/// <summary>
/// What one <see cref="TcpSocket.ReceiveDevmemAsync"/> returned: <see cref="Bytes"/> of the stream
/// (0 at end of stream), of which <see cref="LinearBytes"/> were copied to the linear buffer, and
/// <see cref="Records"/> control records written. A read with bytes and no records read host memory
/// only (the kernel copies readable data without a cmsg).
/// </summary>
public readonly record struct DevmemReceiveResult(int Bytes, int LinearBytes, int Records);

/// <summary>The devmem ABI values (uapi asm-generic/socket.h, linux/socket.h) and the kernel's per-call limits.</summary>
public static class Devmem
{
    /// <summary>MSG_SOCK_DEVMEM: recvmsg returns device memory as control records.</summary>
    public const int MsgSockDevmem = 0x2000000;
    /// <summary>SO_DEVMEM_LINEAR: cmsg type of bytes copied to the user's buffer.</summary>
    public const int SoDevmemLinear = 78;
    /// <summary>SO_DEVMEM_DMABUF: cmsg type of a frag in device memory.</summary>
    public const int SoDevmemDmabuf = 79;
    /// <summary>SO_DEVMEM_DONTNEED: setsockopt that releases tokens.</summary>
    public const int SoDevmemDontneed = 80;
    /// <summary>MAX_DONTNEED_TOKENS: most dmabuf_token entries one SO_DEVMEM_DONTNEED takes (more: EINVAL).</summary>
    public const int MaxDontneedTokens = 128;
    /// <summary>MAX_DONTNEED_FRAGS: most tokens one SO_DEVMEM_DONTNEED looks at; it stops there and returns what it freed.</summary>
    public const int MaxDontneedFrags = 1024;
}
