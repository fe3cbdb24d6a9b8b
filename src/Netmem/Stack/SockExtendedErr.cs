using System.Runtime.InteropServices;

namespace Netmem.Stack;

/// <summary>
/// <c>struct sock_extended_err</c> (linux/errqueue.h), the record an error-queue read returns in its
/// IP_RECVERR control message. The layout is the kernel's (16 bytes), so the C ABI copies it as is.
/// For a MSG_ZEROCOPY completion: origin <see cref="OriginZerocopy"/>, <see cref="Info"/> = lo and
/// <see cref="Data"/> = hi of the completed range of send ids, code <see cref="CodeZerocopyCopied"/>
/// when the data was copied after all.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public readonly record struct SockExtendedErr(uint Errno, byte Origin, byte Type, byte Code, byte Pad, uint Info, uint Data)
{
    /// <summary>SO_EE_ORIGIN_NONE.</summary>
    public const byte OriginNone = 0;
    /// <summary>SO_EE_ORIGIN_LOCAL.</summary>
    public const byte OriginLocal = 1;
    /// <summary>SO_EE_ORIGIN_ICMP.</summary>
    public const byte OriginIcmp = 2;
    /// <summary>SO_EE_ORIGIN_ICMP6.</summary>
    public const byte OriginIcmp6 = 3;
    /// <summary>SO_EE_ORIGIN_TXSTATUS (timestamping).</summary>
    public const byte OriginTxStatus = 4;
    /// <summary>SO_EE_ORIGIN_ZEROCOPY: a MSG_ZEROCOPY completion.</summary>
    public const byte OriginZerocopy = 5;
    /// <summary>SO_EE_CODE_ZEROCOPY_COPIED: the kernel (here: the stack or a driver) copied the data after all.</summary>
    public const byte CodeZerocopyCopied = 1;

    /// <summary>A zero-copy completion of send ids [<paramref name="lo"/>, <paramref name="hi"/>].</summary>
    public static SockExtendedErr Zerocopy(uint lo, uint hi, bool copied) =>
        new(0, OriginZerocopy, 0, copied ? CodeZerocopyCopied : (byte)0, 0, lo, hi);

    public bool IsZerocopy => Origin == OriginZerocopy;
}
