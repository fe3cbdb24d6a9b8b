using System.Buffers.Binary;
using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Drivers.Tap;
using Netmem.Memory;
using Netmem.Skb;
using Netmem.Tests.Dmabuf;

namespace Netmem.Tests.Tap;

/// <summary>
/// The Linux kernel sends into a dma-buf bound tap queue: a Python socket in the namespace sends UDP
/// datagrams to us, the driver splits them in software, and the payload is found byte for byte in the
/// device memory (read back through the verification hook), the headers in host memory.
/// </summary>
public sealed class TapDevmemKernelTests
{
    private static byte[] Expected(int seq, int n)
    {
        var p = new byte[n];
        for (int j = 0; j < n; j++) p[j] = (byte)((j * 13 + seq) & 0xff);
        BinaryPrimitives.WriteInt32BigEndian(p, seq);
        return p;
    }

    private static List<SkBuff> Send(TapTestEnv env, int[] sizes)
    {
        var r = env.RunPolling(TimeSpan.FromSeconds(10), "python3", "-c", TapUdpTests.PySend, env.OurAddress.ToString(), string.Join(',', sizes));
        Assert.True(r.Succeeded, $"python sender failed (exit {r.ExitCode}): {r.Stderr}");
        Assert.True(env.PollUntil(() => env.Responder.KeptCount >= sizes.Length, TimeSpan.FromSeconds(5)),
            $"{env.Responder.KeptCount} of {sizes.Length} datagrams arrived; drops {string.Join(", ", env.Dev.GetDrops())}");
        return env.Responder.TakeKept();
    }

    [Fact]
    public void Kernel_udp_into_a_bound_tap_queue_lands_split_with_payload_in_device_memory()
    {
        Requires.Tap();
        Requires.Tools("python3");
        using var env = new TapTestEnv(new TapOptions { Mtu = 9000 }, kernelMtu: 9000);
        env.Dev.SetRingParam(env.Dev.GetRingParam() with { TcpDataSplit = TcpDataSplit.On });
        env.TrackPools();
        using var buf = new DeviceMemoryDmaBuf(1024L * PageArena.PageSize, "tap-hbm");
        using var binding = NetDevmemBinding.BindRx(env.Dev, buf, [0]);
        env.TrackPools();
        var read = BindRxTests.Reader(buf);

        foreach (bool offloads in new[] { true, false })
        {
            if (!offloads) env.Dev.SetFeatures(NetdevFeatures.Sg | NetdevFeatures.RxCsum); // TUN_F_CSUM only: the kernel still leaves checksums partial
            int[] sizes = [4, 100, 1400, 8900];
            var kept = Send(env, sizes);
            try
            {
                Assert.Equal(sizes.Length, kept.Count);
                foreach (var skb in kept)
                {
                    Assert.True(skb.Unreadable, "the datagram's payload should be in device memory");
                    Assert.Equal(28, skb.HeadLen); // IPv4 + UDP headers in host memory
                    var payload = BindRxTests.DevmemPayload(skb, read);
                    int seq = BinaryPrimitives.ReadInt32BigEndian(payload);
                    Assert.InRange(seq, 0, sizes.Length - 1);
                    Assert.Equal(Expected(seq, sizes[seq]), payload);
                    Assert.Equal(sizes[seq] + 8, BinaryPrimitives.ReadUInt16BigEndian(skb.Data[24..])); // UDP length, readable
                    Assert.NotEqual(SkbChecksumState.None, skb.IpSummed);
                }
            }
            finally
            {
                foreach (var s in kept) s.Free();
            }
        }
        env.Dev.PollAll();
        binding.Dispose();
        env.TrackPools();
        Assert.True(binding.IsFreed);
    }
}
