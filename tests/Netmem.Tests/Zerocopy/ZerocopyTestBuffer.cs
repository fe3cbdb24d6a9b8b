using System.Runtime.InteropServices;
using Netmem.Stack.Tcp;

namespace Netmem.Tests.Zerocopy;

/// <summary>
/// User memory for zero-copy tests: page-aligned native memory the test owns (as a C caller's buffer), and a
/// pin that counts its releases so a test can see when the stack let go of it.
/// </summary>
internal sealed unsafe class ZerocopyTestBuffer : IDisposable
{
    public ZerocopyTestBuffer(int bytes)
    {
        Length = bytes;
        Address = (nint)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), 4096);
    }

    public nint Address { get; }
    public int Length { get; }
    public Span<byte> Span => new((void*)Address, Length);

    public UserIov Iov(int offset, int length) => new(Address + offset, length);

    public void Dispose() => NativeMemory.AlignedFree((void*)Address);
}

/// <summary>An <see cref="IZerocopyPin"/> that counts: taken (by sends that queued bytes) and released (by completions).</summary>
internal sealed class CountingPin : IZerocopyPin
{
    private int _released;
    public int Released => Volatile.Read(ref _released);
    public void Release() => Interlocked.Increment(ref _released);
}
