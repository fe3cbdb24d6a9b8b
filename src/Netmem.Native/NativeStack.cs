using System.Buffers;
using Netmem.Stack.Tcp;
using Netmem.Stack.Virtual;
using Netmem.Wire;
using static Netmem.Native.LinuxAbi;

namespace Netmem.Native;

/// <summary>
/// One stack instance behind the C ABI: a <see cref="VirtualTcpHost"/> (deterministic mode, virtual
/// time), a descriptor table, and one lock (<see cref="Gate"/>) every call holds. A call that blocks
/// (accept, connect, read, write, poll, epoll_wait without O_NONBLOCK) waits on the gate; every call that
/// changes state wakes the waiters, and the caller that moves time (usleep, netdev_receive) lets the
/// woken waiters run before it moves on, so a blocked call completes at the virtual instant its
/// condition became true. Methods return a result or a negative Linux errno; the exports turn that into
/// -1 and errno.
/// </summary>
internal sealed partial class NativeStack : IDisposable
{
    /// <summary>How far netdev_receive moves time waiting for the stack to send something.</summary>
    public const long ReceiveHorizonUs = 3_600_000_000;

    private int _waiters, _woken;

    public NativeStack(NativeStackOptions options)
    {
        Options = options;
        Host = new VirtualTcpHost(new VirtualTcpHostOptions
        {
            Local = options.Local,
            PrefixLength = options.PrefixLength,
            Gateway = options.Gateway,
            Mtu = options.Mtu,
            Tcp = options.Tcp,
            TcpDataSplit = options.TcpDataSplit,
        });
    }

    public object Gate { get; } = new();
    public NativeStackOptions Options { get; }
    public VirtualTcpHost Host { get; }
    public TcpLayer Tcp => Host.Tcp;

    // ------------------------------------------------------------------ blocking and time

    /// <summary>Wakes every blocked call to re-check its condition (gate held).</summary>
    public void WakeWaiters()
    {
        if (_waiters == 0) return;
        _woken = _waiters;
        Monitor.PulseAll(Gate);
    }

    /// <summary>Lets woken calls run before time moves (gate held; released while they run).</summary>
    public void LetWokenRun()
    {
        for (int spins = 0; _woken > 0 && spins < 10_000; spins++) Monitor.Wait(Gate, 1);
        _woken = 0;
    }

    private void BlockOnce()
    {
        _waiters++;
        try { Monitor.Wait(Gate); }
        finally
        {
            _waiters--;
            if (_woken > 0) _woken--;
        }
    }

    /// <summary>Moves virtual time to <paramref name="targetUs"/>, timer by timer, letting blocked calls react at each step.</summary>
    public void AdvanceTo(long targetUs)
    {
        Host.RunPending();
        WakeWaiters();
        LetWokenRun();
        long next;
        while ((next = Host.Context.Timers.NextDueUs) <= targetUs)
        {
            if (next > Host.NowUs) Host.Clock.SetUs(next);
            Host.RunPending();
            WakeWaiters();
            LetWokenRun();
        }
        if (targetUs > Host.NowUs) Host.Clock.SetUs(targetUs);
        Host.RunPending();
        WakeWaiters();
        LetWokenRun();
    }

    public int Usleep(long us)
    {
        if (us < 0) return -(int)Errno.EINVAL;
        AdvanceTo(Host.NowUs + us);
        return 0;
    }

    public long WallClockUs => Host.Clock.Epoch.ToUnixTimeMilliseconds() * 1000 + Host.NowUs;

    private long _lastTimeReadUs = -1;

    /// <summary>
    /// gettimeofday on virtual time. A caller that reads the clock twice at the same virtual instant is
    /// spinning until a deadline (packetdrill sleeps to 20 µs before an event and spins the rest), so the
    /// second read moves time on by 1 µs: spinning ends, and nothing else makes time move by itself.
    /// </summary>
    public long ReadWallClockUs()
    {
        if (_lastTimeReadUs == Host.NowUs) AdvanceTo(Host.NowUs + 1);
        _lastTimeReadUs = Host.NowUs;
        return WallClockUs;
    }

    /// <summary>packetdrill's netdev_send: one IPv4 datagram into the stack.</summary>
    public int NetdevSend(ReadOnlySpan<byte> datagram)
    {
        Host.Inject(datagram);
        WakeWaiters();
        LetWokenRun();
        return 0;
    }

    /// <summary>
    /// packetdrill's netdev_receive: the next datagram the stack sent, moving virtual time to the next
    /// timer while nothing is queued (the packet carries the time it left at). False when nothing is sent
    /// within <see cref="ReceiveHorizonUs"/>.
    /// </summary>
    public bool NetdevReceive(out IpTestPacket packet)
    {
        long limit = Host.NowUs + ReceiveHorizonUs;
        LetWokenRun();
        while (!Host.Device.TryTakeSent(out packet))
        {
            long next = Host.Context.Timers.NextDueUs;
            if (next == long.MaxValue || next > limit) return false;
            if (next > Host.NowUs) Host.Clock.SetUs(next);
            Host.RunPending();
            WakeWaiters();
            LetWokenRun();
        }
        return true;
    }

    // ------------------------------------------------------------------ descriptors

    // Every descriptor is backed by a real one (an open /dev/null): the numbers are the ones Linux would
    // hand out, never collide with the process's own files, and a caller that closes one with the real
    // close() (packetdrill does at exit) finds it valid.
    private readonly Dictionary<int, NativeFile> _files = new();

    private int Install(NativeFile f)
    {
        int fd = Libc.OpenPlaceholder();
        if (fd < 0) return -(int)Errno.EMFILE;
        _files[fd] = f;
        return fd;
    }

    public NativeFile? Get(int fd) => _files.TryGetValue(fd, out var f) ? f : null;

