namespace Netmem.Cli.Ncdevmem;

/// <summary>What an ncdevmem server saw: byte and frag counts, mismatches, and the fatal error if any.</summary>
internal sealed record NcdevmemResult
{
    /// <summary>Bytes received in dma-buf frags (ncdevmem's total_received).</summary>
    public long TotalReceived { get; init; }
    /// <summary>Bytes received as linear (host memory) data.</summary>
    public long LinearBytes { get; init; }
    /// <summary>All stream bytes (dma-buf and linear).</summary>
    public long StreamBytes => TotalReceived + LinearBytes;
    public long PageAlignedFrags { get; init; }
    public long NonPageAlignedFrags { get; init; }
    /// <summary>recvmsg(MSG_SOCK_DEVMEM) calls that returned data.</summary>
    public long Calls { get; init; }
    /// <summary>Tokens released with SO_DEVMEM_DONTNEED (and counted back by it).</summary>
    public long TokensReleased { get; init; }
    /// <summary>Bytes that differed from the pattern.</summary>
    public int Mismatches { get; init; }
    /// <summary>Whether the stream was validated (-v not 0).</summary>
    public bool Validated { get; init; }
    /// <summary>The error that ended the run (ncdevmem's error(1, ...)), or null.</summary>
    public string? Error { get; init; }
    public double Seconds { get; init; }
    public double Gbps => Seconds > 0 ? StreamBytes * 8 / Seconds / 1e9 : 0;
    /// <summary>A clean run: no error and no mismatch.</summary>
    public bool Ok => Error is null && Mismatches == 0;
}
