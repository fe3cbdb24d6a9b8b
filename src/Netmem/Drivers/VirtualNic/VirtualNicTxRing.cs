using System.Buffers.Binary;
using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Memory;
using Netmem.Phy;
using Netmem.Skb;

namespace Netmem.Drivers.VirtualNic;

/// <summary>
/// One TX queue: the driver maps an skb's head and frags for the device (net_iov frags use the DMA
/// address their dma-buf binding gave them; they are never mapped as pages), and the device reads them
/// through its IOMMU onto the wire, segmenting TSO skbs and filling checksums. The device finishes an
/// skb before <c>ndo_start_xmit</c> returns, so the completion (unmap, free) follows straight away.
/// </summary>
internal sealed class VirtualNicTxRing
{
    private const int MaxPieces = SkBuff.MaxSkbFrags + 1;
    /// <summary>Largest header block the device copies in to build TSO headers.</summary>
    private const int MaxHeader = 192;

    private readonly VirtualNic _nic;
    private readonly NetdevTxQueue _queue;
    private readonly Lock _lock = new(); // HARD_TX_LOCK
    private readonly WireFrame _frame = new();
    private readonly ulong[] _iova = new ulong[MaxPieces];
    private readonly int[] _len = new int[MaxPieces];
    private readonly bool[] _mapped = new bool[MaxPieces];
    private readonly byte[] _hdr = new byte[MaxHeader];
    private int _pieces;

    public VirtualNicTxRing(VirtualNic nic, NetdevTxQueue queue)
    {
        _nic = nic;
        _queue = queue;
    }

    public NetdevTxResult Xmit(SkBuff skb)
    {
        lock (_lock)
        {
            var reason = XmitLocked(skb);
            Unmap();
            if (reason != SkbDropReason.NotSpecified)
            {
                _queue.Stats.Drops++;
                _nic.CountDrop(reason);
                skb.Free();
                return NetdevTxResult.Dropped;
            }
            _queue.Stats.Completions++;
            skb.Consume(); // TX completion: the device has read everything
            return NetdevTxResult.Ok;
        }
    }

    /// <summary>Returns NotSpecified on success, else why the skb cannot be sent.</summary>
    private SkbDropReason XmitLocked(SkBuff skb)
    {
        var sh = skb.Shinfo;
        if (sh.FragList is not null) return SkbDropReason.TxInvalid; // no NETIF_F_FRAGLIST
        int headLen = skb.HeadLen;
        if (headLen < 14) return SkbDropReason.PktTooSmall;
        var feats = _nic.Features;
        bool gso = sh.GsoSize != 0;
        if (gso && ((feats & NetdevFeatures.Tso) == 0 || (sh.GsoType & SkbGsoType.TcpV4) == 0))
            return SkbDropReason.TxInvalid;
        if (!gso && skb.Len > _nic.Mtu + 14) return SkbDropReason.PktTooBig;
        if (skb.NrFrags > 0 && (feats & NetdevFeatures.Sg) == 0) return SkbDropReason.TxInvalid;
        // Before any DMA: net_iovs only from a TX binding of this device (validate_xmit_unreadable_skb).
        var unreadable = NetmemTxValidation.Validate(_nic, skb);
        if (unreadable != SkbDropReason.NotSpecified) return unreadable;

        // dma_map the head and each frag (ndo_start_xmit's mapping loop).
        _pieces = 0;
        var head = skb.HeadNetmem;
        int headOff = (int)(skb.DataAddress - head.Address);
        AddPiece(_nic.Dma.MapPage(head, headOff, headLen, DmaDirection.ToDevice), headLen, mapped: true);
        for (int i = 0; i < skb.NrFrags; i++)
        {
            var frag = skb.Frags[i];
            if (frag.Size == 0) continue;
            if (frag.Netmem.IsNetIov)
            {
                // netmem TX: the binding mapped the dma-buf for this device; its address is in the net_iov.
                ulong dma = frag.Netmem.DmaAddr;
                if (dma == 0) return SkbDropReason.TxInvalid;
                AddPiece(dma + (ulong)frag.Offset, frag.Size, mapped: false);
            }
            else
            {
                AddPiece(_nic.Dma.MapPage(frag.Netmem, frag.Offset, frag.Size, DmaDirection.ToDevice), frag.Size, mapped: true);
            }
        }
        return gso ? HwTso(skb) : HwSend(skb);
    }

    private void AddPiece(ulong iova, int len, bool mapped)
    {
        _iova[_pieces] = iova;
        _len[_pieces] = len;
        _mapped[_pieces] = mapped;
        _pieces++;
    }

    private void Unmap()
    {
        for (int i = 0; i < _pieces; i++)
            if (_mapped[i]) _nic.Dma.UnmapPage(_iova[i], _len[i], DmaDirection.ToDevice);
        _pieces = 0;
    }

    /// <summary>Appends bytes [offset, offset+length) of the skb's data to the frame as DMA segments.</summary>
    private void AppendRange(int offset, int length)
    {
        int pos = 0;
        for (int i = 0; i < _pieces && length > 0; i++)
        {
            int l = _len[i];
            if (offset < pos + l)
            {
                int inPiece = offset - pos;
                int n = Math.Min(l - inPiece, length);
                _frame.AppendDma(_nic.Dma, _iova[i] + (ulong)inPiece, n);
                offset += n;
                length -= n;
            }
            pos += l;
        }
    }