    private int GetSocket(int fd, out SocketFile s)
    {
        s = null!;
        var f = Get(fd);
        if (f is null) return -(int)Errno.EBADF;
        if (f is not SocketFile sf) return -(int)Errno.ENOTSOCK;
        s = sf;
        return 0;
    }

    public int Socket(int domain, int type, int protocol)
    {
        if (domain != AF_INET) return -(int)Errno.EAFNOSUPPORT;
        int kind = type & SOCK_TYPE_MASK;
        if ((type & ~(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC)) != 0) return -(int)Errno.EINVAL;
        if (kind != SOCK_STREAM) return -(int)Errno.EPROTONOSUPPORT; // TCP only behind this ABI so far
        if (protocol != 0 && protocol != IPPROTO_TCP) return -(int)Errno.EPROTONOSUPPORT;
        Options.ApplySysctls(Tcp.Defaults);
        Options.ApplyOffloads(Host.Device);
        var s = new SocketFile(Tcp.Defaults) { NonBlocking = (type & SOCK_NONBLOCK) != 0, FdFlags = (type & SOCK_CLOEXEC) != 0 ? 1 : 0 };
        return Install(s);
    }

    public int Bind(int fd, ReadOnlySpan<byte> addr)
    {
        int r = GetSocket(fd, out var s);
        if (r < 0) return r;
        r = ParseSockaddr(addr, out var ep);
        if (r < 0) return r;
        if (s.Local.Port != 0 || s.Connection is not null || s.Listener is not null) return -(int)Errno.EINVAL;
        if (!ep.Address.IsUnspecified && ep.Address != Options.Local) return -(int)Errno.EADDRNOTAVAIL;
        if (ep.Port == 0) ep = ep with { Port = PickPort() };
        foreach (var f in _files.Values)
            if (f is SocketFile o && o != s && o.Local.Port == ep.Port && (!o.ReuseAddr || !s.ReuseAddr || o.Listener is not null)
                && (o.Local.Address.IsUnspecified || ep.Address.IsUnspecified || o.Local.Address == ep.Address))
                return -(int)Errno.EADDRINUSE;
        s.Local = ep;
        return 0;
    }

    private ushort _nextPort = TcpLayer.EphemeralLow;

    private ushort PickPort()
    {
        for (int i = 0; i <= TcpLayer.EphemeralHigh - TcpLayer.EphemeralLow; i++)
        {
            ushort p = _nextPort++;
            if (_nextPort > TcpLayer.EphemeralHigh) _nextPort = TcpLayer.EphemeralLow;
            bool used = false;
            foreach (var f in _files.Values) if (f is SocketFile o && o.Local.Port == p) used = true;
            if (!used) return p;
        }
        return 0;
    }

    public int Listen(int fd, int backlog)
    {
        int r = GetSocket(fd, out var s);
        if (r < 0) return r;
        if (s.Connection is not null) return -(int)Errno.EINVAL;
        if (s.Listener is not null) return 0; // Linux: listen again only changes the backlog
        if (s.Local.Port == 0) s.Local = s.Local with { Port = PickPort() };
        var err = Tcp.Listen(s.Local, Math.Clamp(backlog, 1, 4096), s.Settings, out var l);
        if (err != Errno.None) return -(int)err;
        s.Listener = l;
        return 0;
    }

    public int Accept(int fd, out SocketFile? child, int flags = 0)
    {
        child = null;
        int r = GetSocket(fd, out var s);
        if (r < 0) return r;
        if (s.Listener is null) return -(int)Errno.EINVAL;
        while (true)
        {
            if (s.Listener.TryAccept(out var c))
            {
                child = new SocketFile(s.Settings) { Connection = c, Local = new TcpEndpoint(c.Tuple.LocalAddress, c.Tuple.LocalPort), Accepted = true, ReuseAddr = s.ReuseAddr };
                child.Settings = c.Settings;
                child.NonBlocking = (flags & SOCK_NONBLOCK) != 0;
                int nfd = Install(child);
                WakeWaiters();
                return nfd;
            }
            if (s.NonBlocking) return -(int)Errno.EAGAIN;
            BlockOnce();
            if (Get(fd) != s) return -(int)Errno.EBADF;
        }
    }

    public int Connect(int fd, ReadOnlySpan<byte> addr)
    {
        int r = GetSocket(fd, out var s);
        if (r < 0) return r;
        if (s.Listener is not null) return -(int)Errno.EISCONN;
        if (s.Connection is { } existing)
        {
            if (existing.State is TcpState.SynSent or TcpState.SynReceived) return s.NonBlocking ? -(int)Errno.EALREADY : WaitConnected(s);
            if (!s.ConnectReported && existing.Error != Errno.None)
            {
                s.ConnectReported = true;
                s.ErrorReported = existing.Error;
                return -(int)existing.Error;
            }
            s.ConnectReported = true;
            return existing.State == TcpState.Closed ? -(int)Errno.ECONNABORTED : -(int)Errno.EISCONN;
        }
        r = ParseSockaddr(addr, out var ep);
        if (r < 0) return r;
        if (s.DeferredConnect is not null) return -(int)Errno.EISCONN; // tcp_fastopen_defer_connect already ran (SS_CONNECTING with defer_connect)
        // TCP_FASTOPEN_CONNECT with a cookie for this server (or cookies off): connect succeeds now, the SYN waits
        // for the data (tcp_fastopen_defer_connect after tcp_fastopen_cookie_check).
        if (s.Settings.FastOpenConnect && (Tcp.FastOpenCookies.Has(ep.Address) || FastOpenWithoutCookie(s.Settings)))
        {
            s.DeferredConnect = ep;
            return 0;
        }
        var err = Tcp.Connect(ep.Address, ep.Port, s.Local.Address, s.Local.Port, s.Settings, out var conn);
        if (err != Errno.None) return -(int)err;
        s.Connection = conn;
        s.Local = new TcpEndpoint(conn!.Tuple.LocalAddress, conn.Tuple.LocalPort);
        Host.RunPending();
        WakeWaiters();
        if (s.NonBlocking) return -(int)Errno.EINPROGRESS;
        return WaitConnected(s);
    }

