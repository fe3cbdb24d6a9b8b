/*
 * LD_PRELOAD shim for running packetdrill against libnetmem.so (Netmem's own code, not packetdrill's).
 *
 * packetdrill's code blocks (%{ assert tcpi_snd_cwnd == 10 }%) read TCP_INFO, TCP_CC_INFO and
 * SO_MEMINFO with the real getsockopt() even in --so_filename mode, where the socket lives in the
 * shared object. This getsockopt() asks the already-loaded libnetmem.so (NETMEM_SO, opened with
 * RTLD_NOLOAD, so nothing is loaded into processes that did not load it) whether the descriptor is
 * one of its sockets; if not, the call goes to libc unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>

typedef int (*getsockopt_fn)(int, int, int, void *, socklen_t *);
typedef int (*netmem_fn)(int, int, int, void *, socklen_t *, int *);

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	static getsockopt_fn real;
	static netmem_fn ours;
	if (!ours) {
		const char *so = getenv("NETMEM_SO");
		void *h = so ? dlopen(so, RTLD_NOW | RTLD_NOLOAD) : NULL;
		if (h)
			ours = (netmem_fn)dlsym(h, "netmem_getsockopt_any");
	}
	if (ours) {
		int handled = 0;
		int r = ours(fd, level, name, val, len, &handled);
		if (handled)
			return r;
	}
	if (!real)
		real = (getsockopt_fn)dlsym(RTLD_NEXT, "getsockopt");
	return real(fd, level, name, val, len);
}
