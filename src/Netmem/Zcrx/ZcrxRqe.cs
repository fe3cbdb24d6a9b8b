using System.Runtime.InteropServices;

namespace Netmem.Zcrx;

/// <summary>
/// <c>struct io_uring_zcrx_rqe</c> (16 bytes): one buffer handed back through the refill ring. <see cref="Off"/>
/// names it the way its completion did (<see cref="ZcrxCompletion.Off"/>: area id in the top 16 bits, net_iov
/// index from bit 12); the bits below the page are ignored. <see cref="Len"/> is not read; <see cref="Pad"/>
/// must be 0.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
public struct ZcrxRqe
{
    public ulong Off;
    public uint Len;
    public uint Pad;

    public ZcrxRqe(ulong off, uint len = 0)
    {
        Off = off;
        Len = len;
        Pad = 0;
    }

    public override readonly string ToString() => $"rqe(off 0x{Off:x}, len {Len}{(Pad != 0 ? $", pad {Pad}" : "")})";
}
