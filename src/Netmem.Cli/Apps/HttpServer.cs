using System.Text;
using Netmem.Sockets;
using Netmem.Stack;

namespace Netmem.Cli.Apps;

/// <summary>
/// A small HTTP/1.1 server on the stack's TCP sockets: persistent connections (HTTP/1.1 keep-alive by
/// default, <c>Connection: close</c> honoured, HTTP/1.0 closes unless it asks for keep-alive), pipelined
/// requests, Content-Length on every response, request bodies (Content-Length) read and discarded.
/// Routes: <c>GET /</c> a short text, <c>GET /bytes/N</c> N bytes of <see cref="Pattern"/>; HEAD for both;
/// 404 for other paths, 405 for other methods, 400 for a malformed request (then the connection closes),
/// 431 for a header block over <see cref="MaxHeaderBytes"/>.
/// </summary>
public sealed class HttpServer(NetStack stack, ushort port = 80) : TcpServer(stack, port)
{
    public const int MaxHeaderBytes = 16 * 1024;
    private const int Chunk = 256 * 1024;
    private static readonly byte[] s_body = BuildBody();
    private long _requests;

    /// <summary>Requests answered (any status).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Byte <paramref name="offset"/> of every /bytes/N body: the offset modulo 251 (a prime, so no segment size lines up with it).</summary>
    public static byte Pattern(long offset) => (byte)(offset % 251);

    private static byte[] BuildBody()
    {
        var b = new byte[Chunk + 251];
        for (int i = 0; i < b.Length; i++) b[i] = Pattern(i);
        return b;
    }

    private readonly record struct Request(string Method, string Target, bool KeepAlive, long BodyLength);

    protected override async Task ServeAsync(TcpSocket socket, CancellationToken ct)
    {
        var buf = new byte[MaxHeaderBytes];
        int have = 0;
        while (true)
        {
            // Read until a whole header block is in the buffer (it may already hold a pipelined one).
            int end;
            while ((end = buf.AsSpan(0, have).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (have == buf.Length)
                {
                    await Respond(socket, 431, "Request Header Fields Too Large", keepAlive: false, ct);
                    return;
                }
                int n = await socket.ReceiveAsync(buf.AsMemory(have), ct);
                if (n == 0) return; // the client closed between requests
                CountIn(n);
                have += n;
            }
            int headerLen = end + 4;
            if (!TryParse(buf.AsSpan(0, end), out var req))
            {
                await Respond(socket, 400, "Bad Request", keepAlive: false, ct);
                return;
            }
            // Drop the header block (and a request body) from the buffer.
            Buffer.BlockCopy(buf, headerLen, buf, 0, have - headerLen);
            have -= headerLen;
            long body = req.BodyLength;
            int inBuf = (int)Math.Min(body, have);
            Buffer.BlockCopy(buf, inBuf, buf, 0, have - inBuf);
            have -= inBuf;
            body -= inBuf;
            while (body > 0)
            {
                int n = await socket.ReceiveAsync(buf.AsMemory(0, (int)Math.Min(body, buf.Length)), ct);
                if (n == 0) return;
                CountIn(n);
                body -= n;
            }
            await Route(socket, req, ct);
            if (!req.KeepAlive) return;
        }
    }

    private static bool TryParse(ReadOnlySpan<byte> head, out Request req)
    {
        req = default;
        string text;
        try { text = Encoding.ASCII.GetString(head); }
        catch (ArgumentException) { return false; }
        var lines = text.Split("\r\n");
        var parts = lines[0].Split(' ');
        if (parts.Length != 3 || parts[0].Length == 0 || !parts[1].StartsWith('/')) return false;
        bool http11;
        if (parts[2] == "HTTP/1.1") http11 = true;
        else if (parts[2] == "HTTP/1.0") http11 = false;
        else return false;
        bool keepAlive = http11;
        long bodyLength = 0;
        for (int i = 1; i < lines.Length; i++)
        {
            int colon = lines[i].IndexOf(':');
            if (colon <= 0) return false;
            string name = lines[i][..colon].Trim(), value = lines[i][(colon + 1)..].Trim();
            if (name.Contains(' ')) return false;
            if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                if (value.Contains("close", StringComparison.OrdinalIgnoreCase)) keepAlive = false;
                else if (value.Contains("keep-alive", StringComparison.OrdinalIgnoreCase)) keepAlive = true;
            }
            else if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (!long.TryParse(value, System.Globalization.NumberStyles.None, null, out bodyLength)) return false;
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                return false; // chunked request bodies are not supported: refuse rather than misframe
            }
        }
        req = new Request(parts[0], parts[1], keepAlive, bodyLength);
        return true;
    }

    private async Task Route(TcpSocket socket, Request req, CancellationToken ct)
    {
        bool head = req.Method == "HEAD";
        if (req.Method != "GET" && !head)
        {
            await Respond(socket, 405, "Method Not Allowed", req.KeepAlive, ct, extra: "Allow: GET, HEAD\r\n");
            return;
        }
        if (req.Target == "/")
        {
            await Respond(socket, 200, "OK", req.KeepAlive, ct, body: "netmem http server: GET /bytes/N\n", omitBody: head);
            return;
        }
        const string prefix = "/bytes/";
        if (req.Target.StartsWith(prefix, StringComparison.Ordinal))
        {
            if (!long.TryParse(req.Target.AsSpan(prefix.Length), System.Globalization.NumberStyles.None, null, out long n))
            {
                await Respond(socket, 400, "Bad Request", req.KeepAlive, ct, body: "N must be a non-negative integer\n");
                return;
            }
            await SendHeader(socket, 200, "OK", n, "application/octet-stream", req.KeepAlive, "", ct);
            if (!head) await SendPattern(socket, n, ct);
            return;
        }
        await Respond(socket, 404, "Not Found", req.KeepAlive, ct, body: $"no such path: {req.Target}\n", omitBody: head);
    }

    private async Task SendPattern(TcpSocket socket, long n, CancellationToken ct)
    {
        long off = 0;
        while (off < n)
        {
            int len = (int)Math.Min(Chunk, n - off);
            await socket.SendAsync(s_body.AsMemory((int)(off % 251), len), ct);
            CountOut(len);
            off += len;
        }
    }

    private async Task Respond(TcpSocket socket, int status, string reason, bool keepAlive, CancellationToken ct,
        string? body = null, bool omitBody = false, string extra = "")
    {
        body ??= $"{status} {reason}\n";
        var b = Encoding.ASCII.GetBytes(body);
        await SendHeader(socket, status, reason, b.Length, "text/plain", keepAlive, extra, ct);
        if (!omitBody)
        {
            await socket.SendAsync(b, ct);
            CountOut(b.Length);
        }
    }

    private async Task SendHeader(TcpSocket socket, int status, string reason, long length, string type, bool keepAlive, string extra, CancellationToken ct)
    {
        Interlocked.Increment(ref _requests);
        var h = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status} {reason}\r\nServer: netmem\r\nContent-Type: {type}\r\nContent-Length: {length}\r\n" +
            $"Connection: {(keepAlive ? "keep-alive" : "close")}\r\n{extra}\r\n");
        await socket.SendAsync(h, ct);
        CountOut(h.Length);
    }
}
