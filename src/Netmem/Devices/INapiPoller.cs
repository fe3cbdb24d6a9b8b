namespace Netmem.Devices;

/// <summary>The driver side of NAPI: process up to a budget of completions and say how many were done.</summary>
public interface INapiPoller
{
    /// <summary>
    /// Called on the NAPI context's thread. Returning less than <paramref name="budget"/> means the
    /// queue is drained; the context then completes (and re-polls if it was scheduled meanwhile).
    /// </summary>
    int Poll(Napi napi, int budget);
}
