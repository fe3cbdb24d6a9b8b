namespace Netmem.Devices;

/// <summary>
/// The Toeplitz hash RSS hardware computes over (src addr, dst addr, src port, dst port), as specified by
/// Microsoft's RSS documentation (and verified against its published test vectors in the tests).
/// </summary>
public static class Toeplitz
{
    /// <summary>Key length ethtool reports for RSS (40 bytes).</summary>
    public const int KeyLength = 40;

    /// <summary>The well-known default key from the RSS specification.</summary>
    public static ReadOnlySpan<byte> DefaultKey =>
    [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
        0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
        0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    /// <summary>Hashes <paramref name="input"/> (at most key length - 4 bytes) with <paramref name="key"/>.</summary>
    public static uint Hash(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input)
    {
        if (key.Length < input.Length + 4) throw new ArgumentException($"a {key.Length}-byte Toeplitz key covers at most {key.Length - 4} input bytes, got {input.Length}", nameof(input));
        uint result = 0;
        // The 32-bit window of the key that lines up with the current input bit.
        uint window = (uint)(key[0] << 24 | key[1] << 16 | key[2] << 8 | key[3]);
        for (int i = 0; i < input.Length; i++)
        {
            byte b = input[i];
            byte next = key[i + 4];
            for (int bit = 7; bit >= 0; bit--)
            {
                if ((b & (1 << bit)) != 0) result ^= window;
                window = (window << 1) | (uint)((next >> bit) & 1);
            }
        }
        return result;
    }

    /// <summary>The 4-tuple hash (ports 0 and <paramref name="withPorts"/> false for a 2-tuple), inputs in host order.</summary>
    public static uint HashIpv4(ReadOnlySpan<byte> key, uint src, uint dst, ushort srcPort, ushort dstPort, bool withPorts)
    {
        Span<byte> input = stackalloc byte[12];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(input, src);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(input[4..], dst);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(input[8..], srcPort);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(input[10..], dstPort);
        return Hash(key, withPorts ? input : input[..8]);
    }
}
