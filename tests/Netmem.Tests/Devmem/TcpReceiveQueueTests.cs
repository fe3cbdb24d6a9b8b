using Netmem.Memory;
using Netmem.Skb;
using Netmem.Sockets;
using Netmem.Stack.Tcp;

namespace Netmem.Tests.DevmemRx;

/// <summary>
/// The receive queue and its read actors on hand-built skbs: readable heads, net_iov frags in device
/// memory, frag_lists. Every reference is accounted: the area's user count is what tokens and leases hold.
/// </summary>
public sealed class TcpReceiveQueueTests : IDisposable
{
    private readonly PageArena _arena = new(new PageArenaOptions { PageCount = 256 });
    private readonly SkbCache _cache;
    private readonly DeviceMemory _mem = new(256 * 4096, "test-hbm");
    private readonly NetIovArea _area;
    private int _nextNiov;

    public TcpReceiveQueueTests()
    {
        _cache = new SkbCache(new SkbCacheOptions { Arena = _arena });
        _area = NetIovArea.Create(NetIovType.Dmabuf, _mem, 0, 256);
        _area.DmabufId = 9;
    }

    public void Dispose()
    {
        Assert.Equal(0, _area.Users); // every net_iov reference (skb frags, tokens, leases) was dropped
        Assert.Equal(0, _cache.LiveSkbs);
        _area.Dispose();
        _cache.Dispose();
        Assert.Equal(_arena.TotalPages, _arena.FreePages);
        _arena.Dispose();
        _mem.Dispose();
    }

    private static byte[] Bytes(int n, int seed) => DevmemReceiveTests.Pattern(n, seed);

    private SkBuff Readable(ReadOnlySpan<byte> data)
    {
        var skb = _cache.Alloc(data.Length)!;
        skb.PutData(data);
        return skb;
    }

    /// <summary>An skb with <paramref name="head"/> linear bytes and the rest in net_iov frags (what a device with header split builds).</summary>
    private SkBuff Unreadable(ReadOnlySpan<byte> data, int head, int fragSize = 4096)
    {
        var skb = _cache.Alloc(Math.Max(head, 1))!;
        skb.PutData(data[..head]);
        for (int off = head; off < data.Length; off += fragSize)
        {
            int n = Math.Min(fragSize, data.Length - off);
            var niov = _area[_nextNiov++ % _area.Count];
            niov.Get();
            int at = 100; // frags need not start at the net_iov's first byte
            _mem.CopyFromHost((long)niov.NetIovIndex * 4096 + at, data.Slice(off, Math.Min(n, 4096 - at)));
            n = Math.Min(n, 4096 - at);
            skb.AddRxFragNetmem(niov, at, n, 4096);
            off += n - fragSize; // advance by what fitted
        }
        Assert.True(skb.Unreadable);
        return skb;
    }

    /// <summary>Chains <paramref name="members"/> as <paramref name="root"/>'s frag_list, as reassembly does.</summary>
    private static SkBuff Chain(SkBuff root, params SkBuff[] members)
    {
        SkBuff? prev = null;
        foreach (var m in members)
        {
            if (prev is null) root.Shinfo.FragList = m; else prev.Next = m;
            prev = m;
            root.LenField += m.Len;
            root.DataLenField += m.Len;
            if (m.AnyUnreadable) root.Unreadable = true;
        }
        return root;
    }

    private byte[] Device(in DmabufCmsg c)
    {
        var b = new byte[c.FragSize];
        _mem.CopyToHost((long)c.FragOffset, b);
        return b;
    }

    /// <summary>Checks records against the stream from <paramref name="pos"/>; returns the bytes they cover.</summary>
    private int CheckRecords(byte[] stream, int pos, ReadOnlySpan<DevmemCmsg> recs, ReadOnlySpan<byte> linear, DevmemTokenTable tokens, List<uint> held)
    {
        int n = 0, lin = 0;
        foreach (var r in recs)
        {
            int size = (int)r.Data.FragSize;
            if (r.IsLinear) { Assert.Equal(stream.AsSpan(pos + n, size).ToArray(), linear.Slice(lin, size).ToArray()); lin += size; }
            else
            {
                Assert.Equal(9u, r.Data.DmabufId);
                Assert.Equal(stream.AsSpan(pos + n, size).ToArray(), Device(r.Data));
                held.Add(r.Data.FragToken);
            }
            n += size;
        }
        Assert.True(tokens.Outstanding >= held.Count);
        return n;
    }

