using System.Runtime.InteropServices;

namespace Netmem.Drivers.Tap;

/// <summary>
/// The libc calls and the tun/tap ABI constants (linux/if_tun.h, linux/if.h). Everything unsafe about
/// the TAP driver is here and in the two queue classes; the device's public API is safe.
/// </summary>
internal static unsafe partial class TapNative
{
    // open(2)
    public const int O_RDWR = 0x2, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    // errno values the data path tests for
    public const int EINTR = 4, EIO = 5, EAGAIN = 11, EFAULT = 14, EINVAL = 22, EBADFD = 77;
    // poll(2)
    public const short POLLIN = 0x1, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;

    // ioctl numbers: _IOW('T', nr, int) = (1 << 30) | (4 << 16) | ('T' << 8) | nr
    public const uint TUNSETIFF = 0x400454ca;       // nr 202
    public const uint TUNSETPERSIST = 0x400454cb;   // nr 203
    public const uint TUNSETOFFLOAD = 0x400454d0;   // nr 208
    public const uint TUNGETIFF = 0x800454d2;       // _IOR nr 210
    public const uint TUNSETVNETHDRSZ = 0x400454d8; // nr 216

    // ifr_flags for TUNSETIFF
    public const short IFF_TAP = 0x0002;
    public const short IFF_MULTI_QUEUE = 0x0100;
    public const short IFF_NO_PI = 0x1000;
    public const short IFF_VNET_HDR = 0x4000;
    public const short IFF_TUN_EXCL = unchecked((short)0x8000);

    // TUNSETOFFLOAD bits: what user space accepts from the kernel
    public const uint TUN_F_CSUM = 0x01, TUN_F_TSO4 = 0x02, TUN_F_TSO6 = 0x04, TUN_F_TSO_ECN = 0x08, TUN_F_USO4 = 0x20, TUN_F_USO6 = 0x40;

    public const int IFNAMSIZ = 16;

    /// <summary><c>struct ifreq</c> as TUNSETIFF reads it: the name and, in the union, ifr_flags.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 40)]
    public struct IfReq
    {
        public fixed byte Name[IFNAMSIZ];
        public short Flags;
    }

    /// <summary><c>struct iovec</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Len;
    }

    /// <summary><c>struct pollfd</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, void* arg);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int IoctlValue(int fd, nuint request, nuint arg);

    [LibraryImport("libc", EntryPoint = "readv", SetLastError = true)]
    public static partial nint Readv(int fd, IoVec* iov, int iovcnt);

    [LibraryImport("libc", EntryPoint = "writev", SetLastError = true)]
    public static partial nint Writev(int fd, IoVec* iov, int iovcnt);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint nfds, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initval, int flags);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    public static partial int SocketPair(int domain, int type, int protocol, int* sv);

    public const int AF_UNIX = 1, SOCK_SEQPACKET = 5, SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800, EFD_CLOEXEC = 0x80000;

    public static int LastErrno => Marshal.GetLastPInvokeError();

    public static string ErrnoText(int errno) => $"{(Errno)errno} ({Marshal.GetPInvokeErrorMessage(errno)})";
}
