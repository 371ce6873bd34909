// SPDX-License-Identifier: GPL-2.0-or-later
// osc_bind.h: a liblo UDP server bound to one address, for the hub's OSC
// port and a musician's (`join --osc-port`). Nothing of the hub's OSC
// surface: `join` links this alone.
#ifndef BB_OSC_BIND_H
#define BB_OSC_BIND_H

#include <lo/lo.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/// [caller's thread] A non-blocking liblo UDP server on port, on every
/// IPv4 address or only on bind_addr (NULL or "" or "0.0.0.0": every one).
/// Returns NULL with err.
lo_server bb_osc_server_open(uint16_t port, const char *bind_addr, lo_err_handler on_error,
                             char *err, size_t err_size);

// ---- who may talk to an OSC port (the hub's and join's) ------------------
//
// By default an OSC port answers this machine (127.0.0.0/8) and the local
// networks of the machine's own IPv4 interfaces (each address with its
// netmask, from getifaddrs): a tablet on the rehearsal room's Wi-Fi works
// out of the box, the internet does not. liblo's UDP server is IPv4, so an
// IPv6 source is only ever ::1 or an IPv4 address seen through IPv6.

#define BB_OSC_MAX_NETS 64

/// IPv4 networks, host order.
struct bb_osc_nets {
    unsigned n;
    uint32_t net[BB_OSC_MAX_NETS], mask[BB_OSC_MAX_NETS];
    uint64_t read_ns; ///< when bb_osc_local_nets() filled it (0: never)
};

/// [any] n = 127.0.0.0/8 and the network of every IPv4 address of this
/// machine's interfaces that are up. Returns how many, at least 1.
unsigned bb_osc_local_nets(struct bb_osc_nets *n, uint64_t now_ns);
/// [any] 1 when ip (host order) is in one of n's networks.
int      bb_osc_nets_has(const struct bb_osc_nets *n, uint32_t ip);
/// [any] The IPv4 address of sa (AF_INET, or IPv4-mapped AF_INET6) in host
/// order: 0, or -1 for anything else.
int      bb_osc_sa_ipv4(const struct sockaddr *sa, socklen_t len, uint32_t *ip);
/// [any] 1 for a source on this machine: 127.0.0.0/8 or ::1. A datagram
/// with such a source address cannot come from another machine (Linux
/// drops loopback sources arriving on any other interface as martians).
int      bb_osc_sa_loopback(const struct sockaddr *sa, socklen_t len);
/// [any] sa as numeric host and port ("192.168.1.20", 9000); 0 or -1.
int      bb_osc_sa_host(const struct sockaddr *sa, socklen_t len, char *host, size_t size,
                        uint16_t *port);

// ---- cookies: a source shows it receives (COOKIES in bandbridge-osc(7)) ----

#define BB_OSC_COOKIE_EPOCH_NS (60ull * 1000000000ull) ///< a cookie lives 1 to 2 minutes

/// [any] The cookie for host (its IP address as text) and reply port in
/// epoch (now / BB_OSC_COOKIE_EPOCH_NS): BLAKE2b keyed with key, a process's
/// random secret, so only that process can make or check it.
int32_t bb_osc_cookie(const uint8_t key[32], const char *host, uint16_t port, uint64_t epoch);

// ---- packets without liblo's time-tag queue -------------------------------

/// One message of a packet (m, path its address: both only valid during
/// the call), or, with m NULL, what was wrong (error) at path ("#bundle"
/// for a bundle, "?" for a message that is not OSC).
typedef void (*bb_osc_msg_fn)(void *user, const char *path, lo_message m, const char *error);

/// [any] Hands every message of one OSC packet (a message, or a bundle,
/// nested up to 4 deep) to fn in order, at once: a bundle's time tag is
/// ignored, so nothing is ever queued for later (liblo queues future-dated
/// bundles, unbounded, and sorts them on insert). After max messages the
/// rest is refused with one error. Returns the messages handed out.
unsigned bb_osc_walk(const uint8_t *pkt, size_t len, unsigned max, bb_osc_msg_fn fn, void *user);

#endif
