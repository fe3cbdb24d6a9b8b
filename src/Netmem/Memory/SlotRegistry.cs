namespace Netmem.Memory;

/// <summary>
/// Maps a small integer stored in native descriptors (arena id, area id, pool slot) back to its
/// managed owner. Reads are lock-free (one array load); adds and removes take a lock. Slot 0 is
/// never used, so a zeroed descriptor names nothing.
/// </summary>
internal sealed class SlotRegistry<T> where T : class
{
    private readonly object _lock = new();
    private readonly int _maxSlot;
    private T?[] _slots = new T?[16];

    public SlotRegistry(int maxSlot = int.MaxValue) => _maxSlot = maxSlot;

    public int Add(T item)
    {
        lock (_lock)
        {
            var slots = _slots;
            for (int i = 1; i < slots.Length; i++)
                if (slots[i] is null) { slots[i] = item; return i; }
            if (slots.Length > _maxSlot) throw new InvalidOperationException($"too many live {typeof(T).Name} objects (at most {_maxSlot})");
            var grown = new T?[slots.Length * 2];
            slots.CopyTo(grown, 0);
            grown[slots.Length] = item;
            Volatile.Write(ref _slots, grown);
            return slots.Length;
        }
    }

    public void Remove(int slot, T item)
    {
        lock (_lock)
            if (_slots[slot] == item) _slots[slot] = null;
    }

    public T? Get(int slot)
    {
        var slots = Volatile.Read(ref _slots);
        return (uint)slot < (uint)slots.Length ? slots[slot] : null;
    }

    public T[] Snapshot()
    {
        lock (_lock) return _slots.Where(s => s is not null).Select(s => s!).ToArray();
    }
}