    [Fact]
    public void A_copy_returns_the_readable_bytes_before_device_memory_then_fails_with_EFAULT_and_devmem_gets_the_rest()
    {
        var stream = Bytes(1000 + 9000, 1);
        var q = new TcpReceiveQueue();
        q.Enqueue(Readable(stream.AsSpan(0, 1000)));
        q.Enqueue(Unreadable(stream.AsSpan(1000), head: 0));
        var buf = new byte[20_000];
        var copy = new TcpCopyActor(buf);
        Assert.Equal(1000, q.Read(ref copy, buf.Length, out var err)); // the readable part comes first
        Assert.Equal(Errno.EFAULT, err); // what stopped it (the connection reports it only for a read that got nothing)
        Assert.Equal(stream.AsSpan(0, 1000).ToArray(), buf.AsSpan(0, 1000).ToArray());
        copy = new TcpCopyActor(buf);
        Assert.Equal(0, q.Read(ref copy, buf.Length, out err));
        Assert.Equal(Errno.EFAULT, err);
        Assert.Equal(9000, q.Bytes); // nothing lost

        var tokens = new DevmemTokenTable();
        var recs = new DevmemCmsg[16];
        var linear = new byte[1024];
        var devmem = new TcpDevmemActor(linear, recs, tokens);
        Assert.Equal(9000, q.Read(ref devmem, int.MaxValue, out err));
        Assert.True(q.IsEmpty);
        Assert.Equal(0, _cache.LiveSkbs); // the skb is freed once read: tokens pin only their net_iovs
        var held = new List<uint>();
        Assert.Equal(9000, CheckRecords(stream, 1000, recs.AsSpan(0, devmem.Records), linear, tokens, held));
        Assert.Equal(held.Count, (int)_area.Users);
        Assert.Equal(held.Count, tokens.Release([new DmabufToken(1, (uint)held.Count)]));
        Assert.Equal(0, _area.Users);
    }

    [Fact]
    public void Devmem_records_follow_the_frag_list_in_stream_order_and_a_full_record_buffer_splits_the_read()
    {
        var stream = Bytes(100 + 3000 + 50 + 4000 + 2000, 2);
        var root = Unreadable(stream.AsSpan(0, 3100), head: 100);
        var m1 = Unreadable(stream.AsSpan(3100, 4050), head: 50);
        var m2 = Unreadable(stream.AsSpan(7150, 2000), head: 0);
        var q = new TcpReceiveQueue();
        q.Enqueue(Chain(root, m1, m2));
        var tokens = new DevmemTokenTable();
        var held = new List<uint>();
        var linear = new byte[4096];
        int pos = 0;
        var kinds = new List<int>();
        while (!q.IsEmpty)
        {
            var recs = new DevmemCmsg[2]; // two records a call: the walk stops inside the chain and resumes there
            var devmem = new TcpDevmemActor(linear, recs, tokens);
            int n = q.Read(ref devmem, int.MaxValue, out var err);
            Assert.Equal(Errno.None, err);
            Assert.True(n > 0);
            Assert.Equal(n, CheckRecords(stream, pos, recs.AsSpan(0, devmem.Records), linear, tokens, held));
            kinds.AddRange(recs.Take(devmem.Records).Select(r => r.Type));
            pos += n;
        }
        Assert.Equal(stream.Length, pos);
        // linear 100, the root's frag, m1's 50 linear bytes, m1's frag, m2's frag (frags stop at the page end: 3996 + 4)
        const int L = Devmem.SoDevmemLinear, D = Devmem.SoDevmemDmabuf;
        Assert.Equal([L, D, L, D, D, D], kinds);
        Assert.Equal(held.Count, tokens.Close());
        Assert.Equal(0, _area.Users);
    }

    [Fact]
    public void One_devmem_read_never_mixes_readable_and_device_memory_and_a_tiny_record_buffer_is_ETOOSMALL()
    {
        var stream = Bytes(5000 + 700, 3);
        var q = new TcpReceiveQueue();
        q.Enqueue(Unreadable(stream.AsSpan(0, 5000), head: 0));
        q.Enqueue(Readable(stream.AsSpan(5000)));
        var tokens = new DevmemTokenTable();
        var linear = new byte[4096];
        var none = new TcpDevmemActor(linear, Span<DevmemCmsg>.Empty, tokens);
        Assert.Equal(0, q.Read(ref none, int.MaxValue, out var err));
        Assert.Equal(Errno.ETOOSMALL, err);
        var recs = new DevmemCmsg[8];
        var devmem = new TcpDevmemActor(linear, recs, tokens);
        Assert.Equal(5000, q.Read(ref devmem, int.MaxValue, out err)); // stops at the readable skb
        Assert.Equal(0, devmem.LinearBytes);
        devmem = new TcpDevmemActor(linear, recs, tokens);
        Assert.Equal(700, q.Read(ref devmem, int.MaxValue, out err)); // readable: copied, no record
        Assert.Equal(0, devmem.Records);
        Assert.Equal(700, devmem.LinearBytes);
        Assert.Equal(stream.AsSpan(5000).ToArray(), linear.AsSpan(0, 700).ToArray());
        tokens.Close();
    }

