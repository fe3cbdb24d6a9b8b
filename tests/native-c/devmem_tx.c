// A devmem TCP sender written against libnetmem.so's C ABI the way a Linux sender (ncdevmem's client with
// --tx devmem) is written against the kernel: a udmabuf holding the payload, bind-tx (the one call that is
// not a socket call), SO_ZEROCOPY, and sendmsg(MSG_ZEROCOPY) with an SCM_DEVMEM_DMABUF cmsg whose iov_base
// values are offsets into the dma-buf; completions come back with recvmsg(MSG_ERRQUEUE) as IP_RECVERR
// sock_extended_err records. It drives its own traffic: a receiver socket of the same instance accepts the
// connection, and the program hands every datagram the device sends back into the device
// (netmem_netdev_receive -> netmem_netdev_send). The receiver checks every byte against the pattern.
//
//   clang -O1 -o devmem_tx devmem_tx.c -L DIR -lnetmem -Wl,-rpath,DIR && ./devmem_tx [bytes]
// Exit 0 and "ok" only when every byte matched, every send id completed (not COPIED) and the binding's
// memory was freed after unbind.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif
#define SCM_DEVMEM_DMABUF 79

struct netmem_binding_info { uint32_t dmabuf_id, ifindex, net_iovs, net_iovs_free; int64_t pool_inflight, user_held; uint32_t unbound, freed; };

void *netmem_create(const char *flags);
void netmem_free(void *h);
int netmem_socket(void *h, int domain, int type, int protocol);
int netmem_bind(void *h, int fd, const struct sockaddr *addr, socklen_t len);
int netmem_listen(void *h, int fd, int backlog);
int netmem_accept(void *h, int fd, struct sockaddr *addr, socklen_t *len);
int netmem_connect(void *h, int fd, const struct sockaddr *addr, socklen_t len);
ssize_t netmem_recv(void *h, int fd, void *buf, size_t len, int flags);
ssize_t netmem_sendmsg(void *h, int fd, const struct msghdr *msg, int flags);
ssize_t netmem_recvmsg(void *h, int fd, struct msghdr *msg, int flags);
int netmem_setsockopt(void *h, int fd, int level, int name, const void *val, socklen_t len);
int netmem_close(void *h, int fd);
int netmem_netdev_send(void *h, const void *buf, size_t len);
int netmem_netdev_receive(void *h, void *buf, size_t *len, long long *time_us);
int netmem_udmabuf_create(void *h, size_t size);
unsigned netmem_if_nametoindex(void *h, const char *name);
int netmem_bind_tx(void *h, int ifindex, int dmabuf_fd, uint32_t *dmabuf_id);
int netmem_unbind_tx(void *h, uint32_t dmabuf_id);
int netmem_binding_info(void *h, uint32_t dmabuf_id, struct netmem_binding_info *info);

#define BUF_SIZE (1u << 20)
#define CHUNK 65536u

static uint8_t pattern(size_t i) { return (uint8_t)((i * 7 + 3) % 251); }

static int fail(const char *what) { fprintf(stderr, "devmem_tx: %s (errno %d)\n", what, errno); return 1; }

// One datagram out of the device and back in; 0 when the device had nothing (a zero datagram).
static int relay(void *h)
{
    static uint8_t pkt[65536];
    size_t n = sizeof pkt;
    long long t;
    if (netmem_netdev_receive(h, pkt, &n, &t) != 0 || n < 20 || pkt[0] == 0) return 0;
    netmem_netdev_send(h, pkt, n);
    return 1;
}

// Reads every completion queued: ids must complete in order, never COPIED. Returns -1 on a bad record.
static int drain_completions(void *h, int fd, uint32_t *next_id)
{
    for (;;) {
        char ctrl[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in))];
        struct msghdr msg = { .msg_control = ctrl, .msg_controllen = sizeof ctrl };
        if (netmem_recvmsg(h, fd, &msg, MSG_ERRQUEUE) < 0) return errno == EAGAIN ? 0 : -1;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        if (!cm || cm->cmsg_level != SOL_IP || cm->cmsg_type != IP_RECVERR || !(msg.msg_flags & MSG_ERRQUEUE)) return -1;
        struct sock_extended_err ee;
        memcpy(&ee, CMSG_DATA(cm), sizeof ee);
        if (ee.ee_origin != SO_EE_ORIGIN_ZEROCOPY || ee.ee_errno != 0 || ee.ee_info != *next_id || ee.ee_data < ee.ee_info) return -1;
        if (ee.ee_code & SO_EE_CODE_ZEROCOPY_COPIED) return -1; // device memory is never copied
        *next_id = ee.ee_data + 1;
    }
}

