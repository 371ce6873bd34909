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
//
// And like the hub's, it cannot be turned against someone else by a
// datagram with a forged source address (bandbridge-osc(7), COOKIES): a
// controller that has not shown it receives (not on this machine, no
// cookie echoed) is never sent more bytes than it sent, all answers
// together, its own /error and what the hub answers alike (each datagram
// it sends adds its length to its credit, each answer takes its length;
// an answer that does not fit is not sent, an /error is shortened first);
// its /subscribe and /meters/subscribe are answered here with /cookie
// i:cookie (no longer than the request) and not relayed, and its
// /cookie COOKIE [reply_port] back verifies it, here, for as long as it
// stays one of the 16 controllers.
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "join.h"
#include "log.h"
#include "osc_bind.h"
#include "osc_arg.h"

/// Bytes an unverified controller may have banked: what it sent, up to this.
#define CTL_CREDIT_MAX 16384u

static struct bb_osc_nets local_nets; // [ctl] who may talk to the OSC port
static unsigned refused;               // [ctl] datagrams dropped since the last log line
static uint64_t refused_log_ns;        // [ctl]
static uint8_t  cookie_key[32];        // [ctl] random per process: our cookies only
static unsigned replies_cut;           // [ctl] answers to unverified controllers cut or not sent
static uint64_t cut_log_ns;            // [ctl]

// A loopback source cannot come from another machine: verified.
static int host_is_local(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strncmp(host, "::ffff:127.", 11) == 0;
}

// [ctl] An answer to an unverified controller that was cut or not sent:
// counted, logged at most every 10 s.
static void reply_cut(const struct join_ctl *c)
{
    replies_cut++;
    uint64_t now = bb_now_ns();
    if (now - cut_log_ns >= 10000000000ull) {
        bb_info("OSC port: %u answer%s to controllers that have not echoed a /cookie cut or not "
                "sent, to stay no longer than what they sent (the last to %s:%u)",
                replies_cut, replies_cut == 1 ? "" : "s", c->host, c->port);
        replies_cut = 0;
        cut_log_ns = now;
    }
}

static void osc_error_cb(int num, const char *msg, const char *path)
{
    // Whatever reaches the port: not worth more than a debug line.
    bb_debug("OSC port: error %d: %s%s%s", num, msg, path ? " at " : "", path ? path : "");
}

