using Netmem.Memory;
using Netmem.Skb;

namespace Netmem.Tests.Skb;

/// <summary>A net_iov frag makes an skb unreadable; every payload reader refuses it past the head.</summary>
public sealed class SkbUnreadableTests : IDisposable
{
    private const int Header = 54;
    private readonly SkbTestEnv _env = new();

    public void Dispose() => _env.Dispose();

    /// <summary>Header split: 54 header bytes in a host head, payload in two device-memory frags.</summary>
    private SkBuff DevmemSkb()
    {
        var skb = _env.Cache.NapiAlloc(128)!;
        SkbTestEnv.Fill(skb.Put(Header), 5);
        skb.MarkForRecycle();
        skb.AddRxFragNetmem(_env.DevPool.AllocNetmem(), 0, 1000, PageArena.PageSize);
        skb.AddRxFragNetmem(_env.DevPool.AllocNetmem(), 128, 1000, PageArena.PageSize);
        return skb;
    }

    [Fact]
    public void A_net_iov_frag_from_device_memory_makes_the_skb_unreadable()
    {
        var readable = _env.PoolSkb(20, 100, 100);
        Assert.False(readable.Unreadable);
        Assert.True(readable.FragsReadable);

        var skb = DevmemSkb();
        Assert.True(skb.Unreadable);
        Assert.False(skb.FragsReadable);
        Assert.Equal(Header + 2000, skb.Len);
        Assert.Equal(2000, skb.DataLen);
        Assert.True(skb.Frag(0).FragPage.IsNull);
        Assert.Equal(0, skb.Frag(1).FragAddress);
        Assert.True(skb.Frag(1).NetIov.IsNetIov);
        Assert.Contains("unreadable", skb.ToString());

        // A readable page added to an unreadable skb does not make it readable again.
        skb.AddRxFragNetmem(_env.PoolPage(), 0, 10, PageArena.PageSize);
        Assert.True(skb.Unreadable);

        // The flag travels with clones.
        var clone = skb.Clone();
        Assert.True(clone.Unreadable);
        clone.Free();
        skb.Free();
        readable.Free();
    }

    [Fact]
    public void Copying_helpers_refuse_the_unreadable_range_and_name_skb_and_range()
    {
        var skb = DevmemSkb();
        var buf = new byte[3000];

        var e = Assert.Throws<NetmemException>(() => skb.CopyBits(40, buf.AsSpan(0, 100)));
        Assert.Contains($"skb#{skb.Id}", e.Message);
        Assert.Contains("skb_copy_bits", e.Message);
        Assert.Contains("[40, 140)", e.Message);
        Assert.Contains("unreadable", e.Message);

        e = Assert.Throws<NetmemException>(() => skb.Linearize());
        Assert.Contains("skb_linearize", e.Message);
        Assert.Contains($"[{Header}, {Header + 2000})", e.Message);

        e = Assert.Throws<NetmemException>(() => skb.Checksum(0, skb.Len));
        Assert.Contains("skb_checksum", e.Message);

        e = Assert.Throws<NetmemException>(() => skb.PullTail(1));
        Assert.Contains("__pskb_pull_tail", e.Message);
        Assert.Throws<NetmemException>(() => skb.PskbPull(Header + 1));
        Assert.Throws<NetmemException>(() => skb.HeaderPointer(Header - 2, 4, buf));
        Assert.Throws<NetmemException>(() => skb.ReadableSpans());
        Assert.Throws<NetmemException>(() => skb.AsSequence());
        // A NAPI loop asks pskb_may_pull and drops on false rather than throwing.
        Assert.False(skb.PskbMayPull(Header + 1));

        // Nothing changed.
        Assert.Equal(Header + 2000, skb.Len);
        Assert.Equal(2, skb.NrFrags);
        skb.Free();
    }

    [Fact]
    public void Header_work_inside_the_head_still_works()
    {
        var skb = DevmemSkb();
        var expected = new byte[Header];
        SkbTestEnv.Fill(expected, 5);

        var copy = new byte[Header];
        skb.CopyBits(0, copy); // entirely in the head
        Assert.Equal(expected, copy);
        Assert.Equal(InetChecksum.Partial(expected), skb.Checksum(0, Header));
        Assert.True(skb.PskbMayPull(Header));
        Assert.Equal(expected[14..34], skb.HeaderPointer(14, 20, default).ToArray());
        Assert.Equal(expected, skb.Data.ToArray());

        skb.ResetMacHeader();
        Assert.True(skb.Pull(14));          // eth
        skb.ResetNetworkHeader();
        Assert.True(skb.PskbPull(20));      // ip, within the head
        skb.ResetTransportHeader();
        Assert.True(skb.Pull(20));          // tcp
        Assert.Equal(2000, skb.Len);
        Assert.Equal(0, skb.HeadLen);
        Assert.Contains("linear head", Assert.Throws<NetmemException>(() => skb.Pull(1)).Message);
        skb.Push(54);                       // headers back, e.g. for forwarding
        Assert.Equal(expected, skb.Data.ToArray());

        skb.Trim(Header + 1500);            // trimming moves no payload
        Assert.Equal(Header + 1500, skb.Len);
        Assert.Equal(500, skb.Frag(1).Size);
        skb.Free();
    }

    [Fact]
    public void Frags_of_an_unreadable_skb_return_to_the_devmem_pool_once()
    {
        var skb = DevmemSkb();
        var clone = skb.Clone();
        var n0 = skb.Frag(0).Netmem;
        Assert.Equal(1, n0.PpRefCount);
        Assert.Equal(Errno.None, clone.ExpandHead(0, 0)); // unclone: the frags get a second pp reference
        Assert.Equal(2, n0.PpRefCount);
        skb.Free();
        Assert.Equal(1, n0.PpRefCount);
        clone.Free();
        Assert.Equal(0, n0.PpRefCount);
        Assert.Equal(2, _env.DevPool.GetStats().RecycleRing);
    }
}
