// SPDX-License-Identifier: GPL-2.0-or-later
// join_osc.c: the musician's own OSC controllers (--osc-port).
//
// The control thread owns a liblo UDP server for the musician's own tablet
// or phone. Every message it hands out (one by one, out of bundles too) is
// serialised again and sent to the hub as an OSC datagram of the session,
// with the number (0..15) of the controller it came from; the hub limits it
// to this musician's own mix and answers the same way. What comes back
// reaches main through the receive thread's ring and goes out raw from the
// server's own socket, so the tablet hears from the port it sends to. A
// controller is a source address and port, or the reply port a /subscribe
// names (like the hub's own OSC port: many tablet apps do not listen where
// they send from). Without a session, messages are answered here: /error
// "not connected to the hub".
//
// Like the hub's OSC port, this one answers only this machine and the
// local networks of its interfaces (osc_bind.h): anything else is dropped
// unread and unanswered (counted in a log line at most every 10 s). The
// socket is read here, not by liblo, and a bundle's messages are relayed
// at once, its time tag ignored: nothing waits in liblo's queue.
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "join.h"
#include "log.h"
#include "osc_bind.h"
#include "osc_arg.h"

static struct bb_osc_nets local_nets; // [ctl] who may talk to the OSC port
static unsigned refused;               // [ctl] datagrams dropped since the last log line
static uint64_t refused_log_ns;        // [ctl]

static void osc_error_cb(int num, const char *msg, const char *path)
{
    // Whatever reaches the port: not worth more than a debug line.
    bb_debug("OSC port: error %d: %s%s%s", num, msg, path ? " at " : "", path ? path : "");
}

// [ctl] Sends one OSC packet to controller k from the OSC port's socket.
static void ctl_send(struct join *j, int k, const void *pkt, size_t len)
{
    const struct join_ctl *c = &j->ctl[k];
    if (c->used && sendto(lo_server_get_socket_fd(j->osc), pkt, len, MSG_DONTWAIT,
                          (const struct sockaddr *)&c->sa, c->sa_len) < 0)
        bb_debug("OSC port: cannot answer %s:%u: %s", c->host, c->port, strerror(errno));
}

// [ctl] Answers controller k with /error s:path s:why, here.
static void ctl_error(struct join *j, int k, const char *path, const char *why)
{
    // The address is echoed, but not all of a hostile 10 kB one.
    char p[200];
    if (strlen(path) < sizeof p)
        snprintf(p, sizeof p, "%s", path);
    else
        snprintf(p, sizeof p, "%.*s...", (int)sizeof p - 4, path);
    lo_message m = lo_message_new();
    lo_message_add_string(m, p);
    lo_message_add_string(m, why);
    uint8_t buf[512];
    size_t len = lo_message_length(m, "/error");
    if (len <= sizeof buf) {
        lo_message_serialise(m, "/error", buf, &len);
        ctl_send(j, k, buf, len);
    }
    lo_message_free(m);
}

// [ctl] The number of the controller at host:port; a new one takes a free
// number or the one heard from least recently. -1 if the address is not
// usable.
static int ctl_for(struct join *j, const char *host, uint16_t port)
{
    int k = -1, oldest = 0;
    uint64_t now = bb_now_ns();
    for (int i = 0; i < BB_OSC_CONTROLLERS; i++) {
        struct join_ctl *c = &j->ctl[i];
        if (c->used && c->port == port && strcmp(c->host, host) == 0) {
            c->last_ns = now;
            return i;
        }
        if (!c->used && k < 0)
            k = i;
        if (c->last_ns < j->ctl[oldest].last_ns)
            oldest = i;
    }
    if (k < 0)
        k = oldest;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    if (strlen(host) >= sizeof j->ctl[k].host || getaddrinfo(host, ps, &hints, &ai) != 0 || !ai ||
        ai->ai_addrlen > sizeof j->ctl[k].sa) {
        if (ai)
            freeaddrinfo(ai);
        return -1;
    }
    struct join_ctl *c = &j->ctl[k];
    if (c->used)
        bb_info("OSC controller %d is now %s:%u (%s:%u was heard from least recently)", k, host,
                port, c->host, c->port);
    else
        bb_info("OSC controller %d: %s:%u", k, host, port);
    c->used = 1;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    memcpy(&c->sa, ai->ai_addr, ai->ai_addrlen);
    c->sa_len = ai->ai_addrlen;
    c->last_ns = now;
    freeaddrinfo(ai);
    return k;
}

// The reply port a (meters/)(un)subscribe names, or 0: /subscribe
// [lease] [port] [style], /unsubscribe [port] (bandbridge-osc(7)).
static uint16_t reply_port(const char *path, const char *types, lo_arg **argv, int argc)
{
    int sub = strcmp(path, "/subscribe") == 0 || strcmp(path, "/meters/subscribe") == 0;
    int unsub = strcmp(path, "/unsubscribe") == 0 || strcmp(path, "/meters/unsubscribe") == 0;
    if (sub && argc > 0 && (types[argc - 1] == 's' || types[argc - 1] == 'S'))
        argc--; // the style
    int at = sub ? 1 : 0;
    if ((!sub && !unsub) || argc <= at)
        return 0;
    double v;
    if (bb_arg_number(types[at], argv[at], &v) < 0)
        return 0;
    return v >= 1 && v <= 65535 && v == (double)(int)v ? (uint16_t)v : 0;
}

