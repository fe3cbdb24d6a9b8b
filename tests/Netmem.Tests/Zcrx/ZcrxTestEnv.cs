using System.Security.Cryptography;
using Netmem.Devices;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Sockets;
using Netmem.Stack.Tcp;
using Netmem.Tests.TcpNet;
using Netmem.Zcrx;

namespace Netmem.Tests.Zcrx;

/// <summary>
/// Two stacks over the VirtualNic pair where B's RX queue <see cref="Queue"/> is registered for zero-copy receive
/// into application memory (<see cref="ZcrxIfq"/>): header split on, an ntuple rule steering <see cref="Port"/>
/// there. Deterministic: the test thread polls both NICs. Dispose unregisters, checks the area was freed once
/// every buffer came back, and (through the stack env) that every page_pool ended with inflight 0.
/// </summary>
internal sealed class ZcrxTestEnv : IDisposable
{
    public const int Queue = 1;
    public const ushort Port = 5201;

    public ZcrxTestEnv(int areaPages = 4096, int rqEntries = 4096, TimeProvider? clock = null, int pages = 16384)
    {
        var nic = new VirtualNicOptions { TcpDataSplit = TcpDataSplit.On };
        Net = new TcpNetEnv(queues: 2, a: nic, b: nic, clock: clock, pages: pages);
        Memory = new PageAlignedMemory(areaPages * PageArena.PageSize);
        Ifq = ZcrxIfq.Register(Net.Pair.B, Queue, Memory.Memory, rqEntries);
        Net.Env.TrackPools();
        Net.Pair.B.AddNtupleRule(new NtupleRule { Location = 1, FlowType = NtupleFlowType.Tcp4, DstPort = Port, Action = Queue });
    }

    public TcpNetEnv Net { get; }
    public PageAlignedMemory Memory { get; }
    public ZcrxIfq Ifq { get; }
    /// <summary>The registered queue's page_pool.</summary>
    public Netmem.Pool.PagePool Pool => Net.Pair.B.RxQueues[Queue].PagePool!;

    public (TcpSocket Client, TcpSocket Server) Connect(TcpListenEndpoint listener, ushort port = Port)
    {
        var (c, s) = Net.Connect(listener, port: port);
        return (new TcpSocket(Net.A.Tcp, c), new TcpSocket(Net.B.Tcp, s));
    }

    public TcpListenEndpoint Listen(ushort port = Port) => Net.Listen(Net.B, port);

    public T Run<T>(ValueTask<T> op)
    {
        Net.RunUntil(() => op.IsCompleted, what: "the socket call");
        return op.GetAwaiter().GetResult();
    }

    /// <summary>Sends everything from <paramref name="c"/> (polling) while nothing reads: what lands stays queued.</summary>
    public void Send(TcpSocket c, byte[] data) => Assert.Equal(data.Length, Run(c.SendAsync(data)));

    /// <summary>
    /// Receives <paramref name="data"/>'s length with zcrx receive, sending it from <paramref name="c"/> meanwhile;
    /// every completion's payload is checked against the stream in place and hashed, and each call's buffers
    /// go back through the refill ring in one batch (<paramref name="batchReturn"/>) or one by one. Returns the
    /// SHA-256 of what was received.
    /// </summary>
    public byte[] Transfer(TcpSocket c, TcpSocket s, byte[] data, out long completions, int batch = 64, bool batchReturn = true, bool timers = true)
        => Transfer(c, s, data, out completions, out _, batch, batchReturn, timers);

    /// <summary>
    /// <see cref="Transfer(TcpSocket, TcpSocket, byte[], out long, int, bool, bool)"/>, also returning the bytes this
    /// thread allocated between a quarter and three quarters of the stream (the test thread drives everything).
    /// </summary>
    public byte[] Transfer(TcpSocket c, TcpSocket s, byte[] data, out long completions, out long allocated, int batch = 64, bool batchReturn = true, bool timers = true)
    {
        long allocStart = 0;
        bool measuring = false, measured = false;
        allocated = 0;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var comps = new ZcrxCompletion[batch];
        var rqes = new ZcrxRqe[batch];
        long sent = 0, got = 0;
        completions = 0;
        const int Chunk = 256 * 1024;
        var send = c.SendAsync(data.AsMemory(0, Math.Min(Chunk, data.Length)));
        var recv = s.ReceiveZcrxAsync(Ifq, comps);
        while (got < data.Length)
        {
            bool moved = Net.Poll() > 0;
            if (sent < data.Length && send.IsCompleted)
            {
                sent += send.Result;
                if (sent < data.Length) send = c.SendAsync(data.AsMemory((int)sent, (int)Math.Min(Chunk, data.Length - sent)));
                moved = true;
            }
            if (!recv.IsCompleted)
            {
                if (!moved && timers) Net.Advance(TimeSpan.FromMilliseconds(1));
                continue;
            }
            int n = recv.Result;
            if (n <= 0) Assert.Fail($"end of stream at {got}");
            for (int i = 0; i < n; i++)
            {
                var p = Ifq.GetPayload(comps[i]);
                if (!p.SequenceEqual(data.AsSpan((int)got, p.Length))) Assert.Fail($"payload differs at stream offset {got} ({comps[i]})");
                hash.AppendData(p);
                got += p.Length;
                rqes[i] = comps[i].ToRqe();
            }
            if (batchReturn)
            {
                int posted = Ifq.RefillRing.Post(rqes.AsSpan(0, n));
                for (int i = posted; i < n; i++) Ifq.Return(comps[i]); // a full ring: the rest one by one
            }
            else
                for (int i = 0; i < n; i++) Ifq.Return(comps[i]);
            completions += n;
            if (!measuring && got >= data.Length / 4) { measuring = true; allocStart = GC.GetAllocatedBytesForCurrentThread(); }
            else if (measuring && !measured && got >= data.Length * 3L / 4) { measured = true; allocated = GC.GetAllocatedBytesForCurrentThread() - allocStart; }
            if (got < data.Length) recv = s.ReceiveZcrxAsync(Ifq, comps);
        }
        if (sent < data.Length) Assert.Equal(data.Length - sent, Run(send));
        return hash.GetHashAndReset();
    }

    public void Dispose()
    {
        Net.Poll();
        Ifq.Dispose(); // unregister: the queue restarts on host pages
        Net.Poll();
        Assert.True(Ifq.IsFreed, $"{Ifq}: area not freed; {Ifq.Area.FreeCount} of {Ifq.Area.Count} net_iovs free, {Ifq.PoolCount} pools, {Ifq.Area.TotalUserRefs} user refs; ring {Ifq.RefillRing}; {Ifq.GetStats()}");
        Assert.True(Ifq.WhenFreed.IsCompleted);
        Memory.Dispose();
        Net.Dispose(); // every page_pool freed with inflight 0 (asserted)
    }
}