    // ------------------------------------------------------------------ the device

    /// <summary>One frame; fills a CHECKSUM_PARTIAL checksum over [csum_start, end) at csum_start + csum_offset.</summary>
    private SkbDropReason HwSend(SkBuff skb)
    {
        var stats = _queue.Stats;
        _frame.Reset();
        int len = skb.Len;
        if (skb.IpSummed == SkbChecksumState.Partial)
        {
            int field = skb.CsumStart - (skb.Headroom) + skb.CsumOffset; // csum_start counts from the head
            int start = skb.CsumStart - skb.Headroom;
            int inl = field + 2;
            if (start < 0 || inl > MaxHeader || inl > skb.HeadLen) return SkbDropReason.TxInvalid;
            var h = _frame.AppendInline(inl);
            _nic.Dma.DeviceRead(_iova[0], h);
            AppendRange(inl, len - inl);
            // The stack seeded the field with the pseudo-header sum; the device adds the rest.
            ushort csum = InetChecksum.Fold(_frame.Checksum(start, len - start));
            BinaryPrimitives.WriteUInt16BigEndian(_frame.InlineBytes[field..], csum);
            stats.NeedsCsum++;
        }
        else
        {
            AppendRange(0, len);
            stats.CsumNone++;
        }
        PutOnWire();
        return SkbDropReason.NotSpecified;
    }

    /// <summary>
    /// TSO for TCP over IPv4: each segment gets a copy of the headers with its IP total length, IP id,
    /// header checksum, sequence number and flags fixed up (FIN and PSH only on the last, CWR only on the
    /// first) and a full TCP checksum over pseudo-header, header and its slice of the payload.
    /// </summary>
    private SkbDropReason HwTso(SkBuff skb)
    {
        int ipOff = skb.NetworkOffset, tcpOff = skb.TransportOffset;
        if (ipOff < 14 || tcpOff <= ipOff || tcpOff + 20 > skb.HeadLen || tcpOff + 20 > MaxHeader) return SkbDropReason.TxInvalid;
        var hdr = _hdr.AsSpan();
        _nic.Dma.DeviceRead(_iova[0], hdr[..(tcpOff + 20)]);
        int hlen = tcpOff + (hdr[tcpOff + 12] >> 4) * 4;
        if (hlen > MaxHeader || hlen > skb.HeadLen || hdr[ipOff + 9] != 6 || (hdr[ipOff] >> 4) != 4) return SkbDropReason.TxInvalid;
        _nic.Dma.DeviceRead(_iova[0], hdr[..hlen]);

        var stats = _queue.Stats;
        int mss = skb.Shinfo.GsoSize;
        int payload = skb.Len - hlen;
        if (payload <= 0 || mss <= 0) return SkbDropReason.TxInvalid;
        int segs = (payload + mss - 1) / mss;
        uint seq = BinaryPrimitives.ReadUInt32BigEndian(hdr[(tcpOff + 4)..]);
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(hdr[(ipOff + 4)..]);
        byte flags = hdr[tcpOff + 13];
        uint src = BinaryPrimitives.ReadUInt32BigEndian(hdr[(ipOff + 12)..]);
        uint dst = BinaryPrimitives.ReadUInt32BigEndian(hdr[(ipOff + 16)..]);
        int tcpHdr = hlen - tcpOff;

        for (int s = 0; s < segs; s++)
        {
            int segLen = Math.Min(mss, payload - s * mss);
            bool last = s == segs - 1;
            _frame.Reset();
            var h = _frame.AppendInline(hlen);
            hdr[..hlen].CopyTo(h);
            var ip = h[ipOff..];
            BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(hlen - ipOff + segLen));
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)(id + s));
            ip[10] = ip[11] = 0;
            int ihl = (ip[0] & 0xF) * 4;
            BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InetChecksum.Fold(InetChecksum.Partial(ip[..ihl])));
            var tcp = h[tcpOff..];
            BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq + (uint)(s * mss));
            byte f = flags;
            if (!last) f &= unchecked((byte)~(0x01 | 0x08)); // FIN, PSH
            if (s > 0) f &= unchecked((byte)~0x80);          // CWR
            tcp[13] = f;
            tcp[16] = tcp[17] = 0;
            AppendRange(hlen + s * mss, segLen);
            uint sum = PseudoHeaderSum(src, dst, 6, tcpHdr + segLen);
            sum = _frame.Checksum(tcpOff, tcpHdr + segLen, sum);
            BinaryPrimitives.WriteUInt16BigEndian(_frame.InlineBytes[(tcpOff + 16)..], InetChecksum.Fold(sum));
            PutOnWire();
        }
        stats.HwGsoPackets++;
        stats.HwGsoWirePackets += segs;
        return SkbDropReason.NotSpecified;
    }

    internal static uint PseudoHeaderSum(uint src, uint dst, byte proto, int length)
    {
        Span<byte> p = stackalloc byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(p, src);
        BinaryPrimitives.WriteUInt32BigEndian(p[4..], dst);
        p[8] = 0;
        p[9] = proto;
        BinaryPrimitives.WriteUInt16BigEndian(p[10..], (ushort)length);
        return InetChecksum.Partial(p);
    }

    private void PutOnWire()
    {
        _queue.Stats.Packets++;
        _queue.Stats.Bytes += _frame.Length;
        _nic.PutOnWire(_frame);
    }
}
