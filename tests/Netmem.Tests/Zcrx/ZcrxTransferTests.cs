using System.Security.Cryptography;
using Netmem.Tests.DevmemRx;
using Netmem.Tests.Tcp;

namespace Netmem.Tests.Zcrx;

/// <summary>Bulk zero-copy receive into application memory over the VirtualNic pair: hashed end to end, allocation-free in steady state.</summary>
public sealed class ZcrxTransferTests(ITestOutputHelper output)
{
    /// <summary>2 GiB (a 256 MiB pattern sent eight times over): every byte compared at its stream offset and hashed.</summary>
    [Fact]
    public void A_2_GiB_transfer_lands_in_application_memory_with_the_senders_sha256()
    {
        using var env = new ZcrxTestEnv(areaPages: 4096);
        var (c, s) = env.Connect(env.Listen());
        var data = DevmemReceiveTests.Pattern(256 << 20, 21);
        const int Repeat = 8;
        var hash = env.Transfer(c, s, data, out long completions, out _, repeat: Repeat);
        var st = env.Ifq.GetStats();
        output.WriteLine($"2 GiB in {completions} completions; pool {env.Pool}; {st}");
        using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int i = 0; i < Repeat; i++) expected.AppendData(data);
        Assert.Equal(expected.GetHashAndReset(), hash);
        long total = (long)data.Length * Repeat;
        Assert.Equal(total, st.ZeroCopyBytes + st.CopyBytes);
        Assert.Equal(total, st.ZeroCopyBytes); // all of it zero copy: header split on the steered queue
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
