using Netmem.Memory;

namespace Netmem.Skb;

// Helpers that read payload. Every one refuses a range that touches an unreadable frag:
// the CPU may never read device memory, and the error says which skb and which bytes.
public sealed partial class SkBuff
{
    /// <summary>
    /// <c>skb_copy_bits</c>: copies <paramref name="to"/>.Length bytes starting at <paramref name="offset"/>
    /// (from the start of the data) across head and frags.
    /// </summary>
    public void CopyBits(int offset, Span<byte> to)
    {
        CheckLive();
        int len = to.Length;
        if (offset < 0 || len < 0 || offset + len > Len)
            throw new ArgumentOutOfRangeException(nameof(offset), $"skb_copy_bits [{offset}, +{len}) outside {this}");
        CheckReadable(offset, len, "skb_copy_bits");
        foreach (var piece in Range(offset, len))
        {
            piece.CopyTo(to);
            to = to[piece.Length..];
        }
    }

    /// <summary>
    /// <c>__pskb_pull_tail</c>: moves <paramref name="delta"/> bytes from the front of the frags into the
    /// linear head (so a header split across them can be parsed). Refuses unreadable bytes; returns
    /// false when the head buffer has no room.
    /// </summary>
    public bool PullTail(int delta)
    {
        CheckLive();
        if (delta <= 0) return true;
        if (delta > DataLen) throw new ArgumentOutOfRangeException(nameof(delta), $"pull_tail of {delta} with {DataLen} bytes in frags on {this}");
        if (Cloned) throw new InvalidOperationException($"pull_tail on {this}: its data is shared with a clone");
        CheckReadable(HeadLen, delta, "__pskb_pull_tail");
        if (Shinfo.HeadSize - _tail < delta) return false;
        CopyBits(HeadLen, HeadSpan(_tail, delta));
        _tail += delta;
        DataLen -= delta;
        // Eat the copied bytes from the frags.
        int eat = delta, k = 0;
        var sh = Shinfo;
        for (int i = 0; i < sh.NrFrags; i++)
        {
            ref SkbFrag f = ref sh.Frags[i];
            if (eat >= f.Size)
            {
                eat -= f.Size;
                f.Unref(PpRecycle);
                continue;
            }
            if (eat > 0) { f.Offset += eat; f.Size -= eat; eat = 0; }
            sh.Frags[k++] = f;
        }
        for (int i = k; i < sh.NrFrags; i++) sh.Frags[i] = default;
        sh.NrFrags = k;
        RecomputeUnreadable();
        return true;
    }

    /// <summary>
    /// <c>skb_checksum</c>: the 32-bit ones-complement sum (not folded) of <paramref name="len"/> bytes at
    /// <paramref name="offset"/>, added to <paramref name="initial"/>. Bytes are summed as big-endian
    /// 16-bit words in data order, across head and frags.
    /// </summary>
    public uint Checksum(int offset, int len, uint initial = 0)
    {
        CheckLive();
        if (offset < 0 || len < 0 || offset + len > Len)
            throw new ArgumentOutOfRangeException(nameof(offset), $"skb_checksum [{offset}, +{len}) outside {this}");
        CheckReadable(offset, len, "skb_checksum");
        ulong sum = initial;
        bool odd = false; // whether the bytes so far had odd length: the next byte is a low byte
        foreach (var piece in Range(offset, len)) sum += InternetChecksum.Add(piece, ref odd);
        return InternetChecksum.Fold32(sum);
    }

    /// <summary>Throws when [offset, offset+len) of the data touches an unreadable frag.</summary>
    private void CheckReadable(int offset, int len, string what)
    {
        if (!Unreadable || len == 0) return;
        int pos = HeadLen;
        for (int i = 0; i < Shinfo.NrFrags; i++)
        {
            ref SkbFrag f = ref Shinfo.Frags[i];
            int end = pos + f.Size;
            if (!f.IsReadable && offset < end && offset + len > pos)
                throw new NetmemException($"{what} on {this}: bytes [{offset}, {offset + len}) reach unreadable frag {i} ({f}); the CPU may not read device memory");
            pos = end;
        }
    }
}
