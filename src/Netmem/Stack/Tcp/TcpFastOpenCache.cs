using Netmem.Wire;

namespace Netmem.Stack.Tcp;

/// <summary>
/// The client's TCP Fast Open cookies by server address (RFC 7413 4.1.2; Linux keeps them in tcp_metrics,
/// <c>tcp_fastopen_cache_get</c>/<c>_set</c>): a SYN-ACK answering our cookie request leaves its cookie here,
/// and TCP_FASTOPEN_CONNECT defers a connect to the first write only when one is known. Shared by the layer's
/// contexts, so locked; touched on connection setup only.
/// </summary>
public sealed class TcpFastOpenCache
{
    private readonly object _lock = new();
    private readonly Dictionary<Ipv4Address, byte[]> _cookies = new();

    /// <summary>Whether a cookie is known for <paramref name="server"/>.</summary>
    public bool Has(Ipv4Address server)
    {
        lock (_lock) return _cookies.ContainsKey(server);
    }

    /// <summary>Copies the cookie for <paramref name="server"/> into <paramref name="into"/> (16 bytes fit any); returns its length, 0 when none.</summary>
    public int Get(Ipv4Address server, Span<byte> into)
    {
        lock (_lock)
        {
            if (!_cookies.TryGetValue(server, out var c)) return 0;
            c.CopyTo(into);
            return c.Length;
        }
    }

    /// <summary>Remembers <paramref name="cookie"/> (4 to 16 bytes) for <paramref name="server"/>.</summary>
    public void Set(Ipv4Address server, ReadOnlySpan<byte> cookie)
    {
        if (cookie.Length < 4 || cookie.Length > TcpOptions.MaxFastOpenCookie)
            throw new ArgumentException($"a Fast Open cookie is 4 to {TcpOptions.MaxFastOpenCookie} bytes; got {cookie.Length}", nameof(cookie));
        lock (_lock) _cookies[server] = cookie.ToArray();
    }

    /// <summary>Forgets every cookie (<c>ip tcp_metrics flush</c>).</summary>
    public void Clear()
    {
        lock (_lock) _cookies.Clear();
    }
}
