using Netmem.Memory;

namespace Netmem.Dmabuf;

/// <summary>
/// The binding's chunk pool (the kernel uses a <c>gen_pool</c> with PAGE_SIZE granularity): hands out and
/// takes back net_iov indices 0..<see cref="Capacity"/>-1. A free stack gives O(1) allocate and free with no
/// allocation per call; a bitmap catches a double free or a free of a chunk never handed out. Lowest indices
/// go out first. Thread-safe (the pool allocates in its NAPI context, releases come from any thread).
/// </summary>
public sealed class NetIovChunkAllocator
{
    private readonly int[] _free;
    private readonly ulong[] _inUse;
    private readonly Lock _lock = new();
    private int _top;
    private long _allocs, _frees, _failures;

    public NetIovChunkAllocator(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _free = new int[capacity];
        _inUse = new ulong[(capacity + 63) / 64];
        for (int i = 0; i < capacity; i++) _free[i] = capacity - 1 - i;
        _top = capacity;
    }

    /// <summary>Chunks in all (<c>gen_pool_size</c> / PAGE_SIZE).</summary>
    public int Capacity => _free.Length;
    /// <summary>Chunks free now (<c>gen_pool_avail</c> / PAGE_SIZE).</summary>
    public int Available { get { lock (_lock) return _top; } }
    /// <summary>Chunks handed out and not yet freed.</summary>
    public int InUse => Capacity - Available;
    /// <summary>Successful allocations, frees, and requests that found nothing free.</summary>
    public (long Allocs, long Frees, long Failures) Counters { get { lock (_lock) return (_allocs, _frees, _failures); } }

    /// <summary><c>gen_pool_alloc</c>: one chunk, or false when none is free.</summary>
    public bool TryAlloc(out int index)
    {
        Span<int> one = stackalloc int[1];
        bool ok = Alloc(one) == 1;
        index = ok ? one[0] : -1;
        return ok;
    }

    /// <summary>Up to <paramref name="indices"/>.Length chunks at once; returns how many.</summary>
    public int Alloc(Span<int> indices)
    {
        lock (_lock)
        {
            int n = Math.Min(indices.Length, _top);
            for (int i = 0; i < n; i++)
            {
                int idx = _free[--_top];
                _inUse[idx >> 6] |= 1ul << idx;
                indices[i] = idx;
            }
            _allocs += n;
            if (n == 0 && indices.Length > 0) _failures++;
            return n;
        }
    }

    /// <summary><c>gen_pool_free</c>: gives chunk <paramref name="index"/> back. Throws on a double free or a chunk outside the pool.</summary>
    public void Free(int index)
    {
        if ((uint)index >= (uint)Capacity)
            throw new NetmemException($"chunk pool: free of chunk {index} outside 0..{Capacity - 1}");
        lock (_lock)
        {
            ulong bit = 1ul << index;
            if ((_inUse[index >> 6] & bit) == 0)
                throw new NetmemException($"chunk pool: double free of chunk {index} (it is not handed out)");
            _inUse[index >> 6] &= ~bit;
            _free[_top++] = index;
            _frees++;
        }
    }

    /// <summary>Whether chunk <paramref name="index"/> is handed out.</summary>
    public bool IsInUse(int index)
    {
        if ((uint)index >= (uint)Capacity) return false;
        lock (_lock) return (_inUse[index >> 6] & (1ul << index)) != 0;
    }

    /// <summary>Bytes a chunk covers.</summary>
    public const int ChunkSize = PageArena.PageSize;
}
