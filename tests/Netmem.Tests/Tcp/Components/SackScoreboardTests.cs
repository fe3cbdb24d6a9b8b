using CsCheck;
using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Tests.Tcp.Components;

/// <summary>RFC 6675's scoreboard: hand-worked loss scenarios, D-SACK (RFC 2883), and a bitmap model under random ACKs.</summary>
public sealed class SackScoreboardTests
{
    private const int Mss = 1000;

    /// <summary>Segment k (1-based) of ten sent from <paramref name="isn"/>: [isn + (k−1)·MSS, isn + k·MSS).</summary>
    private static uint Seg(uint isn, int k) => isn + (uint)((k - 1) * Mss);

    private static TcpSackBlock Segs(uint isn, int first, int last) => new(Seg(isn, first), Seg(isn, last + 1));

    [Theory]
    [InlineData(1000u)]
    [InlineData(0xFFFF_EC78u)] // the ten segments straddle 2^32
    public void Segment_2_lost_is_declared_lost_once_three_segments_above_it_are_SACKed(uint isn)
    {
        uint una = Seg(isn, 2), nxt = Seg(isn, 11); // segment 1 acknowledged, 2..10 outstanding
        var sb = new SackScoreboard();
        sb.Reset(una);

        Assert.Equal(1000, sb.Update(una, nxt, [Segs(isn, 3, 3)]));
        Assert.False(sb.IsLost(Seg(isn, 2), Mss));
        Assert.Equal(1000, sb.Update(una, nxt, [Segs(isn, 3, 4)]));
        Assert.False(sb.IsLost(Seg(isn, 2), Mss)); // 2·MSS above: not more than (DupThresh − 1)·MSS
        Assert.False(sb.NextSeg(una, nxt, una, Mss, out _, out _, includeUnsacked: false));

        Assert.Equal(1000, sb.Update(una, nxt, [Segs(isn, 3, 5)]));
        Assert.True(sb.IsLost(Seg(isn, 2), Mss));
        Assert.True(sb.IsLost(Seg(isn, 2) + 999, Mss));
        Assert.False(sb.IsLost(Seg(isn, 3), Mss)); // SACKed data is not lost
        Assert.False(sb.IsLost(Seg(isn, 6), Mss)); // nothing SACKed above it
        Assert.True(sb.IsSacked(Seg(isn, 4) + 17));
        Assert.False(sb.IsSacked(Seg(isn, 2)));
        Assert.False(sb.IsSacked(Seg(isn, 6)));
        Assert.Equal(3000, sb.SackedBytes);
        Assert.Equal(Seg(isn, 6), sb.HighestSacked);
        Assert.Equal(1, sb.HoleCount);

        // Pipe: segment 2 is lost (not counted), 6..10 are in flight.
        Assert.Equal(5 * Mss, sb.Pipe(una, nxt, una, Mss));
        Assert.True(sb.NextSeg(una, nxt, una, Mss, out uint seq, out int len));
        Assert.Equal((Seg(isn, 2), Mss), (seq, len));

        // Segment 2 retransmitted: it is in flight again, and nothing is left for rules 1 and 3.
        uint highRxt = Seg(isn, 3);
        Assert.Equal(6 * Mss, sb.Pipe(una, nxt, highRxt, Mss));
        Assert.False(sb.NextSeg(una, nxt, highRxt, Mss, out _, out _));

        // Everything above segment 2 arrives.
        Assert.Equal(5000, sb.Update(una, nxt, [Segs(isn, 3, 10)]));
        Assert.Equal(1 * Mss, sb.Pipe(una, nxt, highRxt, Mss));
        Assert.Equal(8000, sb.SackedBytes);
        Assert.Equal(nxt, sb.HighestSacked);
        Assert.Equal(1, sb.RangeCount);

        // The retransmission is acknowledged: the cumulative ACK swallows the scoreboard.
        Assert.Equal(0, sb.Update(nxt, nxt, []));
        Assert.Equal(0, sb.SackedBytes);
        Assert.Equal(0, sb.HoleCount);
        Assert.Equal(nxt, sb.HighestSacked);
    }

