using Netmem.Skb;

namespace Netmem.Stack.Tcp;

/// <summary>Payload trimming that never reads payload bytes (they may be unreadable device memory).</summary>
internal static class TcpSkb
{
    /// <summary>
    /// Drops the first <paramref name="len"/> bytes: from the linear head by moving data, from frags by
    /// shortening or releasing them (<c>pskb_trim</c>'s twin at the front). False when that would need a
    /// frag_list walk over unreadable memory.
    /// </summary>
    public static bool PullFront(SkBuff skb, int len)
    {
        if (len <= 0) return true;
        if (len > skb.Len) return false;
        int fromHead = Math.Min(len, skb.HeadLen);
        if (fromHead > 0) skb.Pull(fromHead);
        int rest = len - fromHead;
        if (rest == 0) return true;
        int fragBytes = 0;
        var frags = skb.Frags;
        for (int i = 0; i < frags.Length; i++) fragBytes += frags[i].Size;
        if (rest > fragBytes)
        {
            if (skb.Unreadable) return false;
            return skb.PskbPull(rest); // frag_list: copy through the head (readable memory only)
        }
        skb.EatFrontFrags(rest);
        skb.LenField -= rest;
        skb.DataLenField -= rest;
        return true;
    }
}
