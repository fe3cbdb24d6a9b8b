using System.Security.Cryptography;
using Netmem.Tests.DevmemRx;
using Netmem.Tests.Tcp;

namespace Netmem.Tests.Zcrx;

/// <summary>Bulk zero-copy receive into application memory over the VirtualNic pair: hashed end to end, allocation-free in steady state.</summary>
public sealed class ZcrxTransferTests(ITestOutputHelper output)
{
    [Fact]
    public void A_256_MiB_transfer_lands_in_application_memory_with_the_senders_sha256()
    {
        using var env = new ZcrxTestEnv(areaPages: 4096);
        var (c, s) = env.Connect(env.Listen());
        var data = DevmemReceiveTests.Pattern(256 << 20, 21);
        var hash = env.Transfer(c, s, data, out long completions);
        var st = env.Ifq.GetStats();
        output.WriteLine($"256 MiB in {completions} completions; pool {env.Pool}; {st}");
        Assert.Equal(SHA256.HashData(data), hash);
        Assert.Equal(data.Length, st.ZeroCopyBytes + st.CopyBytes);
        Assert.Equal(data.Length, st.ZeroCopyBytes); // all of it zero copy: header split on the steered queue
        Assert.Equal(0, st.RefillMalformed);
        Assert.True(env.Pool.HoldCount <= env.Ifq.Area.Count, $"{env.Pool.HoldCount} holds for {env.Ifq.Area.Count} buffers");
        c.Dispose();
        s.Dispose();
    }

    [Fact]
    public void Steady_state_zcrx_receive_and_refill_allocate_nothing()
    {
        using var env = new ZcrxTestEnv(areaPages: 4096, clock: new StillClock());
        var (c, s) = env.Connect(env.Listen());
        var data = DevmemReceiveTests.Pattern(48 << 20, 22);
        var hash = env.Transfer(c, s, data, out long completions, out long allocated, timers: false);
        output.WriteLine($"48 MiB in {completions} completions, {allocated} bytes allocated in the middle half");
        Assert.Equal(SHA256.HashData(data), hash);
        Assert.Equal(0, allocated);
        c.Dispose();
        s.Dispose();
    }
}
