using Netmem.Memory;

namespace Netmem.Skb;

// Filling and referencing frags: how netmem enters an skb, and where unreadability comes from.
public sealed unsafe partial class SkBuff
{
    /// <summary><c>nr_frags</c>.</summary>
    public int NrFrags => Shinfo.NrFragsField;

    /// <summary>The frags in use (<c>skb_shinfo(skb)->frags</c>).</summary>
    public Span<SkbFrag> Frags => Shinfo.Frags;

    /// <summary>Frag <paramref name="i"/> by reference.</summary>
    public ref SkbFrag Frag(int i)
    {
        var sh = Shinfo;
        if ((uint)i >= (uint)sh.NrFragsField)
            throw new ArgumentOutOfRangeException(nameof(i), $"frag {i} of {this}, which has {sh.NrFragsField}");
        return ref sh.FragArray[i];
    }

    /// <summary><c>skb_has_frag_list</c>.</summary>
    public bool HasFragList => Shinfo.FragList is not null;

    /// <summary>
    /// <c>__skb_fill_netmem_desc</c>: points frag <paramref name="i"/> at <paramref name="netmem"/> and
    /// records what the netmem says about the skb: a net_iov makes it unreadable, a page from the
    /// reserves makes it pfmemalloc. Lengths and nr_frags are the caller's business.
    /// </summary>
    public void FillFragNetmem(int i, NetmemRef netmem, int offset, int size)
    {
        var sh = Shinfo;
        if ((uint)i >= MaxSkbFrags)
            throw new ArgumentOutOfRangeException(nameof(i), $"frag index {i} is outside 0..{MaxSkbFrags - 1} (MAX_SKB_FRAGS)");
        sh.FragArray[i].FillNetmemDesc(netmem, offset, size);
        if (netmem.IsNetIov) Unreadable = true;
        else if (netmem.IsPfmemalloc) Pfmemalloc = true;
    }

    /// <summary><c>skb_fill_netmem_desc</c>: <see cref="FillFragNetmem"/> at the next free slot, and nr_frags = i + 1.</summary>
    public void FillNetmemDesc(int i, NetmemRef netmem, int offset, int size)
    {
        CheckFragSlot(i, "skb_fill_netmem_desc");
        FillFragNetmem(i, netmem, offset, size);
        Shinfo.NrFragsField = i + 1;
    }

    /// <summary>
    /// <c>skb_add_rx_frag_netmem</c>: adds <paramref name="size"/> received bytes of
    /// <paramref name="netmem"/> as frag <paramref name="i"/>, charging <paramref name="truesize"/>
    /// (what the buffer really occupies, e.g. the page_pool fragment size). The skb takes over the
    /// caller's reference. A net_iov makes the skb unreadable.
    /// </summary>
    public void AddRxFragNetmem(int i, NetmemRef netmem, int offset, int size, int truesize)
    {
        CheckFragSlot(i, "skb_add_rx_frag_netmem");
        ArgumentOutOfRangeException.ThrowIfNegative(truesize);
        FillFragNetmem(i, netmem, offset, size);
        Shinfo.NrFragsField = i + 1;
        LenField += size;
        DataLenField += size;
        Truesize += truesize;
    }

    /// <summary><see cref="AddRxFragNetmem(int, NetmemRef, int, int, int)"/> at the next free slot.</summary>
    public void AddRxFragNetmem(NetmemRef netmem, int offset, int size, int truesize) =>
        AddRxFragNetmem(Shinfo.NrFragsField, netmem, offset, size, truesize);

    /// <summary>
    /// <c>skb_coalesce_rx_frag</c>: grows frag <paramref name="i"/> by <paramref name="size"/> bytes that
    /// follow it in the same netmem (the caller's extra reference, if any, is its own affair).
    /// </summary>
    public void CoalesceRxFrag(int i, int size, int truesize)
    {
        ref var f = ref Frag(i);
        f.SizeAdd(size);
        LenField += size;
        DataLenField += size;
        Truesize += truesize;
    }

    /// <summary>
    /// <c>skb_can_coalesce_netmem</c>: true when <paramref name="netmem"/> at <paramref name="offset"/>
    /// continues the last frag (slot <paramref name="i"/> - 1), so new bytes can extend it.
    /// </summary>
    public bool CanCoalesce(int i, NetmemRef netmem, int offset)
    {
        if (i <= 0) return false;
        ref var f = ref Frag(i - 1);
        return f.Netmem == netmem && f.Offset + f.Size == offset;
    }

    /// <summary><c>skb_frag_ref</c>: one more reference on frag <paramref name="i"/>'s netmem, of the kind this skb's frags hold.</summary>
    public void FragRef(int i) => Frag(i).Ref(PpRecycle);

    /// <summary><c>skb_frag_unref</c>: drops frag <paramref name="i"/>'s reference (to its page_pool when pp_recycle).</summary>
    public void FragUnref(int i) => Frag(i).Unref(PpRecycle);

    private void CheckFragSlot(int i, string op)
    {
        var sh = Shinfo;
        if ((uint)i >= MaxSkbFrags)
            throw new NetmemException($"{op}: frag index {i} on {this} exceeds MAX_SKB_FRAGS ({MaxSkbFrags})");
        if (i != sh.NrFragsField)
            throw new NetmemException($"{op}: frag index {i} on {this} must be the next free slot ({sh.NrFragsField}); overwriting a frag would leak its reference");
        if (Cloned && Volatile.Read(ref sh.DataRef) != 1)
            throw new NetmemException($"{op} on cloned {this}: its frags are shared with a clone");
    }
}
