using System.Diagnostics;
using Netmem.Drivers.VirtualNic;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Cli;

/// <summary>What <c>netmem perf tcp</c> measured.</summary>
internal sealed record PerfTcpResult(
    double GoodputGbps, long Bytes, double Seconds, bool Verified, string? VerifyError,
    long Packets, long AllocatedBytes, double AllocBytesPerPacket, long NapiAllocatedBytes,
    int Mtu, bool Tso, long Retransmits, long PoolInflight, int ArenaPagesLeft,
    bool ZeroCopy = false, int WriteSize = 0, long TxCopiedBytes = 0, long ZerocopySends = 0)
{
    /// <summary>Bytes the sender's stack copied on the TX path per byte delivered in the window.</summary>
    public double CopiedPerByte => Bytes > 0 ? (double)TxCopiedBytes / Bytes : 0;
}

/// <summary>Settings for one <see cref="PerfTcp"/> run.</summary>
internal sealed record PerfTcpOptions
{
    /// <summary>Measured time after warm-up. Default 5 s.</summary>
    public double Seconds { get; init; } = 5;
    /// <summary>Warm-up before measuring (congestion window opens, pools and caches fill). Default 1 s.</summary>
    public double WarmupSeconds { get; init; } = 1;
    /// <summary>Device MTU of both NICs. Default 1500.</summary>
    public int Mtu { get; init; } = 1500;
    /// <summary>TSO on the sender's NIC. Default on.</summary>
    public bool Tso { get; init; } = true;
    /// <summary>Bytes per SendAsync. Default 256 KiB.</summary>
    public int WriteSize { get; init; } = 256 * 1024;
    /// <summary>Send with MSG_ZEROCOPY (<see cref="Sockets.TcpSocket.SendZeroCopyAsync"/>, several writes outstanding) instead of copying. Default off.</summary>
    public bool ZeroCopy { get; init; }
    /// <summary>Zero-copy writes outstanding at once (each completes when its memory may be reused). Default 32.</summary>
    public int ZeroCopyDepth { get; init; } = 32;
    /// <summary>Sample what the measured window allocates (by type). Default off.</summary>
    public AllocationSampler? Sampler { get; init; }
}

/// <summary>
/// Single-flow TCP goodput between two <see cref="NetStack"/>s over the in-memory VirtualNic pair, one
/// threaded NAPI context per side. The sender writes a stream whose byte at offset p is
/// <c>pattern[p % P]</c> (P a prime, the pattern random), the receiver takes zero-copy leases and compares
/// every byte against the pattern (a vectorised SequenceEqual: memcmp speed, so checking is not the
/// bottleneck and a misplaced segment cannot pass). Managed allocation is counted for the whole process
/// over the measured window and divided by the frames both NICs moved.
/// </summary>
internal static class PerfTcp
{
    internal const int PatternLength = 1_048_573; // prime: no MSS or page multiple lines up with it
    private const ushort Port = 5201;

    public static PerfTcpResult Run(PerfTcpOptions o)
    {
        var pattern = MakePattern(o.WriteSize);
        var net = new PairStacks("perf0", "perf1", 1, 1, o.Mtu, tsoA: o.Tso);
        PerfTcpResult r;
        try
        {
            r = Transfer(o, pattern, net.A, net.B, net.Pair, PairStacks.AddressB);
        }
        catch
        {
            net.Teardown();
            throw;
        }
        // Everything torn down: every pool must have got every netmem back, every arena page must be free.
        var left = net.Teardown();
        return r with { PoolInflight = left.Inflight, ArenaPagesLeft = left.ArenaPagesLeft };
    }

