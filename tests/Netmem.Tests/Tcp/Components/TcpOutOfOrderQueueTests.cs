using System.IO.Hashing;
using CsCheck;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Stack.Tcp;
using Netmem.Tests.Skb;
using Netmem.Wire;

namespace Netmem.Tests.Tcp.Components;

/// <summary>
/// The out-of-order queue over real skbs: payload partly in the head and partly in page_pool frags (or net_iov
/// frags), every byte checked after reassembly, every page and skb back at the end.
/// </summary>
public sealed class TcpOutOfOrderQueueTests
{
    /// <summary>
    /// An skb holding <c>stream[off .. off + len)</c>: up to <paramref name="inHead"/> bytes in the linear head,
    /// the rest in page_pool frags of at most <paramref name="fragMax"/> bytes.
    /// </summary>
    private static SkBuff Segment(SkbTestEnv env, byte[] stream, int off, int len, int inHead = 16, int fragMax = 128)
    {
        int h = Math.Min(inHead, len);
        var skb = env.Cache.NapiAlloc(Math.Max(h, 1))!;
        stream.AsSpan(off, h).CopyTo(skb.Put(h));
        skb.MarkForRecycle();
        for (int at = off + h; at < off + len;)
        {
            int n = Math.Min(fragMax, off + len - at);
            var page = env.Pool.AllocNetmem();
            Assert.False(page.IsNull);
            stream.AsSpan(at, n).CopyTo(page.GetSpan(32, n));
            skb.AddRxFragNetmem(page, 32, n, PageArena.PageSize);
            at += n;
        }
        Assert.Equal(len, skb.Len);
        return skb;
    }

    private static byte[] Stream(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Fact]
    public void Out_of_order_segments_come_out_in_order_byte_for_byte()
    {
        var env = new SkbTestEnv(); // disposed (and checked) at the end: a failed assert is not masked by a leak report
        var stream = Stream(1000, 1);
        const uint isn = 0xFFFF_FE00; // the stream crosses 2^32
        var q = new TcpOutOfOrderQueue();
        // Segments of 200 bytes arrive 3, 1, 4, 2 (0 is the hole).
        foreach (int k in new[] { 3, 1, 4, 2 }) Assert.True(q.Insert(isn + (uint)(k * 200), Segment(env, stream, k * 200, 200)));
        Assert.Equal(4, q.Count);
        Assert.Equal(800, q.Bytes);
        Assert.False(q.TryTakeInOrder(isn, out _, out _));

        // The engine delivered segment 0 itself; now the queue drains.
        uint rcvNxt = isn + 200;
        var got = new byte[1000];
        stream.AsSpan(0, 200).CopyTo(got);
        while (q.TryTakeInOrder(rcvNxt, out uint seq, out var skb))
        {
            Assert.Equal(rcvNxt, seq);
            skb.CopyBits(0, got.AsSpan((int)(seq - isn), skb.Len));
            rcvNxt += (uint)skb.Len;
            skb.Free();
        }
        Assert.Equal(unchecked(isn + 1000), rcvNxt);
        Assert.Equal(XxHash3.HashToUInt64(stream), XxHash3.HashToUInt64(got));
        Assert.Equal(stream, got);
        Assert.Equal(0, q.Count);
        Assert.Equal(0, q.Bytes);
        Assert.Equal(0, q.DuplicateBytes);
        Assert.Equal(0, env.Cache.LiveSkbs);
        env.Dispose();
    }

    [Fact]
    public void Overlaps_keep_queued_data_trim_the_new_segment_and_count_duplicates()
    {
        var env = new SkbTestEnv(); // disposed (and checked) at the end: a failed assert is not masked by a leak report
        var stream = Stream(2000, 2);
        var q = new TcpOutOfOrderQueue();
        const uint isn = 5000;
        Assert.True(q.Insert(isn + 100, Segment(env, stream, 100, 200)));  // [100, 300)
        Assert.True(q.Insert(isn + 500, Segment(env, stream, 500, 200)));  // [500, 700)

        // Wholly inside queued data: freed, all duplicate.
        Assert.False(q.Insert(isn + 150, Segment(env, stream, 150, 100)));
        Assert.Equal(100, q.DuplicateBytes);
        Assert.Equal(new TcpSackBlock(isn + 150, isn + 250), q.LastInsertDuplicate);

        // [250, 550): its front (in the head and the first frag) and its tail are trimmed.
        Assert.True(q.Insert(isn + 250, Segment(env, stream, 250, 300)));
        Assert.Equal(100 + 50 + 50, q.DuplicateBytes);
        Assert.Equal(new TcpSackBlock(isn + 250, isn + 300), q.LastInsertDuplicate);
        Assert.Equal(3, q.Count);
        Assert.Equal(600, q.Bytes);

        // [50, 800) covers everything queued: the queued segments are freed, their bytes were repeats.
        Assert.True(q.Insert(isn + 50, Segment(env, stream, 50, 750)));
        Assert.Equal(200 + 600, q.DuplicateBytes);
        Assert.Equal(1, q.Count);
        Assert.Equal(750, q.Bytes);

        // Data below rcv.nxt comes off the front when taken.
        Assert.True(q.TryTakeInOrder(isn + 120, out uint seq, out var skb));
        Assert.Equal(isn + 120, seq);
        Assert.Equal(680, skb.Len);
        Assert.Equal(stream[120..800], SkbTestEnv.Bytes(skb));
        Assert.Equal(800 + 70, q.DuplicateBytes);
        skb.Free();
        Assert.Equal(0, env.Cache.LiveSkbs);
        env.Dispose();
    }

