// A devmem TCP receiver written against libnetmem.so's C ABI the way a Linux receiver (ncdevmem) is
// written against the kernel: a udmabuf, bind-rx (the one call that is not a socket call), and
// recvmsg(MSG_SOCK_DEVMEM) / SO_DEVMEM_DONTNEED with the kernel's constants and structs. It drives its own
// traffic: a client socket of the same instance connects to the listener, and the program hands every
// datagram the device sends back into the device (netmem_netdev_receive -> netmem_netdev_send); they are
// all addressed to the instance itself. The payload is checked byte for byte in the mmap'ed udmabuf.
//
//   clang -O1 -o devmem_rx devmem_rx.c -L DIR -lnetmem -Wl,-rpath,DIR && ./devmem_rx [bytes]
// Exit 0 and "ok" only when every byte matched and every token came back.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>

#define MSG_SOCK_DEVMEM 0x2000000
#define SO_DEVMEM_LINEAR 78
#define SO_DEVMEM_DMABUF 79
#define SO_DEVMEM_DONTNEED 80

struct dmabuf_cmsg { uint64_t frag_offset; uint32_t frag_size, frag_token, dmabuf_id, flags; };
struct dmabuf_token { uint32_t token_start, token_count; };
struct netdev_queue_id { uint32_t type, id; };
struct netmem_binding_info { uint32_t dmabuf_id, ifindex, net_iovs, net_iovs_free; int64_t pool_inflight, user_held; uint32_t unbound, freed; };

void *netmem_create(const char *flags);
void netmem_free(void *h);
int netmem_socket(void *h, int domain, int type, int protocol);
int netmem_bind(void *h, int fd, const struct sockaddr *addr, socklen_t len);
int netmem_listen(void *h, int fd, int backlog);
int netmem_accept(void *h, int fd, struct sockaddr *addr, socklen_t *len);
int netmem_connect(void *h, int fd, const struct sockaddr *addr, socklen_t len);
ssize_t netmem_write(void *h, int fd, const void *buf, size_t len);
ssize_t netmem_recvmsg(void *h, int fd, struct msghdr *msg, int flags);
int netmem_setsockopt(void *h, int fd, int level, int name, const void *val, socklen_t len);
int netmem_close(void *h, int fd);
int netmem_netdev_send(void *h, const void *buf, size_t len);
int netmem_netdev_receive(void *h, void *buf, size_t *len, long long *time_us);
int netmem_udmabuf_create(void *h, size_t size);
unsigned netmem_if_nametoindex(void *h, const char *name);
int netmem_bind_rx(void *h, int ifindex, int dmabuf_fd, const struct netdev_queue_id *queues, unsigned n, uint32_t *dmabuf_id);
int netmem_unbind_rx(void *h, uint32_t dmabuf_id);
int netmem_binding_info(void *h, uint32_t dmabuf_id, struct netmem_binding_info *info);

#define BUF_SIZE (8u << 20)
#define MAX_TOKENS 128

static uint8_t pattern(size_t i) { return (uint8_t)((i * 7 + 3) % 251); }

static int fail(const char *what) { fprintf(stderr, "devmem_rx: %s (errno %d)\n", what, errno); return 1; }

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

