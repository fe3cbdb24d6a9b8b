using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Netmem.Sockets;
using Netmem.Tests.Virtual;
using Netmem.Wire;
using static Netmem.Tests.Native.LinuxAbi;

namespace Netmem.Tests.Native;

/// <summary>
/// Device memory TCP through libnetmem.so's C ABI, called as a C receiver calls it: a udmabuf or device-memory
/// dma-buf, netmem_bind_rx on the instance's RX queue (tcp-data-split on: so_flags hds=on), segments injected
/// with netmem_netdev_send, recvmsg(MSG_SOCK_DEVMEM) with the control messages parsed byte by byte as the
/// CMSG_* macros walk them, payload read back from the dma-buf, and setsockopt(SO_DEVMEM_DONTNEED).
/// </summary>
public sealed unsafe class NativeDevmemTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);

    [StructLayout(LayoutKind.Sequential)]
    private struct QueueId { public uint Type, Id; }

    [StructLayout(LayoutKind.Sequential)]
    private struct BindingInfo
    {
        public uint DmabufId, Ifindex, NetIovs, NetIovsFree;
        public long PoolInflight, UserHeld;
        public uint Unbound, Freed;
    }

    private sealed class Api : IDisposable
    {
        public readonly nint H;
        public readonly delegate* unmanaged<nint, int, int, int, int> Socket = (delegate* unmanaged<nint, int, int, int, int>)NetmemNative.Export("netmem_socket");
        public readonly delegate* unmanaged<nint, int, byte*, uint, int> Bind = (delegate* unmanaged<nint, int, byte*, uint, int>)NetmemNative.Export("netmem_bind");
        public readonly delegate* unmanaged<nint, int, int, int> Listen = (delegate* unmanaged<nint, int, int, int>)NetmemNative.Export("netmem_listen");
        public readonly delegate* unmanaged<nint, int, byte*, uint*, int> Accept = (delegate* unmanaged<nint, int, byte*, uint*, int>)NetmemNative.Export("netmem_accept");
        public readonly delegate* unmanaged<nint, int, byte*, nuint, int, nint> Recv = (delegate* unmanaged<nint, int, byte*, nuint, int, nint>)NetmemNative.Export("netmem_recv");
        public readonly delegate* unmanaged<nint, int, MsgHdr*, int, nint> Recvmsg = (delegate* unmanaged<nint, int, MsgHdr*, int, nint>)NetmemNative.Export("netmem_recvmsg");
        public readonly delegate* unmanaged<nint, int, int> Close = (delegate* unmanaged<nint, int, int>)NetmemNative.Export("netmem_close");
        public readonly delegate* unmanaged<nint, int, int, int, byte*, uint*, int> GetSockOpt = (delegate* unmanaged<nint, int, int, int, byte*, uint*, int>)NetmemNative.Export("netmem_getsockopt");
        public readonly delegate* unmanaged<nint, int, int, int, byte*, uint, int> SetSockOpt = (delegate* unmanaged<nint, int, int, int, byte*, uint, int>)NetmemNative.Export("netmem_setsockopt");
        public readonly delegate* unmanaged<nint, byte*, nuint, int> NetdevSend = (delegate* unmanaged<nint, byte*, nuint, int>)NetmemNative.Export("netmem_netdev_send");
        public readonly delegate* unmanaged<nint, byte*, nuint*, long*, int> NetdevReceive = (delegate* unmanaged<nint, byte*, nuint*, long*, int>)NetmemNative.Export("netmem_netdev_receive");
        public readonly delegate* unmanaged<nint, nuint, int> UdmabufCreate = (delegate* unmanaged<nint, nuint, int>)NetmemNative.Export("netmem_udmabuf_create");
        public readonly delegate* unmanaged<nint, nuint, int> DevmemCreate = (delegate* unmanaged<nint, nuint, int>)NetmemNative.Export("netmem_devmem_create");
        public readonly delegate* unmanaged<nint, int, ulong, byte*, nuint, nint> DmabufRead = (delegate* unmanaged<nint, int, ulong, byte*, nuint, nint>)NetmemNative.Export("netmem_dmabuf_read");
        public readonly delegate* unmanaged<nint, byte*, uint> IfNameToIndex = (delegate* unmanaged<nint, byte*, uint>)NetmemNative.Export("netmem_if_nametoindex");
        public readonly delegate* unmanaged<nint, int, int, QueueId*, uint, uint*, int> BindRx = (delegate* unmanaged<nint, int, int, QueueId*, uint, uint*, int>)NetmemNative.Export("netmem_bind_rx");
        public readonly delegate* unmanaged<nint, uint, int> UnbindRx = (delegate* unmanaged<nint, uint, int>)NetmemNative.Export("netmem_unbind_rx");
        public readonly delegate* unmanaged<nint, uint, BindingInfo*, int> Info = (delegate* unmanaged<nint, uint, BindingInfo*, int>)NetmemNative.Export("netmem_binding_info");
        private readonly delegate* unmanaged<nint, void> _free = (delegate* unmanaged<nint, void>)NetmemNative.Export("netmem_free");

        public Api(string flags = "hds=on")
        {
            var create = (delegate* unmanaged<byte*, nint>)NetmemNative.Export("netmem_create");
            nint f = Marshal.StringToCoTaskMemUTF8(flags);
            H = create((byte*)f);
            Marshal.FreeCoTaskMem(f);
            Assert.NotEqual(0, H);
        }

        public void Dispose() => _free(H);

        public int Ifindex()
        {
            fixed (byte* n = "iptest0\0"u8) return (int)IfNameToIndex(H, n);
        }

        public byte[]? Receive()
        {
            var buf = new byte[65536];
            nuint n = (nuint)buf.Length;
            long t;
            fixed (byte* p = buf) Assert.Equal(0, NetdevReceive(H, p, &n, &t));
            return n == 0 ? null : buf[..(int)n];
        }

        public void Send(byte[] datagram)
        {
            fixed (byte* p = datagram) Assert.Equal(0, NetdevSend(H, p, (nuint)datagram.Length));
        }

        public int Bind1(int dmabufFd, uint queue, out uint id, uint type = 0, int ifindex = -1)
        {
            var q = new QueueId { Type = type, Id = queue };
            uint got = 0;
            int r = BindRx(H, ifindex == -1 ? Ifindex() : ifindex, dmabufFd, &q, 1, &got);
            id = got;
            return r;
        }

        public BindingInfo GetInfo(uint id)
        {
            BindingInfo i;
            Assert.Equal(0, Info(H, id, &i));
            return i;
        }

        /// <summary>A listener on <paramref name="port"/> and a connection to it from the remote peer's port 40000, accepted: (fd, our ISN + 1).</summary>
        public (int Fd, uint Ack) Accepted(ushort port = 8080)
        {
            int l = Socket(H, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0); // a failed handshake is EAGAIN, never a hang
            var sa = new byte[16];
            BinaryPrimitives.WriteUInt16LittleEndian(sa, AF_INET);
            BinaryPrimitives.WriteUInt16BigEndian(sa.AsSpan(2), port);
            fixed (byte* p = sa) Assert.Equal(0, Bind(H, l, p, 16));
            Assert.Equal(0, Listen(H, l, 16));
            var opts = new TcpOptions { MaxSegmentSize = 1460, WindowScale = 7 };
            Send(IpPacketBuilder.Tcp(Remote, Local, 40000, port, 0, 0, TcpFlags.Syn, 65535, opts));
            var synAck = IpPacketBuilder.ParseSent(Receive()!, out _, out _, out _);
            while (synAck.Flags != (TcpFlags.Syn | TcpFlags.Ack)) synAck = IpPacketBuilder.ParseSent(Receive()!, out _, out _, out _); // ACKs of earlier data first
            Send(IpPacketBuilder.Tcp(Remote, Local, 40000, port, 1, synAck.SequenceNumber + 1, TcpFlags.Ack, 2048));
            int c = Accept(H, l, null, null);
            Assert.True(c >= 3, $"accept {c} errno {NetmemNative.Errno}");
            Assert.Equal(0, Close(H, l));
            return (c, synAck.SequenceNumber + 1);
        }

        /// <summary>The peer sends <paramref name="data"/> in segments of <paramref name="mss"/> bytes from stream offset <paramref name="at"/>.</summary>
        public void Deliver(uint ack, byte[] data, int mss, ushort port = 8080, int at = 0)
        {
            for (int off = 0; off < data.Length; off += mss)
            {
                int n = Math.Min(mss, data.Length - off);
                Send(IpPacketBuilder.Tcp(Remote, Local, 40000, port, (uint)(1 + at + off), ack, TcpFlags.Ack | TcpFlags.Psh, 2048, default, data.AsSpan(off, n)));
            }
        }
    }

    /// <summary>One control message as a C program reads it (CMSG_FIRSTHDR / CMSG_NXTHDR / CMSG_DATA).</summary>
    private readonly record struct Cmsg(long Len, int Level, int Type, ulong FragOffset, uint FragSize, uint FragToken, uint DmabufId, uint Flags);

    private static List<Cmsg> ParseCmsgs(byte[] control, nuint controlLen)
    {
        var list = new List<Cmsg>();
        int off = 0;
        while (off + CmsgHdr <= (int)controlLen)
        {
            var c = control.AsSpan(off);
            long len = BinaryPrimitives.ReadInt64LittleEndian(c);
            int level = BinaryPrimitives.ReadInt32LittleEndian(c[8..]);
            int type = BinaryPrimitives.ReadInt32LittleEndian(c[12..]);
            Assert.True(len >= CmsgHdr && off + len <= (int)controlLen, $"cmsg_len {len} at {off}");
            var d = c[CmsgHdr..];
            list.Add(new Cmsg(len, level, type, BinaryPrimitives.ReadUInt64LittleEndian(d), BinaryPrimitives.ReadUInt32LittleEndian(d[8..]),
                BinaryPrimitives.ReadUInt32LittleEndian(d[12..]), BinaryPrimitives.ReadUInt32LittleEndian(d[16..]), BinaryPrimitives.ReadUInt32LittleEndian(d[20..])));
            off += (int)((len + 7) & ~7L); // CMSG_ALIGN
        }
        return list;
    }

    /// <summary>recvmsg(fd, {iov = linear, control}, MSG_SOCK_DEVMEM | flags).</summary>
    private static (long Result, int Errno, List<Cmsg> Cmsgs, int MsgFlags, nuint ControlLen) RecvDevmem(Api api, int fd, byte[] linear, byte[] control, int flags = 0)
    {
        fixed (byte* lp = linear)
        fixed (byte* cp = control)
        {
            var iov = new IoVec { Base = lp, Len = (nuint)linear.Length };
            var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control.Length == 0 ? null : cp, ControlLen = (nuint)control.Length };
            long r = api.Recvmsg(api.H, fd, &msg, MSG_SOCK_DEVMEM | MSG_DONTWAIT | flags);
            int e = NetmemNative.Errno;
            return (r, e, r >= 0 ? ParseCmsgs(control, msg.ControlLen) : [], msg.Flags, msg.ControlLen);
        }
    }

    private static int DontNeed(Api api, int fd, ReadOnlySpan<(uint Start, uint Count)> tokens, uint? optlen = null)
    {
        var buf = new byte[Math.Max(8, tokens.Length * 8)];
        for (int i = 0; i < tokens.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(i * 8), tokens[i].Start);
            BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(i * 8 + 4), tokens[i].Count);
        }
        fixed (byte* p = buf) return api.SetSockOpt(api.H, fd, SOL_SOCKET, SO_DEVMEM_DONTNEED, p, optlen ?? (uint)(tokens.Length * 8));
    }

    private static byte[] Pattern(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static void ExpectErrno(int expected, long result)
    {
        int e = NetmemNative.Errno;
        Assert.Equal(-1, result);
        Assert.Equal(expected, e);
    }

    /// <summary>Reads a udmabuf's memfd as a C program would read its mapping (pread on the descriptor).</summary>
    private static byte[] ReadMemfd(int fd, ulong offset, int length)
    {
        var b = new byte[length];
        using var h = new SafeFileHandle(fd, ownsHandle: false);
        Assert.Equal(length, RandomAccess.Read(h, b, (long)offset));
        return b;
    }

    [Fact]
    public void DevmemConstantsAndLayoutsAreTheKernels()
    {
        Requires.NativeLibrary();
        Assert.Equal(MSG_SOCK_DEVMEM, Devmem.MsgSockDevmem);
        Assert.Equal(SO_DEVMEM_LINEAR, Devmem.SoDevmemLinear);
        Assert.Equal(SO_DEVMEM_DMABUF, Devmem.SoDevmemDmabuf);
        Assert.Equal(SO_DEVMEM_DONTNEED, Devmem.SoDevmemDontneed);
        Assert.Equal(DmabufCmsgSize, Marshal.SizeOf<DmabufCmsg>());
        Assert.Equal(0, (int)Marshal.OffsetOf<DmabufCmsg>(nameof(DmabufCmsg.FragOffset)));
        Assert.Equal(8, (int)Marshal.OffsetOf<DmabufCmsg>(nameof(DmabufCmsg.FragSize)));
        Assert.Equal(12, (int)Marshal.OffsetOf<DmabufCmsg>(nameof(DmabufCmsg.FragToken)));
        Assert.Equal(16, (int)Marshal.OffsetOf<DmabufCmsg>(nameof(DmabufCmsg.DmabufId)));
        Assert.Equal(20, (int)Marshal.OffsetOf<DmabufCmsg>(nameof(DmabufCmsg.Flags)));
        Assert.Equal(8, Marshal.SizeOf<DmabufToken>());
        Assert.Equal(40, sizeof(BindingInfo));

        // getsockopt of the three and setsockopt of the two cmsg types: ENOPROTOOPT, as sk_getsockopt/sk_setsockopt.
        using var api = new Api();
        int fd = api.Socket(api.H, AF_INET, SOCK_STREAM, 0);
        int v = 1;
        uint len = 4;
        foreach (int name in new[] { SO_DEVMEM_LINEAR, SO_DEVMEM_DMABUF, SO_DEVMEM_DONTNEED })
            ExpectErrno(ENOPROTOOPT, api.GetSockOpt(api.H, fd, SOL_SOCKET, name, (byte*)&v, &len));
        ExpectErrno(ENOPROTOOPT, api.SetSockOpt(api.H, fd, SOL_SOCKET, SO_DEVMEM_LINEAR, (byte*)&v, 4));
        ExpectErrno(ENOPROTOOPT, api.SetSockOpt(api.H, fd, SOL_SOCKET, SO_DEVMEM_DMABUF, (byte*)&v, 4));
        // SO_DEVMEM_DONTNEED: optlen a multiple of sizeof(struct dmabuf_token), at most 128 of them; EINVAL otherwise.
        ExpectErrno(EINVAL, DontNeed(api, fd, [(1, 1)], optlen: 12));
        ExpectErrno(EINVAL, DontNeed(api, fd, [(1, 1)], optlen: 0));
        ExpectErrno(EINVAL, DontNeed(api, fd, new (uint, uint)[129]));
        Assert.Equal(0, DontNeed(api, fd, new (uint, uint)[128])); // the most ranges: nothing held, nothing freed
        Assert.Equal(0, DontNeed(api, fd, [(1, 1000)]));
        Assert.Equal(0, api.Close(api.H, fd));
    }

    [Fact]
    public void BindRxFailsWithTheKernelsErrors()
    {
        Requires.NativeLibrary();
        // tcp-data-split off (the default): EINVAL.
        using (var off = new Api(""))
        {
            int b = off.UdmabufCreate(off.H, 64 * 4096);
            Assert.True(b >= 0, $"udmabuf {NetmemNative.Errno}");
            ExpectErrno(EINVAL, off.Bind1(b, 0, out _));
            Assert.Equal(0, off.Close(off.H, b));
        }

        using var api = new Api();
        int buf = api.UdmabufCreate(api.H, 64 * 4096);
        int sock = api.Socket(api.H, AF_INET, SOCK_STREAM, 0);
        Assert.True(api.Ifindex() > 0);
        fixed (byte* n = "eth9\0"u8) Assert.Equal(0u, api.IfNameToIndex(api.H, n));
        ExpectErrno(ENODEV, api.Bind1(buf, 0, out _, ifindex: api.Ifindex() + 1000));
        ExpectErrno(EBADF, api.Bind1(1_000_000, 0, out _));      // dma_buf_get on a bad descriptor
        ExpectErrno(EINVAL, api.Bind1(sock, 0, out _));          // a descriptor that is not a dma-buf
        ExpectErrno(ERANGE, api.Bind1(buf, 1, out _));           // one RX queue
        ExpectErrno(EINVAL, api.Bind1(buf, 0, out _, type: 1));  // NETDEV_QUEUE_TYPE_TX
        uint id;
        ExpectErrno(EINVAL, api.BindRx(api.H, api.Ifindex(), buf, null, 0, &id)); // no queues
        int odd = api.UdmabufCreate(api.H, 4096 * 3 + 100);
        if (odd >= 0) ExpectErrno(EINVAL, api.Bind1(odd, 0, out _)); // not a multiple of PAGE_SIZE

        Assert.Equal(0, api.Bind1(buf, 0, out uint first));
        Assert.True(first > 0);
        var info = api.GetInfo(first);
        Assert.Equal(64u, info.NetIovs);
        Assert.Equal((uint)api.Ifindex(), info.Ifindex);
        ExpectErrno(EEXIST, api.Bind1(buf, 0, out _));           // the queue has a provider
        Assert.Equal(0, api.UnbindRx(api.H, first));
        ExpectErrno(ENOENT, api.UnbindRx(api.H, first));
        info = api.GetInfo(first);
        Assert.Equal(1u, info.Unbound);
        Assert.Equal(1u, info.Freed);                            // nothing was received: all memory back at once
        Assert.Equal(0, api.Bind1(buf, 0, out uint second));     // the queue is free again
        Assert.NotEqual(first, second);
        Assert.Equal(0, api.Close(api.H, buf));                  // the binding keeps the dma-buf
        Assert.Equal(0, api.UnbindRx(api.H, second));
        Assert.Equal(1u, api.GetInfo(second).Freed);
        if (odd >= 0) Assert.Equal(0, api.Close(api.H, odd));
        Assert.Equal(0, api.Close(api.H, sock));
    }

    [Fact]
    public void DevmemRecvmsgDeliversTokensIntoTheUdmabuf()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        const int size = 256 * 4096;
        int buf = api.UdmabufCreate(api.H, size);
        Assert.True(buf >= 0);
        Assert.Equal(0, api.Bind1(buf, 0, out uint id));
        var (fd, ack) = api.Accepted();
        var data = Pattern(20 * 1400 + 321, 7);
        api.Deliver(ack, data, 1400);
        Assert.True(api.GetInfo(id).UserHeld > 0); // payload sits in net_iovs of the bound queue's pool

        var got = new List<byte>();
        var tokens = new List<(uint, uint)>();
        var linear = new byte[64 * 1024];
        var control = new byte[CmsgSpaceDmabuf * 64];
        while (got.Count < data.Length)
        {
            var r = RecvDevmem(api, fd, linear, control, MSG_DONTWAIT);
            Assert.True(r.Result > 0, $"recvmsg {r.Result} errno {r.Errno}");
            Assert.Equal(0, r.MsgFlags);
            Assert.Equal((nuint)(r.Cmsgs.Count * CmsgSpaceDmabuf), r.ControlLen);
            long sum = 0;
            int lin = 0;
            foreach (var c in r.Cmsgs)
            {
                Assert.Equal(SOL_SOCKET, c.Level);
                Assert.Equal(CmsgHdr + DmabufCmsgSize, c.Len); // CMSG_LEN(sizeof(struct dmabuf_cmsg))
                sum += c.FragSize;
                if (c.Type == SO_DEVMEM_LINEAR)
                {
                    got.AddRange(linear.AsSpan(lin, (int)c.FragSize).ToArray());
                    lin += (int)c.FragSize;
                    continue;
                }
                Assert.Equal(SO_DEVMEM_DMABUF, c.Type);
                Assert.Equal(id, c.DmabufId);
                Assert.InRange(c.FragOffset + c.FragSize, 1ul, (ulong)size);
                got.AddRange(ReadMemfd(buf, c.FragOffset, (int)c.FragSize));
                tokens.Add((c.FragToken, 1));
            }
            Assert.Equal(r.Result, sum); // the count includes the dmabuf bytes
        }
        Assert.Equal(data, got.ToArray());
        Assert.Equal(tokens.Count, (int)api.GetInfo(id).UserHeld); // the skbs are gone; the tokens hold the net_iovs
        // Another socket's DONTNEED frees nothing of ours.
        var (other, otherAck) = api.Accepted(8081);
        Assert.Equal(0, DontNeed(api, other, tokens.ToArray()));
        Assert.Equal(tokens.Count, DontNeed(api, fd, tokens.ToArray()));
        Assert.Equal(0, DontNeed(api, fd, tokens.ToArray()));       // already released
        Assert.Equal(0, api.GetInfo(id).UserHeld);
        ExpectErrno(EAGAIN, RecvDevmem(api, fd, linear, control, MSG_DONTWAIT).Result);
        Assert.Equal(0, api.Close(api.H, fd));
        Assert.Equal(0, api.UnbindRx(api.H, id));
        Assert.Equal(1u, api.GetInfo(id).Freed); // every net_iov came back: the pools ended with inflight 0
        // Unbound, the queue runs on host pages again: a plain read gets the next payload.
        var more = Pattern(1500, 8);
        api.Deliver(otherAck, more, 1000, port: 8081);
        var plain = new byte[4096];
        fixed (byte* p = plain) Assert.Equal(more.Length, (int)api.Recv(api.H, other, p, (nuint)plain.Length, MSG_DONTWAIT));
        Assert.Equal(more, plain[..more.Length]);
        Assert.Equal(0, api.Close(api.H, other));
        Assert.Equal(0, api.Close(api.H, buf));
    }

    [Fact]
    public void PlainRecvOnDeviceMemoryIsEfaultAndLosesNothing()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        int buf = api.DevmemCreate(api.H, 64 * 4096);
        Assert.True(buf >= 0);
        Assert.Equal(0, api.Bind1(buf, 0, out uint id));
        var (fd, ack) = api.Accepted();
        var data = Pattern(3000, 11);
        api.Deliver(ack, data, 1000);
        var plain = new byte[4096];
        fixed (byte* p = plain) ExpectErrno(EFAULT, api.Recv(api.H, fd, p, (nuint)plain.Length, MSG_DONTWAIT));
        var probe = new byte[16];
        fixed (byte* p = probe) ExpectErrno(EINVAL, api.DmabufRead(api.H, fd, 0, p, 16)); // a socket is no dma-buf

        // No room for one record: ETOOSMALL (put_cmsg_notrunc), nothing consumed.
        var linear = new byte[8192];
        ExpectErrno(ETOOSMALL, RecvDevmem(api, fd, linear, new byte[CmsgSpaceDmabuf - 1]).Result);
        // Room for exactly two records: the read stops after them, without MSG_CTRUNC.
        var r = RecvDevmem(api, fd, linear, new byte[CmsgSpaceDmabuf * 2 + 8]);
        Assert.Equal(2, r.Cmsgs.Count(c => c.Type == SO_DEVMEM_DMABUF));
        Assert.Equal(0, r.MsgFlags & MSG_CTRUNC);
        var got = new List<byte>();
        var tokens = new List<(uint, uint)>();
        void Take((long Result, int Errno, List<Cmsg> Cmsgs, int MsgFlags, nuint ControlLen) rr)
        {
            foreach (var c in rr.Cmsgs)
            {
                Assert.Equal(SO_DEVMEM_DMABUF, c.Type); // headers were pulled: the payload is all device memory
                var b = new byte[c.FragSize];
                fixed (byte* p = b) Assert.Equal((nint)c.FragSize, api.DmabufRead(api.H, buf, c.FragOffset, p, c.FragSize));
                got.AddRange(b);
                tokens.Add((c.FragToken, 1));
            }
        }
        Take(r);
        Take(RecvDevmem(api, fd, linear, new byte[CmsgSpaceDmabuf * 16]));
        Assert.Equal(data, got.ToArray());
        Assert.Equal(3, tokens.Count);
        // close with the tokens still out: they go back (tcp_release_user_frags).
        Assert.Equal(3, (int)api.GetInfo(id).UserHeld);
        Assert.Equal(0, api.Close(api.H, fd));
        Assert.Equal(0, api.GetInfo(id).UserHeld);
        Assert.Equal(0, api.UnbindRx(api.H, id));
        Assert.Equal(1u, api.GetInfo(id).Freed);
        Assert.Equal(0, api.Close(api.H, buf));
    }

    [Fact]
    public void DevmemRecvmsgOnHostMemoryCopiesWithoutRecords()
    {
        Requires.NativeLibrary();
        using var api = new Api(); // split on, nothing bound: payload in the queue's page_pool pages
        var (fd, ack) = api.Accepted();
        var data = Pattern(2500, 5);
        api.Deliver(ack, data, 1000);
        var linear = new byte[8192];
        var r = RecvDevmem(api, fd, linear, new byte[CmsgSpaceDmabuf * 4]);
        Assert.Equal(data.Length, r.Result);
        Assert.Empty(r.Cmsgs);          // readable skbs: copied, as tcp_recvmsg_dmabuf copies them, with no record
        Assert.Equal((nuint)0, r.ControlLen);
        Assert.Equal(data, linear[..data.Length]);
        Assert.Equal(0, api.Close(api.H, fd));
    }
}
