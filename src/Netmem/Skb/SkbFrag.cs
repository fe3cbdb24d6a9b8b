using System.Runtime.CompilerServices;
using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Skb;

/// <summary>
/// <c>skb_frag_t</c>: one piece of an skb's paged data, <c>{ netmem, offset, size }</c>. The netmem is a
/// host page or a net_iov, so a frag may be unreadable. A frag in an skb holds one reference on its
/// netmem: a page_pool reference when the skb recycles to its pools (pp_recycle), otherwise a page (or
/// net_iov area) reference. Copying the struct copies no reference; <see cref="Ref"/> takes one.
/// </summary>
public struct SkbFrag
{
    public SkbFrag(NetmemRef netmem, int offset, int size) => FillNetmemDesc(netmem, offset, size);

    /// <summary>The netmem holding the bytes (<c>skb_frag_netmem</c>).</summary>
    public NetmemRef Netmem { readonly get; set; }

    /// <summary>Offset of the first byte in the netmem (<c>skb_frag_off</c>, <c>skb_frag_off_set</c>).</summary>
    public int Offset { readonly get; set; }

    /// <summary>Number of bytes (<c>skb_frag_size</c>, <c>skb_frag_size_set</c>).</summary>
    public int Size { readonly get; set; }

    /// <summary><c>skb_frag_fill_netmem_desc</c>: points the frag at <paramref name="size"/> bytes of <paramref name="netmem"/>.</summary>
    public void FillNetmemDesc(NetmemRef netmem, int offset, int size)
    {
        if (netmem.IsNull) throw new NetmemException("skb_frag_fill_netmem_desc: null netmem_ref");
        if (offset < 0 || size < 0)
            throw new ArgumentOutOfRangeException(nameof(offset), $"frag offset {offset} and size {size} must not be negative");
        Netmem = netmem;
        Offset = offset;
        Size = size;
    }

    /// <summary><c>skb_frag_is_net_iov</c>.</summary>
    public readonly bool IsNetIov => Netmem.IsNetIov;

    /// <summary>Whether the CPU may read the frag's bytes.</summary>
    public readonly bool IsReadable => Netmem.IsReadable;

    /// <summary><c>skb_frag_page</c>: the page, or a null ref when the frag is a net_iov (not a page).</summary>
    public readonly NetmemRef FragPage => Netmem.IsNetIov ? default : Netmem;

    /// <summary><c>skb_frag_net_iov</c>: the net_iov, or a null ref when the frag is a page.</summary>
    public readonly NetmemRef NetIov => Netmem.IsNetIov ? Netmem : default;

    /// <summary><c>skb_frag_address</c>: host address of the first byte; 0 when the frag is unreadable.</summary>
    public readonly nint FragAddress
    {
        get
        {
            nint a = Netmem.Address;
            return a == 0 ? 0 : a + Offset;
        }
    }

    /// <summary><c>skb_frag_off_add</c>.</summary>
    public void OffAdd(int delta) => Offset += delta;

    /// <summary><c>skb_frag_size_add</c>.</summary>
    public void SizeAdd(int delta) => Size += delta;

    /// <summary><c>skb_frag_size_sub</c>.</summary>
    public void SizeSub(int delta) => Size -= delta;

    /// <summary>The frag's bytes. Throws <see cref="NetmemException"/> for a net_iov (unreadable).</summary>
    public readonly Span<byte> GetSpan() => Netmem.GetSpan(Offset, Size);

    /// <summary>
    /// <c>__skb_frag_ref</c>: one more reference on the frag's netmem. With <paramref name="ppRecycle"/>
    /// and page_pool memory it is a pp reference (<c>page_pool_ref_netmem</c>, as <c>skb_pp_frag_ref</c>
    /// does), so the matching <see cref="Unref"/> goes back through the pool; otherwise get_netmem.
    /// </summary>
    public readonly void Ref(bool ppRecycle)
    {
        var n = Netmem;
        if (ppRecycle)
        {
            var head = n.CompoundHead;
            if (head.IsPp)
            {
                PagePool.RefNetmem(head);
                return;
            }
        }
        n.Get();
    }

    /// <summary>
    /// <c>__skb_frag_unref</c> (<c>skb_page_unref</c>): drops the frag's reference. With
    /// <paramref name="ppRecycle"/> the netmem goes back to its page_pool when its pp_magic says one owns
    /// it (<c>napi_pp_put_page</c>); anything else is put_netmem.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Unref(bool ppRecycle)
    {
        if (ppRecycle && PagePool.NapiPpPutPage(Netmem)) return;
        Netmem.Put();
    }

    public override readonly string ToString() => $"frag({Netmem}, off {Offset}, size {Size})";
}

/// <summary>The fixed inline frag array of <see cref="SkbSharedInfo"/>: no per-skb array on the heap.</summary>
[InlineArray(SkbSharedInfo.MaxSkbFrags)]
internal struct SkbFragArray
{
    private SkbFrag _element0;
}
