using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;
using Netmem.Tests.Pool;

namespace Netmem.Tests.Skb;

public sealed class SkBuffTests : PoolTestBase
{
    private readonly PagePool _heads;
    private readonly PagePool _rx;
    private readonly SkbCache _cache;
    private readonly DeviceMemory _hbm = new(16 * PageArena.PageSize, "hbm");
    private readonly NetIovArea _area;

    public SkBuffTests()
    {
        _heads = NewPool();
        _rx = NewPool();
        _cache = new SkbCache(_heads, 64);
        _area = NetIovArea.Create(NetIovType.Dmabuf, _hbm, 0, 16);
    }

    public override void Dispose()
    {
        Assert.Equal(0, _cache.Outstanding);
        base.Dispose(); // destroys the pools and checks every netmem came back
        Assert.Equal(0, _area.Users);
        _area.Dispose();
        _hbm.Dispose();
    }

    private SkBuff NewSkb(int head = 256) => _cache.Alloc(head) ?? throw new InvalidOperationException("out of memory");

    /// <summary>A frag from the RX pool filled with bytes start, start+1, ...</summary>
    private NetmemRef RxFrag(int size, byte start)
    {
        var n = _rx.AllocNetmem();
        var s = n.GetSpan(0, size);
        for (int i = 0; i < size; i++) s[i] = (byte)(start + i);
        return n;
    }

    [Fact]
    public void Head_operations_follow_the_kernel()
    {
        var skb = NewSkb(256);
        Assert.Equal(256, skb.Tailroom);
        skb.Reserve(64);
        Assert.Equal(64, skb.Headroom);
        "payload"u8.CopyTo(skb.Put(7));
        "hdr"u8.CopyTo(skb.Push(3));
        Assert.Equal(10, skb.Len);
        Assert.Equal("hdrpayload"u8.ToArray(), skb.Data.ToArray());
        Assert.True(skb.Pull(3));
        Assert.Equal("payload"u8.ToArray(), skb.Data.ToArray());
        Assert.False(skb.Pull(8)); // more than the head holds
        Assert.Throws<InvalidOperationException>(() => skb.Push(1000));
        Assert.Throws<InvalidOperationException>(() => skb.Put(1000));
        skb.Trim(4);
        Assert.Equal("payl"u8.ToArray(), skb.Data.ToArray());
        skb.Free();
        Assert.Contains("double free", Assert.Throws<NetmemException>(() => skb.Free()).Message);
    }

    [Fact]
    public void Rx_frags_account_len_data_len_truesize_and_return_to_their_pool()
    {
        var skb = NewSkb();
        skb.PpRecycle = true;
        int baseTruesize = skb.Truesize;
        "hdr"u8.CopyTo(skb.Put(3));
        for (int i = 0; i < 4; i++) skb.AddRxFragNetmem(i, RxFrag(1000, (byte)i), 0, 1000, PageArena.PageSize);
        Assert.Equal(4003, skb.Len);
        Assert.Equal(4000, skb.DataLen);
        Assert.Equal(3, skb.HeadLen);
        Assert.Equal(baseTruesize + 4 * PageArena.PageSize, skb.Truesize);
        Assert.False(skb.Unreadable);
        Assert.Throws<ArgumentOutOfRangeException>(() => skb.AddRxFragNetmem(7, RxFragAndPut(), 0, 1, 1));
        long ring = _rx.GetStats().RecycleRing;
        skb.Free();
        Assert.Equal(ring + 4, _rx.GetStats().RecycleRing); // each frag went back to the pool
    }

    private NetmemRef RxFragAndPut()
    {
        var n = _rx.AllocNetmem();
        _rx.RecycleDirect(n);
        return n;
    }

    [Fact]
    public void Clone_shares_data_and_the_last_free_returns_each_netmem_once()
    {
        var skb = NewSkb();
        skb.PpRecycle = true;
        skb.AddRxFragNetmem(0, RxFrag(100, 1), 0, 100, 4096);
        var clone = skb.Clone();
        Assert.True(skb.Cloned && clone.Cloned);
        Assert.Same(skb.SharedInfo, clone.SharedInfo);
        Assert.Equal(100, clone.Len);
        long ring = _rx.GetStats().RecycleRing;
        skb.Free();
        Assert.Equal(ring, _rx.GetStats().RecycleRing); // the clone still holds the frag
        Assert.False(clone.Cloned);
        var copy = new byte[100];
        clone.CopyBits(0, copy);
        Assert.Equal(1, copy[0]);
        clone.Free();
        Assert.Equal(ring + 1, _rx.GetStats().RecycleRing);
    }

