// SPDX-License-Identifier: GPL-2.0-or-later
// osc_bind.c: bb_osc_server_open (osc_bind.h), liblo's UDP server on the
// address the user chose.
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <lo/lo.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "osc_bind.h"

int32_t bb_osc_cookie(const uint8_t key[32], const char *host, uint16_t port, uint64_t epoch)
{
    enum { HOST_MAX = 64 }; // as OSC_HOST_MAX: the hashed layout must not change
    uint8_t in[8 + HOST_MAX + 2] = {0}, out[16];
    for (int i = 0; i < 8; i++)
        in[i] = (uint8_t)(epoch >> (8 * i));
    size_t hl = strnlen(host, HOST_MAX - 1);
    memcpy(in + 8, host, hl);
    in[8 + HOST_MAX] = (uint8_t)(port >> 8);
    in[8 + HOST_MAX + 1] = (uint8_t)port;
    crypto_generichash(out, sizeof out, in, sizeof in, key, 32);
    uint32_t v = (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
    int32_t c;
    memcpy(&c, &v, sizeof c);
    return c;
}

// liblo (0.31) binds its UDP servers to every address, and
// lo_server_new_from_url() takes a host only as a multicast group. So for
// --osc-bind the server is opened on a spare port and our own socket,
// bound where asked, takes the place of liblo's (same descriptor number).
static int bind_osc_socket(lo_server srv, const char *addr, uint16_t port, char *err,
                           size_t err_size)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        snprintf(err, err_size, "--osc-bind %s: not an IPv4 address", addr);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno == EADDRINUSE)
            snprintf(err, err_size, "OSC port %u on %s is in use (another hub or program?); "
                     "pick another with --osc-port N", port, addr);
        else
            snprintf(err, err_size, "cannot open the OSC port %s:%u: %s", addr, port,
                     strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int lo_fd = lo_server_get_socket_fd(srv);
    if (lo_fd < 0 || dup2(fd, lo_fd) < 0) {
        snprintf(err, err_size, "cannot bind the OSC port to %s: %s", addr, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

// Whether UDP port is taken on every address: liblo would say so only as
// "error 9904" through the error handler, after the fact.
static int port_in_use(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0; // liblo will say what is wrong
    int used = bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno == EADDRINUSE;
    close(fd);
    return used;
}

lo_server bb_osc_server_open(uint16_t port, const char *bind_addr, lo_err_handler on_error,
                             char *err, size_t err_size)
{
    int bound = bind_addr && bind_addr[0] && strcmp(bind_addr, "0.0.0.0") != 0;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    if (!bound && port_in_use(port)) {
        snprintf(err, err_size, "OSC port %u is in use (another hub or program?); pick another "
                 "with --osc-port N", port);
        return NULL;
    }
    lo_server srv = lo_server_new_with_proto(bound ? NULL : ps, LO_UDP, on_error);
    if (!srv) {
        snprintf(err, err_size, "cannot open the OSC port %u (in use? change it with --osc-port)",
                 port);
        return NULL;
    }
    if (bound && bind_osc_socket(srv, bind_addr, port, err, err_size) < 0) {
        lo_server_free(srv);
        return NULL;
    }
    return srv;
}

// ---- who may talk ----------------------------------------------------------

static void nets_add(struct bb_osc_nets *n, uint32_t net, uint32_t mask)
{
    net &= mask;
    for (unsigned i = 0; i < n->n; i++)
        if (n->net[i] == net && n->mask[i] == mask)
            return;
    if (n->n < BB_OSC_MAX_NETS) {
        n->net[n->n] = net;
        n->mask[n->n++] = mask;
    }
}

unsigned bb_osc_local_nets(struct bb_osc_nets *n, uint64_t now_ns)
{
    n->n = 0;
    n->read_ns = now_ns ? now_ns : 1;
    nets_add(n, 0x7F000000u, 0xFF000000u); // this machine
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) < 0)
        return n->n;
    for (const struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || !i->ifa_netmask || i->ifa_addr->sa_family != AF_INET ||
            !(i->ifa_flags & IFF_UP))
            continue;
        uint32_t a = ntohl(((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr.s_addr);
        uint32_t m = ntohl(((const struct sockaddr_in *)(const void *)i->ifa_netmask)->sin_addr.s_addr);
        // A point-to-point link's /32 is only its own address: still this
        // machine, not the peer's network. That is what the mask says.
        nets_add(n, a, m);
    }
    freeifaddrs(ifa);
    return n->n;
}

int bb_osc_nets_has(const struct bb_osc_nets *n, uint32_t ip)
{
    for (unsigned i = 0; i < n->n; i++)
        if ((ip & n->mask[i]) == n->net[i])
            return 1;
    return 0;
}

int bb_osc_sa_ipv4(const struct sockaddr *sa, socklen_t len, uint32_t *ip)
{
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        *ip = ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            *ip = (uint32_t)a->s6_addr[12] << 24 | (uint32_t)a->s6_addr[13] << 16 |
                  (uint32_t)a->s6_addr[14] << 8 | a->s6_addr[15];
            return 0;
        }
    }
    return -1;
}

