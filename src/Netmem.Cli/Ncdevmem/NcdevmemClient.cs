using Netmem.Sockets;

namespace Netmem.Cli.Ncdevmem;

/// <summary>
/// The sending end: what <c>yes $(echo -e \\x01\\x02...) | head -c N | nc</c> feeds ncdevmem, written
/// straight from the pattern table (no copy per send), then a FIN.
/// </summary>
internal static class NcdevmemClient
{
    private const int WriteSize = 256 * 1024;

    /// <summary>Sends the first <paramref name="bytes"/> of <paramref name="pattern"/>'s stream (or less, once <paramref name="stop"/> says so) and shuts the sending side.</summary>
    public static async Task<long> SendAsync(TcpSocket socket, NcdevmemPattern pattern, long bytes, CancellationToken ct, Func<bool>? stop = null)
    {
        long sent = 0;
        while (sent < bytes && (stop is null || !stop()))
        {
            int n = (int)Math.Min(WriteSize, bytes - sent);
            sent += await socket.SendAsync(pattern.Slice(sent, n), ct).ConfigureAwait(false);
        }
        socket.ShutdownSend();
        return sent;
    }
}