    private int WaitConnected(SocketFile s)
    {
        var c = s.Connection!;
        while (c.State is TcpState.SynSent or TcpState.SynReceived) BlockOnce();
        s.ConnectReported = true;
        if (c.Error != Errno.None && c.State == TcpState.Closed)
        {
            s.ErrorReported = c.Error;
            return -(int)c.Error;
        }
        return 0;
    }

    public int Read(int fd, Span<byte> into, int flags)
    {
        int r = GetSocket(fd, out var s);
        if (r < 0) return r;
        if ((flags & MSG_ERRQUEUE) != 0) return ReadErrorQueue(fd, out _); // recv(MSG_ERRQUEUE): the record without its cmsg
        var c = s.Connection;
        // A deferred Fast Open connect is SYN-SENT to Linux: nothing to read yet.
        if (c is null) return s.DeferredConnect is not null && (s.NonBlocking || (flags & MSG_DONTWAIT) != 0) ? -(int)Errno.EAGAIN : -(int)Errno.ENOTCONN;
        if ((flags & MSG_PEEK) != 0) return -(int)Errno.EOPNOTSUPP;
        if ((flags & MSG_OOB) != 0) return -(int)Errno.EINVAL; // no urgent data (SO_OOBINLINE unsupported)
        bool waitAll = (flags & MSG_WAITALL) != 0;
        bool nonBlocking = s.NonBlocking || (flags & MSG_DONTWAIT) != 0;
        int done = 0;
        while (true)
        {
            if (into.Length == 0) return 0;
            int n = c.Receive(into[done..]);
            if (n > 0)
            {
                done += n;
                Host.RunPending();
                if (!waitAll || done == into.Length) { WakeWaiters(); return done; }
                continue;
            }
            if (done > 0 && n != -(int)Errno.EAGAIN) return done;
            if (n == 0 || s.ShutRead) return done;
            if (n != -(int)Errno.EAGAIN)
            {
                if (n == -(int)Errno.ENOTCONN && c.State == TcpState.Closed) return done;
                // The error went to an earlier call already (sock_error clears sk_err): what is left is the end of the stream.
                if (c.Error != Errno.None && n == -(int)c.Error && s.ErrorReported == c.Error) return done;
                if (c.Error != Errno.None) s.ErrorReported = c.Error;
                return done > 0 ? done : n;
            }
            if (nonBlocking) return done > 0 ? done : -(int)Errno.EAGAIN;
            BlockOnce();
        }
    }

    public int Write(int fd, ReadOnlySpan<byte> data, int flags) => Write(fd, data, flags, default, fault: false);