int main(int argc, char **argv)
{
    size_t total = argc > 1 ? strtoul(argv[1], NULL, 0) : (4u << 20);
    void *h = netmem_create(NULL);
    if (!h) return fail("netmem_create");
    int buf = netmem_udmabuf_create(h, BUF_SIZE);
    if (buf < 0) return fail("udmabuf");
    uint8_t *mem = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, buf, 0);
    if (mem == MAP_FAILED) return fail("mmap");
    for (size_t i = 0; i < BUF_SIZE; i++) mem[i] = pattern(i);
    uint32_t id;
    if (netmem_bind_tx(h, (int)netmem_if_nametoindex(h, "iptest0"), buf, &id)) return fail("bind-tx");

    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(5201), .sin_addr.s_addr = htonl(0xC0A80001) };
    int l = netmem_socket(h, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (netmem_bind(h, l, (struct sockaddr *)&sa, sizeof sa) || netmem_listen(h, l, 1)) return fail("listen");
    int c = netmem_socket(h, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    if (netmem_setsockopt(h, c, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one)) return fail("SO_ZEROCOPY");
    if (netmem_connect(h, c, (struct sockaddr *)&sa, sizeof sa) == 0 || errno != EINPROGRESS) return fail("connect");
    int a = -1;
    for (int i = 0; i < 100 && a < 0; i++) {
        relay(h);
        a = netmem_accept(h, l, NULL, NULL);
    }
    if (a < 0) return fail("accept");

    static uint8_t in[65536];
    size_t sent = 0, got = 0, mismatches = 0;
    uint32_t sends = 0, next_id = 0;
    long iterations = 0;
    while (got < total || next_id < sends) {
        if (++iterations > 10000000) return fail("no progress");
        if (sent < total) {
            // The dma-buf is sent round and round: stream byte i is byte i % BUF_SIZE of the buffer.
            size_t off = sent % BUF_SIZE, len = total - sent;
            if (len > CHUNK) len = CHUNK;
            if (len > BUF_SIZE - off) len = BUF_SIZE - off;
            struct iovec iov = { (void *)(uintptr_t)off, len };
            char ctrl[CMSG_SPACE(sizeof(uint32_t))] = { 0 };
            struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl, .msg_controllen = sizeof ctrl };
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_DEVMEM_DMABUF;
            cm->cmsg_len = CMSG_LEN(sizeof(uint32_t));
            memcpy(CMSG_DATA(cm), &id, sizeof id);
            ssize_t w = netmem_sendmsg(h, c, &msg, MSG_ZEROCOPY);
            if (w > 0) { sent += (size_t)w; sends++; }
            else if (w < 0 && errno != EAGAIN) return fail("sendmsg");
        }
        relay(h);
        ssize_t n = netmem_recv(h, a, in, sizeof in, MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN) return fail("recv");
        for (ssize_t k = 0; k < n; k++)
            if (in[k] != pattern((got + (size_t)k) % BUF_SIZE) && ++mismatches >= 20) return fail("20 mismatches");
        if (n > 0) got += (size_t)n;
        if (drain_completions(h, c, &next_id) < 0) return fail("completion record");
    }
    struct netmem_binding_info info;
    if (netmem_binding_info(h, id, &info) || info.user_held != 0) return fail("net_iovs still referenced after every completion");
    netmem_close(h, a);
    netmem_close(h, c);
    netmem_close(h, l);
    if (netmem_unbind_tx(h, id)) return fail("unbind");
    if (netmem_binding_info(h, id, &info) || !info.freed) return fail("binding memory not freed");
    munmap(mem, BUF_SIZE);
    netmem_close(h, buf);
    netmem_free(h);
    if (mismatches) { fprintf(stderr, "devmem_tx: %zu mismatches\n", mismatches); return 1; }
    printf("ok %zu bytes from the dma-buf in %u sends, %u completed\n", got, sends, next_id);
    return 0;
}
