using System.Diagnostics;

namespace Netmem.Skb;

// skb_try_coalesce: the receive-queue merge TCP does to save memory. It moves frags (and possibly the
// head, as a frag) instead of copying, and never mixes readable with unreadable memory or page_pool
// references with page references.
public sealed unsafe partial class SkBuff
{
    /// <summary>
    /// <c>skb_try_coalesce</c>: appends <paramref name="from"/>'s data to <paramref name="to"/>. Small
    /// readable data is copied into <paramref name="to"/>'s tailroom; otherwise <paramref name="from"/>'s
    /// frags move over (references taken when <paramref name="from"/> is cloned), and a non-empty head
    /// becomes one more frag (<paramref name="fragStolen"/>; free <paramref name="from"/> with
    /// <see cref="SkbCache.FreePartial"/>). Returns false, changing nothing, when
    /// <paramref name="to"/> is cloned, when pp_recycle or readability differ, when either has a
    /// frag_list, or when the frags do not fit. <paramref name="deltaTruesize"/> is what
    /// <paramref name="to"/>'s truesize grew by.
    /// </summary>
    public static bool TryCoalesce(SkBuff to, SkBuff from, out bool fragStolen, out int deltaTruesize)
    {
        ArgumentNullException.ThrowIfNull(to);
        ArgumentNullException.ThrowIfNull(from);
        fragStolen = false;
        deltaTruesize = 0;
        var toSh = to.Shinfo;
        var fromSh = from.Shinfo;
        if (ReferenceEquals(to, from) || to.IsCloned) return false;
        if (to.PpRecycle != from.PpRecycle) return false;   // page_pool and page references must not mix
        if (to.Unreadable != from.Unreadable) return false; // readable and unreadable memory must not mix
        int len = from.LenField;
        if (len <= to.Tailroom && !from.Unreadable)
        {
            if (len > 0) from.CopyBitsCore(0, to.Put(len), "skb_try_coalesce");
            return true;
        }
        if (toSh.FragList is not null || fromSh.FragList is not null) return false;

        int delta;
        int fromHeadLen = from.HeadLen;
        bool fromCloned = from.IsCloned;
        if (fromHeadLen != 0)
        {
            if (toSh.NrFragsField + fromSh.NrFragsField >= MaxSkbFrags) return false;
            if (fromCloned) return false; // the head is shared: it cannot move
            // A page_pool head can only become a frag of an skb that returns frags to page_pools.
            if (fromSh.HeadNetmem.IsPp && !to.PpRecycle) return false;
            delta = from.Truesize - SkbStructSize;
            to.FillFragNetmem(toSh.NrFragsField, fromSh.HeadNetmem, fromSh.HeadOffset + from.DataOff, fromHeadLen);
            toSh.NrFragsField++;
            fragStolen = true;
        }
        else
        {
            if (toSh.NrFragsField + fromSh.NrFragsField > MaxSkbFrags) return false;
            delta = from.Truesize - (TruesizeOverhead + from.EndOff);
        }
        Debug.Assert(delta >= len - fromHeadLen, "truesize must cover the moved bytes");

        int n = fromSh.NrFragsField;
        ((Span<SkbFrag>)fromSh.FragArray)[..n].CopyTo(((Span<SkbFrag>)toSh.FragArray)[toSh.NrFragsField..]);
        toSh.NrFragsField += n;
        if (!fromCloned)
        {
            ((Span<SkbFrag>)fromSh.FragArray)[..n].Clear(); // the references moved with the frags
            fromSh.NrFragsField = 0;
        }
        else
        {
            for (int i = 0; i < n; i++) fromSh.FragArray[i].Ref(from.PpRecycle);
        }
        if (from.Pfmemalloc) to.Pfmemalloc = true;
        to.Truesize += delta;
        to.LenField += len;
        to.DataLenField += len;
        deltaTruesize = delta;
        return true;
    }
}
