using System.Runtime.InteropServices;

namespace Netmem.Memory;

/// <summary>
/// Memory that belongs to a device (a GPU's HBM, say), simulated in host RAM. The network stack
/// never gets a CPU pointer to it: devices reach it through their IOMMU mappings, and a user reads
/// it only through the explicit copy <see cref="CopyToHost"/>, the analogue of cudaMemcpy DtoH.
/// </summary>
public sealed unsafe class DeviceMemory : IDisposable
{
    private byte* _base;

    public DeviceMemory(long size, string name = "devmem")
    {
        if (size <= 0 || size % PageArena.PageSize != 0)
            throw new ArgumentOutOfRangeException(nameof(size), $"device memory size {size} must be a positive multiple of {PageArena.PageSize}");
        Size = size;
        Name = name;
        _base = (byte*)NativeMemory.AlignedAlloc((nuint)size, PageArena.PageSize);
        NativeMemory.Clear(_base, (nuint)size);
    }

    public long Size { get; }
    public string Name { get; }

    /// <summary>Backing address for IOMMU mappings only; never handed to the stack as readable memory.</summary>
    internal nint DeviceAddress
    {
        get
        {
            ObjectDisposedException.ThrowIf(_base == null, this);
            return (nint)_base;
        }
    }

    /// <summary>Explicit device-to-host copy (not a stack path): how a test or application inspects payload.</summary>
    public void CopyToHost(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        new ReadOnlySpan<byte>(_base + offset, destination.Length).CopyTo(destination);
    }

    /// <summary>Explicit host-to-device copy (the analogue of cudaMemcpy HtoD).</summary>
    public void CopyFromHost(long offset, ReadOnlySpan<byte> source)
    {
        CheckRange(offset, source.Length);
        source.CopyTo(new Span<byte>(_base + offset, source.Length));
    }

    private void CheckRange(long offset, int length)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        if (offset < 0 || length < 0 || offset + length > Size)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset + length}) is outside {Name} ({Size} bytes)");
    }

    public void Dispose()
    {
        if (_base == null) return;
        NativeMemory.AlignedFree(_base);
        _base = null;
    }
}
