using System.Buffers;
using System.Runtime.InteropServices;

namespace Netmem.Memory;

/// <summary>
/// Page-aligned native memory an application owns and registers for zero-copy receive (what an io_uring
/// zcrx user gets from <c>mmap</c>): <see cref="Memory"/> is a <see cref="Memory{T}"/> over it whose
/// <c>Pin</c> costs nothing (native memory never moves). Dispose frees it; the caller disposes only after
/// every registration that uses it is freed.
/// </summary>
public sealed unsafe class PageAlignedMemory : MemoryManager<byte>
{
    private byte* _ptr;
    private readonly int _length;

    /// <summary><paramref name="length"/> bytes (rounded up to whole pages), zeroed, aligned to <see cref="PageArena.PageSize"/>.</summary>
    public PageAlignedMemory(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        long rounded = ((long)length + PageArena.PageSize - 1) & ~(long)(PageArena.PageSize - 1);
        if (rounded > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(length), $"{length} bytes round up past 2 GiB");
        _length = (int)rounded;
        _ptr = (byte*)NativeMemory.AlignedAlloc((nuint)_length, PageArena.PageSize);
        NativeMemory.Clear(_ptr, (nuint)_length);
    }

    /// <summary>Bytes in all (whole pages).</summary>
    public int Length => _length;

    public override Span<byte> GetSpan()
    {
        ObjectDisposedException.ThrowIf(_ptr == null, this);
        return new Span<byte>(_ptr, _length);
    }

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ObjectDisposedException.ThrowIf(_ptr == null, this);
        if ((uint)elementIndex > (uint)_length) throw new ArgumentOutOfRangeException(nameof(elementIndex));
        return new MemoryHandle(_ptr + elementIndex);
    }

    public override void Unpin() { }

    /// <summary>Frees the memory.</summary>
    public void Dispose() => ((IDisposable)this).Dispose();

    protected override void Dispose(bool disposing)
    {
        if (_ptr == null) return;
        NativeMemory.AlignedFree(_ptr);
        _ptr = null;
    }
}
