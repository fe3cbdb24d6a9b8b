using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Netmem.Drivers.Tap;
using Netmem.Tests.Virtual;
using Netmem.Wire;
using static Netmem.Tests.Native.LinuxAbi;

namespace Netmem.Tests.Native;

/// <summary>
/// The C ABI of libnetmem.so, called the way a C program (or packetdrill) calls it: function pointers
/// from the loaded library, Linux structures in unmanaged memory, errno read after each failing call.
/// The stack behind it runs on virtual time over the IP test device (netmem_netdev_send/receive).
/// </summary>
public sealed unsafe class NativeExportsTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);

    private sealed class Api : IDisposable
    {
        public readonly nint H;
        public readonly delegate* unmanaged<nint, int, int, int, int> Socket = (delegate* unmanaged<nint, int, int, int, int>)NetmemNative.Export("netmem_socket");
        public readonly delegate* unmanaged<nint, int, byte*, uint, int> Bind = (delegate* unmanaged<nint, int, byte*, uint, int>)NetmemNative.Export("netmem_bind");
        public readonly delegate* unmanaged<nint, int, int, int> Listen = (delegate* unmanaged<nint, int, int, int>)NetmemNative.Export("netmem_listen");
        public readonly delegate* unmanaged<nint, int, byte*, uint*, int> Accept = (delegate* unmanaged<nint, int, byte*, uint*, int>)NetmemNative.Export("netmem_accept");
        public readonly delegate* unmanaged<nint, int, byte*, uint, int> Connect = (delegate* unmanaged<nint, int, byte*, uint, int>)NetmemNative.Export("netmem_connect");
        public readonly delegate* unmanaged<nint, int, byte*, nuint, nint> Read = (delegate* unmanaged<nint, int, byte*, nuint, nint>)NetmemNative.Export("netmem_read");
        public readonly delegate* unmanaged<nint, int, byte*, nuint, nint> Write = (delegate* unmanaged<nint, int, byte*, nuint, nint>)NetmemNative.Export("netmem_write");
        public readonly delegate* unmanaged<nint, int, byte*, nuint, int, byte*, uint, nint> SendTo = (delegate* unmanaged<nint, int, byte*, nuint, int, byte*, uint, nint>)NetmemNative.Export("netmem_sendto");
        public readonly delegate* unmanaged<nint, int, int, nint, int> Fcntl = (delegate* unmanaged<nint, int, int, nint, int>)NetmemNative.Export("netmem_fcntl");
        public readonly delegate* unmanaged<nint, int, nuint, nint, int> Ioctl = (delegate* unmanaged<nint, int, nuint, nint, int>)NetmemNative.Export("netmem_ioctl");
        public readonly delegate* unmanaged<nint, int, int> Close = (delegate* unmanaged<nint, int, int>)NetmemNative.Export("netmem_close");
        public readonly delegate* unmanaged<nint, int, int, int> Shutdown = (delegate* unmanaged<nint, int, int, int>)NetmemNative.Export("netmem_shutdown");
        public readonly delegate* unmanaged<nint, int, int, int, byte*, uint*, int> GetSockOpt = (delegate* unmanaged<nint, int, int, int, byte*, uint*, int>)NetmemNative.Export("netmem_getsockopt");
        public readonly delegate* unmanaged<nint, int, int, int, byte*, uint, int> SetSockOpt = (delegate* unmanaged<nint, int, int, int, byte*, uint, int>)NetmemNative.Export("netmem_setsockopt");
        public readonly delegate* unmanaged<nint, long*, nuint, int, int> Poll = (delegate* unmanaged<nint, long*, nuint, int, int>)NetmemNative.Export("netmem_poll");
        public readonly delegate* unmanaged<nint, byte*, nuint, int> NetdevSend = (delegate* unmanaged<nint, byte*, nuint, int>)NetmemNative.Export("netmem_netdev_send");
        public readonly delegate* unmanaged<nint, byte*, nuint*, long*, int> NetdevReceive = (delegate* unmanaged<nint, byte*, nuint*, long*, int>)NetmemNative.Export("netmem_netdev_receive");
        public readonly delegate* unmanaged<nint, uint, int> Usleep = (delegate* unmanaged<nint, uint, int>)NetmemNative.Export("netmem_usleep");
        public readonly delegate* unmanaged<nint, long*, void*, int> Gettimeofday = (delegate* unmanaged<nint, long*, void*, int>)NetmemNative.Export("netmem_gettimeofday");
        public readonly delegate* unmanaged<nint, int, int> EpollCreate = (delegate* unmanaged<nint, int, int>)NetmemNative.Export("netmem_epoll_create");
        public readonly delegate* unmanaged<nint, int, int, int, byte*, int> EpollCtl = (delegate* unmanaged<nint, int, int, int, byte*, int>)NetmemNative.Export("netmem_epoll_ctl");
        public readonly delegate* unmanaged<nint, int, byte*, int, int, int> EpollWait = (delegate* unmanaged<nint, int, byte*, int, int, int>)NetmemNative.Export("netmem_epoll_wait");
        private readonly delegate* unmanaged<nint, void> _free = (delegate* unmanaged<nint, void>)NetmemNative.Export("netmem_free");

        public Api(string? flags = null)
        {
            var create = (delegate* unmanaged<byte*, nint>)NetmemNative.Export("netmem_create");
            nint f = flags is null ? 0 : Marshal.StringToCoTaskMemUTF8(flags);
            H = create((byte*)f);
            if (f != 0) Marshal.FreeCoTaskMem(f);
            Assert.NotEqual(0, H);
        }

        public void Dispose() => _free(H);

        public (byte[] Bytes, long TimeUs)? Receive()
        {
            var buf = new byte[65536];
            nuint n = (nuint)buf.Length;
            long t;
            fixed (byte* p = buf) Assert.Equal(0, NetdevReceive(H, p, &n, &t));
            return n == 0 ? null : (buf[..(int)n], t);
        }

        public void Send(byte[] datagram)
        {
            fixed (byte* p = datagram) Assert.Equal(0, NetdevSend(H, p, (nuint)datagram.Length));
        }

        public long NowUs()
        {
            long* tv = stackalloc long[2];
            Assert.Equal(0, Gettimeofday(H, tv, null));
            return tv[0] * 1_000_000 + tv[1];
        }
    }

    private static byte[] Sockaddr(Ipv4Address a, ushort port)
    {
        var b = new byte[16];
        BinaryPrimitives.WriteUInt16LittleEndian(b, AF_INET);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), port);
        a.Write(b.AsSpan(4));
        return b;
    }

    private static void ExpectErrno(int expected, long result)
    {
        int e = NetmemNative.Errno;
        Assert.Equal(-1, result);
        Assert.Equal(expected, e);
    }

    [Fact]
    public void SocketErrnosAreLinuxs()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        ExpectErrno(EAFNOSUPPORT, api.Socket(api.H, AF_INET6, SOCK_STREAM, 0));
        ExpectErrno(EPROTONOSUPPORT, api.Socket(api.H, AF_INET, SOCK_STREAM, 17));
        ExpectErrno(EINVAL, api.Socket(api.H, AF_INET, SOCK_STREAM | 0x10000000, 0));
        ExpectErrno(EBADF, api.Close(api.H, 1_000_000));
        int fd = api.Socket(api.H, AF_INET, SOCK_STREAM, IPPROTO_TCP);
        Assert.True(fd >= 3, $"fd {fd}");
        int one = 1;
        uint len = 4;
        int val = 0;
        ExpectErrno(ENOPROTOOPT, api.SetSockOpt(api.H, fd, SOL_SOCKET, 9999, (byte*)&one, 4));
        ExpectErrno(ENOPROTOOPT, api.GetSockOpt(api.H, fd, IPPROTO_TCP, 9999, (byte*)&val, &len));
        ExpectErrno(EINVAL, api.Fcntl(api.H, fd, 9999, 0));
        ExpectErrno(ENOTTY, api.Ioctl(api.H, fd, 0x1234, (nint)(&val)));
        var buf = new byte[16];
        fixed (byte* p = buf) ExpectErrno(ENOTCONN, api.Read(api.H, fd, p, 16));
        ExpectErrno(ENOTCONN, api.Shutdown(api.H, fd, 1));
        var bad = Sockaddr(Local, 80);
        bad[0] = AF_INET6;
        fixed (byte* p = bad) Assert.Equal(-1, api.Bind(api.H, fd, p, 16));
        Assert.Equal(EAFNOSUPPORT, NetmemNative.Errno);
        Assert.Equal(0, api.Close(api.H, fd));
        ExpectErrno(EBADF, api.Close(api.H, fd));
    }

    [Fact]
    public void ListenAcceptAndTransferOverTheIpDevice()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        int l = api.Socket(api.H, AF_INET, SOCK_STREAM, 0);
        int one = 1;
        Assert.Equal(0, api.SetSockOpt(api.H, l, SOL_SOCKET, SO_REUSEADDR, (byte*)&one, 4));
        var sa = Sockaddr(Ipv4Address.Unspecified, 8080);
        fixed (byte* p = sa) Assert.Equal(0, api.Bind(api.H, l, p, 16));
        Assert.Equal(0, api.Listen(api.H, l, 16));
        int l2 = api.Socket(api.H, AF_INET, SOCK_STREAM, 0);
        fixed (byte* p = sa) ExpectErrno(EADDRINUSE, api.Bind(api.H, l2, p, 16));
        // Non-blocking accept before any connection: EAGAIN; poll says not readable.
        int fl = api.Fcntl(api.H, l, F_GETFL, 0);
        Assert.Equal(0, api.Fcntl(api.H, l, F_SETFL, fl | O_NONBLOCK));
        Assert.Equal(O_NONBLOCK, api.Fcntl(api.H, l, F_GETFL, 0) & O_NONBLOCK);
        ExpectErrno(EAGAIN, api.Accept(api.H, l, null, null));
        long pfd = (uint)l | ((long)POLLIN << 32);
        Assert.Equal(0, api.Poll(api.H, &pfd, 1, 0));

        long t0 = api.NowUs();
        Assert.Equal(0, api.Usleep(api.H, 100_000));
        var opts = new TcpOptions { MaxSegmentSize = 1000, SackPermitted = true, WindowScale = 7 };
        api.Send(IpPacketBuilder.Tcp(Remote, Local, 40000, 8080, 0, 0, TcpFlags.Syn, 32792, opts));
        var synAck = api.Receive();
        Assert.NotNull(synAck);
        var r = IpPacketBuilder.ParseSent(synAck.Value.Bytes, out _, out var dst, out _);
        Assert.Equal(Remote, dst);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, r.Flags);
        Assert.Equal((byte)8, r.Options.WindowScale); // defaults.sh's tcp_rmem max (15 MiB) gives wscale 8
        Assert.InRange(synAck.Value.TimeUs - t0, 100_000, 100_100);
        api.Send(IpPacketBuilder.Tcp(Remote, Local, 40000, 8080, 1, r.SequenceNumber + 1, TcpFlags.Ack, 257));

        Assert.Equal(1, api.Poll(api.H, &pfd, 1, 0));
        Assert.Equal(POLLIN, (short)(pfd >> 48) & POLLIN);
        var peer = new byte[16];
        uint plen = 16;
        int c;
        fixed (byte* p = peer) c = api.Accept(api.H, l, p, &plen);
        Assert.True(c >= 3);
        Assert.Equal(16u, plen);
        Assert.Equal(Remote, Ipv4Address.Read(peer.AsSpan(4)));
        Assert.Equal(40000, BinaryPrimitives.ReadUInt16BigEndian(peer.AsSpan(2)));
        int mss = 0;
        uint len = 4;
        Assert.Equal(0, api.GetSockOpt(api.H, c, IPPROTO_TCP, TCP_MAXSEG, (byte*)&mss, &len));
        Assert.Equal(1000, mss);
        var info = new byte[280];
        len = (uint)info.Length;
        fixed (byte* p = info) Assert.Equal(0, api.GetSockOpt(api.H, c, IPPROTO_TCP, TCP_INFO, p, &len));
        Assert.Equal(1, info[0]); // TCP_ESTABLISHED
        Assert.Equal(10u, BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(80))); // tcpi_snd_cwnd: IW10

        // Peer -> us: bytes arrive intact, FIONREAD counts them.
        var data = new byte[700];
        new Random(3).NextBytes(data);
        api.Send(IpPacketBuilder.Tcp(Remote, Local, 40000, 8080, 1, r.SequenceNumber + 1, TcpFlags.Ack | TcpFlags.Psh, 257, default, data));
        int inq = 0;
        Assert.Equal(0, api.Ioctl(api.H, c, 0x541B, (nint)(&inq)));
        Assert.Equal(700, inq);
        var ack = api.Receive();
        Assert.Equal(701u, IpPacketBuilder.ParseSent(ack!.Value.Bytes, out _, out _, out _).AcknowledgmentNumber);
        var got = new byte[1000];
        fixed (byte* p = got) Assert.Equal(700, (int)api.Read(api.H, c, p, 1000));
        Assert.Equal(data, got[..700]);

        // Us -> peer: one write, one segment with the same bytes.
        var reply = new byte[1500];
        new Random(4).NextBytes(reply);
        fixed (byte* p = reply) Assert.Equal(1500, (int)api.Write(api.H, c, p, 1500));
        var seg = api.Receive();
        var rs = IpPacketBuilder.ParseSent(seg!.Value.Bytes, out _, out _, out var payload);
        Assert.Equal(r.SequenceNumber + 1, rs.SequenceNumber);
        Assert.Equal(reply, payload);

        // Non-blocking read with nothing queued: EAGAIN.
        Assert.Equal(0, api.Fcntl(api.H, c, F_SETFL, O_NONBLOCK));
        fixed (byte* p = got) ExpectErrno(EAGAIN, api.Read(api.H, c, p, 1000));
        Assert.Equal(0, api.Close(api.H, c));
        var fin = api.Receive();
        Assert.True((IpPacketBuilder.ParseSent(fin!.Value.Bytes, out _, out _, out _).Flags & TcpFlags.Fin) != 0);
        Assert.Equal(0, api.Close(api.H, l));
        Assert.Equal(0, api.Close(api.H, l2));
    }

    /// <summary>
    /// A listener on :8080 and one passive open through the library's device (the peer: MSS 1000, SACK,
    /// wscale 7, SYN window <paramref name="synWindow"/>; the ACK after <paramref name="rttUs"/> virtual µs
    /// with window <paramref name="ackWindow"/>). Returns the accepted fd; the listener and our ISN come out.
    /// </summary>
    private static int PassiveOpen(Api api, ushort synWindow, ushort ackWindow, uint rttUs, out int listener, out uint iss)
    {
        listener = api.Socket(api.H, AF_INET, SOCK_STREAM, 0);
        var sa = Sockaddr(Ipv4Address.Unspecified, 8080);
        fixed (byte* p = sa) Assert.Equal(0, api.Bind(api.H, listener, p, 16));
        Assert.Equal(0, api.Listen(api.H, listener, 1));
        var opts = new TcpOptions { MaxSegmentSize = 1000, SackPermitted = true, WindowScale = 7 };
        api.Send(IpPacketBuilder.Tcp(Remote, Local, 40000, 8080, 0, 0, TcpFlags.Syn, synWindow, opts));
        iss = IpPacketBuilder.ParseSent(api.Receive()!.Value.Bytes, out _, out _, out _).SequenceNumber;
        Assert.Equal(0, api.Usleep(api.H, rttUs));
        api.Send(IpPacketBuilder.Tcp(Remote, Local, 40000, 8080, 1, iss + 1, TcpFlags.Ack, ackWindow));
        int c = api.Accept(api.H, listener, null, null);
        Assert.True(c >= 3);
        return c;
    }

    /// <summary>Runs <paramref name="body"/> with a private sysctl tree holding the given net/ipv4 files, removed after.</summary>
    private static void WithSysctls(Action<string> body, params (string Name, string Value)[] files)
    {
        string root = Path.Combine(Path.GetTempPath(), "netmem-sysctl-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(root, "net", "ipv4"));
        try
        {
            foreach (var (name, value) in files) File.WriteAllText(Path.Combine(root, "net", "ipv4", name), value + "\n");
            body(root);
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    /// <summary>Handshake (MSS 1000), TCP_NODELAY, a 2500-byte write: the payload sizes and PSH bits of what the library sends.</summary>
    private static List<(int Len, bool Psh)> WriteThroughLibrary(string flags, byte[] data)
    {
        using var api = new Api(flags);
        int c = PassiveOpen(api, 65535, 511, 10_000, out int l, out uint iss);
        int one = 1;
        Assert.Equal(0, api.SetSockOpt(api.H, c, IPPROTO_TCP, TCP_NODELAY, (byte*)&one, 4));
        fixed (byte* p = data) Assert.Equal(data.Length, (int)api.Write(api.H, c, p, (nuint)data.Length));
        var got = new MemoryStream();
        var segs = new List<(int, bool)>();
        while (got.Length < data.Length)
        {
            var h = IpPacketBuilder.ParseSent(api.Receive()!.Value.Bytes, out _, out _, out var payload);
            Assert.Equal(iss + 1 + (uint)got.Length, h.SequenceNumber);
            segs.Add((payload.Length, (h.Flags & TcpFlags.Psh) != 0));
            got.Write(payload);
        }
        Assert.Equal(data, got.ToArray());
        Assert.Equal(0, api.Close(api.H, c));
        Assert.Equal(0, api.Close(api.H, l));
        return segs;
    }

    [Fact]
    public void TunOffloadsTurnedOffMakeTheDeviceSegmentGsoBursts()
    {
        Requires.NativeLibrary();
        Requires.Tap();
        Requires.Tools("ethtool");
        // A tun of our own with TSO and GSO off, as a script's `ethtool -K tun0 tso off gso off` leaves
        // tun0 (no address, no traffic; deleted at the end).
        string name = $"nmsegs{Environment.ProcessId % 100000}";
        var add = HostCommand.Run("ip", ["tuntap", "add", "dev", name, "mode", "tun"], TimeSpan.FromSeconds(5));
        Assert.True(add.Succeeded, add.Stderr);
        try
        {
            var off = HostCommand.Run("ethtool", ["-K", name, "tso", "off", "gso", "off"], TimeSpan.FromSeconds(5));
            Assert.True(off.Succeeded, off.Stderr);
            var data = new byte[2500];
            new Random(14).NextBytes(data);
            // Read from the interface: the 2-segment GSO burst is cut into MSS datagrams, PSH on its last.
            Assert.Equal([(1000, false), (1000, true), (500, true)], WriteThroughLibrary($"sysctl=off offloads={name}", data));
            // Not read: the device keeps TSO and hands the burst over whole.
            Assert.Equal([(2000, true), (500, true)], WriteThroughLibrary("sysctl=off offloads=off", data));
        }
        finally { HostCommand.Run("ip", ["tuntap", "del", "dev", name, "mode", "tun"], TimeSpan.FromSeconds(5)); }
    }

    [Fact]
    public void MinTsoSegsSysctlSizesBursts()
    {
        Requires.NativeLibrary();
        WithSysctls(root =>
        {
            using var api = new Api("sysctl=" + root);
            int c = PassiveOpen(api, 65535, 511, 100_000, out int l, out _);
            var data = new byte[10000];
            new Random(13).NextBytes(data);
            fixed (byte* p = data) Assert.Equal(10000, (int)api.Write(api.H, c, p, (nuint)data.Length));
            // tcp_min_tso_segs 10, but a burst takes at most half of cwnd 10: two of 5000 (the default 2 would give five of 2000).
            var sent = new MemoryStream();
            for (int i = 0; i < 2; i++)
            {
                IpPacketBuilder.ParseSent(api.Receive()!.Value.Bytes, out _, out _, out var burst);
                Assert.Equal(5000, burst.Length);
                sent.Write(burst);
            }
            Assert.Equal(data, sent.ToArray());
            Assert.Equal(0, api.Close(api.H, c));
            Assert.Equal(0, api.Close(api.H, l));
        }, ("tcp_min_tso_segs", "10"));
    }

    [Fact]
    public void NotSentLowatSysctlLimitsWritesAndPollout()
    {
        Requires.NativeLibrary();
        WithSysctls(root =>
        {
            using var api = new Api("sysctl=" + root);
            int c = PassiveOpen(api, 32792, 257, 10_000, out int l, out uint iss);
            // The sysctl applies while the socket option is unset; getsockopt reports the option (0).
            int lowat = -1;
            uint len = 4;
            Assert.Equal(0, api.GetSockOpt(api.H, c, IPPROTO_TCP, TCP_NOTSENT_LOWAT, (byte*)&lowat, &len));
            Assert.Equal(0, lowat);
            Assert.Equal(0, api.Fcntl(api.H, c, F_SETFL, O_NONBLOCK));
            var data = new byte[59000];
            new Random(12).NextBytes(data);
            fixed (byte* p = data) Assert.Equal(26000, (int)api.Write(api.H, c, p, (nuint)data.Length));
            var sent = new MemoryStream();
            var first = IpPacketBuilder.ParseSent(api.Receive()!.Value.Bytes, out _, out _, out var payload);
            Assert.Equal(iss + 1, first.SequenceNumber);
            sent.Write(payload);
            while (sent.Length < 10000) // the initial window in TSO-autosized bursts
            {
                IpPacketBuilder.ParseSent(api.Receive()!.Value.Bytes, out _, out _, out var burst);
                sent.Write(burst);
            }
            Assert.Equal(10000, sent.Length);
            long pfd = (uint)c | ((long)POLLOUT << 32);
            for (uint acked = 2000; acked <= 8000; acked += 2000)
            {
                Assert.Equal(0, api.Poll(api.H, &pfd, 1, 0)); // 16000 .. 4000 unsent: not below 2000
                Assert.Equal(0, api.Usleep(api.H, 10_000));
                api.Send(IpPacketBuilder.Tcp(Remote, Local, 40000, 8080, 1, iss + 1 + acked, TcpFlags.Ack, 257));
                long before = sent.Length;
                while (sent.Length < before + 4000)
                {
                    IpPacketBuilder.ParseSent(api.Receive()!.Value.Bytes, out _, out _, out var more);
                    sent.Write(more);
                }
                Assert.Equal(before + 4000, sent.Length);
            }
            Assert.Equal(1, api.Poll(api.H, &pfd, 1, 0));
            Assert.Equal(POLLOUT, (short)(pfd >> 48) & POLLOUT);
            Assert.Equal(data[..26000], sent.ToArray());
            // The option is unsigned: 0xffffffff (no limit) reads back as it was set.
            int max = -1;
            Assert.Equal(0, api.SetSockOpt(api.H, c, IPPROTO_TCP, TCP_NOTSENT_LOWAT, (byte*)&max, 4));
            lowat = 0;
            Assert.Equal(0, api.GetSockOpt(api.H, c, IPPROTO_TCP, TCP_NOTSENT_LOWAT, (byte*)&lowat, &len));
            Assert.Equal(-1, lowat);
            Assert.Equal(0, api.Close(api.H, c));
            Assert.Equal(0, api.Close(api.H, l));
        }, ("tcp_notsent_lowat", "4000"));
    }

    [Fact]
    public void FastOpenClientAsksForACookieCachesItAndDefersTheNextConnect()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        int one = 1;
        var sa = Sockaddr(Remote, 80);

        // TCP_FASTOPEN_CONNECT, no cookie yet: the SYN asks for one (an empty option 34), connect says EINPROGRESS.
        int fd = api.Socket(api.H, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, api.SetSockOpt(api.H, fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, (byte*)&one, 4));
        int two = 2;
        ExpectErrno(EINVAL, api.SetSockOpt(api.H, fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, (byte*)&two, 4));
        fixed (byte* p = sa) ExpectErrno(EINPROGRESS, api.Connect(api.H, fd, p, 16));
        ExpectErrno(EINVAL, api.SetSockOpt(api.H, fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, (byte*)&one, 4)); // too late
        var syn = api.Receive()!.Value.Bytes;
        var r = IpPacketBuilder.ParseSent(syn, out _, out _, out _);
        Assert.True(r.Options.HasFastOpen);
        Assert.Equal(0, r.Options.FastOpenCookieLength);
        Assert.Equal(20 + 20 + 24, syn.Length); // mss 4, sackOK+TS 12, wscale 4, FO 4
        var synAckOpts = new TcpOptions { MaxSegmentSize = 1460 };
        synAckOpts.SetFastOpen([0xab, 0xcd, 0x12, 0x34]);
        api.Send(IpPacketBuilder.Tcp(Remote, Local, 80, r.SourcePort, 122, r.SequenceNumber + 1, TcpFlags.Syn | TcpFlags.Ack, 14600, synAckOpts));
        var ack = IpPacketBuilder.ParseSent(api.Receive()!.Value.Bytes, out _, out _, out _);
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.False(ack.Options.HasFastOpen);
        byte b = 1;
        // Once connected MSG_FASTOPEN is ignored: the byte goes as ordinary data.
        Assert.Equal(1, (int)api.SendTo(api.H, fd, &b, 1, MSG_FASTOPEN, null, 0));
        var data = IpPacketBuilder.ParseSent(api.Receive()!.Value.Bytes, out _, out _, out _);
        Assert.Equal(TcpFlags.Ack | TcpFlags.Psh, data.Flags);
        api.Send(IpPacketBuilder.Tcp(Remote, Local, 80, r.SourcePort, 123, data.SequenceNumber + 1, TcpFlags.Ack, 14600, default));

        // With the cookie cached, TCP_FASTOPEN_CONNECT's connect returns 0 at once and sends nothing...
        int fd2 = api.Socket(api.H, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, api.SetSockOpt(api.H, fd2, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, (byte*)&one, 4));
        fixed (byte* p = sa) Assert.Equal(0, api.Connect(api.H, fd2, p, 16));
        int got = 0;
        uint len = 4;
        Assert.Equal(0, api.GetSockOpt(api.H, fd2, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, (byte*)&got, &len));
        Assert.Equal(1, got);
        // ...and the first write connects (no data in the SYN: EINPROGRESS, as Linux's fallback); a bad buffer is
        // only found after that, as Linux copies after connecting.
        ExpectErrno(EINPROGRESS, api.SendTo(api.H, fd2, null, 1, 0, null, 0));
        var syn2 = IpPacketBuilder.ParseSent(api.Receive()!.Value.Bytes, out _, out _, out _);
        Assert.Equal(TcpFlags.Syn, syn2.Flags);
        Assert.True(syn2.Options.HasFastOpen);
        Assert.Equal(0, api.Close(api.H, fd2)); // (in SYN-SENT: gone, no retransmission of its own)

        // MSG_FASTOPEN on a fresh socket connects to sendto's address; with the cookie cached the byte rides in
        // the SYN and the non-blocking call returns its count (tcp_send_syn_data).
        int fd3 = api.Socket(api.H, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        fixed (byte* p = sa) Assert.Equal(1, (int)api.SendTo(api.H, fd3, &b, 1, MSG_FASTOPEN, p, 16));
        var syn3Bytes = api.Receive()!.Value.Bytes;
        var syn3 = IpPacketBuilder.ParseSent(syn3Bytes, out _, out _, out _);
        Assert.True(syn3.Options.HasFastOpen);
        Assert.Equal(4, syn3.Options.FastOpenCookieLength);
        Assert.Equal(b, syn3Bytes[^1]); // the data after the options
        // A retransmitted SYN leaves the option (and the data) off.
        var again = IpPacketBuilder.ParseSent(api.Receive()!.Value.Bytes, out _, out _, out _);
        Assert.Equal(TcpFlags.Syn, again.Flags);
        Assert.Equal(syn3.SourcePort, again.SourcePort);
        Assert.False(again.Options.HasFastOpen);
        Assert.Equal(0, api.Close(api.H, fd));
        Assert.Equal(0, api.Close(api.H, fd3));
    }

    [Fact]
    public void NonBlockingConnectRetransmitsTheSynOnVirtualTime()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        int fd = api.Socket(api.H, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        var sa = Sockaddr(Remote, 80);
        fixed (byte* p = sa) ExpectErrno(EINPROGRESS, api.Connect(api.H, fd, p, 16));
        fixed (byte* p = sa) ExpectErrno(EALREADY, api.Connect(api.H, fd, p, 16));
        long t0 = api.NowUs();
        var syn = api.Receive();
        var r = IpPacketBuilder.ParseSent(syn!.Value.Bytes, out var src, out _, out _);
        Assert.Equal(Local, src);
        Assert.Equal(TcpFlags.Syn, r.Flags);
        Assert.Equal((ushort)1460, r.Options.MaxSegmentSize);
        // Nothing answers: netdev_receive moves virtual time to the SYN's RTO (1 s) and hands over the retransmission.
        var again = api.Receive();
        Assert.Equal(r.SequenceNumber, IpPacketBuilder.ParseSent(again!.Value.Bytes, out _, out _, out _).SequenceNumber);
        Assert.InRange(again.Value.TimeUs - t0, 1_000_000, 1_001_000);
        Assert.InRange(api.NowUs() - t0, 1_000_000, 1_001_000);
        // A RST refuses it: SO_ERROR reports ECONNREFUSED once.
        api.Send(IpPacketBuilder.Tcp(Remote, Local, 80, r.SourcePort, 0, r.SequenceNumber + 1, TcpFlags.Rst | TcpFlags.Ack, 0));
        int err = 0;
        uint len = 4;
        Assert.Equal(0, api.GetSockOpt(api.H, fd, SOL_SOCKET, SO_ERROR, (byte*)&err, &len));
        Assert.Equal(111, err);
        Assert.Equal(0, api.GetSockOpt(api.H, fd, SOL_SOCKET, SO_ERROR, (byte*)&err, &len));
        Assert.Equal(0, err);
        Assert.Equal(0, api.Close(api.H, fd));
    }

    [Fact]
    public void EpollReportsReadableListenerAndEdgeTriggersOnce()
    {
        Requires.NativeLibrary();
        using var api = new Api();
        int l = api.Socket(api.H, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        var sa = Sockaddr(Local, 8080);
        fixed (byte* p = sa) Assert.Equal(0, api.Bind(api.H, l, p, 16));
        Assert.Equal(0, api.Listen(api.H, l, 4));
        int ep = api.EpollCreate(api.H, 1);
        Assert.True(ep >= 3);
        var ev = new byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(ev, 1u | (1u << 31)); // EPOLLIN | EPOLLET
        BinaryPrimitives.WriteUInt64LittleEndian(ev.AsSpan(4), 0xfeed);
        fixed (byte* p = ev) Assert.Equal(0, api.EpollCtl(api.H, ep, 1, l, p));
        fixed (byte* p = ev) ExpectErrno(17, api.EpollCtl(api.H, ep, 1, l, p)); // EEXIST
        fixed (byte* p = ev) ExpectErrno(EINVAL, api.EpollCtl(api.H, ep, 1, ep, p)); // an epoll cannot watch itself
        var outv = new byte[12 * 4];
        fixed (byte* p = outv) Assert.Equal(0, api.EpollWait(api.H, ep, p, 4, 0));
        api.Send(IpPacketBuilder.Tcp(Remote, Local, 40001, 8080, 0, 0, TcpFlags.Syn, 32792, new TcpOptions { MaxSegmentSize = 1000 }));
        var r = IpPacketBuilder.ParseSent(api.Receive()!.Value.Bytes, out _, out _, out _);
        api.Send(IpPacketBuilder.Tcp(Remote, Local, 40001, 8080, 1, r.SequenceNumber + 1, TcpFlags.Ack, 257));
        fixed (byte* p = outv) Assert.Equal(1, api.EpollWait(api.H, ep, p, 4, 0));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(outv) & 1u);
        Assert.Equal(0xfeedul, BinaryPrimitives.ReadUInt64LittleEndian(outv.AsSpan(4)));
        // Edge-triggered: still readable, but nothing new: no second report.
        fixed (byte* p = outv) Assert.Equal(0, api.EpollWait(api.H, ep, p, 4, 0));
        int sock = api.Socket(api.H, AF_INET, SOCK_STREAM, 0);
        ExpectErrno(ENOTSOCK, api.Listen(api.H, ep, 1));
        Assert.Equal(0, api.Close(api.H, sock));
        Assert.Equal(0, api.Close(api.H, ep));
        Assert.Equal(0, api.Close(api.H, l));
    }
}
