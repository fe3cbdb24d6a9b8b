using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Netmem.Devices;
using Netmem.Phy;
using Netmem.Skb;

namespace Netmem.Tests.Devices;

/// <summary>Wire stages between two VirtualNics: every fault type reaches the receiver as it should, and no netmem leaks.</summary>
public class WireFaultTests
{
    private static List<byte[]> SendFlow(NicTestEnv env, int count)
    {
        var sent = new List<byte[]>();
        for (int i = 0; i < count; i++)
        {
            var f = TestFrames.Udp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 1234, 5678, TestFrames.Payload(400, i));
            sent.Add(f);
            env.Send(env.A, f);
            if (i % 32 == 31) env.Pair.PollAll(); // as NAPI would: the ring holds 256
        }
        env.Pair.PollAll();
        return sent;
    }

    [Fact]
    public void Loss_on_the_wire_loses_frames_and_nothing_else()
    {
        FaultInjector? fi = null;
        using var env = new NicTestEnv(aToB: s => fi = new FaultInjector(s, new FaultInjectorOptions { LossProbability = 0.25, Seed = 11 }));
        var sent = SendFlow(env, 400);
        int got = env.RxB.Received.Count;
        Assert.Equal(400 - fi!.Stats.Dropped, got);
        Assert.InRange(got, 250, 350);
        var sentSet = sent.Select(Convert.ToHexString).ToHashSet();
        Assert.All(env.RxB.Received, r => Assert.Contains(Convert.ToHexString(CollectingHandler.FrameBytes(r.Skb)), sentSet));
    }

    [Fact]
    public void Duplicated_frames_arrive_twice()
    {
        using var env = new NicTestEnv(aToB: s => new FaultInjector(s, new FaultInjectorOptions { DuplicateProbability = 1 }));
        var sent = SendFlow(env, 50);
        Assert.Equal(100, env.RxB.Received.Count);
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(sent[i], CollectingHandler.FrameBytes(env.RxB.Received[2 * i].Skb));
            Assert.Equal(sent[i], CollectingHandler.FrameBytes(env.RxB.Received[2 * i + 1].Skb));
        }
    }

    [Fact]
    public void Reordered_frames_all_arrive_out_of_order()
    {
        var time = new FakeTimeProvider();
        using var env = new NicTestEnv(aToB: s => new FaultInjector(s, new FaultInjectorOptions { ReorderProbability = 0.3, ReorderDistance = 3, Seed = 2, TimeProvider = time }));
        var sent = SendFlow(env, 300);
        time.Advance(TimeSpan.FromSeconds(1));
        env.Pair.PollAll();
        var got = env.RxB.Received.Select(r => CollectingHandler.FrameBytes(r.Skb)).ToList();
        Assert.Equal(300, got.Count);
        Assert.Equal(sent.Select(Convert.ToHexString).Order(), got.Select(Convert.ToHexString).Order());
        Assert.NotEqual(sent.Select(Convert.ToHexString), got.Select(Convert.ToHexString));
    }

    [Fact]
    public void Corrupted_frames_are_caught_by_the_receivers_checksum_engine()
    {
        FaultInjector? fi = null;
        using var env = new NicTestEnv(aToB: s => fi = new FaultInjector(s, new FaultInjectorOptions { CorruptProbability = 0.2, CorruptOffset = 14, Seed = 4 }));
        var sent = SendFlow(env, 500);
        var sentSet = sent.Select(Convert.ToHexString).ToHashSet();
        long bad = 0, corrupted = 0;
        foreach (var (_, skb) in env.RxB.Received)
        {
            bool intact = sentSet.Contains(Convert.ToHexString(CollectingHandler.FrameBytes(skb)));
            if (!intact) corrupted++;
            // A frame the device vouched for is intact; every damaged frame lost its verdict.
            if (skb.IpSummed == SkbChecksumState.Unnecessary) Assert.True(intact);
            else bad++;
        }
        Assert.True(fi!.Stats.Corrupted > 50);
        Assert.Equal(corrupted, bad);
        long csumBad = env.B.RxQueues.ToArray().Sum(q => q.Stats.CsumBad);
        Assert.Equal(bad, csumBad);
        // Frames whose damaged bytes made them unreceivable (an IP header the parser rejects) are counted as drops, not lost silently.
        Assert.Equal(500, env.RxB.Received.Count + env.B.GetDrops().Values.Sum());
    }

    [Fact]
    public void A_slow_link_with_latency_delivers_everything_in_order_when_due()
    {
        var time = new FakeTimeProvider();
        using var env = new NicTestEnv(aToB: s => new LinkShaper(s, new LinkShaperOptions { BandwidthBitsPerSecond = 100_000_000, Latency = TimeSpan.FromMilliseconds(2), TimeProvider = time }));
        var sent = SendFlow(env, 100);
        Assert.Empty(env.RxB.Received);
        time.Advance(TimeSpan.FromMilliseconds(2)); // 442-byte frames take 35 us each at 100 Mbit/s
        env.Pair.PollAll();
        int early = env.RxB.Received.Count;
        Assert.InRange(early, 0, 1);
        time.Advance(TimeSpan.FromMilliseconds(10));
        env.Pair.PollAll();
        Assert.Equal(sent, env.RxB.Received.Select(r => CollectingHandler.FrameBytes(r.Skb)));
    }

    [Fact]
    public void Pcap_capture_of_the_pair_is_read_by_tshark_as_ipv4_udp()
    {
        Requires.Tools("tshark");
        string path = Path.Combine(Path.GetTempPath(), $"netmem-pair-{Guid.NewGuid():N}.pcap");
        try
        {
            using (var env = new NicTestEnv(aToB: s => new PcapCapture(s, File.Create(path))))
            {
                SendFlow(env, 20);
                Assert.Equal(20, env.RxB.Received.Count);
            }
            Assert.Equal(24 + 20 * (16 + 442), new FileInfo(path).Length);
            var lines = Netmem.Tests.Phy.WireStageTests.Tshark(path, "ip.src", "udp.dstport", "udp.length");
            Assert.Equal(20, lines.Length);
            Assert.All(lines, l => Assert.Equal("10.0.0.1\t5678\t408", l.Trim()));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
