using Netmem.Pool;

namespace Netmem.Skb;

// Merging skbs (TCP receive coalescing, GRO) and making one linear. The rule that matters for
// netmem: readable and unreadable payload never end up in one skb.
public sealed partial class SkBuff
{
    /// <summary><c>skb_frags_readable</c>.</summary>
    public bool FragsReadable => !Unreadable;

    /// <summary>
    /// <c>skb_try_coalesce</c>: appends <paramref name="from"/>'s payload to this skb as frags, without
    /// copying. Refuses (returns false) when the two differ in readability or in pp_recycle, when this
    /// skb is shared with a clone, or when the frags would not fit. On success <paramref name="from"/>
    /// gives up its frags (and its head bytes, which become a frag) and must still be freed;
    /// <paramref name="deltaTruesize"/> is the memory moved to this skb.
    /// </summary>
    public bool TryCoalesce(SkBuff from, out int deltaTruesize)
    {
        ArgumentNullException.ThrowIfNull(from);
        CheckLive();
        from.CheckLive();
        deltaTruesize = 0;
        if (ReferenceEquals(from, this) || ReferenceEquals(from.Shinfo, Shinfo)) return false;
        if (Unreadable != from.Unreadable || PpRecycle != from.PpRecycle || Cloned) return false;
        if (Shinfo.FragList is not null || from.Shinfo.FragList is not null) return false;
        int fromHead = from.HeadLen;
        int needed = from.NrFrags + (fromHead > 0 ? 1 : 0);
        if (NrFrags + needed > SkbSharedInfo.MaxSkbFrags) return false;
        if (fromHead > 0 && !from.Shinfo.HeadNetmem.IsPp) return false; // the head must be pool memory to become a frag

        var src = from.Shinfo;
        bool steal = !from.Cloned;
        int fromLen = from.Len;
        int fragTruesize = from.Truesize - TruesizeOverhead - src.HeadSize; // what from's frags are charged
        if (fromHead > 0)
        {
            // The head bytes become a frag over the same pool netmem, with a pp reference of its own.
            var head = src.HeadNetmem;
            PagePool.RefNetmem(head);
            Shinfo.Frags[Shinfo.NrFrags++].FillNetmemDesc(head, src.HeadOffset + from._data, fromHead);
        }
        for (int i = 0; i < src.NrFrags; i++)
        {
            var f = src.Frags[i];
            if (!steal) f.Ref(PpRecycle); // a clone keeps its references: take our own
            Shinfo.Frags[Shinfo.NrFrags++] = f;
        }
        if (steal)
        {
            for (int i = 0; i < src.NrFrags; i++) src.Frags[i] = default;
            src.NrFrags = 0;
            from.Len -= from.DataLen;
            from.DataLen = 0;
            from.Truesize -= fragTruesize;
            deltaTruesize = fragTruesize;
        }
        else
        {
            deltaTruesize = fromLen;
        }
        Len += fromLen;
        DataLen += fromLen;
        Truesize += deltaTruesize;
        return true;
    }
}
