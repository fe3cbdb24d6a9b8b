namespace Netmem.Skb;

/// <summary>What the caller must do with an skb after <see cref="SkbGro.Receive"/> merged it (NAPI_GRO_FREE*).</summary>
public enum SkbGroFree
{
    /// <summary>The skb now sits in the held packet's frag_list: do not free it.</summary>
    Keep = 0,
    /// <summary>Its frags moved: free it normally (NAPI_GRO_FREE).</summary>
    Free = 1,
    /// <summary>Its head moved as a frag: free only the sk_buff (NAPI_GRO_FREE_STOLEN_HEAD, kfree_skb_partial).</summary>
    FreeStolenHead = 2,
}

/// <summary>
/// <c>skb_gro_receive</c>: the GRO merge that appends one segment's payload to the packet GRO holds.
/// The payload's frags (and, when the segment's head holds payload, the head as a frag) join the frags
/// of the last skb in the held packet's chain while they fit; otherwise the whole segment is chained on
/// the frag_list. Never mixes readable with unreadable memory or page_pool with page references.
/// </summary>
public static class SkbGro
{
    /// <summary>GRO_LEGACY_MAX_SIZE: a merged packet stays below 64 KiB.</summary>
    public const int LegacyMaxSize = 65536;

    /// <summary>
    /// Appends the payload of <paramref name="skb"/> (its bytes from <paramref name="offset"/>, the
    /// length of its headers) to <paramref name="p"/>. Returns ETOOMANYREFS when pp_recycle differs
    /// and E2BIG when the result would reach <see cref="LegacyMaxSize"/> (both as the kernel does), EINVAL
    /// when readability differs or either skb cannot be merged (shared, cloned head packet, nested
    /// frag_list); <paramref name="free"/> then is Keep and the caller still owns <paramref name="skb"/>.
    /// On success, free <paramref name="skb"/> as <paramref name="free"/> says (<see cref="SkbCache.FreeAfterGro"/>).
    /// </summary>
    public static Errno Receive(SkBuff p, SkBuff skb, int offset, out SkbGroFree free)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(skb);
        free = SkbGroFree.Keep;
        var pinfoRoot = p.Shinfo;
        var skbinfo = skb.Shinfo;
        int len = skb.LenField - offset;
        if (offset < 0 || len < 0)
            throw new ArgumentOutOfRangeException(nameof(offset), $"GRO offset {offset} is outside {skb}");
        if (ReferenceEquals(p, skb)) return Errno.EINVAL;
        if (p.PpRecycle != skb.PpRecycle) return Errno.ETOOMANYREFS;
        if ((long)p.LenField + len >= LegacyMaxSize) return Errno.E2BIG;
        if (p.Unreadable != skb.Unreadable) return Errno.EINVAL;
        if (p.IsCloned || p.IsShared || skb.IsShared || skbinfo.FragList is not null) return Errno.EINVAL;

        // Frags go to the last skb of the held chain, so the byte order stays right.
        var lp = p;
        for (var m = pinfoRoot.FragList; m is not null; m = m.Next) lp = m;
        var pinfo = lp.Shinfo;
        int headlen = skb.HeadLen;
        int delta;
        bool skbCloned = skb.IsCloned;

        if (headlen <= offset && !skbCloned)
        {
            // All payload is in frags: skip the header bytes that spill into them, move the rest.
            int skip = offset - headlen;
            int first = 0;
            while (first < skbinfo.NrFragsField && skip >= skbinfo.FragArray[first].Size)
                skip -= skbinfo.FragArray[first++].Size;
            int moved = skbinfo.NrFragsField - first;
            if (pinfo.NrFragsField + moved <= SkBuff.MaxSkbFrags)
            {
                for (int i = 0; i < first; i++) skbinfo.FragArray[i].Unref(skb.PpRecycle); // header-only frags
                var dst = ((Span<SkbFrag>)pinfo.FragArray)[pinfo.NrFragsField..];
                ((Span<SkbFrag>)skbinfo.FragArray)[first..skbinfo.NrFragsField].CopyTo(dst);
                if (moved > 0)
                {
                    dst[0].OffAdd(skip);
                    dst[0].SizeSub(skip);
                }
                pinfo.NrFragsField += moved;
                ((Span<SkbFrag>)skbinfo.FragArray)[..skbinfo.NrFragsField].Clear();
                skbinfo.NrFragsField = 0;
                int newTruesize = SkBuff.TruesizeOverhead + skb.EndOff;
                delta = skb.Truesize - newTruesize;
                skb.Truesize = newTruesize;
                skb.LenField -= skb.DataLenField;
                skb.DataLenField = 0;
                free = SkbGroFree.Free;
                return Done(p, lp, len, delta);
            }
        }
        else if (!skbCloned && !(skbinfo.HeadNetmem.IsPp && !p.PpRecycle)
                 && pinfo.NrFragsField + 1 + skbinfo.NrFragsField <= SkBuff.MaxSkbFrags)
        {
            // Payload starts in the head: the rest of the head becomes a frag, then the frags follow.
            lp.FillFragNetmem(pinfo.NrFragsField, skbinfo.HeadNetmem, skbinfo.HeadOffset + skb.DataOff + offset, headlen - offset);
            pinfo.NrFragsField++;
            int n = skbinfo.NrFragsField;
            ((Span<SkbFrag>)skbinfo.FragArray)[..n].CopyTo(((Span<SkbFrag>)pinfo.FragArray)[pinfo.NrFragsField..]);
            pinfo.NrFragsField += n;
            ((Span<SkbFrag>)skbinfo.FragArray)[..n].Clear();
            skbinfo.NrFragsField = 0;
            delta = skb.Truesize - SkBuff.SkbStructSize;
            free = SkbGroFree.FreeStolenHead;
            return Done(p, lp, len, delta);
        }

        // Merge: chain the segment itself, its headers pulled off.
        delta = skb.Truesize;
        if (offset > headlen)
        {
            int eat = offset - headlen;
            DropFromFrags(skb, eat);
            offset = headlen;
        }
        skb.Pull(offset);
        skb.Next = null;
        if (ReferenceEquals(lp, p)) pinfoRoot.FragList = skb;
        else lp.Next = skb;
        free = SkbGroFree.Keep;
        return Done(p, p, len, delta);
    }

    private static Errno Done(SkBuff p, SkBuff lp, int len, int delta)
    {
        p.LenField += len;
        p.DataLenField += len;
        p.Truesize += delta;
        if (!ReferenceEquals(lp, p))
        {
            lp.LenField += len;
            lp.DataLenField += len;
            lp.Truesize += delta;
        }
        return Errno.None;
    }

    /// <summary>Removes <paramref name="eat"/> bytes from the front of <paramref name="skb"/>'s frags (its header bytes).</summary>
    private static void DropFromFrags(SkBuff skb, int eat)
    {
        if (skb.IsCloned)
        {
            var err = skb.ExpandHead(0, 0); // frags are shared: work on a private copy
            if (err != Errno.None) throw new NetmemErrnoException(err, $"skb_gro_receive: could not unclone {skb}");
        }
        var sh = skb.Shinfo;
        int total = eat;
        skb.EatFrontFrags(eat);
        skb.LenField -= total;
        skb.DataLenField -= total;
    }
}
