using System.Text.Json;

namespace Netmem.Tests.Tap;

/// <summary>What a kernel-side impairment did so far.</summary>
/// <param name="Passed">Frames its root qdisc on the tap handed to the driver: the frames that went through to the stack.</param>
/// <param name="Dropped">Frames it dropped (every qdisc it set up, the eBPF filter's clsact included).</param>
/// <param name="Held">Frames its substitute demonstrably held back (a TBF's overlimits, the slow path's packets); null for netem, which holds every frame by construction.</param>
internal readonly record struct ImpairmentCounters(long Passed, long Dropped, long? Held);

/// <summary>
/// One mechanism for damaging the frames the kernel sends into the tap (the kernel's egress, where
/// netem as the tap's root qdisc acts): tc netem where the kernel has it; otherwise the netem-less
/// substitutes, so the same test runs on every kernel (the project VM's and CI's have no sch_netem).
/// The substitutes, behind a plain pfifo root (or the delay's TBF) that counts what went through:
/// loss, duplicate and corrupt by the <see cref="KernelImpairment"/> eBPF filter (corruption in the
/// IPv4 header, whose checksum is final before tc); delay by a <see cref="KernelShaping"/> TBF
/// bottleneck (queueing delay, no jitter); reorder by sending the spec's fraction through a slow ifb
/// path. <see cref="Backend"/> says which ran, for the test's output.
/// </summary>
internal sealed class KernelEgressImpairment
{
    // Delay substitute: frames queue behind 4 Mbit/s, which even a sender slowed by a loaded machine overruns;
    // 2 s of queue (1 MB) holds a whole test burst, so nothing is tail dropped.
    private const int DelayRateMbit = 4, DelayLatencyMs = 2000;
    // Reorder substitute: the diverted frames cross 2 Mbit/s (~5.6 ms a full frame, more as they queue) while
    // the rest pass at once; 2 s of queue (500 kB), no tail drops.
    private const int SlowRateMbit = 2, SlowLatencyMs = 2000;

    private readonly TapStackEnv _env;
    private readonly string? _slowPath; // the reorder substitute's ifb

    private KernelEgressImpairment(TapStackEnv env, KernelImpairmentSpec spec, string backend, string? slowPath)
    {
        _env = env;
        Spec = spec;
        Backend = backend;
        _slowPath = slowPath;
    }

    public KernelImpairmentSpec Spec { get; }

    /// <summary>"netem", or the substitute and its parameters.</summary>
    public string Backend { get; }

    /// <summary>
    /// Applies <paramref name="spec"/> to the kernel's egress on the tap: netem if this kernel has it,
    /// else the substitute; the test is skipped (a failure under NETMEM_REQUIRE_ALL=1) with both reasons when neither can.
    /// </summary>
    public static KernelEgressImpairment Apply(TapStackEnv env, KernelImpairmentSpec spec)
    {
        if ((spec.Reorder > 0 || spec.DelayMs > 0) && (spec.Loss > 0 || spec.Duplicate > 0 || spec.Corrupt > 0))
            throw new ArgumentException($"'{spec}': the substitute does delay or reorder, or loss/duplicate/corrupt, not both at once", nameof(spec));
        var netem = env.Sh(TimeSpan.FromSeconds(10), $"tc qdisc add dev {env.Ifname} root netem {spec.NetemArgs}");
        if (netem.Succeeded) return new(env, spec, "netem", null);
        string noNetem = $"'tc qdisc add ... netem {spec.NetemArgs}' failed: {netem.Stderr.Trim()}";

        string why = "", backend;
        string? slowPath = null;
        bool ok;
        if (spec.Reorder > 0)
        {
            // netem sends the reorder fraction ahead of the delayed rest; here that fraction falls behind the rest instead. Either way later frames overtake earlier ones.
            slowPath = KernelShaping.Ifb(ingress: false, reorder: true);
            ok = AddRoot(env, "pfifo limit 10000", out why)
                && KernelShaping.TryAddReorder(env, ingress: false, spec.Reorder, SlowRateMbit, SlowLatencyMs, out why);
            backend = $"{P(spec.Reorder)} of the frames through an ifb with a {SlowRateMbit} Mbit/s TBF";
        }
        else if (spec.DelayMs > 0)
        {
            ok = KernelShaping.TryAddDelay(env, ingress: false, DelayRateMbit, DelayLatencyMs, out why);
            backend = $"a {DelayRateMbit} Mbit/s TBF queue (up to {DelayLatencyMs} ms; queueing delay, no jitter)";
        }
        else
        {
            ok = AddRoot(env, "pfifo limit 10000", out why)
                && KernelImpairment.TryAttach(env, ingress: false, spec.Loss, spec.Duplicate, spec.Corrupt, out why);
            backend = $"an eBPF tc filter (loss {P(spec.Loss)}, duplicate {P(spec.Duplicate)}, corrupt {P(spec.Corrupt)} in the IPv4 header)";
        }
        if (!ok) Requires.Skip($"{noNetem}; the netem-less substitute failed too: {why}");
        return new(env, spec, $"substitute for netem (not on this kernel): {backend}", slowPath);
    }

    private static string P(double p) => (p * 100).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) + "%";

    private static bool AddRoot(TapStackEnv env, string qdisc, out string why)
    {
        var r = env.Sh(TimeSpan.FromSeconds(10), $"tc qdisc replace dev {env.Ifname} root {qdisc}");
        why = r.Succeeded ? "" : $"'tc qdisc replace ... root {qdisc}' failed: {r.Stderr.Trim()}";
        return r.Succeeded;
    }

    /// <summary>What went through, what was dropped and what was held, from the qdiscs' own statistics.</summary>
    public ImpairmentCounters Counters()
    {
        long passed = -1, dropped = 0;
        long? held = null;
        foreach (var q in Qdiscs(_env.Ifname))
        {
            dropped += q.GetProperty("drops").GetInt64();
            if (!q.TryGetProperty("root", out var root) || !root.GetBoolean()) continue;
            passed = q.GetProperty("packets").GetInt64();
            if (q.GetProperty("kind").GetString() == "tbf") held = q.GetProperty("overlimits").GetInt64();
        }
        if (passed < 0) throw new InvalidOperationException($"no root qdisc on {_env.Ifname}");
        if (_slowPath is not null)
            foreach (var q in Qdiscs(_slowPath))
            {
                dropped += q.GetProperty("drops").GetInt64();
                held = (held ?? 0) + q.GetProperty("packets").GetInt64();
            }
        return new(passed, dropped, held);
    }

    private List<JsonElement> Qdiscs(string dev)
    {
        var r = _env.Sh(TimeSpan.FromSeconds(10), $"tc -s -j qdisc show dev {dev}");
        if (!r.Succeeded) throw new InvalidOperationException($"tc -s qdisc show dev {dev}: {r.Stderr}");
        return [.. JsonDocument.Parse(r.Stdout).RootElement.EnumerateArray().Select(q => q.Clone())];
    }
}
