namespace Netmem.Pool;

/// <summary>
/// Marks the current thread as running a NAPI poll (the kernel's <c>napi->list_owner ==
/// smp_processor_id()</c>). A page_pool bound to that NAPI id may then recycle straight into its
/// alloc cache, even when the caller did not pass allowDirect (<c>page_pool_napi_local</c>).
/// </summary>
public static class NapiScope
{
    [ThreadStatic] private static uint t_current;

    /// <summary>The NAPI id this thread is polling now, 0 when none.</summary>
    public static uint Current => t_current;

    /// <summary>Enters a poll of <paramref name="napiId"/> on this thread; dispose the result to leave it.</summary>
    public static Scope Enter(uint napiId)
    {
        uint previous = t_current;
        t_current = napiId;
        return new Scope(previous);
    }

    public readonly struct Scope : IDisposable
    {
        private readonly uint _previous;
        internal Scope(uint previous) => _previous = previous;
        public void Dispose() => t_current = _previous;
    }
}
