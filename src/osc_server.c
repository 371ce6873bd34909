// SPDX-License-Identifier: GPL-2.0-or-later
// osc_server.c: the hub's OSC transport (osc_server.h), run by the
// control thread.
//
// DESIGN. The liblo server is non-blocking and polled from the control
// loop, so every handler runs in the control thread. Everything the hub
// sends (answers, feedback, notices, meters) goes out from this thread
// through the server's own socket (lo_send_message_from), so replies come
// from the port controllers send to.
//
// Every message on the OSC port passes, in order: the allow-list
// (--osc-allow, here), then the table (osc_api.c: unknown address), the
// password (--osc-password: everything that changes something needs a
// prior /auth from the sender's IP address; queries do not), the handler's
// checks of what the address names and of every argument, and only then
// the handler. Anything refused is answered with /error, never silence.
//
// RELAYED CONTROLLERS. A musician's own tablet talks to their `bandbridge
// join --osc-port`, which relays each message over the session as an OSC
// datagram (wire.h) with a controller number; hub.c hands those to
// hub_osc_relay() once it has checked session and source address. They run
// through the same table with the musician in the osc_src: the session is
// the authentication (no allow-list, no password), and the musician may
// only touch their own mix and read the lists (osc_api.c says which).
// Answers, feedback and meters go back over the session (an osc_peer with
// a slot), never to a UDP address; every send checks that the slot still
// holds that session, so nothing reaches a freed or different musician.
#include <arpa/inet.h>
#include <errno.h>
#include <lo/lo.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "log.h"
#include "osc_api.h"
#include "osc_bind.h"
#include "osc_feedback.h"
#include "osc_server.h"

#define OSC_BUNDLE_DEPTH 4                   ///< bundles nested in a relayed packet, at most
#define OSC_WIN_NS    (100ull * 1000000ull)  ///< intake rate window
#define OSC_WIN_STORM 50                     ///< messages per window (500/s) that start pacing
#define OSC_HOLD_NS   (4ull * 1000000ull)    ///< while pacing, the socket is read this often
#define OSC_POLL_MAX  256                    ///< messages handled per loop turn, at most

int hub_osc_parse_cidr(const char *s, uint32_t *net, uint32_t *mask)
{
    char ip[INET_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    unsigned bits = 32;
    if (n == 0 || n >= sizeof ip)
        return -1;
    memcpy(ip, s, n);
    ip[n] = '\0';
    if (slash) {
        char *end;
        errno = 0;
        unsigned long b = strtoul(slash + 1, &end, 10);
        // strtoul takes a sign and spaces: "/-1", "/ 8" are not lengths.
        if (errno || end == slash + 1 || *end || b > 32 || slash[1] < '0' || slash[1] > '9')
            return -1;
        bits = (unsigned)b;
    }
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1)
        return -1;
    *mask = bits ? 0xFFFFFFFFu << (32 - bits) : 0;
    *net = ntohl(a.s_addr) & *mask;
    return 0;
}

static void osc_error_cb(int num, const char *msg, const char *path)
{
    bb_warn("OSC server error %d: %s%s%s", num, msg, path ? " at " : "", path ? path : "");
}

// ---- sending -------------------------------------------------------------

void osc_relay_packet(struct hub *h, const struct osc_peer *to, const void *pkt, size_t len)
{
    // A lease may outlive its musician by a tick: check who holds the slot.
    if (to->slot < 0 || to->slot >= BB_MAX_CLIENTS)
        return;
    struct hub_client *c = h->slots[to->slot];
    if (!c || c->state != HUB_CLIENT_ACTIVE || c->session != to->session)
        return;
    struct bb_header hd = {.type = BB_MSG_OSC, .session = c->session,
                           .seq = h->osc ? h->osc->relay_seq[to->slot]++ : 0};
    // Sealed with the session's key (session.h): written after the
    // counter's room, sealed in place.
    uint8_t buf[BB_MAX_SEALED];
    int n = bb_wire_write_osc(buf + BB_SEAL_COUNTER_SIZE, BB_MAX_DATAGRAM, &hd, to->controller,
                              pkt, len);
    if (n > 0)
        n = bb_stream_seal(&c->st, buf, n, sizeof buf);
    struct bb_addr addr;
    hub_client_addr(c, &addr);
    if (n > 0)
        hub_net_send(&h->eng, &addr, buf, (size_t)n);
    else
        bb_debug("OSC: %zu bytes for %s's controller %u do not fit a datagram", len, c->name,
                 to->controller);
}

static void relay_message(struct hub *h, const struct osc_peer *to, const char *path,
                          lo_message m)
{
    uint8_t buf[BB_OSC_PACKET_MAX];
    size_t len = lo_message_length(m, path);
    if (len > sizeof buf) {
        bb_debug("OSC: %s (%zu bytes) is too long to relay", path, len);
        return;
    }
    lo_message_serialise(m, path, buf, &len);
    osc_relay_packet(h, to, buf, len);
}

