using Netmem.Memory;

namespace Netmem.Skb;

/// <summary>
/// <c>struct skb_shared_info</c>: what an skb and its clones share. The frags (up to
/// <see cref="MaxSkbFrags"/>, stored inline so no array is allocated per skb), the frag_list chain, the
/// GSO fields and <c>dataref</c>, the count of skbs that point at this data. The kernel puts it at the
/// end of the head buffer; here it is a pooled object that also records which netmem backs the head,
/// so the head is returned exactly once, by whoever drops the last dataref.
/// </summary>
public sealed unsafe class SkbSharedInfo
{
    /// <summary>MAX_SKB_FRAGS.</summary>
    public const int MaxSkbFrags = 17;

    internal SkbFragArray FragArray;
    internal int NrFragsField;
    internal int DataRef;

    // The head buffer: a netmem (page_pool fragment or arena pages), the offset of the head in it,
    // its host address and its usable size (the skb's end offset).
    internal NetmemRef HeadNetmem;
    internal int HeadOffset;
    internal byte* Head;
    internal int HeadSize;

    internal SkbSharedInfo() { }

    /// <summary><c>nr_frags</c>.</summary>
    public int NrFrags => NrFragsField;

    /// <summary>The frags in use. Writing a frag directly does not update the skb's length or readability.</summary>
    public Span<SkbFrag> Frags => ((Span<SkbFrag>)FragArray)[..NrFragsField];

    /// <summary><c>frag_list</c>: further skbs whose data follows this skb's frags (GRO, IP fragments).</summary>
    public SkBuff? FragList { get; internal set; }

    /// <summary><c>gso_size</c>: payload bytes per segment.</summary>
    public ushort GsoSize { get; set; }

    /// <summary><c>gso_segs</c>: number of segments.</summary>
    public ushort GsoSegs { get; set; }

    /// <summary><c>gso_type</c>.</summary>
    public SkbGsoType GsoType { get; set; }

    /// <summary>
    /// <c>destructor_arg</c> for zero-copy: the completion of the memory the frags point at (one reference,
    /// dropped after the frags when the data is released). Null for the stack's own memory.
    /// </summary>
    public UbufInfo? Ubuf { get; internal set; }

    /// <summary><c>skb_zcopy_set</c>: attaches <paramref name="ubuf"/> with a reference of its own (only when none is attached).</summary>
    public void SetUbuf(UbufInfo ubuf)
    {
        ArgumentNullException.ThrowIfNull(ubuf);
        if (Ubuf is not null)
        {
            if (ReferenceEquals(Ubuf, ubuf)) return;
            throw new InvalidOperationException("skb_zcopy_set: the skb already carries another completion (one ubuf_info per skb)");
        }
        ubuf.Get();
        Ubuf = ubuf;
    }

    /// <summary><c>dataref</c>: skbs (original and clones) sharing this data.</summary>
    public int Dataref => Volatile.Read(ref DataRef);

    /// <summary>Host address of the head buffer.</summary>
    public nint HeadAddress => (nint)Head;

    internal void SetHead(NetmemRef netmem, int offset, byte* head, int size)
    {
        HeadNetmem = netmem;
        HeadOffset = offset;
        Head = head;
        HeadSize = size;
    }

    /// <summary>Copies frags, frag_list and GSO fields (not the head) from <paramref name="other"/>.</summary>
    internal void CopyMetaFrom(SkbSharedInfo other)
    {
        int n = other.NrFragsField;
        ((Span<SkbFrag>)other.FragArray)[..n].CopyTo(FragArray);
        NrFragsField = n;
        FragList = other.FragList;
        GsoSize = other.GsoSize;
        GsoSegs = other.GsoSegs;
        GsoType = other.GsoType;
        Ubuf = other.Ubuf;
        Ubuf?.Get(); // a copy of the frags holds the memory as long as the original (skb_zerocopy_clone)
    }

    /// <summary>Forgets everything (no references are dropped: the caller already settled them).</summary>
    internal void Reset()
    {
        ((Span<SkbFrag>)FragArray)[..NrFragsField].Clear();
        NrFragsField = 0;
        FragList = null;
        GsoSize = 0;
        GsoSegs = 0;
        GsoType = SkbGsoType.None;
        Ubuf = null;
        DataRef = 0;
        HeadNetmem = default;
        HeadOffset = 0;
        Head = null;
        HeadSize = 0;
    }
}
