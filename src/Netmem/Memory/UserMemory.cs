using System.Buffers;

namespace Netmem.Memory;

/// <summary>
/// Reads user memory given by address (an iovec of the C ABI or a pinned managed buffer), for the paths
/// that copy it after all: MSG_ZEROCOPY without SO_ZEROCOPY, or a route without scatter-gather.
/// </summary>
public static unsafe class UserMemory
{
    /// <summary>The bytes at <paramref name="address"/>; the caller keeps them alive (pinned) while it reads.</summary>
    public static ReadOnlySpan<byte> AsSpan(nint address, int length)
    {
        if (address == 0 && length != 0) throw new ArgumentNullException(nameof(address), "user memory at address 0");
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return new ReadOnlySpan<byte>((void*)address, length);
    }

    /// <summary>
    /// Pins <paramref name="memory"/> (<c>Memory&lt;byte&gt;.Pin()</c>) for a zero-copy send: its address stays
    /// valid until <paramref name="handle"/> is disposed, which the send's completion does.
    /// </summary>
    public static nint Pin(ReadOnlyMemory<byte> memory, out MemoryHandle handle)
    {
        handle = memory.Pin();
        return (nint)handle.Pointer;
    }
}
