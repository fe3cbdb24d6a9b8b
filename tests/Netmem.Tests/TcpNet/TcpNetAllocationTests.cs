using Netmem.Drivers.VirtualNic;
using Netmem.Stack.Tcp;
using Netmem.Tests.Tcp;

namespace Netmem.Tests.TcpNet;

/// <summary>Steady-state bulk transfer over the VirtualNic pair allocates nothing on the polling thread.</summary>
public class TcpNetAllocationTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SteadyStateBulkTransferAllocatesNothing(bool tso)
    {
        // A clock that stands still (re-arming its timers allocates nothing) and rings deep enough that
        // nothing is lost, so no retransmit timer is needed; the test thread polls every NAPI context.
        var nic = TcpNetTransferTests.Nic(tso, split: false) with { RxRingSize = VirtualNic.MaxRingSize };
        using var env = new TcpNetEnv(queues: 1, a: nic, b: nic, clock: new StillClock(), pages: 16384,
            tcp: new TcpSettings { SendBufferSize = 2 << 20, ReceiveBufferSize = 2 << 20, ReceiveBufferAutoTuning = false });
        var l = env.Listen(env.B);
        var (c, s) = env.Connect(l);
        const long total = 512L << 20;
        var bulk = new TcpBulk(c, s, total, seed: 5);
        bulk.Start(env);
        void Rounds(long untilReceived)
        {
            for (int i = 0; i < 1_000_000 && bulk.Received < untilReceived; i++) env.Pair.PollAll(1);
        }
        Rounds(64L << 20); // warm-up: caches, pools and rings at their working sizes
        long r0 = bulk.Received, segs0 = env.B.Tcp.Stats.InSegments;
        long before = GC.GetAllocatedBytesForCurrentThread();
        Rounds(320L << 20);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long moved = bulk.Received - r0, segs = env.B.Tcp.Stats.InSegments - segs0;
        output.WriteLine($"tso {tso}: {moved >> 20} MiB in {segs} segments, {allocated} bytes allocated");
        Assert.True(moved >= 200L << 20, $"moved only {moved} bytes");
        Assert.Equal(0, allocated);
        env.RunUntil(() => bulk.Done, what: "the rest of the transfer");
        bulk.AssertEqual();
        TcpNetTransferTests.Close(env, c, s);
    }
}