    /// <summary>
    /// write/send/sendto/sendmsg. <paramref name="dst"/> is sendto's or sendmsg's address (only MSG_FASTOPEN uses it on
    /// a stream socket); <paramref name="fault"/> says the caller's buffer is not readable (EFAULT once it would be read).
    /// </summary>
    /// <param name="zerocopy">MSG_ZEROCOPY's payload instead of <paramref name="data"/>: user memory by address (see
    /// <see cref="ZeroCopyApplies"/>) or dma-buf ranges of a TX binding; consumed in place as the connection queues it.</param>
    public int Write(int fd, ReadOnlySpan<byte> data, int flags, ReadOnlySpan<byte> dst, bool fault, ZeroCopyPayload zerocopy = default)
    {
        int r = GetSocket(fd, out var s);
        if (r < 0) return r;
        var c = s.Connection;
        bool nonBlocking = s.NonBlocking || (flags & MSG_DONTWAIT) != 0;
        int synQueued = 0;
        if (c is null && s.Listener is null && (s.DeferredConnect is not null || (flags & MSG_FASTOPEN) != 0))
        {
            // tcp_sendmsg_fastopen: the connect happens here. With a cookie cached for the server (or cookies off) the
            // first bytes ride in the SYN and a non-blocking call returns their count; without one the SYN asks for
            // a cookie and a non-blocking call says EINPROGRESS. A blocking call waits for the handshake and then
            // writes the rest as usual. An unreadable buffer puts nothing in the SYN (Linux's fallback).
            TcpEndpoint ep;
            if (s.DeferredConnect is { } deferred) ep = deferred;
            else
            {
                Options.ApplySysctls(Tcp.Defaults); // the script may have changed tcp_fastopen since socket()
                if ((Tcp.Defaults.FastOpen & TcpFastOpenFlags.Client) == 0) return -(int)Errno.EOPNOTSUPP;
                if (dst.Length >= 2 && BitConverter.ToUInt16(dst) == AF_UNSPEC) return -(int)Errno.EOPNOTSUPP;
                if (dst.IsEmpty) return -(int)Errno.EDESTADDRREQ;
                r = ParseSockaddr(dst, out ep);
                if (r < 0) return r;
            }
            // MSG_ZEROCOPY's memory rides in the SYN as a copy, like any SYN data (tcp_send_syn_data).
            var synData = fault ? default : zerocopy.IsSet ? zerocopy.SynData : data;
            var err = Tcp.ConnectFastOpen(ep.Address, ep.Port, s.Local.Address, s.Local.Port, s.Settings, synData, out var conn, out synQueued);
            if (err != Errno.None) return -(int)err;
            s.DeferredConnect = null;
            s.Connection = c = conn!;
            s.Local = new TcpEndpoint(conn!.Tuple.LocalAddress, conn.Tuple.LocalPort);
            Host.RunPending();
            WakeWaiters();
            if (zerocopy.IsSet)
            {
                c.CompleteSynDataZerocopy(synQueued);
                zerocopy.Consume(synQueued);
            }
            if (nonBlocking) return synQueued > 0 ? synQueued : -(int)Errno.EINPROGRESS;
            int total = zerocopy.IsSet ? synQueued + zerocopy.Length : data.Length;
            // inet_wait_for_connect with sk_write_pending when data is left over: the SYN-ACK's ACK waits for it.
            c.WritePending = !fault && synQueued < total;
            r = WaitConnected(s);
            c.WritePending = false;
            if (r < 0) return r;
            if (!fault && synQueued > 0 && synQueued == total) return synQueued;
        }
        // A second MSG_FASTOPEN while the handshake runs is __inet_stream_connect's EALREADY; once connected the
        // flag is ignored (the kernel's tcp_sendmsg writes as usual).
        else if (c is not null && (flags & MSG_FASTOPEN) != 0 && c.State is TcpState.SynSent or TcpState.SynReceived) return -(int)Errno.EALREADY;
        if (c is null) return s.Listener is not null ? -(int)Errno.EPIPE : -(int)Errno.EPIPE;
        if (s.ShutWrite) return -(int)Errno.EPIPE;
        // sk_stream_wait_connect on a connection that failed before it was established: the pending error, once.
        if (c.State == TcpState.Closed && c.Error is Errno.ECONNREFUSED && s.ErrorReported != c.Error)
        {
            s.ErrorReported = c.Error;
            return -(int)c.Error;
        }
        if (fault) return -(int)Errno.EFAULT;
        // A connect still in progress: a blocking write waits for it (sk_stream_wait_connect); a Fast Open child
        // writes in SYN-RECEIVED already (tcp_passive_fastopen).
        while (c.State is TcpState.SynSent or TcpState.SynReceived && !c.IsPassiveFastOpen)
        {
            if (nonBlocking) return -(int)Errno.EAGAIN;
            BlockOnce();
        }
        int done = synQueued, length = zerocopy.IsSet ? zerocopy.Length + synQueued : data.Length;
        while (true)
        {
            bool eor = (flags & MSG_EOR) != 0, more = (flags & MSG_MORE) != 0;
            int n = zerocopy.IsSet ? zerocopy.SendOnce(c, eor, more) : c.Send(data[done..], endOfRecord: eor, more: more);
            if (n < 0)
            {
                if (done > 0) return done;
                if (c.Error != Errno.None) s.ErrorReported = c.Error;
                return n;
            }
            done += n;
            Host.RunPending();
            WakeWaiters();
            if (done == length) return done;
            if (nonBlocking) return done > 0 ? done : -(int)Errno.EAGAIN;
            // sk_stream_wait_memory: the writer sleeps until sk_stream_write_space finds the socket writeable
            // (free space at least half of what is queued), an error, or the end of the sending side.
            do BlockOnce();
            while (!c.StreamWriteable && c.Error == Errno.None && !s.ShutWrite && c.State is TcpState.Established or TcpState.CloseWait);
        }
    }

    public int Close(int fd)
    {
        var f = Get(fd);
        if (f is null) return -(int)Errno.EBADF;
        _files.Remove(fd);
        if (f is DmabufFile d)
        {
            // The creator's reference goes; a binding keeps the buffer (and a udmabuf's memfd, its descriptor) until it is done.
            if (d.Buf is not Netmem.Dmabuf.MemfdDmaBuf) Libc.ClosePlaceholder(fd);
            d.Buf.Dispose();
            return 0;
        }
        Libc.ClosePlaceholder(fd);
        if (f is SocketFile s)
        {
            s.Tokens.Close(); // tcp_release_user_frags: tokens still out go back
            s.Listener?.Close();
            if (s.Connection is { } c)
            {
                if (s.LingerOn && s.LingerSeconds == 0) c.Abort();
                else c.Close();
            }
            foreach (var o in _files.Values) if (o is EpollFile ep) ep.Interest.Remove(fd);
        }
        Host.RunPending();
        WakeWaiters();
        return 0;
    }

    public int Shutdown(int fd, int how)
    {
        int r = GetSocket(fd, out var s);
        if (r < 0) return r;
        if (how is < SHUT_RD or > SHUT_RDWR) return -(int)Errno.EINVAL;
        var c = s.Connection;
        if (c is null || c.State is TcpState.Closed or TcpState.SynSent)
        {
            if (s.Listener is not null && how != SHUT_WR) { s.Listener.Close(); s.Listener = null; return 0; }
            return -(int)Errno.ENOTCONN;
        }
        if (how != SHUT_WR) s.ShutRead = true;
        if (how != SHUT_RD && !s.ShutWrite)
        {
            s.ShutWrite = true;
            var err = c.ShutdownSend();
            if (err != Errno.None) return -(int)err;
        }
        Host.RunPending();
        WakeWaiters();
        return 0;
    }

    // ------------------------------------------------------------------ fcntl / ioctl

    public int Fcntl(int fd, int cmd, long arg)
    {
        var f = Get(fd);
        if (f is null) return -(int)Errno.EBADF;
        switch (cmd)
        {
            case F_GETFL: return O_RDWR | (f.NonBlocking ? O_NONBLOCK : 0);
            case F_SETFL: f.NonBlocking = (arg & O_NONBLOCK) != 0; return 0;
            case F_GETFD: return f.FdFlags;
            case F_SETFD: f.FdFlags = (int)(arg & 1); return 0;
            default: return -(int)Errno.EINVAL;
        }
    }

