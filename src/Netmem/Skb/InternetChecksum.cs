using System.Buffers.Binary;

namespace Netmem.Skb;

/// <summary>The Internet ones-complement checksum (RFC 1071) over pieces of a packet.</summary>
public static class InternetChecksum
{
    /// <summary>
    /// Adds <paramref name="data"/> to a running sum. <paramref name="odd"/> carries whether the bytes
    /// before this piece had odd length, so a piece may start in the middle of a 16-bit word.
    /// </summary>
    public static ulong Add(ReadOnlySpan<byte> data, ref bool odd)
    {
        ulong sum = 0;
        int i = 0;
        if (odd && data.Length > 0)
        {
            sum += data[0];          // low byte of the word begun in the previous piece
            i = 1;
            odd = false;
        }
        for (; i + 8 <= data.Length; i += 8)
        {
            ulong w = BinaryPrimitives.ReadUInt64BigEndian(data[i..]);
            sum += (w >> 48) + ((w >> 32) & 0xFFFF) + ((w >> 16) & 0xFFFF) + (w & 0xFFFF);
        }
        for (; i + 2 <= data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        if (i < data.Length)
        {
            sum += (ulong)data[i] << 8; // high byte of a word the next piece completes
            odd = true;
        }
        return sum;
    }

    /// <summary>Folds a 64-bit running sum to 32 bits without losing carries (csum_partial style).</summary>
    public static uint Fold32(ulong sum)
    {
        sum = (sum & 0xFFFFFFFF) + (sum >> 32);
        sum = (sum & 0xFFFFFFFF) + (sum >> 32);
        return (uint)sum;
    }

    /// <summary><c>csum_fold</c>: the final 16-bit checksum field value (complemented).</summary>
    public static ushort Fold(uint sum)
    {
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }
}
