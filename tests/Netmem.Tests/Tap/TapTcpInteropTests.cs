using System.Security.Cryptography;
using Netmem.Cli.Apps;
using Netmem.Drivers.Tap;
using Netmem.Sockets;
using Netmem.Stack.Tcp;

namespace Netmem.Tests.Tap;

/// <summary>
/// TCP between the stack and the Linux kernel through a real tap: echo, discard and chargen servers on
/// the stack driven by socat and by Python clients sending random data (SHA-256 on both ends), and the
/// stack as the client of kernel servers. With offloads on, the kernel's TSO frames enter as one skb each
/// and the stack's large sends leave as one GSO frame each; with them off, plain 1500-byte frames.
/// </summary>
public sealed class TapTcpInteropTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("netmem-tap-tcp-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private string WriteRandom(string name, int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, data);
        return path;
    }

    private static string Sha256File(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    /// <summary>argv: host port bytes. Sends random data while a second thread reads the echo; prints "echo N sent-sha received-sha".</summary>
    private const string PyEchoClient = """
import socket, sys, os, hashlib, threading
host, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=20)
sent, got = hashlib.sha256(), hashlib.sha256()
n_got = [0]
def reader():
    while True:
        d = s.recv(1 << 20)
        if not d: break
        got.update(d); n_got[0] += len(d)
t = threading.Thread(target=reader); t.start()
left = total
while left > 0:
    d = os.urandom(min(left, 65536 + (left % 7777)))
    sent.update(d); s.sendall(d); left -= len(d)
s.shutdown(socket.SHUT_WR)
t.join(30)
print('echo', n_got[0], sent.hexdigest(), got.hexdigest())
""";

    /// <summary>argv: host port bytes. Sends random data, half-closes, waits for the server's close; prints "sent N sha".</summary>
    /// <summary>A Python server on port 8080 of argv[1]: reads to EOF, answers "count sha256\n" of what came, closes.</summary>
    internal const string PyHashServer = """
import socket, sys, hashlib
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], 8080)); l.listen(1); l.settimeout(30)
print('ready', flush=True)
c, a = l.accept(); c.settimeout(30)
h, n = hashlib.sha256(), 0
while True:
    d = c.recv(1 << 20)
    if not d: break
    h.update(d); n += len(d)
c.sendall(('%d %s\n' % (n, h.hexdigest())).encode()); c.close()
""";

    internal const string PySink = """
import socket, sys, os, hashlib
host, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=30)
h, left = hashlib.sha256(), total
while left > 0:
    d = os.urandom(min(left, 1 << 18))
    h.update(d); s.sendall(d); left -= len(d)
s.shutdown(socket.SHUT_WR)
assert s.recv(1) == b''
print('sent', total, h.hexdigest())
""";

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Echo_server_returns_random_data_from_a_python_client_byte_exact(bool offloads)
    {
        Requires.TapStack();
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = offloads }, output: output);
        await using var echo = new EchoServer(env.Stack, 7);
        const int total = 8 << 20;
        var r = await Task.Run(() => env.Python(Limit, PyEchoClient, env.OurAddress.ToString(), "7", total.ToString()));
        output.WriteLine(r.Stdout);
        Assert.True(r.Succeeded, $"client exit {r.ExitCode}: {r.Stdout} {r.Stderr}; tcp {env.Stack.Tcp.Stats}");
        var f = r.Stdout.Trim().Split(' ');
        Assert.Equal("echo", f[0]);
        Assert.Equal(total.ToString(), f[1]);
        Assert.Equal(f[2], f[3]);
        Assert.Equal(total, echo.BytesIn);
        Assert.Equal(0, echo.Failures);
        var tap = env.Dev.GetTapStats(0);
        var tx = env.Dev.TxQueues[0].Stats;
        output.WriteLine($"rx gso frames {tap.RxGsoPackets}, tx gso frames {tx.HwGsoPackets} ({tx.HwGsoWirePackets} on the wire)");
        if (offloads)
        {
            Assert.True(tap.RxGsoPackets > 0, "no TSO frame came from the kernel");
            Assert.True(tx.HwGsoPackets > 0, "no GSO frame went to the kernel");
            Assert.True(tx.HwGsoWirePackets > tx.HwGsoPackets);
        }
        else
        {
            Assert.Equal(0, tap.RxGsoPackets);
            Assert.Equal(0, tx.HwGsoPackets);
        }
    }

    [Fact]
    public async Task Echo_server_answers_socat_with_the_same_file()
    {
        Requires.TapStack("socat");
        using var env = new TapStackEnv(output: output);
        await using var echo = new EchoServer(env.Stack, 7);
        string input = WriteRandom("in", 3 << 20), outPath = Path.Combine(_dir, "out");
        var r = await Task.Run(() => env.Sh(Limit, $"socat -t 30 -T 30 - TCP:{env.OurAddress}:7 < {input} > {outPath}"));
        Assert.True(r.Succeeded, $"socat exit {r.ExitCode}: {r.Stderr}");
        Assert.Equal(new FileInfo(input).Length, new FileInfo(outPath).Length);
        Assert.Equal(Sha256File(input), Sha256File(outPath));
    }

    [Fact]
    public async Task Discard_server_sees_exactly_what_python_and_socat_sent()
    {
        Requires.TapStack("socat");
        using var env = new TapStackEnv(output: output);
        await using var discard = new DiscardServer(env.Stack, 9);
        const int total = 16 << 20;
        var r = await Task.Run(() => env.Python(Limit, PySink, env.OurAddress.ToString(), "9", total.ToString()));
        Assert.True(r.Succeeded, $"client exit {r.ExitCode}: {r.Stdout} {r.Stderr}");
        var f = r.Stdout.Trim().Split(' ');
        Assert.True(await TapStackEnv.WaitUntilAsync(() => discard.Finished.Count == 1, TimeSpan.FromSeconds(10)));
        Assert.Equal((long)total, discard.Finished[0].Bytes);
        Assert.Equal(f[2], discard.Finished[0].Sha256);

        string input = WriteRandom("sink", 2 << 20);
        var s = await Task.Run(() => env.Sh(Limit, $"socat -u -t 30 - TCP:{env.OurAddress}:9 < {input}"));
        Assert.True(s.Succeeded, $"socat exit {s.ExitCode}: {s.Stderr}");
        Assert.True(await TapStackEnv.WaitUntilAsync(() => discard.Finished.Count == 2, TimeSpan.FromSeconds(10)));
        Assert.Equal(2L << 20, discard.Finished[1].Bytes);
        Assert.Equal(Sha256File(input), discard.Finished[1].Sha256);
    }

    [Fact]
    public async Task Chargen_stream_read_by_socat_and_python_is_the_rfc_864_pattern()
    {
        Requires.TapStack("socat");
        using var env = new TapStackEnv(output: output);
        await using var chargen = new ChargenServer(env.Stack, 19);
        const int n = 3_000_000;
        string outPath = Path.Combine(_dir, "chargen");
        // head closes the pipe after n bytes; socat then closes the connection and chargen stops.
        var r = await Task.Run(() => env.Sh(Limit, $"socat -u TCP:{env.OurAddress}:19 - | head -c {n} > {outPath}"));
        Assert.True(r.Succeeded, $"socat exit {r.ExitCode}: {r.Stderr}");
        Assert.Equal(ChargenServer.Stream(n), File.ReadAllBytes(outPath));

        const string py = """
import socket, sys
s = socket.create_connection((sys.argv[1], 19), timeout=20)
want, buf = int(sys.argv[2]), bytearray()
while len(buf) < want:
    d = s.recv(1 << 20)
    if not d: break
    buf += d
s.close()
line = lambda i: bytes(32 + (i + j) % 95 for j in range(72)) + b'\r\n'
cycle = b''.join(line(i) for i in range(95))
exp = (cycle * (want // len(cycle) + 1))[:want]
print('ok' if bytes(buf[:want]) == exp else 'mismatch', len(buf))
""";
        var p = await Task.Run(() => env.Python(Limit, py, env.OurAddress.ToString(), n.ToString()));
        Assert.True(p.Succeeded, $"python exit {p.ExitCode}: {p.Stderr}");
        Assert.StartsWith("ok ", p.Stdout.Trim());
        Assert.True(await TapStackEnv.WaitUntilAsync(() => chargen.Connections == 2, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task The_stack_connects_to_kernel_servers_python_and_socat()
    {
        Requires.TapStack("socat");
        using var env = new TapStackEnv(output: output);
        var data = new byte[6 << 20];
        new Random(5).NextBytes(data);
        string reply = "";
        var r = await env.RunWithAsync(Limit, async () =>
        {
            using var c = env.Stack.CreateTcpSocket();
            await c.ConnectAsync(env.KernelAddress, 8080);
            Assert.Equal(TcpState.Established, c.State);
            Assert.Equal(data.Length, await c.SendAsync(data));
            c.ShutdownSend();
            var buf = new byte[256];
            int have = 0, n;
            while ((n = await c.ReceiveAsync(buf.AsMemory(have))) > 0) have += n;
            reply = System.Text.Encoding.ASCII.GetString(buf, 0, have).Trim();
            await c.CloseAsync();
        }, "python3", "-c", PyHashServer, env.KernelAddress.ToString());
        Assert.True(r.Succeeded, $"server exit {r.ExitCode}: {r.Stderr}; tcp {env.Stack.Tcp.Stats}");
        Assert.Equal($"{data.Length} {Convert.ToHexStringLower(SHA256.HashData(data))}", reply);
        Assert.Equal(1, env.Stack.Tcp.Stats.ActiveOpenCount);

        // socat as an echo server (fork off: one connection); the stack sends and reads back at once.
        using var proc = env.Link.Start("socat", "-T", "30", $"TCP-LISTEN:8081,bind={env.KernelAddress},reuseaddr", "EXEC:cat");
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            TcpSocket c2;
            while (true)
            {
                c2 = env.Stack.CreateTcpSocket(); // a refused socket is closed: each attempt takes a new one
                try { await c2.ConnectAsync(env.KernelAddress, 8081).AsTask().WaitAsync(TimeSpan.FromSeconds(10)); break; }
                catch (NetmemErrnoException e) when (e.Errno == Errno.ECONNREFUSED && DateTime.UtcNow < deadline)
                {
                    c2.Dispose();
                    await Task.Delay(50); // socat is not listening yet
                }
            }
            using var c2Owner = c2;
            var echoData = data.AsMemory(0, 2 << 20);
            var reader = Task.Run(async () =>
            {
                var got = new byte[echoData.Length];
                int have = 0, n;
                while (have < got.Length && (n = await c2.ReceiveAsync(got.AsMemory(have))) > 0) have += n;
                return got.AsSpan(0, have).ToArray();
            });
            Assert.Equal(echoData.Length, await c2.SendAsync(echoData));
            var back = await reader.WaitAsync(Limit);
            Assert.Equal(echoData.Length, back.Length);
            Assert.True(echoData.Span.SequenceEqual(back));
            c2.ShutdownSend();
            await c2.CloseAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        }
        finally
        {
            if (!proc.WaitForExit(5000)) proc.Kill(entireProcessTree: true);
        }
    }
}
