using Netmem.Stack.Tcp;
using Netmem.Wire;
using static Netmem.Native.LinuxAbi;

namespace Netmem.Native;

/// <summary>An entry in the C ABI's descriptor table.</summary>
internal abstract class NativeFile
{
    public bool NonBlocking;
    public int FdFlags;
}

/// <summary>
/// A TCP socket of the C ABI: unbound, bound, listening (a <see cref="TcpListenEndpoint"/>) or connected
/// (a <see cref="TcpConnection"/>), with the options set before the connection exists kept in its own
/// <see cref="TcpSettings"/>.
/// </summary>
internal sealed class SocketFile : NativeFile
{
    public SocketFile(TcpSettings defaults) => Settings = defaults with { };

    public TcpSettings Settings;
    public TcpEndpoint Local;          // bound address (Port 0: not bound)
    public TcpListenEndpoint? Listener;
    public TcpConnection? Connection;
    public bool ReuseAddr, Cork, LingerOn;
    public int LingerSeconds;
    public bool ShutRead, ShutWrite;
    public bool ConnectReported;       // a non-blocking connect's outcome was seen (connect again, SO_ERROR)
    public Errno ErrorReported;        // the connection error SO_ERROR already returned
    public bool Accepted;
    public byte Tos;
    /// <summary>TCP_FASTOPEN_CONNECT's deferred connect: the server a cookie is cached for; the SYN goes with the first write.</summary>
    public TcpEndpoint? DeferredConnect;
    /// <summary>Options accepted for compatibility that the engine does not act on yet (level, name) -> value.</summary>
    public readonly Dictionary<(int Level, int Name), int> Extra = new();
    /// <summary>Devmem tokens handed out by recvmsg(MSG_SOCK_DEVMEM) and not released yet (sk_user_frags).</summary>
    public readonly Netmem.Sockets.DevmemTokenTable Tokens = new();

    /// <summary>
    /// sk_error_queue (MSG_ZEROCOPY completions): the connection's; a socket that never connected has none
    /// to read (recvmsg(MSG_ERRQUEUE) says EAGAIN, as the kernel's empty queue does).
    /// </summary>
    public Netmem.Stack.SocketErrorQueue? ErrorQueue => Connection?.ErrorQueue;

    /// <summary>The pending socket error (sk_err), not yet returned by SO_ERROR.</summary>
    public Errno PendingError
    {
        get
        {
            var c = Connection;
            if (c is null || c.Error == Errno.None || c.Error == ErrorReported) return Errno.None;
            return c.Error == Errno.EPIPE ? Errno.None : c.Error;
        }
    }

    /// <summary>Poll mask now (tcp_poll).</summary>
    public int PollMask()
    {
        if (Listener is not null) return Listener.AcceptQueueLength > 0 ? POLLIN | POLLRDNORM : 0;
        var c = Connection;
        // A fresh socket: writable and hung up, as Linux says; a deferred Fast Open connect only writable (the write sends the SYN).
        if (c is null) return DeferredConnect is not null ? POLLOUT | POLLWRNORM : POLLOUT | POLLHUP;
        int mask = 0;
        var st = c.State;
        // tcp_poll: sk_err or a non-empty sk_error_queue.
        if (PendingError != Errno.None || !c.ErrorQueue.IsEmpty) mask |= POLLERR;
        bool closed = st == TcpState.Closed;
        if (closed || (ShutWrite && c.ReceivedFin) || (ShutRead && ShutWrite)) mask |= POLLHUP;
        if (c.ReceivedFin || ShutRead) mask |= POLLIN | POLLRDNORM | POLLRDHUP;
        if (st == TcpState.SynSent || st == TcpState.SynReceived) return mask;
        if (c.ReceiveQueued > 0 || (closed && c.Error != Errno.None)) mask |= POLLIN | POLLRDNORM;
        if (!ShutWrite && !closed && st is TcpState.Established or TcpState.CloseWait)
        {
            // sk_stream_is_writeable: free space of at least a third of what is queued (sk_stream_min_wspace)
            // and, under TCP_NOTSENT_LOWAT, fewer than half the limit unsent (tcp_stream_memory_free with wake).
            if (c.StreamWriteable) mask |= POLLOUT | POLLWRNORM;
        }
        else if (closed) mask |= POLLOUT | POLLWRNORM;
        return mask;
    }
}

/// <summary>An epoll instance: the interest list and, for edge-triggered entries, what was last reported.</summary>
internal sealed class EpollFile : NativeFile
{
    public sealed class Entry
    {
        public uint Events;
        public ulong Data;
        public int LastMask;     // edge-triggered: the readiness reported last time
        public long LastRx, LastAcked;
        public long LastErrorReports; // SocketErrorQueue.Reports when last reported (each report is a sk_error_report wake-up)
        public bool Disarmed;    // EPOLLONESHOT fired
    }

    public readonly SortedDictionary<int, Entry> Interest = new();
}
