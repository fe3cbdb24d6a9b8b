using System.Buffers;

namespace Netmem.Memory;

/// <summary>
/// Application memory pinned for as long as a device may write it (<c>io_pin_pages</c> for io_uring zcrx):
/// managed memory is pinned with <see cref="Memory{T}.Pin"/>, native memory is already fixed. Holds the
/// address the IOMMU maps and the CPU copy fallback writes through.
/// </summary>
internal sealed unsafe class PinnedUserMemory : IDisposable
{
    private MemoryHandle _handle;
    private bool _released;

    public PinnedUserMemory(Memory<byte> memory)
    {
        Memory = memory;
        _handle = memory.Pin();
        Address = (nint)_handle.Pointer;
    }

    public Memory<byte> Memory { get; }
    public nint Address { get; }
    public int Length => Memory.Length;

    /// <summary><c>unpin_user_pages</c>.</summary>
    public void Dispose()
    {
        if (_released) return;
        _released = true;
        _handle.Dispose();
    }
}
