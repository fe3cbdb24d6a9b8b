using Netmem.Dmabuf;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Stack;
using Netmem.Stack.Virtual;
using Netmem.Wire;

namespace Netmem.Tests.Virtual;

/// <summary>
/// The IP test device's netmem TX (what the C ABI's devmem TX goes out through): before it reads any net_iov
/// by DMA it checks, as validate_xmit_unreadable_skb does, that each belongs to a TX binding of its own
/// netdev. A received net_iov (an RX binding's, mapped for the device to write only) sent back out is
/// dropped and counted, nothing is read from device memory, and every net_iov comes back.
/// </summary>
public sealed class IpTestDeviceNetmemTxTests
{
    private static readonly Ipv4Address Local = new(192, 168, 0, 1), Remote = new(192, 0, 2, 1);

    /// <summary>Takes the transport's skbs instead of TCP (to send one back out).</summary>
    private sealed class Capture : IIpProtocolHandler
    {
        public readonly List<SkBuff> Skbs = new();
        public IpProtocol Protocol => IpProtocol.Tcp;
        public void Receive(in Ipv4Meta ip, SkBuff skb) => Skbs.Add(skb);
        public void ReceiveIcmpError(in Ipv4Meta original, Icmpv4Message message, byte code, uint info, ReadOnlySpan<byte> quotedTransport) { }
    }

    [Fact]
    public void AReceivedNetIovSentBackOutIsACountedDropBeforeAnyDma()
    {
        using var host = new VirtualTcpHost(new VirtualTcpHostOptions { TcpDataSplit = true });
        Assert.True(host.Netdev.NetmemTx);
        using var buf = new DeviceMemoryDmaBuf(64 * PageArena.PageSize);
        var binding = NetDevmemBinding.BindRx(host.Netdev, buf, [0]);
        var tcp = host.Device.Tcp;
        var capture = new Capture();
        host.Device.Tcp = capture;
        var payload = new byte[3000];
        new Random(5).NextBytes(payload);
        host.Inject(IpPacketBuilder.Tcp(Remote, Local, 40000, 8080, 1, 1, TcpFlags.Ack | TcpFlags.Psh, 257, default, payload));
        host.RunPending();
        var skb = Assert.Single(capture.Skbs);
        Assert.True(skb.Unreadable, "the payload went into the RX binding's net_iovs");
        host.Device.Tcp = tcp;

        Assert.Equal(Errno.None, host.Device.Route(Remote, Local, out var route));
        Assert.Equal(host.Netdev.Ifindex, route.IfIndex);
        long reads = host.Netdev.Dma.Stats.DeviceBytesRead, faults = host.Netdev.Dma.Stats.Faults, sent = host.Device.Transmitted;
        Assert.Equal(Errno.None, host.Device.Output(skb, route, Local, Remote, IpProtocol.Tcp));
        Assert.Equal(1, host.Device.Drops(IpTestDrop.UnreadableTx));
        Assert.Equal(sent, host.Device.Transmitted);
        Assert.Equal(0, host.Device.SentCount);
        Assert.Equal(0, host.Device.UnreadableSent);
        Assert.Equal(reads, host.Netdev.Dma.Stats.DeviceBytesRead); // the device read nothing
        Assert.Equal(faults, host.Netdev.Dma.Stats.Faults);

        binding.Dispose();
        host.RunPending();
        Assert.True(binding.IsFreed, "every net_iov came back");
    } // the host's Dispose checks every page and skb came back (data pool inflight 0)
}
