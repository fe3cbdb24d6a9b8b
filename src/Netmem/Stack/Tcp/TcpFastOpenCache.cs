using Netmem.Wire;

namespace Netmem.Stack.Tcp;

/// <summary>
/// The client's TCP Fast Open cookies by server address (RFC 7413 4.1.2; Linux keeps them in tcp_metrics,
/// <c>tcp_fastopen_cache_get</c>/<c>_set</c>): a SYN-ACK answering a Fast Open SYN leaves its cookie here with
/// the MSS the server announced, so the next SYN can carry data sized for it; TCP_FASTOPEN_CONNECT defers a
/// connect to the first write only when a cookie is known. Shared by the layer's contexts, so locked; touched on
/// connection setup only.
/// </summary>
public sealed class TcpFastOpenCache
{
    private readonly object _lock = new();
    private readonly Dictionary<Ipv4Address, Entry> _entries = new();

    private sealed class Entry
    {
        public byte[] Cookie = [];
        public int Mss;
    }

    /// <summary>Whether a cookie is known for <paramref name="server"/>.</summary>
    public bool Has(Ipv4Address server)
    {
        lock (_lock) return _entries.TryGetValue(server, out var e) && e.Cookie.Length > 0;
    }

    /// <summary>Copies the cookie for <paramref name="server"/> into <paramref name="into"/> (16 bytes fit any); returns its length, 0 when none.</summary>
    public int Get(Ipv4Address server, Span<byte> into) => Get(server, into, out _);

    /// <summary>
    /// The cookie as <see cref="Get(Ipv4Address, Span{byte})"/>, and the MSS the server last announced to a Fast Open
    /// SYN (0 when none is remembered).
    /// </summary>
    public int Get(Ipv4Address server, Span<byte> into, out int mss)
    {
        lock (_lock)
        {
            mss = 0;
            if (!_entries.TryGetValue(server, out var e)) return 0;
            mss = e.Mss;
            e.Cookie.CopyTo(into);
            return e.Cookie.Length;
        }
    }

    /// <summary>Remembers <paramref name="cookie"/> (4 to 16 bytes) for <paramref name="server"/>.</summary>
    public void Set(Ipv4Address server, ReadOnlySpan<byte> cookie) => Update(server, 0, cookie);

    /// <summary>
    /// <c>tcp_fastopen_cache_set</c>: <paramref name="mss"/> replaces the remembered MSS unless 0, and
    /// <paramref name="cookie"/> the remembered cookie unless empty (4 to 16 bytes otherwise).
    /// </summary>
    public void Update(Ipv4Address server, int mss, ReadOnlySpan<byte> cookie)
    {
        if (cookie.Length != 0 && (cookie.Length < 4 || cookie.Length > TcpOptions.MaxFastOpenCookie))
            throw new ArgumentException($"a Fast Open cookie is 4 to {TcpOptions.MaxFastOpenCookie} bytes; got {cookie.Length}", nameof(cookie));
        if (mss < 0) throw new ArgumentOutOfRangeException(nameof(mss), mss, "an MSS is not negative");
        lock (_lock)
        {
            if (!_entries.TryGetValue(server, out var e)) _entries[server] = e = new Entry();
            if (mss > 0) e.Mss = mss;
            if (cookie.Length > 0) e.Cookie = cookie.ToArray();
        }
    }

    /// <summary>Forgets every cookie (<c>ip tcp_metrics flush</c>).</summary>
    public void Clear()
    {
        lock (_lock) _entries.Clear();
    }
}
