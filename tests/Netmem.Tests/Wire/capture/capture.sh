#!/usr/bin/env bash
# How the frames in ../Captures.cs were made (not run by the tests). Needs root, iproute2, ethtool,
# tcpdump, iputils-ping and python3. Everything happens in throw-away namespaces:
#   unshare -n -m --propagation private bash capture.sh && tcpdump -nn -xx -r /tmp/wire.pcap
# Host A (this namespace) 192.168.1.1 -- veth -- B (192.168.1.2, forwards) -- veth -- far (192.168.2.2).
# Transmit checksum offload is switched off so TCP/UDP checksums in the capture are complete.
set -e
mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns
ip link set lo up
ip netns add peer
ip netns add far
ip link add veth0 type veth peer name veth1 netns peer
ip -n peer link add veth2 type veth peer name veth3 netns far
ip addr add 192.168.1.1/24 dev veth0 && ip link set veth0 up
ip -n peer addr add 192.168.1.2/24 dev veth1 && ip -n peer link set veth1 up && ip -n peer link set lo up
ip -n peer addr add 192.168.2.1/24 dev veth2 && ip -n peer link set veth2 up
ip -n far addr add 192.168.2.2/24 dev veth3 && ip -n far link set veth3 up
ip -n far route add default via 192.168.2.1
ip netns exec peer sysctl -qw net.ipv4.ip_forward=1
ip route add 192.168.2.0/24 via 192.168.1.2
ethtool -K veth0 tx off >/dev/null
ip netns exec peer ethtool -K veth1 tx off >/dev/null
ip netns exec peer ethtool -K veth2 tx off >/dev/null
ip netns exec far ethtool -K veth3 tx off >/dev/null
sleep 1
tcpdump -i veth0 -U -w /tmp/wire.pcap & td=$!
sleep 2
ping -c 1 192.168.1.2                      # ARP request/reply, echo request/reply
ip netns exec peer python3 -c '
import socket, time
s = socket.socket(); s.bind(("192.168.1.2", 8080)); s.listen(1)
c, _ = s.accept(); c.recv(100); c.sendall(b"pong\n"); time.sleep(0.3); c.close()' & py=$!
sleep 0.5
python3 -c '
import socket, time
s = socket.create_connection(("192.168.1.2", 8080)); s.sendall(b"ping\n"); s.recv(100); time.sleep(0.5); s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b"hello udp\n", ("192.168.1.2", 5353)); time.sleep(0.3)
try: socket.create_connection(("192.168.1.2", 81), timeout=1)
except OSError: pass'                      # SYN..FIN, UDP + port unreachable, SYN + RST
ping -c 1 -t 1 192.168.2.2 || true         # time exceeded from the forwarder
sleep 1
wait $py
kill $td; wait $td || true
