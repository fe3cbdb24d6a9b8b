using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Netmem.Memory;

/// <summary>Counters of one IOMMU domain.</summary>
public readonly record struct IommuStats(
    long Maps, long Unmaps, long MappedPages, long Faults,
    long SyncForCpu, long SyncForDevice, long DeviceBytesRead, long DeviceBytesWritten);

/// <summary>
/// A software IOMMU: the IOVA -> host page table of one device. Every byte a device moves goes
/// through <see cref="Translate"/>, which checks the mapping at byte granularity and its direction,
/// so an access outside a mapping is a fault, never silent corruption.
/// Two-level table (512-entry leaves) covering 64 GiB of IOVA space; translation is two loads.
/// </summary>
internal sealed unsafe class Iommu : IDisposable
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Pte
    {
        public ulong HostAndFlags; // host page address | Valid | DevRead | DevWrite
        public ushort Start;       // first valid byte of the page within the mapping
        public ushort End;         // one past the last valid byte (4096 for a whole page)
        public uint MappingPages;  // pages from this one to the end of its mapping (for OutOfRange vs Unmapped)
    }

    private const ulong Valid = 1, DevRead = 2, DevWrite = 4;
    private const int LeafBits = 9, LeafEntries = 1 << LeafBits;
    private const int L1Entries = 1 << 15;
    private const ulong FirstIovaPage = 256; // IOVA 0..1 MiB is never handed out: 0 is not a DMA address

    private readonly string _device;
    private readonly Pte** _l1;
    private readonly object _lock = new();
    private readonly Dictionary<ulong, (long Length, DmaDirection Dir, int Pages)> _mappings = new();
    private readonly Dictionary<int, Stack<ulong>> _freeRanges = new();
    private ulong _nextPage = FirstIovaPage;
    private long _maps, _unmaps, _mappedPages, _faults, _syncCpu, _syncDev, _bytesRead, _bytesWritten;

    public Iommu(string device)
    {
        _device = device;
        _l1 = (Pte**)NativeMemory.AllocZeroed((nuint)L1Entries, (nuint)sizeof(Pte*));
    }

    public IommuStats Stats => new(
        Interlocked.Read(ref _maps), Interlocked.Read(ref _unmaps), Interlocked.Read(ref _mappedPages),
        Interlocked.Read(ref _faults), Interlocked.Read(ref _syncCpu), Interlocked.Read(ref _syncDev),
        Interlocked.Read(ref _bytesRead), Interlocked.Read(ref _bytesWritten));

    public int LiveMappings { get { lock (_lock) return _mappings.Count; } }

    /// <summary>Maps [host, host+length) and returns its IOVA (keeping the in-page offset, as dma_map_single does).</summary>
    public ulong Map(nint host, long length, DmaDirection dir)
    {
        if (length <= 0) throw new ArgumentOutOfRangeException(nameof(length), $"DMA map of {length} bytes on {_device}");
        if (dir == DmaDirection.None) throw new ArgumentException($"DMA map on {_device} with DMA_NONE", nameof(dir));
        int offset = (int)(host & (PageArena.PageSize - 1));
        long pagesL = (offset + length + PageArena.PageSize - 1) >> PageArena.PageShift;
        if (pagesL > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(length));
        int pages = (int)pagesL;
        ulong perm = Valid | dir switch
        {
            DmaDirection.ToDevice => DevRead,
            DmaDirection.FromDevice => DevWrite,
            _ => DevRead | DevWrite,
        };
        lock (_lock)
        {
            ulong first = AllocIova(pages);
            nint hostPage = host - offset;
            long end = offset + length;
            for (int i = 0; i < pages; i++)
            {
                Pte* pte = Leaf(first + (ulong)i, create: true);
                long pageStart = (long)i << PageArena.PageShift;
                pte->HostAndFlags = (ulong)(hostPage + (nint)pageStart) | perm;
                pte->Start = (ushort)(i == 0 ? offset : 0);
                pte->End = (ushort)Math.Min(PageArena.PageSize, end - pageStart);
                pte->MappingPages = (uint)(pages - i);
            }
            _mappings.Add(first, (length, dir, pages));
            _maps++;
            _mappedPages += pages;
            return (first << PageArena.PageShift) + (ulong)offset;
        }
    }

    /// <summary>Whether a live mapping of exactly <paramref name="length"/> bytes starts at <paramref name="iova"/>.</summary>
    public bool IsMapped(ulong iova, long length)
    {
        ulong first = iova >> PageArena.PageShift;
        lock (_lock)
            return _mappings.TryGetValue(first, out var m) && m.Length == length
                && (int)(iova & (PageArena.PageSize - 1)) == Leaf(first, false)->Start;
    }

    /// <summary>Unmaps a mapping; the IOVA, length and direction must be exactly those it was mapped with.</summary>
    public void Unmap(ulong iova, long length, DmaDirection dir)
    {
        ulong first = iova >> PageArena.PageShift;
        lock (_lock)
        {
            if (!_mappings.TryGetValue(first, out var m) || (int)(iova & (PageArena.PageSize - 1)) != Leaf(first, false)->Start)
                throw new NetmemException($"DMA-API: {_device}: unmap of IOVA 0x{iova:x}, which is not the start of a mapping (double unmap or foreign address)");
            if (m.Length != length)
                throw new NetmemException($"DMA-API: {_device}: unmap of IOVA 0x{iova:x} with size {length}, but it was mapped with size {m.Length}");
            if (m.Dir != dir)
                throw new NetmemException($"DMA-API: {_device}: unmap of IOVA 0x{iova:x} with direction {dir}, but it was mapped {m.Dir}");
            for (int i = 0; i < m.Pages; i++) *Leaf(first + (ulong)i, false) = default;
            _mappings.Remove(first);
            if (!_freeRanges.TryGetValue(m.Pages, out var stack)) _freeRanges[m.Pages] = stack = new Stack<ulong>();
            stack.Push(first);
            _unmaps++;
            _mappedPages -= m.Pages;
        }
    }

    /// <summary>
    /// The host address for a device access of <paramref name="length"/> bytes at <paramref name="iova"/>
    /// that stays within one page. Faults (throws and counts) when the access leaves the mapping.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public nint Translate(ulong iova, int length, bool write)
    {
        ulong pfn = iova >> PageArena.PageShift;
        ulong l1 = pfn >> LeafBits;
        uint off = (uint)iova & (PageArena.PageSize - 1);
        if (l1 < L1Entries)
        {
            Pte* leaf = _l1[l1];
            if (leaf != null)
            {
                Pte e = leaf[pfn & (LeafEntries - 1)];
                ulong need = write ? DevWrite : DevRead;
                if ((e.HostAndFlags & need) != 0 && off >= e.Start && off + (uint)length <= e.End)
                    return (nint)(e.HostAndFlags & ~(ulong)(PageArena.PageSize - 1)) + (nint)off;
            }
        }
        return TranslateSlow(iova, length, write);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private nint TranslateSlow(ulong iova, int length, bool write)
    {
        ulong pfn = iova >> PageArena.PageShift;
        uint off = (uint)iova & (PageArena.PageSize - 1);
        Pte* pte = LeafOrNull(pfn);
        if (pte == null || (pte->HostAndFlags & Valid) == 0 || off < pte->Start) throw Fault(iova, length, write, IommuFaultReason.Unmapped);
        if ((pte->HostAndFlags & (write ? DevWrite : DevRead)) == 0) throw Fault(iova, length, write, IommuFaultReason.Direction);
        if (length < 0 || off + (uint)length > PageArena.PageSize)
            throw new ArgumentOutOfRangeException(nameof(length), "a single translation may not cross a page");
        throw Fault(iova, length, write, IommuFaultReason.OutOfRange);
    }

    /// <summary>Checks that [iova, iova+length) is mapped for the access, page by page; faults otherwise.</summary>
    public void CheckRange(ulong iova, long length, bool write)
    {
        while (length > 0)
        {
            int inPage = (int)Math.Min(length, PageArena.PageSize - (long)(iova & (PageArena.PageSize - 1)));
            Translate(iova, inPage, write);
            iova += (ulong)inPage;
            length -= inPage;
        }
    }

    public void CountRead(long bytes) => Interlocked.Add(ref _bytesRead, bytes);
    public void CountWrite(long bytes) => Interlocked.Add(ref _bytesWritten, bytes);
    public void CountSync(bool forCpu)
    {
        if (forCpu) Interlocked.Increment(ref _syncCpu); else Interlocked.Increment(ref _syncDev);
    }

    /// <summary>Direction a mapping at <paramref name="iova"/> was made with; faults if none.</summary>
    public DmaDirection DirectionOf(ulong iova, long length)
    {
        Pte* pte = LeafOrNull(iova >> PageArena.PageShift);
        if (pte == null || (pte->HostAndFlags & Valid) == 0) throw Fault(iova, (int)Math.Min(length, int.MaxValue), false, IommuFaultReason.Unmapped);
        return (pte->HostAndFlags & (DevRead | DevWrite)) switch
        {
            DevRead => DmaDirection.ToDevice,
            DevWrite => DmaDirection.FromDevice,
            _ => DmaDirection.Bidirectional,
        };
    }

    private IommuFaultException Fault(ulong iova, int length, bool write, IommuFaultReason reason)
    {
        Interlocked.Increment(ref _faults);
        return new IommuFaultException(_device, iova, length, write, reason);
    }

    private ulong AllocIova(int pages)
    {
        if (_freeRanges.TryGetValue(pages, out var stack) && stack.Count > 0) return stack.Pop();
        ulong first = _nextPage;
        if (first + (ulong)pages > (ulong)L1Entries * LeafEntries)
            throw new InvalidOperationException($"IOVA space of {_device} exhausted");
        _nextPage += (ulong)pages;
        return first;
    }

    private Pte* LeafOrNull(ulong pfn)
    {
        ulong l1 = pfn >> LeafBits;
        if (l1 >= L1Entries || _l1[l1] == null) return null;
        return &_l1[l1][pfn & (LeafEntries - 1)];
    }

    private Pte* Leaf(ulong pfn, bool create)
    {
        ulong l1 = pfn >> LeafBits;
        if (_l1[l1] == null)
        {
            if (!create) throw new InvalidOperationException("IOMMU leaf missing");
            _l1[l1] = (Pte*)NativeMemory.AllocZeroed((nuint)LeafEntries, (nuint)sizeof(Pte));
        }
        return &_l1[l1][pfn & (LeafEntries - 1)];
    }

    public void Dispose()
    {
        for (int i = 0; i < L1Entries; i++)
            if (_l1[i] != null) NativeMemory.Free(_l1[i]);
        NativeMemory.Free(_l1);
    }
}
