using System.Runtime.CompilerServices;

namespace Netmem.Skb;

/// <summary>Inline storage for MAX_SKB_FRAGS frags: no per-skb array on the data path.</summary>
[InlineArray(SkbSharedInfo.MaxSkbFrags)]
public struct SkbFragArray
{
    private SkbFrag _first;
}

/// <summary>GSO types (SKB_GSO_*), the ones this stack produces.</summary>
[Flags]
public enum GsoType
{
    None = 0,
    TcpV4 = 1 << 0,
    UdpL4 = 1 << 16,
}

/// <summary>
/// <c>struct skb_shared_info</c>: what clones of an skb share: the frags, the frag list, GSO
/// parameters, and <c>dataref</c>, the number of skbs pointing at this data.
/// </summary>
public sealed class SkbSharedInfo
{
    /// <summary>MAX_SKB_FRAGS.</summary>
    public const int MaxSkbFrags = 17;

    internal SkbFragArray Frags;
    public int NrFrags { get; internal set; }
    /// <summary><c>frag_list</c>: a chain of skbs whose data follows this one's frags (GRO, fragments).</summary>
    public SkBuff? FragList { get; internal set; }
    public int GsoSize { get; set; }
    public int GsoSegs { get; set; }
    public GsoType GsoType { get; set; }
    internal int DataRef;
    /// <summary>The linear head buffer: a readable netmem from the cache's head pool.</summary>
    internal Memory.NetmemRef HeadNetmem;
    internal int HeadOffset;
    /// <summary>Size of the head buffer (<c>end - head</c>).</summary>
    internal int HeadSize;

    /// <summary>The frag at <paramref name="i"/> (read only; use the skb's helpers to change frags).</summary>
    public SkbFrag this[int i]
    {
        get
        {
            if ((uint)i >= (uint)NrFrags) throw new ArgumentOutOfRangeException(nameof(i), $"frag {i} of {NrFrags}");
            return Frags[i];
        }
    }

    internal void Reset()
    {
        NrFrags = 0;
        FragList = null;
        GsoSize = GsoSegs = 0;
        GsoType = GsoType.None;
        DataRef = 1;
        Frags = default;
        HeadNetmem = default;
        HeadOffset = HeadSize = 0;
    }
}
