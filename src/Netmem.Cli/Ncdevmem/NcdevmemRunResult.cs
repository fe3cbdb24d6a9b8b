namespace Netmem.Cli.Ncdevmem;

/// <summary>What an ncdevmem run did (in memory or over a tap): the server's result, what the client sent, and the teardown checks.</summary>
internal sealed record NcdevmemRunResult(NcdevmemResult Server, long Sent, int Pools, long PoolInflight, bool BindingFreed, bool DmaBufReleased, int ArenaPagesLeft)
{
    /// <summary>Everything sent arrived validated, and every pool, net_iov and page came back.</summary>
    public bool Ok => Server.Ok && Server.StreamBytes == Sent && PoolInflight == 0 && BindingFreed && DmaBufReleased && ArenaPagesLeft == 0;
}

