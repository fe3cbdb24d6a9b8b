namespace Netmem.Wire;

/// <summary>
/// An IPv4 address with a prefix length ("192.0.2.1/24"): an interface address together with the
/// on-link network it implies. The address keeps its host bits; <see cref="Network"/> clears them.
/// </summary>
public readonly record struct Ipv4Cidr
{
    public Ipv4Cidr(Ipv4Address address, int prefixLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(prefixLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, 32);
        Address = address;
        PrefixLength = prefixLength;
    }

    public Ipv4Address Address { get; }
    public int PrefixLength { get; }

    /// <summary>The mask as a host-order uint (/0 is 0, /32 is all ones).</summary>
    public uint MaskBits => PrefixLength == 0 ? 0u : uint.MaxValue << (32 - PrefixLength);

    /// <summary>The netmask as an address (255.255.255.0 for /24).</summary>
    public Ipv4Address Netmask => new(MaskBits);

    /// <summary>The network: the address with its host bits cleared, same prefix.</summary>
    public Ipv4Cidr Network => new(new Ipv4Address(Address.ToUInt32() & MaskBits), PrefixLength);

    /// <summary>
    /// The directed broadcast address (all host bits set), or null for /31 and /32, which have no
    /// broadcast (RFC 3021 point-to-point links and host routes).
    /// </summary>
    public Ipv4Address? Broadcast => PrefixLength >= 31 ? null : new Ipv4Address(Address.ToUInt32() | ~MaskBits);

    /// <summary>Whether <paramref name="address"/> is inside this prefix.</summary>
    public bool Contains(Ipv4Address address) => ((address.ToUInt32() ^ Address.ToUInt32()) & MaskBits) == 0;

    /// <summary>Whether every address of <paramref name="other"/> is inside this prefix.</summary>
    public bool Contains(Ipv4Cidr other) => other.PrefixLength >= PrefixLength && Contains(other.Address);

    /// <summary>Parses "a.b.c.d/n".</summary>
    public static Ipv4Cidr Parse(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return TryParse(s, out var c) ? c : throw new FormatException($"'{s}' is not an IPv4 CIDR (a.b.c.d/0..32)");
    }

    public static bool TryParse(ReadOnlySpan<char> s, out Ipv4Cidr cidr)
    {
        cidr = default;
        int slash = s.IndexOf('/');
        if (slash < 0 || !Ipv4Address.TryParse(s[..slash], out var address)) return false;
        var len = s[(slash + 1)..];
        if (len.Length is 0 or > 2 || (len.Length == 2 && len[0] == '0')) return false;
        int n = 0;
        foreach (char ch in len)
        {
            if (!char.IsAsciiDigit(ch)) return false;
            n = n * 10 + (ch - '0');
        }
        if (n > 32) return false;
        cidr = new(address, n);
        return true;
    }

    public override string ToString() => $"{Address}/{PrefixLength}";
}
