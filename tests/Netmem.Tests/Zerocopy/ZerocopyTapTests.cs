using System.Security.Cryptography;
using Netmem.Drivers.Tap;
using Netmem.Skb;
using Netmem.Stack;
using Netmem.Tests.Tap;

namespace Netmem.Tests.Zerocopy;

/// <summary>
/// MSG_ZEROCOPY out through a real tap to a kernel server: the tap's writev copies the frame, so every
/// completion says SO_EE_CODE_ZEROCOPY_COPIED (the driver calls <see cref="SkbZerocopy.MarkCopied"/>), and the
/// data arrives byte exact.
/// </summary>
public sealed class ZerocopyTapTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_tap_copies_so_completions_say_copied(bool offloads)
    {
        Requires.TapStack();
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Offloads = offloads }, output: output);
        const int chunk = 64 * 1024, sends = 32;
        var data = new byte[chunk * sends];
        new Random(17).NextBytes(data);
        long marked = SkbZerocopy.MarkedCount;
        string reply = "";
        var ranges = new List<SockExtendedErr>();
        uint ids = 0;
        var r = await env.RunWithAsync(TimeSpan.FromSeconds(60), async () =>
        {
            using var c = env.Stack.CreateTcpSocket();
            c.ZeroCopy = true;
            await c.ConnectAsync(env.KernelAddress, 8080);
            var pending = new List<ValueTask<int>>();
            for (int i = 0; i < sends; i++) pending.Add(c.SendZeroCopyAsync(data.AsMemory(i * chunk, chunk)));
            foreach (var p in pending) Assert.Equal(chunk, await p);
            while (c.TryReadErrorQueue(out var e)) ranges.Add(e);
            ids = c.Connection!.ZerocopyNextId;
            c.ShutdownSend();
            var buf = new byte[256];
            int have = 0, n;
            while ((n = await c.ReceiveAsync(buf.AsMemory(have))) > 0) have += n;
            reply = System.Text.Encoding.ASCII.GetString(buf, 0, have).Trim();
            await c.CloseAsync();
        }, "python3", "-c", Tap.TapTcpInteropTests.PyHashServer, env.KernelAddress.ToString());
        Assert.True(r.Succeeded, $"server exit {r.ExitCode}: {r.Stderr}");
        Assert.Equal($"{data.Length} {Convert.ToHexStringLower(SHA256.HashData(data))}", reply);
        output.WriteLine($"{ids} ids: {string.Join(", ", ranges.Select(e => $"[{e.Info},{e.Data}] code {e.Code}"))}");
        Assert.NotEmpty(ranges);
        Assert.All(ranges, e => Assert.Equal(SockExtendedErr.CodeZerocopyCopied, e.Code));
        Assert.Equal(0u, ranges[0].Info);
        Assert.Equal(ids - 1, ranges[^1].Data);
        Assert.True(SkbZerocopy.MarkedCount > marked, "the tap marked the skbs it copied");
    }
}
