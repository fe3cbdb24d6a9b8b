using Netmem;
using Netmem.Memory;
using Netmem.Skb;

namespace Netmem.Tests.Skb;

public sealed class SkbHeadTests : IDisposable
{
    private readonly SkbTestEnv _env = new();

    public void Dispose() => _env.Dispose();

    [Fact]
    public void Alloc_gives_a_pooled_native_head_and_charges_truesize()
    {
        var skb = _env.Cache.Alloc(200)!;
        Assert.Equal(256, skb.EndOffset);  // rounded to the 64-byte fragment alignment
        Assert.Equal(0, skb.Headroom);
        Assert.Equal(256, skb.Tailroom);
        Assert.Equal(0, skb.Len);
        Assert.Equal(256 + SkBuff.TruesizeOverhead, skb.Truesize);
        Assert.True(skb.HeadNetmem.IsPp); // a fragment of the head page_pool
        Assert.True(_env.Arena.Contains(skb.HeadAddress));
        Assert.Equal(skb.HeadNetmem.Address + skb.Shinfo.HeadOffset, skb.HeadAddress);

        var napi = _env.Cache.NapiAlloc(100)!;
        Assert.Equal(SkBuff.NetSkbPad, napi.Headroom);
        Assert.True(napi.Tailroom >= 100);
        skb.Free();
        napi.Free();
    }

    [Fact]
    public void Put_push_pull_reserve_move_the_pointers_like_the_kernel()
    {
        var skb = _env.Cache.Alloc(256)!;
        skb.Reserve(32);
        Assert.Equal(32, skb.Headroom);
        skb.PutData("payload"u8);
        skb.Push(4).Fill(0xEE);
        Assert.Equal(11, skb.Len);
        Assert.Equal(28, skb.Headroom);
        Assert.Equal(new byte[] { 0xEE, 0xEE, 0xEE, 0xEE }, skb.Data[..4].ToArray());
        Assert.True(skb.Pull(4));
        Assert.Equal("payload"u8.ToArray(), skb.Data.ToArray());
        Assert.False(skb.Pull(100)); // shorter than that
        Assert.Contains("skb_over_panic", Assert.Throws<NetmemException>(() => skb.Put(1000)).Message);
        Assert.Contains("skb_under_panic", Assert.Throws<NetmemException>(() => skb.Push(100)).Message);
        Assert.Throws<NetmemException>(() => skb.Reserve(1)); // not empty
        skb.Free();
    }

    [Fact]
    public void Header_offsets_are_relative_to_head_and_survive_expand_head()
    {
        var skb = _env.Cache.Alloc(128)!;
        SkbTestEnv.Fill(skb.Put(100), 9);
        var before = skb.Data.ToArray();
        skb.ResetMacHeader();
        Assert.True(skb.MacHeaderWasSet);
        Assert.True(skb.Pull(14));
        skb.ResetNetworkHeader();
        skb.SetTransportHeader(20);
        Assert.Equal(-14, skb.MacOffset);
        Assert.Equal(0, skb.NetworkOffset);
        Assert.Equal(20, skb.TransportOffset);
        Assert.Equal(14, skb.MacHeaderLen);

        Assert.Equal(Errno.None, skb.ExpandHead(64, 500));
        Assert.Equal(64 + 14, skb.Headroom);
        Assert.True(skb.Tailroom >= 500);
        Assert.Equal(-14, skb.MacOffset);
        Assert.Equal(20, skb.TransportOffset);
        Assert.Equal(before[14..], skb.Data.ToArray());
        Assert.Equal(before[..14], skb.GetHeadSpan(skb.MacHeader, 14).ToArray());
        Assert.Equal(skb.EndOffset + SkBuff.TruesizeOverhead, skb.Truesize);
        skb.Free();
    }

