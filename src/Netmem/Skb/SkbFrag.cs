using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Skb;

/// <summary>
/// <c>skb_frag_t</c>: a piece of payload in a netmem, { netmem, offset, size }. The netmem may be
/// a host page or a net_iov; a frag over a net_iov is unreadable and has no address.
/// </summary>
public struct SkbFrag
{
    public NetmemRef Netmem;
    public int Offset;
    public int Size;

    /// <summary><c>skb_frag_fill_netmem_desc</c>.</summary>
    public void FillNetmemDesc(NetmemRef netmem, int offset, int size)
    {
        if (netmem.IsNull) throw new NetmemException("skb_frag_fill_netmem_desc: null netmem");
        if (offset < 0 || size < 0) throw new ArgumentOutOfRangeException(nameof(size), $"frag [{offset}, +{size}) is negative");
        Netmem = netmem;
        Offset = offset;
        Size = size;
    }

    /// <summary><c>skb_frag_netmem</c>.</summary>
    public readonly NetmemRef FragNetmem => Netmem;

    /// <summary><c>skb_frag_page</c>: the page, or a null ref when the frag is not page-backed (net_iov).</summary>
    public readonly NetmemRef FragPage => Netmem.IsNetIov ? default : Netmem;

    /// <summary><c>skb_frag_is_net_iov</c>.</summary>
    public readonly bool IsNetIov => Netmem.IsNetIov;

    /// <summary>Whether the CPU may read this frag's bytes.</summary>
    public readonly bool IsReadable => Netmem.IsReadable;

    /// <summary><c>skb_frag_address</c>: host address of the first byte, or 0 when unreadable.</summary>
    public readonly nint FragAddress => Netmem.IsReadable ? Netmem.Address + Offset : 0;

    /// <summary><c>skb_frag_off</c> / <c>skb_frag_size</c> with their add/sub helpers.</summary>
    public void OffAdd(int delta) => Offset += delta;
    public void SizeAdd(int delta) => Size += delta;
    public void SizeSub(int delta) => Size -= delta;

    /// <summary>The frag's bytes. Throws for an unreadable (net_iov) frag.</summary>
    public readonly Span<byte> GetSpan() => Netmem.GetSpan(Offset, Size);

    /// <summary>
    /// <c>__skb_frag_ref</c>: one more reference. On a page_pool-recycled skb a pool netmem takes a pp
    /// reference (<c>page_pool_ref_netmem</c>); anything else takes a netmem reference.
    /// </summary>
    public readonly void Ref(bool ppRecycle)
    {
        var head = Netmem.CompoundHead;
        if (ppRecycle && head.IsPp) PagePool.RefNetmem(head);
        else Netmem.Get();
    }

    /// <summary>
    /// <c>__skb_frag_unref</c> / <c>skb_page_unref</c>: drops a reference. On a page_pool-recycled skb
    /// pool memory goes back to its pool through the pp_magic check (<c>napi_pp_put_page</c>).
    /// </summary>
    public readonly void Unref(bool ppRecycle)
    {
        if (ppRecycle && PagePool.NapiPpPutPage(Netmem)) return;
        Netmem.Put();
    }

    public override readonly string ToString() => $"frag {Netmem} [{Offset}, +{Size}){(IsReadable ? "" : " unreadable")}";
}
