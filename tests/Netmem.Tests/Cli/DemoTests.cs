using Netmem.Cli;

namespace Netmem.Tests.Cli;

public class DemoTests
{
    [Fact]
    public void Demo_runs_and_reports_the_memory_model()
    {
        var sw = new StringWriter();
        Assert.Equal(0, DemoCommand.Run(sw));
        string text = sw.ToString();
        Assert.Contains("device memory now holds: \"hello from a host page, by DMA into device memory\"", text);
        Assert.Contains("CPU read of the net_iov refused", text);
        Assert.Contains("mapping direction forbids this access", text);
        Assert.Contains("256 of 256 pages free", text);
        Assert.Contains("== TCP between two stacks", text);
        Assert.Contains("content verified (every byte", text);
        Assert.Contains("pool inflight 0, arena pages not returned 0", text);
    }
}
