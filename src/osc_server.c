// SPDX-License-Identifier: GPL-2.0-or-later
// osc_server.c: the hub's OSC transport (osc_server.h), run by the
// control thread.
//
// DESIGN. The liblo server's socket is non-blocking and read from the
// control loop, so every handler runs in the control thread. Everything the hub
// sends (answers, feedback, notices, meters) goes out from this thread
// through the server's own socket (lo_send_message_from), so replies come
// from the port controllers send to.
//
// RECEIVING. The socket is read here with recvfrom(), never by liblo: a
// datagram is checked before any work is done for it, and its messages
// run at once (bb_osc_walk: a bundle's time tag is ignored, so liblo's
// queue of future-dated bundles, unbounded and sorted on insert, is never
// used). Every datagram passes, in order: the allow-list (--osc-allow, or
// this machine and its local networks), on the source address alone and
// before it is read; its length (OSC_DGRAM_MAX) and its address's rate
// (OSC_SRC_BYTES_S a second); then each message (OSC_PACKET_MSGS at most)
// the table (osc_api.c: unknown address), the password (--osc-password:
// everything but /info, /auth and /cookie needs a prior /auth from the
// sender's address AND port), the handler's checks of what the address
// names and of every argument, and only then the handler. Anything
// refused is answered with /error (but a datagram over its address's
// rate, dropped unread and unanswered, counted), and a source that has
// not shown it receives (not this machine, no cookie echoed) is never
// sent more bytes than the datagram it sent, all its answers together
// (hub_osc.limited): an /error leaves out the echoed address, then
// shortens the reason, and an answer that still does not fit (/info to a
// 12-byte query) is not sent (counted: osc_replies_cut). Refusals of sources outside
// the allowed networks are answered 20 a second at most.
//
// PASSWORDS. A wrong /auth counts against the source's IP address: after
// OSC_AUTH_FREE wrong ones, every further one starts a back-off (1 s, 2 s,
// 4 s ... 64 s) during which /auth from that address is refused unread.
// Wrong passwords, refusals and drops are logged as one line a second,
// not one per datagram. The right password authenticates that address and
// port (not the whole IP) for 10 minutes after its last message.
//
// LEASES need a source that receives: /subscribe for a reply port not
// yet verified is answered with /cookie i:COOKIE to that port and nothing
// else; /cookie COOKIE [reply_port] sent back verifies it for an hour
// (osc_feedback.c). This machine is always verified: a loopback source
// address cannot come from outside.
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
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>

#include "hub.h"
#include "log.h"
#include "osc_bind.h"
#include "osc_server.h"

#define OSC_WIN_NS    (100ull * 1000000ull)  ///< intake rate window
#define OSC_WIN_STORM 50                     ///< messages per window (500/s) that start pacing
#define OSC_HOLD_NS   (4ull * 1000000ull)    ///< while pacing, the socket is read this often
#define OSC_POLL_MAX  256                    ///< datagrams handled per loop turn, at most
#define OSC_TURN_MSGS 512                    ///< ... and messages (then the rest waits a turn)

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
    struct hub_osc *o = h->osc;
    if (o && to == o->limited) {
        size_t n = lo_message_length(m, path);
        if (n > o->budget) {
            o->replies_cut++;
            return;
        }
        o->budget -= n;
    }
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

static size_t pad4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

int osc_error_fit(char *path, char *why, size_t max)
{
    size_t len = 12 + pad4(strlen(path) + 1) + pad4(strlen(why) + 1); // "/error\0\0" ",ss\0"
    if (len <= max)
        return 0;
    path[0] = '\0'; // the echoed address goes first
    if (max < 16 + 4)
        return -1;
    size_t room = (max - 16) / 4 * 4 - 1; // characters of the reason that fit
    if (strlen(why) > room)
        why[room] = '\0';
    return 1;
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
    char w[128];
    snprintf(w, sizeof w, "%s", why);
    if (!src->relay && !src->verified) {
        int fit = osc_error_fit(p, w, src->req_len);
        h->osc->replies_cut += fit != 0;
        if (fit < 0)
            return; // not even "/error" with "" and a letter fits: nothing
    }
    lo_message m = lo_message_new();
    lo_message_add_string(m, p);
    lo_message_add_string(m, w);
    osc_reply(h, src, "/error", m);
}

