#!/usr/bin/env bash
# How the SACK segment in ../Captures.cs was made: sack.py plays a TCP client at 192.168.1.3 from a
# raw socket and sends B out-of-order data, so B's kernel answers with duplicate ACKs carrying SACK
# blocks. B has a static neighbour entry for .3 pointing at veth0; A does not own .3, so A's kernel
# ignores B's replies instead of resetting the connection. Run as:
#   unshare -n -m --propagation private bash sack.sh
set -e
cd "$(dirname "$0")"
mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns
ip netns add peer
ip link add veth0 type veth peer name veth1 netns peer
ip addr add 192.168.1.1/24 dev veth0 && ip link set veth0 up
ip -n peer addr add 192.168.1.2/24 dev veth1 && ip -n peer link set veth1 up && ip -n peer link set lo up
ethtool -K veth0 tx off >/dev/null
ip netns exec peer ethtool -K veth1 tx off >/dev/null
MYMAC=$(ip link show veth0 | awk '/ether/{print $2}')
PEERMAC=$(ip -n peer link show veth1 | awk '/ether/{print $2}')
export MYMAC PEERMAC
ip -n peer neigh add 192.168.1.3 lladdr "$MYMAC" dev veth1
ip netns exec peer python3 -c '
import socket, time
s = socket.socket(); s.bind(("192.168.1.2", 8080)); s.listen(1); s.settimeout(6); c, _ = s.accept(); time.sleep(3)' &
sleep 1
timeout 10 python3 sack.py
wait
