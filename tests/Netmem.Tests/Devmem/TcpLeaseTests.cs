using System.Buffers;
using Netmem.Sockets;
using Netmem.Tests.TcpNet;

namespace Netmem.Tests.DevmemRx;

/// <summary>The zero-copy lease on readable data: several at once, per-segment release, the stream intact.</summary>
public class TcpLeaseTests
{
    private static T Run<T>(TcpNetEnv env, ValueTask<T> op)
    {
        env.RunUntil(() => op.IsCompleted, what: "the socket call");
        return op.GetAwaiter().GetResult();
    }

    [Fact]
    public void A_socket_holds_several_leases_and_each_segment_goes_back_when_released()
    {
        using var env = new TcpNetEnv(queues: 1);
        var l = env.Listen(env.B);
        var (cc, sc) = env.Connect(l);
        var c = new TcpSocket(env.A.Tcp, cc);
        var s = new TcpSocket(env.B.Tcp, sc);
        var data = DevmemReceiveTests.Pattern(200_000, 9);
        var got = new List<byte>();
        var send = c.SendAsync(data);
        var held = new List<TcpReceiveLease>();
        while (got.Count < data.Length)
        {
            // Take three leases before giving any back.
            for (int i = 0; i < 3 && got.Count < data.Length; i++)
            {
                var lease = Run(env, s.ReceiveLeaseAsync(30_000));
                Assert.True(lease.IsReadable);
                Assert.InRange(lease.Length, 1, 30_000);
                var bytes = lease.GetSequence().ToArray();
                Assert.Equal(lease.Length, bytes.Length);
                got.AddRange(bytes);
                held.Add(lease);
            }
            Assert.Equal(held.Count, held.Distinct().Count()); // distinct objects, all live
            foreach (var lease in held)
            {
                Assert.True(lease.Count > 0);
                lease.ReleaseSegment(0); // the first segment's memory goes back now
                Assert.Equal(1, lease.ReleasedCount);
                Assert.Throws<InvalidOperationException>(() => lease.GetSpan(0));
                lease.Dispose(); // the rest
            }
            held.Clear();
        }
        Assert.Equal(data.Length, Run(env, send));
        Assert.Equal(data, got.ToArray());
        c.Dispose();
        s.Dispose();
        env.Poll();
    }
}