    public int Ioctl(int fd, uint request, out int value)
    {
        value = 0;
        var f = Get(fd);
        if (f is null) return -(int)Errno.EBADF;
        if (f is not SocketFile s) return -(int)Errno.ENOTTY;
        switch (request)
        {
            case FIONREAD:
                if (s.Listener is not null) return -(int)Errno.EINVAL;
                value = (int)(s.Connection?.ReceiveQueued ?? 0);
                return 0;
            case SIOCOUTQ:
                if (s.Listener is not null) return -(int)Errno.EINVAL;
                value = s.Connection?.SendQueued ?? 0;
                return 0;
            case SIOCOUTQNSD:
                if (s.Listener is not null) return -(int)Errno.EINVAL;
                value = s.Connection is { } c ? Math.Max(0, c.SendQueued - (int)(c.SndNxt - c.SndUna)) : 0;
                return 0;
            default:
                return -(int)Errno.ENOTTY;
        }
    }

    /// <summary>TCP_INQ: whether recvmsg reports the bytes left (TCP_CM_INQ), and how many.</summary>
    public bool InqRequested(int fd, out int left)
    {
        left = 0;
        if (Get(fd) is not SocketFile s || !s.Extra.TryGetValue((IPPROTO_TCP, TCP_INQ), out var on) || on == 0) return false;
        left = (int)(s.Connection?.ReceiveQueued ?? 0);
        if (left == 0 && s.Connection is { ReceivedFin: true }) left = 1; // tcp_inq_hint: a pending EOF reads as one byte
        return true;
    }

    public int SetNonBlocking(int fd, bool on)
    {
        var f = Get(fd);
        if (f is null) return -(int)Errno.EBADF;
        f.NonBlocking = on;
        return 0;
    }

    // ------------------------------------------------------------------ socket options

    public int SetSockOpt(int fd, int level, int name, ReadOnlySpan<byte> val)
    {
        int r = GetSocket(fd, out var s);
        if (r < 0) return r;
        int iv = val.Length >= 4 ? BitConverter.ToInt32(val) : val.Length > 0 ? val[0] : 0;
        var c = s.Connection;
        if (level == SOL_SOCKET)
        {
            if (name != SO_LINGER && val.Length < 4) return -(int)Errno.EINVAL;
            switch (name)
            {
                case SO_DEVMEM_DONTNEED: return DevmemDontNeed(s, val); // the frags freed are setsockopt's result
                case SO_REUSEADDR: s.ReuseAddr = iv != 0; return 0;
                case SO_REUSEPORT: return 0;
                case SO_KEEPALIVE: s.Settings.KeepAlive = iv != 0; break;
                // Linux doubles the value for bookkeeping overhead and clamps to at least SOCK_MIN_SNDBUF/RCVBUF.
                case SO_SNDBUF: s.Settings.SendBufferSize = Math.Max(4608, (int)Math.Min(int.MaxValue / 2, Math.Max(0, iv)) * 2); break;
                case SO_RCVBUF: s.Settings.ReceiveBufferSize = Math.Max(2304, (int)Math.Min(int.MaxValue / 2, Math.Max(0, iv)) * 2); s.Settings.ReceiveBufferAutoTuning = false; break;
                case SO_LINGER:
                    if (val.Length < 8) return -(int)Errno.EINVAL;
                    s.LingerOn = BitConverter.ToInt32(val) != 0;
                    s.LingerSeconds = BitConverter.ToInt32(val[4..]);
                    return 0;
                case SO_ZEROCOPY:
                    // sock_setsockopt: a TCP socket takes 0 or 1 (SOCK_ZEROCOPY); accepted children inherit it.
                    if (iv is < 0 or > 1) return -(int)Errno.EINVAL;
                    s.Settings.ZeroCopy = iv == 1;
                    break;
                case SO_RCVLOWAT: case SO_MARK: case SO_PRIORITY: case SO_MAX_PACING_RATE:
                    s.Extra[(level, name)] = iv; return 0; // accepted and remembered; the engine has no such knob yet
                default: return -(int)Errno.ENOPROTOOPT;
            }
        }
        else if (level == IPPROTO_TCP)
        {
            if (name == TCP_CONGESTION)
            {
                int len = val.IndexOf((byte)0);
                string cc = System.Text.Encoding.ASCII.GetString(len >= 0 ? val[..len] : val);
                try
                {
                    if (c is not null) c.SetCongestionControl(cc);
                    else { CongestionControl.Create(cc); s.Settings.CongestionControl = cc; }
                }
                catch (Exception) { return -(int)Errno.ENOENT; }
                return 0;
            }
            if (name == TCP_FASTOPEN_KEY)
            {
                // A listener's own key (primary, or primary and backup): 16 or 32 bytes.
                if (val.Length != TcpFastOpenKey.KeyLength && val.Length != 2 * TcpFastOpenKey.KeyLength) return -(int)Errno.EINVAL;
                s.Settings.FastOpenKey = TcpFastOpenKey.FromBytes(val);
                if (s.Listener is not null) s.Listener.Settings.FastOpenKey = s.Settings.FastOpenKey;
                return 0;
            }
            if (val.Length < 4) return -(int)Errno.EINVAL;
            switch (name)
            {
                case TCP_NODELAY: s.Settings.NoDelay = iv != 0; break;
                case TCP_CORK:
                    s.Cork = iv != 0;
                    s.Settings.Cork = s.Cork;
                    break;
                case TCP_MAXSEG:
                    if (iv != 0 && (iv < 88 || iv > 32767)) return -(int)Errno.EINVAL;
                    s.Settings.MaxSegmentSize = iv;
                    break;
                case TCP_KEEPIDLE:
                    if (iv < 1 || iv > 32767) return -(int)Errno.EINVAL;
                    s.Settings.KeepAliveIdle = TimeSpan.FromSeconds(iv); break;
                case TCP_KEEPINTVL:
                    if (iv < 1 || iv > 32767) return -(int)Errno.EINVAL;
                    s.Settings.KeepAliveInterval = TimeSpan.FromSeconds(iv); break;
                case TCP_KEEPCNT:
                    if (iv < 1 || iv > 127) return -(int)Errno.EINVAL;
                    s.Settings.KeepAliveCount = iv; break;
                case TCP_SYNCNT:
                    if (iv < 1 || iv > 127) return -(int)Errno.EINVAL;
                    s.Settings.SynRetries = iv; break;
                case TCP_NOTSENT_LOWAT: s.Settings.NotSentLowat = (uint)iv; break; // unsigned, as Linux keeps it
                case TCP_FASTOPEN_CONNECT:
                    // Linux: 0 or 1, and only before the connect starts; EOPNOTSUPP while the client bit of tcp_fastopen is off.
                    if (iv is < 0 or > 1) return -(int)Errno.EINVAL;
                    Options.ApplySysctls(Tcp.Defaults);
                    if ((Tcp.Defaults.FastOpen & TcpFastOpenFlags.Client) == 0) return -(int)Errno.EOPNOTSUPP;
                    if (s.Connection is not null || s.Listener is not null || s.DeferredConnect is not null) return -(int)Errno.EINVAL;
                    s.Settings.FastOpenConnect = iv == 1; break;
                case TCP_USER_TIMEOUT:
                    if (iv < 0) return -(int)Errno.EINVAL;
                    s.Settings.UserTimeout = TimeSpan.FromMilliseconds(iv); break;
                case TCP_FASTOPEN:
                    // fastopen_queue_tune: a listener's (or a socket about to listen) Fast Open queue length.
                    if (iv < 0 || c is not null) return -(int)Errno.EINVAL;
                    s.Settings.FastOpenQueueLength = iv;
                    if (s.Listener is not null) s.Listener.Settings.FastOpenQueueLength = iv;
                    break;
                case TCP_FASTOPEN_NO_COOKIE:
                    if (iv is < 0 or > 1) return -(int)Errno.EINVAL;
                    s.Settings.FastOpenNoCookie = iv == 1; break;
                case TCP_QUICKACK: case TCP_INQ: case TCP_WINDOW_CLAMP:
                case TCP_LINGER2: case TCP_DEFER_ACCEPT: case TCP_THIN_LINEAR_TIMEOUTS:
                    s.Extra[(level, name)] = iv; return 0; // accepted and remembered; the engine has no such knob yet
                default: return -(int)Errno.ENOPROTOOPT;
            }
        }
        else if (level == SOL_IP && name == IP_TOS)
        {
            s.Tos = (byte)iv;
            return 0;
        }
        else if (level == SOL_IP && name is IP_MTU_DISCOVER or IP_FREEBIND or IP_RECVERR)
        {
            s.Extra[(level, name)] = iv;
            return 0;
        }
        else return -(int)Errno.ENOPROTOOPT;
        if (s.Listener is not null) CopySettings(s.Settings, s.Listener.Settings);
        if (c is not null)
        {
            if (!ReferenceEquals(c.Settings, s.Settings)) CopySettings(s.Settings, c.Settings);
            c.ApplySettings();
            Host.RunPending();
        }
        return 0;
    }