int bb_osc_sa_loopback(const struct sockaddr *sa, socklen_t len)
{
    uint32_t ip;
    if (bb_osc_sa_ipv4(sa, len, &ip) == 0)
        return (ip >> 24) == 127;
    return sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6) &&
           IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
}

int bb_osc_sa_host(const struct sockaddr *sa, socklen_t len, char *host, size_t size,
                   uint16_t *port)
{
    char ps[NI_MAXSERV];
    if (getnameinfo(sa, len, host, (socklen_t)size, ps, sizeof ps,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return -1;
    *port = (uint16_t)atoi(ps);
    return 0;
}

// ---- packets -----------------------------------------------------------------

#define WALK_DEPTH 4

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct walk {
    unsigned      n, max;
    int           stopped; ///< max reached: refused once, the rest ignored
    bb_osc_msg_fn fn;
    void         *user;
};

static void walk(struct walk *w, const uint8_t *pkt, size_t len, int depth)
{
    if (w->stopped)
        return;
    if (len >= 8 && memcmp(pkt, "#bundle", 8) == 0) {
        if (len < 16 || len % 4) {
            w->fn(w->user, "#bundle", NULL, "malformed OSC bundle");
            return;
        }
        if (depth >= WALK_DEPTH) {
            w->fn(w->user, "#bundle", NULL, "bundles nested too deep");
            return;
        }
        // The time tag (pkt + 8) is not read: every message runs now.
        for (size_t pos = 16; pos < len && !w->stopped;) {
            uint32_t n = len - pos >= 4 ? rd32(pkt + pos) : 0;
            if (n == 0 || n % 4 || n > len - pos - 4) {
                w->fn(w->user, "#bundle", NULL, "malformed OSC bundle");
                return;
            }
            walk(w, pkt + pos + 4, n, depth + 1);
            pos += 4 + n;
        }
        return;
    }
    if (w->n >= w->max) {
        w->stopped = 1;
        w->fn(w->user, "#bundle", NULL, "too many messages in one packet");
        return;
    }
    // liblo checks the address, the type tags and every argument's length
    // (on its own copy of the bytes).
    int res = 0;
    lo_message m = len >= 4 && len % 4 == 0 ? lo_message_deserialise((void *)pkt, len, &res) : NULL;
    if (!m) {
        w->fn(w->user, "?", NULL, "malformed OSC message");
        return;
    }
    w->n++;
    // A valid message starts with its NUL-terminated address.
    w->fn(w->user, (const char *)pkt, m, NULL);
    lo_message_free(m);
}

unsigned bb_osc_walk(const uint8_t *pkt, size_t len, unsigned max, bb_osc_msg_fn fn, void *user)
{
    struct walk w = {.max = max, .fn = fn, .user = user};
    walk(&w, pkt, len, 0);
    return w.n;
}
