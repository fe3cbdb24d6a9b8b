namespace Netmem.Stack;

/// <summary>
/// A unit of work posted to a <see cref="StackContext"/> from another thread (a socket call asking its
/// flow to send, close, or update its window). An object posts itself: it is linked intrusively, so
/// posting allocates nothing, and posting one already queued is a no-op, so a burst of calls costs one run.
/// </summary>
public abstract class StackWork
{
    internal StackWork? NextWork;
    internal int Queued; // 1 while linked in a context's queue

    /// <summary>Runs on the context's thread. Work posted again while running is run again later.</summary>
    protected internal abstract void Run(StackContext context);
}
