namespace Netmem;

/// <summary>Linux errno values, so the C ABI and packetdrill see exactly what Linux returns.</summary>
public enum Errno
{
    None = 0,
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    EIO = 5,
    E2BIG = 7,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENODEV = 19,
    EINVAL = 22,
    EMFILE = 24,
    ENOTTY = 25,
    ENOSPC = 28,
    EPIPE = 32,
    ERANGE = 34,
    ENOSYS = 38,
    ENODATA = 61,
    ENOTSOCK = 88,
    EDESTADDRREQ = 89,
    EMSGSIZE = 90,
    ENOPROTOOPT = 92,
    EPROTONOSUPPORT = 93,
    EOPNOTSUPP = 95,
    EAFNOSUPPORT = 97,
    EADDRINUSE = 98,
    EADDRNOTAVAIL = 99,
    ENETUNREACH = 101,
    ECONNABORTED = 103,
    ECONNRESET = 104,
    ENOBUFS = 105,
    EISCONN = 106,
    ENOTCONN = 107,
    ETOOMANYREFS = 109,
    ETIMEDOUT = 110,
    ECONNREFUSED = 111,
    EHOSTUNREACH = 113,
    EALREADY = 114,
    EINPROGRESS = 115,
    /// <summary>The kernel-internal ETOOSMALL that devmem receive returns when no control record fits (put_cmsg_notrunc).</summary>
    ETOOSMALL = 524,
}

/// <summary>An operation failed with a Linux error code; the message says what was wrong.</summary>
public sealed class NetmemErrnoException : Exception
{
    public NetmemErrnoException(Errno errno, string message) : base($"{errno}: {message}") => Errno = errno;
    public Errno Errno { get; }
}