    [Fact]
    public void Two_holes_are_retransmitted_lowest_first_and_rule_3_picks_unsacked_data_that_is_not_lost()
    {
        const uint isn = 1000;
        uint una = Seg(isn, 2), nxt = Seg(isn, 11);
        var sb = new SackScoreboard();
        sb.Reset(una);
        // Segments 2 and 5 lost.
        Assert.Equal(7000, sb.Update(una, nxt, [Segs(isn, 6, 10), Segs(isn, 3, 4)]));
        Assert.Equal(2, sb.HoleCount);
        Assert.True(sb.IsLost(Seg(isn, 2), Mss));
        Assert.True(sb.IsLost(Seg(isn, 5), Mss));
        Assert.Equal(0, sb.Pipe(una, nxt, una, Mss));

        Assert.True(sb.NextSeg(una, nxt, una, Mss, out uint seq, out int len));
        Assert.Equal((Seg(isn, 2), Mss), (seq, len));
        Assert.True(sb.NextSeg(una, nxt, Seg(isn, 3), Mss, out seq, out len));
        Assert.Equal((Seg(isn, 5), Mss), (seq, len));
        Assert.True(sb.NextSeg(una, nxt, Seg(isn, 2) + 400, Mss, out seq, out len)); // half-retransmitted hole
        Assert.Equal((Seg(isn, 2) + 400, 600), (seq, len));
        Assert.Equal(2 * Mss, sb.Pipe(una, nxt, Seg(isn, 6), Mss));

        // Only segments 3 and 4 above a hole at 2: not lost; rule 3 still offers it.
        var small = new SackScoreboard();
        small.Reset(una);
        small.Update(una, nxt, [Segs(isn, 3, 4)]);
        Assert.False(small.NextSeg(una, nxt, una, Mss, out _, out _, includeUnsacked: false));
        Assert.True(small.NextSeg(una, nxt, una, Mss, out seq, out len));
        Assert.Equal((Seg(isn, 2), Mss), (seq, len));
        Assert.Equal(7 * Mss, small.Pipe(una, nxt, una, Mss));
        Assert.Equal(8 * Mss, small.Pipe(una, nxt, Seg(isn, 3), Mss)); // retransmitted and not lost: counted twice
    }

    [Fact]
    public void Three_discontiguous_SACKed_ranges_make_a_hole_lost_whatever_their_size()
    {
        var sb = new SackScoreboard();
        sb.Reset(1000);
        sb.Update(1000, 20_000, [new(3000, 3100), new(3200, 3300), new(3400, 3500)]);
        Assert.Equal(3, sb.HoleCount);
        Assert.True(sb.IsLost(1000, Mss));     // three ranges above
        Assert.False(sb.IsLost(3100, Mss));    // two above, 200 bytes
        Assert.Equal(300, sb.SackedBytes);
    }

    [Fact]
    public void Adjacent_and_overlapping_blocks_merge_and_count_only_new_bytes()
    {
        var sb = new SackScoreboard();
        sb.Reset(0);
        Assert.Equal(100, sb.Update(0, 10_000, [new(100, 200)]));
        Assert.Equal(100, sb.Update(0, 10_000, [new(300, 400)]));
        Assert.Equal(100, sb.Update(0, 10_000, [new(200, 300)])); // bridges the two
        Assert.Equal(1, sb.RangeCount);
        Assert.Equal(new TcpSackBlock(100, 400), sb.GetRange(0));
        Assert.Equal(0, sb.Update(0, 10_000, [new(150, 350)]));
        Assert.Equal(150, sb.Update(0, 10_000, [new(50, 500)])); // 50 below, 100 above
        Assert.Equal(450, sb.SackedBytes);
        Assert.Equal(1, sb.HoleCount);
    }

    [Fact]
    public void A_first_block_below_snd_una_or_inside_another_is_a_DSACK()
    {
        var sb = new SackScoreboard();
        sb.Reset(1000);
        sb.Update(5000, 20_000, [new(3000, 4000), new(6000, 7000)]);
        Assert.True(sb.LastUpdateHadDsack);
        Assert.Equal(new TcpSackBlock(3000, 4000), sb.LastDsack);
        Assert.Equal(1000, sb.SackedBytes);

        Assert.Equal(1000, sb.Update(5000, 20_000, [new(6500, 7000), new(6000, 8000)]));
        Assert.True(sb.LastUpdateHadDsack);
        Assert.Equal(new TcpSackBlock(6500, 7000), sb.LastDsack);

        sb.Update(5000, 20_000, [new(9000, 9500)]);
        Assert.False(sb.LastUpdateHadDsack);
        Assert.Equal(2, sb.DsackCount);

        // A block inside another that is not the first is just a repeat, not a D-SACK.
        sb.Update(5000, 20_000, [new(9000, 9500), new(9100, 9200)]);
        Assert.False(sb.LastUpdateHadDsack);
    }

