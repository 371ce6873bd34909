// SPDX-License-Identifier: GPL-2.0-or-later
// net.c: UDP sockets and address parsing for the network threads.
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bb_addr_parse(const char *text, uint16_t def_port, struct bb_addr *out, char *err,
                  size_t err_size)
{
    char host[256];
    const char *port_str = NULL;
    if (!text || !*text || strlen(text) >= sizeof host) {
        snprintf(err, err_size, "bad address '%s'", text ? text : "");
        return -1;
    }
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end) {
            snprintf(err, err_size, "bad address '%s': missing ']'", text);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(end - text - 1), text + 1);
        if (end[1] == ':')
            port_str = end + 2;
        else if (end[1]) {
            snprintf(err, err_size, "bad address '%s'", text);
            return -1;
        }
    } else {
        const char *colon = strchr(text, ':');
        if (colon && !strchr(colon + 1, ':')) {
            snprintf(host, sizeof host, "%.*s", (int)(colon - text), text);
            port_str = colon + 1;
        } else {
            snprintf(host, sizeof host, "%s", text);
        }
    }
    unsigned long port = def_port;
    if (port_str) {
        char *end;
        errno = 0;
        port = strtoul(port_str, &end, 10);
        if (errno || *end || port == 0 || port > 65535) {
            snprintf(err, err_size, "bad port in '%s'", text);
            return -1;
        }
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *res = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%lu", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, err_size, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

const char *bb_addr_str(const struct bb_addr *a, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        snprintf(buf, size, "%s:%u", host, ntohs(s4->sin_port));
    } else if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        snprintf(buf, size, "[%s]:%u", host, ntohs(s6->sin6_port));
    } else {
        snprintf(buf, size, "?");
    }
    return buf;
}

int bb_addr_equal(const struct bb_addr *a, const struct bb_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return 0;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    return 0;
}

int bb_udp_open(const char *bind_host, uint16_t port, int family, char *err, size_t err_size)
{
    struct bb_addr a;
    memset(&a, 0, sizeof a);
    if (bind_host && *bind_host) {
        char text[300];
        snprintf(text, sizeof text, strchr(bind_host, ':') ? "[%s]:%u" : "%s:%u", bind_host,
                 port ? port : 1);
        if (bb_addr_parse(text, port, &a, err, err_size) < 0)
            return -1;
        if (port == 0) {
            if (a.ss.ss_family == AF_INET)
                ((struct sockaddr_in *)&a.ss)->sin_port = 0;
            else
                ((struct sockaddr_in6 *)&a.ss)->sin6_port = 0;
        }
    } else if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        s4->sin_addr.s_addr = htonl(INADDR_ANY);
        a.len = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        s6->sin6_addr = in6addr_any;
        a.len = sizeof *s6;
    }
    int fd = socket(a.ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 && a.ss.ss_family == AF_INET6 && !(bind_host && *bind_host)) {
        // No IPv6 on this machine: fall back to IPv4 any.
        return bb_udp_open(NULL, port, AF_INET, err, err_size);
    }
    if (fd < 0) {
        snprintf(err, err_size, "socket: %s", strerror(errno));
        return -1;
    }
    int zero = 0, buf = 1 << 20, tos = IPTOS_LOWDELAY, prio = 6;
    if (a.ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof prio);
    if (a.ss.ss_family == AF_INET)
        setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    if (bind(fd, (struct sockaddr *)&a.ss, a.len) < 0) {
        int e = errno; // the caller may say more for EADDRINUSE
        char as[80];
        snprintf(err, err_size, "cannot bind UDP %s: %s", bb_addr_str(&a, as, sizeof as),
                 strerror(e));
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

uint16_t bb_udp_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}