    private static void CopySettings(TcpSettings from, TcpSettings to)
    {
        to.NoDelay = from.NoDelay;
        to.Cork = from.Cork;
        to.KeepAlive = from.KeepAlive;
        to.KeepAliveIdle = from.KeepAliveIdle;
        to.KeepAliveInterval = from.KeepAliveInterval;
        to.KeepAliveCount = from.KeepAliveCount;
        to.SendBufferSize = from.SendBufferSize;
        to.ReceiveBufferSize = from.ReceiveBufferSize;
        to.MaxSegmentSize = from.MaxSegmentSize;
        to.NotSentLowat = from.NotSentLowat;
        to.FastOpenConnect = from.FastOpenConnect;
        to.FastOpenNoCookie = from.FastOpenNoCookie;
        to.UserTimeout = from.UserTimeout;
        to.ZeroCopy = from.ZeroCopy;
    }

    /// <summary><c>tcp_fastopen_no_cookie</c> for a client: tcp_fastopen 0x4 or TCP_FASTOPEN_NO_COOKIE.</summary>
    private bool FastOpenWithoutCookie(TcpSettings settings) =>
        (Tcp.Defaults.FastOpen & TcpFastOpenFlags.ClientNoCookie) != 0 || settings.FastOpenNoCookie;

    /// <summary>getsockopt: writes at most <paramref name="val"/>.Length bytes; returns the length written.</summary>
    public int GetSockOpt(int fd, int level, int name, Span<byte> val)
    {
        int r = GetSocket(fd, out var s);
        if (r < 0) return r;
        var c = s.Connection;
        int iv;
        if (level == SOL_SOCKET)
        {
            switch (name)
            {
                case SO_ERROR:
                    var e = s.PendingError;
                    if (e != Errno.None) s.ErrorReported = e;
                    iv = (int)e; break;
                case SO_TYPE: iv = SOCK_STREAM; break;
                case SO_PROTOCOL: iv = IPPROTO_TCP; break;
                case SO_DOMAIN: iv = AF_INET; break;
                case SO_ACCEPTCONN: iv = s.Listener is not null ? 1 : 0; break;
                case SO_REUSEADDR: iv = s.ReuseAddr ? 1 : 0; break;
                case SO_KEEPALIVE: iv = s.Settings.KeepAlive ? 1 : 0; break;
                case SO_SNDBUF: iv = s.Settings.SendBufferSize; break;
                case SO_RCVBUF: iv = c?.ReceiveBufferSize ?? s.Settings.ReceiveBufferSize; break;
                case SO_MEMINFO:
                {
                    // sk_meminfo: rmem_alloc, rcvbuf, wmem_alloc, sndbuf, fwd_alloc, wmem_queued, optmem, backlog, drops
                    Span<int> m = [(int)(c?.ReceiveQueued ?? 0), c?.ReceiveBufferSize ?? s.Settings.ReceiveBufferSize,
                        c is null ? 0 : (int)(c.SndNxt - c.SndUna), s.Settings.SendBufferSize, 0, c?.SendQueued ?? 0, 0, 0, 0];
                    int n = Math.Min(val.Length / 4, m.Length);
                    for (int k = 0; k < n; k++) BitConverter.TryWriteBytes(val[(k * 4)..], m[k]);
                    return n * 4;
                }
                case SO_ZEROCOPY: iv = s.Settings.ZeroCopy ? 1 : 0; break;
                case SO_LINGER:
                    if (val.Length < 8) return -(int)Errno.EINVAL;
                    BitConverter.TryWriteBytes(val, s.LingerOn ? 1 : 0);
                    BitConverter.TryWriteBytes(val[4..], s.LingerSeconds);
                    return 8;
                default:
                    if (!s.Extra.TryGetValue((level, name), out iv)) return -(int)Errno.ENOPROTOOPT;
                    break;
            }
        }
        else if (level == IPPROTO_TCP)
        {
            switch (name)
            {
                case TCP_NODELAY: iv = s.Settings.NoDelay ? 1 : 0; break;
                case TCP_CORK: iv = s.Cork ? 1 : 0; break;
                // tcp_current_mss once connected; before, the user's value or the default (536).
                case TCP_MAXSEG: iv = c is not null && c.State >= TcpState.Established ? c.Mss : s.Settings.MaxSegmentSize != 0 ? s.Settings.MaxSegmentSize : 536; break;
                case TCP_KEEPIDLE: iv = (int)s.Settings.KeepAliveIdle.TotalSeconds; break;
                case TCP_KEEPINTVL: iv = (int)s.Settings.KeepAliveInterval.TotalSeconds; break;
                case TCP_KEEPCNT: iv = s.Settings.KeepAliveCount; break;
                case TCP_SYNCNT: iv = s.Settings.SynRetries; break;
                case TCP_CONGESTION:
                {
                    string cc = c?.CongestionControlName ?? s.Settings.CongestionControl;
                    int n = Math.Min(val.Length, 16);
                    val[..n].Clear();
                    System.Text.Encoding.ASCII.GetBytes(cc.AsSpan(0, Math.Min(cc.Length, Math.Max(0, n - 1))), val);
                    return n;
                }
                case TCP_INFO: return TcpInfoWriter.Write(s, Host.NowUs, val);
                case TCP_CC_INFO: return 0; // cubic and reno export no tcp_cc_info (Linux: length 0)
                case TCP_NOTSENT_LOWAT: iv = (int)s.Settings.NotSentLowat; break; // 0: unset (the sysctl applies)
                case TCP_FASTOPEN_CONNECT: iv = s.Settings.FastOpenConnect ? 1 : 0; break;
                case TCP_FASTOPEN: iv = s.Listener?.Settings.FastOpenQueueLength ?? s.Settings.FastOpenQueueLength; break;
                case TCP_FASTOPEN_NO_COOKIE: iv = s.Settings.FastOpenNoCookie ? 1 : 0; break;
                case TCP_FASTOPEN_KEY:
                {
                    // The socket's key, else the namespace's (tcp_fastopen_get_cipher), as little-endian words.
                    var key = s.Listener?.Settings.FastOpenKey ?? s.Settings.FastOpenKey ?? Tcp.Defaults.FastOpenKey ?? Tcp.FastOpenKey;
                    Span<byte> kb = stackalloc byte[2 * TcpFastOpenKey.KeyLength];
                    int kl = key.CopyTo(kb);
                    int n = Math.Min(val.Length, kl);
                    kb[..n].CopyTo(val);
                    return n;
                }
                case TCP_USER_TIMEOUT: iv = (int)s.Settings.UserTimeout.TotalMilliseconds; break;
                default:
                    if (!s.Extra.TryGetValue((level, name), out iv)) return -(int)Errno.ENOPROTOOPT;
                    break;
            }
        }
        else if (level == SOL_IP && name == IP_TOS) iv = s.Tos;
        else return -(int)Errno.ENOPROTOOPT;
        if (val.Length < 4)
        {
            if (val.Length == 0) return 0;
            val[0] = (byte)iv;
            return 1;
        }
        BitConverter.TryWriteBytes(val, iv);
        return 4;
    }

