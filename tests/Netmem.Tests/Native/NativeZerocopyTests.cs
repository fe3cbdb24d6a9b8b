using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Netmem.Tests.Virtual;
using Netmem.Wire;
using static Netmem.Tests.Native.LinuxAbi;

namespace Netmem.Tests.Native;

/// <summary>
/// MSG_ZEROCOPY through libnetmem.so's C ABI, as a C sender uses it: SO_ZEROCOPY, send/sendmsg with the flag
/// from native memory, completions read with recvmsg(MSG_ERRQUEUE) and parsed byte by byte as the CMSG_*
/// macros and struct sock_extended_err lay them out, POLLERR from poll, and epoll's edge-triggered and
/// one-shot reports of the error queue. The instance's device copies frames out (as tun does), so every
/// completion says SO_EE_CODE_ZEROCOPY_COPIED, as the kernel's does in packetdrill's tcp/zerocopy scripts.
/// </summary>
public sealed unsafe class NativeZerocopyTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);

    private sealed class Api : IDisposable
    {
        public readonly nint H;
        public readonly delegate* unmanaged<nint, int, int, int, int> Socket = (delegate* unmanaged<nint, int, int, int, int>)NetmemNative.Export("netmem_socket");
        public readonly delegate* unmanaged<nint, int, byte*, uint, int> Bind = (delegate* unmanaged<nint, int, byte*, uint, int>)NetmemNative.Export("netmem_bind");
        public readonly delegate* unmanaged<nint, int, int, int> Listen = (delegate* unmanaged<nint, int, int, int>)NetmemNative.Export("netmem_listen");
        public readonly delegate* unmanaged<nint, int, byte*, uint*, int> Accept = (delegate* unmanaged<nint, int, byte*, uint*, int>)NetmemNative.Export("netmem_accept");
        public readonly delegate* unmanaged<nint, int, byte*, nuint, int, nint> Send = (delegate* unmanaged<nint, int, byte*, nuint, int, nint>)NetmemNative.Export("netmem_send");
        public readonly delegate* unmanaged<nint, int, MsgHdr*, int, nint> Sendmsg = (delegate* unmanaged<nint, int, MsgHdr*, int, nint>)NetmemNative.Export("netmem_sendmsg");
        public readonly delegate* unmanaged<nint, int, byte*, nuint, int, nint> Recv = (delegate* unmanaged<nint, int, byte*, nuint, int, nint>)NetmemNative.Export("netmem_recv");
        public readonly delegate* unmanaged<nint, int, MsgHdr*, int, nint> Recvmsg = (delegate* unmanaged<nint, int, MsgHdr*, int, nint>)NetmemNative.Export("netmem_recvmsg");
        public readonly delegate* unmanaged<nint, int, int> Close = (delegate* unmanaged<nint, int, int>)NetmemNative.Export("netmem_close");
        public readonly delegate* unmanaged<nint, int, int, int, byte*, uint*, int> GetSockOpt = (delegate* unmanaged<nint, int, int, int, byte*, uint*, int>)NetmemNative.Export("netmem_getsockopt");
        public readonly delegate* unmanaged<nint, int, int, int, byte*, uint, int> SetSockOpt = (delegate* unmanaged<nint, int, int, int, byte*, uint, int>)NetmemNative.Export("netmem_setsockopt");
        public readonly delegate* unmanaged<nint, long*, nuint, int, int> Poll = (delegate* unmanaged<nint, long*, nuint, int, int>)NetmemNative.Export("netmem_poll");
        public readonly delegate* unmanaged<nint, int, int> EpollCreate = (delegate* unmanaged<nint, int, int>)NetmemNative.Export("netmem_epoll_create");
        public readonly delegate* unmanaged<nint, int, int, int, byte*, int> EpollCtlRaw = (delegate* unmanaged<nint, int, int, int, byte*, int>)NetmemNative.Export("netmem_epoll_ctl");
        public readonly delegate* unmanaged<nint, int, byte*, int, int, int> EpollWaitRaw = (delegate* unmanaged<nint, int, byte*, int, int, int>)NetmemNative.Export("netmem_epoll_wait");
        public readonly delegate* unmanaged<nint, nuint, int> UdmabufCreate = (delegate* unmanaged<nint, nuint, int>)NetmemNative.Export("netmem_udmabuf_create");
        public readonly delegate* unmanaged<nint, byte*, uint> IfNameToIndex = (delegate* unmanaged<nint, byte*, uint>)NetmemNative.Export("netmem_if_nametoindex");
        public readonly delegate* unmanaged<nint, int, int, uint*, int> BindTx = (delegate* unmanaged<nint, int, int, uint*, int>)NetmemNative.Export("netmem_bind_tx");
        public readonly delegate* unmanaged<nint, uint, int> UnbindTx = (delegate* unmanaged<nint, uint, int>)NetmemNative.Export("netmem_unbind_tx");
        public readonly delegate* unmanaged<nint, uint, BindingInfo*, int> Info = (delegate* unmanaged<nint, uint, BindingInfo*, int>)NetmemNative.Export("netmem_binding_info");
        private readonly delegate* unmanaged<nint, byte*, nuint, int> _netdevSend = (delegate* unmanaged<nint, byte*, nuint, int>)NetmemNative.Export("netmem_netdev_send");
        private readonly delegate* unmanaged<nint, byte*, nuint*, long*, int> _netdevReceive = (delegate* unmanaged<nint, byte*, nuint*, long*, int>)NetmemNative.Export("netmem_netdev_receive");
        private readonly delegate* unmanaged<nint, void> _free = (delegate* unmanaged<nint, void>)NetmemNative.Export("netmem_free");

        public Api()
        {
            var create = (delegate* unmanaged<byte*, nint>)NetmemNative.Export("netmem_create");
            H = create(null);
            Assert.NotEqual(0, H);
        }

        public void Dispose() => _free(H);

        public TcpRepr Receive(out byte[] payload)
        {
            var buf = new byte[65536];
            nuint n = (nuint)buf.Length;
            long t;
            fixed (byte* p = buf) Assert.Equal(0, _netdevReceive(H, p, &n, &t));
            return IpPacketBuilder.ParseSent(buf[..(int)n], out _, out _, out payload);
        }

        public void Inject(byte[] datagram)
        {
            fixed (byte* p = datagram) Assert.Equal(0, _netdevSend(H, p, (nuint)datagram.Length));
        }

        public int EpollCtl(int ep, int op, int fd, uint events, ulong data)
        {
            byte* ev = stackalloc byte[12];
            *(uint*)ev = events;
            *(ulong*)(ev + 4) = data;
            return EpollCtlRaw(H, ep, op, fd, ev);
        }

        /// <summary>epoll_wait(timeout 0) for at most one event: (count, events, data).</summary>
        public (int N, uint Events, ulong Data) EpollWait(int ep)
        {
            byte* ev = stackalloc byte[12];
            int n = EpollWaitRaw(H, ep, ev, 1, 0);
            return (n, *(uint*)ev, *(ulong*)(ev + 4));
        }

        public short PollEvents(int fd, short events)
        {
            long pfd = (uint)fd | ((long)(ushort)events << 32);
            Assert.True(Poll(H, &pfd, 1, 0) >= 0);
            return (short)(pfd >> 48);
        }

        public void SetInt(int fd, int level, int name, int value) =>
            Assert.Equal(0, SetSockOpt(H, fd, level, name, (byte*)&value, 4));

        public int GetInt(int fd, int level, int name)
        {
            int v = -1;
            uint len = 4;
            Assert.Equal(0, GetSockOpt(H, fd, level, name, (byte*)&v, &len));
            Assert.Equal(4u, len);
            return v;
        }
    }

    /// <summary><c>struct netmem_binding_info</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct BindingInfo
    {
        public uint DmabufId, Ifindex, NetIovs, NetIovsFree;
        public long PoolInflight, UserHeld;
        public uint Unbound, Freed;
    }

    /// <summary>One MSG_ERRQUEUE read: the result, errno, msg_flags, msg_controllen and the control buffer.</summary>
    private readonly record struct ErrRead(long Result, int Errno, int Flags, nuint ControlLen, byte[] Control);

    private static ErrRead ReadErrQueue(Api api, int fd, int controlLen = 64, int flagsBefore = 0x7777)
    {
        var control = new byte[Math.Max(controlLen, 1)];
        byte dummy;
        var iov = new IoVec { Base = &dummy, Len = 0 };
        fixed (byte* cp = control)
        {
            var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = controlLen == 0 ? null : cp, ControlLen = (nuint)controlLen, Flags = flagsBefore };
            long r = api.Recvmsg(api.H, fd, &msg, MSG_ERRQUEUE);
            int e = NetmemNative.Errno;
            return new ErrRead(r, r < 0 ? e : 0, msg.Flags, msg.ControlLen, control[..controlLen]);
        }
    }

    /// <summary>Asserts one IP_RECVERR cmsg carrying a zero-copy completion of ids [lo, hi] (COPIED unless <paramref name="copied"/> is false), and nothing after it.</summary>
    private static void AssertCompletion(ErrRead r, uint lo, uint hi, bool copied = true)
    {
        Assert.Equal(0, r.Result);
        Assert.Equal(MSG_ERRQUEUE, r.Flags);
        Assert.Equal((nuint)(CmsgHdr + RecvErrSize), r.ControlLen); // CMSG_SPACE(32) = CMSG_LEN(32) = 48
        var c = r.Control.AsSpan();
        Assert.Equal((long)(CmsgHdr + RecvErrSize), BinaryPrimitives.ReadInt64LittleEndian(c)); // cmsg_len
        Assert.Equal(SOL_IP, BinaryPrimitives.ReadInt32LittleEndian(c[8..]));
        Assert.Equal(IP_RECVERR, BinaryPrimitives.ReadInt32LittleEndian(c[12..]));
        var ee = c[CmsgHdr..];
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(ee));      // ee_errno
        Assert.Equal(SO_EE_ORIGIN_ZEROCOPY, ee[4]);                        // ee_origin
        Assert.Equal(0, ee[5]);                                             // ee_type
        Assert.Equal(copied ? SO_EE_CODE_ZEROCOPY_COPIED : 0, ee[6]);      // ee_code
        Assert.Equal(0, ee[7]);                                             // ee_pad
        Assert.Equal(lo, BinaryPrimitives.ReadUInt32LittleEndian(ee[8..]));  // ee_info
        Assert.Equal(hi, BinaryPrimitives.ReadUInt32LittleEndian(ee[12..])); // ee_data
        Assert.True(ee.Slice(SockExtendedErrSize, 16).IndexOfAnyExcept((byte)0) < 0, "the offender sockaddr_in is zeroed");
    }

    private static void AssertEmpty(Api api, int fd)
    {
        var r = ReadErrQueue(api, fd);
        Assert.Equal(-1, r.Result);
        Assert.Equal(EAGAIN, r.Errno);
        Assert.Equal(0x7777, r.Flags); // an error return leaves the msghdr as it was
        Assert.Equal((nuint)64, r.ControlLen);
    }

    /// <summary>
    /// A listener on :8080 with SO_ZEROCOPY (when <paramref name="zerocopy"/>) and one passive open (the peer's MSS 1000).
    /// Returns the accepted fd; the listener and our ISN come out.
    /// </summary>
    private static int PassiveOpen(Api api, bool zerocopy, out int listener, out uint iss)
    {
        listener = api.Socket(api.H, AF_INET, SOCK_STREAM, 0);
        if (zerocopy) api.SetInt(listener, SOL_SOCKET, SO_ZEROCOPY, 1);
        var sa = new byte[16];
        BinaryPrimitives.WriteUInt16LittleEndian(sa, AF_INET);
        BinaryPrimitives.WriteUInt16BigEndian(sa.AsSpan(2), 8080);
        fixed (byte* p = sa) Assert.Equal(0, api.Bind(api.H, listener, p, 16));
        Assert.Equal(0, api.Listen(api.H, listener, 1));
        var opts = new TcpOptions { MaxSegmentSize = 1000, SackPermitted = true, WindowScale = 7 };
        api.Inject(IpPacketBuilder.Tcp(Remote, Local, 40000, 8080, 0, 0, TcpFlags.Syn, 32792, opts));
        iss = api.Receive(out _).SequenceNumber;
        api.Inject(IpPacketBuilder.Tcp(Remote, Local, 40000, 8080, 1, iss + 1, TcpFlags.Ack, 257));
        int c = api.Accept(api.H, listener, null, null);
        Assert.True(c >= 3);
        return c;
    }

    /// <summary>The peer ACKs everything up to <paramref name="acked"/> bytes of our stream.</summary>
    private static void Ack(Api api, uint iss, uint acked) =>
        api.Inject(IpPacketBuilder.Tcp(Remote, Local, 40000, 8080, 1, iss + 1 + acked, TcpFlags.Ack, 257));

    /// <summary>Receives segments until <paramref name="length"/> payload bytes have come, checking sequence numbers; returns the bytes.</summary>
    private static byte[] ReceivePayload(Api api, uint iss, uint from, int length, List<(int Len, bool Psh)>? segments = null)
    {
        var got = new MemoryStream();
        while (got.Length < length)
        {
            var h = api.Receive(out var payload);
            Assert.Equal(iss + 1 + from + (uint)got.Length, h.SequenceNumber);
            segments?.Add((payload.Length, (h.Flags & TcpFlags.Psh) != 0));
            got.Write(payload);
        }
        Assert.Equal(length, got.Length);
        return got.ToArray();
    }

    /// <summary>send(MSG_ZEROCOPY) of <paramref name="data"/> from native memory; the memory is freed after the caller's check.</summary>
    private static byte* Native(byte[] data)
    {
        var p = (byte*)NativeMemory.Alloc((nuint)Math.Max(data.Length, 1));
        data.CopyTo(new Span<byte>(p, data.Length));
        return p;
    }

    [Fact]
    public void SoZerocopyTakesZeroOrOneAndAnAcceptedSocketInheritsIt()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        int fd = api.Socket(api.H, AF_INET, SOCK_STREAM, 0);
        Assert.Equal(0, api.GetInt(fd, SOL_SOCKET, SO_ZEROCOPY));
        int two = 2, minus = -1;
        Assert.Equal(-1, api.SetSockOpt(api.H, fd, SOL_SOCKET, SO_ZEROCOPY, (byte*)&two, 4));
        Assert.Equal(EINVAL, NetmemNative.Errno);
        Assert.Equal(-1, api.SetSockOpt(api.H, fd, SOL_SOCKET, SO_ZEROCOPY, (byte*)&minus, 4));
        Assert.Equal(EINVAL, NetmemNative.Errno);
        api.SetInt(fd, SOL_SOCKET, SO_ZEROCOPY, 1);
        Assert.Equal(1, api.GetInt(fd, SOL_SOCKET, SO_ZEROCOPY));
        api.SetInt(fd, SOL_SOCKET, SO_ZEROCOPY, 0);
        Assert.Equal(0, api.GetInt(fd, SOL_SOCKET, SO_ZEROCOPY));
        Assert.Equal(0, api.Close(api.H, fd));

        int c = PassiveOpen(api, zerocopy: true, out int l, out _);
        Assert.Equal(1, api.GetInt(l, SOL_SOCKET, SO_ZEROCOPY));
        Assert.Equal(1, api.GetInt(c, SOL_SOCKET, SO_ZEROCOPY));
        Assert.Equal(0, api.Close(api.H, c));
        Assert.Equal(0, api.Close(api.H, l));
    }

    [Fact]
    public void ErrorQueueReadsAreEagainWhileEmptyAndLeaveTheMsghdr()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        int fd = api.Socket(api.H, AF_INET, SOCK_STREAM, 0);
        api.SetInt(fd, SOL_SOCKET, SO_ZEROCOPY, 1);
        AssertEmpty(api, fd); // never connected: no queue to read
        // A zero-copy send on a socket that is not connected fails before it takes a send id (closed.pkt).
        byte b = 7;
        Assert.Equal(-1, api.Send(api.H, fd, &b, 1, MSG_ZEROCOPY));
        Assert.Equal(32, NetmemNative.Errno); // EPIPE
        AssertEmpty(api, fd);
        byte buf;
        Assert.Equal(-1, api.Recv(api.H, fd, &buf, 1, MSG_ERRQUEUE));
        Assert.Equal(EAGAIN, NetmemNative.Errno);

        int c = PassiveOpen(api, zerocopy: true, out int l, out _);
        AssertEmpty(api, c);
        Assert.Equal(0, api.PollEvents(c, POLLIN | POLLOUT) & POLLERR);
        var notSocket = ReadErrQueue(api, 1_000_000);
        Assert.Equal(EBADF, notSocket.Errno);
        Assert.Equal(0, api.Close(api.H, c));
        Assert.Equal(0, api.Close(api.H, l));
        Assert.Equal(0, api.Close(api.H, fd));
    }

    [Fact]
    public void ZeroCopySendCompletesIntoOneIpRecvErrRecordPerRead()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        int c = PassiveOpen(api, zerocopy: true, out int l, out uint iss);
        var data = new byte[4000];
        new Random(17).NextBytes(data);
        byte* p = Native(data);
        try
        {
            Assert.Equal(4000, (int)api.Send(api.H, c, p, 4000, MSG_ZEROCOPY));
            var segments = new List<(int, bool)>();
            Assert.Equal(data, ReceivePayload(api, iss, 0, 4000, segments));
            Assert.Equal([(4000, true)], segments);
            // Not ACKed yet: the memory is still the stack's, nothing to read, no POLLERR.
            AssertEmpty(api, c);
            Assert.Equal(0, api.PollEvents(c, POLLOUT) & POLLERR);
            Ack(api, iss, 4000);
            Assert.Equal(POLLERR | POLLOUT, api.PollEvents(c, POLLOUT));
            AssertCompletion(ReadErrQueue(api, c), 0, 0);
            AssertEmpty(api, c);
            Assert.Equal(POLLOUT, api.PollEvents(c, POLLOUT));

            // The next send takes id 1; two completions in a row coalesce into one record [1, 2].
            Assert.Equal(4000, (int)api.Send(api.H, c, p, 4000, MSG_ZEROCOPY));
            Assert.Equal(data, ReceivePayload(api, iss, 4000, 4000));
            Ack(api, iss, 8000);
            Assert.Equal(4000, (int)api.Send(api.H, c, p, 4000, MSG_ZEROCOPY));
            Assert.Equal(data, ReceivePayload(api, iss, 8000, 4000));
            Ack(api, iss, 12000);
            AssertCompletion(ReadErrQueue(api, c), 1, 2);
            AssertEmpty(api, c);

            // A control buffer too short for the record: MSG_CTRUNC, the record is gone all the same (put_cmsg).
            Assert.Equal(4000, (int)api.Send(api.H, c, p, 4000, MSG_ZEROCOPY));
            ReceivePayload(api, iss, 12000, 4000);
            Ack(api, iss, 16000);
            var cut = ReadErrQueue(api, c, controlLen: 24);
            Assert.Equal(0, cut.Result);
            Assert.Equal(MSG_ERRQUEUE | MSG_CTRUNC, cut.Flags);
            Assert.Equal((nuint)24, cut.ControlLen);
            Assert.Equal(24L, BinaryPrimitives.ReadInt64LittleEndian(cut.Control));
            Assert.Equal(SOL_IP, BinaryPrimitives.ReadInt32LittleEndian(cut.Control.AsSpan(8)));
            Assert.Equal(IP_RECVERR, BinaryPrimitives.ReadInt32LittleEndian(cut.Control.AsSpan(12)));
            Assert.Equal(SO_EE_ORIGIN_ZEROCOPY, cut.Control[CmsgHdr + 4]); // the first 8 bytes of the record made it
            AssertEmpty(api, c);
        }
        finally { NativeMemory.Free(p); }
        Assert.Equal(0, api.Close(api.H, c));
        Assert.Equal(0, api.Close(api.H, l));
    }

    [Fact]
    public void MsgZerocopyWithoutSoZerocopyIsAnOrdinaryCopyingSend()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        int c = PassiveOpen(api, zerocopy: false, out int l, out uint iss);
        var data = new byte[3000];
        new Random(3).NextBytes(data);
        byte* p = Native(data);
        try
        {
            Assert.Equal(3000, (int)api.Send(api.H, c, p, 3000, MSG_ZEROCOPY));
            new Span<byte>(p, 3000).Clear(); // a copying send owns its bytes already
            Assert.Equal(data, ReceivePayload(api, iss, 0, 3000));
            Ack(api, iss, 3000);
            AssertEmpty(api, c);
            Assert.Equal(0, api.PollEvents(c, POLLOUT) & POLLERR);
        }
        finally { NativeMemory.Free(p); }
        Assert.Equal(0, api.Close(api.H, c));
        Assert.Equal(0, api.Close(api.H, l));
    }

    [Fact]
    public void SendmsgZerocopyMakesEachIovElementAFrag()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        int c = PassiveOpen(api, zerocopy: true, out int l, out uint iss);
        api.SetInt(c, SOL_SOCKET, 7 /* SO_SNDBUF */, 2_000_000);
        // 18 one-byte elements, each from its own page: 17 frags fill a segment (it carries PSH), 1 more follows.
        const int n = 18;
        var mem = (byte*)NativeMemory.AlignedAlloc(n * 4096, 4096);
        try
        {
            var iov = stackalloc IoVec[n];
            for (int i = 0; i < n; i++)
            {
                mem[i * 4096] = (byte)(0xa0 + i);
                iov[i] = new IoVec { Base = mem + i * 4096, Len = 1 };
            }
            var msg = new MsgHdr { Iov = iov, IovLen = n };
            Assert.Equal(n, (int)api.Sendmsg(api.H, c, &msg, MSG_ZEROCOPY));
            var segments = new List<(int, bool)>();
            var first = ReceivePayload(api, iss, 0, 17, segments);
            Ack(api, iss, 17);
            var second = ReceivePayload(api, iss, 17, 1, segments);
            Ack(api, iss, 18);
            Assert.Equal([(17, true), (1, true)], segments);
            Assert.Equal(Enumerable.Range(0, n).Select(i => (byte)(0xa0 + i)), first.Concat(second));
            AssertCompletion(ReadErrQueue(api, c), 0, 0);
        }
        finally { NativeMemory.AlignedFree(mem); }
        Assert.Equal(0, api.Close(api.H, c));
        Assert.Equal(0, api.Close(api.H, l));
    }

    [Fact]
    public void EpollErrFiresOncePerReportEdgeTriggeredAndOneShotDisarmsUntilMod()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        int c = PassiveOpen(api, zerocopy: true, out int l, out uint iss);
        int et = api.EpollCreate(api.H, 1), once = api.EpollCreate(api.H, 1), lt = api.EpollCreate(api.H, 1);
        Assert.Equal(0, api.EpollCtl(et, EPOLL_CTL_ADD, c, EPOLLOUT | EPOLLET | EPOLLEXCLUSIVE, 1));
        Assert.Equal(0, api.EpollCtl(once, EPOLL_CTL_ADD, c, EPOLLOUT | EPOLLET | EPOLLONESHOT, 2));
        Assert.Equal(0, api.EpollCtl(lt, EPOLL_CTL_ADD, c, EPOLLOUT, 3));
        // Interested in EPOLLIN only (EPOLLERR always counts): a new ACK is no wake-up for it, only the error reports are.
        int inOnly = api.EpollCreate(api.H, 1);
        Assert.Equal(0, api.EpollCtl(inOnly, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLET, 5));
        Assert.Equal(0, api.EpollWait(inOnly).N);
        // EPOLLEXCLUSIVE: never with MOD, never on an item that has it, only with the wake-up events.
        Assert.Equal(-1, api.EpollCtl(et, EPOLL_CTL_MOD, c, EPOLLOUT, 1));
        Assert.Equal(EINVAL, NetmemNative.Errno);
        Assert.Equal(-1, api.EpollCtl(lt, EPOLL_CTL_MOD, c, EPOLLOUT | EPOLLEXCLUSIVE, 3));
        Assert.Equal(EINVAL, NetmemNative.Errno);
        int e2 = api.EpollCreate(api.H, 1);
        Assert.Equal(-1, api.EpollCtl(e2, EPOLL_CTL_ADD, c, EPOLLOUT | EPOLLEXCLUSIVE | EPOLLONESHOT, 4));
        Assert.Equal(EINVAL, NetmemNative.Errno);
        Assert.Equal(0, api.Close(api.H, e2));

        Assert.Equal((1, EPOLLOUT, 1ul), api.EpollWait(et));
        byte* p = Native(new byte[4000]);
        try
        {
            for (uint k = 0; k < 2; k++)
            {
                Assert.Equal(4000, (int)api.Send(api.H, c, p, 4000, MSG_ZEROCOPY));
                ReceivePayload(api, iss, k * 4000, 4000);
                Ack(api, iss, (k + 1) * 4000);
            }
            // Two completions, one record, one report per waiter; then nothing new.
            Assert.Equal((1, EPOLLERR | EPOLLOUT, 1ul), api.EpollWait(et));
            Assert.Equal(0, api.EpollWait(et).N);
            Assert.Equal((1, EPOLLERR | EPOLLOUT, 2ul), api.EpollWait(once));
            Assert.Equal(0, api.EpollWait(once).N);
            Assert.Equal((1, EPOLLERR | EPOLLOUT, 3ul), api.EpollWait(lt));
            Assert.Equal((1, EPOLLERR | EPOLLOUT, 3ul), api.EpollWait(lt)); // level-triggered: while the queue holds a record
            Assert.Equal((1, EPOLLERR, 5ul), api.EpollWait(inOnly));
            Assert.Equal(0, api.EpollWait(inOnly).N);

            // A third completion coalesces into the queued record, yet wakes the edge-triggered waiter once more.
            Assert.Equal(4000, (int)api.Send(api.H, c, p, 4000, MSG_ZEROCOPY));
            ReceivePayload(api, iss, 8000, 4000);
            Ack(api, iss, 12000);
            Assert.Equal((1, EPOLLERR | EPOLLOUT, 1ul), api.EpollWait(et));
            Assert.Equal(0, api.EpollWait(et).N);
            Assert.Equal((1, EPOLLERR, 5ul), api.EpollWait(inOnly)); // the coalesced report alone wakes it
            Assert.Equal(0, api.EpollWait(inOnly).N);
            Assert.Equal(0, api.EpollWait(once).N); // one-shot: disarmed
            Assert.Equal(0, api.EpollCtl(once, EPOLL_CTL_MOD, c, EPOLLOUT | EPOLLONESHOT, 2));
            Assert.Equal((1, EPOLLERR | EPOLLOUT, 2ul), api.EpollWait(once));
            Assert.Equal(0, api.EpollWait(once).N);

            AssertCompletion(ReadErrQueue(api, c), 0, 2);
            Assert.Equal((1, EPOLLOUT, 3ul), api.EpollWait(lt));
        }
        finally { NativeMemory.Free(p); }
        foreach (int fd in new[] { et, once, lt, inOnly, c, l }) Assert.Equal(0, api.Close(api.H, fd));
    }

    /// <summary>sendmsg(MSG_ZEROCOPY) with one SCM_DEVMEM_DMABUF cmsg of <paramref name="cmsgData"/> bytes (the id first); the iov's bases are dma-buf offsets.</summary>
    private static long SendDevmem(Api api, int fd, uint id, (ulong Offset, int Length)[] ranges, int flags = MSG_ZEROCOPY, int cmsgData = 4)
    {
        var iov = stackalloc IoVec[Math.Max(ranges.Length, 1)];
        for (int i = 0; i < ranges.Length; i++) iov[i] = new IoVec { Base = (byte*)ranges[i].Offset, Len = (nuint)ranges[i].Length };
        var control = stackalloc byte[32];
        new Span<byte>(control, 32).Clear();
        *(long*)control = CmsgHdr + cmsgData;          // cmsg_len = CMSG_LEN(sizeof(u32))
        *(int*)(control + 8) = SOL_SOCKET;
        *(int*)(control + 12) = SCM_DEVMEM_DMABUF;
        *(uint*)(control + CmsgHdr) = id;
        var msg = new MsgHdr { Iov = iov, IovLen = (nuint)ranges.Length, Control = control, ControlLen = (nuint)(CmsgHdr + ((cmsgData + 7) & ~7)) };
        return api.Sendmsg(api.H, fd, &msg, flags);
    }

    private static BindingInfo Info(Api api, uint id)
    {
        BindingInfo i;
        Assert.Equal(0, api.Info(api.H, id, &i));
        return i;
    }

    [Fact]
    public void DevmemTxSendsDmabufRangesNamedByBindTxAndCompletesWithoutCopy()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        const int size = 64 * 4096;
        int buf = api.UdmabufCreate(api.H, size);
        Assert.True(buf >= 3, $"udmabuf errno {NetmemNative.Errno}");
        var pattern = new byte[size];
        for (int i = 0; i < size; i++) pattern[i] = (byte)((i * 7 + 3) % 251);
        using (var h = new Microsoft.Win32.SafeHandles.SafeFileHandle(buf, ownsHandle: false)) RandomAccess.Write(h, pattern, 0);
        int ifindex;
        fixed (byte* n = "iptest0\0"u8) ifindex = (int)api.IfNameToIndex(api.H, n);
        Assert.True(ifindex > 0);

        // bind-tx: ENODEV for another device, EBADF for no descriptor, EINVAL for one that is not a dma-buf.
        uint id = 0;
        Assert.Equal(-1, api.BindTx(api.H, ifindex + 7, buf, &id));
        Assert.Equal(ENODEV, NetmemNative.Errno);
        Assert.Equal(-1, api.BindTx(api.H, ifindex, 1_000_000, &id));
        Assert.Equal(EBADF, NetmemNative.Errno);
        int sock = api.Socket(api.H, AF_INET, SOCK_STREAM, 0);
        Assert.Equal(-1, api.BindTx(api.H, ifindex, sock, &id));
        Assert.Equal(EINVAL, NetmemNative.Errno);
        Assert.Equal(0, api.Close(api.H, sock));
        Assert.Equal(0, api.BindTx(api.H, ifindex, buf, &id));
        Assert.True(id > 0);
        var info = Info(api, id);
        Assert.Equal((uint)ifindex, info.Ifindex);
        Assert.Equal(64u, info.NetIovs);
        Assert.Equal(0, info.UserHeld);

        int c = PassiveOpen(api, zerocopy: true, out int l, out uint iss);
        // The kernel's refusals: no MSG_ZEROCOPY, a cmsg of the wrong size, an unknown id, a range past the dma-buf.
        Assert.Equal(-1, SendDevmem(api, c, id, [(0, 100)], flags: 0));
        Assert.Equal(EINVAL, NetmemNative.Errno);
        Assert.Equal(-1, SendDevmem(api, c, id, [(0, 100)], cmsgData: 8));
        Assert.Equal(EINVAL, NetmemNative.Errno);
        Assert.Equal(-1, SendDevmem(api, c, id + 1000, [(0, 100)]));
        Assert.Equal(EINVAL, NetmemNative.Errno);
        Assert.Equal(-1, SendDevmem(api, c, id, [(size - 10, 100)]));
        Assert.Equal(14, NetmemNative.Errno); // EFAULT

        // Two ranges, one crossing a page (net_iov) boundary: the device reads them from the dma-buf by DMA.
        (ulong, int)[] ranges = [(3 * 4096 + 100, 5000), (50_000, 2000)];
        Assert.Equal(7000, SendDevmem(api, c, id, ranges));
        var got = ReceivePayload(api, iss, 0, 7000);
        Assert.Equal(pattern.AsSpan(3 * 4096 + 100, 5000).ToArray().Concat(pattern.AsSpan(50_000, 2000).ToArray()), got);
        Assert.True(Info(api, id).UserHeld > 0, "frags on the send queue hold net_iovs until the ACK");
        AssertEmpty(api, c);
        Ack(api, iss, 7000);
        Assert.Equal(0, Info(api, id).UserHeld);
        AssertCompletion(ReadErrQueue(api, c), 0, 0, copied: false); // nothing copied device memory

        // Unbind with frags in flight: sends naming it fail at once; the memory goes with the last frag's ACK.
        Assert.Equal(4096, SendDevmem(api, c, id, [(8192, 4096)]));
        Assert.Equal(pattern.AsSpan(8192, 4096).ToArray(), ReceivePayload(api, iss, 7000, 4096));
        Assert.Equal(0, api.UnbindTx(api.H, id));
        Assert.Equal(-1, api.UnbindTx(api.H, id));
        Assert.Equal(ENOENT, NetmemNative.Errno);
        info = Info(api, id);
        Assert.Equal(1u, info.Unbound);
        Assert.Equal(0u, info.Freed);
        Assert.True(info.UserHeld > 0);
        Assert.Equal(-1, SendDevmem(api, c, id, [(0, 100)]));
        Assert.Equal(EINVAL, NetmemNative.Errno);
        Ack(api, iss, 11096);
        info = Info(api, id);
        Assert.Equal(0, info.UserHeld);
        Assert.Equal(1u, info.Freed);
        AssertCompletion(ReadErrQueue(api, c), 1, 1, copied: false);
        Assert.Equal(0, api.Close(api.H, c));
        Assert.Equal(0, api.Close(api.H, l));
        Assert.Equal(0, api.Close(api.H, buf));
    }

    [Fact]
    public void DevmemTxNeedsSoZerocopy()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        int buf = api.UdmabufCreate(api.H, 16 * 4096);
        int ifindex;
        fixed (byte* n = "iptest0\0"u8) ifindex = (int)api.IfNameToIndex(api.H, n);
        uint id;
        Assert.Equal(0, api.BindTx(api.H, ifindex, buf, &id));
        int c = PassiveOpen(api, zerocopy: false, out int l, out _);
        Assert.Equal(-1, SendDevmem(api, c, id, [(0, 100)]));
        Assert.Equal(EINVAL, NetmemNative.Errno);
        Assert.Equal(0, api.Close(api.H, c));
        Assert.Equal(0, api.Close(api.H, l));
        Assert.Equal(0, api.UnbindTx(api.H, id));
        Assert.Equal(1u, Info(api, id).Freed);
    }
}
