using System.Runtime.InteropServices;

namespace Netmem.Sockets;

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
