using Netmem.Skb;
using Netmem.Stack.Tcp;

namespace Netmem.Sockets;

/// <summary>
/// Devmem receive's read actor (<c>tcp_recvmsg_dmabuf</c>). Readable skbs are copied to the linear buffer
/// with no record, as the kernel copies them; for an unreadable skb, linear bytes (headers the device
/// left in host memory) are copied with an SO_DEVMEM_LINEAR record and each net_iov frag becomes an
/// SO_DEVMEM_DMABUF record whose token holds a reference on that net_iov alone (the skb is freed when
/// read). Records are in stream order; one read never mixes readable and unreadable skbs. It stops when
/// the linear buffer or the record buffer is full; with nothing read that is ETOOSMALL (as
/// put_cmsg_notrunc fails), and a non-net_iov frag in an unreadable skb is ENODEV. The token table's lock
/// is taken at the first token and held to the end of the read: the caller calls <see cref="EndTokens"/>.
/// </summary>
internal ref struct TcpDevmemActor(Span<byte> linear, Span<DevmemCmsg> records, DevmemTokenTable tokens) : ITcpReadActor
{
    private readonly Span<byte> _linear = linear;
    private readonly Span<DevmemCmsg> _records = records;
    private readonly DevmemTokenTable _tokens = tokens;
    private int _kind = -1; // -1 nothing read yet, 0 readable, 1 device memory
    private bool _tokensLocked;
    public int LinearBytes, Records, Frags;

    public int Read(SkBuff skb, int offset, int length)
    {
        int kind = skb.AnyUnreadable ? 1 : 0;
        if (_kind >= 0 && _kind != kind) return 0;
        if (kind == 0)
        {
            int n = Math.Min(length, _linear.Length - LinearBytes);
            if (n == 0) return Progress(0, Errno.ETOOSMALL);
            skb.CopyBits(offset, _linear.Slice(LinearBytes, n));
            LinearBytes += n;
            _kind = 0;
            return n;
        }
        int used = 0;
        var pieces = new SkbPieceEnumerator(skb, offset, length);
        while (pieces.MoveNext())
        {
            var p = pieces.Current;
            if (Records == _records.Length) return Progress(used, Errno.ETOOSMALL);
            var cmsg = default(DmabufCmsg);
            if (p.IsLinear)
            {
                int n = Math.Min(p.Length, _linear.Length - LinearBytes);
                if (n == 0) return Progress(used, Errno.ETOOSMALL);
                p.Netmem.GetSpan(p.Offset, n).CopyTo(_linear[LinearBytes..]);
                LinearBytes += n;
                cmsg.FragSize = (uint)n;
                _records[Records++] = new DevmemCmsg(Devmem.SoDevmemLinear, cmsg);
                used += n;
                _kind = 1;
                if (n < p.Length) return used;
                continue;
            }
            if (!p.Netmem.IsNetIov) return Progress(used, Errno.ENODEV); // an unreadable skb with a page frag
            if (!_tokensLocked)
            {
                _tokens.EnterAdds();
                _tokensLocked = true;
            }
            uint token = _tokens.AddLocked(p.Netmem, p.Owner.PpRecycle);
            if (token == 0) return Progress(used, Errno.EBADF); // the socket closed meanwhile
            cmsg.FragOffset = p.Netmem.NetIovVirtualAddr + (ulong)p.Offset; // net_iov_virtual_addr + frag offset
            cmsg.FragSize = (uint)p.Length;
            cmsg.FragToken = token;
            cmsg.DmabufId = p.Netmem.NetIovOwner.DmabufId; // net_devmem_iov_binding_id
            _records[Records++] = new DevmemCmsg(Devmem.SoDevmemDmabuf, cmsg);
            Frags++;
            used += p.Length;
            _kind = 1;
        }
        if (pieces.Nested && used == 0) return -(int)Errno.EINVAL;
        return used;
    }

    /// <summary>Ends the read's token batch (releases the table's lock if a token was taken); call it once, in a finally.</summary>
    public void EndTokens()
    {
        if (!_tokensLocked) return;
        _tokensLocked = false;
        _tokens.ExitAdds();
    }

    // Stopping: what was read stands; with nothing read in this whole call, the reason is the error.
    private readonly int Progress(int used, Errno why) => used > 0 || _kind >= 0 ? used : -(int)why;
}
