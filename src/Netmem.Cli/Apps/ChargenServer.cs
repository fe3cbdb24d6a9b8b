using Netmem.Sockets;
using Netmem.Stack;

namespace Netmem.Cli.Apps;

/// <summary>
/// RFC 864 character generator: 72 printable characters and CRLF per line, each line starting one
/// character further along the 95 printable ASCII characters, sent until the peer closes or resets.
/// </summary>
public sealed class ChargenServer(NetStack stack, ushort port = 19) : TcpServer(stack, port)
{
    /// <summary>One full cycle: 95 lines of 74 bytes; the stream repeats it.</summary>
    public static readonly byte[] Cycle = BuildCycle();

    private static byte[] BuildCycle()
    {
        var b = new byte[95 * 74];
        for (int line = 0; line < 95; line++)
        {
            for (int j = 0; j < 72; j++) b[line * 74 + j] = (byte)(32 + (line + j) % 95);
            b[line * 74 + 72] = (byte)'\r';
            b[line * 74 + 73] = (byte)'\n';
        }
        return b;
    }

    /// <summary>The first <paramref name="n"/> bytes of the stream.</summary>
    public static byte[] Stream(int n)
    {
        var s = new byte[n];
        for (int off = 0; off < n; off += Cycle.Length) Cycle.AsSpan(0, Math.Min(Cycle.Length, n - off)).CopyTo(s.AsSpan(off));
        return s;
    }

    protected override async Task ServeAsync(TcpSocket socket, CancellationToken ct)
    {
        // 12 cycles (84 KiB) per send: whole cycles keep every send starting at line 0.
        var buf = new byte[Cycle.Length * 12];
        for (int i = 0; i < 12; i++) Cycle.CopyTo(buf, i * Cycle.Length);
        try
        {
            while (true)
            {
                await socket.SendAsync(buf, ct);
                CountOut(buf.Length);
            }
        }
        catch (NetmemErrnoException e) when (e.Errno is Errno.EPIPE or Errno.ECONNRESET)
        {
            // The peer went away: how a chargen session ends.
        }
    }
}
