using System.IO.Hashing;
using Netmem.Drivers.VirtualNic;
using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Tests.Stack;

public class UdpTests
{
    private static readonly UdpEndpoint EpA = new(StackTestEnv.IpA, 5000), EpB = new(StackTestEnv.IpB, 6000);

    private static void Transfer(StackTestEnv env, UdpSocket from, UdpSocket to, UdpEndpoint dst, int count, int seed)
    {
        var sentHash = new XxHash3();
        var gotHash = new XxHash3();
        var buf = new byte[2048];
        for (int batch = 0; batch < count; batch += 20)
        {
            int n = Math.Min(20, count - batch);
            for (int i = 0; i < n; i++)
            {
                var p = Frames.Pattern(1 + (batch + i) * 37 % 1400, seed + batch + i);
                sentHash.Append(p);
                var s = from.SendToAsync(p, dst);
                env.Poll();
                Assert.Equal(p.Length, StackTestEnv.Result(s));
            }
            for (int i = 0; i < n; i++)
            {
                var r = to.ReceiveFromAsync(buf);
                env.Poll();
                var res = StackTestEnv.Result(r);
                Assert.False(res.Truncated);
                Assert.Equal(from.LocalEndpoint, res.From);
                gotHash.Append(buf.AsSpan(0, res.Length));
            }
        }
        Assert.Equal(sentHash.GetCurrentHashAsUInt64(), gotHash.GetCurrentHashAsUInt64());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Datagrams_cross_both_ways_byte_exact(bool txCsumOffload)
    {
        var o = txCsumOffload ? new VirtualNicOptions() : new VirtualNicOptions { Features = Netmem.Devices.NetdevFeatures.Sg | Netmem.Devices.NetdevFeatures.RxCsum };
        using var env = new StackTestEnv(o, o);
        using var a = new UdpSocket(env.StackA);
        using var b = new UdpSocket(env.StackB);
        a.Bind(EpA);
        b.Bind(EpB);
        Transfer(env, a, b, EpB, 200, 1);
        Transfer(env, b, a, EpA, 200, 2);
        Assert.Equal(400, env.StackA.Udp.Stats[UdpMib.InDatagrams] + env.StackB.Udp.Stats[UdpMib.InDatagrams]);
        Assert.Equal(0, env.StackB.Udp.Stats[UdpMib.InCsumErrors]);
    }

    [Fact]
    public void Bind_errors_and_ephemeral_ports_follow_linux()
    {
        using var env = new StackTestEnv();
        using var a = new UdpSocket(env.StackA);
        using var b = new UdpSocket(env.StackA);
        using var c = new UdpSocket(env.StackA);
        a.Bind(new UdpEndpoint(Ipv4Address.Unspecified, 7000));
        Assert.Equal(Errno.EADDRINUSE, Assert.Throws<NetmemErrnoException>(() => b.Bind(new UdpEndpoint(StackTestEnv.IpA, 7000))).Errno);
        Assert.Equal(Errno.EADDRNOTAVAIL, Assert.Throws<NetmemErrnoException>(() => b.Bind(new UdpEndpoint(new Ipv4Address(10, 9, 9, 9), 1))).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => a.Bind(new UdpEndpoint(Ipv4Address.Unspecified, 7001))).Errno);
        c.Bind(default);
        Assert.InRange(c.LocalEndpoint.Port, 32768, 60999);
        a.Dispose();
        b.Bind(new UdpEndpoint(StackTestEnv.IpA, 7000)); // free again once closed
    }

