using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Netmem.Pool;

/// <summary>
/// The page_pool's <c>ptr_ring</c>: a bounded lock-free ring of words with many producers (any
/// thread returning netmem) and one consumer (the pool's allocation side). Each slot carries a
/// sequence number (Vyukov's bounded queue), so producers claim slots with one CAS and the
/// consumer needs none. Capacity is a power of two. Slots live in native memory.
/// </summary>
internal sealed unsafe class PtrRing : IDisposable
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Slot
    {
        public long Sequence;
        public nuint Value;
    }

    private readonly Slot* _slots;
    private readonly long _mask;
    // Producer and consumer indices on separate cache lines.
    private PaddedLong _tail;
    private PaddedLong _head;

    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedLong
    {
        [FieldOffset(64)] public long Value;
    }

    public PtrRing(int capacity)
    {
        if (capacity <= 0 || (capacity & (capacity - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(capacity), "ptr_ring capacity must be a power of two");
        Capacity = capacity;
        _mask = capacity - 1;
        _slots = (Slot*)NativeMemory.AlignedAlloc((nuint)capacity * (nuint)sizeof(Slot), 64);
        for (int i = 0; i < capacity; i++)
        {
            _slots[i].Sequence = i;
            _slots[i].Value = 0;
        }
    }

    public int Capacity { get; }

    /// <summary>Approximate number of entries (exact when no producer is mid-flight).</summary>
    public int Count => (int)Math.Max(0, Volatile.Read(ref _tail.Value) - Volatile.Read(ref _head.Value));

    /// <summary><c>ptr_ring_produce</c>: false when full. Safe from any thread.</summary>
    public bool TryProduce(nuint value)
    {
        long pos = Volatile.Read(ref _tail.Value);
        while (true)
        {
            Slot* slot = &_slots[pos & _mask];
            long seq = Volatile.Read(ref slot->Sequence);
            long dif = seq - pos;
            if (dif == 0)
            {
                long seen = Interlocked.CompareExchange(ref _tail.Value, pos + 1, pos);
                if (seen == pos)
                {
                    slot->Value = value;
                    Volatile.Write(ref slot->Sequence, pos + 1);
                    return true;
                }
                pos = seen;
            }
            else if (dif < 0)
            {
                return false; // full
            }
            else
            {
                pos = Volatile.Read(ref _tail.Value);
            }
        }
    }

    /// <summary><c>__ptr_ring_consume</c>: false when empty. Single consumer only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryConsume(out nuint value)
    {
        long pos = _head.Value;
        Slot* slot = &_slots[pos & _mask];
        if (Volatile.Read(ref slot->Sequence) != pos + 1)
        {
            value = 0;
            return false;
        }
        value = slot->Value;
        Volatile.Write(ref slot->Sequence, pos + _mask + 1);
        Volatile.Write(ref _head.Value, pos + 1);
        return true;
    }

    /// <summary>Whether the next consume would find nothing.</summary>
    public bool IsEmpty => Volatile.Read(ref _slots[_head.Value & _mask].Sequence) != _head.Value + 1;

    public void Dispose() => NativeMemory.AlignedFree(_slots);
}
