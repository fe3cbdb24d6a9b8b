using System.Runtime.InteropServices;

namespace Netmem.Tests.Native;

/// <summary>
/// Linux x86-64 values and layouts the native tests call libnetmem.so with, written out once from the uapi
/// headers (the library's own copy is internal to it; a test that used it would test nothing).
/// </summary>
internal static class LinuxAbi
{
    public const int AF_INET = 2, AF_INET6 = 10, SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_NONBLOCK = 0x800;
    public const int F_GETFL = 3, F_SETFL = 4, O_NONBLOCK = 0x800;
    public const int SOL_SOCKET = 1, SOL_IP = 0, IPPROTO_TCP = 6;
    public const int SO_REUSEADDR = 2, SO_ERROR = 4, SO_ZEROCOPY = 60;
    public const int SO_DEVMEM_LINEAR = 78, SO_DEVMEM_DMABUF = 79, SO_DEVMEM_DONTNEED = 80, SCM_DEVMEM_DMABUF = 79;
    public const int IP_RECVERR = 11;
    public const int TCP_NODELAY = 1, TCP_MAXSEG = 2, TCP_INFO = 11, TCP_NOTSENT_LOWAT = 25, TCP_FASTOPEN_CONNECT = 30;
    public const int MSG_PEEK = 0x2, MSG_CTRUNC = 0x8, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_ERRQUEUE = 0x2000,
        MSG_SOCK_DEVMEM = 0x2000000, MSG_ZEROCOPY = 0x4000000, MSG_FASTOPEN = 0x20000000;
    public const short POLLIN = 0x1, POLLOUT = 0x4, POLLERR = 0x8;
    public const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public const uint EPOLLIN = 0x1, EPOLLOUT = 0x4, EPOLLERR = 0x8, EPOLLET = 1u << 31, EPOLLONESHOT = 1u << 30, EPOLLEXCLUSIVE = 1u << 28;

    public const int ENOENT = 2, EBADF = 9, EAGAIN = 11, EFAULT = 14, EEXIST = 17, ENODEV = 19, EINVAL = 22, ENOTTY = 25,
        ERANGE = 34, ENOTSOCK = 88, ENOPROTOOPT = 92, EPROTONOSUPPORT = 93, EOPNOTSUPP = 95, EAFNOSUPPORT = 97,
        EADDRINUSE = 98, EISCONN = 106, ENOTCONN = 107, EALREADY = 114, EINPROGRESS = 115, ETOOSMALL = 524;

    /// <summary>sizeof(struct cmsghdr) = CMSG_LEN(0); CMSG_SPACE(sizeof(struct dmabuf_cmsg)).</summary>
    public const int CmsgHdr = 16, DmabufCmsgSize = 24, CmsgSpaceDmabuf = 40;
    /// <summary>ip_recv_error's payload: struct sock_extended_err (16) and the offender sockaddr_in (16).</summary>
    public const int SockExtendedErrSize = 16, RecvErrSize = 32;
    /// <summary>SO_EE_ORIGIN_ZEROCOPY, SO_EE_CODE_ZEROCOPY_COPIED.</summary>
    public const byte SO_EE_ORIGIN_ZEROCOPY = 5, SO_EE_CODE_ZEROCOPY_COPIED = 1;
}

/// <summary>Linux x86-64 <c>struct iovec</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IoVec { public byte* Base; public nuint Len; }

/// <summary>Linux x86-64 <c>struct msghdr</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MsgHdr
{
    public void* Name; public uint NameLen; public IoVec* Iov; public nuint IovLen; public byte* Control; public nuint ControlLen; public int Flags;
}