    [Fact]
    public void Segments_wholly_below_rcv_nxt_are_freed_on_take()
    {
        var env = new SkbTestEnv(); // disposed (and checked) at the end: a failed assert is not masked by a leak report
        var stream = Stream(600, 3);
        var q = new TcpOutOfOrderQueue();
        q.Insert(100, Segment(env, stream, 100, 100));
        q.Insert(300, Segment(env, stream, 300, 100));
        Assert.True(q.TryTakeInOrder(350, out uint seq, out var skb));
        Assert.Equal(350u, seq);
        Assert.Equal(stream[350..400], SkbTestEnv.Bytes(skb));
        skb.Free();
        Assert.Equal(100 + 50, q.DuplicateBytes);
        Assert.Equal(0, q.Count);
    }

    [Fact]
    public void Sack_blocks_list_the_most_recently_received_block_first_then_by_recency()
    {
        var env = new SkbTestEnv(); // disposed (and checked) at the end: a failed assert is not masked by a leak report
        var stream = Stream(2000, 4);
        var q = new TcpOutOfOrderQueue();
        Span<TcpSackBlock> blocks = stackalloc TcpSackBlock[4];
        Assert.Equal(0, q.FillSackBlocks(blocks, 4));

        q.Insert(1100, Segment(env, stream, 100, 100)); // A [1100, 1200)
        q.Insert(1300, Segment(env, stream, 300, 100)); // B [1300, 1400)
        q.Insert(1500, Segment(env, stream, 500, 100)); // C [1500, 1600)
        Assert.Equal(3, q.FillSackBlocks(blocks, 4));
        Assert.Equal([new(1500, 1600), new(1300, 1400), new(1100, 1200)], blocks[..3].ToArray());

        q.Insert(1200, Segment(env, stream, 200, 100)); // joins A and B: the A+B block is now the newest
        Assert.Equal(2, q.FillSackBlocks(blocks, 4));
        Assert.Equal([new(1100, 1400), new(1500, 1600)], blocks[..2].ToArray());

        q.Insert(1700, Segment(env, stream, 700, 100)); // D
        q.Insert(1900, Segment(env, stream, 900, 100)); // E
        q.Insert(1500, Segment(env, stream, 500, 50));  // a repeat inside C: not a new arrival
        q.Insert(2100, Segment(env, stream, 1100, 100)); // F
        Assert.Equal(3, q.FillSackBlocks(blocks, 3)); // at most max
        Assert.Equal([new(2100, 2200), new(1900, 2000), new(1700, 1800)], blocks[..3].ToArray());
        Assert.Equal(2, q.FillSackBlocks(blocks[..2], 4)); // at most the span
        Assert.Equal(7, q.Count);
        q.Purge();
        Assert.Equal(0, q.Count);
        Assert.Equal(0, q.Bytes);
        Assert.Equal(0, env.Cache.LiveSkbs);
        env.Dispose();
    }

    [Fact]
    public void A_full_queue_drops_the_segment_farthest_from_rcv_nxt()
    {
        var env = new SkbTestEnv(); // disposed (and checked) at the end: a failed assert is not masked by a leak report
        var stream = Stream(1000, 5);
        var q = new TcpOutOfOrderQueue(capacity: 2);
        q.Insert(200, Segment(env, stream, 200, 100));
        q.Insert(600, Segment(env, stream, 600, 100));
        Assert.False(q.Insert(800, Segment(env, stream, 800, 100))); // the farthest: dropped itself
        Assert.Equal(1, q.Drops);
        Assert.True(q.Insert(400, Segment(env, stream, 400, 100)));  // nearer: the one at 600 goes
        Assert.Equal(2, q.Drops);
        Assert.Equal(500u, q.LastEnd);
        Assert.Equal(200u, q.FirstSeq);
        q.Purge();
        Assert.Equal(0, env.Cache.LiveSkbs);
        env.Dispose();
    }

