using System.Globalization;
using System.Text.Json;

namespace Netmem.Tests.Tap;

/// <summary>
/// Kernel-side delay and reordering without netem (the project VM's kernel has neither sch_netem nor
/// sch_fq, whose skb->tstamp pacing could hold a frame for a fixed time). What it has: sch_tbf, ifb,
/// act_mirred, cls_u32 and cls_bpf. Delay is queueing delay behind a TBF bottleneck (rate + latency
/// bound): on egress (kernel to stack) the tap's root qdisc, on ingress (stack to kernel) an ifb the
/// clsact ingress hook redirects every frame to (ifb hands it back to the tap's ingress afterwards).
/// Reordering sends a random fraction of the frames (an eBPF classifier matching with that probability,
/// with a mirred action) through an ifb whose slow TBF makes them arrive after their successors.
/// Every device lives in the test's namespace and goes with it.
/// </summary>
internal static class KernelShaping
{
    /// <summary>argv: pinpath probability; a cls_bpf program (not direct action) matching a frame with that probability.</summary>
    private const string PyMatch = """
import ctypes, struct, sys, os
pin, p = sys.argv[1], int(float(sys.argv[2]) * 4294967295)
assert p < (1 << 31), 'probability must be below 0.5'
def ins(op, dst=0, src=0, off=0, imm=0): return struct.pack('<BBhi', op, (src << 4) | dst, off, imm)
code = b''.join([ins(0x85, imm=7),                  # r0 = bpf_get_prandom_u32()
                 ins(0xa5, 0, 0, 2, p),             # if r0 < p: goto match
                 ins(0xb7, 0, imm=0), ins(0x95),    # return 0: no match, the next filter
                 ins(0xb7, 0, imm=-1), ins(0x95)])  # return -1: match, run the filter's actions
libc = ctypes.CDLL(None, use_errno=True)
insns = ctypes.create_string_buffer(code, len(code)); lic = ctypes.create_string_buffer(b'GPL'); log = ctypes.create_string_buffer(65536)
attr = struct.pack('<IIQQIIQII16s', 3, len(code) // 8, ctypes.addressof(insns), ctypes.addressof(lic), 1, len(log), ctypes.addressof(log), 0, 0, b'nm_match')
attr += bytes(128 - len(attr)); ab = ctypes.create_string_buffer(attr, len(attr))
fd = libc.syscall(321, 5, ab, len(attr))  # BPF_PROG_LOAD, BPF_PROG_TYPE_SCHED_CLS
if fd < 0: print('BPF_PROG_LOAD failed', os.strerror(ctypes.get_errno()), log.value.decode(errors='replace')[-2000:]); sys.exit(1)
pp = ctypes.create_string_buffer(pin.encode()); pa = struct.pack('<QII', ctypes.addressof(pp), fd, 0) + bytes(8); pb = ctypes.create_string_buffer(pa, len(pa))
if libc.syscall(321, 6, pb, len(pa)) < 0: print('BPF_OBJ_PIN failed', os.strerror(ctypes.get_errno())); sys.exit(1)
print('loaded')
""";

    // A delay bucket holds a few frames; a reorder bucket little more than one, so the slow path is slow from the first frame.
    private static string Tbf(double rateMbit, int latencyMs, bool reorder = false) => $"tbf rate {rateMbit.ToString("0.###", CultureInfo.InvariantCulture)}mbit burst {(reorder ? "3kb" : "16kb")} latency {latencyMs}ms";

    /// <summary>The ifb a direction's delay (d) or reorder (r) path uses.</summary>
    public static string Ifb(bool ingress, bool reorder) => $"nmifb{(reorder ? 'r' : 'd')}{(ingress ? 'i' : 'e')}";

    /// <summary>
    /// A TBF bottleneck of <paramref name="rateMbit"/> holding at most <paramref name="latencyMs"/> of
    /// queue, on frames into the kernel (<paramref name="ingress"/>) or out of it; the test is skipped with the reason when this kernel cannot.
    /// </summary>
    public static void AddDelay(TapStackEnv env, bool ingress, int rateMbit, int latencyMs)
    {
        if (!TryAddDelay(env, ingress, rateMbit, latencyMs, out string why)) Requires.Skip(why);
    }