    [Fact]
    public void Closed_port_gives_icmp_port_unreachable_and_econnrefused_on_the_next_call()
    {
        using var env = new StackTestEnv();
        using var a = new UdpSocket(env.StackA);
        a.Connect(new UdpEndpoint(StackTestEnv.IpB, 9999));
        var s = a.SendAsync(Frames.Pattern(64, 1));
        env.Poll();
        Assert.Equal(64, StackTestEnv.Result(s));
        Assert.Equal(1, env.StackB.Udp.Stats[UdpMib.NoPorts]);
        Assert.Equal(1, env.StackB.Stats[IpMib.IcmpOutDestUnreachs]);
        Assert.Equal(1, env.StackA.Stats[IpMib.IcmpInErrors]);
        var s2 = a.SendAsync(Frames.Pattern(64, 2));
        env.Poll();
        var ex = Assert.Throws<NetmemErrnoException>(() => StackTestEnv.Result(s2));
        Assert.Equal(Errno.ECONNREFUSED, ex.Errno);
        // Reported once: the next send goes out again (and fails again on the one after).
        var s3 = a.SendAsync(Frames.Pattern(64, 3));
        env.Poll();
        Assert.Equal(64, StackTestEnv.Result(s3));
        // A receive waiting when the error comes is woken with it.
        var r = a.ReceiveAsync(new byte[100]);
        env.Poll();
        Assert.Equal(Errno.ECONNREFUSED, Assert.Throws<NetmemErrnoException>(() => StackTestEnv.Result(r)).Errno);
    }

    [Fact]
    public void Icmp_errors_are_rate_limited_per_destination_with_a_burst_of_six()
    {
        using var env = new StackTestEnv();
        using var a = new UdpSocket(env.StackA);
        for (int i = 0; i < 10; i++)
        {
            var s = a.SendToAsync(Frames.Pattern(10, i), new UdpEndpoint(StackTestEnv.IpB, 9999));
            env.Poll();
            StackTestEnv.Result(s);
        }
        Assert.Equal(10, env.StackB.Udp.Stats[UdpMib.NoPorts]);
        Assert.Equal(6, env.StackB.Stats[IpMib.IcmpOutDestUnreachs]);
        Assert.Equal(4, env.StackB.Stats[IpMib.IcmpRateLimited]);
        env.Advance(TimeSpan.FromSeconds(1));
        var s2 = a.SendToAsync(Frames.Pattern(10, 99), new UdpEndpoint(StackTestEnv.IpB, 9999));
        env.Poll();
        StackTestEnv.Result(s2);
        Assert.Equal(7, env.StackB.Stats[IpMib.IcmpOutDestUnreachs]);
    }

    [Fact]
    public void Connected_socket_filters_other_senders()
    {
        using var env = new StackTestEnv();
        using var b = new UdpSocket(env.StackB);
        b.Bind(EpB);
        b.Connect(new UdpEndpoint(StackTestEnv.IpA, 5000));
        using var a1 = new UdpSocket(env.StackA);
        using var a2 = new UdpSocket(env.StackA);
        a1.Bind(new UdpEndpoint(StackTestEnv.IpA, 5001));
        a2.Bind(new UdpEndpoint(StackTestEnv.IpA, 5000));
        StackTestEnv.Result(Send(env, a1, Frames.Pattern(20, 1)));
        StackTestEnv.Result(Send(env, a2, Frames.Pattern(30, 2)));
        var buf = new byte[100];
        var r = b.ReceiveFromAsync(buf);
        env.Poll();
        var res = StackTestEnv.Result(r);
        Assert.Equal(30, res.Length);
        Assert.Equal(new UdpEndpoint(StackTestEnv.IpA, 5000), res.From);
        Assert.Equal(1, env.StackB.Udp.Stats[UdpMib.NoPorts]); // a1's datagram found no socket
    }

    private static ValueTask<int> Send(StackTestEnv env, UdpSocket s, byte[] p)
    {
        var t = s.SendToAsync(p, EpB);
        env.Poll();
        return t;
    }

    [Fact]
    public void Large_datagram_is_fragmented_and_reassembled_byte_exact()
    {
        using var env = new StackTestEnv();
        using var a = new UdpSocket(env.StackA);
        using var b = new UdpSocket(env.StackB);
        b.Bind(EpB);
        var p = Frames.Pattern(8000, 5);
        var s = a.SendToAsync(p, EpB);
        env.Poll();
        Assert.Equal(8000, StackTestEnv.Result(s));
        Assert.Equal(1, env.StackA.Stats[IpMib.FragOKs]);
        Assert.Equal(6, env.StackA.Stats[IpMib.FragCreates]); // 8008 bytes in 1480-byte pieces
        var buf = new byte[9000];
        var r = b.ReceiveFromAsync(buf);
        env.Poll();
        var res = StackTestEnv.Result(r);
        Assert.Equal(8000, res.Length);
        Assert.Equal(XxHash3.HashToUInt64(p), XxHash3.HashToUInt64(buf.AsSpan(0, 8000)));
        Assert.Equal(1, env.StackB.Stats[IpMib.ReasmOKs]);
        Assert.Equal(5, env.StackB.Stats[IpMib.ReasmMerged]);
        Assert.Equal(0, env.StackB.FragmentMemory);
    }

