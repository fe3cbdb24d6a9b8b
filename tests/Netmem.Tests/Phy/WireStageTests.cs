using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Netmem.Memory;
using Netmem.Phy;

namespace Netmem.Tests.Phy;

/// <summary>Keeps a copy of every frame's bytes, in arrival order.</summary>
internal sealed class CollectingSink : IWireSink
{
    public readonly List<byte[]> Frames = [];
    public void Transmit(WireFrame frame)
    {
        var b = new byte[frame.Length];
        frame.CopyTo(0, b);
        lock (Frames) Frames.Add(b);
    }
}

public class WireStageTests
{
    private static WireFrame Frame(int i, int len = 100)
    {
        var f = new WireFrame();
        var b = new byte[len];
        for (int k = 0; k < len; k++) b[k] = (byte)(i * 13 + k);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(20), i); // a sequence number past the Ethernet header
        f.SetBytes(b);
        return f;
    }

    private static int Seq(byte[] b) => System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(20));

    [Fact]
    public void Probabilities_are_validated()
    {
        var sink = new CollectingSink();
        Assert.Throws<ArgumentOutOfRangeException>(() => new FaultInjector(sink, new FaultInjectorOptions { LossProbability = 1.5 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FaultInjector(sink, new FaultInjectorOptions { CorruptProbability = -0.1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FaultInjector(sink, new FaultInjectorOptions { DuplicateProbability = double.NaN }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FaultInjector(sink, new FaultInjectorOptions { ReorderDistance = 0 }));
    }

    [Theory]
    [InlineData(0.0, 1000)]
    [InlineData(1.0, 0)]
    public void Loss_extremes_are_exact(double p, int delivered)
    {
        var sink = new CollectingSink();
        using var fi = new FaultInjector(sink, new FaultInjectorOptions { LossProbability = p });
        for (int i = 0; i < 1000; i++) fi.Transmit(Frame(i));
        Assert.Equal(delivered, sink.Frames.Count);
        Assert.Equal(1000 - delivered, fi.Stats.Dropped);
    }

    [Fact]
    public void Loss_at_thirty_percent_is_near_thirty_percent_and_repeatable()
    {
        int Run()
        {
            var sink = new CollectingSink();
            using var fi = new FaultInjector(sink, new FaultInjectorOptions { LossProbability = 0.3, Seed = 7 });
            var f = Frame(0);
            for (int i = 0; i < 10_000; i++) fi.Transmit(f);
            return sink.Frames.Count;
        }
        int n = Run();
        Assert.InRange(n, 6700, 7300);
        Assert.Equal(n, Run()); // same seed, same losses
    }

    [Fact]
    public void Duplication_delivers_each_frame_twice()
    {
        var sink = new CollectingSink();
        using var fi = new FaultInjector(sink, new FaultInjectorOptions { DuplicateProbability = 1 });
        for (int i = 0; i < 50; i++) fi.Transmit(Frame(i));
        Assert.Equal(100, sink.Frames.Count);
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(i, Seq(sink.Frames[2 * i]));
            Assert.Equal(sink.Frames[2 * i], sink.Frames[2 * i + 1]);
        }
        Assert.Equal(50, fi.Stats.Duplicated);
    }

    [Fact]
    public void Reordering_changes_order_but_loses_nothing()
    {
        var sink = new CollectingSink();
        var time = new FakeTimeProvider();
        using var fi = new FaultInjector(sink, new FaultInjectorOptions { ReorderProbability = 0.2, ReorderDistance = 2, Seed = 3, TimeProvider = time });
        for (int i = 0; i < 1000; i++) fi.Transmit(Frame(i));
        time.Advance(TimeSpan.FromMilliseconds(20)); // the timeout releases whatever is still held
        Assert.Equal(0, fi.Held);
        var seqs = sink.Frames.Select(Seq).ToList();
        Assert.Equal(Enumerable.Range(0, 1000), seqs.Order());
        Assert.NotEqual(Enumerable.Range(0, 1000), seqs);
        Assert.True(fi.Stats.Reordered > 100);
    }

    [Fact]
    public void Corruption_flips_exactly_one_bit_past_the_offset_of_a_copy()
    {
        var sink = new CollectingSink();
        using var fi = new FaultInjector(sink, new FaultInjectorOptions { CorruptProbability = 1, CorruptOffset = 14, Seed = 5 });
        for (int i = 0; i < 200; i++)
        {
            var f = Frame(i);
            var before = new byte[f.Length];
            f.CopyTo(0, before);
            fi.Transmit(f);
            var after = sink.Frames[^1];
            var sent = new byte[f.Length];
            f.CopyTo(0, sent);
            Assert.Equal(before, sent); // the sender's frame is untouched
            int bits = 0, first = -1;
            for (int k = 0; k < after.Length; k++)
            {
                int d = System.Numerics.BitOperations.PopCount((uint)(before[k] ^ after[k]));
                if (d != 0 && first < 0) first = k;
                bits += d;
            }
            Assert.Equal(1, bits);
            Assert.True(first >= 14);
        }
        Assert.Equal(200, fi.Stats.Corrupted);
    }

    [Fact]
    public void Held_frames_with_dma_segments_are_copied_before_the_sender_reuses_its_buffer()
    {
        using var dev = new DmaDevice("tx");
        using var arena = new PageArena(new PageArenaOptions { PageCount = 16 });
        var page = arena.AllocPages();
        var span = page.GetSpan(0, 4096);
        span.Fill(0xAB);
        ulong iova = dev.MapPage(page, 0, 4096, DmaDirection.ToDevice);
        var sink = new CollectingSink();
        var time = new FakeTimeProvider();
        using var shaper = new LinkShaper(sink, new LinkShaperOptions { Latency = TimeSpan.FromMilliseconds(5), TimeProvider = time });
        var f = new WireFrame();
        f.AppendInline(14).Fill(1);
        f.AppendDma(dev, iova, 1000);
        shaper.Transmit(f);
        span.Fill(0xCD); // the sender reuses its buffer after transmit returned
        Assert.Empty(sink.Frames);
        time.Advance(TimeSpan.FromMilliseconds(5));
        var got = Assert.Single(sink.Frames);
        Assert.Equal(1014, got.Length);
        Assert.All(got.AsSpan(14).ToArray(), b => Assert.Equal(0xAB, b));
        dev.UnmapPage(iova, 4096, DmaDirection.ToDevice);
        page.Put();
        Assert.Equal(0, dev.LiveMappings);
    }

    [Fact]
    public void Shaper_spaces_frames_by_the_line_rate_and_adds_latency()
    {
        var sink = new CollectingSink();
        var time = new FakeTimeProvider();
        // 8 Mbit/s: a 1000-byte frame takes 1 ms on the line.
        using var shaper = new LinkShaper(sink, new LinkShaperOptions { BandwidthBitsPerSecond = 8_000_000, Latency = TimeSpan.FromMilliseconds(10), TimeProvider = time });
        for (int i = 0; i < 5; i++) shaper.Transmit(Frame(i, 1000));
        time.Advance(TimeSpan.FromMilliseconds(10.5));
        Assert.Empty(sink.Frames);
        for (int i = 1; i <= 5; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
            Assert.Equal(i, sink.Frames.Count);
        }
        Assert.Equal([0, 1, 2, 3, 4], sink.Frames.Select(Seq));
    }

    [Fact]
    public void Shaper_tail_drops_beyond_its_queue_limit()
    {
        var sink = new CollectingSink();
        var time = new FakeTimeProvider();
        using var shaper = new LinkShaper(sink, new LinkShaperOptions { BandwidthBitsPerSecond = 1_000_000, QueueLimitBytes = 5000, TimeProvider = time });
        for (int i = 0; i < 10; i++) shaper.Transmit(Frame(i, 1000));
        Assert.Equal(5, shaper.Stats.QueueDrops);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(5, sink.Frames.Count);
        Assert.Equal(0, shaper.Stats.QueuedBytes);
    }

    private static readonly int[] CaptureLengths = [60, 1514, 300, 9000];

    /// <summary>Writes frames of <see cref="CaptureLengths"/> through a <see cref="PcapCapture"/> into <paramref name="path"/>.</summary>
    private static void WriteCapture(string path)
    {
        var sink = new CollectingSink();
        using (var cap = new PcapCapture(sink, File.Create(path)))
            for (int i = 0; i < CaptureLengths.Length; i++) cap.Transmit(Frame(i, CaptureLengths[i]));
        Assert.Equal(CaptureLengths.Length, sink.Frames.Count);
    }

    [Fact]
    public void Pcap_file_has_the_libpcap_headers()
    {
        string path = Path.Combine(Path.GetTempPath(), $"netmem-{Guid.NewGuid():N}.pcap");
        try
        {
            WriteCapture(path);
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(PcapWriter.MagicMicroseconds, BitConverter.ToUInt32(bytes, 0));
            Assert.Equal(2, BitConverter.ToUInt16(bytes, 4));
            Assert.Equal(4, BitConverter.ToUInt16(bytes, 6));
            Assert.Equal(1u, BitConverter.ToUInt32(bytes, 20));
            int off = 24;
            foreach (int len in CaptureLengths)
            {
                Assert.Equal((uint)len, BitConverter.ToUInt32(bytes, off + 8));
                Assert.Equal((uint)len, BitConverter.ToUInt32(bytes, off + 12));
                off += 16 + len;
            }
            Assert.Equal(bytes.Length, off);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Pcap_file_is_read_by_tshark()
    {
        Requires.Tools("tshark");
        string path = Path.Combine(Path.GetTempPath(), $"netmem-{Guid.NewGuid():N}.pcap");
        try
        {
            WriteCapture(path);
            var lines = Tshark(path, "frame.len");
            Assert.Equal(CaptureLengths.Select(l => l.ToString()), lines.Select(s => s.Trim()));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Stages_allocate_nothing_per_frame_once_warm()
    {
        var sink = new NullSink();
        using var stages = new FaultInjector(new PcapCapture(new LinkShaper(sink), Stream.Null),
            new FaultInjectorOptions { LossProbability = 0.1, DuplicateProbability = 0.1, ReorderProbability = 0.1, CorruptProbability = 0.1 });
        var f = Frame(1, 1500);
        for (int i = 0; i < 2000; i++) stages.Transmit(f);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++) stages.Transmit(f);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(sink.Count > 9000);
    }

    private sealed class NullSink : IWireSink
    {
        public long Count;
        public void Transmit(WireFrame frame) => Count++;
    }

    /// <summary>Runs tshark over capture <paramref name="path"/> and returns one line per frame with <paramref name="fields"/> (tab separated); fails on any error tshark reports.</summary>
    internal static string[] Tshark(string path, params string[] fields)
    {
        var psi = new ProcessStartInfo(Requires.FindTool("tshark")!, ["-r", path, "-T", "fields", .. fields.SelectMany(f => new[] { "-e", f })])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "tshark did not finish in 60 s");
        Assert.Equal(0, p.ExitCode);
        Assert.DoesNotContain("error", stderr.Result, StringComparison.OrdinalIgnoreCase);
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
