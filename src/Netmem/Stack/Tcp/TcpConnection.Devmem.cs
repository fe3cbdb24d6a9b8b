using Netmem.Devices;
using Netmem.Dmabuf;

namespace Netmem.Stack.Tcp;

// devmem TX: tcp_sendmsg_locked with MSG_ZEROCOPY and an SCM_DEVMEM_DMABUF cmsg (zerocopy_fill_skb_from_devmem).
public sealed partial class TcpConnection
{
    /// <summary>What a route must offer for devmem TX: the device fills the checksum and takes frags.</summary>
    private const NetdevFeatures DevmemTxFeatures = NetdevFeatures.IpCsum | NetdevFeatures.Sg;

    /// <summary>
    /// <c>sendmsg(MSG_ZEROCOPY)</c> with <c>SCM_DEVMEM_DMABUF</c> = <paramref name="dmabufId"/>: sends bytes of the
    /// dma-buf of a TX binding (<see cref="NetDevmemBinding.BindTx"/>) without the CPU ever reading them. Each
    /// element of <paramref name="iov"/> is a range of the dma-buf (its offset where Linux has <c>iov_base</c>);
    /// each page of it becomes a send-queue extent referencing that page's net_iov (one reference each, which pins
    /// the binding until the extent is ACKed and every skb carrying it is freed). Queues up to the free send buffer.
    /// Returns the bytes queued, or a negative errno: EINVAL without SO_ZEROCOPY (<see cref="TcpSettings.ZeroCopy"/>),
    /// or when no live TX binding has the id; ENODEV when the binding's device is not this connection's route
    /// device (<c>net_devmem_get_binding</c>); EOPNOTSUPP when the route's device lacks TX checksum offload or
    /// scatter-gather (the payload cannot be read to checksum or copy it; Linux drops such skbs later instead,
    /// see docs/devmem.md); EFAULT for a negative length or a range past the dma-buf's end (nothing is queued);
    /// EPIPE/ECONNRESET/ENOTCONN as <see cref="Send(ReadOnlySpan{byte}, bool, bool)"/>. A call that queues bytes
    /// takes the next zero-copy send id: its completion on <see cref="ErrorQueue"/> says when the ranges may be
    /// rewritten (never COPIED: nothing on this path copies device memory). Runs on the connection's thread.
    /// </summary>
    public int SendDevmem(uint dmabufId, ReadOnlySpan<DmabufIov> iov, bool endOfRecord = false, bool more = false) =>
        SendDevmem(dmabufId, iov, null, endOfRecord, more);

    /// <summary><see cref="SendDevmem(uint, ReadOnlySpan{DmabufIov}, bool, bool)"/> whose completion also releases <paramref name="pin"/>.</summary>
    internal int SendDevmem(uint dmabufId, ReadOnlySpan<DmabufIov> iov, IZerocopyPin? pin, bool endOfRecord = false, bool more = false)
    {
        if (Error != Errno.None) return -(int)(Error == Errno.ECONNRESET || Error == Errno.ETIMEDOUT ? Error : Errno.EPIPE);
        if (_finQueued) return -(int)Errno.EPIPE;
        if (State is TcpState.Closed or TcpState.Listen) return -(int)Errno.ENOTCONN;
        if (!Settings.ZeroCopy) return Refuse(Errno.EINVAL); // a dma-buf id without SO_ZEROCOPY
        long total = 0;
        foreach (var v in iov)
        {
            if (v.Length < 0) return Refuse(Errno.EFAULT);
            total += v.Length;
        }
        if (total == 0) return 0;

        var err = NetDevmemBinding.TryAcquireTx(dmabufId, _route.IfIndex, out var binding);
        if (err != Errno.None) return Refuse(err);
        try
        {
            if ((_route.Features & DevmemTxFeatures) != DevmemTxFeatures) return Refuse(Errno.EOPNOTSUPP);
            long size = binding!.DmaBuf.Size;
            foreach (var v in iov)
                if (v.Offset > (ulong)size || (long)v.Offset + v.Length > size) return Refuse(Errno.EFAULT);

            var sndBuf = _sndBuf!;
            int limit = (int)Math.Min(total, sndBuf.Free);
            if (limit <= 0) return 0;
            var ubuf = ExtendOrStartUbuf(limit, copy: false, out _, devmem: true);
            int done = QueueDmabuf(sndBuf, binding, iov, limit, ubuf);
            if (done > 0) TcpStats.Inc(ref _layer.Stats.DevmemTxSends);
            return FinishZerocopySend(ubuf, done, pin, copied: false, endOfRecord && done == total, more);
        }
        finally
        {
            binding!.ReleaseTx(); // the extents hold their own references now
        }
    }

    private int Refuse(Errno e)
    {
        TcpStats.Inc(ref _layer.Stats.DevmemTxRefused);
        return -(int)e;
    }

    // zerocopy_fill_skb_from_devmem: each page of each range is an extent on the binding's net_iov at that offset.
    private static int QueueDmabuf(TcpSendBuffer sndBuf, NetDevmemBinding binding, ReadOnlySpan<DmabufIov> iov, int limit, ZerocopyUbuf ubuf)
    {
        int done = 0;
        foreach (var v in iov)
        {
            long at = (long)v.Offset;
            int len = Math.Min(v.Length, limit - done);
            while (len > 0)
            {
                binding.TryGetNetIovAt(at, out var niov, out int inNiov, out int size); // in range: checked by the caller
                int n = Math.Min(len, size);
                if (sndBuf.AppendNetmem(niov, inNiov, n, ubuf) == 0) return done;
                at += n;
                len -= n;
                done += n;
            }
            if (done == limit) break;
        }
        return done;
    }
}
