namespace Netmem.Skb;

/// <summary>
/// What drivers that copy frame bytes instead of DMA-ing them owe zero-copy senders: the effect of the
/// kernel's <c>skb_orphan_frags_rx</c>/<c>skb_copy_ubufs</c> on the completion, SO_EE_CODE_ZEROCOPY_COPIED.
/// A tap (its write copies), the packetdrill netdev of the C ABI, and the stack's own linear copy for a
/// device without scatter-gather call <see cref="MarkCopied"/>; a device that DMAs (the VirtualNic) does not.
/// </summary>
public static class SkbZerocopy
{
    private static long s_marked;

    /// <summary>How many skbs carrying a completion were marked copied (all drivers).</summary>
    public static long MarkedCount => Interlocked.Read(ref s_marked);

    /// <summary>Marks the completions of <paramref name="skb"/> (and of its frag_list skbs) copied. No-op when none.</summary>
    public static void MarkCopied(SkBuff skb)
    {
        ArgumentNullException.ThrowIfNull(skb);
        Mark(skb);
        for (var m = skb.Shinfo.FragList; m is not null; m = m.Next) Mark(m);
    }

    private static void Mark(SkBuff skb)
    {
        var u = skb.Shinfo.Ubuf;
        if (u is null) return;
        u.MarkCopied();
        Interlocked.Increment(ref s_marked);
    }
}
