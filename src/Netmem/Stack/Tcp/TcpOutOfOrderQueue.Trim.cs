using Netmem.Skb;

namespace Netmem.Stack.Tcp;

public sealed partial class TcpOutOfOrderQueue
{
    /// <summary>
    /// <c>skb_share_check</c>: an skb with other users is replaced by a private clone (sharing the data), so
    /// trimming it does not change what the other users see.
    /// </summary>
    private static SkBuff Unshare(SkBuff skb)
    {
        if (!skb.IsShared) return skb;
        var clone = skb.Clone();
        skb.Free();
        return clone;
    }

    /// <summary>
    /// Removes <paramref name="len"/> bytes (less than <c>skb.Len</c>) from the front without reading payload,
    /// like the kernel's <c>__pskb_trim_head</c>: the linear head is pulled, then frags are used up or shortened,
    /// then frag_list skbs, so it works on unreadable (net_iov) skbs. <c>PskbPull</c> would copy frag bytes into the
    /// head instead, which an unreadable skb refuses. False (skb untouched) when a cloned head could not be uncloned.
    /// </summary>
    internal static bool TrimHead(ref SkBuff skb, int len)
    {
        if (len <= 0) return true;
        skb = Unshare(skb);
        int headlen = skb.HeadLen;
        if (len <= headlen) return skb.Pull(len);
        // The frags are about to change: they must be this skb's own (pskb_expand_head unclones).
        if (skb.IsCloned && skb.ExpandHead(0, 0) != Errno.None) return false;
        skb.Pull(headlen);
        EatFront(skb, len - headlen);
        return true;
    }

    /// <summary>Drops <paramref name="eat"/> bytes from the front of the (now empty-headed) skb's frags and frag_list.</summary>
    private static void EatFront(SkBuff skb, int eat)
    {
        var sh = skb.ShinfoField!;
        int fragBytes = 0;
        for (int i = 0; i < sh.NrFragsField; i++) fragBytes += sh.FragArray[i].Size;
        int fromFrags = Math.Min(eat, fragBytes);
        skb.EatFrontFrags(fromFrags);
        int fromList = eat - fromFrags;
        if (fromList > 0)
        {
            var m = sh.FragList;
            while (fromList > 0 && m is not null)
            {
                if (m.Len <= fromList)
                {
                    fromList -= m.Len;
                    var next = m.Next;
                    m.Free(); // this parent's reference
                    m = next;
                    continue;
                }
                if (m.IsShared)
                {
                    // Another parent holds it too: trim a private clone instead.
                    var c = m.Clone();
                    c.Next = m.Next;
                    m.Free();
                    m = c;
                }
                if (!TrimHead(ref m, fromList))
                    throw new NetmemErrnoException(Errno.ENOMEM, $"tcp ofo: could not unclone frag_list {m} to trim its head");
                fromList = 0;
            }
            sh.FragList = m;
        }
        skb.LenField -= eat;
        skb.DataLenField -= eat;
    }

    /// <summary>
    /// <c>pskb_trim</c> to <paramref name="len"/> bytes (no payload is read). False (skb untouched) when a cloned
    /// nonlinear skb could not be uncloned.
    /// </summary>
    internal static bool TrimTail(ref SkBuff skb, int len)
    {
        if (len >= skb.Len) return true;
        skb = Unshare(skb);
        if (skb.IsNonlinear && skb.IsCloned && skb.ExpandHead(0, 0) != Errno.None) return false;
        skb.Trim(len);
        return true;
    }
}
