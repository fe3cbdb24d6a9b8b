using Netmem.Cli;

namespace Netmem.Tests.Cli;

/// <summary>The .NET Socket loopback baseline of <c>netmem perf</c> moves and checks real bytes (127.0.0.1 only, bounded in time).</summary>
public sealed class PerfBaselineTests
{
    [Fact]
    public void Dotnet_socket_loopback_baseline_moves_content_checked_bytes()
    {
        var r = PerfBaselines.DotnetSocketLoopback(0.2);
        Assert.Null(r.Skipped); // a content mismatch is reported here
        Assert.True(r.Bytes >= 64 * 1024, $"only {r.Bytes} bytes moved");
        Assert.True(r.GoodputGbps > 0);
    }
}
