using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Netmem.Stack.Tcp;

/// <summary>
/// RFC 6528 initial sequence numbers: ISN = M + F(4-tuple, secret), M a 4 µs clock, F a keyed hash
/// (the kernel uses siphash; HMAC-SHA256 keyed by a random 256-bit secret serves the same purpose here:
/// unpredictable to an off-path attacker who does not know the secret; it runs once per connection). The same hash, with a
/// different key, gives each connection its timestamp offset (tcp_ts_off, RFC 7323 7.1).
/// </summary>
public sealed class TcpIsn
{
    private readonly byte[] _secret = new byte[32];

    /// <summary>A random secret, or a fixed one from <paramref name="seed"/> for reproducible tests.</summary>
    public TcpIsn(long? seed = null)
    {
        if (seed is long s) new Random((int)s ^ (int)(s >> 32)).NextBytes(_secret);
        else RandomNumberGenerator.Fill(_secret);
    }

    public uint Isn(in TcpFourTuple t, long nowUs) => (uint)Hash(t, 0) + (uint)(nowUs >> 2);

    public uint TimestampOffset(in TcpFourTuple t) => (uint)Hash(t, 1);

    /// <summary>An unpredictable per-destination start for the ephemeral port search (like __inet_hash_connect's offset).</summary>
    internal uint PortOffset(in TcpFourTuple t) => (uint)(Hash(t with { LocalPort = 0 }, 2) >> 16);

    private ulong Hash(in TcpFourTuple t, byte purpose)
    {
        Span<byte> b = stackalloc byte[13];
        b[12] = purpose;
        BinaryPrimitives.WriteUInt32BigEndian(b, t.LocalAddress.ToUInt32());
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], t.RemoteAddress.ToUInt32());
        BinaryPrimitives.WriteUInt16BigEndian(b[8..], t.LocalPort);
        BinaryPrimitives.WriteUInt16BigEndian(b[10..], t.RemotePort);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_secret, b, mac);
        return BinaryPrimitives.ReadUInt64LittleEndian(mac);
    }
}
