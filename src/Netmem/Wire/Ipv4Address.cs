using System.Buffers.Binary;

namespace Netmem.Wire;

/// <summary>An IPv4 address, held in host order.</summary>
public readonly struct Ipv4Address : IEquatable<Ipv4Address>
{
    public const int Length = 4;

    public Ipv4Address(uint value) => Value = value;
    public Ipv4Address(byte a, byte b, byte c, byte d) => Value = (uint)(a << 24 | b << 16 | c << 8 | d);

    /// <summary>The address in host order (10.0.0.1 is 0x0A000001).</summary>
    public uint Value { get; }

    public static Ipv4Address Any => default;
    public static Ipv4Address Broadcast => new(0xFFFF_FFFF);

    public static Ipv4Address Read(ReadOnlySpan<byte> b) => new(BinaryPrimitives.ReadUInt32BigEndian(b));
    public void Write(Span<byte> b) => BinaryPrimitives.WriteUInt32BigEndian(b, Value);

    public static Ipv4Address Parse(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (!TryParse(s, out var a)) throw new FormatException($"'{s}' is not a dotted-quad IPv4 address");
        return a;
    }

    public static bool TryParse(string s, out Ipv4Address address)
    {
        address = default;
        var parts = s.Split('.');
        if (parts.Length != 4) return false;
        uint v = 0;
        foreach (var p in parts)
        {
            if (p.Length is 0 or > 3 || !byte.TryParse(p, out byte b)) return false;
            v = v << 8 | b;
        }
        address = new(v);
        return true;
    }

    public bool IsUnspecified => Value == 0;
    public bool IsBroadcast => Value == 0xFFFF_FFFF;
    public bool IsMulticast => (Value >> 28) == 0xE;
    public bool IsLoopback => (Value >> 24) == 127;
    public bool IsUnicast => !IsUnspecified && !IsBroadcast && !IsMulticast;

    public bool Equals(Ipv4Address other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Ipv4Address a && Equals(a);
    public override int GetHashCode() => (int)Value;
    public static bool operator ==(Ipv4Address a, Ipv4Address b) => a.Value == b.Value;
    public static bool operator !=(Ipv4Address a, Ipv4Address b) => a.Value != b.Value;
    public override string ToString() => $"{Value >> 24}.{(Value >> 16) & 0xFF}.{(Value >> 8) & 0xFF}.{Value & 0xFF}";
}

/// <summary>An IPv4 prefix: address and prefix length (10.0.0.1/24).</summary>
public readonly record struct Ipv4Cidr
{
    public Ipv4Cidr(Ipv4Address address, int prefixLength)
    {
        if ((uint)prefixLength > 32) throw new ArgumentOutOfRangeException(nameof(prefixLength), $"prefix length {prefixLength} is outside 0..32");
        Address = address;
        PrefixLength = prefixLength;
    }

    public Ipv4Address Address { get; }
    public int PrefixLength { get; }
    public uint Mask => PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);
    public Ipv4Address Network => new(Address.Value & Mask);
    public Ipv4Address BroadcastAddress => new(Address.Value | ~Mask);
    public bool Contains(Ipv4Address a) => (a.Value & Mask) == (Address.Value & Mask);

    public static Ipv4Cidr Parse(string s)
    {
        var i = s.IndexOf('/');
        if (i < 0 || !int.TryParse(s.AsSpan(i + 1), out int len)) throw new FormatException($"'{s}' is not address/prefix");
        return new(Ipv4Address.Parse(s[..i]), len);
    }

    public override string ToString() => $"{Address}/{PrefixLength}";
}