    [Fact]
    public void Unreadable_frags_propagate_and_every_payload_reader_refuses_them()
    {
        var skb = NewSkb();
        "0123456789"u8.CopyTo(skb.Put(10)); // headers land in the readable head
        var niov = _area[3];
        niov.Get();                          // the skb owns one reference on the net_iov
        skb.AddRxFragNetmem(0, niov, 0, 4096, 4096);
        Assert.True(skb.Unreadable);
        var buf = new byte[20];
        Assert.Contains("unreadable", Assert.Throws<NetmemException>(() => skb.CopyBits(5, buf)).Message);
        Assert.Throws<NetmemException>(() => skb.Checksum(0, 20));
        Assert.Throws<NetmemException>(() => skb.PullTail(4));
        // The readable head still works: copy within it, checksum it, pull a header.
        skb.CopyBits(0, buf.AsSpan(0, 10));
        Assert.Equal("0123456789"u8.ToArray(), buf[..10]);
        Assert.NotEqual(0u, skb.Checksum(0, 10));
        Assert.True(skb.Pull(4));
        Assert.Equal(1, _area.Users);
        skb.Free();
        Assert.Equal(0, _area.Users); // the net_iov reference was dropped
        // Trimming the unreadable frag away makes the skb readable again.
        var s2 = NewSkb();
        niov.Get();
        "ab"u8.CopyTo(s2.Put(2));
        s2.AddRxFragNetmem(0, niov, 0, 100, 4096);
        s2.Trim(2);
        Assert.False(s2.Unreadable);
        Assert.Equal(0, _area.Users);
        s2.Free();
    }

    [Fact]
    public void Pull_tail_moves_frag_bytes_into_the_head()
    {
        var skb = NewSkb(256);
        skb.PpRecycle = true;
        skb.AddRxFragNetmem(0, RxFrag(40, 0), 0, 40, 4096);
        skb.AddRxFragNetmem(1, RxFrag(100, 40), 0, 100, 4096);
        Assert.True(skb.PullTail(54)); // an Ethernet + IPv4 + TCP header split across frags
        Assert.Equal(54, skb.HeadLen);
        Assert.Equal(1, skb.NrFrags);   // the first frag was eaten and returned
        Assert.Equal(86, skb.DataLen);
        var all = new byte[140];
        skb.CopyBits(0, all);
        for (int i = 0; i < 140; i++) Assert.Equal((byte)i, all[i]);
        skb.Free();
    }

    [Fact]
    public void Checksum_matches_a_reference_across_head_and_frags()
    {
        var rng = new Random(1234);
        for (int round = 0; round < 50; round++)
        {
            var skb = NewSkb(512);
            skb.PpRecycle = true;
            int headBytes = rng.Next(0, 300);
            var all = new List<byte>();
            var h = skb.Put(headBytes);
            rng.NextBytes(h);
            all.AddRange(h.ToArray());
            int frags = rng.Next(0, 4);
            for (int i = 0; i < frags; i++)
            {
                int size = rng.Next(1, 2000), off = rng.Next(0, 100);
                var n = _rx.AllocNetmem();
                rng.NextBytes(n.GetSpan(off, size));
                all.AddRange(n.GetSpan(off, size).ToArray());
                skb.AddRxFragNetmem(i, n, off, size, 4096);
            }
            int start = all.Count == 0 ? 0 : rng.Next(0, all.Count);
            int len = rng.Next(0, all.Count - start + 1);
            ushort expected = ReferenceChecksum(all.GetRange(start, len).ToArray());
            Assert.Equal(expected, InternetChecksum.Fold(skb.Checksum(start, len)));
            skb.Free();
        }
    }

