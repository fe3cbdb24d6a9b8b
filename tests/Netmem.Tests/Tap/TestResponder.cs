using System.Buffers.Binary;
using Netmem.Devices;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Tests.Tap;

/// <summary>
/// The test's stand-in for the IP stack, as the device's RxHandler: answers ARP requests for
/// <see cref="Address"/> and ICMP echo requests to it by rewriting the received skb in place and
/// sending it back (so a reply to a big ping goes out with the frags it came in), and keeps every
/// other frame for the test to inspect (the test frees them). Runs on the RX queue's NAPI context.
/// </summary>
internal sealed class TestResponder(Ipv4Address address) : INetdevRxHandler
{
    private readonly List<SkBuff> _kept = [];
    public Ipv4Address Address { get; } = address;
    public int ArpReplies, EchoReplies, Ignored;
    /// <summary>The largest echo request answered (IP total length).</summary>
    public int LargestEcho;
    /// <summary>Keep frames that are not ARP/ICMP for us (default true); false frees them at once.</summary>
    public bool Keep { get; set; } = true;

    public int KeptCount { get { lock (_kept) return _kept.Count; } }

    /// <summary>Takes the kept skbs (the caller frees them).</summary>
    public List<SkBuff> TakeKept()
    {
        lock (_kept)
        {
            var l = new List<SkBuff>(_kept);
            _kept.Clear();
            return l;
        }
    }

    public void FreeAll()
    {
        foreach (var s in TakeKept()) s.Free();
    }

    public void Receive(NetDevice dev, NetdevRxQueue queue, SkBuff skb)
    {
        if (skb.Protocol == (ushort)EtherType.Arp && TryArpReply(dev, skb)) return;
        if (skb.Protocol == (ushort)EtherType.Ipv4 && TryEchoReply(dev, skb)) return;
        if (Keep)
        {
            lock (_kept) _kept.Add(skb);
            return;
        }
        Interlocked.Increment(ref Ignored);
        skb.Free();
    }

    private bool TryArpReply(NetDevice dev, SkBuff skb)
    {
        var data = skb.Data;
        if (ArpPacket.TryCreate(data, out var pkt) != ParseResult.Ok || ArpRepr.Parse(pkt, out var arp) != ParseResult.Ok) return false;
        if (arp.Operation != ArpOperation.Request || arp.TargetProtocolAddress != Address)
        {
            Interlocked.Increment(ref Ignored);
            skb.Free();
            return true;
        }
        var reply = new ArpRepr(ArpOperation.Reply, dev.Address, Address, arp.SenderHardwareAddress, arp.SenderProtocolAddress);
        reply.Emit(data);
        var eth = skb.Push(EthernetFrame.MinHeaderLength);
        new EthernetRepr(dev.Address, arp.SenderHardwareAddress, EtherType.Arp).Emit(eth);
        skb.IpSummed = SkbChecksumState.None;
        if (dev.Transmit(skb) == NetdevTxResult.Ok) Interlocked.Increment(ref ArpReplies);
        return true;
    }

    private bool TryEchoReply(NetDevice dev, SkBuff skb)
    {
        var data = skb.Data; // the head: IP and ICMP headers are here, the echo data may go on in frags
        if (Ipv4Packet.TryCreateHeader(data, out var ip) != ParseResult.Ok) return false;
        if (ip.Destination != Address || ip.Protocol != IpProtocol.Icmp) return false;
        int ihl = ip.HeaderLength;
        if (data.Length < ihl + Icmpv4Packet.HeaderLength || data[ihl] != (byte)Icmpv4Message.EchoRequest) return false;
        int total = ip.TotalLength;
        var src = ip.Source;
        var dst = ip.Destination;
        // Swap the addresses (the header checksum does not change: the sum is the same), make it a reply
        // and patch the ICMP checksum for the type change (RFC 1624), then swap the MACs.
        src.Write(data[16..]);
        dst.Write(data[12..]);
        var icmp = data[ihl..];
        ushort check = BinaryPrimitives.ReadUInt16BigEndian(icmp[2..]);
        ushort oldWord = BinaryPrimitives.ReadUInt16BigEndian(icmp);
        icmp[0] = (byte)Icmpv4Message.EchoReply;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], ChecksumUpdate.Replace2(check, oldWord, BinaryPrimitives.ReadUInt16BigEndian(icmp)));
        var eth = skb.Push(EthernetFrame.MinHeaderLength);
        Span<byte> mac = stackalloc byte[6];
        eth[6..12].CopyTo(mac);
        eth[..6].CopyTo(eth[6..12]);
        mac.CopyTo(eth);
        skb.IpSummed = SkbChecksumState.None;
        if (dev.Transmit(skb) == NetdevTxResult.Ok)
        {
            Interlocked.Increment(ref EchoReplies);
            if (total > LargestEcho) LargestEcho = total;
        }
        return true;
    }
}