    [Fact]
    public void Blocks_outside_snd_una_to_snd_nxt_are_ignored_and_counted()
    {
        var sb = new SackScoreboard();
        sb.Reset(1000);
        Assert.Equal(0, sb.Update(1000, 5000, [new(6000, 7000)]));   // beyond snd.nxt
        Assert.Equal(0, sb.Update(1000, 5000, [new(3000, 2000)]));   // reversed (first block, not a D-SACK)
        Assert.Equal(500, sb.Update(1000, 5000, [new(4000, 4500), new(500, 1500)])); // the second block straddles snd.una
        Assert.Equal(500, sb.SackedBytes);
        Assert.Equal(3, sb.InvalidBlocks);
    }

    [Fact]
    public void The_cumulative_ACK_trims_and_drops_ranges_below_snd_una()
    {
        var sb = new SackScoreboard();
        sb.Reset(1000);
        sb.Update(1000, 20_000, [new(3000, 6000), new(8000, 9000)]);
        sb.Update(4000, 20_000, []);
        Assert.Equal(3000, sb.SackedBytes);
        Assert.Equal(new TcpSackBlock(4000, 6000), sb.GetRange(0));
        Assert.Equal(1, sb.HoleCount); // [6000, 8000); no hole at snd.una
        sb.Update(8500, 20_000, []);
        Assert.Equal(500, sb.SackedBytes);
        Assert.Equal(1, sb.RangeCount);
        sb.Reset(8500);
        Assert.Equal(0, sb.RangeCount);
        Assert.Equal(8500u, sb.HighestSacked);
    }

    [Fact]
    public void A_full_scoreboard_forgets_the_range_nearest_snd_una()
    {
        var sb = new SackScoreboard(capacity: 2);
        sb.Reset(0);
        sb.Update(0, 10_000, [new(1000, 1100), new(2000, 2100)]);
        Assert.Equal(100, sb.Update(0, 10_000, [new(3000, 3100)]));
        Assert.Equal(1, sb.Overflows);
        Assert.False(sb.IsSacked(1000));
        Assert.True(sb.IsSacked(3000));
        Assert.Equal(200, sb.SackedBytes);
        Assert.Equal(0, sb.Update(0, 10_000, [new(500, 600)])); // the new one is the lowest: forgotten
        Assert.Equal(2, sb.Overflows);
        Assert.Equal(3100u, sb.HighestSacked);
    }

