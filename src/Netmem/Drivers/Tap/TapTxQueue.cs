using System.Runtime.InteropServices;
using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Skb;

namespace Netmem.Drivers.Tap;

/// <summary>
/// One TX queue of a tap: <c>ndo_start_xmit</c> writes the vnet header built from the skb
/// (<c>virtio_net_hdr_from_skb</c>), the head and every frag with a single writev, straight from the
/// skb's memory (no copy); the kernel (<c>tun_get_user</c>) copies it into its own skb before writev
/// returns, so the completion follows at once. Frags must be host memory: a net_iov cannot be handed to
/// a system call, so such an skb is dropped and counted (<see cref="TapQueueStats.TxUnreadable"/>,
/// <see cref="SkbDropReason.UnreadableTx"/>).
/// </summary>
internal sealed unsafe class TapTxQueue : IDisposable
{
    private const int MaxIov = SkBuff.MaxSkbFrags + 2; // vnet header, head, frags

    private readonly TapDevice _dev;
    private readonly NetdevTxQueue _queue;
    private readonly TapChannel _channel;
    private readonly Lock _lock = new(); // HARD_TX_LOCK
    private readonly TapNative.IoVec* _iov;
    private readonly VirtioNetHdr* _hdr;
    private byte* _scratch; // a frame copy to corrupt (fault injection only), allocated on first use

    public TapTxQueue(TapDevice dev, NetdevTxQueue queue, TapChannel channel)
    {
        _dev = dev;
        _queue = queue;
        _channel = channel;
        _iov = (TapNative.IoVec*)NativeMemory.AllocZeroed((nuint)(MaxIov * sizeof(TapNative.IoVec)));
        _hdr = (VirtioNetHdr*)NativeMemory.AllocZeroed((nuint)VirtioNetHdr.Size);
    }

    public NetdevTxResult Xmit(SkBuff skb)
    {
        lock (_lock)
        {
            var reason = XmitLocked(skb);
            if (reason != SkbDropReason.NotSpecified)
            {
                _queue.Stats.Drops++;
                _dev.CountDrop(reason);
                skb.Free();
                return NetdevTxResult.Dropped;
            }
            _queue.Stats.Completions++;
            SkbZerocopy.MarkCopied(skb); // writev copied the frame: a zero-copy sender's completion says COPIED
            skb.Consume();
            return NetdevTxResult.Ok;
        }
    }

