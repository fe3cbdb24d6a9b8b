namespace Netmem.Stack;

/// <summary>What a <see cref="StackTimer"/> calls when it expires (a connection implements it once for all its timers).</summary>
public interface IStackTimerTarget
{
    /// <summary>Runs on the owning <see cref="StackContext"/>'s thread. <paramref name="kind"/> is the value the timer was made with.</summary>
    void OnTimer(StackTimer timer, int kind, long nowUs);
}

/// <summary>
/// One timer of one owner (the kernel's <c>struct timer_list</c> embedded in a socket). Made once and
/// re-armed for ever, so arming allocates nothing. Only the owning context's thread arms or cancels it.
/// </summary>
public sealed class StackTimer
{
    internal int HeapIndex = -1;
    internal long Due;
    internal long Sequence; // ties broken by arming order, so equal deadlines fire deterministically

    public StackTimer(IStackTimerTarget target, int kind = 0)
    {
        Target = target ?? throw new ArgumentNullException(nameof(target));
        Kind = kind;
    }

    public IStackTimerTarget Target { get; }
    public int Kind { get; }
    /// <summary>Whether the timer is armed (<c>timer_pending</c>).</summary>
    public bool IsArmed => HeapIndex >= 0;
    /// <summary>The deadline in the context's microseconds (meaningful while armed).</summary>
    public long DueUs => Due;
}
