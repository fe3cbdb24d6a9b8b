using System.Buffers.Binary;
using Netmem.Devices;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Tests.Skb;
using Netmem.Tests.Stack;
using Netmem.Wire;

namespace Netmem.Tests.TcpNet;

/// <summary>
/// tcp_v4_send_check on a route without checksum offload: a segment with unreadable frags goes CHECKSUM_PARTIAL
/// (the stack never reads device memory), and the IP output's skb_checksum_help then refuses it as a counted
/// drop; a readable one still gets its checksum in software.
/// </summary>
public class TcpUnreadableChecksumTests
{
    private static readonly Ipv4Address Src = new(10, 0, 0, 1), Dst = new(10, 0, 0, 2);

    [Fact]
    public void An_unreadable_segment_without_checksum_offload_is_a_counted_drop_not_an_exception()
    {
        using var stack = new StackTestEnv(new VirtualNicOptions { Features = NetdevFeatures.Sg | NetdevFeatures.RxCsum });
        using var env = new SkbTestEnv();
        var skb = env.Cache.Alloc(128)!;
        skb.Reserve(64);
        var h = skb.Put(20);
        h.Clear();
        h[12] = 5 << 4;
        skb.ResetTransportHeader();
        skb.MarkForRecycle(); // the frag is a page_pool net_iov: freeing returns it to the pool
        skb.AddRxFragNetmem(env.DevPool.AllocNetmem(), 0, 1000, PageArena.PageSize);
        Assert.True(skb.Unreadable);

        TcpConnection.FillChecksum(skb, h, offload: false, Src, Dst, skb.Len); // no exception: no payload read
        Assert.Equal(SkbChecksumState.Partial, skb.IpSummed);
        Assert.Equal(skb.Headroom, skb.CsumStart);
        Assert.Equal(16, skb.CsumOffset);
        Assert.Equal(PseudoHeader.PartialChecksum(Src, Dst, IpProtocol.Tcp, 1020), BinaryPrimitives.ReadUInt16BigEndian(h[16..]));

        // The device cannot fill it: ip_finish_output's skb_checksum_help refuses unreadable payload, counted.
        Assert.Equal(NetdevFeatures.None, stack.IfA.Device.Features & NetdevFeatures.IpCsum);
        long before = stack.StackA.Stats.GetDrops().GetValueOrDefault(IpDropReason.Unreadable);
        Assert.Equal(Errno.EINVAL, stack.StackA.ChecksumHelp(skb)); // frees the skb
        Assert.Equal(before + 1, stack.StackA.Stats.GetDrops().GetValueOrDefault(IpDropReason.Unreadable));
        // SkbTestEnv's Dispose checks the net_iov came back: its pool at inflight 0.
    }

    [Fact]
    public void A_readable_segment_without_checksum_offload_gets_its_checksum_in_software()
    {
        using var env = new SkbTestEnv();
        var skb = env.Cache.Alloc(256)!;
        skb.Reserve(64);
        var h = skb.Put(20 + 33);
        h.Clear();
        h[12] = 5 << 4;
        for (int i = 20; i < h.Length; i++) h[i] = (byte)(i * 7);
        skb.ResetTransportHeader();

        TcpConnection.FillChecksum(skb, h, offload: false, Src, Dst, skb.Len);
        Assert.Equal(SkbChecksumState.None, skb.IpSummed);
        uint sum = InetChecksum.Partial(h);
        Assert.Equal(0, PseudoHeader.Checksum(Src, Dst, IpProtocol.Tcp, h.Length, sum)); // verifies over the filled field
        skb.Free();
    }
}
