using System.Globalization;
using System.Text.Json;

namespace Netmem.Tests.Tap;

/// <summary>
/// Kernel-side impairment without netem: a tc classifier (clsact, direct action) on the kernel side of
/// the tap, loaded from hand-assembled eBPF by a small Python loader inside the namespace (bpffs is
/// mounted in the mount namespace <c>ip netns exec</c> makes, so nothing outside the test's namespace
/// changes). Per frame, from bpf_get_prandom_u32: loss (TC_ACT_SHOT), duplication (bpf_clone_redirect
/// to the same device and direction; a clone passes the filter again) and corruption (one bit flipped
/// with bpf_skb_store_bytes). On ingress the bit may be anywhere past the Ethernet header. On egress
/// the kernel fills partial TCP/UDP checksums after the filter, which would make a payload flip a
/// valid frame, so there the bit is flipped in the IPv4 header of an IPv4 frame that is not GSO: its
/// checksum was final before tc (a GSO frame may still be segmented after tc, which writes each
/// segment's header and checksum anew). The clsact qdisc counts what passed and what was dropped. Used where netem is
/// missing (the project VM's kernel has no sch_netem); <see cref="KernelEgressImpairment"/> picks.
/// </summary>
internal static class KernelImpairment
{
    /// <summary>argv: pinpath ifindex loss dup corrupt ingress(0/1); prints "loaded N".</summary>
    private const string PyLoader = """
# Loads a tc classifier (direct action) that loses, duplicates and corrupts frames at random, pins it.
# argv: pinpath ifindex loss dup corrupt (probabilities 0..1) ingress(0/1)
# Ingress corrupts any byte past the Ethernet header; egress only the IPv4 header of IPv4 frames that are not GSO.
import ctypes, struct, sys, os
pin, ifindex = sys.argv[1], int(sys.argv[2])
loss, dup, cor = (int(float(x) * 4294967295) for x in sys.argv[3:6])
ingress = int(sys.argv[6])
def ins(op, dst=0, src=0, off=0, imm=0): return struct.pack('<BBhi', op, (src << 4) | dst, off, imm)
def u32imm(v): return v - (1 << 32) if v >= (1 << 31) else v
prog = []
L = lambda *a, **k: prog.append(ins(*a, **k))
# r6 = ctx
L(0xbf, 6, 1)
# --- loss: if prandom < loss -> TC_ACT_SHOT
L(0x85, imm=7)
prog_loss_idx = len(prog)
prog.append(None)  # jlt r0, loss_reg -> drop   (filled later)
# --- duplicate: if prandom < dup -> clone_redirect(skb, ifindex, ingress)
L(0x85, imm=7)
prog_dup_idx = len(prog)
prog.append(None)  # jge r0 >= dup -> skip dup
L(0xbf, 1, 6); L(0xb7, 2, imm=ifindex); L(0xb7, 3, imm=ingress); L(0x85, imm=13)
dup_end = len(prog)
# --- corrupt
L(0x85, imm=7)
prog_cor_idx = len(prog)
prog.append(None)  # jge r0 >= cor -> ok
prog_proto_idx = None
prog_gso_idx = None
if not ingress:
    L(0x61, 1, 6, 16)                      # r1 = skb->protocol (network order in the low 16 bits)
    prog_proto_idx = len(prog)
    prog.append(None)                      # jne r1, htons(ETH_P_IP) -> ok
    L(0x61, 1, 6, 176)                     # r1 = skb->gso_size
    prog_gso_idx = len(prog)
    prog.append(None)                      # jne r1, 0 -> ok: segmentation after tc rewrites each segment's IPv4 header and checksum
L(0x85, imm=7); L(0xbf, 7, 0)              # r7 = rand
if ingress:
    L(0x61, 8, 6, 0)                       # r8 = skb->len
    L(0x17, 8, imm=14)                     # r8 -= 14
else:
    L(0xb7, 8, imm=20)                     # r8 = 20: the IPv4 header without options
prog_len_idx = len(prog)
prog.append(None)                          # jsle r8, 0 -> ok
L(0x9f, 7, 8)                              # r7 %= r8
L(0x07, 7, imm=14)                         # r7 += 14
L(0xbf, 1, 6); L(0xbf, 2, 7); L(0xbf, 3, 10); L(0x07, 3, imm=-8); L(0xb7, 4, imm=1); L(0x85, imm=26)
prog_ld_idx = len(prog)
prog.append(None)                          # jne r0, 0 -> ok
L(0x71, 1, 10, -8)                         # r1 = *(u8*)(fp-8)
L(0xa7, 1, imm=4)                          # r1 ^= 4
L(0x73, 10, 1, -8)                         # *(u8*)(fp-8) = r1
L(0xbf, 1, 6); L(0xbf, 2, 7); L(0xbf, 3, 10); L(0x07, 3, imm=-8); L(0xb7, 4, imm=1); L(0xb7, 5, imm=0); L(0x85, imm=9)
ok = len(prog)
L(0xb7, 0, imm=0); L(0x95)                 # return TC_ACT_OK
drop = len(prog)
L(0xb7, 0, imm=2); L(0x95)                 # return TC_ACT_SHOT
# thresholds live in registers to compare unsigned 32-bit values: r9 = threshold via ld_imm64 is simpler
def fill(idx, op, dst, target, imm=0, src=0):
    prog[idx] = ins(op, dst, src, target - idx - 1, imm)
# use 64-bit register compares against r9 loaded just before: replace placeholders r1=0;r1+=0 with nothing; we compare with imm when < 2^31
assert loss < (1 << 31) and dup < (1 << 31) and cor < (1 << 31), 'probabilities must be below 0.5'
fill(prog_loss_idx, 0xa5, 0, drop, loss)       # jlt r0, imm
fill(prog_dup_idx, 0x35, 0, dup_end, dup)      # jge r0, imm
fill(prog_cor_idx, 0x35, 0, ok, cor)
if prog_proto_idx is not None:
    fill(prog_proto_idx, 0x55, 1, ok, 0x0008)  # jne r1, imm (0x0800 as the little-endian load sees it)
    fill(prog_gso_idx, 0x55, 1, ok, 0)          # jne r1, 0
fill(prog_len_idx, 0xd5, 8, ok, 0)             # jsle r8, 0
fill(prog_ld_idx, 0x55, 0, ok, 0)              # jne r0, 0
code = b''.join(prog)
libc = ctypes.CDLL(None, use_errno=True)
insns = ctypes.create_string_buffer(code, len(code))
lic = ctypes.create_string_buffer(b'GPL')
log = ctypes.create_string_buffer(65536)
attr = struct.pack('<IIQQIIQII16s', 3, len(code) // 8, ctypes.addressof(insns), ctypes.addressof(lic), 1, len(log), ctypes.addressof(log), 0, 0, b'nm_impair')
attr += bytes(128 - len(attr))
ab = ctypes.create_string_buffer(attr, len(attr))
fd = libc.syscall(321, 5, ab, len(attr))
if fd < 0:
    print('BPF_PROG_LOAD failed', os.strerror(ctypes.get_errno()), log.value.decode(errors='replace')[-2000:]); sys.exit(1)
p = ctypes.create_string_buffer(pin.encode())
pa = struct.pack('<QII', ctypes.addressof(p), fd, 0) + bytes(8)
pb = ctypes.create_string_buffer(pa, len(pa))
if libc.syscall(321, 6, pb, len(pa)) < 0:
    print('BPF_OBJ_PIN failed', os.strerror(ctypes.get_errno())); sys.exit(1)
print('loaded', len(code) // 8)
""";

