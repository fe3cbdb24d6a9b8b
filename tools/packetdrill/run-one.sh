#!/bin/sh
# Runs one packetdrill script against libnetmem.so in a fresh network namespace (so the scripts'
# sysctl and tc init commands touch nothing outside it), with run_all.py's IPv4 arguments.
# Usage: run-one.sh PACKETDRILL LIBNETMEM_SO SCRIPT.pkt [extra packetdrill args...]
# LIBNETMEM_SO "kernel" runs the script against the Linux kernel instead (the baseline).
set -e
pd=$1; so=$2; script=$3; shift 3
here=$(cd "$(dirname "$0")" && pwd)
defines="-D TFO_COOKIE=3021b9d889017eeb -D CODE=host_unreachable -D CMSG_LEVEL_IP=SOL_IP -D CMSG_TYPE_RECVERR=IP_RECVERR"
if [ "$so" = kernel ]; then
  cd "$(dirname "$script")"
  exec unshare -n sh -c 'ip link set lo up; pd=$1; shift; exec "$pd" "$@"' sh "$pd" --send_omit_free \
    --ip_version=ipv4 --local_ip=192.168.0.1 --gateway_ip=192.168.0.1 --netmask_ip=255.255.0.0 \
    --remote_ip=192.0.2.1 $defines "$@" "$(basename "$script")"
fi
so=$(cd "$(dirname "$so")" && pwd)/$(basename "$so")
# The getsockopt shim lets packetdrill's code blocks read TCP_INFO from the library (see the .c file).
shim=${NETMEM_SHIM:-/tmp/netmem-getsockopt-shim.so}
if [ ! -f "$shim" ] || [ "$here/getsockopt-shim.c" -nt "$shim" ]; then
  cc -shared -fPIC -O2 -o "$shim.tmp.$$" "$here/getsockopt-shim.c" -ldl && mv "$shim.tmp.$$" "$shim"
fi
export NETMEM_SO="$so" LD_PRELOAD="$shim"
cd "$(dirname "$script")"
export defines
exec unshare -n sh -c '
  ip link set lo up
  # defaults.sh sets a qdisc on tun0: give it one (no packet goes through it; the .so is the device).
  # It gets the local address and the route to the remote prefix as packetdrill gives its tun0 in kernel
  # mode, so that scripts changing that route (ip route change ... via 192.168.0.2) find a valid gateway.
  ip tuntap add dev tun0 mode tun 2>/dev/null && ip link set tun0 up
  ip addr add 192.168.0.1/16 dev tun0 2>/dev/null
  ip route add 192.0.2.1 dev tun0 via 192.168.0.1 2>/dev/null
  pd=$1; so=$2; script=$3; shift 3
  exec "$pd" --send_omit_free --ip_version=ipv4 --local_ip=192.168.0.1 --gateway_ip=192.168.0.1 \
    --netmask_ip=255.255.0.0 --remote_ip=192.0.2.1 \
    $defines --so_filename="$so" "$@" "$script"
' sh "$pd" "$so" "$(basename "$script")" "$@"
