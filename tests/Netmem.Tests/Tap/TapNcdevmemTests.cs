using Netmem.Cli.Ncdevmem;

namespace Netmem.Tests.Tap;

/// <summary>
/// ncdevmem's server on a tap with a kernel client: python3 in the tap's namespace sends the -v pattern over
/// the kernel's TCP, the tap driver splits headers in software into the bound dma-buf, and the stack
/// receives with tokens; every byte is validated, every token released and counted by DONTNEED, every
/// pool at inflight 0 after.
/// </summary>
public sealed class TapNcdevmemTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(false, 1500)]
    [InlineData(true, 9000)]
    public void A_kernel_client_sends_64_MiB_into_a_bound_tap_queue_validated_byte_for_byte(bool deviceMemory, int mtu)
    {
        Requires.TapStack();
        const long Bytes = 64L << 20;
        var log = new StringWriter();
        var r = NcdevmemTap.Run(new NcdevmemOptions { Bytes = Bytes, Modulus = 7, DeviceMemory = deviceMemory, Pages = 4096 },
            ifname: null, address: null, mtu: mtu, listenOnly: false, TimeSpan.FromSeconds(60), log);
        output.WriteLine(log.ToString());
        var s = r.Server;
        Assert.True(s.Error is null, s.Error);
        Assert.Equal(0, s.Mismatches);
        Assert.True(s.Validated);
        Assert.Equal(Bytes, r.Sent);
        Assert.Equal(Bytes, s.StreamBytes);
        Assert.True(s.TotalReceived > Bytes / 2, $"only {s.TotalReceived} of {Bytes} bytes in dma-buf frags"); // payload in the binding, not copied
        Assert.Equal(s.PageAlignedFrags + s.NonPageAlignedFrags, s.TokensReleased); // DONTNEED freed every token it was given
        Assert.True(r.Pools > 0);
        Assert.Equal(0, r.PoolInflight);
        Assert.True(r.BindingFreed);
        Assert.True(r.DmaBufReleased);
        Assert.Equal(0, r.ArenaPagesLeft);
        Assert.True(r.Ok);
    }

    /// <summary>ncdevmem's documented sender, <c>yes $(printf ...) | head -c N | nc</c> (socat for nc), in the namespace.</summary>
    [Fact]
    public void The_yes_head_socat_pipeline_ncdevmem_documents_is_validated_through_the_tap()
    {
        Requires.TapStack("socat");
        const long Bytes = 32L << 20;
        var log = new StringWriter();
        var r = NcdevmemTap.Run(new NcdevmemOptions { Bytes = Bytes, Modulus = 7, Pages = 4096 },
            ifname: null, address: null, mtu: 1500, listenOnly: false, TimeSpan.FromSeconds(60), log, client: "socat");
        output.WriteLine(log.ToString());
        Assert.Contains("kernel client: socat", log.ToString());
        Assert.True(r.Server.Error is null, r.Server.Error);
        Assert.Equal(0, r.Server.Mismatches);
        Assert.Equal(Bytes, r.Sent);
        Assert.Equal(Bytes, r.Server.StreamBytes);
        Assert.Equal(r.Server.PageAlignedFrags + r.Server.NonPageAlignedFrags, r.Server.TokensReleased);
        Assert.Equal(0, r.PoolInflight);
        Assert.True(r.Ok);
    }
}
