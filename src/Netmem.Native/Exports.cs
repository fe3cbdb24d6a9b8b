using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Netmem.Dmabuf;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using static Netmem.Native.LinuxAbi;

namespace Netmem.Native;

/// <summary>
/// The C ABI (see docs/native.md). <c>packetdrill_interface_init</c> makes a stack instance and fills
/// packetdrill's interface; every other export is a socket call of that instance, named
/// <c>netmem_&lt;call&gt;</c>, with the userdata handle first and the Linux signature after it. Failures
/// return -1 and set the C errno to the Linux value; nothing throws across the boundary.
/// </summary>
internal static unsafe class Exports
{
    // ------------------------------------------------------------------ lifecycle

    [UnmanagedCallersOnly(EntryPoint = "packetdrill_interface_init")]
    public static void PacketdrillInit(byte* flags, PacketdrillInterface* ifc)
    {
        try
        {
            nint h = Create(flags, "/proc/sys");
            *ifc = new PacketdrillInterface
            {
                Userdata = h,
                Free = (nint)(delegate* unmanaged<nint, void>)&Free,
                Socket = (nint)(delegate* unmanaged<nint, int, int, int, int>)&Socket,
                Bind = (nint)(delegate* unmanaged<nint, int, byte*, uint, int>)&Bind,
                Listen = (nint)(delegate* unmanaged<nint, int, int, int>)&Listen,
                Accept = (nint)(delegate* unmanaged<nint, int, byte*, uint*, int>)&Accept,
                Connect = (nint)(delegate* unmanaged<nint, int, byte*, uint, int>)&Connect,
                Read = (nint)(delegate* unmanaged<nint, int, byte*, nuint, nint>)&Read,
                Readv = (nint)(delegate* unmanaged<nint, int, IoVec*, int, nint>)&Readv,
                Recv = (nint)(delegate* unmanaged<nint, int, byte*, nuint, int, nint>)&Recv,
                Recvfrom = (nint)(delegate* unmanaged<nint, int, byte*, nuint, int, byte*, uint*, nint>)&Recvfrom,
                Recvmsg = (nint)(delegate* unmanaged<nint, int, MsgHdr*, int, nint>)&Recvmsg,
                Write = (nint)(delegate* unmanaged<nint, int, byte*, nuint, nint>)&Write,
                Writev = (nint)(delegate* unmanaged<nint, int, IoVec*, int, nint>)&Writev,
                Send = (nint)(delegate* unmanaged<nint, int, byte*, nuint, int, nint>)&Send,
                Sendto = (nint)(delegate* unmanaged<nint, int, byte*, nuint, int, byte*, uint, nint>)&Sendto,
                Sendmsg = (nint)(delegate* unmanaged<nint, int, MsgHdr*, int, nint>)&Sendmsg,
                Fcntl = (nint)(delegate* unmanaged<nint, int, int, nint, int>)&Fcntl,
                Ioctl = (nint)(delegate* unmanaged<nint, int, nuint, nint, int>)&Ioctl,
                Close = (nint)(delegate* unmanaged<nint, int, int>)&Close,
                Shutdown = (nint)(delegate* unmanaged<nint, int, int, int>)&Shutdown,
                Getsockopt = (nint)(delegate* unmanaged<nint, int, int, int, byte*, uint*, int>)&GetSockOpt,
                Setsockopt = (nint)(delegate* unmanaged<nint, int, int, int, byte*, uint, int>)&SetSockOpt,
                Poll = (nint)(delegate* unmanaged<nint, PollFd*, nuint, int, int>)&Poll,
                NetdevSend = (nint)(delegate* unmanaged<nint, byte*, nuint, int>)&NetdevSend,
                NetdevReceive = (nint)(delegate* unmanaged<nint, byte*, nuint*, long*, int>)&NetdevReceive,
                Usleep = (nint)(delegate* unmanaged<nint, uint, int>)&Usleep,
                Gettimeofday = (nint)(delegate* unmanaged<nint, long*, void*, int>)&Gettimeofday,
                EpollCreate = (nint)(delegate* unmanaged<nint, int, int>)&EpollCreate,
                EpollCtl = (nint)(delegate* unmanaged<nint, int, int, int, EpollEvent*, int>)&EpollCtl,
                EpollWait = (nint)(delegate* unmanaged<nint, int, EpollEvent*, int, int, int>)&EpollWait,
                Pipe = (nint)(delegate* unmanaged<nint, int*, int>)&Pipe,
                Splice = (nint)(delegate* unmanaged<nint, int, long*, int, long*, nuint, uint, nint>)&Splice,
            };
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"netmem: packetdrill_interface_init failed: {e.Message}");
            *ifc = default;
        }
    }

    /// <summary>Makes a stack instance; returns its handle, or 0 (errno EINVAL) for bad flags.</summary>
    [UnmanagedCallersOnly(EntryPoint = "netmem_create")]
    public static nint NetmemCreate(byte* flags)
    {
        try { return Create(flags); }
        catch (Exception e) { Fail(e); return 0; }
    }

    private static nint Create(byte* flags, string? sysctlRoot = null)
    {
        string? f = flags == null ? null : Marshal.PtrToStringUTF8((nint)flags);
        var stack = new NativeStack(NativeStackOptions.Parse(f, sysctlRoot));
        s_latest = stack;
        return GCHandle.ToIntPtr(GCHandle.Alloc(stack));
    }

    private static volatile NativeStack? s_latest; // the instance netmem_getsockopt_any serves

    /// <summary>
    /// getsockopt on the most recently made instance for a caller that has only a descriptor (the
    /// getsockopt LD_PRELOAD shim for packetdrill's code blocks). *handled = 0 when the descriptor is not
    /// one of its sockets, so the caller can go to the kernel instead.
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "netmem_getsockopt_any")]
    public static int GetSockOptAny(int fd, int level, int name, byte* val, uint* len, int* handled)
    {
        try
        {
            *handled = 0;
            var s = s_latest;
            if (s is null || len == null) return -1;
            lock (s.Gate)
            {
                if (s.Get(fd) is not SocketFile) return -1;
                *handled = 1;
                int r = s.GetSockOpt(fd, level, name, new Span<byte>(val, (int)*len));
                if (r < 0) return Ret(r);
                *len = (uint)r;
                return 0;
            }
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_free")]
    public static void Free(nint ud)
    {
        try
        {
            if (ud == 0) return;
            var h = GCHandle.FromIntPtr(ud);
            var s = (NativeStack)h.Target!;
            lock (s.Gate) s.Dispose();
            if (ReferenceEquals(s_latest, s)) s_latest = null;
            h.Free();
        }
        catch (Exception e) { Fail(e); }
    }

    private static NativeStack From(nint ud) =>
        ud == 0 ? throw new ArgumentException("null stack handle") : (NativeStack)GCHandle.FromIntPtr(ud).Target!;

    private static int Ret(int r)
    {
        if (r >= 0) return r;
        Marshal.SetLastSystemError(-r);
        return -1;
    }

    private static int Err(Errno e)
    {
        Marshal.SetLastSystemError((int)e);
        return -1;
    }

    private static int Fail(Exception e)
    {
        Console.Error.WriteLine($"netmem: internal error: {e}");
        Marshal.SetLastSystemError((int)Errno.EINVAL);
        return -1;
    }

    // ------------------------------------------------------------------ sockets

    [UnmanagedCallersOnly(EntryPoint = "netmem_socket")]
    public static int Socket(nint ud, int domain, int type, int protocol)
    {
        try { var s = From(ud); lock (s.Gate) return Ret(s.Socket(domain, type, protocol)); }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_bind")]
    public static int Bind(nint ud, int fd, byte* addr, uint len)
    {
        try
        {
            var s = From(ud);
            if (addr == null) return Err(Errno.EFAULT);
            lock (s.Gate) return Ret(s.Bind(fd, new ReadOnlySpan<byte>(addr, (int)Math.Min(len, 128))));
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_listen")]
    public static int Listen(nint ud, int fd, int backlog)
    {
        try { var s = From(ud); lock (s.Gate) return Ret(s.Listen(fd, backlog)); }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_accept")]
    public static int Accept(nint ud, int fd, byte* addr, uint* addrlen)
    {
        try
        {
            var s = From(ud);
            lock (s.Gate)
            {
                int r = s.Accept(fd, out var child);
                if (r >= 0 && addr != null && addrlen != null) FillAddr(addr, addrlen, child!.Connection!.Tuple.RemoteAddress, child.Connection.Tuple.RemotePort);
                return Ret(r);
            }
        }
        catch (Exception e) { return Fail(e); }
    }

    private static void FillAddr(byte* addr, uint* addrlen, Netmem.Wire.Ipv4Address a, ushort port)
    {
        Span<byte> tmp = stackalloc byte[SockaddrInSize];
        NativeStack.WriteSockaddr(tmp, a, port);
        int n = (int)Math.Min(*addrlen, (uint)SockaddrInSize);
        tmp[..n].CopyTo(new Span<byte>(addr, n));
        *addrlen = SockaddrInSize;
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_connect")]
    public static int Connect(nint ud, int fd, byte* addr, uint len)
    {
        try
        {
            var s = From(ud);
            if (addr == null) return Err(Errno.EFAULT);
            lock (s.Gate) return Ret(s.Connect(fd, new ReadOnlySpan<byte>(addr, (int)Math.Min(len, 128))));
        }
        catch (Exception e) { return Fail(e); }
    }

    // ------------------------------------------------------------------ reads

    [UnmanagedCallersOnly(EntryPoint = "netmem_read")]
    public static nint Read(nint ud, int fd, byte* buf, nuint count) => RecvCore(ud, fd, buf, count, 0);

    [UnmanagedCallersOnly(EntryPoint = "netmem_recv")]
    public static nint Recv(nint ud, int fd, byte* buf, nuint len, int flags) => RecvCore(ud, fd, buf, len, flags);

    [UnmanagedCallersOnly(EntryPoint = "netmem_recvfrom")]
    public static nint Recvfrom(nint ud, int fd, byte* buf, nuint len, int flags, byte* src, uint* srclen)
    {
        nint r = RecvCore(ud, fd, buf, len, flags);
        if (r >= 0 && srclen != null) *srclen = 0; // a connected stream socket reports no source address
        return r;
    }

    private static nint RecvCore(nint ud, int fd, byte* buf, nuint len, int flags)
    {
        try
        {
            var s = From(ud);
            if (buf == null && len > 0) return Err(Errno.EFAULT);
            lock (s.Gate) return Ret(s.Read(fd, new Span<byte>(buf, (int)Math.Min(len, (nuint)int.MaxValue)), flags));
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_readv")]
    public static nint Readv(nint ud, int fd, IoVec* iov, int iovcnt) => RecvIov(ud, fd, iov, iovcnt, 0);

    [UnmanagedCallersOnly(EntryPoint = "netmem_recvmsg")]
    public static nint Recvmsg(nint ud, int fd, MsgHdr* msg, int flags)
    {
        if (msg == null) return Err(Errno.EFAULT);
        if ((flags & MSG_ERRQUEUE) != 0) return RecvmsgErrQueue(ud, fd, msg);
        if ((flags & MSG_SOCK_DEVMEM) != 0) return RecvmsgDevmem(ud, fd, msg, flags);
        nint r = RecvIov(ud, fd, (IoVec*)msg->Iov, (int)msg->IovLen, flags);
        if (r >= 0)
        {
            msg->NameLen = 0;
            msg->Flags = 0;
            try
            {
                var s = From(ud);
                var cmsgs = new CmsgWriter(msg);
                AppendInq(s, fd, ref cmsgs);
                msg->ControlLen = cmsgs.Used;
            }
            catch (Exception e) { return Fail(e); }
        }
        return r;
    }

    /// <summary>
    /// recvmsg(MSG_ERRQUEUE) (ip_recv_error): one record per call, as a cmsghdr{SOL_IP, IP_RECVERR} whose data is
    /// struct sock_extended_err followed by the offender's sockaddr_in (zeroed: a zero-copy completion has no
    /// address); msg_flags MSG_ERRQUEUE (and MSG_CTRUNC when the control buffer is short), no name, 0 bytes.
    /// EAGAIN when the queue is empty, the msghdr untouched.
    /// </summary>
    private static nint RecvmsgErrQueue(nint ud, int fd, MsgHdr* msg)
    {
        try
        {
            var s = From(ud);
            SockExtendedErr err;
            int r;
            lock (s.Gate) r = s.ReadErrorQueue(fd, out err);
            if (r < 0) return Ret(r);
            Span<byte> data = stackalloc byte[RecvErrSize];
            data.Clear();
            MemoryMarshal.AsBytes(new ReadOnlySpan<SockExtendedErr>(in err)).CopyTo(data);
            msg->NameLen = 0;
            msg->Flags = MSG_ERRQUEUE;
            var cmsgs = new CmsgWriter(msg);
            cmsgs.Put(SOL_IP, IP_RECVERR, data);
            msg->ControlLen = cmsgs.Used;
            return 0;
        }
        catch (Exception e) { return Fail(e); }
    }

    // TCP_INQ: one cmsg (SOL_TCP, TCP_CM_INQ) with the bytes still queued after this read.
    private static void AppendInq(NativeStack s, int fd, ref CmsgWriter cmsgs)
    {
        int left;
        bool inq;
        lock (s.Gate) inq = s.InqRequested(fd, out left);
        if (inq) cmsgs.Put(IPPROTO_TCP, TCP_INQ, new ReadOnlySpan<byte>(&left, sizeof(int)));
    }

    /// <summary>
    /// recvmsg(MSG_SOCK_DEVMEM) (tcp_recvmsg_dmabuf): the iov's length bounds the read, dmabuf bytes included;
    /// bytes in host memory are copied into the iov, and each record becomes a cmsghdr{SOL_SOCKET,
    /// SO_DEVMEM_LINEAR or SO_DEVMEM_DMABUF} + struct dmabuf_cmsg. Records are never truncated
    /// (put_cmsg_notrunc): the read stops before a record that does not fit, ETOOSMALL when none does, and
    /// MSG_CTRUNC is not set for them. The result is the bytes read.
    /// </summary>
    private static nint RecvmsgDevmem(nint ud, int fd, MsgHdr* msg, int flags)
    {
        try
        {
            var s = From(ud);
            var iov = (IoVec*)msg->Iov;
            int iovcnt = (int)msg->IovLen;
            if (iovcnt < 0 || iovcnt > 1024) return Err(Errno.EINVAL);
            if (iov == null && iovcnt > 0) return Err(Errno.EFAULT);
            long total = 0;
            for (int i = 0; i < iovcnt; i++) total += (long)iov[i].Len;
            if (total > int.MaxValue) return Err(Errno.EINVAL);
            // Every record carries at least one byte, so no read needs more records than the iov has bytes.
            int capacity = msg->Control == 0 ? 0 : (int)Math.Min((long)(msg->ControlLen / (nuint)CmsgSpace(DmabufCmsgSize)), total);
            var tmp = NativeStack.Rent((int)total);
            var records = NativeStack.RentRecords(capacity);
            try
            {
                int r, linear, count;
                lock (s.Gate) r = s.ReadDevmem(fd, tmp.AsSpan(0, (int)total), records.AsSpan(0, capacity), flags, out linear, out count);
                if (r < 0) return Ret(r);
                for (int i = 0, off = 0; i < iovcnt && off < linear; i++)
                {
                    int n = (int)Math.Min((long)iov[i].Len, linear - off);
                    tmp.AsSpan(off, n).CopyTo(new Span<byte>((void*)iov[i].Base, n));
                    off += n;
                }
                msg->NameLen = 0;
                msg->Flags = 0;
                var cmsgs = new CmsgWriter(msg);
                for (int i = 0; i < count; i++)
                {
                    var d = records[i].Data;
                    cmsgs.Put(SOL_SOCKET, records[i].Type, new ReadOnlySpan<byte>(&d, DmabufCmsgSize));
                }
                AppendInq(s, fd, ref cmsgs);
                msg->ControlLen = cmsgs.Used;
                return r;
            }
            finally
            {
                NativeStack.Return(tmp);
                NativeStack.ReturnRecords(records);
            }
        }
        catch (Exception e) { return Fail(e); }
    }

    private static nint RecvIov(nint ud, int fd, IoVec* iov, int iovcnt, int flags)
    {
        try
        {
            var s = From(ud);
            if (iovcnt < 0 || iovcnt > 1024) return Err(Errno.EINVAL);
            if (iov == null && iovcnt > 0) return Err(Errno.EFAULT);
            long total = 0;
            for (int i = 0; i < iovcnt; i++) total += (long)iov[i].Len;
            if (total > int.MaxValue) return Err(Errno.EINVAL);
            var tmp = NativeStack.Rent((int)total);
            try
            {
                int r;
                lock (s.Gate) r = s.Read(fd, tmp.AsSpan(0, (int)total), flags);
                if (r < 0) return Ret(r);
                int off = 0;
                for (int i = 0; i < iovcnt && off < r; i++)
                {
                    int n = (int)Math.Min((long)iov[i].Len, r - off);
                    tmp.AsSpan(off, n).CopyTo(new Span<byte>((void*)iov[i].Base, n));
                    off += n;
                }
                return r;
            }
            finally { NativeStack.Return(tmp); }
        }
        catch (Exception e) { return Fail(e); }
    }

    // ------------------------------------------------------------------ writes

    [UnmanagedCallersOnly(EntryPoint = "netmem_write")]
    public static nint Write(nint ud, int fd, byte* buf, nuint count) => SendCore(ud, fd, buf, count, 0);

    [UnmanagedCallersOnly(EntryPoint = "netmem_send")]
    public static nint Send(nint ud, int fd, byte* buf, nuint len, int flags) => SendCore(ud, fd, buf, len, flags);

    [UnmanagedCallersOnly(EntryPoint = "netmem_sendto")]
    public static nint Sendto(nint ud, int fd, byte* buf, nuint len, int flags, byte* dst, uint dstlen)
    {
        // A connected stream socket ignores the destination (Linux: EISCONN only for some protocols); MSG_FASTOPEN
        // on an unconnected one connects to it.
        return SendCore(ud, fd, buf, len, flags, dst, dstlen);
    }

    private static nint SendCore(nint ud, int fd, byte* buf, nuint len, int flags, byte* dst = null, uint dstlen = 0)
    {
        try
        {
            var s = From(ud);
            var to = dst == null ? default : new ReadOnlySpan<byte>(dst, (int)Math.Min(dstlen, 128u));
            // An unreadable buffer fails where Linux would copy from it: after the checks, and after a Fast Open connect.
            bool fault = buf == null && len > 0;
            if ((flags & MSG_ZEROCOPY) != 0 && len <= int.MaxValue)
            {
                lock (s.Gate)
                {
                    if (s.ZeroCopyApplies(fd, flags, (long)len))
                    {
                        Span<UserIov> one = [new UserIov((nint)buf, (int)len)];
                        return Ret(s.Write(fd, default, flags, to, fault, ZeroCopyPayload.User(one)));
                    }
                }
            }
            var data = fault ? default : new ReadOnlySpan<byte>(buf, (int)Math.Min(len, (nuint)int.MaxValue));
            lock (s.Gate) return Ret(s.Write(fd, data, flags, to, fault));
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_writev")]
    public static nint Writev(nint ud, int fd, IoVec* iov, int iovcnt) => SendIov(ud, fd, iov, iovcnt, 0);

    [UnmanagedCallersOnly(EntryPoint = "netmem_sendmsg")]
    public static nint Sendmsg(nint ud, int fd, MsgHdr* msg, int flags)
    {
        if (msg == null) return Err(Errno.EFAULT);
        if (msg->ControlLen > 0)
        {
            // sock_cmsg_send: a malformed control buffer or an unknown SOL_SOCKET cmsg fails the send with EINVAL.
            int r = ParseSendCmsgs(msg, out bool devmem, out uint dmabufId);
            if (r < 0) return Err((Errno)(-r));
            if (devmem) return SendmsgDevmem(ud, fd, msg, flags, dmabufId);
        }
        return SendIov(ud, fd, (IoVec*)msg->Iov, (int)msg->IovLen, flags, (byte*)msg->Name, msg->NameLen);
    }

    /// <summary>
    /// The SOL_SOCKET cmsgs of a send (for_each_cmsghdr + CMSG_OK + __sock_cmsg_send): SCM_DEVMEM_DMABUF
    /// (exactly CMSG_LEN(4): a u32 dmabuf id); SO_MARK, SO_PRIORITY, SCM_TXTIME, SO_TIMESTAMPING_OLD, SCM_TS_OPT_ID,
    /// SCM_RIGHTS and SCM_CREDENTIALS are taken and ignored here; any other SOL_SOCKET type or a cmsg that does not fit
    /// is -EINVAL. Other levels are skipped, as the kernel skips them for TCP.
    /// </summary>
    private static int ParseSendCmsgs(MsgHdr* msg, out bool devmem, out uint dmabufId)
    {
        devmem = false;
        dmabufId = 0;
        if (msg->Control == 0) return msg->ControlLen == 0 ? 0 : -(int)Errno.EFAULT;
        nuint size = msg->ControlLen, at = 0;
        while (at + (nuint)CmsgHdrSize <= size)
        {
            byte* c = (byte*)msg->Control + at;
            nuint len = *(nuint*)c;
            if (len < (nuint)CmsgHdrSize || len > size - at) return -(int)Errno.EINVAL; // CMSG_OK
            int level = *(int*)(c + 8), type = *(int*)(c + 12);
            if (level == SOL_SOCKET)
            {
                switch (type)
                {
                    case SCM_DEVMEM_DMABUF:
                        if (len != (nuint)CmsgLen(sizeof(uint))) return -(int)Errno.EINVAL;
                        devmem = true;
                        dmabufId = *(uint*)(c + CmsgHdrSize);
                        break;
                    case SO_MARK: case SO_PRIORITY: case SCM_TXTIME: case SO_TIMESTAMPING_OLD: case SCM_TS_OPT_ID:
                    case SCM_RIGHTS: case SCM_CREDENTIALS:
                        break;
                    default: return -(int)Errno.EINVAL;
                }
            }
            at += (nuint)CmsgAlign((int)Math.Min(len, (nuint)int.MaxValue - 8));
        }
        return 0;
    }

    /// <summary>
    /// sendmsg with SCM_DEVMEM_DMABUF (devmem TX): needs MSG_ZEROCOPY (EINVAL otherwise, as the kernel); each iov
    /// element's iov_base is an offset into the TX binding's dma-buf. SO_ZEROCOPY off, an unknown or RX id: EINVAL;
    /// the binding of another device: ENODEV; a range past the dma-buf: EFAULT (TcpConnection.SendDevmem).
    /// </summary>
    private static nint SendmsgDevmem(nint ud, int fd, MsgHdr* msg, int flags, uint dmabufId)
    {
        try
        {
            var s = From(ud);
            if ((flags & MSG_ZEROCOPY) == 0) return Err(Errno.EINVAL);
            var iov = (IoVec*)msg->Iov;
            int iovcnt = (int)msg->IovLen;
            if (iovcnt < 0 || (nuint)iovcnt != msg->IovLen || iovcnt > 1024) return Err(Errno.EINVAL);
            if (iov == null && iovcnt > 0) return Err(Errno.EFAULT);
            var ranges = System.Buffers.ArrayPool<DmabufIov>.Shared.Rent(Math.Max(iovcnt, 1));
            try
            {
                long total = 0;
                int n = 0;
                for (int i = 0; i < iovcnt; i++)
                {
                    if (iov[i].Len > int.MaxValue) return Err(Errno.EINVAL);
                    total += (long)iov[i].Len;
                    if (iov[i].Len > 0) ranges[n++] = new DmabufIov((ulong)iov[i].Base, (int)iov[i].Len);
                }
                if (total > int.MaxValue) return Err(Errno.EINVAL);
                var to = msg->Name == 0 ? default : new ReadOnlySpan<byte>((byte*)msg->Name, (int)Math.Min(msg->NameLen, 128u));
                lock (s.Gate) return Ret(s.Write(fd, default, flags, to, fault: false, ZeroCopyPayload.Devmem(dmabufId, ranges.AsSpan(0, n))));
            }
            finally { System.Buffers.ArrayPool<DmabufIov>.Shared.Return(ranges); }
        }
        catch (Exception e) { return Fail(e); }
    }

    private static nint SendIov(nint ud, int fd, IoVec* iov, int iovcnt, int flags, byte* dst = null, uint dstlen = 0)
    {
        try
        {
            var s = From(ud);
            if (iovcnt < 0 || iovcnt > 1024) return Err(Errno.EINVAL);
            if (iov == null && iovcnt > 0) return Err(Errno.EFAULT);
            long total = 0;
            for (int i = 0; i < iovcnt; i++) total += (long)iov[i].Len;
            if (total > int.MaxValue) return Err(Errno.EINVAL);
            if ((flags & MSG_ZEROCOPY) != 0)
            {
                lock (s.Gate)
                {
                    if (s.ZeroCopyApplies(fd, flags, total)) return SendIovZeroCopy(s, fd, iov, iovcnt, flags, dst, dstlen);
                }
            }
            var tmp = NativeStack.Rent((int)total);
            try
            {
                int off = 0;
                bool fault = false;
                for (int i = 0; i < iovcnt; i++)
                {
                    int n = (int)iov[i].Len;
                    if (iov[i].Base == 0 && n > 0) { fault = true; break; }
                    new ReadOnlySpan<byte>((void*)iov[i].Base, n).CopyTo(tmp.AsSpan(off, n));
                    off += n;
                }
                var to = dst == null ? default : new ReadOnlySpan<byte>(dst, (int)Math.Min(dstlen, 128u));
                lock (s.Gate) return Ret(s.Write(fd, fault ? default : tmp.AsSpan(0, off), flags, to, fault));
            }
            finally { NativeStack.Return(tmp); }
        }
        catch (Exception e) { return Fail(e); }
    }

    /// <summary>
    /// sendmsg(MSG_ZEROCOPY) with SO_ZEROCOPY set (gate held): the iov's native addresses go to the connection
    /// as they are, each element its own frag; the caller keeps the memory until its completion is read.
    /// </summary>
    private static nint SendIovZeroCopy(NativeStack s, int fd, IoVec* iov, int iovcnt, int flags, byte* dst, uint dstlen)
    {
        var user = System.Buffers.ArrayPool<UserIov>.Shared.Rent(Math.Max(iovcnt, 1));
        try
        {
            int n = 0;
            bool fault = false;
            for (int i = 0; i < iovcnt; i++)
            {
                if (iov[i].Len == 0) continue;
                if (iov[i].Base == 0) { fault = true; break; }
                user[n++] = new UserIov(iov[i].Base, (int)iov[i].Len);
            }
            var to = dst == null ? default : new ReadOnlySpan<byte>(dst, (int)Math.Min(dstlen, 128u));
            return Ret(s.Write(fd, default, flags, to, fault, fault ? default : ZeroCopyPayload.User(user.AsSpan(0, n))));
        }
        finally { System.Buffers.ArrayPool<UserIov>.Shared.Return(user); }
    }

    // ------------------------------------------------------------------ control

    [UnmanagedCallersOnly(EntryPoint = "netmem_fcntl")]
    public static int Fcntl(nint ud, int fd, int cmd, nint arg)
    {
        try { var s = From(ud); lock (s.Gate) return Ret(s.Fcntl(fd, cmd, arg)); }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_ioctl")]
    public static int Ioctl(nint ud, int fd, nuint request, nint arg)
    {
        try
        {
            var s = From(ud);
            lock (s.Gate)
            {
                if ((uint)request == FIONBIO)
                {
                    if (arg == 0) return Err(Errno.EFAULT);
                    return Ret(s.SetNonBlocking(fd, *(int*)arg != 0));
                }
                int r = s.Ioctl(fd, (uint)request, out int value);
                if (r < 0) return Ret(r);
                if (arg == 0) return Err(Errno.EFAULT);
                *(int*)arg = value;
                return 0;
            }
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_close")]
    public static int Close(nint ud, int fd)
    {
        try { var s = From(ud); lock (s.Gate) return Ret(s.Close(fd)); }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_shutdown")]
    public static int Shutdown(nint ud, int fd, int how)
    {
        try { var s = From(ud); lock (s.Gate) return Ret(s.Shutdown(fd, how)); }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_getsockopt")]
    public static int GetSockOpt(nint ud, int fd, int level, int name, byte* val, uint* len)
    {
        try
        {
            var s = From(ud);
            if (len == null || (val == null && *len > 0)) return Err(Errno.EFAULT);
            if ((int)*len < 0) return Err(Errno.EINVAL);
            lock (s.Gate)
            {
                int r = s.GetSockOpt(fd, level, name, new Span<byte>(val, (int)*len));
                if (r < 0) return Ret(r);
                *len = (uint)r;
                return 0;
            }
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_setsockopt")]
    public static int SetSockOpt(nint ud, int fd, int level, int name, byte* val, uint len)
    {
        try
        {
            var s = From(ud);
            if (val == null && len > 0) return Err(Errno.EFAULT);
            lock (s.Gate) return Ret(s.SetSockOpt(fd, level, name, new ReadOnlySpan<byte>(val, (int)Math.Min(len, 4096u))));
        }
        catch (Exception e) { return Fail(e); }
    }

    // ------------------------------------------------------------------ readiness

    [UnmanagedCallersOnly(EntryPoint = "netmem_poll")]
    public static int Poll(nint ud, PollFd* fds, nuint nfds, int timeoutMs)
    {
        try
        {
            var s = From(ud);
            if (nfds > 4096) return Err(Errno.EINVAL);
            if (fds == null && nfds > 0) return Err(Errno.EFAULT);
            var list = new (int Fd, short Events, short Revents)[(int)nfds];
            for (int i = 0; i < list.Length; i++) list[i] = (fds[i].Fd, fds[i].Events, 0);
            int r;
            lock (s.Gate) r = s.Poll(list, timeoutMs);
            for (int i = 0; i < list.Length; i++) fds[i].Revents = list[i].Revents;
            return Ret(r);
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_epoll_create")]
    public static int EpollCreate(nint ud, int size)
    {
        try { var s = From(ud); lock (s.Gate) return Ret(s.EpollCreate(size)); }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_epoll_ctl")]
    public static int EpollCtl(nint ud, int epfd, int op, int fd, EpollEvent* ev)
    {
        try
        {
            var s = From(ud);
            if (ev == null && op != EPOLL_CTL_DEL) return Err(Errno.EFAULT);
            uint events = ev == null ? 0 : ev->Events;
            ulong data = ev == null ? 0 : ev->Data;
            lock (s.Gate) return Ret(s.EpollCtl(epfd, op, fd, events, data));
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_epoll_wait")]
    public static int EpollWait(nint ud, int epfd, EpollEvent* events, int maxevents, int timeoutMs)
    {
        try
        {
            var s = From(ud);
            if (maxevents <= 0 || maxevents > 65536) return Err(Errno.EINVAL);
            if (events == null) return Err(Errno.EFAULT);
            var list = new (uint Events, ulong Data)[maxevents];
            int r;
            lock (s.Gate) r = s.EpollWait(epfd, list, timeoutMs);
            for (int i = 0; i < r; i++) events[i] = new EpollEvent { Events = list[i].Events, Data = list[i].Data };
            return Ret(r);
        }
        catch (Exception e) { return Fail(e); }
    }

    // ------------------------------------------------------------------ device memory (docs/native.md)

    /// <summary><c>int netmem_udmabuf_create(void *h, size_t size)</c>: a memfd-backed dma-buf; the fd is the memfd (mmap it to read payload).</summary>
    [UnmanagedCallersOnly(EntryPoint = "netmem_udmabuf_create")]
    public static int UdmabufCreate(nint ud, nuint size)
    {
        try { var s = From(ud); lock (s.Gate) return Ret(size > long.MaxValue ? -(int)Errno.EINVAL : s.UdmabufCreate((long)size)); }
        catch (Exception e) { return Fail(e); }
    }

    /// <summary><c>int netmem_devmem_create(void *h, size_t size)</c>: a dma-buf of device memory the CPU cannot read (only netmem_dmabuf_read verifies it).</summary>
    [UnmanagedCallersOnly(EntryPoint = "netmem_devmem_create")]
    public static int DevmemCreate(nint ud, nuint size)
    {
        try { var s = From(ud); lock (s.Gate) return Ret(size > long.MaxValue ? -(int)Errno.EINVAL : s.DevmemCreate((long)size)); }
        catch (Exception e) { return Fail(e); }
    }

    /// <summary><c>ssize_t netmem_dmabuf_read(void *h, int dmabuf_fd, uint64_t offset, void *buf, size_t len)</c>: verification read of either kind.</summary>
    [UnmanagedCallersOnly(EntryPoint = "netmem_dmabuf_read")]
    public static nint DmabufRead(nint ud, int fd, ulong offset, byte* buf, nuint len)
    {
        try
        {
            var s = From(ud);
            if (buf == null && len > 0) return Err(Errno.EFAULT);
            if (len > int.MaxValue || offset > long.MaxValue) return Err(Errno.EINVAL);
            lock (s.Gate) return Ret(s.DmabufRead(fd, (long)offset, new Span<byte>(buf, (int)len)));
        }
        catch (Exception e) { return Fail(e); }
    }

    /// <summary><c>unsigned netmem_if_nametoindex(void *h, const char *name)</c>: the instance's device (0 and ENODEV otherwise).</summary>
    [UnmanagedCallersOnly(EntryPoint = "netmem_if_nametoindex")]
    public static uint IfNameToIndex(nint ud, byte* name)
    {
        try
        {
            var s = From(ud);
            string? n = name == null ? null : Marshal.PtrToStringUTF8((nint)name);
            if (n == s.Host.Netdev.Name) return (uint)s.Host.Netdev.Ifindex;
            Marshal.SetLastSystemError((int)Errno.ENODEV);
            return 0;
        }
        catch (Exception e) { Fail(e); return 0; }
    }

    /// <summary>
    /// <c>int netmem_bind_rx(void *h, int ifindex, int dmabuf_fd, const struct netdev_queue_id *queues, unsigned n,
    /// uint32_t *dmabuf_id)</c>: the netdev family's bind-rx (NETDEV_CMD_BIND_RX). 0 and *dmabuf_id, or -1/errno.
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "netmem_bind_rx")]
    public static int BindRx(nint ud, int ifindex, int dmabufFd, NetdevQueueId* queues, uint n, uint* dmabufId)
    {
        try
        {
            var s = From(ud);
            if (dmabufId == null || (queues == null && n > 0)) return Err(Errno.EFAULT);
            if (n > 4096) return Err(Errno.EINVAL);
            var q = new (uint Type, uint Id)[n];
            for (int i = 0; i < q.Length; i++) q[i] = (queues[i].Type, queues[i].Id);
            long r;
            lock (s.Gate) r = s.BindRx(ifindex, dmabufFd, q);
            if (r < 0) return Ret((int)r);
            *dmabufId = (uint)r;
            return 0;
        }
        catch (Exception e) { return Fail(e); }
    }

    /// <summary><c>int netmem_unbind_rx(void *h, uint32_t dmabuf_id)</c>: what closing the bind-rx netlink socket does (netmem_free unbinds the rest).</summary>
    [UnmanagedCallersOnly(EntryPoint = "netmem_unbind_rx")]
    public static int UnbindRx(nint ud, uint dmabufId)
    {
        try { var s = From(ud); lock (s.Gate) return Ret(s.Unbind(dmabufId)); }
        catch (Exception e) { return Fail(e); }
    }

    /// <summary>
    /// <c>int netmem_bind_tx(void *h, int ifindex, int dmabuf_fd, uint32_t *dmabuf_id)</c>: the netdev family's bind-tx
    /// (NETDEV_CMD_BIND_TX). 0 and *dmabuf_id (what sendmsg's SCM_DEVMEM_DMABUF names), or -1/errno.
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "netmem_bind_tx")]
    public static int BindTx(nint ud, int ifindex, int dmabufFd, uint* dmabufId)
    {
        try
        {
            var s = From(ud);
            if (dmabufId == null) return Err(Errno.EFAULT);
            long r;
            lock (s.Gate) r = s.BindTx(ifindex, dmabufFd);
            if (r < 0) return Ret((int)r);
            *dmabufId = (uint)r;
            return 0;
        }
        catch (Exception e) { return Fail(e); }
    }

    /// <summary><c>int netmem_unbind_tx(void *h, uint32_t dmabuf_id)</c>: what closing the bind-tx netlink socket does; the memory goes once no frag references it.</summary>
    [UnmanagedCallersOnly(EntryPoint = "netmem_unbind_tx")]
    public static int UnbindTx(nint ud, uint dmabufId)
    {
        try { var s = From(ud); lock (s.Gate) return Ret(s.Unbind(dmabufId, tx: true)); }
        catch (Exception e) { return Fail(e); }
    }

    /// <summary><c>int netmem_binding_info(void *h, uint32_t dmabuf_id, struct netmem_binding_info *info)</c>.</summary>
    [UnmanagedCallersOnly(EntryPoint = "netmem_binding_info")]
    public static int BindingInfo(nint ud, uint dmabufId, NetmemBindingInfo* info)
    {
        try
        {
            var s = From(ud);
            if (info == null) return Err(Errno.EFAULT);
            lock (s.Gate)
            {
                int r = s.BindingInfo(dmabufId, out var i);
                if (r < 0) return Ret(r);
                *info = i;
                return 0;
            }
        }
        catch (Exception e) { return Fail(e); }
    }

    // ------------------------------------------------------------------ device and time

    [UnmanagedCallersOnly(EntryPoint = "netmem_netdev_send")]
    public static int NetdevSend(nint ud, byte* buf, nuint count)
    {
        try
        {
            var s = From(ud);
            if (buf == null || count > 65535) return Err(Errno.EINVAL);
            lock (s.Gate) return Ret(s.NetdevSend(new ReadOnlySpan<byte>(buf, (int)count)));
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_netdev_receive")]
    public static int NetdevReceive(nint ud, byte* buf, nuint* count, long* timeUs)
    {
        try
        {
            var s = From(ud);
            if (buf == null || count == null || timeUs == null) return Err(Errno.EFAULT);
            lock (s.Gate)
            {
                if (!s.NetdevReceive(out var p))
                {
                    // Nothing will come: hand packetdrill an unparseable datagram so the script fails
                    // now with a parse error instead of spinning for ever.
                    Console.Error.WriteLine($"netmem: the stack sent nothing within {NativeStack.ReceiveHorizonUs / 1_000_000} s of virtual time");
                    int n0 = (int)Math.Min(*count, 20u);
                    new Span<byte>(buf, n0).Clear();
                    *count = (nuint)n0;
                    *timeUs = s.WallClockUs;
                    return 0;
                }
                int n = (int)Math.Min(*count, (nuint)p.Bytes.Length);
                p.Bytes.AsSpan(0, n).CopyTo(new Span<byte>(buf, n));
                *count = (nuint)n;
                *timeUs = s.Host.Clock.Epoch.ToUnixTimeMilliseconds() * 1000 + p.TimeUs;
                return 0;
            }
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_usleep")]
    public static int Usleep(nint ud, uint us)
    {
        try { var s = From(ud); lock (s.Gate) return Ret(s.Usleep(us)); }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_gettimeofday")]
    public static int Gettimeofday(nint ud, long* tv, void* tz)
    {
        try
        {
            var s = From(ud);
            if (tv == null) return 0;
            long now;
            lock (s.Gate) now = s.ReadWallClockUs();
            tv[0] = now / 1_000_000;
            tv[1] = now % 1_000_000;
            return 0;
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "netmem_pipe")]
    public static int Pipe(nint ud, int* fds) => Err(Errno.ENOSYS);

    [UnmanagedCallersOnly(EntryPoint = "netmem_splice")]
    public static nint Splice(nint ud, int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags) => Err(Errno.ENOSYS);
}
