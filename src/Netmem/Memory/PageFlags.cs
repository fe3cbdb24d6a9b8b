namespace Netmem.Memory;

/// <summary>
/// Bit layout of <see cref="NetmemDesc.Flags"/> for host pages. Like the kernel, the low bits are
/// page flags and the high bits encode where the page lives (here: node id and arena id).
/// </summary>
internal static class PageFlags
{
    public const nuint Head = 1 << 0;    // first page of a compound (order > 0) allocation
    public const nuint Buddy = 1 << 1;   // free, owned by the arena's buddy allocator
    public const nuint Reserved = 1 << 2; // never handed out
    public const nuint Foreign = 1 << 3;  // user memory described by a UserPageTable: the last put goes to its owner, not a buddy allocator

    public const int OrderShift = 16;
    public const nuint OrderMask = 0xFF;
    public const int NidShift = 24;
    public const nuint NidMask = 0xFF;
    public const int ArenaShift = 32;
    public const nuint ArenaMask = 0xFFFF;   // arena id, or for a Foreign page its UserPageTable id

    public static int Order(nuint flags) => (int)((flags >> OrderShift) & OrderMask);
    public static int Nid(nuint flags) => (int)((flags >> NidShift) & NidMask);
    public static int Arena(nuint flags) => (int)((flags >> ArenaShift) & ArenaMask);

    public static nuint WithOrder(nuint flags, int order) =>
        (flags & ~(OrderMask << OrderShift)) | ((nuint)order << OrderShift);
}

/// <summary>Constants of the page_pool's pp_magic word.</summary>
public static class PpMagic
{
    /// <summary>PP_SIGNATURE: 0x40 plus the x86-64 POISON_POINTER_DELTA, as the kernel uses.</summary>
    public const ulong Signature = 0xdead000000000040UL;
    /// <summary>Bits of pp_magic that are not part of the signature (tail and pfmemalloc bits).</summary>
    public const ulong LowBitsMask = 0x3;
    /// <summary>Bit 1 of the same word: the page came from the pfmemalloc reserves.</summary>
    public const ulong PfmemallocBit = 0x2;
    /// <summary>Bit 0 of the same word: a tail page; the word holds the compound head pointer.</summary>
    public const ulong TailBit = 0x1;
}
