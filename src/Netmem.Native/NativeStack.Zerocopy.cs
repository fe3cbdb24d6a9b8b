using Netmem.Stack;
using Netmem.Stack.Tcp;
using static Netmem.Native.LinuxAbi;

namespace Netmem.Native;

/// <summary>
/// MSG_ZEROCOPY behind the C ABI: SO_ZEROCOPY's flag decides whether a send with the flag goes through
/// <see cref="TcpConnection.SendZeroCopy"/> (the caller's memory, by native address, each iov element its
/// own frag) or is copied as if the flag were absent (the kernel ignores it without SOCK_ZEROCOPY);
/// completions are read back with recvmsg(MSG_ERRQUEUE) (<see cref="ReadErrorQueue"/>).
/// </summary>
internal sealed partial class NativeStack
{
    /// <summary>
    /// Whether a send with <paramref name="flags"/> of <paramref name="length"/> bytes on <paramref name="fd"/> is a
    /// zero-copy one (tcp_sendmsg_locked: MSG_ZEROCOPY, a non-empty payload, SOCK_ZEROCOPY set).
    /// </summary>
    public bool ZeroCopyApplies(int fd, int flags, long length) =>
        (flags & MSG_ZEROCOPY) != 0 && length > 0 && Get(fd) is SocketFile { Settings.ZeroCopy: true };

    /// <summary>
    /// One zero-copy send of what is left of <paramref name="iov"/>; the elements (or the part of one) it queued
    /// are consumed. Returns the bytes queued or a negative errno, as <see cref="TcpConnection.Send"/>.
    /// </summary>
    private static int SendZeroCopy(TcpConnection c, ref Span<UserIov> iov, bool eor, bool more)
    {
        int n = c.SendZeroCopy(iov, pin: null, endOfRecord: eor, more: more);
        for (int left = n; left > 0;)
        {
            if (iov[0].Length <= left)
            {
                left -= iov[0].Length;
                iov = iov[1..];
            }
            else
            {
                iov[0] = new UserIov(iov[0].Address + left, iov[0].Length - left);
                left = 0;
            }
        }
        return n;
    }

    /// <summary>Drops the first <paramref name="bytes"/> of <paramref name="iov"/> (what a Fast Open SYN took).</summary>
    private static void ConsumeIov(ref Span<UserIov> iov, int bytes)
    {
        while (bytes > 0 && iov.Length > 0)
        {
            if (iov[0].Length <= bytes) { bytes -= iov[0].Length; iov = iov[1..]; }
            else { iov[0] = new UserIov(iov[0].Address + bytes, iov[0].Length - bytes); bytes = 0; }
        }
    }

    private static int IovLength(ReadOnlySpan<UserIov> iov)
    {
        long sum = 0;
        foreach (var v in iov) sum += v.Length;
        return (int)Math.Min(sum, int.MaxValue);
    }

    /// <summary>
    /// recvmsg(MSG_ERRQUEUE) (ip_recv_error): takes the oldest record of the socket's error queue; EAGAIN when
    /// there is none (a socket that never connected has none). The record carries no payload, so the read is 0 bytes.
    /// </summary>
    public int ReadErrorQueue(int fd, out SockExtendedErr err)
    {
        err = default;
        int r = GetSocket(fd, out var s);
        if (r < 0) return r;
        if (s.ErrorQueue is not { } q || !q.TryDequeue(out err)) return -(int)Errno.EAGAIN;
        return 0;
    }
}
