using System.Buffers;
using Netmem.Sockets;
using Netmem.Tests.TcpNet;

namespace Netmem.Tests.DevmemRx;

/// <summary>The zero-copy lease on readable data: several at once, per-segment release, the stream intact.</summary>
public class TcpLeaseTests
{
    // A completed operation's result (polled to completion by the caller, so nothing blocks).
    private static T Result<T>(ValueTask<T> op) => op.Result;

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

    [Fact]
    public void Steady_state_lease_receive_with_per_segment_release_allocates_nothing()
    {
        using var env = new TcpNetEnv(queues: 1, clock: new Netmem.Tests.Tcp.StillClock(), pages: 16384);
        var l = env.Listen(env.B);
        var (cc, sc) = env.Connect(l);
        var c = new TcpSocket(env.A.Tcp, cc);
        var s = new TcpSocket(env.B.Tcp, sc);
        var data = DevmemReceiveTests.Pattern(32 << 20, 10);
        const int Chunk = 256 * 1024;
        long sent = 0, got = 0, allocStart = 0, allocated = -1;
        var send = c.SendAsync(data.AsMemory(0, Chunk));
        var recv = s.ReceiveLeaseAsync();
        while (got < data.Length)
        {
            env.Poll();
            if (sent < data.Length && send.IsCompleted)
            {
                sent += Result(send);
                if (sent < data.Length) send = c.SendAsync(data.AsMemory((int)sent, (int)Math.Min(Chunk, data.Length - sent)));
            }
            if (!recv.IsCompleted) continue;
            var lease = Result(recv);
            if (lease.Length == 0) Assert.Fail($"end of stream at {got}");
            for (int i = 0; i < lease.Count; i++)
            {
                var span = lease.GetSpan(i);
                if (!span.SequenceEqual(data.AsSpan((int)got, span.Length))) Assert.Fail($"bytes differ at {got}");
                got += span.Length;
                lease.ReleaseSegment(i);
            }
            lease.Dispose();
            if (allocStart == 0 && got >= data.Length / 4) allocStart = GC.GetAllocatedBytesForCurrentThread();
            else if (allocStart != 0 && allocated < 0 && got >= data.Length * 3L / 4) allocated = GC.GetAllocatedBytesForCurrentThread() - allocStart;
            if (got < data.Length) recv = s.ReceiveLeaseAsync();
        }
        Assert.Equal(0, allocated);
        c.Dispose();
        s.Dispose();
        env.Poll();
    }
}
