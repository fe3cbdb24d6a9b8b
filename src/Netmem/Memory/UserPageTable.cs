using System.Runtime.InteropServices;

namespace Netmem.Memory;

/// <summary>
/// Page descriptors for memory the stack does not own: what <c>get_user_pages</c> hands MSG_ZEROCOPY, here
/// for managed memory pinned with <c>Memory&lt;byte&gt;.Pin()</c> or native memory given through the C ABI.
/// A descriptor is a <see cref="PageDesc"/> like an arena page's (so skb frags, <see cref="DmaDevice.MapPage"/>
/// and <see cref="NetmemRef.Get"/>/<see cref="NetmemRef.Put"/> work unchanged), flagged
/// <see cref="PageFlags.Foreign"/> with this table's id where an arena page has its arena's. Its last put
/// does not free memory: the descriptor returns to the table and its <see cref="IUserPageOwner"/> hears of
/// it (the owner holds the pin and releases it). Descriptors live in native chunks that are never freed
/// while the table lives, so a stale handle reads a free descriptor, never freed memory.
/// </summary>
public sealed unsafe class UserPageTable
{
    private const int ChunkShift = 12;
    private const int ChunkSize = 1 << ChunkShift;

    private static readonly SlotRegistry<UserPageTable> s_registry = new((int)PageFlags.ArenaMask);
    private static readonly Lazy<UserPageTable> s_shared = new(() => new UserPageTable());

    private readonly Lock _lock = new();
    private nint[] _chunks = new nint[4]; // PageDesc* each
    private int _chunkCount;
    private IUserPageOwner?[] _owners = new IUserPageOwner?[4 * ChunkSize];
    private int[] _free = new int[4 * ChunkSize];
    private int _freeCount;
    private int _live;

    /// <summary>
    /// A table of its own (tests: a released descriptor of the shared table is handed to the next caller at once,
    /// so only a private table can show that a second put of a released descriptor is refused).
    /// </summary>
    internal UserPageTable() => Id = s_registry.Add(this);

    /// <summary>The process-wide table (descriptors are reused, so its size follows the most pages pinned at once).</summary>
    public static UserPageTable Shared => s_shared.Value;

    /// <summary>Registry id, stored in each descriptor's flags where an arena page keeps its arena id.</summary>
    public int Id { get; }

    /// <summary>Descriptors handed out and not yet back (each is a pinned user page some reference still holds).</summary>
    public int Live => Volatile.Read(ref _live);

    /// <summary>
    /// A descriptor for the user page at <paramref name="pageAddress"/> (page aligned) with refcount 1, the
    /// caller's. When the last reference goes, <paramref name="owner"/> is told (on the thread that dropped it).
    /// </summary>
    public NetmemRef Map(nint pageAddress, IUserPageOwner owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        if ((pageAddress & (PageArena.PageSize - 1)) != 0 || pageAddress == 0)
            throw new ArgumentOutOfRangeException(nameof(pageAddress), $"0x{pageAddress:x} is not a page address");
        lock (_lock)
        {
            if (_freeCount == 0) Grow();
            int slot = _free[--_freeCount];
            _owners[slot] = owner;
            PageDesc* d = Slot(slot);
            d->Desc.Flags = PageFlags.Foreign | ((nuint)Id << PageFlags.ArenaShift);
            d->Desc.PpMagic = 0;
            d->Desc.Pp = 0;
            d->Desc.PpMappingPad = 0;
            d->Desc.DmaAddr = 0;
            d->Desc.PpRefCount = 0;
            d->MapCount = slot; // the slot, so the release finds the owner
            d->Virtual = pageAddress;
            Volatile.Write(ref d->RefCount, 1);
            _live++;
            return NetmemRef.FromPage(d);
        }
    }

    internal static UserPageTable FromPage(PageDesc* page)
    {
        int id = PageFlags.Arena(page->Desc.Flags);
        return s_registry.Get(id) ?? throw new NetmemException($"user page@0x{(nuint)page:x} names table {id}, which does not exist");
    }

    /// <summary>The descriptor's refcount reached 0 (<see cref="NetmemRef.Put"/>): back to the free list, then its owner hears.</summary>
    internal void Release(PageDesc* page)
    {
        IUserPageOwner? owner;
        var netmem = NetmemRef.FromPage(page);
        lock (_lock)
        {
            int slot = page->MapCount;
            if ((uint)slot >= (uint)(_chunkCount * ChunkSize) || Slot(slot) != page || _owners[slot] is null)
                throw new NetmemException($"user page@0x{(nuint)page:x} released twice or not from table {Id}");
            owner = _owners[slot];
            _owners[slot] = null;
            page->Desc.Flags = PageFlags.Foreign | ((nuint)Id << PageFlags.ArenaShift);
            page->Virtual = 0;
            _free[_freeCount++] = slot;
            _live--;
        }
        owner!.UserPageReleased(netmem);
    }

    private PageDesc* Slot(int slot) => (PageDesc*)_chunks[slot >> ChunkShift] + (slot & (ChunkSize - 1));

    private void Grow()
    {
        if (_chunkCount == _chunks.Length) Array.Resize(ref _chunks, _chunks.Length * 2);
        var chunk = (PageDesc*)NativeMemory.AlignedAlloc((nuint)ChunkSize * (nuint)sizeof(PageDesc), 64);
        NativeMemory.Clear(chunk, (nuint)ChunkSize * (nuint)sizeof(PageDesc));
        int baseSlot = _chunkCount * ChunkSize;
        _chunks[_chunkCount++] = (nint)chunk;
        int total = _chunkCount * ChunkSize;
        if (_owners.Length < total) Array.Resize(ref _owners, total);
        if (_free.Length < total) Array.Resize(ref _free, total);
        for (int i = ChunkSize - 1; i >= 0; i--) _free[_freeCount++] = baseSlot + i;
    }
}

/// <summary>Who holds the pin behind user pages: told when the last reference to each goes.</summary>
public interface IUserPageOwner
{
    /// <summary>The last reference on <paramref name="page"/> went (any thread). The descriptor is already free.</summary>
    void UserPageReleased(NetmemRef page);
}
