using System.Security.Cryptography;
using Netmem.Devices;
using Netmem.Drivers.Tap;
using Netmem.Memory;
using Netmem.Zcrx;

namespace Netmem.Tests.Tap;

/// <summary>
/// io_uring zcrx on a tap with the kernel as the sender: python3 in the namespace sends random bytes over the
/// kernel's TCP, the tap driver splits headers in software and writes payload through the IOMMU into the
/// registered application memory, and the stack hands it over as leases read in place; the SHA-256 of what the
/// leases showed is the sender's. Every pool ends at inflight 0 (the env's Dispose), the area is freed.
/// </summary>
public sealed class TapZcrxTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    [Theory]
    [InlineData(1500)]
    [InlineData(9000)]
    public async Task A_kernel_client_sends_64_MiB_into_application_memory_hashed_in_place(int mtu)
    {
        Requires.TapStack();
        using var env = new TapStackEnv(new TapOptions { ThreadedNapi = true, Mtu = mtu }, kernelMtu: mtu, output: output);
        env.Dev.SetRingParam(env.Dev.GetRingParam() with { TcpDataSplit = TcpDataSplit.On });
        using var mem = new PageAlignedMemory(4096 * PageArena.PageSize);
        var ifq = ZcrxIfq.Register(env.Dev, 0, mem.Memory, 4096);
        env.TrackPools();
        const int Total = 64 << 20;
        using var listener = env.Stack.ListenTcp(9);
        string? digest = null;
        long got = 0;
        var receiving = Task.Run(async () =>
        {
            using var s = await listener.AcceptAsync();
            using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await foreach (var lease in s.ReceiveZcrxLeasesAsync(ifq))
            {
                using (lease)
                {
                    h.AppendData(lease.Span);
                    got += lease.Length;
                }
            }
            digest = Convert.ToHexStringLower(h.GetHashAndReset());
        });
        var r = await Task.Run(() => env.Python(Limit, TapTcpInteropTests.PySink, env.OurAddress.ToString(), "9", Total.ToString()));
        Assert.True(r.Succeeded, $"client exit {r.ExitCode}: {r.Stdout} {r.Stderr}");
        await receiving.WaitAsync(Limit);
        var f = r.Stdout.Trim().Split(' ');
        var st = ifq.GetStats();
        output.WriteLine($"MTU {mtu}: {got} bytes; {st}");
        Assert.Equal(Total, got);
        Assert.Equal(f[2], digest);
        Assert.Equal(Total, st.ZeroCopyBytes + st.CopyBytes);
        Assert.True(st.ZeroCopyBytes > Total / 2, $"only {st.ZeroCopyBytes} of {Total} bytes zero copy"); // split into the area, not copied
        Assert.Equal(0, st.RefillMalformed);
        await ifq.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        env.TrackPools();
        Assert.True(ifq.IsFreed);
        Assert.Null(env.Dev.RxQueues[0].MemoryProvider);
    }
}
