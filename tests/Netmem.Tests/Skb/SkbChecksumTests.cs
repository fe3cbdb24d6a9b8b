using Netmem.Memory;
using Netmem.Skb;

namespace Netmem.Tests.Skb;

public sealed class SkbChecksumTests
{
    /// <summary>RFC 1071 written out plainly: big-endian 16-bit words, the odd byte padded with zero, carries folded.</summary>
    private static ushort Reference(ReadOnlySpan<byte> d)
    {
        ulong sum = 0;
        int i = 0;
        for (; i + 1 < d.Length; i += 2) sum += (ulong)((d[i] << 8) | d[i + 1]);
        if (i < d.Length) sum += (ulong)d[i] << 8;
        while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    [Fact]
    public void Rfc1071_example()
    {
        byte[] d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        Assert.Equal(0x220d, InetChecksum.Compute(d));
        Assert.Equal(0x220d, Reference(d));
        Assert.Equal(Reference([]), InetChecksum.Compute([]));
    }

    [Fact]
    public void Partial_matches_the_reference_on_random_data_any_length_and_alignment()
    {
        var rng = new Random(1071);
        var buf = new byte[5000];
        rng.NextBytes(buf);
        for (int iter = 0; iter < 3000; iter++)
        {
            int start = rng.Next(0, 16);
            int len = iter < 100 ? iter : rng.Next(0, buf.Length - start);
            var d = buf.AsSpan(start, len);
            Assert.Equal(Reference(d), InetChecksum.Compute(d));
        }
        var ones = new byte[4001];
        ones.AsSpan().Fill(0xFF);
        Assert.Equal(Reference(ones), InetChecksum.Compute(ones));
    }

    [Fact]
    public void Block_add_and_sub_combine_pieces_at_odd_offsets()
    {
        var rng = new Random(7);
        var d = new byte[999];
        rng.NextBytes(d);
        for (int cut = 1; cut <= d.Length; cut += 37) // a non-empty prefix: its sum is not the ones-complement zero
        {
            uint sum = InetChecksum.BlockAdd(InetChecksum.Partial(d.AsSpan(0, cut)), InetChecksum.Partial(d.AsSpan(cut)), cut);
            Assert.Equal(Reference(d), InetChecksum.Fold(sum));
            uint back = InetChecksum.BlockSub(sum, InetChecksum.Partial(d.AsSpan(cut)), cut);
            Assert.Equal(Reference(d.AsSpan(0, cut)), InetChecksum.Fold(back));
        }
        // A header holding its own checksum sums to zero.
        var hdr = new byte[20];
        rng.NextBytes(hdr);
        hdr[10] = hdr[11] = 0;
        ushort c = InetChecksum.Compute(hdr);
        hdr[10] = (byte)(c >> 8);
        hdr[11] = (byte)c;
        Assert.Equal(0, InetChecksum.Compute(hdr));
    }

    [Fact]
    public void Skb_checksum_over_head_frags_and_frag_list_matches_the_reference()
    {
        var env = new SkbTestEnv(pages: 1024);
        var rng = new Random(42);
        for (int iter = 0; iter < 40; iter++)
        {
            var skb = RandomSkb(env, rng);
            if (iter % 4 == 3)
            {
                // Give it a frag_list: fill the frags, then GRO chains the next segment.
                while (skb.NrFrags < SkBuff.MaxSkbFrags) skb.AddRxFragNetmem(RandomFrag(env, rng, out int s), 8, s, PageArena.PageSize);
                var seg = RandomSkb(env, rng, minHead: 1);
                Assert.Equal(Errno.None, SkbGro.Receive(skb, seg, 0, out var how));
                Assert.Equal(SkbGroFree.Keep, how);
                Assert.True(skb.HasFragList);
            }
            var bytes = SkbTestEnv.Bytes(skb);
            Assert.Equal(Reference(bytes), InetChecksum.Fold(skb.Checksum(0, skb.Len)));
            for (int j = 0; j < 25; j++)
            {
                int off = rng.Next(0, skb.Len + 1);
                int len = rng.Next(0, skb.Len - off + 1);
                Assert.Equal(Reference(bytes.AsSpan(off, len)), InetChecksum.Fold(skb.Checksum(off, len)));
            }
            // Starting from an existing sum, as a pseudo-header would be.
            byte[] pseudo = [0x12, 0x34, 0x56, 0x00];
            var withSeed = pseudo.Concat(bytes).ToArray();
            Assert.Equal(Reference(withSeed), InetChecksum.Fold(skb.Checksum(0, skb.Len, InetChecksum.Partial(pseudo))));
            skb.Free();
        }
        env.Dispose();
    }

    [Fact]
    public void Pull_rcsum_keeps_checksum_complete_right()
    {
        var env = new SkbTestEnv();
        var rng = new Random(3);
        var skb = RandomSkb(env, rng, minHead: 40);
        skb.IpSummed = SkbChecksumState.Complete;
        skb.Csum = skb.Checksum(0, skb.Len);
        Assert.True(skb.PullRcsum(14)); // headers are even-sized: an odd pull would shift the remaining bytes' word alignment
        Assert.Equal(InetChecksum.Fold(skb.Checksum(0, skb.Len)), InetChecksum.Fold(skb.Csum));
        skb.Free();
        env.Dispose();
    }

    private static NetmemRef RandomFrag(SkbTestEnv env, Random rng, out int size)
    {
        var page = env.Pool.AllocNetmem();
        size = rng.Next(1, 700);
        rng.NextBytes(page.GetSpan(8, size));
        return page;
    }

    private static SkBuff RandomSkb(SkbTestEnv env, Random rng, int minHead = 0)
    {
        var skb = env.Cache.NapiAlloc(300)!;
        skb.MarkForRecycle();
        rng.NextBytes(skb.Put(rng.Next(minHead, 300)));
        int frags = rng.Next(0, 7);
        for (int i = 0; i < frags; i++)
        {
            var page = env.Pool.AllocNetmem();
            int off = rng.Next(0, 64);
            int size = rng.Next(0, 1200);
            rng.NextBytes(page.GetSpan(off, size));
            skb.AddRxFragNetmem(page, off, size, PageArena.PageSize);
        }
        return skb;
    }
}
