using System.Buffers.Binary;
using Netmem.Devices;
using Netmem.Drivers.VirtualNic;
using Netmem.Skb;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Tests.Stack;

public class GsoTests
{
    /// <summary>A stand-in TCP that checks each segment's checksum and keeps the payload bytes.</summary>
    private sealed class TcpSink : IIpProtocolHandler
    {
        public readonly List<byte> Payload = [];
        public int Segments, BadChecksums;
        public IpProtocol Protocol => IpProtocol.Tcp;
        public void Receive(in Ipv4Meta ip, SkBuff skb)
        {
            Segments++;
            if (skb.IpSummed != SkbChecksumState.Unnecessary &&
                PseudoHeader.Checksum(ip.Source, ip.Destination, IpProtocol.Tcp, skb.Len, skb.Checksum(0, skb.Len)) != 0) BadChecksums++;
            int doff = (skb.Data[12] >> 4) * 4;
            var b = new byte[skb.Len - doff];
            skb.CopyBits(doff, b);
            Payload.AddRange(b);
            skb.Free();
        }
        public void ReceiveIcmpError(in Ipv4Meta original, Icmpv4Message message, byte code, uint info, ReadOnlySpan<byte> quotedTransport) { }
    }

    private sealed class SendGso(NetStack stack, byte[] payload, int mss) : StackWork
    {
        public Errno Result = (Errno)(-1);
        protected internal override void Run(StackContext context)
        {
            stack.Route(StackTestEnv.IpB, Ipv4Address.Unspecified, out var route);
            var skb = stack.Interfaces[0].AllocTxSkb(20 + payload.Length)!;
            skb.ResetTransportHeader();
            var t = skb.Put(20 + payload.Length);
            BinaryPrimitives.WriteUInt16BigEndian(t, 40000);
            BinaryPrimitives.WriteUInt16BigEndian(t[2..], 80);
            BinaryPrimitives.WriteUInt32BigEndian(t[4..], 1000);
            BinaryPrimitives.WriteUInt32BigEndian(t[8..], 1);
            t[12] = 5 << 4;
            t[13] = (byte)(TcpFlags.Ack | TcpFlags.Psh);
            BinaryPrimitives.WriteUInt16BigEndian(t[14..], 65535);
            payload.CopyTo(t[20..]);
            BinaryPrimitives.WriteUInt16BigEndian(t[16..], PseudoHeader.PartialChecksum(route.Source, StackTestEnv.IpB, IpProtocol.Tcp, 20 + payload.Length));
            skb.IpSummed = SkbChecksumState.Partial;
            skb.CsumStart = skb.TransportHeader;
            skb.CsumOffset = 16;
            skb.Shinfo.GsoSize = (ushort)mss;
            skb.Shinfo.GsoType = SkbGsoType.TcpV4;
            skb.Shinfo.GsoSegs = (ushort)((payload.Length + mss - 1) / mss);
            Result = stack.Output(skb, route, route.Source, StackTestEnv.IpB, IpProtocol.Tcp);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Tcp_gso_skbs_are_segmented_by_the_device_or_in_software(bool tso)
    {
        var feats = tso ? (NetdevFeatures?)null : NetdevFeatures.Sg | NetdevFeatures.RxCsum; // no TSO, no tx checksum
        using var env = new StackTestEnv(new VirtualNicOptions { Features = feats });
        var sink = new TcpSink();
        Assert.True(env.StackB.Unregister(env.StackB.Tcp)); // this test looks at raw segments instead
        env.StackB.Register(sink);
        // Resolve B first so the GSO skb is not queued on ARP.
        var ping = env.StackA.Icmp.PingAsync(StackTestEnv.IpB, new byte[4], TimeSpan.FromSeconds(1));
        env.PollUntil(() => ping.IsCompleted);
        StackTestEnv.Result(ping);
        var payload = Frames.Pattern(5000, 4);
        var work = new SendGso(env.StackA, payload, 1448);
        env.IfA.GetContext(0).Post(work);
        env.Poll();
        Assert.Equal(Errno.None, work.Result);
        Assert.Equal(4, sink.Segments);
        Assert.Equal(0, sink.BadChecksums);
        Assert.Equal(payload, sink.Payload.ToArray());
        Assert.Equal(tso ? 0 : 1, env.StackA.Stats[IpMib.GsoSegmented]);
    }
}
