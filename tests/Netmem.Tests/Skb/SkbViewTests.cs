using System.Buffers;
using Netmem.Skb;

namespace Netmem.Tests.Skb;

public sealed class SkbViewTests : IDisposable
{
    private readonly SkbTestEnv _env = new();

    public void Dispose() => _env.Dispose();

    [Fact]
    public void Span_enumerator_walks_head_then_frags_without_copying()
    {
        var skb = _env.PoolSkb(54, 100, 0, 200);
        var bytes = SkbTestEnv.Bytes(skb);
        var pieces = new List<byte[]>();
        var addresses = new List<nint>();
        foreach (var span in skb.ReadableSpans())
        {
            pieces.Add(span.ToArray());
            unsafe
            {
                fixed (byte* p = span) addresses.Add((nint)p);
            }
        }
        Assert.Equal(3, pieces.Count); // the empty frag is skipped
        Assert.Equal(bytes, pieces.SelectMany(p => p).ToArray());
        Assert.Equal(skb.DataAddress, addresses[0]);
        Assert.Equal(skb.Frag(0).FragAddress, addresses[1]);
        Assert.Equal(skb.Frag(2).FragAddress, addresses[2]);

        skb.Pull(54); // empty head: only frags
        int n = 0;
        foreach (var span in skb.ReadableSpans()) n++;
        Assert.Equal(2, n);
        skb.Free();
    }

    [Fact]
    public void Sequence_view_covers_all_bytes_in_place_and_is_reused()
    {
        var skb = _env.PoolSkb(54, 1000, 2000, 3000);
        var bytes = SkbTestEnv.Bytes(skb);
        var seq = skb.AsSequence();
        Assert.Equal(skb.Len, seq.Length);
        Assert.False(seq.IsSingleSegment);
        Assert.Equal(bytes, seq.ToArray());
        Assert.Equal(bytes[1000..1100], seq.Slice(1000, 100).ToArray());
        int segments = 0;
        foreach (var m in seq)
        {
            if (segments == 1)
                unsafe
                {
                    using var h = m.Pin();
                    Assert.Equal(skb.Frag(0).FragAddress, (nint)h.Pointer); // no copy: the frag itself
                }
            segments++;
        }
        Assert.Equal(4, segments);

        long before = GC.GetAllocatedBytesForCurrentThread();
        var again = skb.AsSequence(); // segments belong to the sk_buff object
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(bytes, again.ToArray());
        skb.Free();

        var empty = _env.Cache.Alloc(64)!;
        Assert.True(empty.AsSequence().IsEmpty);
        empty.PutData("x"u8);
        Assert.True(empty.AsSequence().IsSingleSegment);
        empty.Free();
    }

    [Fact]
    public void Data_covers_the_readable_head_of_an_unreadable_skb()
    {
        var skb = _env.Cache.NapiAlloc(64)!;
        skb.PutData("headers"u8);
        skb.MarkForRecycle();
        skb.AddRxFragNetmem(_env.DevPool.AllocNetmem(), 0, 1000, 4096);
        Assert.Equal("headers"u8.ToArray(), skb.Data.ToArray());
        Assert.Throws<Netmem.Memory.NetmemException>(() => skb.ReadableSpans());
        Assert.Throws<Netmem.Memory.NetmemException>(() => skb.AsSequence());
        skb.Free();
    }
}
