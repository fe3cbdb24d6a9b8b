namespace Netmem.Stack.Tcp;

public sealed partial class TcpConnection
{
    /// <summary>
    /// MSG_ZEROCOPY on a Fast Open connect whose SYN took <paramref name="bytes"/>: tcp_send_syn_data copies what
    /// rides in the SYN, so the send takes the next id (sk_zckey) and its completion, marked COPIED, is reported
    /// as soon as the call ends (the SYN's skb holds no reference on it). Nothing without SO_ZEROCOPY or bytes.
    /// </summary>
    internal void CompleteSynDataZerocopy(int bytes)
    {
        if (bytes <= 0 || !Settings.ZeroCopy) return;
        var ubuf = ExtendOrStartUbuf(bytes, copy: true, out _);
        ubuf.Len++;
        ubuf.Bytes += bytes;
        _zckey++;
        ubuf.MarkCopied();
        TcpStats.Inc(ref _layer.Stats.ZerocopySends);
        TcpStats.Inc(ref _layer.Stats.ZerocopyCopiedSends);
        ubuf.Put();
    }
}
