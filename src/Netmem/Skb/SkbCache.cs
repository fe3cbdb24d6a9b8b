using Netmem.Pool;

namespace Netmem.Skb;

/// <summary>
/// The skb slab (<c>skbuff_cache</c> with a NAPI-style object cache): SkBuff and shared-info
/// objects are reused, and head buffers come from a page_pool, so allocating and freeing skbs on
/// the data path allocates no managed memory once the cache is warm. Thread safe: skbs are
/// allocated in NAPI context and often freed elsewhere (a socket reader).
/// </summary>
public sealed class SkbCache
{
    private readonly object _lock = new();
    private readonly SkBuff[] _skbs;
    private readonly SkbSharedInfo[] _shinfos;
    private int _skbCount, _shinfoCount;

    /// <param name="headPool">Where linear head buffers come from (readable host pages).</param>
    /// <param name="capacity">Objects kept for reuse; beyond that freed skbs are left to the GC.</param>
    public SkbCache(PagePool headPool, int capacity = 1024)
    {
        HeadPool = headPool ?? throw new ArgumentNullException(nameof(headPool));
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity));
        _skbs = new SkBuff[capacity];
        _shinfos = new SkbSharedInfo[capacity];
    }

    public PagePool HeadPool { get; }
    /// <summary>Skbs handed out and not yet freed.</summary>
    public long Outstanding => Interlocked.Read(ref _outstanding);
    private long _outstanding;

    /// <summary>
    /// <c>napi_alloc_skb</c>: an empty skb with a linear head of at least <paramref name="headSize"/> bytes.
    /// Returns null when the head pool is out of memory.
    /// </summary>
    public SkBuff? Alloc(int headSize)
    {
        if (headSize <= 0 || headSize > Memory.PageArena.PageSize << HeadPool.Params.Order)
            throw new ArgumentOutOfRangeException(nameof(headSize), $"head of {headSize} bytes");
        int size = headSize;
        var head = HeadPool.AllocNetmem(ref size, out int offset);
        if (head.IsNull) return null;
        var skb = TakeSkb();
        var sh = TakeShinfo();
        sh.Reset();
        sh.HeadNetmem = head;
        sh.HeadOffset = offset;
        sh.HeadSize = size;
        skb.Init(this, sh, size);
        Interlocked.Increment(ref _outstanding);
        return skb;
    }

    /// <summary>A new skb object sharing <paramref name="sh"/> (skb_clone).</summary>
    internal SkBuff TakeClone(SkbSharedInfo sh)
    {
        Interlocked.Increment(ref _outstanding);
        var skb = TakeSkb();
        skb.Cache = this;
        skb.Shinfo = sh;
        return skb;
    }

    private SkBuff TakeSkb()
    {
        lock (_lock)
            if (_skbCount > 0) return _skbs[--_skbCount];
        return new SkBuff();
    }

    private SkbSharedInfo TakeShinfo()
    {
        lock (_lock)
            if (_shinfoCount > 0) return _shinfos[--_shinfoCount];
        return new SkbSharedInfo();
    }

    internal void Return(SkBuff skb)
    {
        Interlocked.Decrement(ref _outstanding);
        lock (_lock)
            if (_skbCount < _skbs.Length) _skbs[_skbCount++] = skb;
    }

    internal void Return(SkbSharedInfo sh)
    {
        lock (_lock)
            if (_shinfoCount < _shinfos.Length) _shinfos[_shinfoCount++] = sh;
    }
}