    [Fact]
    public void A_lease_shows_the_frag_list_as_segments_releases_them_one_by_one_and_never_cuts_silently()
    {
        var stream = Bytes(200 + 3000 + 5000, 4);
        var root = Unreadable(stream.AsSpan(0, 3200), head: 200);
        var member = Unreadable(stream.AsSpan(3200), head: 0);
        var q = new TcpReceiveQueue();
        q.Enqueue(Chain(root, member));
        var lease = new TcpReceiveLease(null);
        lease.Reset();
        var actor = new TcpLeaseActor(lease);
        Assert.Equal(stream.Length, q.Read(ref actor, int.MaxValue, out _));
        Assert.False(lease.IsReadable);
        Assert.Equal(0, _cache.LiveSkbs); // skbs and their heads are gone: the lease holds only its segments
        int frags = lease.Segments.ToArray().Count(s => s.Netmem.IsNetIov);
        Assert.Equal(frags, (int)_area.Users);
        Assert.True(lease.Count >= 4, $"{lease.Count} segments"); // head, frag(s), member frag(s)
        // The stream is the segments in order: the linear head, then device memory.
        Assert.False(lease.Segments[0].Netmem.IsNetIov);
        int pos = 0;
        foreach (var s in lease.Segments)
        {
            byte[] got = new byte[s.Length];
            if (s.Netmem.IsNetIov) _mem.CopyToHost((long)s.Netmem.NetIovIndex * 4096 + s.Offset, got);
            else s.Netmem.GetSpan(s.Offset, s.Length).CopyTo(got);
            Assert.Equal(stream.AsSpan(pos, s.Length).ToArray(), got);
            pos += s.Length;
        }
        Assert.Equal(stream.Length, pos);
        // GetSegments says what did not fit.
        var two = new NetmemSegment[2];
        Assert.Equal(2, lease.GetSegments(0, two, out int remaining));
        Assert.Equal(lease.Count - 2, remaining);
        Assert.Equal(lease.Count - 2, lease.GetSegments(2, new NetmemSegment[64], out remaining));
        Assert.Equal(0, remaining);
        // Per-segment release: the net_iov goes back at once.
        int last = lease.Count - 1;
        lease.ReleaseSegment(last);
        Assert.Equal(frags - 1, (int)_area.Users);
        Assert.Throws<InvalidOperationException>(() => lease.ReleaseSegment(last));
        lease.Dispose();
        Assert.Equal(0, _area.Users);
    }

    [Fact]
    public void A_lease_stops_at_its_segment_limit_and_the_next_one_continues_where_it_stopped()
    {
        var stream = Bytes(12 * 17 * 1000, 5);
        var q = new TcpReceiveQueue();
        for (int i = 0; i < 12; i++) q.Enqueue(Unreadable(stream.AsSpan(i * 17_000, 17_000), head: 0, fragSize: 1000));
        int pos = 0, leases = 0;
        while (!q.IsEmpty)
        {
            var lease = new TcpReceiveLease(null);
            lease.Reset();
            var actor = new TcpLeaseActor(lease);
            int n = q.Read(ref actor, int.MaxValue, out _);
            Assert.True(lease.Count <= TcpReceiveLease.MaxSegments);
            Assert.Equal(n, lease.Length);
            foreach (var s in lease.Segments)
            {
                var got = new byte[s.Length];
                _mem.CopyToHost((long)s.Netmem.NetIovIndex * 4096 + s.Offset, got);
                Assert.Equal(stream.AsSpan(pos, s.Length).ToArray(), got);
                pos += s.Length;
            }
            lease.Dispose();
            leases++;
        }
        Assert.Equal(stream.Length, pos);
        Assert.Equal(2, leases); // 204 segments: 128, then 76
    }

    [Fact]
    public void Helpers_that_read_payload_look_at_every_skb_of_the_frag_list()
    {
        var stream = Bytes(64 + 4000, 6);
        var root = Readable(stream.AsSpan(0, 64));
        var member = Unreadable(stream.AsSpan(64), head: 0);
        // Chained without the rule that marks the root (as IpDefrag did): the helpers still see the member.
        root.Shinfo.FragList = member;
        root.LenField += member.Len;
        root.DataLenField += member.Len;
        Assert.False(root.Unreadable);
        Assert.True(root.AnyUnreadable);
        Assert.False(root.PskbMayPull(100)); // refused, not thrown: wire input may be like this
        Assert.Throws<NetmemException>(() => root.Linearize());
        Assert.Throws<NetmemException>(() => root.CopyBits(0, new byte[100]));
        var q = new TcpReceiveQueue();
        q.Enqueue(root);
        var buf = new byte[8000];
        var copy = new TcpCopyActor(buf);
        Assert.Equal(0, q.Read(ref copy, buf.Length, out var err));
        Assert.Equal(Errno.EFAULT, err);
        q.Purge();
    }
}