int main(int argc, char **argv)
{
    size_t total = argc > 1 ? strtoul(argv[1], NULL, 0) : (4u << 20);
    void *h = netmem_create("hds=on");
    if (!h) return fail("netmem_create");
    int buf = netmem_udmabuf_create(h, BUF_SIZE);
    if (buf < 0) return fail("udmabuf");
    const uint8_t *mem = mmap(NULL, BUF_SIZE, PROT_READ, MAP_SHARED, buf, 0);
    if (mem == MAP_FAILED) return fail("mmap");
    struct netdev_queue_id q = { 0, 0 };
    uint32_t id;
    if (netmem_bind_rx(h, (int)netmem_if_nametoindex(h, "iptest0"), buf, &q, 1, &id)) return fail("bind-rx");

    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(5201), .sin_addr.s_addr = htonl(0xC0A80001) };
    int l = netmem_socket(h, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (netmem_bind(h, l, (struct sockaddr *)&sa, sizeof sa) || netmem_listen(h, l, 1)) return fail("listen");
    int c = netmem_socket(h, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (netmem_connect(h, c, (struct sockaddr *)&sa, sizeof sa) == 0 || errno != EINPROGRESS) return fail("connect");
    int a = -1;
    for (int i = 0; i < 100 && a < 0; i++) {
        relay(h);
        a = netmem_accept(h, l, NULL, NULL);
    }
    if (a < 0) return fail("accept");

    uint8_t *src = malloc(total), linear[65536];
    char ctrl[CMSG_SPACE(sizeof(struct dmabuf_cmsg)) * 64];
    struct dmabuf_token tokens[MAX_TOKENS];
    for (size_t i = 0; i < total; i++) src[i] = pattern(i);
    size_t sent = 0, got = 0, dmabuf_bytes = 0, mismatches = 0;
    long iterations = 0;
    while (got < total) {
        if (++iterations > 10000000) return fail("no progress");
        if (sent < total) {
            ssize_t w = netmem_write(h, c, src + sent, total - sent);
            if (w > 0) sent += (size_t)w;
        }
        relay(h);
        struct iovec iov = { linear, sizeof linear };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl, .msg_controllen = sizeof ctrl };
        ssize_t n = netmem_recvmsg(h, a, &msg, MSG_SOCK_DEVMEM | MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN) continue;
        if (n <= 0) return fail("recvmsg");
        size_t lin = 0, pos = got, ntok = 0, records = 0;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
            struct dmabuf_cmsg dc;
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_len != CMSG_LEN(sizeof dc)) return fail("cmsg header");
            memcpy(&dc, CMSG_DATA(cm), sizeof dc);
            const uint8_t *p;
            records++;
            if (cm->cmsg_type == SO_DEVMEM_LINEAR) {
                p = linear + lin;
                lin += dc.frag_size;
            } else if (cm->cmsg_type == SO_DEVMEM_DMABUF) {
                if (dc.dmabuf_id != id || dc.frag_offset + dc.frag_size > BUF_SIZE) return fail("dmabuf record");
                p = mem + dc.frag_offset;
                dmabuf_bytes += dc.frag_size;
                tokens[ntok++] = (struct dmabuf_token){ dc.frag_token, 1 };
            } else return fail("cmsg type");
            for (size_t k = 0; k < dc.frag_size; k++)
                if (p[k] != pattern(pos + k) && ++mismatches >= 20) return fail("20 mismatches");
            pos += dc.frag_size;
        }
        if (records == 0) {  // all readable: plain bytes in the iov
            for (ssize_t k = 0; k < n; k++)
                if (linear[k] != pattern(got + (size_t)k) && ++mismatches >= 20) return fail("20 mismatches");
            pos += (size_t)n;
        }
        if (pos != got + (size_t)n) return fail("records do not add up to the result");
        got = pos;
        if (ntok > 0 && netmem_setsockopt(h, a, SOL_SOCKET, SO_DEVMEM_DONTNEED, tokens, (socklen_t)(ntok * sizeof tokens[0])) != (int)ntok)
            return fail("SO_DEVMEM_DONTNEED");
    }
    struct netmem_binding_info info;
    if (netmem_binding_info(h, id, &info) || info.user_held != 0) return fail("tokens still held");
    netmem_close(h, a);
    netmem_close(h, c);
    netmem_close(h, l);
    if (netmem_unbind_rx(h, id)) return fail("unbind");
    if (netmem_binding_info(h, id, &info) || !info.freed) return fail("binding memory not freed");
    netmem_close(h, buf);
    netmem_free(h);
    if (mismatches || dmabuf_bytes == 0) { fprintf(stderr, "devmem_rx: %zu mismatches, %zu dmabuf bytes\n", mismatches, dmabuf_bytes); return 1; }
    printf("ok %zu bytes, %zu in the dma-buf\n", got, dmabuf_bytes);
    return 0;
}
