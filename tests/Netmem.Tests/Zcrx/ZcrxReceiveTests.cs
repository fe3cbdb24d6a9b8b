using System.Security.Cryptography;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Sockets;
using Netmem.Stack.Tcp;
using Netmem.Zcrx;
using Netmem.Tests.DevmemRx;

namespace Netmem.Tests.Zcrx;

/// <summary>
/// Zero-copy receive into application memory over the VirtualNic pair: completions, the refill ring (wrap-around,
/// each kind of malformed entry), user references apart from pp references, the copy fallback, a large
/// transfer checked by hash. Every pool ends at inflight 0 (the env's Dispose).
/// </summary>
public sealed class ZcrxReceiveTests(ITestOutputHelper output)
{
    private static byte[] Pattern(int n, int seed) => DevmemReceiveTests.Pattern(n, seed);

    [Fact]
    public void Completions_carry_area_id_net_iov_index_and_offset_and_the_bytes_are_in_place()
    {
        using var env = new ZcrxTestEnv(areaPages: 1024);
        var (c, s) = env.Connect(env.Listen());
        var data = Pattern(1 << 20, 5);
        var hash = env.Transfer(c, s, data, out long completions);
        Assert.Equal(SHA256.HashData(data), hash);
        var st = env.Ifq.GetStats();
        output.WriteLine($"{completions} completions; {st}");
        Assert.Equal(data.Length, st.ZeroCopyBytes);          // header split put every payload byte in the area
        Assert.Equal(0, st.CopyBytes);
        Assert.Equal(completions, st.ZeroCopyCompletions);
        Assert.True(st.RefillPlacedInCache > 0, "returned buffers should go straight back into the pool's cache");
        Assert.Equal(0, st.RefillMalformed);
        var ring = env.Ifq.RefillRing;
        Assert.Equal(ring.Tail - ring.LoadHead(), env.Ifq.Area.TotalUserRefs); // a buffer's user reference goes when the pool takes its entry
        // The encoding: (area id << 48) | (net_iov index << 12) + offset in the page.
        var cq = new ZcrxCompletion(ZcrxCompletion.MakeOff(0, 77, 100), 1448);
        Assert.Equal((77ul << 12) + 100, cq.Off);
        Assert.Equal((0, 77L, 100), (cq.AreaId, cq.NetIovIndex, cq.PageOffset));
        Assert.Equal(5, new ZcrxCompletion(ZcrxCompletion.MakeOff(5, 1, 0), 1).AreaId);
        Assert.Equal(16, System.Runtime.CompilerServices.Unsafe.SizeOf<ZcrxRqe>());
        c.Dispose();
        s.Dispose();
    }

    [Fact]
    public void Returned_buffers_are_placed_in_the_cache_without_counting_them_held_twice()
    {
        using var env = new ZcrxTestEnv(areaPages: 512, rqEntries: 1024);
        var (c, s) = env.Connect(env.Listen());
        var data = Pattern(32 << 20, 6); // 16x the area: every buffer goes round many times
        Assert.Equal(SHA256.HashData(data), env.Transfer(c, s, data, out _));
        var st = env.Ifq.GetStats();
        var pool = env.Pool;
        output.WriteLine($"pool hold {pool.HoldCount} release {pool.ReleaseCount} inflight {pool.Inflight}; {st}");
        Assert.True(pool.HoldCount <= env.Ifq.Area.Count, $"the pool counted {pool.HoldCount} holds of a {env.Ifq.Area.Count}-buffer area");
        Assert.True(st.AllocFreelist <= env.Ifq.Area.Count);
        Assert.Equal(pool.HoldCount, st.AllocFreelist);
        Assert.True(st.RefillPlacedInCache > 4 * env.Ifq.Area.Count, $"{st.RefillPlacedInCache} placed in the cache");
        Assert.True(pool.Inflight <= env.Ifq.Area.Count);
        Assert.Equal(env.Ifq.Area.Count, env.Ifq.Area.FreeCount + pool.Inflight); // no buffer lost or counted twice
        c.Dispose();
        s.Dispose();
    }

