using System.Buffers.Binary;

namespace Netmem.Wire;

/// <summary>A 48-bit Ethernet (MAC) address, stored in the low 48 bits of a ulong in wire order.</summary>
public readonly struct EthernetAddress : IEquatable<EthernetAddress>
{
    public const int Length = 6;
    private readonly ulong _value;

    private EthernetAddress(ulong value) => _value = value & 0xFFFF_FFFF_FFFFul;

    public static EthernetAddress Broadcast => new(0xFFFF_FFFF_FFFFul);

    /// <summary>Reads six bytes in wire order.</summary>
    public static EthernetAddress Read(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Length) throw new ArgumentException($"an Ethernet address needs {Length} bytes, got {bytes.Length}", nameof(bytes));
        return new(((ulong)BinaryPrimitives.ReadUInt16BigEndian(bytes) << 32) | BinaryPrimitives.ReadUInt32BigEndian(bytes[2..]));
    }

    /// <summary>From the 48-bit value (first wire byte in bits 40..47).</summary>
    public static EthernetAddress FromUInt64(ulong value) => new(value);

    /// <summary>A locally administered unicast address (02:xx:...) from a number, for simulated NICs.</summary>
    public static EthernetAddress LocalUnicast(uint n) => new(0x0200_0000_0000ul | n);

    /// <summary>Parses "aa:bb:cc:dd:ee:ff" (or with '-').</summary>
    public static EthernetAddress Parse(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var parts = s.Split(':', '-');
        if (parts.Length != 6) throw new FormatException($"'{s}' is not an Ethernet address (six hex octets)");
        ulong v = 0;
        foreach (var p in parts) v = (v << 8) | Convert.ToByte(p, 16);
        return new(v);
    }

    public ulong ToUInt64() => _value;

    public void Write(Span<byte> bytes)
    {
        if (bytes.Length < Length) throw new ArgumentException($"an Ethernet address needs {Length} bytes, got {bytes.Length}", nameof(bytes));
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)(_value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(bytes[2..], (uint)_value);
    }

    public bool IsBroadcast => _value == 0xFFFF_FFFF_FFFFul;
    /// <summary>Group bit (I/G) of the first octet: multicast or broadcast.</summary>
    public bool IsMulticast => (_value & 0x0100_0000_0000ul) != 0;
    public bool IsUnicast => !IsMulticast;
    public bool IsZero => _value == 0;

    public bool Equals(EthernetAddress other) => _value == other._value;
    public override bool Equals(object? obj) => obj is EthernetAddress a && Equals(a);
    public override int GetHashCode() => _value.GetHashCode();
    public static bool operator ==(EthernetAddress a, EthernetAddress b) => a._value == b._value;
    public static bool operator !=(EthernetAddress a, EthernetAddress b) => a._value != b._value;

    public override string ToString() =>
        $"{(byte)(_value >> 40):x2}:{(byte)(_value >> 32):x2}:{(byte)(_value >> 24):x2}:{(byte)(_value >> 16):x2}:{(byte)(_value >> 8):x2}:{(byte)_value:x2}";
}