void osc_send(struct hub *h, const struct osc_peer *to, const char *path, lo_message m)
{
    if (to->slot >= 0)
        relay_message(h, to, path, m);
    else if (to->addr && lo_send_message_from(to->addr, h->osc->srv, path, m) < 0)
        bb_debug("OSC: cannot send %s to %s:%s: %s", path, lo_address_get_hostname(to->addr),
                 lo_address_get_port(to->addr), lo_address_errstr(to->addr));
}

void osc_reply(struct hub *h, const struct osc_src *src, const char *path, lo_message m)
{
    osc_send(h, &src->peer, path, m);
    lo_message_free(m);
}

void osc_reply_error(struct hub *h, const struct osc_src *src, const char *path, const char *why)
{
    h->osc->errors++;
    // The address is echoed, but not all of a hostile 10 kB one.
    char p[200];
    size_t n = strlen(path);
    if (n < sizeof p)
        memcpy(p, path, n + 1);
    else
        snprintf(p, sizeof p, "%.*s...", (int)sizeof p - 4, path);
    lo_message m = lo_message_new();
    lo_message_add_string(m, p);
    lo_message_add_string(m, why);
    osc_reply(h, src, "/error", m);
}

// ---- access --------------------------------------------------------------

static int host_allowed(struct hub *h, const char *host)
{
    if (!h->osc_nallow)
        return 1;
    struct in_addr a;
    if (strncmp(host, "::ffff:", 7) == 0)
        host += 7; // an IPv4 address seen through an IPv6 socket
    if (inet_pton(AF_INET, host, &a) != 1)
        return 0;
    uint32_t ip = ntohl(a.s_addr);
    for (unsigned i = 0; i < h->osc_nallow; i++)
        if ((ip & h->osc_allow_mask[i]) == h->osc_allow_net[i])
            return 1;
    return 0;
}

static struct osc_authed *find_authed(struct hub_osc *o, const char *host, uint64_t now)
{
    for (int i = 0; i < OSC_MAX_AUTHED; i++)
        if (o->authed[i].until > now && strcmp(o->authed[i].host, host) == 0)
            return &o->authed[i];
    return NULL;
}

int osc_authed(struct hub *h, const struct osc_src *src)
{
    return find_authed(h->osc, src->host, bb_now_ns()) != NULL;
}

// Compares without stopping at the first difference (no timing hint).
static int same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

int osc_auth(struct hub *h, const struct osc_src *src, const char *password, const char **why)
{
    if (!h->osc_password[0])
        return 0;
    if (!same_secret(password, h->osc_password)) {
        bb_warn("OSC: wrong password from %s:%u", src->host, src->port);
        *why = "wrong password";
        return -1;
    }
    struct hub_osc *o = h->osc;
    uint64_t now = bb_now_ns();
    struct osc_authed *a = find_authed(o, src->host, now);
    for (int i = 0; !a && i < OSC_MAX_AUTHED; i++)
        if (o->authed[i].until <= now)
            a = &o->authed[i];
    if (!a) { // full: forget the oldest
        a = &o->authed[0];
        for (int i = 1; i < OSC_MAX_AUTHED; i++)
            if (o->authed[i].until < a->until)
                a = &o->authed[i];
    }
    if (a->until <= now)
        bb_info("OSC: %s authenticated", src->host);
    snprintf(a->host, sizeof a->host, "%s", src->host);
    a->until = now + OSC_AUTH_NS;
    return 0;
}

// ---- receiving -----------------------------------------------------------

