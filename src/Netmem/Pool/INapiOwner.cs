namespace Netmem.Pool;

/// <summary>
/// The NAPI context a page_pool belongs to (<c>pp->p.napi</c>). Direct recycling into the alloc
/// cache is only safe on the thread that currently runs this context's poll.
/// </summary>
public interface INapiOwner
{
    /// <summary>NAPI id, reported by page-pool-get.</summary>
    uint NapiId { get; }
    /// <summary>Managed thread id now running the poll loop, or 0 when none is.</summary>
    int PollThreadId { get; }
}