    [Fact]
    public void Unreadable_segments_are_trimmed_without_touching_their_payload()
    {
        var env = new SkbTestEnv(); // disposed (and checked) at the end: a failed assert is not masked by a leak report
        SkBuff Dev(int head, params int[] frags)
        {
            var skb = env.Cache.NapiAlloc(Math.Max(head, 1))!;
            skb.Put(head).Fill(0xAB);
            skb.MarkForRecycle();
            foreach (int f in frags) skb.AddRxFragNetmem(env.DevPool.AllocNetmem(), 0, f, PageArena.PageSize);
            Assert.True(skb.Unreadable);
            return skb;
        }
        var q = new TcpOutOfOrderQueue();
        Assert.True(q.Insert(1000, Dev(10, 500, 500)));   // [1000, 2010)
        // [1500, 3000): the first 510 bytes (all 20 head bytes, a whole frag and 10 more) are trimmed.
        var s = Dev(20, 300, 200, 980);
        Assert.True(q.Insert(1500, s));
        Assert.Equal(510, q.DuplicateBytes);
        Assert.Equal(1010 + 990, q.Bytes);
        // [3500, 4000) then [3000, 3600): a tail trim.
        Assert.True(q.Insert(3500, Dev(0, 500)));
        Assert.True(q.Insert(3000, Dev(50, 550)));
        Assert.Equal(510 + 100, q.DuplicateBytes);

        uint rcvNxt = 1200; // the engine had [1000, 1200) in order already
        long taken = 0;
        while (q.TryTakeInOrder(rcvNxt, out uint seq, out var skb))
        {
            Assert.Equal(rcvNxt, seq);
            Assert.True(skb.Unreadable);
            Assert.Throws<NetmemException>(() => skb.CopyBits(0, new byte[skb.Len])); // really device memory
            rcvNxt += (uint)skb.Len;
            taken += skb.Len;
            skb.Free();
        }
        Assert.Equal(4000u, rcvNxt);
        Assert.Equal(2800, taken);
        Assert.Equal(0, q.Count);
        Assert.Equal(0, env.Cache.LiveSkbs);
        env.Dispose();
    }

    [Fact]
    public void Head_trim_reaches_into_the_frag_list_and_leaves_clones_and_other_users_alone()
    {
        var env = new SkbTestEnv(); // disposed (and checked) at the end: a failed assert is not masked by a leak report
        var p = env.PoolSkb(52, 1000);
        for (int i = 0; i < 2; i++)
        {
            var s = env.PoolSkb(52, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32);
            Assert.Equal(Errno.None, SkbGro.Receive(p, s, 52, out var how));
            env.Cache.FreeAfterGro(s, how);
        }
        Assert.True(p.HasFragList);
        var bytes = SkbTestEnv.Bytes(p);
        var clone = p.Clone();
        var user = p.Get();

        int cut = 52 + 1000 + 392 + 100; // past the head, all frags, and into the frag_list
        var t = p;
        Assert.True(SkBuff.TrimHead(ref t, cut));
        Assert.NotSame(p, t); // p had another user: the trim happened on a private clone
        Assert.Equal(bytes[cut..], SkbTestEnv.Bytes(t));
        Assert.Equal(bytes, SkbTestEnv.Bytes(user));
        Assert.Equal(bytes, SkbTestEnv.Bytes(clone));

        var c = clone;
        Assert.True(SkBuff.TrimTail(ref c, 700));
        Assert.Equal(bytes[..700], SkbTestEnv.Bytes(c));
        Assert.True(SkBuff.TrimHead(ref c, 600)); // head and frag only
        Assert.Equal(bytes[600..700], SkbTestEnv.Bytes(c));
        Assert.Equal(bytes, SkbTestEnv.Bytes(user));

        t.Free();
        c.Free();
        user.Free();
        Assert.Equal(0, env.Cache.LiveSkbs);
        env.Dispose();
    }

    // ---- random arrival orders ----

    private static readonly Gen<(int off, int len)> GenExtra = Gen.Select(Gen.Int[0, 1499], Gen.Int[1, 300]);

