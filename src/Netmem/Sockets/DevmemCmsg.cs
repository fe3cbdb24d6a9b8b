using System.Runtime.InteropServices;

namespace Netmem.Sockets;

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
