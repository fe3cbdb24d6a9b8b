using System.Security.Cryptography;
using Netmem.Sockets;
using Netmem.Stack;

namespace Netmem.Cli.Apps;

/// <summary>
/// RFC 863 discard: reads everything and throws it away, but keeps the SHA-256 of each finished
/// connection's bytes (so a test can check what arrived without the server keeping it). Reads use
/// zero-copy leases: the received skbs are hashed in place. With <paramref name="hash"/> false (a goodput
/// measurement) the leases are only counted and released: no byte is touched.
/// </summary>
public sealed class DiscardServer(NetStack stack, ushort port = 9, bool hash = true) : TcpServer(stack, port)
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<(long Bytes, string Sha256)> _done = new();

    /// <summary>Finished connections: bytes read and their SHA-256 (lower-case hex), in the order they ended.</summary>
    public IReadOnlyList<(long Bytes, string Sha256)> Finished => [.. _done];

    protected override async Task ServeAsync(TcpSocket socket, CancellationToken ct)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        while (true)
        {
            using var lease = await socket.ReceiveLeaseAsync(ct: ct);
            if (lease.Length == 0) break;
            if (hash)
                foreach (var seg in lease.GetSequence())
                    h.AppendData(seg.Span);
            total += lease.Length;
            CountIn(lease.Length);
        }
        _done.Enqueue((total, hash ? Convert.ToHexStringLower(h.GetHashAndReset()) : ""));
    }
}