    [Fact]
    public void The_refill_ring_wraps_around_its_slots_and_its_32_bit_indices()
    {
        using var env = new ZcrxTestEnv(areaPages: 512, rqEntries: 64);
        env.Ifq.StartRingAt(uint.MaxValue - 100); // the free-running indices cross 2^32 early in the transfer
        var (c, s) = env.Connect(env.Listen());
        var data = Pattern(8 << 20, 7);
        Assert.Equal(SHA256.HashData(data), env.Transfer(c, s, data, out long completions, batch: 16));
        var st = env.Ifq.GetStats();
        var ring = env.Ifq.RefillRing;
        output.WriteLine($"{completions} completions, ring {ring}; {st}");
        Assert.True(ring.Tail < 1_000_000, $"tail {ring.Tail} should have wrapped past 2^32");
        Assert.True(st.RefillEntries > 50 * ring.Entries, $"{st.RefillEntries} entries through an {ring.Entries}-slot ring");
        Assert.Equal(completions - (ring.Tail - ring.LoadHead()), st.RefillEntries); // all but what is still in the ring
        Assert.Equal(0, st.RefillMalformed);
        Assert.Equal(st.RefillEntries, st.RefillPlacedInCache + st.RefillReturnedElsewhere + st.RefillStillReferenced);
        Assert.True(st.RefillPlacedInCache > st.RefillEntries / 2, $"{st.RefillPlacedInCache} of {st.RefillEntries} placed in the cache");
        c.Dispose();
        s.Dispose();
    }

    [Fact]
    public void Each_kind_of_bad_refill_entry_is_counted_and_touches_no_buffer()
    {
        using var env = new ZcrxTestEnv(areaPages: 1024);
        var (c, s) = env.Connect(env.Listen());
        env.Send(c, Pattern(64 * 1024, 8));
        var held = new ZcrxCompletion[64];
        int n = 0;
        for (long got = 0; got < 64 * 1024;)
        {
            int k = env.Run(s.ReceiveZcrxAsync(env.Ifq, held.AsMemory(n)));
            for (int i = n; i < n + k; i++) got += held[i].Len;
            n += k;
        }
        var ifq = env.Ifq;
        int idx0 = (int)held[0].NetIovIndex;
        long pp0 = ifq.Area.NetIovs[idx0].PpRefCount;
        int notGiven = Enumerable.Range(0, ifq.Area.Count).First(i => ifq.Area.UserRefs(i) == 0);
        ZcrxRqe[] bad =
        [
            new(ZcrxCompletion.MakeOff(1, idx0, 0)),                          // bad area id
            new(held[0].Off | (1ul << 60)),                                   // bad area id (high bits)
            new(held[0].Off) { Pad = 1 },                                     // __pad set: refused with the area check
            new(ZcrxCompletion.MakeOff(0, ifq.Area.Count, 0)),                // index just past the area
            new((1ul << 47) | 5),                                             // index far past it
            new(ZcrxCompletion.MakeOff(0, notGiven, 0)),                      // never given to the user
        ];
        Assert.Equal(bad.Length, ifq.RefillRing.Post(bad));
        // A completion returned twice: the second is a buffer the user no longer holds.
        var twice = held[n - 1];
        ifq.Return(twice);
        ifq.Return(twice);
        // More traffic makes the pool refill from the ring.
        Assert.Equal(SHA256.HashData(Pattern(4 << 20, 9)), env.Transfer(c, s, Pattern(4 << 20, 9), out _));
        var st = ifq.GetStats();
        Assert.True(st.RefillEntries >= bad.Length + 2, $"{st.RefillEntries} entries consumed");
        output.WriteLine(st.ToString());
        Assert.Equal(3, st.RefillBadArea);
        Assert.Equal(2, st.RefillBadIndex);
        Assert.Equal(2, st.RefillNotHeld); // never given, and the double return
        Assert.Equal(7, st.RefillMalformed);
        // The buffers the user holds were not touched.
        Assert.Equal(1, ifq.Area.UserRefs(idx0));
        Assert.Equal(pp0, ifq.Area.NetIovs[idx0].PpRefCount);
        Assert.Equal(0, ifq.Area.UserRefs(notGiven));
        long at = 0;
        var data = Pattern(64 * 1024, 8);
        for (int i = 0; i < n - 1; i++)
        {
            Assert.True(ifq.GetPayload(held[i]).SequenceEqual(data.AsSpan((int)at, held[i].Len)));
            at += held[i].Len;
            ifq.Return(held[i]);
        }
        c.Dispose();
        s.Dispose();
    }