    private static PerfTcpResult Transfer(PerfTcpOptions o, byte[] pattern, NetStack stackA, NetStack stackB, VirtualNicPair pair, Ipv4Address ipB)
    {
        using var listener = stackB.ListenTcp(Port, ipB, backlog: 1);
        var acceptTask = listener.AcceptAsync().AsTask();
        using var client = stackA.CreateTcpSocket();
        client.ConnectAsync(ipB, Port).AsTask().Wait(TimeSpan.FromSeconds(10));
        if (!acceptTask.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException("perf tcp: the connection was not accepted within 10 s");
        using var server = acceptTask.Result;

        var state = new SharedState
        {
            Sampler = o.Sampler,
            NapiProbes = [new ThreadAllocProbe(stackA.Interfaces[0].GetContext(0)), new ThreadAllocProbe(stackB.Interfaces[0].GetContext(0))],
        };
        var sw = Stopwatch.StartNew();
        long warmEnd = (long)(o.WarmupSeconds * Stopwatch.Frequency);
        long window = (long)(o.Seconds * Stopwatch.Frequency);
        long measureStart = 0;

        state.Client = client.Connection;
        var sender = o.ZeroCopy ? Task.Run(() => SendZeroCopy(client, o, pattern, state)) : Task.Run(async () =>
        {
            long sent = 0;
            while (!state.Stopped) // the receiver ends the window: the sender never stops first
            {
                int off = (int)(sent % PatternLength);
                int n = await client.SendAsync(pattern.AsMemory(off, o.WriteSize)).ConfigureAwait(false);
                sent += n;
            }
            client.ShutdownSend();
            return sent;
        });
        var receiver = Task.Run(async () =>
        {
            long got = 0;
            while (true)
            {
                var lease = await server.ReceiveLeaseAsync().ConfigureAwait(false);
                if (lease.Count == 0) { lease.Dispose(); break; }
                for (int i = 0; i < lease.Count; i++)
                {
                    var span = lease.GetSpan(i);
                    if (state.Error is null && !Check(pattern, got, span))
                        state.Error = $"content differs in the {span.Length}-byte piece at stream offset {got}";
                    got += span.Length;
                    lease.ReleaseSegment(i); // checked: back to its pool now, not when the lease ends
                }
                lease.Dispose();
                if (!state.Measuring && got > 0 && sw.ElapsedTicks >= warmEnd) { state.StartMeasuring(got, pair); measureStart = sw.ElapsedTicks; }
                else if (state.Measuring && !state.Stopped && sw.ElapsedTicks - measureStart >= window) state.StopMeasuring(got, pair);
            }
            return got;
        });
        if (!Task.WaitAll([sender, receiver], TimeSpan.FromSeconds(o.WarmupSeconds + o.Seconds + 60)))
            throw new TimeoutException("perf tcp: the transfer did not finish in time (stalled connection?)");
        long sentBytes = sender.Result, gotBytes = receiver.Result;
        if (!state.Stopped) state.StopMeasuring(gotBytes, pair);

        string? error = state.Error ?? (sentBytes != gotBytes ? $"sent {sentBytes} bytes, received {gotBytes}" : null);
        double secs = state.Seconds;
        long bytes = state.Bytes;
        var cinfo = client.GetInfoAsync().AsTask();
        long retrans = cinfo.Wait(TimeSpan.FromSeconds(5)) ? cinfo.Result.TotalRetrans : -1;
        server.CloseAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
        client.CloseAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
        return new PerfTcpResult(
            GoodputGbps: secs > 0 ? bytes * 8 / secs / 1e9 : 0,
            Bytes: bytes, Seconds: secs, Verified: error is null, VerifyError: error,
            Packets: state.Packets, AllocatedBytes: state.Allocated,
            AllocBytesPerPacket: state.Packets > 0 ? (double)state.Allocated / state.Packets : 0,
            NapiAllocatedBytes: state.NapiAllocated,
            Mtu: o.Mtu, Tso: o.Tso, Retransmits: retrans, PoolInflight: -1, ArenaPagesLeft: -1,
            ZeroCopy: o.ZeroCopy, WriteSize: o.WriteSize, TxCopiedBytes: state.Copied, ZerocopySends: stackA.Tcp.Stats.ZerocopySendCount);
    }

    /// <summary>
    /// The zero-copy sender: the pattern is never written again, so its slices can be in flight many times over;
    /// up to <see cref="PerfTcpOptions.ZeroCopyDepth"/> writes are outstanding, each awaited (its memory released
    /// by the stack) before another is issued in its place.
    /// </summary>
    private static async Task<long> SendZeroCopy(Sockets.TcpSocket client, PerfTcpOptions o, byte[] pattern, SharedState state)
    {
        client.ZeroCopy = true;
        var pending = new Queue<ValueTask<int>>(o.ZeroCopyDepth);
        long queued = 0, done = 0;
        while (!state.Stopped)
        {
            if (pending.Count == o.ZeroCopyDepth) done += await pending.Dequeue().ConfigureAwait(false);
            int off = (int)(queued % PatternLength);
            pending.Enqueue(client.SendZeroCopyAsync(pattern.AsMemory(off, o.WriteSize)));
            queued += o.WriteSize;
        }
        while (pending.Count > 0) done += await pending.Dequeue().ConfigureAwait(false);
        client.ShutdownSend();
        return done;
    }

    /// <summary>Pattern bytes, twice over plus one write, so any write or check starting at p % P is one contiguous slice.</summary>
    internal static byte[] MakePattern(int writeSize)
    {
        var p = new byte[PatternLength * 2 + writeSize];
        new Random(20261201).NextBytes(p.AsSpan(0, PatternLength));
        for (int i = PatternLength; i < p.Length; i++) p[i] = p[i - PatternLength];
        return p;
    }

    internal static bool Check(byte[] pattern, long offset, ReadOnlySpan<byte> got)
    {
        while (!got.IsEmpty)
        {
            int off = (int)(offset % PatternLength);
            int n = Math.Min(got.Length, PatternLength);
            if (!got[..n].SequenceEqual(pattern.AsSpan(off, n))) return false;
            got = got[n..];
            offset += n;
        }
        return true;
    }

    private sealed class SharedState
    {
        public volatile string? Error;
        public volatile bool Measuring, Stopped;
        private long _startBytes, _startTicks, _startAlloc, _startPackets;
        public long Bytes, Allocated, Packets;
        public double Seconds;
        public AllocationSampler? Sampler;
        public ThreadAllocProbe[] NapiProbes = [];
        public long NapiAllocated;
        public Stack.Tcp.TcpConnection? Client;
        private long _startCopied;
        public long Copied;

        public void StartMeasuring(long got, VirtualNicPair pair)
        {
            Measuring = true;
            _startBytes = got;
            _startPackets = Frames(pair);
            foreach (var p in NapiProbes) p.Sample(); // before the clock starts: its round trips are not the transfer's
            _startAlloc = GC.GetTotalAllocatedBytes(precise: true);
            _startCopied = Client?.SendCopiedBytes ?? 0;
            _startTicks = Stopwatch.GetTimestamp();
            Sampler?.Start();
        }

        public void StopMeasuring(long got, VirtualNicPair pair)
        {
            long t = Stopwatch.GetTimestamp();
            Sampler?.Stop();
            foreach (var p in NapiProbes) p.Sample();
            foreach (var p in NapiProbes) NapiAllocated += p.Delta();
            Allocated = GC.GetTotalAllocatedBytes(precise: true) - _startAlloc;
            Copied = (Client?.SendCopiedBytes ?? 0) - _startCopied;
            Packets = Frames(pair) - _startPackets;
            Stopped = true;
            Bytes = got - _startBytes;
            Seconds = (double)(t - _startTicks) / Stopwatch.Frequency;
        }

        private static long Frames(VirtualNicPair pair) => pair.A.GetStats().RxPackets + pair.B.GetStats().RxPackets;
    }

    /// <summary>
    /// Reads <see cref="GC.GetAllocatedBytesForCurrentThread"/> on a stack context's own (NAPI) thread: the
    /// data path's allocation, apart from the application threads and the runtime's own.
    /// </summary>
    private sealed class ThreadAllocProbe(StackContext context) : StackWork
    {
        private readonly long[] _samples = new long[2];
        private int _taken;
        private readonly ManualResetEventSlim _done = new();

        public void Sample()
        {
            _done.Reset();
            context.Post(this);
            if (!_done.Wait(TimeSpan.FromSeconds(5))) throw new TimeoutException($"perf tcp: {context} did not run posted work within 5 s");
        }

        public long Delta() => _taken == 2 ? _samples[1] - _samples[0] : -1;

        protected override void Run(StackContext ctx)
        {
            if (_taken < 2) _samples[_taken++] = GC.GetAllocatedBytesForCurrentThread();
            _done.Set();
        }
    }
}
