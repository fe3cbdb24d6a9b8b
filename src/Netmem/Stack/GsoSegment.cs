using System.Buffers.Binary;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack;

/// <summary>
/// Software GSO (<c>skb_gso_segment</c> -> <c>tcp4_gso_segment</c>): splits a TCPv4 GSO skb into MSS-sized
/// segments the way a TSO device would. Headers are copied; payload in the linear head is copied and
/// payload in frags is shared (each segment takes references on slices of the frags), so unreadable
/// (device memory) payload is never touched. Checksums are left to the device (CHECKSUM_PARTIAL) when
/// it has tx checksumming, else computed here (readable payload only).
/// </summary>
public static class GsoSegment
{
    /// <summary>
    /// Segments <paramref name="gso"/> (data at its IPv4 header, transport header set, <c>gso_size</c> the MSS).
    /// Returns the segments chained by <see cref="SkBuff.Next"/>, or null with the reason. The caller still
    /// owns (and frees) <paramref name="gso"/>.
    /// </summary>
    public static SkBuff? TcpV4(SkBuff gso, SkbCache cache, int headroom, bool hwCsum, out IpDropReason why)
    {
        why = IpDropReason.GsoUnsupported;
        var sh = gso.Shinfo;
        if ((sh.GsoType & SkbGsoType.TcpV4) == 0 || sh.GsoSize == 0) return null;
        int ipOff = gso.NetworkOffset, tcpOff = gso.TransportOffset;
        if (ipOff != 0 || tcpOff < 20 || gso.HeadLen < tcpOff + 20) return null;
        var d = gso.Data;
        int hlen = tcpOff + (d[tcpOff + 12] >> 4) * 4;
        if (hlen > gso.HeadLen || d[9] != (byte)IpProtocol.Tcp) return null;
        if (gso.AnyUnreadable && !hwCsum) { why = IpDropReason.Unreadable; return null; }
        if (sh.FragList is not null && gso.Unreadable) { why = IpDropReason.Unreadable; return null; }

        int mss = sh.GsoSize;
        int payload = gso.Len - hlen;
        if (payload <= 0) return null;
        int n = (payload + mss - 1) / mss;
        var src = Ipv4Address.Read(d[12..]);
        var dst = Ipv4Address.Read(d[16..]);
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(d[4..]);
        uint seq = BinaryPrimitives.ReadUInt32BigEndian(d[(tcpOff + 4)..]);
        byte flags = d[tcpOff + 13];
        bool copyAll = sh.FragList is not null; // frag_list payload is copied (readable only)

        SkBuff? first = null, last = null;
        for (int s = 0; s < n; s++)
        {
            int off = hlen + s * mss;
            int len = Math.Min(mss, payload - s * mss);
            int inHead = copyAll ? len : Math.Clamp(gso.HeadLen - off, 0, len);
            var seg = cache.Alloc(headroom + hlen + inHead);
            if (seg is null)
            {
                SkbCache.FreeList(first);
                why = IpDropReason.NoMemory;
                return null;
            }
            seg.Reserve(headroom);
            seg.QueueMapping = gso.QueueMapping;
            seg.PpRecycle = gso.PpRecycle; // frag references below are of the original's kind
            var h = seg.Put(hlen);
            gso.Data[..hlen].CopyTo(h);
            if (inHead > 0) gso.CopyBits(off, seg.Put(inHead));
            if (inHead < len) AddFragSlices(seg, gso, off + inHead, len - inHead);
            if (sh.Ubuf is not null) seg.Shinfo.SetUbuf(sh.Ubuf); // skb_zerocopy_clone: each segment holds the completion
            seg.ResetNetworkHeader();
            seg.SetTransportHeader(tcpOff);

            bool isLast = s == n - 1;
            BinaryPrimitives.WriteUInt16BigEndian(h[2..], (ushort)(hlen + len));
            BinaryPrimitives.WriteUInt16BigEndian(h[4..], (ushort)(id + s));
            h[10] = h[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(h[10..], InetChecksum.Compute(h[..tcpOff]));
            var tcp = h[tcpOff..];
            BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq + (uint)(s * mss));
            byte f = flags;
            if (!isLast) f &= unchecked((byte)~((byte)TcpFlags.Fin | (byte)TcpFlags.Psh));
            if (s > 0) f &= unchecked((byte)~(byte)TcpFlags.Cwr);
            tcp[13] = f;
            int tcpLen = hlen - tcpOff + len;
            if (hwCsum)
            {
                BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], PseudoHeader.PartialChecksum(src, dst, IpProtocol.Tcp, tcpLen));
                seg.IpSummed = SkbChecksumState.Partial;
                seg.CsumStart = seg.TransportHeader;
                seg.CsumOffset = 16;
            }
            else
            {
                tcp[16] = tcp[17] = 0;
                uint sum = seg.Checksum(tcpOff, tcpLen);
                BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], PseudoHeader.Checksum(src, dst, IpProtocol.Tcp, tcpLen, sum));
                seg.IpSummed = SkbChecksumState.None;
            }
            if (first is null) first = seg; else last!.Next = seg;
            last = seg;
        }
        return first;
    }

    /// <summary>Adds frags to <paramref name="seg"/> covering [offset, offset+length) of <paramref name="from"/>'s frag area, each holding its own reference.</summary>
    private static void AddFragSlices(SkBuff seg, SkBuff from, int offset, int length)
    {
        int pos = from.HeadLen;
        var frags = from.Frags;
        for (int i = 0; i < frags.Length && length > 0; i++)
        {
            ref var f = ref frags[i];
            int end = pos + f.Size;
            if (offset < end)
            {
                int inFrag = offset - pos;
                int take = Math.Min(f.Size - inFrag, length);
                f.Ref(from.PpRecycle);
                seg.AddRxFragNetmem(f.Netmem, f.Offset + inFrag, take, take);
                offset += take;
                length -= take;
            }
            pos = end;
        }
    }
}
