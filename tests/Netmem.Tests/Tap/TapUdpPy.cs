using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Netmem.Tests.Tap;

/// <summary>
/// The datagram pattern both sides check (a 4-byte big-endian sequence number, then a counter pattern
/// seeded by it) and the Python senders and receivers that speak it inside the namespace.
/// </summary>
internal static class TapUdpPy
{
    /// <summary>The Python twin of <see cref="Pattern"/>.</summary>
    private const string PyPattern = """
import socket, struct, sys, time, hashlib
def pattern(seq, n):
    p = bytearray(((j * 13 + seq * 7 + 1) & 0xff) for j in range(n))
    p[0:4] = struct.pack('!I', seq)  # sizes are at least 4
    return bytes(p)

""";

    /// <summary>argv: dst port sizes(comma list) [srcports(comma list)]. Sends each size in turn (seq = index), cycling source ports.</summary>
    public const string Send = PyPattern + """
dst, port = sys.argv[1], int(sys.argv[2])
sizes = [int(x) for x in sys.argv[3].split(',')]
sports = [int(x) for x in sys.argv[4].split(',')] if len(sys.argv) > 4 else [0]
socks = []
for sp in sports:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', sp))
    socks.append(s)
for i, n in enumerate(sizes):
    socks[i % len(socks)].sendto(pattern(i, n), (dst, port))
    if i % 16 == 15: time.sleep(0.001)  # pace: the tap queue is 500 frames deep
print('sent %d' % len(sizes))
""";

    /// <summary>argv: bindaddr port count. Receives until count datagrams came (3 s idle timeout), checks each, prints "ok N sha256".</summary>
    public const string Recv = PyPattern + """
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE (we are root)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(3)
want, h, got, bad = int(sys.argv[3]), hashlib.sha256(), {}, 0
print('ready', flush=True)
try:
    while len(got) < want:
        d, a = s.recvfrom(70000)
        seq = struct.unpack('!I', d[:4])[0] if len(d) >= 4 else 0
        if d != pattern(seq, len(d)): bad += 1; continue
        got[seq] = d
except socket.timeout:
    pass
for k in sorted(got): h.update(got[k])
print('ok %d bad %d %s' % (len(got), bad, h.hexdigest()), flush=True)
sys.exit(0 if len(got) == want and bad == 0 else 1)
""";

    public static byte[] Pattern(int seq, int n)
    {
        var p = new byte[n];
        for (int j = 0; j < n; j++) p[j] = (byte)(j * 13 + seq * 7 + 1);
        BinaryPrimitives.WriteUInt32BigEndian(p, (uint)seq); // sizes are at least 4
        return p;
    }

    /// <summary>The sequence number a pattern datagram carries, and whether its bytes are exactly the pattern.</summary>
    public static bool Check(ReadOnlySpan<byte> d, out int seq)
    {
        seq = d.Length >= 4 ? (int)BinaryPrimitives.ReadUInt32BigEndian(d) : -1;
        if (seq < 0) return false;
        return d.SequenceEqual(Pattern(seq, d.Length));
    }

    /// <summary>SHA-256 over the datagrams in sequence order, as <see cref="Recv"/> prints it.</summary>
    public static string Sha256(IEnumerable<int> sizes)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        int i = 0;
        foreach (int n in sizes) h.AppendData(Pattern(i++, n));
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    /// <summary>Sizes from 1 to <paramref name="max"/> bytes, spread over the range, deterministic.</summary>
    public static int[] Sizes(int count, int max, int seed)
    {
        var r = new Random(seed);
        var s = new int[count];
        for (int i = 0; i < count; i++) s[i] = i % 10 == 0 ? max : 4 + r.Next(max - 3);
        return s;
    }
}
