#!/bin/sh
# Namespace settings our scripts assume (run by each script's first line, inside the namespace the
# runner makes): receive and send buffers as packetdrill's own gtests use them, so the window scale
# is 8 for the kernel and for libnetmem.so alike (the library reads these sysctls at socket()).
sysctl -q net.ipv4.tcp_rmem="4096 540000 15728640"
sysctl -q net.ipv4.tcp_wmem="4096 262144 4194304"
sysctl -q net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1
exit 0
