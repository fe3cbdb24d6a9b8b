using Netmem.Devices;
using Netmem.Drivers.Tap;
using Netmem.Phy;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Tests.Tap;

/// <summary>
/// The stack-side fault wrapper on the tap, against a socketpair playing the kernel (no root needed):
/// frames lost, duplicated and corrupted as counted, a corrupted TX frame differs from the skb in one
/// bit while the skb stays intact, a partial checksum is resolved before the damage, and the data path
/// still allocates nothing once warm.
/// </summary>
public sealed class TapFaultInjectorTests
{
    private static readonly EthernetAddress KernelMac = EthernetAddress.Parse("02:00:00:00:00:01");
    private static readonly Ipv4Address Kernel = new(10, 201, 0, 1), Us = new(10, 201, 0, 2);

    private static int BitsDiffer(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        int n = 0;
        for (int i = 0; i < a.Length; i++) n += System.Numerics.BitOperations.PopCount((uint)(a[i] ^ b[i]));
        return n;
    }

    [Fact]
    public void Faults_are_applied_as_counted_and_allocate_nothing_once_warm()
    {
        var sink = new CountingSink();
        using var env = new SeqpacketTapEnv(handler: sink);
        var o = new FaultInjectorOptions { LossProbability = 0.2, DuplicateProbability = 0.2, CorruptProbability = 0.2 };
        env.Dev.RxFaults = new SkbFaultInjector(o with { Seed = 3 });
        env.Dev.TxFaults = new SkbFaultInjector(o with { Seed = 4 });
        var frames = new byte[64][];
        for (int i = 0; i < frames.Length; i++)
            frames[i] = TapFrames.Udp(KernelMac, env.Dev.Address, Kernel, Us, 5000, 9000, TapFrames.Payload(100 + i * 20, i), partial: false);
        var tx = TapFrames.Udp(env.Dev.Address, KernelMac, Us, Kernel, 5555, 9001, TapFrames.Payload(1000, 1), partial: false);

        long allocated = 0, txSeen = 0, txCorrupt = 0;
        for (int round = 0; round < 6; round++)
        {
            long used = env.MeasuredRxTxRound(frames, tx); // the peer's side allocates; it is not measured
            if (round >= 2) allocated += used; // rounds 0 and 1 warm the caches
            while (env.PeerReceive() is { } m)
            {
                var frame = m.AsSpan(VirtioNetHdr.Size);
                Assert.Equal(tx.Length, frame.Length);
                int bits = BitsDiffer(tx, frame);
                Assert.InRange(bits, 0, 1);
                txCorrupt += bits;
                txSeen++;
            }
        }
        var rx = env.Dev.RxFaults.Stats;
        var t = env.Dev.TxFaults.Stats;
        Assert.Equal(6 * 64, rx.In);
        Assert.Equal(rx.In - rx.Dropped + rx.Duplicated, sink.Frames);
        Assert.True(rx.Dropped > 0 && rx.Duplicated > 0 && rx.Corrupted > 0, rx.ToString());
        Assert.Equal(6 * 32, t.In);
        Assert.Equal(t.In - t.Dropped + t.Duplicated, txSeen);
        Assert.True(t.Corrupted > 0, t.ToString());
        Assert.True(txCorrupt >= t.Corrupted); // a corrupted frame that was also duplicated is seen twice
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void A_partial_checksum_is_resolved_before_a_tx_frame_is_corrupted()
    {
        using var env = new SeqpacketTapEnv();
        env.Dev.TxFaults = new SkbFaultInjector(new FaultInjectorOptions { CorruptProbability = 1, CorruptOffset = 60 });
        var payload = TapFrames.Payload(600, 7);
        var partial = TapFrames.Udp(env.Dev.Address, KernelMac, Us, Kernel, 5555, 9001, payload, partial: true);
        var full = TapFrames.Udp(env.Dev.Address, KernelMac, Us, Kernel, 5555, 9001, payload, partial: false);
        var skb = env.TxCache.Alloc(partial.Length + 64)!;
        skb.Reserve(64);
        skb.PutData(partial);
        skb.IpSummed = SkbChecksumState.Partial;
        skb.CsumStart = (ushort)(skb.Headroom + 34);
        skb.CsumOffset = 6;
        Assert.Equal(NetdevTxResult.Ok, env.Dev.Transmit(skb));
        var m = env.PeerReceive()!;
        Assert.Equal(0, m[0]); // no NEEDS_CSUM: the checksum in the frame is complete
        var frame = m.AsSpan(VirtioNetHdr.Size);
        Assert.Equal(full.AsSpan(0, 42).ToArray(), frame[..42].ToArray()); // headers and the resolved checksum
        Assert.Equal(1, BitsDiffer(full, frame));                          // one bit flipped, past offset 60
        Assert.Equal(1, env.Dev.TxFaults.Stats.Corrupted);
    }

    [Fact]
    public void Bad_options_are_refused_with_the_field_named()
    {
        Assert.Contains("ReorderProbability", Assert.Throws<ArgumentException>(() => new SkbFaultInjector(new FaultInjectorOptions { ReorderProbability = 0.1 })).Message);
        Assert.Contains("LossProbability", Assert.Throws<ArgumentOutOfRangeException>(() => new SkbFaultInjector(new FaultInjectorOptions { LossProbability = 1.5 })).Message);
        Assert.Throws<ArgumentNullException>(() => new SkbFaultInjector(null!));
    }
}
