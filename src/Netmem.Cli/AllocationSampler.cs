using System.Diagnostics.Tracing;

namespace Netmem.Cli;

/// <summary>
/// Which types a run allocates, from the runtime's GCAllocationTick events (one about every 100 KB
/// allocated, naming the type that crossed the line): a sampled profile for <c>perf --alloc-trace</c>,
/// to find what breaks zero allocation without an external profiler.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly Dictionary<string, long> _bytesByType = new();
    private readonly Lock _lock = new();
    private volatile bool _on;

    public void Start() => _on = true;
    public void Stop() => _on = false;

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, GcKeyword);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!_on || e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.Payload is null) return;
        string type = "?";
        long amount = 0;
        for (int i = 0; i < e.Payload.Count; i++)
        {
            string? name = e.PayloadNames?[i];
            if (name == "TypeName") type = e.Payload[i] as string ?? "?";
            else if (name == "AllocationAmount64") amount = Convert.ToInt64(e.Payload[i]);
            else if (name == "AllocationAmount" && amount == 0) amount = Convert.ToInt64(e.Payload[i]);
        }
        lock (_lock) _bytesByType[type] = _bytesByType.GetValueOrDefault(type) + amount;
    }

    /// <summary>The types with the most sampled bytes, largest first.</summary>
    public IReadOnlyList<(string Type, long Bytes)> Top(int n)
    {
        lock (_lock) return _bytesByType.OrderByDescending(kv => kv.Value).Take(n).Select(kv => (kv.Key, kv.Value)).ToList();
    }
}
