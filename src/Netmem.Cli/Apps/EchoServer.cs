using Netmem.Sockets;
using Netmem.Stack;

namespace Netmem.Cli.Apps;

/// <summary>RFC 862 echo: every byte received is sent back, until the peer closes its side.</summary>
public sealed class EchoServer(NetStack stack, ushort port = 7) : TcpServer(stack, port)
{
    protected override async Task ServeAsync(TcpSocket socket, CancellationToken ct)
    {
        var buf = new byte[64 * 1024];
        while (true)
        {
            int n = await socket.ReceiveAsync(buf, ct);
            if (n == 0) return;
            CountIn(n);
            await socket.SendAsync(buf.AsMemory(0, n), ct);
            CountOut(n);
        }
    }
}