    private SkbDropReason XmitLocked(SkBuff skb)
    {
        var sh = skb.Shinfo;
        var ts = _channel.TapStats;
        // A tap writes bytes with writev and has no netmem TX: device memory can never leave through it.
        var unreadable = NetmemTxValidation.Validate(_dev, skb);
        if (unreadable != SkbDropReason.NotSpecified) { ts.TxUnreadable++; return unreadable; }
        if (sh.FragList is not null) return SkbDropReason.TxInvalid; // no NETIF_F_FRAGLIST
        int headLen = skb.HeadLen;
        if (headLen < 14) return SkbDropReason.PktTooSmall;
        var feats = _dev.Features;
        bool gso = sh.GsoSize != 0;
        if (gso && (feats & NetdevFeatures.Tso) == 0) return SkbDropReason.TxInvalid;
        if (!gso && skb.Len > _dev.Mtu + 18) return SkbDropReason.PktTooBig;
        if (skb.NrFrags > 0 && (feats & NetdevFeatures.Sg) == 0) return SkbDropReason.TxInvalid;
        if (skb.IpSummed == SkbChecksumState.Partial && (feats & NetdevFeatures.IpCsum) == 0) return SkbDropReason.TxInvalid;
        if (!VirtioNetHdr.FromSkb(skb, out var h)) return SkbDropReason.TxInvalid;

        *_hdr = h;
        _iov[0].Base = _hdr;
        _iov[0].Len = VirtioNetHdr.Size;
        _iov[1].Base = (void*)skb.DataAddress;
        _iov[1].Len = (nuint)headLen;
        int n = 2;
        var frags = skb.Frags;
        for (int i = 0; i < frags.Length; i++)
        {
            ref readonly var f = ref frags[i];
            if (f.Size == 0) continue;
            _iov[n].Base = (void*)f.FragAddress;
            _iov[n].Len = (nuint)f.Size;
            n++;
        }
        var faults = _dev.TxFaults;
        var fault = faults?.Decide() ?? SkbFault.None;
        if ((fault & SkbFault.Drop) != 0) return SkbDropReason.NotSpecified; // lost on the "wire": the skb counts as sent
        if ((fault & SkbFault.Corrupt) != 0 && !CorruptCopy(skb, faults!, ref h, ref n)) faults!.CountCorruptSkipped();
        nint w = Write(n);
        if (w >= 0 && (fault & SkbFault.Duplicate) != 0) Write(n);
        if (w < 0)
        {
            ts.TxWriteErrors++;
            ts.TxLastErrno = TapNative.LastErrno;
            return ts.TxLastErrno switch
            {
                TapNative.EAGAIN => SkbDropReason.TxRingFull, // the kernel's backlog is full
                TapNative.EINVAL => SkbDropReason.TxInvalid,  // tun refused the vnet header
                _ => SkbDropReason.DevReady,                  // EIO: the kernel side is down
            };
        }
        var stats = _queue.Stats;
        stats.Packets++;
        stats.Bytes += skb.Len;
        if (gso)
        {
            stats.HwGsoPackets++;
            int segs = sh.GsoSegs;
            if (segs == 0)
            {
                int hlen = h.HdrLen;
                segs = skb.Len > hlen ? (skb.Len - hlen + sh.GsoSize - 1) / sh.GsoSize : 1;
            }
            stats.HwGsoWirePackets += segs;
        }
        if (h.Flags == VirtioNetHdr.FlagNeedsCsum) stats.NeedsCsum++;
        else stats.CsumNone++;
        return SkbDropReason.NotSpecified;
    }

    private nint Write(int n)
    {
        nint w;
        do w = TapNative.Writev(_channel.Fd, _iov, n);
        while (w < 0 && TapNative.LastErrno == TapNative.EINTR);
        return w;
    }

    /// <summary>
    /// Fault injection: copies the frame into the scratch buffer, resolves a partial checksum there (as
    /// netem's skb_checksum_help does, so the receiver can see the damage), flips one bit and points the
    /// iovec at the copy. The skb itself (whose frags TCP's retransmit queue shares) is untouched.
    /// False for a GSO frame: its checksums are the kernel's to finish per segment.
    /// </summary>
    private bool CorruptCopy(SkBuff skb, SkbFaultInjector faults, ref VirtioNetHdr h, ref int n)
    {
        if (h.GsoType != VirtioNetHdr.GsoNone) return false;
        int len = skb.Len;
        if (_scratch is null) _scratch = (byte*)NativeMemory.Alloc(TapDevice.MaxGsoFrame);
        var frame = new Span<byte>(_scratch, len);
        skb.CopyBits(0, frame);
        if ((h.Flags & VirtioNetHdr.FlagNeedsCsum) != 0)
        {
            int start = h.CsumStart, field = start + h.CsumOffset;
            ushort c = InetChecksum.Compute(frame[start..]); // the field holds the pseudo-header sum: summing over it folds that in
            if (c == 0 && h.CsumOffset == 6) c = 0xFFFF; // UDP: zero would mean "no checksum"
            frame[field] = (byte)(c >> 8);
            frame[field + 1] = (byte)c;
            h.Flags = 0;
            *_hdr = h;
        }
        if (!faults.PickBit(len, 0, out int at, out byte mask)) return true; // counted by PickBit
        frame[at] ^= mask;
        _iov[1].Base = _scratch;
        _iov[1].Len = (nuint)len;
        n = 2;
        return true;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            NativeMemory.Free(_iov);
            NativeMemory.Free(_hdr);
            if (_scratch is not null) NativeMemory.Free(_scratch);
            _scratch = null;
        }
    }
}
