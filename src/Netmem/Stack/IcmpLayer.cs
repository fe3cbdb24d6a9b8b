using System.Buffers.Binary;
using System.Collections.Concurrent;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack;

/// <summary>
/// ICMPv4 (<c>net/ipv4/icmp.c</c>): answers echo requests (not rate limited), completes <see cref="PingAsync"/>
/// requests, sends destination unreachable and time exceeded errors under the Linux rate limits, and passes
/// received errors to the transport that sent the quoted datagram (a frag-needed also lowers the path MTU).
/// </summary>
public sealed class IcmpLayer : IIpProtocolHandler
{
    private readonly NetStack _stack;
    private readonly ConcurrentDictionary<ushort, PingRequest> _pings = new();
    private int _nextIdent = Random.Shared.Next(1, 0xFFFF);

    internal IcmpLayer(NetStack stack)
    {
        _stack = stack;
        RateLimiter = new IcmpRateLimiter(stack.Options);
    }

    public IpProtocol Protocol => IpProtocol.Icmp;
    public IcmpRateLimiter RateLimiter { get; }
    private IpStats Stats => _stack.Stats;

    // ------------------------------------------------------------------ input

    public void Receive(in Ipv4Meta ip, SkBuff skb)
    {
        Stats.Inc(IpMib.IcmpInMsgs);
        if (skb.Len < Icmpv4Packet.HeaderLength || !skb.PskbMayPull(Icmpv4Packet.HeaderLength))
        {
            Drop(skb, IpDropReason.IcmpMalformed);
            return;
        }
        if (skb.IpSummed != SkbChecksumState.Unnecessary)
        {
            if (skb.AnyUnreadable && skb.Len > skb.HeadLen)
            {
                Drop(skb, IpDropReason.Unreadable);
                return;
            }
            if (InetChecksum.Fold(skb.Checksum(0, skb.Len)) != 0)
            {
                Drop(skb, IpDropReason.IcmpCsum);
                return;
            }
        }
        var type = (Icmpv4Message)skb.Data[0];
        switch (type)
        {
            case Icmpv4Message.EchoRequest:
                Stats.Inc(IpMib.IcmpInEchos);
                Echo(ip, skb);
                return;
            case Icmpv4Message.EchoReply:
                Stats.Inc(IpMib.IcmpInEchoReps);
                EchoReply(ip, skb);
                return;
            case Icmpv4Message.DestinationUnreachable:
            case Icmpv4Message.TimeExceeded:
                Stats.Inc(IpMib.IcmpInErrors);
                Error(ip, skb, type);
                return;
            default:
                Drop(skb, IpDropReason.IcmpUnsupported);
                return;
        }
    }