// [ctl] Sends one OSC packet to controller k from the OSC port's socket.
static void ctl_send(struct join *j, int k, const void *pkt, size_t len)
{
    struct join_ctl *c = &j->ctl[k];
    if (!c->used)
        return;
    if (!c->verified) {
        if (len > c->credit) {
            reply_cut(c);
            return;
        }
        c->credit -= (uint32_t)len;
    }
    if (sendto(lo_server_get_socket_fd(j->osc), pkt, len, MSG_DONTWAIT,
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
    char r[200];
    snprintf(r, sizeof r, "%s", why);
    const struct join_ctl *c = &j->ctl[k];
    // "/error\0\0" ",ss\0" and each string with its NUL, padded to 4.
    size_t len = 12 + ((strlen(p) + 4) & ~(size_t)3) + ((strlen(r) + 4) & ~(size_t)3);
    if (!c->verified && len > c->credit) {
        // As the hub does: the echoed address goes first, then the reason
        // is cut short; not even 3 characters of it: nothing.
        size_t room = c->credit >= 16 ? ((c->credit - 16) & ~(size_t)3) : 0;
        p[0] = '\0';
        if (room < 4) {
            reply_cut(c);
            return;
        }
        if (strlen(r) > room - 1)
            r[room - 1] = '\0';
        if (strlen(r) < 3) {
            reply_cut(c);
            return;
        }
        replies_cut++;
    }
    lo_message m = lo_message_new();
    lo_message_add_string(m, p);
    lo_message_add_string(m, r);
    uint8_t buf[512];
    len = lo_message_length(m, "/error");
    if (len <= sizeof buf) {
        lo_message_serialise(m, "/error", buf, &len);
        ctl_send(j, k, buf, len);
    }
    lo_message_free(m);
}

// [ctl] /cookie i:cookie to controller k: its reply port may then show it
// receives (16 bytes, no longer than the /subscribe it answers).
static void ctl_cookie(struct join *j, int k)
{
    const struct join_ctl *c = &j->ctl[k];
    lo_message m = lo_message_new();
    lo_message_add_int32(m, bb_osc_cookie(cookie_key, c->host, c->port,
                                          bb_now_ns() / BB_OSC_COOKIE_EPOCH_NS));
    uint8_t buf[64];
    size_t len = lo_message_length(m, "/cookie");
    if (len <= sizeof buf) {
        lo_message_serialise(m, "/cookie", buf, &len);
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
    c->verified = host_is_local(host);
    c->credit = 0;
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
    size_t       len;      ///< its length: credit for an unverified controller
    uint32_t     credited; ///< controllers (bits) credited with it already
};

// [ctl] Controller k heard from in datagram f: an unverified one may be
// sent that many bytes more (once per datagram).
static void ctl_credit(struct osc_from *f, int k)
{
    struct join_ctl *c = &f->j->ctl[k];
    if (c->verified || (f->credited & (1u << k)))
        return;
    f->credited |= 1u << k;
    c->credit = c->credit + f->len > CTL_CREDIT_MAX ? CTL_CREDIT_MAX : c->credit + (uint32_t)f->len;
}

// [ctl] /cookie i:cookie [i:reply_port]: verifies host:reply_port (default:
// the source port) when the cookie is the one we sent there within 1 to 2
// minutes. Handled here, never relayed.
static void on_cookie(struct osc_from *f, const char *types, lo_arg **argv, int argc)
{
    struct join *j = f->j;
    uint16_t rp = argc >= 2 && types[1] == 'i' && argv[1]->i >= 1 && argv[1]->i <= 65535
                      ? (uint16_t)argv[1]->i : f->port;
    int k = ctl_for(j, f->host, rp);
    if (k < 0)
        return;
    ctl_credit(f, k);
    uint64_t epoch = bb_now_ns() / BB_OSC_COOKIE_EPOCH_NS;
    if (argc < 1 || types[0] != 'i' || (argc >= 2 && types[1] != 'i') || argc > 2) {
        ctl_error(j, k, "/cookie", "expected /cookie i:cookie [i:reply_port]");
        return;
    }
    if (argv[0]->i != bb_osc_cookie(cookie_key, f->host, rp, epoch) &&
        argv[0]->i != bb_osc_cookie(cookie_key, f->host, rp, epoch - 1)) {
        ctl_error(j, k, "/cookie", "wrong or stale cookie: /subscribe again");
        return;
    }
    if (!j->ctl[k].verified)
        bb_debug("OSC port: %s:%u echoed its cookie", f->host, rp);
    j->ctl[k].verified = 1;
}

// [ctl] A message from one of our own controllers: relayed to the hub as
// it is (the hub resolves /mix/me/...), or answered here.
static void osc_in(void *user, const char *path, lo_message msg, const char *error)
{
    struct osc_from *f = user;
    struct join *j = f->j;
    if (!msg) {
        int k = ctl_for(j, f->host, f->port);
        if (k >= 0) {
            ctl_credit(f, k);
            ctl_error(j, k, path, error);
        }
        return;
    }
    const char *types = lo_message_get_types(msg);
    lo_arg **argv = lo_message_get_argv(msg);
    int argc = lo_message_get_argc(msg);
    if (strcmp(path, "/cookie") == 0) {
        on_cookie(f, types, argv, argc);
        return;
    }
    uint16_t rp = reply_port(path, types, argv, argc);
    int k = ctl_for(j, f->host, rp ? rp : f->port);
    if (k < 0)
        return;
    ctl_credit(f, k);
    // A lease (feedback, meters) only for a reply port that receives.
    if (!j->ctl[k].verified &&
        (strcmp(path, "/subscribe") == 0 || strcmp(path, "/meters/subscribe") == 0)) {
        ctl_cookie(j, k);
        return;
    }
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
    randombytes_buf(cookie_key, sizeof cookie_key);
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
        struct osc_from f = {j, host, port, (size_t)len, 0};
        if ((size_t)len > sizeof pkt)
            osc_in(&f, "?", NULL, "too long to relay to the hub (1176 bytes at most)");
        else
            bb_osc_walk(pkt, (size_t)len, 64, osc_in, &f);
    }
}
