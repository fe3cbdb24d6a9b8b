using System.Security.Cryptography;
using Netmem.Cli.Apps;
using Netmem.Drivers.Tap;

namespace Netmem.Tests.Tap;

/// <summary>
/// The HTTP/1.1 server (<see cref="HttpServer"/>, on the stack's TCP sockets) fetched with curl from the
/// kernel side of a tap: keep-alive across requests, Content-Length, HEAD, 404/405/400, pipelining, and a
/// 1 GiB download whose SHA-256 matches the pattern (bounded by curl's --max-time).
/// </summary>
public sealed class TapHttpTests(ITestOutputHelper output)
{
    /// <summary>SHA-256 of the first <paramref name="n"/> bytes of the /bytes/N pattern.</summary>
    internal static string PatternSha256(long n)
    {
        var block = new byte[251 * 4096];
        for (int i = 0; i < block.Length; i++) block[i] = HttpServer.Pattern(i);
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (long off = 0; off < n; off += block.Length) h.AppendData(block, 0, (int)Math.Min(block.Length, n - off));
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    [Fact]
    public async Task Curl_gets_pages_over_one_kept_alive_connection_with_content_length_and_error_statuses()
    {
        Requires.TapStack("curl");
        using var env = new TapStackEnv(output: output);
        await using var http = new HttpServer(env.Stack, 80);
        string url = $"http://{env.OurAddress}";
        // Three URLs in one curl run reuse one connection (HTTP/1.1 keep-alive); -w prints status and size per transfer.
        var r = await Task.Run(() => env.Exec(TimeSpan.FromSeconds(30), "curl", "-s", "--max-time", "20",
            "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{num_connects}\\n",
            $"{url}/bytes/100000", $"{url}/", $"{url}/nope"));
        output.WriteLine(r.Stdout);
        Assert.True(r.Succeeded, $"curl exit {r.ExitCode}: {r.Stderr}");
        var lines = r.Stdout.Trim().Split('\n');
        Assert.Equal(["200 100000 1", "200 33 0", "404 20 0"], lines); // num_connects 0: the connection was reused
        Assert.Equal(1, http.Connections);
        Assert.Equal(3, http.Requests);

        // The body is the pattern, byte for byte.
        var body = await Task.Run(() => env.Sh(TimeSpan.FromSeconds(30), $"curl -s --max-time 20 {url}/bytes/77777 | sha256sum"));
        Assert.Equal(PatternSha256(77777), body.Stdout.Split(' ')[0]);

        // HEAD: headers with Content-Length, no body; Connection: close is honoured.
        var head = await Task.Run(() => env.Exec(TimeSpan.FromSeconds(30), "curl", "-s", "--max-time", "20", "-I", "-H", "Connection: close", $"{url}/bytes/12345"));
        Assert.True(head.Succeeded, head.Stderr);
        Assert.Contains("HTTP/1.1 200 OK", head.Stdout);
        Assert.Contains("Content-Length: 12345", head.Stdout);
        Assert.Contains("Connection: close", head.Stdout);

        // 405 for another method, 400 for a bad number.
        var post = await Task.Run(() => env.Exec(TimeSpan.FromSeconds(30), "curl", "-s", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}",
            "-X", "DELETE", $"{url}/"));
        Assert.Equal("405", post.Stdout);
        var bad = await Task.Run(() => env.Exec(TimeSpan.FromSeconds(30), "curl", "-s", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}", $"{url}/bytes/12x"));
        Assert.Equal("400", bad.Stdout);
    }

    [Fact]
    public async Task Malformed_and_pipelined_requests_from_a_raw_socket()
    {
        Requires.TapStack();
        using var env = new TapStackEnv(output: output);
        await using var http = new HttpServer(env.Stack, 80);
        const string py = """
import socket, sys
def talk(data):
    s = socket.create_connection((sys.argv[1], 80), timeout=10)
    s.sendall(data)
    out = b''
    while True:
        d = s.recv(65536)
        if not d: break
        out += d
    s.close()
    return out
# Two pipelined requests in one write (the second closes), with a request body on the first.
r = talk(b'GET /bytes/10 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
print(r.count(b'HTTP/1.1 200 OK'), b'Content-Length: 10\r\n' in r, r.endswith(b'GET /bytes/N\n'))
# A malformed request line: 400 and the server closes.
r = talk(b'GARBAGE\r\n\r\n')
print(r.split(b'\r\n')[0].decode())
# HTTP/1.0 without keep-alive: closed after one answer.
r = talk(b'GET /bytes/3 HTTP/1.0\r\n\r\n')
print(r.split(b'\r\n')[0].decode(), r.endswith(bytes([0, 1, 2])))
""";
        var r = await Task.Run(() => env.Python(TimeSpan.FromSeconds(30), py, env.OurAddress.ToString()));
        output.WriteLine(r.Stdout);
        Assert.True(r.Succeeded, $"python exit {r.ExitCode}: {r.Stderr}");
        Assert.Equal(["2 True True", "HTTP/1.1 400 Bad Request", "HTTP/1.1 200 OK True"], r.Stdout.Trim().Split('\n'));
    }

    [Fact]
    public async Task Curl_downloads_one_gibibyte_with_the_right_sha256()
    {
        Requires.TapStack("curl");
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true }, output: output);
        await using var http = new HttpServer(env.Stack, 80);
        const long n = 1L << 30;
        var expect = Task.Run(() => PatternSha256(n));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        // A truncated or timed-out download shows up as a wrong hash.
        var r = await Task.Run(() => env.Sh(TimeSpan.FromSeconds(200), $"curl -s --max-time 180 http://{env.OurAddress}/bytes/{n} | sha256sum"));
        sw.Stop();
        output.WriteLine($"1 GiB in {sw.Elapsed.TotalSeconds:0.0} s ({n * 8 / sw.Elapsed.TotalSeconds / 1e9:0.00} Gbit/s incl. hashing); {r.Stderr}");
        Assert.True(r.Succeeded, $"curl pipeline exit {r.ExitCode}: {r.Stderr}");
        Assert.Equal(await expect, r.Stdout.Split(' ')[0]);
        var tx = env.Dev.TxQueues[0].Stats;
        Assert.True(tx.HwGsoPackets > 0 && tx.HwGsoWirePackets > tx.HwGsoPackets, "the download did not leave as GSO frames");
        Assert.Equal(0, tx.Drops);
    }
}