    /// <summary><c>icmp_echo</c>: the reply carries the request's identifier, sequence and data.</summary>
    private void Echo(in Ipv4Meta ip, SkBuff req)
    {
        var iface = _stack.GetInterface(ip.IfIndex);
        bool bcast = iface is null || iface.IsBroadcast(ip.Destination);
        if (bcast && _stack.Options.IcmpEchoIgnoreBroadcasts)
        {
            Drop(req, IpDropReason.IcmpEchoBroadcast);
            return;
        }
        if (req.AnyUnreadable && req.Len > req.HeadLen)
        {
            Drop(req, IpDropReason.Unreadable);
            return;
        }
        var src = bcast ? iface!.Address.Address : ip.Destination;
        if (_stack.Route(ip.Source, src, out var route) != Errno.None)
        {
            Drop(req, IpDropReason.NoRoute);
            return;
        }
        var reply = iface!.AllocTxSkb(req.Len);
        if (reply is null)
        {
            Drop(req, IpDropReason.NoMemory);
            return;
        }
        var b = reply.Put(req.Len);
        req.CopyBits(0, b);
        req.Consume();
        b[0] = (byte)Icmpv4Message.EchoReply;
        b[1] = 0;
        b[2] = b[3] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], InetChecksum.Compute(b));
        reply.ResetTransportHeader();
        Stats.Inc(IpMib.IcmpOutMsgs);
        Stats.Inc(IpMib.IcmpOutEchoReps);
        _stack.Output(reply, route, src, ip.Source, IpProtocol.Icmp, ip.Tos, _stack.Options.DefaultTtl, dontFragment: false);
    }

    private void EchoReply(in Ipv4Meta ip, SkBuff skb)
    {
        ushort ident = BinaryPrimitives.ReadUInt16BigEndian(skb.Data[4..]);
        if (_pings.TryGetValue(ident, out var p) && p.TryComplete(ip, skb, _stack.NowUs))
        {
            skb.Consume();
            return;
        }
        Drop(skb, IpDropReason.IcmpEchoNoWaiter);
    }

    /// <summary><c>icmp_unreach</c>: hands the quoted header to the transport's error handler.</summary>
    private void Error(in Ipv4Meta ip, SkBuff skb, Icmpv4Message type)
    {
        // The quote: the original IPv4 header and at least 8 bytes of its payload, in the linear head.
        int need = Icmpv4Packet.HeaderLength + Ipv4Packet.MinHeaderLength + Icmpv4Repr.MinQuotedData;
        if (!skb.PskbMayPull(Math.Min(need, skb.Len)) || skb.Len < need)
        {
            Drop(skb, IpDropReason.IcmpMalformed);
            return;
        }
        var d = skb.Data;
        var quoted = d[Icmpv4Packet.HeaderLength..];
        int qihl = (quoted[0] & 0x0F) * 4;
        if (quoted[0] >> 4 != 4 || qihl < 20 || !skb.PskbMayPull(Math.Min(skb.Len, Icmpv4Packet.HeaderLength + qihl + 8)) || skb.Len < Icmpv4Packet.HeaderLength + qihl + 8)
        {
            Drop(skb, IpDropReason.IcmpMalformed);
            return;
        }
        d = skb.Data;
        quoted = d[Icmpv4Packet.HeaderLength..];
        byte code = d[1];
        uint info = 0;
        var origSrc = Ipv4Address.Read(quoted[12..]);
        var origDst = Ipv4Address.Read(quoted[16..]);
        var proto = (IpProtocol)quoted[9];
        if (type == Icmpv4Message.DestinationUnreachable && code == (byte)Icmpv4Unreachable.FragmentationNeeded)
        {
            int mtu = BinaryPrimitives.ReadUInt16BigEndian(d[6..]);
            var iface = _stack.GetInterface(ip.IfIndex);
            info = (uint)_stack.PathMtu.Update(origDst, mtu, iface?.Mtu ?? 1500, _stack.NowUs);
        }
        var handler = _stack.GetHandler(proto);
        if (handler is not null && handler != (IIpProtocolHandler)this)
        {
            var orig = new Ipv4Meta(origSrc, origDst, quoted[8], quoted[1], ip.IfIndex, ip.RxQueue);
            int avail = Math.Min(skb.HeadLen, d.Length) - Icmpv4Packet.HeaderLength - qihl;
            handler.ReceiveIcmpError(orig, type, code, info, quoted.Slice(qihl, avail));
        }
        skb.Consume();
    }

    // ------------------------------------------------------------------ errors out

    /// <summary>
    /// <c>__icmp_send</c>: an error about <paramref name="original"/> (its network header set) to its sender,
    /// quoting the original header and 8 bytes of payload. Nothing is sent about ICMP errors, non-first
    /// fragments, broadcasts or multicasts, or to a source that is not unicast; and nothing over the rate
    /// limit. Does not consume <paramref name="original"/>.
    /// </summary>
    public void SendError(NetInterface iface, SkBuff original, Icmpv4Message type, byte code, uint info)
    {
        int nh = original.NetworkHeader;
        if (nh == SkBuff.HeaderUnset) return;
        int headBytes = original.TailOffset - nh; // readable bytes from the IPv4 header in the head
        if (headBytes < Ipv4Packet.MinHeaderLength) return;
        var ipb = original.GetHeadSpan(nh, Ipv4Packet.MinHeaderLength);
        int ihl = (ipb[0] & 0x0F) * 4;
        if (ihl < 20 || headBytes < ihl) return;
        var h = original.GetHeadSpan(nh, ihl);
        var src = Ipv4Address.Read(h[12..]);
        var dst = Ipv4Address.Read(h[16..]);
        if (!src.IsUnicast || iface.IsBroadcast(src) || !dst.IsUnicast || iface.IsBroadcast(dst)) return;
        if ((BinaryPrimitives.ReadUInt16BigEndian(h[6..]) & 0x1FFF) != 0) return; // only about the first fragment
        int totLen = BinaryPrimitives.ReadUInt16BigEndian(h[2..]);
        int quote = Math.Min(Math.Min(ihl + Icmpv4Repr.MinQuotedData, headBytes), Math.Max(totLen, ihl));
        if ((IpProtocol)h[9] == IpProtocol.Icmp)
        {
            // Never an error about an error (RFC 1122 3.2.2).
            if (quote < ihl + 1) return;
            var inner = (Icmpv4Message)original.GetHeadSpan(nh + ihl, 1)[0];
            if (inner is not (Icmpv4Message.EchoRequest or Icmpv4Message.EchoReply or Icmpv4Message.Timestamp or Icmpv4Message.TimestampReply)) return;
        }
        if (!RateLimiter.Allow(type, src, _stack.NowUs))
        {
            Stats.Inc(IpMib.IcmpRateLimited);
            return;
        }
        var from = iface.IsLocal(dst) ? dst : iface.Address.Address;
        if (_stack.Route(src, from, out var route) != Errno.None) return;
        var skb = iface.AllocTxSkb(Icmpv4Packet.HeaderLength + quote);
        if (skb is null)
        {
            Stats.Drop(IpDropReason.NoMemory);
            return;
        }
        var b = skb.Put(Icmpv4Packet.HeaderLength + quote);
        b[0] = (byte)type;
        b[1] = code;
        b[2] = b[3] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], info);
        original.GetHeadSpan(nh, quote).CopyTo(b[Icmpv4Packet.HeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], InetChecksum.Compute(b));
        skb.ResetTransportHeader();
        Stats.Inc(IpMib.IcmpOutMsgs);
        Stats.Inc(type == Icmpv4Message.TimeExceeded ? IpMib.IcmpOutTimeExcds : IpMib.IcmpOutDestUnreachs);
        byte tos = (byte)((h[1] & 0x1E) | 0xC0); // IPTOS_PREC_INTERNETCONTROL
        _stack.Output(skb, route, from, src, IpProtocol.Icmp, tos, _stack.Options.DefaultTtl, dontFragment: false);
    }

    public void ReceiveIcmpError(in Ipv4Meta original, Icmpv4Message message, byte code, uint info, ReadOnlySpan<byte> quotedTransport)
    {
        // Errors about our own echo requests: complete the waiting ping with the error.
        if (message == Icmpv4Message.DestinationUnreachable && quotedTransport.Length >= 8 && quotedTransport[0] == (byte)Icmpv4Message.EchoRequest)
        {
            ushort ident = BinaryPrimitives.ReadUInt16BigEndian(quotedTransport[4..]);
            if (_pings.TryGetValue(ident, out var p)) p.TryFail(Errno.EHOSTUNREACH);
        }
    }

    // ------------------------------------------------------------------ ping

    /// <summary>
    /// Sends one echo request with <paramref name="payload"/> to <paramref name="destination"/> and waits for
    /// the reply (or <paramref name="timeout"/> on the stack's clock). The reply's payload is compared
    /// with what was sent.
    /// </summary>
    public ValueTask<PingReply> PingAsync(Ipv4Address destination, ReadOnlyMemory<byte> payload, TimeSpan timeout, ushort sequence = 1, CancellationToken cancellationToken = default)
    {
        var err = _stack.Route(destination, Ipv4Address.Unspecified, out var route);
        if (err != Errno.None) return ValueTask.FromException<PingReply>(new NetmemErrnoException(err, $"ping {destination}: no route"));
        var iface = _stack.GetInterface(route.IfIndex)!;
        ushort ident;
        PingRequest p;
        do
        {
            ident = (ushort)Interlocked.Increment(ref _nextIdent);
            p = new PingRequest(this, iface, destination, route, ident, sequence, payload.ToArray(), timeout, cancellationToken);
        }
        while (ident == 0 || !_pings.TryAdd(ident, p));
        iface.GetContext(0).Post(p);
        return p.Task;
    }

    internal void Forget(PingRequest p) => _pings.TryRemove(new KeyValuePair<ushort, PingRequest>(p.Ident, p));

    /// <summary>Builds and sends the echo request of <paramref name="p"/> (on the context it was posted to).</summary>
    internal Errno SendEcho(PingRequest p)
    {
        var skb = p.Interface.AllocTxSkb(Icmpv4Packet.HeaderLength + p.Payload.Length);
        if (skb is null) return Errno.ENOBUFS;
        var b = skb.Put(Icmpv4Packet.HeaderLength + p.Payload.Length);
        Icmpv4Repr.EchoRequest(p.Ident, p.Sequence, p.Payload.Length).Emit(b, fillChecksum: false);
        p.Payload.CopyTo(b[Icmpv4Packet.HeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], InetChecksum.Compute(b));
        skb.ResetTransportHeader();
        Stats.Inc(IpMib.IcmpOutMsgs);
        var r = p.Route;
        return _stack.Output(skb, r, r.Source, p.Destination, IpProtocol.Icmp, 0, _stack.Options.DefaultTtl, dontFragment: false);
    }

    internal void Shutdown()
    {
        foreach (var p in _pings.Values) p.TryFail(Errno.ENETUNREACH);
        _pings.Clear();
    }

    private void Drop(SkBuff skb, IpDropReason reason)
    {
        Stats.Drop(reason);
        skb.Free();
    }
}
