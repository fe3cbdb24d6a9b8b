using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Tests.Devices;

namespace Netmem.Tests.Dmabuf;

/// <summary>
/// Hardware header split into a bound queue over the VirtualNic pair: ntuple steers the flow to the bound
/// queue, headers land in the readable header pool, payload in the binding's net_iovs.
/// </summary>
public class HeaderSplitTests
{
    private static readonly VirtualNicOptions Jumbo = new() { TcpDataSplit = TcpDataSplit.On, Mtu = 9000 };

    private static byte[] Frame(NicTestEnv env, int len, int seed) =>
        TestFrames.Tcp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 40000, 5201, (uint)seed, 0x18, TestFrames.Payload(len, seed));

    private static void CheckSplit(SkBuff skb, byte[] frame, NetDevmemBinding binding, Func<long, int, byte[]> read)
    {
        Assert.True(skb.Unreadable);
        Assert.Equal(40, skb.HeadLen);                              // IPv4 + TCP headers, readable
        Assert.Equal(frame.AsSpan(14, 40).ToArray(), skb.Data[..40].ToArray());
        Assert.Equal(frame.Length - 54, skb.DataLen);
        Assert.True(skb.NrFrags >= 1);
        for (int f = 0; f < skb.NrFrags; f++)
            Assert.Same(binding, skb.Frags[f].Netmem.NetIovOwner.Owner);
        Assert.Equal(frame.AsSpan(54).ToArray(), BindRxTests.DevmemPayload(skb, read));
    }

    private static void Drain(NicTestEnv env, int queue)
    {
        env.RxB.FreeAll();
        env.B.GetNapi(queue).Schedule(); // skbs freed off the NAPI context are freed by its next poll
        env.Pair.PollAll();
    }

    [Fact]
    public void Payloads_of_1_to_8192_bytes_land_split_headers_in_host_memory_payload_in_net_iovs()
    {
        using var env = new NicTestEnv(Jumbo, Jumbo with { Queues = 2 }, pages: 16384);
        using var buf = new DeviceMemoryDmaBuf(2048L * PageArena.PageSize, "hbm");
        using var binding = NetDevmemBinding.BindRx(env.B, buf, [1]);
        env.TrackPools();
        env.B.AddNtupleRule(new NtupleRule { Location = 0, FlowType = NtupleFlowType.Tcp4, DstPort = 5201, Action = 1 });
        var read = BindRxTests.Reader(buf);
        var q = env.B.RxQueues[1];
        const int batch = 64;
        var frames = new List<byte[]>(batch);
        for (int first = 1; first <= 8192; first += batch)
        {
            frames.Clear();
            for (int len = first; len < first + batch && len <= 8192; len++)
            {
                var f = Frame(env, len, len);
                frames.Add(f);
                Assert.Equal(NetdevTxResult.Ok, env.Send(env.A, f));
            }
            env.Pair.PollAll();
            Assert.Equal(frames.Count, env.RxB.Received.Count);
            for (int i = 0; i < frames.Count; i++)
            {
                var (queue, skb) = env.RxB.Received[i];
                Assert.Equal(1, queue);
                CheckSplit(skb, frames[i], binding, read);
            }
            Drain(env, 1);
        }
        Assert.Equal(8192, q.Stats.Unreadable);
        Assert.Equal(8192, q.Stats.HdsSplit);
        Assert.Equal(8192, q.Stats.NtupleHits);
        Assert.Equal(0, q.Stats.HwDrops);
        binding.Dispose();
        env.TrackPools();
        Assert.True(binding.IsFreed);
    }

    [Fact]
    public void A_memfd_binding_receives_payload_the_cpu_reads_between_begin_and_end_cpu_access()
    {
        using var env = new NicTestEnv(Jumbo, Jumbo with { Queues = 2 });
        using var buf = new MemfdDmaBuf(512L * PageArena.PageSize, "udmabuf", segmentSize: 64L * PageArena.PageSize);
        using var binding = NetDevmemBinding.BindRx(env.B, buf, [1]);
        env.TrackPools();
        Assert.Equal(8, binding.Areas.Count);
        env.B.AddNtupleRule(new NtupleRule { Location = 0, FlowType = NtupleFlowType.Tcp4, DstPort = 5201, Action = 1 });
        int[] sizes = [1, 2, 100, 1448, 4095, 4096, 4097, 8192];
        var frames = sizes.Select((n, i) => Frame(env, n, i + 1)).ToList();
        foreach (var f in frames) env.Send(env.A, f);
        env.Pair.PollAll();
        Assert.Equal(sizes.Length, env.RxB.Received.Count);
        byte[] Read(long off, int len)
        {
            var span = buf.BeginCpuAccess(off, len, DmaDirection.FromDevice); // udmabuf: the user reads its own memory
            var copy = span.ToArray();
            buf.EndCpuAccess(DmaDirection.FromDevice);
            return copy;
        }
        for (int i = 0; i < sizes.Length; i++) CheckSplit(env.RxB.Received[i].Skb, frames[i], binding, Read);
        Drain(env, 1);
        binding.Dispose();
        env.TrackPools();
        Assert.True(binding.IsFreed);
        Assert.Equal(1, buf.RefCount);
    }
}

/// <summary>Receive into a bound queue allocates no managed memory once warm (pool, provider, chunk pool, binding references).</summary>
public class DevmemAllocationTests
{
    private sealed class DevmemCheckingHandler(byte[] expect, DeviceMemoryDmaBuf buf) : INetdevRxHandler
    {
        public long Count, Bad;
        private readonly byte[] _buf = new byte[4096];
        public void Receive(NetDevice dev, NetdevRxQueue queue, SkBuff skb)
        {
            // Headers from the head, payload through the verification hook; a frag reference taken and dropped
            // on the way (what a devmem token does) to exercise the binding's reference counting.
            skb.Data.CopyTo(_buf);
            int at = skb.HeadLen;
            for (int i = 0; i < skb.NrFrags; i++)
            {
                var f = skb.Frags[i];
                f.Netmem.Get();
                buf.ReadForVerification((long)f.Netmem.NetIovVirtualAddr + f.Offset, _buf.AsSpan(at, f.Size));
                f.Netmem.Put();
                at += f.Size;
            }
            if (!skb.Unreadable || !_buf.AsSpan(0, at).SequenceEqual(expect.AsSpan(14))) Bad++;
            Count++;
            skb.Free();
        }
    }

    [Fact]
    public void Steady_state_receive_into_a_bound_queue_allocates_nothing()
    {
        var o = new VirtualNicOptions { Queues = 1, TcpDataSplit = TcpDataSplit.On };
        using var env = new NicTestEnv(o, o);
        using var buf = new DeviceMemoryDmaBuf(1024L * PageArena.PageSize, "hbm");
        using var binding = NetDevmemBinding.BindRx(env.B, buf, [0]);
        env.TrackPools();
        var frame = TestFrames.Tcp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 1, 2, 3, 0x10, TestFrames.Payload(1400, 5));
        var h = new DevmemCheckingHandler(frame, buf);
        env.B.RxHandler = h;
        Assert.Equal(0, env.AllocatedOverSteadyRounds(frame));
        Assert.Equal(700 * 32, h.Count);
        Assert.Equal(0, h.Bad);
        binding.Dispose();
        env.TrackPools();
        Assert.True(binding.IsFreed);
    }
}