// ---- access --------------------------------------------------------------

int hub_osc_parse_allow(const char *s, uint32_t *net, uint32_t *mask)
{
    if (strcmp(s, "any") == 0) {
        *net = *mask = 0;
        return 0;
    }
    if (strcmp(s, "local") == 0) {
        *net = OSC_ALLOW_LOCAL_NET;
        *mask = 0;
        return 0;
    }
    return hub_osc_parse_cidr(s, net, mask);
}

#define OSC_NETS_REREAD_NS (5ull * 1000000000ull)

static int local_allowed(struct hub_osc *o, uint32_t ip, uint64_t now)
{
    if (bb_osc_nets_has(&o->local, ip))
        return 1;
    // An interface may have come up since (Wi-Fi, DHCP): read them again,
    // at most every 5 s, before refusing.
    if (now - o->local.read_ns < OSC_NETS_REREAD_NS)
        return 0;
    bb_osc_local_nets(&o->local, now);
    return bb_osc_nets_has(&o->local, ip);
}

int hub_osc_allowed(struct hub *h, const struct sockaddr *sa, socklen_t len, uint64_t now)
{
    uint32_t ip;
    int v6 = bb_osc_sa_ipv4(sa, len, &ip) < 0;
    if (!h->osc_nallow)
        return v6 ? bb_osc_sa_loopback(sa, len) : local_allowed(h->osc, ip, now);
    for (unsigned i = 0; i < h->osc_nallow; i++) {
        if (h->osc_allow_net[i] == OSC_ALLOW_LOCAL_NET && h->osc_allow_mask[i] == 0) {
            // IPv6 (liblo's port is IPv4): of the local ones, ::1 only.
            if (v6 ? bb_osc_sa_loopback(sa, len) : local_allowed(h->osc, ip, now))
                return 1;
        } else if ((!v6 && (ip & h->osc_allow_mask[i]) == h->osc_allow_net[i]) ||
                   h->osc_allow_mask[i] == 0) { // any: IPv6 too
            return 1;
        }
    }
    return 0;
}

static struct osc_hostport *hp_find(struct osc_hostport *t, int n, const char *host,
                                    uint16_t port, uint64_t now)
{
    for (int i = 0; i < n; i++)
        if (t[i].until > now && t[i].port == port && strcmp(t[i].host, host) == 0)
            return &t[i];
    return NULL;
}

// The entry for host:port, a free one, or the one that ends first.
static struct osc_hostport *hp_take(struct osc_hostport *t, int n, const char *host,
                                    uint16_t port, uint64_t now, int *fresh)
{
    struct osc_hostport *a = hp_find(t, n, host, port, now);
    *fresh = !a;
    for (int i = 0; !a && i < n; i++)
        if (t[i].until <= now)
            a = &t[i];
    if (!a) {
        a = &t[0];
        for (int i = 1; i < n; i++)
            if (t[i].until < a->until)
                a = &t[i];
    }
    snprintf(a->host, sizeof a->host, "%s", host);
    a->port = port;
    return a;
}

