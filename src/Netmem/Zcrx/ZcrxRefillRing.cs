using System.Runtime.InteropServices;

namespace Netmem.Zcrx;

/// <summary>
/// The refill ring (<c>io_uring_zcrx_rq</c>: <c>struct io_uring</c> head/tail and an array of
/// <see cref="ZcrxRqe"/>), shared between the application (producer: writes entries, then publishes
/// <see cref="Tail"/> with release order) and the queue's page_pool (consumer: reads up to the tail with
/// acquire order, publishes its head). Entries are a power of two, at most <see cref="MaxEntries"/>; indices
/// run freely and wrap at 2^32, an entry's slot is <c>index &amp; Mask</c>.
/// <para>
/// The low-level API is the kernel's: <c>rqe = ref ring[tail]; rqe.Off = ...; tail++; ring.StoreTail(tail)</c>,
/// checking <see cref="LoadHead"/> for room. It has one producer: code that also disposes
/// <see cref="ZcrxLease"/>s (which post through <see cref="TryPost"/>) holds <see cref="ProducerLock"/> while it
/// produces.
/// </para>
/// </summary>
public sealed class ZcrxRefillRing
{
    /// <summary><c>IO_RQ_MAX_ENTRIES</c>.</summary>
    public const int MaxEntries = 32768;

    private readonly ZcrxRqe[] _rqes;
    private Indices _idx;
    private readonly ZcrxIfq _ifq;

    internal ZcrxRefillRing(ZcrxIfq ifq, uint entries)
    {
        _ifq = ifq;
        _rqes = new ZcrxRqe[entries];
        Entries = entries;
        Mask = entries - 1;
    }

    /// <summary><c>rq_entries</c>: slots in the ring (a power of two).</summary>
    public uint Entries { get; }
    /// <summary><c>rq_entries - 1</c>.</summary>
    public uint Mask { get; }
    /// <summary>Serialises producers (lease disposal and any low-level producer that shares the ring with leases).</summary>
    public Lock ProducerLock { get; } = new();

    /// <summary>The entry at free-running index <paramref name="index"/> (its slot is <c>index &amp; Mask</c>).</summary>
    public ref ZcrxRqe this[uint index] => ref _rqes[index & Mask];

    /// <summary>The producer's tail (what it last published).</summary>
    public uint Tail => Volatile.Read(ref _idx.Tail);

    /// <summary>The consumer's head, acquire-ordered: slots before it may be written again.</summary>
    public uint LoadHead() => Volatile.Read(ref _idx.Head);

    /// <summary>Entries the producer may write now (<c>Entries - (tail - head)</c>).</summary>
    public uint FreeSlots => Entries - (Tail - LoadHead());

    /// <summary>
    /// Publishes <paramref name="tail"/> with release order (<c>smp_store_release(&amp;rq-&gt;tail)</c>): entries
    /// before it are the pool's to read. Once the interface queue is unregistered nothing refills from the ring, so
    /// the entries are processed here at once.
    /// </summary>
    public void StoreTail(uint tail)
    {
        Volatile.Write(ref _idx.Tail, tail);
        if (_ifq.IsClosed) _ifq.DrainClosedRing();
    }

    /// <summary>Posts one entry (under <see cref="ProducerLock"/>); false when the ring is full.</summary>
    public bool TryPost(in ZcrxRqe rqe)
    {
        lock (ProducerLock)
        {
            uint tail = Tail;
            if (tail - LoadHead() >= Entries) return false;
            this[tail] = rqe;
            StoreTail(tail + 1);
            return true;
        }
    }

    /// <summary>Posts as many of <paramref name="rqes"/> as fit (under <see cref="ProducerLock"/>); returns how many.</summary>
    public int Post(ReadOnlySpan<ZcrxRqe> rqes)
    {
        lock (ProducerLock)
        {
            uint tail = Tail;
            int n = (int)Math.Min((uint)rqes.Length, Entries - (tail - LoadHead()));
            for (int i = 0; i < n; i++) this[tail + (uint)i] = rqes[i];
            if (n > 0) StoreTail(tail + (uint)n);
            return n;
        }
    }

    // ---- consumer side (the page_pool's refill, under the interface queue's rq lock) ----

    internal uint LoadTail() => Volatile.Read(ref _idx.Tail);

    /// <summary>Moves both indices to <paramref name="index"/> while the ring is empty (tests start near 2^32 to cross the wrap).</summary>
    internal void ResetIndices(uint index)
    {
        Volatile.Write(ref _idx.Head, index);
        Volatile.Write(ref _idx.Tail, index);
    }
    internal void StoreHead(uint head) => Volatile.Write(ref _idx.Head, head);

    // Head and tail on their own cache lines, as the kernel's shared struct io_uring keeps them apart from the entries.
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct Indices
    {
        [FieldOffset(64)] public uint Head;
        [FieldOffset(128)] public uint Tail;
    }

    public override string ToString() => $"zcrx refill ring ({Entries} entries, head {LoadHead()}, tail {Tail})";
}
