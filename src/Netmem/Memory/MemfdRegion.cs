using System.Runtime.InteropServices;

namespace Netmem.Memory;

/// <summary>
/// Shared host memory from <c>memfd_create</c>, sized with <c>ftruncate</c> and mapped with <c>mmap</c>
/// (MAP_SHARED): what udmabuf exports as a dma-buf. The pointer never leaves this type except as the
/// backing of an IOMMU mapping; CPU access goes through <see cref="GetSpan"/>.
/// </summary>
internal sealed unsafe partial class MemfdRegion : IDisposable
{
    private const uint MFD_CLOEXEC = 1;
    private const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;
    private static readonly nint MapFailed = -1;

    private byte* _base;

    public MemfdRegion(string name, long size)
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), $"memfd of {size} bytes");
        Size = size;
        Fd = MemfdCreate(name, MFD_CLOEXEC);
        if (Fd < 0) throw Fail("memfd_create");
        if (Ftruncate(Fd, size) != 0)
        {
            var e = Fail("ftruncate");
            Close(Fd);
            throw e;
        }
        nint p = Mmap(0, (nuint)size, PROT_READ | PROT_WRITE, MAP_SHARED, Fd, 0);
        if (p == MapFailed)
        {
            var e = Fail("mmap");
            Close(Fd);
            throw e;
        }
        _base = (byte*)p;
    }

    public long Size { get; }
    /// <summary>The memfd (what udmabuf's UDMABUF_CREATE takes).</summary>
    public int Fd { get; private set; }

    /// <summary>Start of the mapping, for IOMMU mappings only.</summary>
    public nint Address
    {
        get
        {
            ObjectDisposedException.ThrowIf(_base == null, this);
            return (nint)_base;
        }
    }

    /// <summary>CPU view of [offset, offset + length).</summary>
    public Span<byte> GetSpan(long offset, int length)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        if (offset < 0 || length < 0 || offset + length > Size)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset + length}) is outside the {Size}-byte memfd");
        return new Span<byte>(_base + offset, length);
    }

    public void Dispose()
    {
        if (_base == null) return;
        Munmap((nint)_base, (nuint)Size);
        _base = null;
        Close(Fd);
        Fd = -1;
    }

    private static NetmemErrnoException Fail(string call)
    {
        int e = Marshal.GetLastPInvokeError();
        return new NetmemErrnoException((Errno)e, $"{call} failed: {Marshal.GetPInvokeErrorMessage(e)}");
    }

    [LibraryImport("libc", EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MemfdCreate(string name, uint flags);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int Ftruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint addr, nuint length);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
