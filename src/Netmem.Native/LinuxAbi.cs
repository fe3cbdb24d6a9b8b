namespace Netmem.Native;

/// <summary>Linux x86-64 constants and structure layouts of the socket calls the C ABI implements.</summary>
internal static class LinuxAbi
{
    public const int AF_UNSPEC = 0, AF_INET = 2, AF_INET6 = 10;
    public const int SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_TYPE_MASK = 0xf, SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
    public const int IPPROTO_IP = 0, IPPROTO_TCP = 6;

    public const int SOL_SOCKET = 1, SOL_IP = 0;
    public const int SO_REUSEADDR = 2, SO_TYPE = 3, SO_ERROR = 4, SO_SNDBUF = 7, SO_RCVBUF = 8, SO_KEEPALIVE = 9,
        SO_PRIORITY = 12, SO_LINGER = 13, SO_REUSEPORT = 15, SO_MARK = 36, SO_MEMINFO = 55, SO_MAX_PACING_RATE = 47, SO_ZEROCOPY = 60, SO_RCVLOWAT = 18, SO_ACCEPTCONN = 30, SO_PROTOCOL = 38, SO_DOMAIN = 39;
    public const int IP_TOS = 1, IP_RECVERR = 11, IP_MTU_DISCOVER = 10, IP_FREEBIND = 15;
    public const int TCP_NODELAY = 1, TCP_MAXSEG = 2, TCP_CORK = 3, TCP_KEEPIDLE = 4, TCP_KEEPINTVL = 5, TCP_KEEPCNT = 6,
        TCP_SYNCNT = 7, TCP_LINGER2 = 8, TCP_DEFER_ACCEPT = 9, TCP_WINDOW_CLAMP = 10, TCP_INFO = 11, TCP_QUICKACK = 12,
        TCP_CONGESTION = 13, TCP_THIN_LINEAR_TIMEOUTS = 16, TCP_USER_TIMEOUT = 18, TCP_CC_INFO = 26, TCP_FASTOPEN = 23, TCP_NOTSENT_LOWAT = 25,
        TCP_FASTOPEN_CONNECT = 30, TCP_FASTOPEN_KEY = 33, TCP_FASTOPEN_NO_COOKIE = 34, TCP_INQ = 36;

    public const int F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4;
    public const int O_RDWR = 2, O_NONBLOCK = 0x800;
    public const uint FIONREAD = 0x541B, SIOCINQ = FIONREAD, SIOCOUTQ = 0x5411, FIONBIO = 0x5421, SIOCOUTQNSD = 0x894B;

    public const int MSG_OOB = 0x1, MSG_PEEK = 0x2, MSG_CTRUNC = 0x8, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_EOR = 0x80, MSG_WAITALL = 0x100,
        MSG_ERRQUEUE = 0x2000, MSG_NOSIGNAL = 0x4000, MSG_MORE = 0x8000, MSG_ZEROCOPY = 0x4000000, MSG_FASTOPEN = 0x20000000;
    public const int SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;

    public const short POLLIN = 0x1, POLLPRI = 0x2, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20,
        POLLRDNORM = 0x40, POLLWRNORM = 0x100;
    public const int POLLRDHUP = 0x2000;
    public const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public const uint EPOLLIN = 0x1, EPOLLOUT = 0x4, EPOLLERR = 0x8, EPOLLHUP = 0x10, EPOLLWAKEUP = 1u << 29,
        EPOLLET = 1u << 31, EPOLLONESHOT = 1u << 30, EPOLLEXCLUSIVE = 1u << 28;
    /// <summary>The only events an EPOLLEXCLUSIVE item may ask for (fs/eventpoll.c).</summary>
    public const uint EPOLLEXCLUSIVE_OK_BITS = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

    /// <summary>Device memory TCP (uapi/asm-generic/socket.h, linux/socket.h, uapi/linux/netdev.h).</summary>
    public const int MSG_SOCK_DEVMEM = 0x2000000, SO_DEVMEM_LINEAR = 78, SO_DEVMEM_DMABUF = 79, SO_DEVMEM_DONTNEED = 80;
    /// <summary>Send cmsgs (SOL_SOCKET) sock_cmsg_send knows: SCM_DEVMEM_DMABUF names a TX binding (devmem TX).</summary>
    public const int SCM_RIGHTS = 1, SCM_CREDENTIALS = 2, SO_TIMESTAMPING_OLD = 37, SCM_TXTIME = 61, SCM_DEVMEM_DMABUF = 79, SCM_TS_OPT_ID = 81;
    public const uint NETDEV_QUEUE_TYPE_RX = 0, NETDEV_QUEUE_TYPE_TX = 1;
    /// <summary>sizeof(struct cmsghdr) on x86-64 (size_t cmsg_len, int cmsg_level, int cmsg_type) = CMSG_LEN(0).</summary>
    public const int CmsgHdrSize = 16;
    /// <summary>sizeof(struct dmabuf_cmsg).</summary>
    public const int DmabufCmsgSize = 24;
    /// <summary>CMSG_ALIGN: cmsgs are aligned to sizeof(size_t).</summary>
    public static int CmsgAlign(int len) => (len + 7) & ~7;
    /// <summary>CMSG_SPACE(len).</summary>
    public static int CmsgSpace(int len) => CmsgHdrSize + CmsgAlign(len);
    /// <summary>CMSG_LEN(len).</summary>
    public static int CmsgLen(int len) => CmsgHdrSize + len;

    /// <summary>
    /// ip_recv_error's IP_RECVERR payload: struct sock_extended_err (16 bytes) followed by the offender's
    /// struct sockaddr_in, zeroed for origins that carry no address (ZEROCOPY, LOCAL).
    /// </summary>
    public const int RecvErrSize = 16 + SockaddrInSize;

    /// <summary>sizeof(struct sockaddr_in).</summary>
    public const int SockaddrInSize = 16;
    /// <summary>sizeof(struct tcp_info) as of Linux 6.18 (through the accurate-ECN counters and tcpi_options2).</summary>
    public const int TcpInfoSize = 280;
}