    /// <summary><see cref="AddDelay"/> that reports a failure in <paramref name="why"/> instead of skipping.</summary>
    public static bool TryAddDelay(TapStackEnv env, bool ingress, int rateMbit, int latencyMs, out string why)
    {
        string script = ingress
            ? $"{AddIfb(Ifb(ingress, false), rateMbit, latencyMs)} && {Clsact(env)} && tc filter add dev {env.Ifname} ingress pref 10 u32 match u32 0 0 action mirred egress redirect dev {Ifb(ingress, false)}"
            : $"tc qdisc replace dev {env.Ifname} root {Tbf(rateMbit, latencyMs)}";
        return TryRun(env, script, "delay", out why);
    }

    /// <summary>
    /// Sends a random <paramref name="fraction"/> of the frames of one direction through an ifb with a
    /// TBF of <paramref name="slowRateMbit"/> (at most <paramref name="latencyMs"/> queued), so they fall behind the rest.
    /// </summary>
    public static void AddReorder(TapStackEnv env, bool ingress, double fraction, double slowRateMbit, int latencyMs)
    {
        if (!TryAddReorder(env, ingress, fraction, slowRateMbit, latencyMs, out string why)) Requires.Skip(why);
    }

    /// <summary><see cref="AddReorder"/> that reports a failure in <paramref name="why"/> instead of skipping.</summary>
    public static bool TryAddReorder(TapStackEnv env, bool ingress, double fraction, double slowRateMbit, int latencyMs, out string why)
    {
        string dir = ingress ? "ingress" : "egress", pin = $"/sys/fs/bpf/nm_match_{dir}";
        string script = $"{AddIfb(Ifb(ingress, true), slowRateMbit, latencyMs, reorder: true)} && {Clsact(env)} && mount -t bpf bpf /sys/fs/bpf" +
            $" && python3 -c \"$NM_PY\" {pin} {fraction.ToString("0.####", CultureInfo.InvariantCulture)}" +
            $" && tc filter add dev {env.Ifname} {dir} pref 20 bpf object-pinned {pin} action mirred egress redirect dev {Ifb(ingress, true)}";
        return TryRun(env, script, "reorder", out why);
    }

    private static string AddIfb(string name, double rateMbit, int latencyMs, bool reorder = false) =>
        $"ip link add {name} type ifb && ip link set {name} up && tc qdisc add dev {name} root {Tbf(rateMbit, latencyMs, reorder)}";

    private static string Clsact(TapStackEnv env) => $"(tc qdisc add dev {env.Ifname} clsact 2>/dev/null; true)";

    private static bool TryRun(TapStackEnv env, string script, string what, out string why)
    {
        var r = env.Link.Exec(TimeSpan.FromSeconds(20), "env", $"NM_PY={PyMatch}", "sh", "-c", script);
        why = r.Succeeded ? "" : $"kernel-side {what} not set up: {r.Stdout.Trim()} {r.Stderr.Trim()} (needs sch_tbf, ifb, act_mirred, cls_u32, cls_bpf and clsact)";
        return r.Succeeded;
    }

    /// <summary>The TBF on <paramref name="dev"/>: packets sent, dropped, and overlimits (times a packet had to wait for tokens).</summary>
    public static (long Packets, long Drops, long Overlimits) TbfStats(TapStackEnv env, string dev)
    {
        var r = env.Sh(TimeSpan.FromSeconds(10), $"tc -s -j qdisc show dev {dev}");
        using var doc = JsonDocument.Parse(r.Stdout);
        foreach (var q in doc.RootElement.EnumerateArray())
            if (q.GetProperty("kind").GetString() == "tbf")
                return (q.GetProperty("packets").GetInt64(), q.GetProperty("drops").GetInt64(), q.GetProperty("overlimits").GetInt64());
        throw new InvalidOperationException($"no tbf qdisc on {dev}: {r.Stdout}");
    }

    /// <summary>A counter from the namespace's /proc/net/netstat, e.g. ("TcpExt", "TCPOFOQueue").</summary>
    public static long Netstat(TapStackEnv env, string group, string field)
    {
        var lines = env.Exec(TimeSpan.FromSeconds(10), "cat", "/proc/net/netstat").Stdout.Split('\n');
        for (int i = 0; i + 1 < lines.Length; i++)
        {
            if (!lines[i].StartsWith(group + ":", StringComparison.Ordinal) || !lines[i + 1].StartsWith(group + ":", StringComparison.Ordinal)) continue;
            var names = lines[i].Split(' ');
            int k = Array.IndexOf(names, field);
            if (k > 0) return long.Parse(lines[i + 1].Split(' ')[k], CultureInfo.InvariantCulture);
        }
        throw new InvalidOperationException($"/proc/net/netstat has no {group} {field}");
    }
}