    // ------------------------------------------------------------------ poll / epoll

    public int PollMask(int fd)
    {
        var f = Get(fd);
        if (f is null) return POLLNVAL;
        if (f is SocketFile s) return s.PollMask();
        if (f is EpollFile ep) return ReadyEntries(ep, peek: true) > 0 ? POLLIN : 0;
        return 0;
    }

    /// <summary>poll: <paramref name="fds"/> are (fd, events, revents) triples; timeout in ms (negative: forever), in virtual time.</summary>
    public int Poll(Span<(int Fd, short Events, short Revents)> fds, int timeoutMs)
    {
        long deadline = timeoutMs < 0 ? long.MaxValue : Host.NowUs + timeoutMs * 1000L;
        while (true)
        {
            int ready = 0;
            for (int i = 0; i < fds.Length; i++)
            {
                if (fds[i].Fd < 0) { fds[i].Revents = 0; continue; }
                int m = PollMask(fds[i].Fd);
                int want = fds[i].Events | POLLERR | POLLHUP | POLLNVAL;
                fds[i].Revents = (short)(m & want);
                if (fds[i].Revents != 0) ready++;
            }
            if (ready > 0 || timeoutMs == 0 || Host.NowUs >= deadline) return ready;
            BlockOnce();
        }
    }

    public int EpollCreate(int size, int flags = 0)
    {
        if (size <= 0 && flags == 0) return -(int)Errno.EINVAL;
        return Install(new EpollFile());
    }