    [Fact]
    public void User_references_are_kept_apart_from_pp_references()
    {
        using var env = new ZcrxTestEnv(areaPages: 1024);
        var (c, s) = env.Connect(env.Listen());
        env.Send(c, Pattern(16 * 1024, 10));
        var comps = new ZcrxCompletion[64];
        int n = 0;
        for (long got = 0; got < 16 * 1024;)
        {
            int k = env.Run(s.ReceiveZcrxAsync(env.Ifq, comps.AsMemory(n)));
            for (int i = n; i < n + k; i++) got += comps[i].Len;
            n += k;
        }
        var area = env.Ifq.Area;
        var niov = area.NetIovs[(int)comps[0].NetIovIndex];
        int idx = niov.NetIovIndex;
        // The skb was freed when read: the only pp reference left is the one that goes with the user's reference.
        Assert.Equal(1, area.UserRefs(idx));
        Assert.Equal(1, niov.PpRefCount);
        Assert.Equal(0, area.NetIovs.Users); // get_netmem's area-wide count is untouched by zcrx
        // A get_netmem (a non-pp skb frag) counts elsewhere; the user reference stays as it was.
        niov.Get();
        Assert.Equal(1, area.NetIovs.Users);
        Assert.Equal(1, area.UserRefs(idx));
        Assert.Equal(1, niov.PpRefCount);
        niov.Put();
        // A pp reference taken by someone else (an skb clone) keeps the buffer out of the pool after the user's return.
        Netmem.Pool.PagePool.RefNetmem(niov);
        env.Ifq.Return(comps[0]);
        env.Ifq.Dispose(); // closed: the ring entry is processed at once
        Assert.Equal(0, area.UserRefs(idx));
        Assert.Equal(1, niov.PpRefCount);
        Assert.Equal(1, env.Ifq.GetStats().RefillStillReferenced);
        Assert.False(env.Ifq.IsFreed);
        Netmem.Pool.PagePool.NapiPpPutPage(niov); // the clone goes: now the pool gets it back
        Assert.Equal(0, niov.PpRefCount);
        for (int i = 1; i < n; i++) env.Ifq.Return(comps[i]);
        Assert.True(env.Ifq.IsFreed);
        c.Dispose();
        s.Dispose();
    }

    [Fact]
    public void Data_that_landed_on_another_queue_is_copied_into_the_area_and_counted()
    {
        using var env = new ZcrxTestEnv(areaPages: 1024);
        const ushort Other = 5202;
        env.Net.Pair.B.AddNtupleRule(new Netmem.Devices.NtupleRule { Location = 2, FlowType = Netmem.Devices.NtupleFlowType.Tcp4, DstPort = Other, Action = 0 });
        var (c, s) = env.Connect(env.Listen(Other), Other);
        var data = Pattern(2 << 20, 11);
        Assert.Equal(SHA256.HashData(data), env.Transfer(c, s, data, out long completions));
        var st = env.Ifq.GetStats();
        output.WriteLine($"{completions} completions; {st}");
        Assert.Equal(data.Length, st.CopyPageFragBytes); // host pages of queue 0: all copied
        Assert.Equal(0, st.CopyLinearBytes);
        Assert.Equal(0, st.ZeroCopyBytes);
        Assert.Equal(completions, st.CopyCompletions);
        var ring = env.Ifq.RefillRing;
        Assert.Equal(completions - (ring.Tail - ring.LoadHead()), st.RefillReturnedElsewhere); // copy buffers go to the freelist, not to a pool
        Assert.Equal(0, st.RefillMalformed);
        c.Dispose();
        s.Dispose();
    }