// A message on the OSC port: the allow-list, then the table.
static int generic_handler(const char *path, const char *types, lo_arg **argv, int argc,
                           lo_message msg, void *user)
{
    struct hub *h = user;
    struct osc_src src = {.peer = {.addr = lo_message_get_source(msg), .slot = -1}};
    if (src.peer.addr) {
        const char *host = lo_address_get_hostname(src.peer.addr);
        const char *port = lo_address_get_port(src.peer.addr);
        snprintf(src.host, sizeof src.host, "%s", host ? host : "");
        src.port = port ? (uint16_t)atoi(port) : 0;
    }
    if (!host_allowed(h, src.host)) {
        h->osc->messages++;
        bb_debug("OSC: %s from %s:%u refused (not in --osc-allow)", path, src.host, src.port);
        osc_reply_error(h, &src, path, "not allowed from this address");
        return 0;
    }
    osc_api_dispatch(h, path, types, argv, argc, &src);
    return 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// One relayed OSC packet: a message, or a bundle whose elements are taken
// in order, at once (time tags are not honoured), nested up to
// OSC_BUNDLE_DEPTH deep. Anything malformed is answered with /error.
static void relay_packet_in(struct hub *h, const struct osc_src *src, const uint8_t *pkt,
                            size_t len, int depth)
{
    if (len >= 16 && memcmp(pkt, "#bundle", 8) == 0) {
        if (depth >= OSC_BUNDLE_DEPTH) {
            osc_reply_error(h, src, "#bundle", "bundles nested too deep");
            return;
        }
        for (size_t pos = 16; pos < len;) {
            uint32_t n = len - pos >= 4 ? be32(pkt + pos) : 0;
            if (n == 0 || n % 4 || n > len - pos - 4) {
                osc_reply_error(h, src, "#bundle", "malformed OSC bundle");
                return;
            }
            relay_packet_in(h, src, pkt + pos + 4, n, depth + 1);
            pos += 4 + n;
        }
        return;
    }
    // liblo checks the path, the type tags and every argument's length.
    uint8_t copy[BB_OSC_PACKET_MAX];
    int res = 0;
    lo_message m = NULL;
    if (len <= sizeof copy) {
        memcpy(copy, pkt, len);
        m = lo_message_deserialise(copy, len, &res);
    }
    if (!m) {
        h->osc->messages++;
        h->osc->relayed++;
        osc_reply_error(h, src, "?", "malformed OSC message");
        return;
    }
    // A valid message starts with its NUL-terminated address.
    osc_api_dispatch(h, (const char *)copy, lo_message_get_types(m), lo_message_get_argv(m),
                     lo_message_get_argc(m), src);
    lo_message_free(m);
}

void hub_osc_relay(struct hub *h, struct hub_client *c, unsigned controller, const uint8_t *pkt,
                   size_t len)
{
    struct osc_src src = {
        .peer = {.slot = c->slot, .session = c->session, .controller = (uint8_t)controller},
        .port = (uint16_t)controller,
        .relay = c,
    };
    snprintf(src.host, sizeof src.host, "%s", c->name);
    if (!h->osc) {
        // No OSC on this hub: say so, once per datagram.
        size_t pl = strnlen((const char *)pkt, len);
        char p[200];
        snprintf(p, sizeof p, "%.*s", pl < len && pl < sizeof p ? (int)pl : 0, (const char *)pkt);
        lo_message m = lo_message_new();
        lo_message_add_string(m, p[0] == '/' ? p : "?");
        lo_message_add_string(m, "the hub's OSC control is off (--osc-port 0)");
        relay_message(h, &src.peer, "/error", m);
        lo_message_free(m);
        return;
    }
    relay_packet_in(h, &src, pkt, len, 0);
}

// ---- the server ----------------------------------------------------------

int hub_osc_start(struct hub *h, char *err, size_t err_size)
{
    if (h->osc_port == 0)
        return 0;
    struct hub_osc *o = calloc(1, sizeof *o);
    if (!o || !(o->fb = osc_feedback_new(bb_now_ns()))) {
        free(o);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    o->srv = bb_osc_server_open(h->osc_port, h->osc_bind, osc_error_cb, err, err_size);
    if (!o->srv) {
        osc_feedback_free(o->fb);
        free(o);
        return -1;
    }
    lo_server_add_method(o->srv, NULL, NULL, generic_handler, h);
    h->osc = o;
    return 0;
}

void hub_osc_stop(struct hub *h)
{
    if (!h->osc)
        return;
    osc_feedback_free(h->osc->fb);
    lo_server_free(h->osc->srv);
    free(h->osc);
    h->osc = NULL;
}

int hub_osc_fd(struct hub *h, uint64_t now)
{
    if (!h->osc || now < h->osc->hold_until_ns)
        return -1; // pacing: messages wait in the socket until hold_until_ns
    return lo_server_get_socket_fd(h->osc->srv);
}

void hub_osc_poll(struct hub *h, uint64_t now)
{
    struct hub_osc *o = h->osc;
    if (!o || now < o->hold_until_ns)
        return;
    unsigned n = 0;
    while (n < OSC_POLL_MAX && lo_server_recv_noblock(o->srv, 0) > 0)
        n++;
    o->turns++;
    if (now - o->win_start_ns >= OSC_WIN_NS) {
        // One window's rate decides the next window's pacing: a tablet's
        // fader (tens of messages a second) is never held, a storm is.
        o->pacing = o->win_count >= OSC_WIN_STORM;
        o->win_start_ns = now;
        o->win_count = 0;
    }
    o->win_count += n;
    if (o->pacing || o->win_count >= OSC_WIN_STORM) {
        o->pacing = 1;
        o->hold_until_ns = now + OSC_HOLD_NS;
    }
}

int hub_osc_due_ms(struct hub *h, uint64_t now)
{
    if (!h->osc)
        return -1;
    uint64_t t = osc_feedback_due_ns(h->osc->fb);
    if (h->osc->hold_until_ns > now && h->osc->hold_until_ns < t)
        t = h->osc->hold_until_ns; // the socket is read again then
    return t <= now ? 0 : (int)((t - now + 999999) / 1000000);
}
