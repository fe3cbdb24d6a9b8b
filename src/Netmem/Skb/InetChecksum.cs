using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Netmem.Skb;

/// <summary>
/// The Internet ones-complement checksum (RFC 1071) as the kernel's csum helpers use it. A partial sum
/// (<c>__wsum</c>) is a 32-bit ones-complement accumulator; here it counts 16-bit words in network
/// (big-endian) order, so <see cref="Fold"/> gives the value to store big-endian in a header. Only its
/// value modulo 0xFFFF matters, which is why sums of separate blocks can be combined
/// (<see cref="BlockAdd"/>) without touching the bytes again.
/// </summary>
public static class InetChecksum
{
    /// <summary>
    /// <c>csum_partial</c>: adds the bytes of <paramref name="data"/> (as if they start at an even
    /// offset) to <paramref name="sum"/>. Reads eight bytes at a time in host order and swaps once at the
    /// end, which gives the same ones-complement sum (RFC 1071 section 2, byte order independence).
    /// </summary>
    public static uint Partial(ReadOnlySpan<byte> data, uint sum = 0)
    {
        ref byte p = ref MemoryMarshal.GetReference(data);
        int n = data.Length;
        int i = 0;
        ulong acc = 0;
        // Each 64-bit load adds two 32-bit halves; the 64-bit accumulator cannot overflow for spans below 2^31 bytes.
        for (; i + 32 <= n; i += 32)
        {
            ulong a = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i));
            ulong b = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i + 8));
            ulong c = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i + 16));
            ulong d = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i + 24));
            acc += (uint)a + (a >> 32) + (uint)b + (b >> 32) + (uint)c + (c >> 32) + (uint)d + (d >> 32);
        }
        for (; i + 8 <= n; i += 8)
        {
            ulong a = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i));
            acc += (uint)a + (a >> 32);
        }
        if (i + 4 <= n)
        {
            acc += Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, i));
            i += 4;
        }
        if (i + 2 <= n)
        {
            acc += Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref p, i));
            i += 2;
        }
        if (i < n)
        {
            byte last = Unsafe.Add(ref p, i);
            // The odd byte is the high half of a big-endian word: its low half in a host little-endian word.
            acc += BitConverter.IsLittleEndian ? last : (ulong)last << 8;
        }
        uint folded = Fold64(acc);
        if (BitConverter.IsLittleEndian) folded = BinaryPrimitives.ReverseEndianness((ushort)folded);
        return Add(sum, folded);
    }

    /// <summary><c>csum_add</c>: ones-complement addition of two partial sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Add(uint a, uint b)
    {
        ulong t = (ulong)a + b;
        return (uint)t + (uint)(t >> 32);
    }

    /// <summary><c>csum_sub</c>: removes <paramref name="b"/> from <paramref name="a"/>.</summary>
    public static uint Sub(uint a, uint b) => Add(a, ~b);

    /// <summary>
    /// <c>csum_block_add</c>: adds the sum of a block that starts <paramref name="offset"/> bytes into the
    /// checksummed range. A block at an odd offset had its bytes summed in the wrong halves of each word;
    /// rotating its sum by eight bits puts them right.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint BlockAdd(uint sum, uint blockSum, int offset) =>
        Add(sum, (offset & 1) != 0 ? BitOperations.RotateRight(blockSum, 8) : blockSum);

    /// <summary><c>csum_block_sub</c>.</summary>
    public static uint BlockSub(uint sum, uint blockSum, int offset) =>
        Sub(sum, (offset & 1) != 0 ? BitOperations.RotateRight(blockSum, 8) : blockSum);

    /// <summary><c>csum_fold</c>: folds a partial sum to 16 bits and complements it (the header field value).</summary>
    public static ushort Fold(uint sum) => (ushort)~Fold64(sum);

    /// <summary><c>ip_compute_csum</c>: the checksum of <paramref name="data"/>, ready to store.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Fold(Partial(data));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Fold64(ulong acc)
    {
        while ((acc >> 32) != 0) acc = (acc & 0xFFFFFFFF) + (acc >> 32);
        uint s = (uint)acc;
        s = (s & 0xFFFF) + (s >> 16);
        s = (s & 0xFFFF) + (s >> 16);
        return s;
    }
}