/// The datagram being handled: who sent it.
struct osc_from {
    struct join *j;
    const char  *host;
    uint16_t     port;
};

// [ctl] A message from one of our own controllers: relayed to the hub as
// it is (the hub resolves /mix/me/...), or answered here.
static void osc_in(void *user, const char *path, lo_message msg, const char *error)
{
    const struct osc_from *f = user;
    struct join *j = f->j;
    if (!msg) {
        int k = ctl_for(j, f->host, f->port);
        if (k >= 0)
            ctl_error(j, k, path, error);
        return;
    }
    const char *types = lo_message_get_types(msg);
    lo_arg **argv = lo_message_get_argv(msg);
    int argc = lo_message_get_argc(msg);
    uint16_t rp = reply_port(path, types, argv, argc);
    int k = ctl_for(j, f->host, rp ? rp : f->port);
    if (k < 0)
        return;
    if (!j->osc_session) {
        ctl_error(j, k, path, "not connected to the hub");
        return;
    }
    uint8_t pkt[BB_OSC_PACKET_MAX], buf[BB_MAX_SEALED];
    size_t len = lo_message_length(msg, path);
    if (len > sizeof pkt) {
        ctl_error(j, k, path, "too long to relay to the hub (1176 bytes at most)");
        return;
    }
    lo_message_serialise(msg, path, pkt, &len);
    // Sealed with the session's key (session.h): written after the
    // counter's room, sealed in place.
    struct bb_header hd = {.type = BB_MSG_OSC, .session = j->osc_session, .seq = j->osc_seq++};
    int n = bb_wire_write_osc(buf + BB_SEAL_COUNTER_SIZE, BB_MAX_DATAGRAM, &hd, (uint8_t)k, pkt,
                              len);
    join_net_send(j, buf, n > 0 ? bb_stream_seal(j->osc_st, buf, n, sizeof buf) : -1);
}

void join_osc_from_hub(struct join *j, const uint8_t *buf, size_t len)
{
    struct bb_osc o;
    if (!j->osc || bb_wire_read_osc(buf, len, &o) != BB_WIRE_OK)
        return;
    ctl_send(j, o.controller, o.packet, o.packet_len);
}

int join_osc_start(struct join *j, char *err, size_t err_size)
{
    if (!j->osc_port)
        return 0;
    j->osc = bb_osc_server_open(j->osc_port, j->osc_bind, osc_error_cb, err, err_size);
    if (!j->osc)
        return -1;
    bb_osc_local_nets(&local_nets, bb_now_ns());
    bb_info("OSC port %u%s%s open for your own controllers: /mix/me/... is your mix", j->osc_port,
            j->osc_bind[0] ? " on " : "", j->osc_bind);
    return 0;
}

void join_osc_stop(struct join *j)
{
    if (j->osc)
        lo_server_free(j->osc);
    j->osc = NULL;
}

int join_osc_fd(const struct join *j)
{
    return j->osc ? lo_server_get_socket_fd(j->osc) : -1;
}

// [ctl] Reads up to 64 datagrams: each from this machine or a local
// network (re-read every 5 s at most before refusing) is relayed message
// by message, 64 messages at most per datagram.
void join_osc_poll(struct join *j)
{
    static uint8_t pkt[8192]; // [ctl]; nothing longer can be relayed anyway
    int fd = j->osc ? lo_server_get_socket_fd(j->osc) : -1;
    for (int i = 0; fd >= 0 && i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        // MSG_TRUNC: the datagram's real length, so a longer one is refused
        // whole rather than read cut.
        ssize_t len = recvfrom(fd, pkt, sizeof pkt, MSG_DONTWAIT | MSG_TRUNC,
                               (struct sockaddr *)&ss, &sl);
        if (len < 0)
            break;
        const struct sockaddr *sa = (const struct sockaddr *)&ss;
        uint64_t now = bb_now_ns();
        uint32_t ip;
        int ok = bb_osc_sa_ipv4(sa, sl, &ip) == 0
                     ? bb_osc_nets_has(&local_nets, ip) ||
                           (now - local_nets.read_ns >= 5000000000ull &&
                            bb_osc_local_nets(&local_nets, now) && bb_osc_nets_has(&local_nets, ip))
                     : bb_osc_sa_loopback(sa, sl);
        char host[64];
        uint16_t port;
        if (bb_osc_sa_host(sa, sl, host, sizeof host, &port) < 0)
            continue;
        if (!ok) {
            refused++;
            if (now - refused_log_ns >= 10000000000ull) {
                bb_info("OSC port: %u datagram%s from outside this machine's networks dropped "
                        "(the last from %s)", refused, refused == 1 ? "" : "s", host);
                refused = 0;
                refused_log_ns = now;
            }
            continue;
        }
        struct osc_from f = {j, host, port};
        if ((size_t)len > sizeof pkt)
            osc_in(&f, "?", NULL, "too long to relay to the hub (1176 bytes at most)");
        else
            bb_osc_walk(pkt, (size_t)len, 64, osc_in, &f);
    }
}
