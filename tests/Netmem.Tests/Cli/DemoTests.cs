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
        // devmem: bind, a TCP transfer received as tokens, DONTNEED, the binding freed and every pool drained.
        Assert.Contains("== devmem TCP", text);
        Assert.Matches(@"got dmabuf id=\d+ \(device memory, 4096 pages\) on vnic1 rx queues 1", text);
        Assert.Contains("binding chunks in use", text);
        var tokens = System.Text.RegularExpressions.Regex.Match(text, @"tokens: (\d+) handed out, (\d+) released by SO_DEVMEM_DONTNEED, 0 outstanding");
        Assert.True(tokens.Success, text);
        Assert.True(long.Parse(tokens.Groups[1].Value) >= (64 << 20) / 4096, tokens.Value);
        Assert.Equal(tokens.Groups[1].Value, tokens.Groups[2].Value);
        Assert.Contains("67108864 bytes in", text);
        Assert.Contains("every byte validated in device memory", text);
        Assert.Contains("binding freed True, dma-buf released True, pool inflight 0", text);
    }
}
