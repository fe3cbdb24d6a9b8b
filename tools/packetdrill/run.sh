#!/bin/sh
# Runs packetdrill scripts against libnetmem.so the way packetdrill's run_all.py runs them for IPv4,
# adding --so_filename, each in its own network namespace, and prints PASS/FAIL per script.
#
#   tools/packetdrill/run.sh PACKETDRILL [SCRIPT.pkt | LIST.txt | DIR]...
#
# PACKETDRILL is the packetdrill binary (built from google/packetdrill with ./configure && make).
# A LIST.txt names scripts one per line, relative to $PACKETDRILL_TESTS (default: the gtests/net dir
# next to the binary); '#' starts a comment. With no script arguments the expected-pass list
# (expected-pass.txt here) is run, and the exit status is non-zero if any of it fails.
# LIBNETMEM (default: the publish output of src/Netmem.Native) is built first if missing;
# LIBNETMEM=kernel runs the same scripts against the Linux kernel (the baseline docs/conformance.md
# compares with). An argument "scope" stands for every IPv4 script in issue 9's scope and tcp/zerocopy (issue 17).
# Needs root (unshare -n, a tun0 for defaults.sh's qdisc) and python3 for scripts with code blocks.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 PACKETDRILL [SCRIPT.pkt|LIST.txt|DIR]..." >&2; exit 2; }
pd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); shift
[ -x "$pd" ] || { echo "$pd: not an executable packetdrill" >&2; exit 2; }
tests=${PACKETDRILL_TESTS:-$(cd "$(dirname "$pd")/.." && pwd)}
so=${LIBNETMEM:-$root/src/Netmem.Native/bin/Release/net10.0/linux-x64/publish/libnetmem.so}
timeout_s=${PACKETDRILL_TIMEOUT:-60}
if [ "$so" != kernel ] && [ ! -f "$so" ]; then
  echo "building $so" >&2
  dotnet publish "$root/src/Netmem.Native" -c Release -r linux-x64 >/dev/null || { echo "publish failed" >&2; exit 2; }
fi
[ $# -ge 1 ] || set -- "$here/expected-pass.txt"
# The scripts select cubic with sysctl inside their namespace; the kernel refuses that (EPERM) unless cubic
# is in the init namespace's allowed list, and then runs them on the host default (bbr here), failing many.
if [ "$so" = kernel ] && ! grep -qw cubic /proc/sys/net/ipv4/tcp_allowed_congestion_control 2>/dev/null; then
  echo "warning: cubic is not in net.ipv4.tcp_allowed_congestion_control; the kernel will run the scripts on" \
       "$(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null). As root:" \
       "sysctl -w net.ipv4.tcp_allowed_congestion_control=\"\$(cat /proc/sys/net/ipv4/tcp_allowed_congestion_control) cubic\"" >&2
fi

list=$(mktemp)
trap 'rm -f "$list"' EXIT
for a in "$@"; do
  case "$a" in
    scope) find "$tests/tcp" -name '*.pkt' ! -name '*v6.pkt' | sort |
           grep -v -E "/tcp/(fastopen|md5|timestamping|sendfile|splice)/" >>"$list" ;;
    *.pkt) (cd "$(dirname "$a")" && echo "$(pwd)/$(basename "$a")") >>"$list" ;;
    *.txt) sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$a" | while read -r p; do
             case "$p" in /*) echo "$p" ;; tests/packetdrill/*) echo "$root/$p" ;; *) echo "$tests/$p" ;; esac
           done >>"$list" ;;
    *) find "$a" -name '*.pkt' ! -name '*v6.pkt' | sort >>"$list" ;;
  esac
done

pass=0; fail=0; logdir=${PACKETDRILL_LOGS:-/tmp/netmem-packetdrill}
mkdir -p "$logdir"
while read -r script; do
  name=$(echo "$script" | sed -e "s|^$tests/||" -e "s|^$root/||")
  log="$logdir/$(echo "$name" | tr '/' '_').log"
  if timeout "$timeout_s" "$here/run-one.sh" "$pd" "$so" "$script" >"$log" 2>&1; then
    echo "PASS $name"; pass=$((pass + 1))
  else
    why=$(grep -v -e 'Operation not permitted' -e 'qdisc kind is unknown' -e '^$' "$log" | head -n 1 | cut -c1-160)
    echo "FAIL $name: $why"; fail=$((fail + 1))
  fi
done <"$list"
echo "$pass passed, $fail failed (logs in $logdir)"
[ "$fail" -eq 0 ]