    private static ushort ReferenceChecksum(byte[] data)
    {
        uint sum = 0;
        for (int i = 0; i < data.Length; i += 2)
            sum += (uint)(data[i] << 8 | (i + 1 < data.Length ? data[i + 1] : 0));
        while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    [Fact]
    public void Coalescing_appends_without_copy_and_never_mixes_readable_and_unreadable()
    {
        var a = NewSkb(); a.PpRecycle = true;
        var b = NewSkb(); b.PpRecycle = true;
        a.AddRxFragNetmem(0, RxFrag(100, 0), 0, 100, 4096);
        "hd"u8.CopyTo(b.Put(2));
        b.AddRxFragNetmem(0, RxFrag(50, 7), 0, 50, 4096);
        Assert.True(a.TryCoalesce(b, out int delta));
        Assert.Equal(152, a.Len);
        Assert.Equal(152, a.DataLen);
        Assert.Equal(3, a.NrFrags); // a's frag, b's head bytes, b's frag
        Assert.Equal(4096, delta);
        Assert.Equal(0, b.DataLen);
        var all = new byte[152];
        a.CopyBits(0, all);
        Assert.Equal("hd"u8.ToArray(), all[100..102]);
        Assert.Equal(7, all[102]);
        b.Free();          // b's head stays alive: a holds a pp reference on it
        a.CopyBits(100, all.AsSpan(0, 2));
        Assert.Equal("hd"u8.ToArray(), all[..2]);

        var dev = NewSkb(); dev.PpRecycle = true;
        var niov = _area[5];
        niov.Get();
        dev.AddRxFragNetmem(0, niov, 0, 4096, 4096);
        Assert.False(a.TryCoalesce(dev, out _)); // readable + unreadable: refused
        Assert.False(dev.TryCoalesce(a, out _));
        var clone = a.Clone();
        var c = NewSkb(); c.PpRecycle = true;
        c.AddRxFragNetmem(0, RxFrag(10, 0), 0, 10, 4096);
        Assert.False(a.TryCoalesce(c, out _)); // a's data is shared with a clone
        clone.Free();
        Assert.True(a.TryCoalesce(c, out _));
        foreach (var s in new[] { a, c }) s.Free();
        dev.Free();
    }

    [Fact]
    public void Linearize_gathers_frags_into_the_head_and_refuses_unreadable()
    {
        var skb = NewSkb(128); skb.PpRecycle = true;
        skb.Reserve(16);
        "abc"u8.CopyTo(skb.Put(3));
        skb.AddRxFragNetmem(0, RxFrag(1000, 3), 0, 1000, 4096);
        skb.AddRxFragNetmem(1, RxFrag(500, 0), 0, 500, 4096);
        Assert.True(skb.Linearize());
        Assert.Equal(0, skb.DataLen);
        Assert.Equal(0, skb.NrFrags);
        Assert.Equal(1503, skb.HeadLen);
        Assert.Equal(16, skb.Headroom);
        Assert.Equal("abc"u8.ToArray(), skb.Data[..3].ToArray());
        Assert.Equal(3, skb.Data[3]);
        Assert.Equal(0, skb.Data[1003]);
        skb.Free();

        var dev = NewSkb();
        _area[1].Get();
        dev.AddRxFragNetmem(0, _area[1], 0, 100, 4096);
        Assert.Throws<NetmemException>(() => dev.Linearize());
        dev.Free();
    }

    [Fact]
    public void Segments_enumerate_head_and_frags_without_copying()
    {
        var skb = NewSkb(); skb.PpRecycle = true;
        "head"u8.CopyTo(skb.Put(4));
        var n = RxFrag(10, 0);
        skb.AddRxFragNetmem(0, n, 2, 8, 4096);
        int pieces = 0, total = 0;
        foreach (var piece in skb.Segments())
        {
            pieces++;
            total += piece.Length;
        }
        Assert.Equal(2, pieces);
        Assert.Equal(12, total);
        unsafe
        {
            int i = 0;
            foreach (var piece in skb.Segments())
                if (i++ == 1) fixed (byte* p = piece) Assert.Equal(n.Address + 2, (nint)p); // the frag itself, not a copy
        }
        skb.Free();
        var dev = NewSkb();
        _area[2].Get();
        dev.AddRxFragNetmem(0, _area[2], 0, 100, 4096);
        Assert.Throws<NetmemException>(() => dev.Segments());
        dev.Free();
    }

    [Fact]
    public void Building_and_freeing_an_skb_with_four_pool_frags_allocates_nothing()
    {
        void Round()
        {
            var skb = _cache.Alloc(256)!;
            skb.PpRecycle = true;
            skb.Reserve(64);
            skb.Put(54);
            for (int i = 0; i < 4; i++) skb.AddRxFragNetmem(i, _rx.AllocNetmem(), 0, 1448, 4096);
            skb.Free();
        }
        for (int i = 0; i < 2000; i++) Round();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50_000; i++) Round();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