int osc_authed(struct hub *h, const struct osc_src *src)
{
    uint64_t now = bb_now_ns();
    struct osc_hostport *a = hp_find(h->osc->authed, OSC_MAX_AUTHED, src->host, src->port, now);
    if (!a)
        return 0;
    a->until = now + OSC_AUTH_NS;
    return 1;
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

// Counts src's address once per log window (for "from N sources").
static int log_first(struct hub_osc *o, struct osc_source *s)
{
    if (!s || s->log_win == o->logwin.id)
        return 0;
    s->log_win = o->logwin.id;
    return 1;
}

static void log_note(struct hub_osc *o, const char *host, uint64_t now)
{
    if (!o->logwin.start)
        o->logwin.start = now;
    snprintf(o->logwin.last, sizeof o->logwin.last, "%s", host);
}

int osc_auth(struct hub *h, const struct osc_src *src, const char *password, const char **why)
{
    if (!h->osc_password[0])
        return 0;
    struct hub_osc *o = h->osc;
    struct osc_source *s = src->from;
    uint64_t now = bb_now_ns();
    if (s && s->block_until > now) {
        o->auth_backoff++;
        o->logwin.blocked++;
        log_note(o, src->host, now);
        *why = "too many wrong passwords from this address: wait";
        return -1;
    }
    if (!same_secret(password, h->osc_password)) {
        o->auth_failed++;
        o->logwin.wrong++;
        o->logwin.wrong_src += log_first(o, s);
        log_note(o, src->host, now);
        if (s) {
            if (now - s->fail_ns > OSC_AUTH_NS)
                s->fails = 0; // ten quiet minutes: a fresh start
            s->fail_ns = now;
            if (++s->fails > OSC_AUTH_FREE) {
                unsigned k = s->fails - OSC_AUTH_FREE - 1;
                uint64_t secs = k >= 6 ? OSC_AUTH_BACKOFF_MAX_S : 1ull << k;
                s->block_until = now + secs * 1000000000ull;
            }
        }
        *why = "wrong password";
        return -1;
    }
    if (s)
        s->fails = 0, s->block_until = 0;
    int fresh;
    struct osc_hostport *a = hp_take(o->authed, OSC_MAX_AUTHED, src->host, src->port, now, &fresh);
    if (fresh)
        bb_info("OSC: %s:%u authenticated", src->host, src->port);
    a->until = now + OSC_AUTH_NS;
    return 0;
}

// ---- cookies -------------------------------------------------------------

#define OSC_COOKIE_EPOCH_NS BB_OSC_COOKIE_EPOCH_NS

static int32_t cookie_for(const struct hub_osc *o, const char *host, uint16_t port,
                          uint64_t epoch)
{
    return bb_osc_cookie(o->cookie_key, host, port, epoch);
}

int osc_verified(struct hub *h, const char *host, uint16_t port)
{
    if (strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
        strncmp(host, "::ffff:127.", 11) == 0)
        return 1; // this machine: a loopback source cannot come from outside
    uint64_t now = bb_now_ns();
    struct osc_hostport *v = hp_find(h->osc->verified, OSC_MAX_VERIFIED, host, port, now);
    if (!v)
        return 0;
    v->until = now + OSC_VERIFIED_NS;
    return 1;
}

void osc_send_cookie(struct hub *h, const struct osc_src *src, uint16_t port)
{
    uint64_t epoch = bb_now_ns() / OSC_COOKIE_EPOCH_NS;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    lo_address to = lo_address_new(src->host, ps);
    if (!to)
        return;
    struct osc_peer peer = {.addr = to, .slot = -1};
    lo_message m = lo_message_new();
    lo_message_add_int32(m, cookie_for(h->osc, src->host, port, epoch));
    osc_send(h, &peer, "/cookie", m);
    lo_message_free(m);
    lo_address_free(to);
    h->osc->cookies++;
}

int osc_check_cookie(struct hub *h, const struct osc_src *src, int32_t cookie, uint16_t port)
{
    uint64_t now = bb_now_ns(), epoch = now / OSC_COOKIE_EPOCH_NS;
    if (cookie != cookie_for(h->osc, src->host, port, epoch) &&
        cookie != cookie_for(h->osc, src->host, port, epoch - 1))
        return -1;
    int fresh;
    struct osc_hostport *v =
        hp_take(h->osc->verified, OSC_MAX_VERIFIED, src->host, port, now, &fresh);
    v->until = now + OSC_VERIFIED_NS;
    if (fresh)
        bb_debug("OSC: %s:%u echoed its cookie", src->host, port);
    return 0;
}

// ---- the summary log -----------------------------------------------------

uint64_t osc_server_due_ns(const struct hub_osc *o)
{
    return o->logwin.start ? o->logwin.start + 1000000000ull : UINT64_MAX;
}

void osc_server_tick(struct hub *h, uint64_t now)
{
    struct osc_logwin *w = &h->osc->logwin;
    if (!w->start || now < w->start + 1000000000ull)
        return;
    if (w->wrong || w->blocked) {
        char from[OSC_HOST_MAX + 16];
        if (w->wrong_src <= 1)
            snprintf(from, sizeof from, "%s", w->last);
        else
            snprintf(from, sizeof from, "%u sources", w->wrong_src);
        char more[64] = "";
        if (w->blocked)
            snprintf(more, sizeof more, "; %u more refused unread (back-off)", w->blocked);
        bb_warn("OSC: %u wrong password%s from %s in the last second%s", w->wrong,
                w->wrong == 1 ? "" : "s", w->wrong ? from : w->last, more);
    }
    if (w->refused)
        bb_info("OSC: %u datagram%s from outside the allowed networks refused in the last "
                "second (the last from %s; see --osc-allow)",
                w->refused, w->refused == 1 ? "" : "s", w->last);
    if (w->dropped)
        bb_info("OSC: %u datagram%s dropped in the last second: too long or over an address's "
                "rate (the last from %s)", w->dropped, w->dropped == 1 ? "" : "s", w->last);
    uint64_t id = w->id + 1;
    memset(w, 0, sizeof *w);
    w->id = id;
}

// ---- receiving -----------------------------------------------------------

// The record of host (allowed addresses only), made if new: a free one
// or the least recently heard from.
static struct osc_source *source_of(struct hub_osc *o, const char *host, uint64_t now)
{
    struct osc_source *s = NULL, *old = &o->sources[0];
    for (int i = 0; i < OSC_MAX_SOURCES; i++) {
        struct osc_source *e = &o->sources[i];
        if (e->host[0] && strcmp(e->host, host) == 0) {
            e->last_ns = now;
            return e;
        }
        if (!e->host[0] && !s)
            s = e;
        if (e->last_ns < old->last_ns)
            old = e;
    }
    if (!s)
        s = old;
    memset(s, 0, sizeof *s);
    snprintf(s->host, sizeof s->host, "%s", host);
    s->last_ns = s->win_ns = now;
    return s;
}

static void packet_error(struct hub *h, const struct osc_src *src, const char *path,
                         const char *why)
{
    h->osc->messages++;
    h->osc->relayed += src->relay != NULL;
    osc_reply_error(h, src, path, why);
}

static void on_message(void *user, const char *path, lo_message m, const char *error)
{
    void **ctx = user;
    struct hub *h = ctx[0];
    const struct osc_src *src = ctx[1];
    if (!m) {
        packet_error(h, src, path, error);
        return;
    }
    h->osc->dispatch(h, path, lo_message_get_types(m), lo_message_get_argv(m),
                     lo_message_get_argc(m), src);
}

static void handle_packet(struct hub *h, const struct osc_src *src, const uint8_t *pkt,
                          size_t len)
{
    void *ctx[2] = {h, (void *)src};
    bb_osc_walk(pkt, len, OSC_PACKET_MSGS, on_message, ctx);
}

#define OSC_REFUSALS_S 20 ///< refusals answered a second, at most

void hub_osc_datagram(struct hub *h, const uint8_t *pkt, size_t len, const struct sockaddr *sa,
                      socklen_t sl, uint64_t now)
{
    struct hub_osc *o = h->osc;
    struct osc_src src = {.peer = {.slot = -1}, .req_len = len};
    if (bb_osc_sa_host(sa, sl, src.host, sizeof src.host, &src.port) < 0)
        return;
    src.verified = bb_osc_sa_loopback(sa, sl);
    char ps[8];
    snprintf(ps, sizeof ps, "%u", src.port);
    if (!hub_osc_allowed(h, sa, sl, now)) {
        // Before anything is read, and nothing kept about the address.
        o->refused++;
        o->messages++;
        o->logwin.refused++;
        log_note(o, src.host, now);
        if (now - o->refused_replies_ns >= 1000000000ull)
            o->refused_replies_ns = now, o->refused_replies_win = 0;
        if (o->refused_replies_win++ >= OSC_REFUSALS_S)
            return;
        size_t pl = strnlen((const char *)pkt, len);
        char path[200];
        snprintf(path, sizeof path, "%.*s", pl < len && pl < sizeof path ? (int)pl : 0,
                 (const char *)pkt);
        if ((src.peer.addr = lo_address_new(src.host, ps))) {
            o->limited = src.verified ? NULL : &src.peer;
            o->budget = len;
            osc_reply_error(h, &src, path[0] == '/' ? path : "?", "not allowed from this address");
            o->limited = NULL;
            lo_address_free(src.peer.addr);
        }
        return;
    }
    struct osc_source *s = source_of(o, src.host, now);
    if (now - s->win_ns >= 1000000000ull)
        s->win_ns = now, s->win_bytes = 0;
    if (s->win_bytes + len > OSC_SRC_BYTES_S) {
        s->win_bytes = OSC_SRC_BYTES_S; // over: the rest of this second too, unanswered
        o->dropped++;
        o->logwin.dropped++;
        log_note(o, src.host, now);
        return;
    }
    s->win_bytes += (uint32_t)len;
    src.from = s;
    if (!src.verified)
        src.verified = hp_find(o->verified, OSC_MAX_VERIFIED, src.host, src.port, now) != NULL;
    if (!(src.peer.addr = lo_address_new(src.host, ps)))
        return;
    o->limited = src.verified ? NULL : &src.peer;
    o->budget = len;
    if (len > OSC_DGRAM_MAX) {
        o->dropped++;
        o->logwin.dropped++;
        log_note(o, src.host, now);
        packet_error(h, &src, "?", "datagram too long (16384 bytes at most)");
    } else {
        handle_packet(h, &src, pkt, len);
    }
    o->limited = NULL;
    lo_address_free(src.peer.addr);
}

void hub_osc_relay(struct hub *h, struct hub_client *c, unsigned controller, const uint8_t *pkt,
                   size_t len)
{
    struct osc_src src = {
        .peer = {.slot = c->slot, .session = c->session, .controller = (uint8_t)controller},
        .port = (uint16_t)controller,
        .relay = c,
        .verified = 1,
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
    uint8_t copy[BB_OSC_PACKET_MAX];
    if (len > sizeof copy) {
        packet_error(h, &src, "?", "malformed OSC message");
        return;
    }
    memcpy(copy, pkt, len);
    handle_packet(h, &src, copy, len);
}

// ---- the server ----------------------------------------------------------

int osc_server_start(struct hub *h, osc_dispatch_fn dispatch, char *err, size_t err_size)
{
    if (h->osc_port == 0)
        return 0;
    struct hub_osc *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    o->dispatch = dispatch;
    o->srv = bb_osc_server_open(h->osc_port, h->osc_bind, osc_error_cb, err, err_size);
    if (!o->srv) {
        free(o);
        return -1;
    }
    // A flood from one source is read and dropped by its rate, but until
    // the control loop reads it sits in the socket: room for a second of
    // it, so that other controllers' datagrams are not pushed out before
    // the hub sees them (the system may cap this: net.core.rmem_max).
    int rcv = 1 << 20;
    setsockopt(lo_server_get_socket_fd(o->srv), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    // Nothing is ever dispatched by liblo (hub_osc_poll reads the socket),
    // so it has no methods; the server is what replies are sent from.
    if (sodium_init() < 0) {
        lo_server_free(o->srv);
        free(o);
        snprintf(err, err_size, "libsodium cannot start");
        return -1;
    }
    randombytes_buf(o->cookie_key, sizeof o->cookie_key);
    bb_osc_local_nets(&o->local, bb_now_ns());
    h->osc = o;
    if (!h->osc_nallow) {
        char nets[256] = "";
        for (unsigned i = 1; i < o->local.n && strlen(nets) < sizeof nets - 24; i++) {
            struct in_addr a = {.s_addr = htonl(o->local.net[i])};
            char ip[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &a, ip, sizeof ip);
            snprintf(nets + strlen(nets), sizeof nets - strlen(nets), " %s/%d", ip,
                     __builtin_popcount(o->local.mask[i]));
        }
        bb_info("OSC answers this machine%s%s (--osc-allow to change)",
                nets[0] ? " and its local networks:" : "", nets);
    }
    return 0;
}

void osc_server_stop(struct hub *h)
{
    if (!h->osc)
        return;
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
    int fd = lo_server_get_socket_fd(o->srv);
    // Datagrams and messages per turn are both bounded (a datagram may hold
    // OSC_PACKET_MSGS), so one turn's work is, whoever sends what.
    uint64_t m0 = o->messages;
    while (n < OSC_POLL_MAX && o->messages - m0 < OSC_TURN_MSGS) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        ssize_t len = recvfrom(fd, o->rx, sizeof o->rx, MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
        if (len < 0)
            break; // EAGAIN: all read (or an error to come back to next turn)
        n++;
        hub_osc_datagram(h, o->rx, (size_t)len, (struct sockaddr *)&ss, sl, now);
    }
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

uint64_t osc_server_due(const struct hub_osc *o, uint64_t now)
{
    uint64_t t = osc_server_due_ns(o);
    if (o->hold_until_ns > now && o->hold_until_ns < t)
        t = o->hold_until_ns; // the socket is read again then
    return t;
}
