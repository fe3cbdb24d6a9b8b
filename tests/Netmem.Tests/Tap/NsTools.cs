namespace Netmem.Tests.Tap;

/// <summary>Command lines the tests run inside the namespace.</summary>
internal static class NsTools
{
    /// <summary>
    /// A ping that exits 0 only when every reply came back, checks each reply's payload byte for byte
    /// and its ICMP checksum (a raw ICMP socket; used when iputils ping is not installed).
    /// </summary>
    private const string PyPing = """
import socket, struct, sys, time, os
dst, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(2)
ident, ok = os.getpid() & 0xffff, 0
for seq in range(1, n + 1):
    payload = bytes((i * 7 + seq) & 0xff for i in range(size))
    c = csum(struct.pack('!BBHHH', 8, 0, 0, ident, seq) + payload)
    s.sendto(struct.pack('!BBHHH', 8, 0, c, ident, seq) + payload, (dst, 0))
    t = time.time()
    while time.time() - t < 2:
        try: data, _ = s.recvfrom(70000)
        except socket.timeout: break
        icmp = data[(data[0] & 15) * 4:]
        if icmp[0] == 0 and struct.unpack('!HH', icmp[4:8]) == (ident, seq):
            if icmp[8:] != payload: print('corrupt reply', seq); sys.exit(2)
            if csum(icmp) != 0: print('bad checksum', seq); sys.exit(3)
            ok += 1
            print('%d bytes from %s: icmp_seq=%d' % (len(icmp), dst, seq))
            break
    time.sleep(0.2)
print('%d packets transmitted, %d received' % (n, ok))
sys.exit(0 if ok == n else 1)
""";

    private static readonly Lazy<string?> s_ping = new(() =>
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
            if (dir.Length > 0 && File.Exists(Path.Combine(dir, "ping"))) return Path.Combine(dir, "ping");
        return null;
    });

    /// <summary><c>ping -c COUNT -s SIZE -W 2 DST</c>, or the Python equivalent when ping is missing. Output says "N received".</summary>
    public static string[] Ping(string dst, int count = 3, int size = 56) =>
        s_ping.Value is { } ping
            ? [ping, "-c", count.ToString(), "-i", "0.2", "-W", "2", "-s", size.ToString(), dst]
            : ["python3", "-c", PyPing, dst, count.ToString(), size.ToString()];
}