    [Fact]
    public void Bytes_in_the_skb_head_are_copied_page_by_page_with_enospc_and_enomem_when_they_cannot_be()
    {
        using var env = new ZcrxTestEnv(areaPages: 1024); // the queue's pool holds a few hundred; the copies take from the rest
        var arena = new PageArena(new PageArenaOptions { PageCount = 64 });
        var cache = new SkbCache(new SkbCacheOptions { Arena = arena });
        var rq = new TcpReceiveQueue();
        var data = Pattern(10000, 12);
        var skb = cache.Alloc(data.Length)!;
        skb.PutData(data); // a packet that was not header split: all of it in the head
        rq.Enqueue(skb);
        var comps = new ZcrxCompletion[8];

        var one = new TcpZcrxActor(env.Ifq, comps.AsSpan(0, 1));
        Assert.Equal(4096, rq.Read(ref one, int.MaxValue, out var err)); // room for one completion: one page
        Assert.Equal(Errno.None, err);
        var all = new TcpZcrxActor(env.Ifq, comps.AsSpan(1));
        Assert.Equal(data.Length - 4096, rq.Read(ref all, int.MaxValue, out err));
        Assert.Equal(2, all.Count);
        Assert.Equal([4096, 4096, 1808], comps[..3].Select(x => x.Len));
        long at = 0;
        foreach (var cq in comps[..3])
        {
            Assert.Equal(0, cq.PageOffset);
            Assert.True(env.Ifq.GetPayload(cq).SequenceEqual(data.AsSpan((int)at, cq.Len)));
            at += cq.Len;
        }
        var first = comps[..3];
        var st = env.Ifq.GetStats();
        Assert.Equal(data.Length, st.CopyLinearBytes);
        Assert.Equal(3, st.CopyCompletions);
        var none = new TcpZcrxActor(env.Ifq, Span<ZcrxCompletion>.Empty);
        var skb2 = cache.Alloc(100)!;
        skb2.PutData(data.AsSpan(0, 100));
        rq.Enqueue(skb2);
        Assert.Equal(0, rq.Read(ref none, int.MaxValue, out err));
        Assert.Equal(Errno.ENOSPC, err);

        // Take every free buffer: a copy then fails with ENOMEM and consumes nothing.
        var hoard = new List<ZcrxCompletion>();
        while (env.Ifq.Area.FreeCount > 0)
        {
            var s1 = cache.Alloc(1)!;
            s1.PutData(data.AsSpan(0, 1));
            var q1 = new TcpReceiveQueue();
            q1.Enqueue(s1);
            var a1 = new TcpZcrxActor(env.Ifq, comps.AsSpan(0, 1));
            Assert.Equal(1, q1.Read(ref a1, int.MaxValue, out _));
            hoard.Add(comps[0]);
        }
        var starved = new TcpZcrxActor(env.Ifq, comps);
        Assert.Equal(0, rq.Read(ref starved, int.MaxValue, out err));
        Assert.Equal(Errno.ENOMEM, err);
        Assert.Equal(100, rq.Bytes);
        Assert.Equal(1, env.Ifq.GetStats().CopyNoMemory);
        foreach (var h in hoard) env.Ifq.Return(h);
        var again = new TcpZcrxActor(env.Ifq, comps);
        Assert.Equal(100, rq.Read(ref again, int.MaxValue, out err));
        Assert.True(env.Ifq.GetPayload(comps[0]).SequenceEqual(data.AsSpan(0, 100)));
        env.Ifq.Return(comps[0]);
        rq.Purge();
        foreach (var f in first) env.Ifq.Return(f);
        var ring = env.Ifq.RefillRing;
        Assert.Equal(ring.Tail - ring.LoadHead(), env.Ifq.Area.TotalUserRefs); // each held until the ring's entry is taken
        Assert.Equal(0, cache.LiveSkbs);
        cache.Dispose();
        Assert.Equal(arena.TotalPages, arena.FreePages);
        arena.Dispose();
    }

    [Fact]
    public async Task Leases_expose_the_payload_in_place_and_dispose_into_the_refill_ring()
    {
        using var env = new ZcrxTestEnv(areaPages: 1024);
        var (c, s) = env.Connect(env.Listen());
        var data = Pattern(1 << 20, 13);
        var sending = c.SendAsync(data);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long got = 0, leases = 0;
        using var stop = new CancellationTokenSource();
        var polling = Task.Run(() => { while (!stop.IsCancellationRequested) { if (env.Net.Poll() == 0) env.Net.Advance(TimeSpan.FromMilliseconds(1)); } });
        await using (var e = s.ReceiveZcrxLeasesAsync(env.Ifq).GetAsyncEnumerator())
        {
            while (got < data.Length && await e.MoveNextAsync())
            {
                using var lease = e.Current;
                if (!lease.Span.SequenceEqual(data.AsSpan((int)got, lease.Length))) Assert.Fail($"lease differs at {got}");
                hash.AppendData(lease.Span);
                got += lease.Length;
                leases++;
            }
        }
        stop.Cancel();
        await polling;
        Assert.Equal(data.Length, await sending);
        Assert.Equal(SHA256.HashData(data), hash.GetHashAndReset());
        output.WriteLine($"{leases} leases; {env.Ifq.GetStats()}");
        Assert.Equal(leases, env.Ifq.GetStats().ZeroCopyCompletions);
        var ring = env.Ifq.RefillRing;
        Assert.Equal(ring.Tail - ring.LoadHead(), env.Ifq.Area.TotalUserRefs); // every lease's Dispose posted its buffer
        c.Dispose();
        s.Dispose();
    }
}
