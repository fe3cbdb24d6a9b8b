using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace Netmem.Wire;

/// <summary>
/// An IPv4 address as a uint in host order (first wire octet in bits 24..31), so comparisons and prefix
/// masks are plain integer operations; <see cref="Read"/> and <see cref="Write"/> convert at the wire.
/// </summary>
public readonly struct Ipv4Address : IEquatable<Ipv4Address>, IComparable<Ipv4Address>, ISpanFormattable
{
    public const int Length = 4;
    private readonly uint _value;

    public Ipv4Address(uint value) => _value = value;

    public Ipv4Address(byte a, byte b, byte c, byte d) => _value = ((uint)a << 24) | ((uint)b << 16) | ((uint)c << 8) | d;

    /// <summary>0.0.0.0 (INADDR_ANY).</summary>
    public static Ipv4Address Unspecified => default;
    /// <summary>255.255.255.255, the limited broadcast address.</summary>
    public static Ipv4Address Broadcast => new(0xFFFF_FFFFu);
    /// <summary>127.0.0.1.</summary>
    public static Ipv4Address Loopback => new(0x7F00_0001u);

    /// <summary>Reads four bytes in wire (network) order.</summary>
    public static Ipv4Address Read(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Length) throw new ArgumentException($"an IPv4 address needs {Length} bytes, got {bytes.Length}", nameof(bytes));
        return new(BinaryPrimitives.ReadUInt32BigEndian(bytes));
    }

    /// <summary>Writes four bytes in wire (network) order.</summary>
    public void Write(Span<byte> bytes)
    {
        if (bytes.Length < Length) throw new ArgumentException($"an IPv4 address needs {Length} bytes, got {bytes.Length}", nameof(bytes));
        BinaryPrimitives.WriteUInt32BigEndian(bytes, _value);
    }

    /// <summary>The address as a host-order uint.</summary>
    public uint ToUInt32() => _value;

    public bool IsUnspecified => _value == 0;
    public bool IsBroadcast => _value == 0xFFFF_FFFFu;
    /// <summary>224.0.0.0/4 (class D).</summary>
    public bool IsMulticast => (_value & 0xF000_0000u) == 0xE000_0000u;
    /// <summary>127.0.0.0/8.</summary>
    public bool IsLoopback => (_value >> 24) == 127;
    /// <summary>169.254.0.0/16 (RFC 3927).</summary>
    public bool IsLinkLocal => (_value >> 16) == 0xA9FE;
    /// <summary>Neither unspecified, broadcast nor multicast: an address a host can be.</summary>
    public bool IsUnicast => !IsUnspecified && !IsBroadcast && !IsMulticast;

    /// <summary>Parses dotted-quad text ("192.0.2.1"); throws <see cref="FormatException"/> otherwise.</summary>
    public static Ipv4Address Parse(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return TryParse(s, out var a) ? a : throw new FormatException($"'{s}' is not an IPv4 address (four decimal octets)");
    }

    /// <summary>
    /// Strict dotted quad: exactly four decimal octets 0..255, no leading zeros (which inet_aton would
    /// read as octal), no whitespace. Allocates nothing.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> s, out Ipv4Address address)
    {
        address = default;
        uint value = 0;
        int octets = 0, i = 0;
        while (octets < 4)
        {
            int start = i, octet = 0;
            while (i < s.Length && i - start < 3 && char.IsAsciiDigit(s[i])) octet = octet * 10 + (s[i++] - '0');
            int digits = i - start;
            if (digits == 0 || octet > 255 || (digits > 1 && s[start] == '0')) return false;
            value = (value << 8) | (uint)octet;
            if (++octets < 4)
            {
                if (i >= s.Length || s[i] != '.') return false;
                i++;
            }
        }
        if (i != s.Length) return false;
        address = new(value);
        return true;
    }

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format = default, IFormatProvider? provider = null)
    {
        charsWritten = 0;
        for (int shift = 24; shift >= 0; shift -= 8)
        {
            if (shift != 24)
            {
                if (charsWritten >= destination.Length) return false;
                destination[charsWritten++] = '.';
            }
            if (!((byte)(_value >> shift)).TryFormat(destination[charsWritten..], out int n, default, System.Globalization.CultureInfo.InvariantCulture)) return false;
            charsWritten += n;
        }
        return true;
    }

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public override string ToString()
    {
        Span<char> buf = stackalloc char[15];
        TryFormat(buf, out int n);
        return new string(buf[..n]);
    }

    public bool Equals(Ipv4Address other) => _value == other._value;
    public override bool Equals([NotNullWhen(true)] object? obj) => obj is Ipv4Address a && Equals(a);
    public override int GetHashCode() => _value.GetHashCode();
    public int CompareTo(Ipv4Address other) => _value.CompareTo(other._value);
    public static bool operator ==(Ipv4Address a, Ipv4Address b) => a._value == b._value;
    public static bool operator !=(Ipv4Address a, Ipv4Address b) => a._value != b._value;
    public static bool operator <(Ipv4Address a, Ipv4Address b) => a._value < b._value;
    public static bool operator >(Ipv4Address a, Ipv4Address b) => a._value > b._value;
    public static bool operator <=(Ipv4Address a, Ipv4Address b) => a._value <= b._value;
    public static bool operator >=(Ipv4Address a, Ipv4Address b) => a._value >= b._value;
}
