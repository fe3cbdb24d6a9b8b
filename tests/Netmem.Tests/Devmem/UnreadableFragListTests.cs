using Netmem.Memory;
using Netmem.Skb;
using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Tests.TcpNet;
using Netmem.Wire;

namespace Netmem.Tests.DevmemRx;

/// <summary>
/// IP datagrams reassembled from fragments whose payload is in net_iovs: the unreadable state reaches the
/// reassembled skb through its frag_list, and UDP and TCP turn what they cannot read into counted drops
/// or EFAULT, never an exception on the stack's thread.
/// </summary>
public sealed class UnreadableFragListTests : IDisposable
{
    private readonly TcpNetEnv _net = new(queues: 1);
    private readonly DeviceMemory _mem = new(64 * 4096, "test-hbm");
    private readonly NetIovArea _area;
    private int _next;

    public UnreadableFragListTests() => _area = NetIovArea.Create(NetIovType.Dmabuf, _mem, 0, 64);

    public void Dispose()
    {
        _net.Poll();
        Assert.Equal(0, _area.Users); // every fragment's net_iov reference was dropped with its skb
        _area.Dispose();
        _mem.Dispose();
        _net.Dispose();
    }

    private NetStack B => _net.B;
    private NetInterface IfB => _net.Env.IfB;

    /// <summary>
    /// Delivers one fragment to B's IPv4 input on its RX context: the IPv4 header (and
    /// <paramref name="linear"/> payload bytes) in the head, the rest of the payload in a net_iov when
    /// <paramref name="device"/>, else in the head too.
    /// </summary>
    private void Fragment(IpProtocol proto, ushort id, int offset, bool more, ReadOnlySpan<byte> payload, int linear, bool device)
    {
        var ip = new byte[20 + payload.Length];
        new Ipv4Repr(StackTestEnvIps.A, StackTestEnvIps.B, proto, payload.Length) { Identification = id, FragmentOffset = offset, MoreFragments = more }.Emit(ip);
        payload.CopyTo(ip.AsSpan(20));
        var cache = _net.Env.RawTx;
        int head = device ? 20 + linear : ip.Length;
        var skb = cache.Alloc(head)!;
        skb.PutData(ip.AsSpan(0, head));
        if (device)
        {
            var niov = _area[_next++];
            niov.Get();
            _mem.CopyFromHost((long)niov.NetIovIndex * 4096, ip.AsSpan(head));
            skb.AddRxFragNetmem(niov, 0, ip.Length - head, 4096);
        }
        _net.On(IfB.GetContext(0), () => B.Ipv4Receive(IfB, 0, skb)); // rethrows anything thrown there
    }

    private static byte[] Udp(int payload, bool checksum)
    {
        var u = Netmem.Tests.Stack.Frames.Udp(StackTestEnvIps.A, StackTestEnvIps.B, 1, 2, DevmemReceiveTests.Pattern(payload, 1));
        if (!checksum) u[6] = u[7] = 0;
        return u;
    }

    /// <summary>The first fragment readable (UDP header and 24 bytes in the head), the second in device memory.</summary>
    private void SendUdp(ushort id, bool checksum)
    {
        var u = Udp(1024, checksum);
        Fragment(IpProtocol.Udp, id, 0, true, u.AsSpan(0, 32), 0, device: false);
        Fragment(IpProtocol.Udp, id, 32, false, u.AsSpan(32), 0, device: true);
    }

    [Fact]
    public void A_udp_checksum_over_an_unreadable_frag_list_is_a_counted_drop()
    {
        using var sock = new UdpSocket(B);
        sock.Bind(new UdpEndpoint(StackTestEnvIps.B, 2));
        long before = B.Udp.Stats[UdpMib.CsumUnverifiable];
        SendUdp(10, checksum: true);
        Assert.Equal(1, B.Stats[IpMib.ReasmOKs]);
        Assert.Equal(before + 1, B.Udp.Stats[UdpMib.CsumUnverifiable]);
        Assert.Equal(0, B.Udp.Stats[UdpMib.InDatagrams]);
    }

    [Fact]
    public async Task Udp_without_a_checksum_delivers_the_chain_and_a_copy_receive_is_EFAULT_while_a_lease_is_unreadable()
    {
        using var sock = new UdpSocket(B);
        sock.Bind(new UdpEndpoint(StackTestEnvIps.B, 2));
        SendUdp(11, checksum: false);
        var r = sock.ReceiveAsync(new byte[2000]).AsTask();
        _net.RunUntil(() => r.IsCompleted, what: "the copying receive");
        Assert.Equal(Errno.EFAULT, Assert.IsType<NetmemErrnoException>(r.Exception!.InnerException).Errno);
        Assert.Equal(1, Interlocked.Read(ref sock.CopyFaultDrops));
        Assert.True(B.Udp.Stats[UdpMib.InErrors] >= 1);

        SendUdp(12, checksum: false);
        var l = sock.ReceiveLeaseAsync().AsTask();
        _net.RunUntil(() => l.IsCompleted, what: "the lease receive");
        var d = await l;
        Assert.False(d.IsReadable);
        Assert.Equal(1024, d.Length);
        Assert.Throws<NetmemException>(() => d.CopyTo(new byte[2000]));
        d.Dispose();
        Assert.Equal(2, B.Stats[IpMib.ReasmOKs]);
    }

    [Fact]
    public void A_tcp_segment_reassembled_with_an_unreadable_frag_list_is_a_counted_drop()
    {
        var payload = DevmemReceiveTests.Pattern(1200, 2);
        var seg = new byte[20 + payload.Length];
        payload.CopyTo(seg.AsSpan(20));
        new TcpRepr(1234, 80, 1, 1, TcpFlags.Ack, 1000, payload.Length).Emit(seg, StackTestEnvIps.A, StackTestEnvIps.B);
        long before = B.Tcp.Stats.GetDrops(TcpDropReason.UnverifiableChecksum);
        Fragment(IpProtocol.Tcp, 20, 0, true, seg.AsSpan(0, 40), 0, device: false);
        Fragment(IpProtocol.Tcp, 20, 40, false, seg.AsSpan(40), 0, device: true);
        Assert.Equal(1, B.Stats[IpMib.ReasmOKs]);
        Assert.Equal(before + 1, B.Tcp.Stats.GetDrops(TcpDropReason.UnverifiableChecksum));
    }
}

/// <summary>The two stacks' addresses, under a name that does not clash with this namespace's types.</summary>
internal static class StackTestEnvIps
{
    public static readonly Ipv4Address A = Netmem.Tests.Stack.StackTestEnv.IpA, B = Netmem.Tests.Stack.StackTestEnv.IpB;
}