    [Fact]
    public void Calls_allocate_nothing()
    {
        var sb = new SackScoreboard();
        Span<TcpSackBlock> blocks = stackalloc TcpSackBlock[3];
        void Run(Span<TcpSackBlock> blocks, int n)
        {
            uint una = 0xFFFF_0000;
            sb.Reset(una);
            for (int i = 0; i < n; i++)
            {
                uint nxt = una + 100_000;
                blocks[0] = new(una + 3000, una + 5000);
                blocks[1] = new(una + 7000, una + 9000);
                blocks[2] = new(una + 11_000, una + 12_000);
                sb.Update(una, nxt, blocks);
                sb.IsLost(una, Mss);
                sb.Pipe(una, nxt, una, Mss);
                sb.NextSeg(una, nxt, una, Mss, out _, out _);
                una += 1000;
            }
        }
        Run(blocks, 1000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(blocks, 100_000);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    // ---- against a bitmap model ----

    private const int Space = 400; // bytes outstanding: [base, base + Space)
    private const int ModelMss = 10;

    private sealed class Model
    {
        public readonly bool[] Sacked = new bool[Space];
        public int Una;

        public long Apply(int advance, (int l, int r)[] blocks, out bool dsack)
        {
            Una = Math.Min(Space, Una + advance);
            for (int i = 0; i < Una; i++) Sacked[i] = false;
            dsack = false;
            long added = 0;
            for (int i = 0; i < blocks.Length; i++)
            {
                var (l, r) = blocks[i];
                if (i == 0 && l < r)
                {
                    bool inside = false;
                    for (int j = 1; j < blocks.Length; j++)
                        if (blocks[j].l < blocks[j].r && blocks[j].l <= l && blocks[j].r >= r) inside = true;
                    if (l < Una || inside) { dsack = true; continue; }
                }
                if (l >= r || l < Una || r > Space) continue;
                for (int b = l; b < r; b++)
                    if (!Sacked[b]) { Sacked[b] = true; added++; }
            }
            return added;
        }

        public int Highest()
        {
            for (int b = Space - 1; b >= Una; b--) if (Sacked[b]) return b + 1;
            return Una;
        }

        public bool Lost(int b)
        {
            if (Sacked[b]) return false;
            int bytes = 0, runs = 0;
            for (int x = b + 1; x < Space; x++)
            {
                if (!Sacked[x]) continue;
                bytes++;
                if (!Sacked[x - 1]) runs++;
            }
            return runs >= SackScoreboard.DupThresh || bytes > (SackScoreboard.DupThresh - 1) * ModelMss;
        }

        public long Pipe(int highRxt)
        {
            long pipe = 0;
            for (int b = Una; b < Space; b++)
            {
                if (Sacked[b]) continue;
                if (!Lost(b)) pipe++;
                if (b < highRxt) pipe++;
            }
            return pipe;
        }

        public (bool found, int seq, int len) NextSeg(int highRxt, bool rule3)
        {
            int highest = Highest();
            for (int pass = 0; pass < (rule3 ? 2 : 1); pass++)
                for (int b = Math.Max(Una, highRxt); b < highest; b++)
                {
                    if (Sacked[b] || (pass == 0 && !Lost(b))) continue;
                    int end = b;
                    while (end < Space && !Sacked[end] && end - b < ModelMss) end++;
                    return (true, b, end - b);
                }
            return (false, 0, 0);
        }

        public int Holes()
        {
            int holes = 0, highest = Highest();
            for (int b = Una; b < highest; b++) if (!Sacked[b] && (b == Una || Sacked[b - 1])) holes++;
            return holes;
        }
    }

    private static readonly Gen<(int l, int r)> GenBlock =
        Gen.Select(Gen.Int[-20, Space + 20], Gen.Int[-5, 60]).Select((l, len) => (l, l + len));
    private static readonly Gen<(int advance, (int l, int r)[] blocks)> GenAck =
        Gen.Select(Gen.Frequency((3, Gen.Const(0)), (2, Gen.Int[0, 40])), GenBlock.Array[0, 4]);
    private static readonly Gen<uint> GenBase =
        Gen.Frequency((1, Gen.UInt), (1, Gen.UInt[0xFFFF_FE00, 0xFFFF_FFFF]), (1, Gen.Const(0u)));

    [Fact]
    public void Matches_a_bitmap_model_under_random_ACKs_anywhere_on_the_sequence_circle()
    {
        Gen.Select(GenBase, GenAck.Array[1, 25]).Sample((isn, acks) =>
        {
            var model = new Model();
            var sb = new SackScoreboard(capacity: 256);
            sb.Reset(isn);
            uint nxt = isn + Space;
            var blocks = new TcpSackBlock[4];
            foreach (var (advance, raw) in acks)
            {
                long expected = model.Apply(advance, raw, out bool dsack);
                for (int i = 0; i < raw.Length; i++) blocks[i] = new(isn + (uint)raw[i].l, isn + (uint)raw[i].r);
                uint una = isn + (uint)model.Una;
                Assert.Equal(expected, sb.Update(una, nxt, blocks.AsSpan(0, raw.Length)));
                Assert.Equal(dsack, sb.LastUpdateHadDsack);

                long sacked = 0;
                for (int b = model.Una; b < Space; b++)
                {
                    uint seq = isn + (uint)b;
                    Assert.Equal(model.Sacked[b], sb.IsSacked(seq));
                    if (model.Sacked[b]) sacked++;
                    Assert.Equal(model.Lost(b), sb.IsLost(seq, ModelMss));
                }
                Assert.Equal(sacked, sb.SackedBytes);
                Assert.Equal(isn + (uint)model.Highest(), sb.HighestSacked);
                Assert.Equal(model.Holes(), sb.HoleCount);

                foreach (int hr in new[] { model.Una, model.Una + 7, model.Una + 53, model.Highest(), Space })
                {
                    int highRxt = Math.Min(hr, Space);
                    uint rxt = isn + (uint)highRxt;
                    Assert.Equal(model.Pipe(highRxt), sb.Pipe(una, nxt, rxt, ModelMss));
                    foreach (bool rule3 in new[] { false, true })
                    {
                        var (found, mseq, mlen) = model.NextSeg(highRxt, rule3);
                        bool got = sb.NextSeg(una, nxt, rxt, ModelMss, out uint seq, out int len, rule3);
                        Assert.Equal(found, got);
                        if (found) Assert.Equal((isn + (uint)mseq, mlen), (seq, len));
                    }
                }
            }
        }, iter: 300);
    }
}
