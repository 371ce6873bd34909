// SPDX-License-Identifier: GPL-2.0-or-later
// net.h: UDP sockets and addresses (IPv4 and IPv6).
#ifndef BB_NET_H
#define BB_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct bb_addr {
    struct sockaddr_storage ss;
    socklen_t               len;
};

/// Resolves "host", "host:port", "[v6]:port" (port defaults to def_port).
/// Returns 0 or -1 with a one-line reason in err.
int bb_addr_parse(const char *text, uint16_t def_port, struct bb_addr *out, char *err,
                  size_t err_size);
/// "1.2.3.4:5" / "[::1]:5" into buf.
const char *bb_addr_str(const struct bb_addr *a, char *buf, size_t size);
int         bb_addr_equal(const struct bb_addr *a, const struct bb_addr *b);

/// A UDP socket bound to bind_host (NULL: any, IPv6 dual stack when
/// possible) and port (0: ephemeral), with large buffers, low-delay
/// priority, close-on-exec. family AF_UNSPEC picks from bind_host.
/// Returns the fd or -1 with err.
int bb_udp_open(const char *bind_host, uint16_t port, int family, char *err, size_t err_size);

/// Port a socket is bound to.
uint16_t bb_udp_port(int fd);

#endif
