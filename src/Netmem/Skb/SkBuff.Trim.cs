namespace Netmem.Skb;

public sealed unsafe partial class SkBuff
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
    /// <c>__pskb_trim_head</c>: removes <paramref name="len"/> bytes (less than <c>skb.Len</c>) from the front
    /// without reading payload: the linear head is pulled, then frags are used up or shortened, then frag_list
    /// skbs, so it works on unreadable (net_iov) skbs, where <see cref="PskbPull"/> would copy frag bytes into
    /// the head. A shared skb is replaced by a private clone (so <paramref name="skb"/> may change). False (skb
    /// untouched) when a cloned head could not be uncloned.
    /// </summary>
    public static bool TrimHead(ref SkBuff skb, int len)
    {
        if (len <= 0) return true;
        skb = Unshare(skb);
        int headlen = skb.HeadLen;
        if (len <= headlen) return skb.Pull(len);
        // The frags are about to change: they must be this skb's own (pskb_expand_head unclones).
        if (skb.IsCloned && skb.ExpandHead(0, 0) != Errno.None) return false;
        skb.Pull(headlen);
        skb.EatFrontNoCopy(len - headlen);
        return true;
    }

    /// <summary>Drops <paramref name="eat"/> bytes from the front of an empty-headed skb's frags and frag_list.</summary>
    private void EatFrontNoCopy(int eat)
    {
        var sh = ShinfoField!;
        int fragBytes = 0;
        for (int i = 0; i < sh.NrFragsField; i++) fragBytes += sh.FragArray[i].Size;
        int fromFrags = Math.Min(eat, fragBytes);
        EatFrontFrags(fromFrags);
        if (eat > fromFrags) EatFragList(sh, eat - fromFrags, copy: false);
        LenField -= eat;
        DataLenField -= eat;
    }

    /// <summary>
    /// <c>pskb_trim</c> to <paramref name="len"/> bytes (no payload is read). A shared skb is replaced by a
    /// private clone. False (skb untouched) when a cloned nonlinear skb could not be uncloned.
    /// </summary>
    public static bool TrimTail(ref SkBuff skb, int len)
    {
        if (len >= skb.Len) return true;
        skb = Unshare(skb);
        if (skb.IsNonlinear && skb.IsCloned && skb.ExpandHead(0, 0) != Errno.None) return false;
        skb.Trim(len);
        return true;
    }
}