    public int EpollCtl(int epfd, int op, int fd, uint events, ulong data)
    {
        var f = Get(epfd);
        if (f is null || Get(fd) is null) return -(int)Errno.EBADF;
        if (f is not EpollFile ep || epfd == fd) return -(int)Errno.EINVAL;
        if (Get(fd) is EpollFile) return -(int)Errno.EINVAL;
        // EPOLLEXCLUSIVE: only at ADD, only with the wake-up events it is defined for.
        if ((events & EPOLLEXCLUSIVE) != 0 && op != EPOLL_CTL_DEL && (op == EPOLL_CTL_MOD || (events & ~EPOLLEXCLUSIVE_OK_BITS) != 0))
            return -(int)Errno.EINVAL;
        switch (op)
        {
            case EPOLL_CTL_ADD:
                if (ep.Interest.ContainsKey(fd)) return -(int)Errno.EEXIST;
                ep.Interest[fd] = new EpollFile.Entry { Events = events, Data = data };
                break;
            case EPOLL_CTL_MOD:
                if (!ep.Interest.TryGetValue(fd, out var e)) return -(int)Errno.ENOENT;
                if ((e.Events & EPOLLEXCLUSIVE) != 0) return -(int)Errno.EINVAL; // an exclusive item cannot be modified
                e.Events = events; e.Data = data; e.LastMask = 0; e.Disarmed = false;
                break;
            case EPOLL_CTL_DEL:
                if (!ep.Interest.Remove(fd)) return -(int)Errno.ENOENT;
                break;
            default: return -(int)Errno.EINVAL;
        }
        WakeWaiters();
        return 0;
    }

    private int ReadyEntries(EpollFile ep, bool peek, Span<(uint Events, ulong Data)> into = default)
    {
        int n = 0;
        foreach (var (fd, e) in ep.Interest)
        {
            if (e.Disarmed) continue;
            int m = Get(fd) is SocketFile s ? s.PollMask() : 0;
            int want = (int)(e.Events & 0x0FFF_FFFF) | POLLERR | POLLHUP;
            int hit = m & want;
            bool edge = (e.Events & EPOLLET) != 0;
            // Edge-triggered: readiness that appeared since the last report, or a new wakeup of a ready
            // one (more data arrived, more of the send queue was acknowledged, another error report), as
            // sk_data_ready, sk_write_space and sk_error_report wake an ET waiter each time. A zero-copy
            // completion that coalesced into the queued record still wakes it once (epoll_edge.pkt).
            long rx = 0, acked = 0, errReports = 0;
            if (Get(fd) is SocketFile { Connection: { } conn })
            {
                rx = conn.GetInfo().BytesReceived;
                acked = conn.SndUna;
                errReports = conn.ErrorQueue.Reports;
            }
            int report = hit;
            if (edge)
            {
                report = hit & ~e.LastMask;
                if ((hit & POLLIN) != 0 && rx != e.LastRx) report |= POLLIN;
                if ((hit & POLLOUT) != 0 && acked != e.LastAcked) report |= POLLOUT;
                if ((hit & POLLERR) != 0 && errReports != e.LastErrorReports) report |= POLLERR;
                if (!peek) { e.LastMask = hit; e.LastRx = rx; e.LastAcked = acked; e.LastErrorReports = errReports; }
            }
            if (report == 0) continue;
            if (!peek)
            {
                if (n >= into.Length) break;
                into[n] = ((uint)hit, e.Data);
                if ((e.Events & EPOLLONESHOT) != 0) e.Disarmed = true;
            }
            n++;
        }
        return n;
    }

    public int EpollWait(int epfd, Span<(uint Events, ulong Data)> events, int timeoutMs)
    {
        var f = Get(epfd);
        if (f is null) return -(int)Errno.EBADF;
        if (f is not EpollFile ep || events.Length <= 0) return -(int)Errno.EINVAL;
        long deadline = timeoutMs < 0 ? long.MaxValue : Host.NowUs + timeoutMs * 1000L;
        while (true)
        {
            int n = ReadyEntries(ep, peek: false, events);
            if (n > 0 || timeoutMs == 0 || Host.NowUs >= deadline) return n;
            BlockOnce();
        }
    }

    // ------------------------------------------------------------------ helpers

    public static int ParseSockaddr(ReadOnlySpan<byte> addr, out TcpEndpoint ep)
    {
        ep = default;
        if (addr.Length < SockaddrInSize) return -(int)Errno.EINVAL;
        ushort family = BitConverter.ToUInt16(addr);
        if (family != AF_INET) return -(int)Errno.EAFNOSUPPORT;
        ushort port = (ushort)((addr[2] << 8) | addr[3]);
        ep = new TcpEndpoint(Ipv4Address.Read(addr[4..]), port);
        return 0;
    }

    public static void WriteSockaddr(Span<byte> to, Ipv4Address address, ushort port)
    {
        to[..SockaddrInSize].Clear();
        BitConverter.TryWriteBytes(to, (ushort)AF_INET);
        to[2] = (byte)(port >> 8);
        to[3] = (byte)port;
        address.Write(to[4..]);
    }

    public static byte[] Rent(int n) => ArrayPool<byte>.Shared.Rent(Math.Max(n, 1));
    public static void Return(byte[] a) => ArrayPool<byte>.Shared.Return(a);

    public void Dispose()
    {
        DisposeDevmem();
        foreach (var (fd, f) in _files)
        {
            if (f is SocketFile s)
            {
                s.Listener?.Close();
                s.Connection?.Abort();
            }
            // At teardown the caller may have closed it already (and the number been reused): only ours.
            if (Libc.IsPlaceholder(fd)) Libc.ClosePlaceholder(fd);
        }
        _files.Clear();
        Host.RunPending();
        Host.Dispose();
    }
}
