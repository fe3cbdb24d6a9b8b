using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using Netmem.Wire;

namespace Netmem.Stack.Tcp;

/// <summary>
/// A server's Fast Open key (net.ipv4.tcp_fastopen_key, TCP_FASTOPEN_KEY): a primary 128-bit SipHash key that
/// makes cookies and an optional backup that is still accepted (key rotation). A cookie is 8 bytes: the
/// SipHash-2-4 of the SYN's source and destination addresses (as they sit in the IP header), written
/// little-endian, as Linux's <c>__tcp_fastopen_cookie_gen_cipher</c> makes them, so a peer holding a cookie
/// from a kernel with the same key is recognised.
/// </summary>
public sealed class TcpFastOpenKey : IEquatable<TcpFastOpenKey>
{
    /// <summary>TCP_FASTOPEN_COOKIE_SIZE.</summary>
    public const int CookieSize = 8;
    /// <summary>One key's bytes (TCP_FASTOPEN_KEY_LENGTH).</summary>
    public const int KeyLength = 16;

    private readonly ulong _k0, _k1, _b0, _b1;

    private TcpFastOpenKey(ulong k0, ulong k1, bool hasBackup, ulong b0, ulong b1)
    {
        _k0 = k0; _k1 = k1; HasBackup = hasBackup; _b0 = b0; _b1 = b1;
    }

    public bool HasBackup { get; }

    /// <summary>
    /// The key from its bytes as TCP_FASTOPEN_KEY takes them: 16 (primary) or 32 (primary then backup), each
    /// half a little-endian 64-bit SipHash key word. ArgumentException for another length.
    /// </summary>
    public static TcpFastOpenKey FromBytes(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeyLength && key.Length != 2 * KeyLength)
            throw new ArgumentException($"a Fast Open key is {KeyLength} or {2 * KeyLength} bytes; got {key.Length}", nameof(key));
        ulong k0 = BinaryPrimitives.ReadUInt64LittleEndian(key), k1 = BinaryPrimitives.ReadUInt64LittleEndian(key[8..]);
        if (key.Length == KeyLength) return new TcpFastOpenKey(k0, k1, false, 0, 0);
        return new TcpFastOpenKey(k0, k1, true, BinaryPrimitives.ReadUInt64LittleEndian(key[16..]), BinaryPrimitives.ReadUInt64LittleEndian(key[24..]));
    }

    /// <summary>A random key (what a network namespace gets on first use when none was configured).</summary>
    public static TcpFastOpenKey Random()
    {
        Span<byte> b = stackalloc byte[KeyLength];
        RandomNumberGenerator.Fill(b);
        return FromBytes(b);
    }

    /// <summary>
    /// The sysctl's text: four 32-bit hex words joined by '-' (each stored little-endian), optionally ",backup" in the
    /// same form. False for anything else; an all-zero primary (what an unconfigured namespace reads back) is "none".
    /// </summary>
    public static bool TryParse(string text, out TcpFastOpenKey? key)
    {
        key = null;
        var parts = text.Trim().Split(',');
        if (parts.Length is 0 or > 2) return false;
        Span<byte> bytes = stackalloc byte[2 * KeyLength];
        for (int p = 0; p < parts.Length; p++)
        {
            var words = parts[p].Split('-');
            if (words.Length != 4) return false;
            for (int w = 0; w < 4; w++)
            {
                if (!uint.TryParse(words[w], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint v)) return false;
                BinaryPrimitives.WriteUInt32LittleEndian(bytes[(p * KeyLength + 4 * w)..], v);
            }
        }
        var k = FromBytes(bytes[..(parts.Length * KeyLength)]);
        if (k._k0 == 0 && k._k1 == 0) return false;
        key = k;
        return true;
    }

    /// <summary>The cookie (8 bytes into <paramref name="into"/>) for a SYN from <paramref name="source"/> to <paramref name="destination"/>.</summary>
    public void Cookie(Ipv4Address source, Ipv4Address destination, Span<byte> into) => Cookie(_k0, _k1, source, destination, into);

    /// <summary>
    /// <c>tcp_fastopen_cookie_gen_check</c>: 1 when <paramref name="cookie"/> is the primary key's for the addresses,
    /// 2 when it is the backup's (the SYN-ACK then hands out the primary's), 0 when neither.
    /// </summary>
    public int Check(Ipv4Address source, Ipv4Address destination, ReadOnlySpan<byte> cookie)
    {
        if (cookie.Length != CookieSize) return 0;
        Span<byte> valid = stackalloc byte[CookieSize];
        Cookie(_k0, _k1, source, destination, valid);
        if (cookie.SequenceEqual(valid)) return 1;
        if (!HasBackup) return 0;
        Cookie(_b0, _b1, source, destination, valid);
        return cookie.SequenceEqual(valid) ? 2 : 0;
    }

    private static void Cookie(ulong k0, ulong k1, Ipv4Address source, Ipv4Address destination, Span<byte> into)
    {
        Span<byte> addrs = stackalloc byte[8];
        source.Write(addrs);
        destination.Write(addrs[4..]);
        BinaryPrimitives.WriteUInt64LittleEndian(into, SipHash.Hash24(k0, k1, addrs));
    }

    /// <summary>The key's bytes as TCP_FASTOPEN_KEY gives them (16, or 32 with a backup); returns the count written.</summary>
    public int CopyTo(Span<byte> into)
    {
        int n = HasBackup ? 2 * KeyLength : KeyLength;
        if (into.Length < n) throw new ArgumentException($"the key takes {n} bytes; got room for {into.Length}", nameof(into));
        BinaryPrimitives.WriteUInt64LittleEndian(into, _k0);
        BinaryPrimitives.WriteUInt64LittleEndian(into[8..], _k1);
        if (HasBackup)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(into[16..], _b0);
            BinaryPrimitives.WriteUInt64LittleEndian(into[24..], _b1);
        }
        return n;
    }

    public bool Equals(TcpFastOpenKey? other) => other is not null && _k0 == other._k0 && _k1 == other._k1 && HasBackup == other.HasBackup && _b0 == other._b0 && _b1 == other._b1;
    public override bool Equals(object? obj) => Equals(obj as TcpFastOpenKey);
    public override int GetHashCode() => HashCode.Combine(_k0, _k1, _b0, _b1);

    /// <summary>The sysctl's form ("%08x-%08x-%08x-%08x", then ",backup" when there is one).</summary>
    public override string ToString()
    {
        static string One(ulong a, ulong b) => string.Create(CultureInfo.InvariantCulture, $"{(uint)a:x8}-{(uint)(a >> 32):x8}-{(uint)b:x8}-{(uint)(b >> 32):x8}");
        return HasBackup ? One(_k0, _k1) + "," + One(_b0, _b1) : One(_k0, _k1);
    }
}