    [Fact]
    public void Heads_larger_than_a_page_come_from_the_arena()
    {
        int free = _env.Arena.FreePages;
        var skb = _env.Cache.Alloc(10000)!;
        Assert.Equal(4 * PageArena.PageSize, skb.EndOffset);
        Assert.False(skb.HeadNetmem.IsPp);
        Assert.Equal(free - 4, _env.Arena.FreePages);
        skb.Put(10000).Fill(1);
        skb.Free();
        Assert.Equal(free, _env.Arena.FreePages);
    }

    [Fact]
    public void Build_skb_wraps_a_page_pool_buffer_and_returns_it_on_free()
    {
        var page = _env.Pool.AllocNetmem();
        var skb = _env.Cache.Build(page, 0, 2048);
        skb.MarkForRecycle();
        skb.Reserve(SkBuff.NetSkbPad);
        skb.PutData("frame"u8);
        Assert.Equal(page.Address + SkBuff.NetSkbPad, skb.DataAddress);
        Assert.Equal(2048 + SkBuff.TruesizeOverhead, skb.Truesize);
        skb.Free();
        Assert.Equal(0, page.PpRefCount);
        Assert.Equal(1, _env.Pool.RingCount);

        // A buffer that never became an skb goes back through skb_free_head.
        var unused = _env.Pool.AllocNetmem();
        _env.Cache.FreeHead(unused);
        Assert.Equal(2, _env.Pool.RingCount);

        _ = _env.DevPool;
        Assert.Throws<NetmemException>(() => _env.Cache.Build(_env.Area[0], 0, 2048)); // a net_iov is never a head
    }

    [Fact]
    public void Trim_cuts_frags_and_returns_the_dropped_ones()
    {
        var skb = _env.PoolSkb(40, 1000, 1000, 1000);
        var frag2 = skb.Frag(2).Netmem;
        var all = SkbTestEnv.Bytes(skb);
        skb.Trim(40 + 1500);
        Assert.Equal(1540, skb.Len);
        Assert.Equal(2, skb.NrFrags);
        Assert.Equal(500, skb.Frag(1).Size);
        Assert.Equal(0, frag2.PpRefCount); // back in the pool
        Assert.Equal(all[..1540], SkbTestEnv.Bytes(skb));

        skb.Trim(20); // into the head: every frag goes
        Assert.Equal(0, skb.NrFrags);
        Assert.Equal(20, skb.Len);
        Assert.False(skb.IsNonlinear);
        Assert.Equal(all[..20], skb.Data.ToArray());
        skb.Trim(10);
        Assert.Equal(10, skb.Len);
        skb.Free();
        Assert.Equal(3, _env.Pool.GetStats().RecycleRing);
    }

    [Fact]
    public void Use_after_free_and_double_free_are_caught()
    {
        var skb = _env.Cache.Alloc(64)!;
        skb.Free();
        Assert.False(skb.IsLive);
        Assert.Contains("used after kfree_skb", Assert.Throws<NetmemException>(() => skb.Put(1)).Message);
        Assert.Contains("double free", Assert.Throws<NetmemException>(() => skb.Free()).Message);
        Assert.Throws<NetmemException>(() => skb.Clone());
    }

    [Fact]
    public void Freeing_through_another_cache_returns_the_object_to_its_own()
    {
        var other = new SkbCache(new SkbCacheOptions { Arena = _env.Arena });
        var skb = _env.Cache.Alloc(64)!;
        other.Free(skb);
        Assert.Equal(0, other.CachedSkbs);
        Assert.Equal(0, _env.Cache.LiveSkbs);
        other.Dispose();
        Assert.True(other.HeadPool.IsFreed);
    }

    [Fact]
    public void Skb_get_adds_a_user_each_free_drops_one()
    {
        var skb = _env.Cache.Alloc(64)!;
        skb.Get();
        Assert.True(skb.IsShared);
        Assert.Throws<NetmemException>(() => skb.ExpandHead(0, 0)); // a shared skb must not move
        skb.Free();
        Assert.True(skb.IsLive);
        skb.Free();
        Assert.False(skb.IsLive);
        Assert.Equal(0, _env.Cache.LiveSkbs);
    }
}