    [Fact]
    public void Udp_segment_splits_one_send_into_datagrams_of_the_segment_size()
    {
        using var env = new StackTestEnv();
        using var a = new UdpSocket(env.StackA) { SegmentSize = 1000 };
        using var b = new UdpSocket(env.StackB);
        b.Bind(EpB);
        var p = Frames.Pattern(4500, 9);
        var s = a.SendToAsync(p, EpB);
        env.Poll();
        Assert.Equal(4500, StackTestEnv.Result(s));
        var got = new List<byte>();
        var buf = new byte[2000];
        for (int i = 0; i < 5; i++)
        {
            var r = b.ReceiveAsync(buf);
            env.Poll();
            int n = StackTestEnv.Result(r);
            Assert.Equal(i < 4 ? 1000 : 500, n);
            got.AddRange(buf.AsSpan(0, n).ToArray());
        }
        Assert.Equal(p, got.ToArray());
        Assert.Equal(0, env.StackA.Stats[IpMib.FragOKs]);
        a.SegmentSize = 1480; // with headers over the 1500 MTU
        var bad = a.SendToAsync(p, EpB);
        env.Poll();
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => StackTestEnv.Result(bad)).Errno);
    }

    [Fact]
    public void Zero_copy_lease_and_cancellation()
    {
        using var env = new StackTestEnv();
        using var a = new UdpSocket(env.StackA);
        using var b = new UdpSocket(env.StackB);
        b.Bind(EpB);
        using var cts = new CancellationTokenSource();
        var pending = b.ReceiveAsync(new byte[10], cts.Token);
        env.Poll();
        Assert.False(pending.IsCompleted);
        cts.Cancel();
        env.Poll();
        Assert.True(pending.IsCompleted);
        Assert.Throws<OperationCanceledException>(() => StackTestEnv.Result(pending));

        var p = Frames.Pattern(777, 3);
        StackTestEnv.Result(Send(env, a, p));
        var l = b.ReceiveLeaseAsync();
        env.Poll();
        using var lease = StackTestEnv.Result(l);
        Assert.True(lease.IsReadable);
        Assert.Equal(777, lease.Length);
        Assert.Equal(p, System.Buffers.BuffersExtensions.ToArray(lease.Payload));
    }

    [Fact]
    public void Receive_buffer_limit_drops_and_counts()
    {
        using var env = new StackTestEnv();
        using var a = new UdpSocket(env.StackA);
        using var b = new UdpSocket(env.StackB) { ReceiveBufferSize = 20_000 };
        b.Bind(EpB);
        for (int i = 0; i < 10; i++) StackTestEnv.Result(Send(env, a, Frames.Pattern(100, i)));
        Assert.True(b.ReceiveBufferDrops > 0);
        Assert.Equal(b.ReceiveBufferDrops, env.StackB.Udp.Stats[UdpMib.RcvbufErrors]);
        Assert.Equal(10, env.StackB.Udp.Stats[UdpMib.InDatagrams] + b.ReceiveBufferDrops);
    }

    [Fact]
    public void Steady_state_send_and_receive_allocate_nothing()
    {
        using var env = new StackTestEnv();
        using var a = new UdpSocket(env.StackA);
        using var b = new UdpSocket(env.StackB);
        b.Bind(EpB);
        var p = Frames.Pattern(512, 1);
        var buf = new byte[1024];
        long total = 0;
        void Round()
        {
            var s = a.SendToAsync(p, EpB);
            var r = b.ReceiveFromAsync(buf);
            env.Poll();
            total += StackTestEnv.Result(s) + StackTestEnv.Result(r).Length;
        }
        for (int i = 0; i < 300; i++) Round();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 500; i++) Round();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(800 * 1024, total);
        Assert.Equal(p, buf.AsSpan(0, 512).ToArray());
    }
}