    /// <summary>
    /// Attaches the filter on <paramref name="ingress"/> (frames from the stack into the kernel) or egress
    /// (frames from the kernel to the stack; corruption there hits the IPv4 header of non-GSO frames only); the test is
    /// skipped with the reason when this kernel cannot.
    /// </summary>
    public static void Attach(TapStackEnv env, bool ingress, double loss, double duplicate, double corrupt)
    {
        if (!TryAttach(env, ingress, loss, duplicate, corrupt, out string why))
            Requires.Skip(why);
    }

    /// <summary><see cref="Attach"/> that reports a failure in <paramref name="why"/> instead of skipping.</summary>
    public static bool TryAttach(TapStackEnv env, bool ingress, double loss, double duplicate, double corrupt, out string why)
    {
        string dir = ingress ? "ingress" : "egress", pin = $"/sys/fs/bpf/nm_{dir}";
        string F(double v) => v.ToString("0.####", CultureInfo.InvariantCulture);
        string script = $"mount -t bpf bpf /sys/fs/bpf && python3 -c \"$NM_PY\" {pin} $(cat /sys/class/net/{env.Ifname}/ifindex) {F(loss)} {F(duplicate)} {F(corrupt)} {(ingress ? 1 : 0)}" +
            $" && (tc qdisc add dev {env.Ifname} clsact 2>/dev/null; true) && tc filter add dev {env.Ifname} {dir} bpf da object-pinned {pin}";
        var r = env.Link.Exec(TimeSpan.FromSeconds(20), "env", $"NM_PY={PyLoader}", "sh", "-c", script);
        why = r.Succeeded ? "" : $"kernel-side eBPF impairment not attached: {r.Stdout.Trim()} {r.Stderr.Trim()} (needs CONFIG_BPF_SYSCALL, CONFIG_NET_CLS_BPF and clsact)";
        return r.Succeeded;
    }

    /// <summary>Frames the clsact filters saw and dropped so far (both directions together).</summary>
    public static (long Packets, long Drops) Stats(TapStackEnv env)
    {
        var r = env.Sh(TimeSpan.FromSeconds(10), $"tc -s -j qdisc show dev {env.Ifname}");
        using var doc = JsonDocument.Parse(r.Stdout);
        foreach (var q in doc.RootElement.EnumerateArray())
            if (q.GetProperty("kind").GetString() == "clsact")
                return (q.GetProperty("packets").GetInt64(), q.GetProperty("drops").GetInt64());
        throw new InvalidOperationException($"no clsact qdisc on {env.Ifname}: {r.Stdout}");
    }

    /// <summary>A counter from the namespace's /proc/net/snmp, e.g. ("Udp", "InCsumErrors").</summary>
    public static long Snmp(TapStackEnv env, string group, string field)
    {
        var lines = env.Exec(TimeSpan.FromSeconds(10), "cat", "/proc/net/snmp").Stdout.Split('\n');
        for (int i = 0; i + 1 < lines.Length; i++)
        {
            if (!lines[i].StartsWith(group + ":", StringComparison.Ordinal) || !lines[i + 1].StartsWith(group + ":", StringComparison.Ordinal)) continue;
            var names = lines[i].Split(' ');
            var values = lines[i + 1].Split(' ');
            int k = Array.IndexOf(names, field);
            if (k > 0) return long.Parse(values[k], CultureInfo.InvariantCulture);
        }
        throw new InvalidOperationException($"/proc/net/snmp has no {group} {field}");
    }
}