    [Fact]
    public void Any_arrival_order_with_repeats_and_overlaps_reassembles_the_stream()
    {
        Gen.Select(
            Gen.Frequency((1, Gen.UInt), (1, Gen.UInt[0xFFFF_FA00, 0xFFFF_FFFF])),
            Gen.Int[1, 200].Array[30],
            GenExtra.Array[0, 12],
            Gen.Int,
            Gen.Int[0, 40]).Sample((isn, lengths, extras, seed, inHead) =>
        {
            var env = new SkbTestEnv(pages: 1024); // disposed (and checked) at the end: a failed assert is not masked by a leak report
            const int n = 1500;
            var stream = Stream(n, seed);
            // Cover the stream with segments of the generated lengths, then add repeats and overlaps.
            var segs = new List<(int off, int len)>();
            for (int off = 0, k = 0; off < n; k++)
            {
                int len = Math.Min(lengths[k % lengths.Length], n - off);
                segs.Add((off, len));
                off += len;
            }
            foreach (var (off, len) in extras) segs.Add((off, Math.Min(len, n - off)));
            var rnd = new Random(seed);
            var order = segs.ToArray();
            rnd.Shuffle(order);

            var q = new TcpOutOfOrderQueue();
            var got = new byte[n];
            var received = new bool[n];
            uint rcvNxt = isn;
            long inserted = 0, delivered = 0;
            Span<TcpSackBlock> blocks = stackalloc TcpSackBlock[64];
            foreach (var (off, len) in order)
            {
                inserted += len;
                int deliveredTo = (int)(rcvNxt - isn);
                // The queue knows nothing of rcv.nxt: bytes below it are queued again (and dropped on take).
                bool fresh = false;
                for (int b = off; b < off + len; b++) fresh |= b < deliveredTo || !received[b];
                for (int b = off; b < off + len; b++) received[b] = true;
                bool queued = q.Insert(isn + (uint)off, Segment(env, stream, off, len, inHead, 64));
                Assert.Equal(fresh, queued);

                if (queued && off >= deliveredTo)
                {
                    // The block holding the newest segment comes first.
                    Assert.True(q.FillSackBlocks(blocks, 4) >= 1);
                    Assert.True(SeqNum.Le(blocks[0].Left, isn + (uint)off) && SeqNum.Ge(blocks[0].Right, isn + (uint)(off + len)));
                }

                while (q.TryTakeInOrder(rcvNxt, out uint seq, out var skb))
                {
                    Assert.Equal(rcvNxt, seq);
                    skb.CopyBits(0, got.AsSpan((int)(seq - isn), skb.Len));
                    rcvNxt += (uint)skb.Len;
                    delivered += skb.Len;
                    skb.Free();
                }

                // Once drained, all blocks together are exactly the received data above rcv.nxt, as maximal runs.
                deliveredTo = (int)(rcvNxt - isn);
                int count = q.FillSackBlocks(blocks, 64);
                int runs = 0;
                for (int b = deliveredTo; b < n; b++)
                {
                    if (!received[b] || (b > deliveredTo && received[b - 1])) continue;
                    int e = b;
                    while (e < n && received[e]) e++;
                    runs++;
                    bool listed = false;
                    for (int i = 0; i < count; i++) listed |= blocks[i] == new TcpSackBlock(isn + (uint)b, isn + (uint)e);
                    Assert.True(listed, $"run [{b}, {e}) missing from the SACK blocks");
                }
                Assert.Equal(runs, count);
            }
            Assert.Equal(isn + n, rcvNxt);
            Assert.Equal(n, delivered);
            Assert.Equal(inserted - n, q.DuplicateBytes); // every byte delivered once or counted as a repeat
            Assert.Equal(0, q.Count);
            Assert.Equal(0, q.Drops);
            Assert.Equal(XxHash128.HashToUInt128(stream), XxHash128.HashToUInt128(got));
            Assert.Equal(0, env.Cache.LiveSkbs);
            env.Dispose();
        }, iter: 60);
    }

    [Fact]
    public void Insert_take_and_sack_allocate_nothing_after_warm_up()
    {
        var env = new SkbTestEnv(); // disposed (and checked) at the end: a failed assert is not masked by a leak report
        var q = new TcpOutOfOrderQueue();
        var blocks = new TcpSackBlock[4];
        // Skbs are made outside the measured region (the test's own frags and pages are not the queue's cost).
        var skbs = new SkBuff[64];
        void Run(bool measure)
        {
            for (int i = 0; i < skbs.Length; i++)
            {
                var s = env.Cache.NapiAlloc(64)!;
                s.Put(40);
                s.MarkForRecycle();
                s.AddRxFragNetmem(env.Pool.AllocNetmem(), 0, 60, PageArena.PageSize);
                skbs[i] = s;
            }
            long before = GC.GetAllocatedBytesForCurrentThread();
            uint rcvNxt = 0xFFFF_FF00;
            for (int i = skbs.Length - 1; i >= 1; i--) q.Insert(rcvNxt + (uint)(i * 90), skbs[i]); // 100-byte segments, 10 overlap
            q.FillSackBlocks(blocks, 4);
            q.Insert(rcvNxt, skbs[0]);
            while (q.TryTakeInOrder(rcvNxt, out _, out var skb))
            {
                rcvNxt += (uint)skb.Len;
                skb.Free();
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (measure) Assert.Equal(0, allocated);
            Assert.Equal(0, q.Count);
        }
        Run(false);
        Run(true);
        Assert.Equal(0, env.Cache.LiveSkbs);
        env.Dispose();
    }
}
