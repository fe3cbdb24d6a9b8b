using System.Runtime.InteropServices;
using Netmem.Skb;

namespace Netmem.Drivers.Tap;

/// <summary>
/// <c>struct virtio_net_hdr_v1</c> (the same 12 bytes as <c>virtio_net_hdr_mrg_rxbuf</c>): the metadata a
/// tap with IFF_VNET_HDR puts in front of every frame, in both directions. Little-endian (virtio 1.0,
/// and the host's order on x86 and arm64 for the legacy form).
/// <para>
/// Why 12 bytes and not the legacy 10: the 12-byte form is what every virtio 1.0 device and vhost
/// backend speaks, so this header code also serves a later vhost-net/virtio-user backend unchanged,
/// and it keeps the vnet header 4-byte aligned when it sits right in front of the frame in the RX
/// buffer's headroom. The cost is two bytes per frame. tun fills only the first 10 bytes on RX (it
/// skips num_buffers) and ignores num_buffers on TX.
/// </para>
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1, Size = Size)]
public struct VirtioNetHdr
{
    public const int Size = 12;

    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum [csum_start, end) and store it at csum_start + csum_offset.</summary>
    public const byte FlagNeedsCsum = 1;
    /// <summary>VIRTIO_NET_HDR_F_DATA_VALID: the checksum was verified.</summary>
    public const byte FlagDataValid = 2;
    /// <summary>VIRTIO_NET_HDR_F_RSC_INFO: coalescing info (never from tun; accepted and ignored).</summary>
    public const byte FlagRscInfo = 4;

    public const byte GsoNone = 0;
    public const byte GsoTcpV4 = 1;
    public const byte GsoUdp = 3;
    public const byte GsoTcpV6 = 4;
    public const byte GsoUdpL4 = 5;
    /// <summary>VIRTIO_NET_HDR_GSO_ECN: the TCP stream uses ECN (CWR on the first segment only).</summary>
    public const byte GsoEcn = 0x80;

    public byte Flags;
    public byte GsoType;
    /// <summary>Length of the headers (a hint; tun on TX sets skb_headlen).</summary>
    public ushort HdrLen;
    public ushort GsoSize;
    /// <summary>Offset from the start of the frame (the Ethernet header).</summary>
    public ushort CsumStart;
    public ushort CsumOffset;
    public ushort NumBuffers;

    /// <summary>
    /// <c>virtio_net_hdr_from_skb</c>: the header for an skb whose data starts at the Ethernet header.
    /// Returns false when the skb asks for something a virtio header cannot say (a GSO type other than
    /// TCPv4/TCPv6/UDP-L4, or GSO without CHECKSUM_PARTIAL).
    /// </summary>
    public static bool FromSkb(SkBuff skb, out VirtioNetHdr hdr)
    {
        hdr = default;
        var sh = skb.Shinfo;
        if (sh.GsoSize != 0)
        {
            var t = sh.GsoType;
            if ((t & SkbGsoType.TcpV4) != 0) hdr.GsoType = GsoTcpV4;
            else if ((t & SkbGsoType.TcpV6) != 0) hdr.GsoType = GsoTcpV6;
            else if ((t & SkbGsoType.UdpL4) != 0) hdr.GsoType = GsoUdpL4;
            else return false;
            if ((t & SkbGsoType.TcpEcn) != 0) hdr.GsoType |= GsoEcn;
            if (skb.IpSummed != SkbChecksumState.Partial) return false;
            hdr.GsoSize = sh.GsoSize;
            hdr.HdrLen = (ushort)Math.Min(skb.HeadLen, ushort.MaxValue);
        }
        if (skb.IpSummed == SkbChecksumState.Partial)
        {
            int start = skb.CsumStart - skb.Headroom; // csum_start counts from the head, the header from the frame
            if (start < 0 || start + skb.CsumOffset + 2 > skb.Len) return false;
            hdr.Flags = FlagNeedsCsum;
            hdr.CsumStart = (ushort)start;
            hdr.CsumOffset = skb.CsumOffset;
        }
        else if (skb.IpSummed == SkbChecksumState.Unnecessary)
        {
            hdr.Flags = FlagDataValid;
        }
        return true;
    }

    public override readonly string ToString() =>
        $"vnet_hdr(flags 0x{Flags:x}, gso_type 0x{GsoType:x}, hdr_len {HdrLen}, gso_size {GsoSize}, csum_start {CsumStart}, csum_offset {CsumOffset})";
}

/// <summary>Why a received vnet header was refused (counted per queue in <see cref="TapQueueStats"/>).</summary>
public enum VirtioNetHdrError : byte
{
    None,
    /// <summary>Flag bits outside NEEDS_CSUM, DATA_VALID and RSC_INFO.</summary>
    UnknownFlags,
    /// <summary>A gso_type this driver does not know, or gso_type without gso_size (or the reverse).</summary>
    BadGso,
    /// <summary>GSO without NEEDS_CSUM (tun always sets it for GSO frames).</summary>
    GsoWithoutCsum,
    /// <summary>The checksum field named by csum_start and csum_offset lies outside the frame's linear part.</summary>
    BadCsumOffsets,
    /// <summary>The GSO type does not match the frame's EtherType.</summary>
    GsoProtocolMismatch,
}
