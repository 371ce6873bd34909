// SPDX-License-Identifier: GPL-2.0-or-later
// osc.c: the hub's OSC control surface on liblo, run by the control thread.
//
// DESIGN. The liblo server is non-blocking and polled from the control
// loop, so every handler runs in the control thread and may change client
// state directly; a change marks the graph dirty and the loop publishes it.
// Everything the hub sends (answers, feedback, notices, meters) goes out
// from this thread through the server's own socket
// (lo_send_message_from), so replies come from the port controllers send
// to. The address space is one table, osc_cmds[] below; `bandbridge serve
// --osc-doc` prints it and bandbridge-osc(7) documents it in full.
//
// Every message passes, in order: the allow-list (--osc-allow), the table
// (unknown address), the password (--osc-password: everything that
// changes something needs a prior /auth from the sender's IP address;
// queries do not), then its handler, which validates every argument before
// anything changes. Anything refused is answered with /error, never
// silence.
//
// Feedback works like the X32's /xremote: a controller registers with
// /subscribe (and /meters/subscribe for levels) for a lease of a few
// seconds and renews it; the lease is keyed by IP address and reply port,
// where the reply port is given explicitly or is the port the message came
// from (many tablet apps do not listen on the port they send from). Every
// change made by anyone is sent to every controller with a live lease, on
// the address that was set, plus the gain/fader counterpart.
//
// Musicians and mixes are named by name or by slot number. A musician's
// slot (1..--max-clients) is the hub's table index plus one: stable while
// connected, and the hub gives a musician who comes back the slot they had
// when it is free (hub.c). Fixed controller layouts use numbers; a lease
// taken with the style "slots" gets its feedback and meters with numbers
// too, so a widget at /mix/2/ch/3/fader moves when someone sets
// /mix/bob/ch/carol/gain.
//
// RELAYED CONTROLLERS. A musician's own tablet talks to their `bandbridge
// join --osc-port`, which relays each message over the session as an OSC
// datagram (wire.h) with a controller number; hub.c hands those to
// hub_osc_relay() once it has checked session and source address. They run
// through the same table, with the musician in the osc_src: the session is
// the authentication (no allow-list, no password), and the musician may
// only touch their own mix (by name, slot or `me`) and read the lists
// (they may not rename anyone, themselves included: a name is the room's,
// it is in the engineer's patchbay and recordings).
// Answers, feedback and meters go back over the session (osc_peer with a
// slot), never to a UDP address. Such a lease is keyed by slot, session and
// controller, is fed only its musician's own mix (named `me`) and the
// join/leave notices, and ends when the musician leaves; every send checks
// that the slot still holds that session, so a lease never reaches a
// freed or different musician.
#include <arpa/inet.h>
#include <errno.h>
#include <lo/lo.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hub.h"
#include "log.h"
#include "meter.h"
#include "osc.h"
#include "osc_arg.h"
#include "fader.h"
#include "osc_bind.h"

#define OSC_MAX_LEASES   16                        ///< controllers registered at once
#define OSC_RELAY_LEASES 128                       ///< relayed controllers registered at once
#define OSC_RELAY_PER_MUSICIAN 8                   ///< ... of one musician
#define OSC_METER_CHUNKS 48                        ///< meter bundles of one relayed tick, at most
#define OSC_BUNDLE_DEPTH 4                         ///< bundles nested in a relayed packet, at most
#define OSC_RELAY_REFUSED "a musician's own controller may only change their own mix"
#define OSC_MAX_AUTHED   64                        ///< addresses remembered after /auth
#define OSC_AUTH_NS      (3600ull * 1000000000ull) ///< an /auth lasts an hour
#define OSC_LEASE_DEF    10                        ///< seconds, as the X32's /xremote
#define OSC_LEASE_MAX    60
#define OSC_METER_NS     (40ull * 1000000ull)      ///< 25 meter bundles a second
#define OSC_HOST_MAX     64

/// Where the hub sends: a UDP address, or one of a musician's own
/// controllers through that musician's session.
struct osc_peer {
    lo_address addr;       ///< UDP: liblo's address (NULL when relayed)
    int        slot;       ///< relayed: the musician's slot; -1 for UDP
    uint32_t   session;    ///< relayed: the session it came through
    uint8_t    controller; ///< relayed: the number their join gave it, 0..15
};

/// A registered controller [ctl].
struct osc_lease {
    int             used;
    char            host[OSC_HOST_MAX]; ///< its IP address, as liblo prints it (relayed: the musician)
    uint16_t        port;               ///< where it listens (relayed: the controller number)
    struct osc_peer to;                 ///< host:port, or the relayed controller
    uint64_t        fb_until;           ///< feedback lease end (0: none)
    uint64_t        meter_until;        ///< meter lease end (0: none)
    int             slots;              ///< style: 1 = musicians by slot number, 0 = by name
};

/// Meter bundles of one relayed tick, each fitting one datagram [ctl].
struct osc_chunks {
    int      built; ///< for this tick
    unsigned n;
    size_t   len[OSC_METER_CHUNKS];
    uint8_t  data[OSC_METER_CHUNKS][BB_OSC_PACKET_MAX];
};

/// An address that sent the right password [ctl].
struct osc_authed {
    char     host[OSC_HOST_MAX];
    uint64_t until;
};

/// A change waiting to be fed back to the room's controllers [ctl].
struct osc_fb {
    char       path[160];      ///< by name
    char       slot_path[160]; ///< by slot number ("" = the same)
    lo_message m;
};
#define OSC_FB_PENDING 256                        ///< distinct addresses waiting, at most
#define OSC_FB_NS      (33ull * 1000000ull)       ///< feedback goes out ~30 times a second
#define OSC_FB_BUNDLE  1200                       ///< bytes: a bundle fits one Ethernet frame

struct hub_osc {
    lo_server            srv;
    struct osc_fb        fb[OSC_FB_PENDING]; ///< changes not yet fed back, one per address
    unsigned             nfb;
    uint64_t             fb_due_ns;          ///< when they go out (0: none waiting)
    /// UDP leases first (OSC_MAX_LEASES), then relayed ones.
    struct osc_lease     leases[OSC_MAX_LEASES + OSC_RELAY_LEASES];
    struct osc_authed    authed[OSC_MAX_AUTHED];
    uint64_t             next_meter_ns;
    struct bb_meter_slot meter; ///< last levels taken from the callback
    uint64_t             messages; ///< messages handled, relayed ones included (for /stats)
    uint64_t             relayed;  ///< messages that came through a musician's session
    uint64_t             errors;   ///< /error answers sent
    uint32_t             relay_seq[BB_MAX_CLIENTS]; ///< seq of our OSC datagrams, per slot
    struct osc_chunks    chunks[2]; ///< relayed meters of this tick, by name and by slot
    // Intake pacing: while messages pour in (a storm), the socket is read
    // every OSC_HOLD_NS rather than at every datagram, so a burst costs one
    // loop turn and one graph instead of one each per message.
    uint64_t             win_start_ns; ///< the current OSC_WIN_NS window began here
    unsigned             win_count;    ///< messages handled in it
    int                  pacing;       ///< the last window had >= OSC_WIN_STORM messages
    uint64_t             hold_until_ns; ///< do not read the socket before this
    uint64_t             turns;        ///< loop turns that read the socket (for /stats)
};
#define OSC_WIN_NS    (100ull * 1000000ull) ///< intake rate window
#define OSC_WIN_STORM 50                    ///< messages per window (500/s) that start pacing
#define OSC_HOLD_NS   (4ull * 1000000ull)   ///< while pacing, the socket is read this often

/// Who sent the message being handled.
struct osc_src {
    struct osc_peer    peer;       ///< answers go there
    char               host[OSC_HOST_MAX]; ///< UDP: its IP address; relayed: the musician
    uint16_t           port;       ///< UDP: its port; relayed: the controller number
    struct hub_client *relay;      ///< relayed: the musician whose controller it is; else NULL
};

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
        if (errno || end == slash + 1 || *end || b > 32)
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

// Sends one OSC packet to a relayed controller as an OSC datagram of its
// musician's session, if that musician still holds the slot with that
// session (a lease may outlive its musician by a tick).
static void relay_packet(struct hub *h, const struct osc_peer *to, const void *pkt, size_t len)
{
    if (to->slot < 0 || to->slot >= BB_MAX_CLIENTS)
        return;
    const struct hub_client *c = h->slots[to->slot];
    if (!c || c->state != HUB_CLIENT_ACTIVE || c->session != to->session)
        return;
    struct bb_header hd = {.type = BB_MSG_OSC, .session = c->session,
                           .seq = h->osc ? h->osc->relay_seq[to->slot]++ : 0};
    uint8_t buf[BB_MAX_DATAGRAM];
    int n = bb_wire_write_osc(buf, sizeof buf, &hd, to->controller, pkt, len);
    if (n > 0)
        hub_net_send(h, &c->addr, buf, (size_t)n);
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
    relay_packet(h, to, buf, len);
}

static void send_to(struct hub *h, const struct osc_peer *to, const char *path, lo_message m)
{
    if (to->slot >= 0)
        relay_message(h, to, path, m);
    else if (to->addr && lo_send_message_from(to->addr, h->osc->srv, path, m) < 0)
        bb_debug("OSC: cannot send %s to %s:%s: %s", path, lo_address_get_hostname(to->addr),
                 lo_address_get_port(to->addr), lo_address_errstr(to->addr));
}

// Answers the sender of the message being handled (and frees m).
static void reply(struct hub *h, const struct osc_src *src, const char *path, lo_message m)
{
    send_to(h, &src->peer, path, m);
    lo_message_free(m);
}

static void reply_error(struct hub *h, const struct osc_src *src, const char *path,
                        const char *why)
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
    reply(h, src, "/error", m);
}

/// Who gets a piece of feedback.
enum fb_scope {
    FB_ROOM, ///< the controllers on the OSC port only (changes of anything)
    FB_ALL,  ///< relayed controllers too (the musician list)
};

// Sends every waiting change to every room controller with a live feedback
// lease, in bundles of at most OSC_FB_BUNDLE bytes (each message in the
// lease's style), and forgets them.
static void feedback_flush(struct hub *h)
{
    struct hub_osc *o = h->osc;
    uint64_t now = bb_now_ns();
    for (int i = 0; i < OSC_MAX_LEASES && o->nfb; i++) {
        struct osc_lease *l = &o->leases[i];
        if (!l->used || l->fb_until <= now || !l->to.addr)
            continue;
        lo_bundle b = NULL;
        for (unsigned k = 0; k < o->nfb; k++) {
            const struct osc_fb *f = &o->fb[k];
            const char *path = l->slots && f->slot_path[0] ? f->slot_path : f->path;
            if (!b && !(b = lo_bundle_new(LO_TT_IMMEDIATE)))
                break;
            lo_bundle_add_message(b, path, lo_message_clone(f->m));
            if (lo_bundle_length(b) > OSC_FB_BUNDLE || k + 1 == o->nfb) {
                if (lo_send_bundle_from(l->to.addr, o->srv, b) < 0)
                    bb_debug("OSC: cannot send feedback to %s:%u: %s", l->host, l->port,
                             lo_address_errstr(l->to.addr));
                lo_bundle_free_recursive(b);
                b = NULL;
            }
        }
        if (b)
            lo_bundle_free_recursive(b);
    }
    for (unsigned k = 0; k < o->nfb; k++)
        lo_message_free(o->fb[k].m);
    o->nfb = 0;
    o->fb_due_ns = 0;
}

// Queues a change for the room's controllers: a later change of the same
// address replaces it, and everything waiting goes out together ~30 times
// a second. A fader swept by a tablet, or a script's 1000 changes a
// second, is then a few bundles per controller and tick, not a datagram
// per change and controller (OSC-NOTES: coalescing). Takes m.
static void feedback_queue(struct hub *h, const char *path, const char *slot_path, lo_message m)
{
    struct hub_osc *o = h->osc;
    for (unsigned k = 0; k < o->nfb; k++)
        if (strcmp(o->fb[k].path, path) == 0) {
            lo_message_free(o->fb[k].m);
            o->fb[k].m = m;
            return;
        }
    if (o->nfb == OSC_FB_PENDING)
        feedback_flush(h);
    struct osc_fb *f = &o->fb[o->nfb++];
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->slot_path, sizeof f->slot_path, "%s", slot_path ? slot_path : "");
    f->m = m;
    if (!o->fb_due_ns)
        o->fb_due_ns = bb_now_ns() + OSC_FB_NS;
}

// Sends m to every controller whose feedback lease is live, on path, or on
// slot_path for those that asked for slot numbers (NULL: the same). Frees m.
static void feedback2(struct hub *h, enum fb_scope scope, const char *path, const char *slot_path,
                      lo_message m)
{
    if (scope == FB_ROOM && strlen(path) < sizeof h->osc->fb[0].path &&
        (!slot_path || strlen(slot_path) < sizeof h->osc->fb[0].slot_path)) {
        feedback_queue(h, path, slot_path, m);
        return;
    }
    uint64_t now = bb_now_ns();
    int n = scope == FB_ALL ? OSC_MAX_LEASES + OSC_RELAY_LEASES : OSC_MAX_LEASES;
    for (int i = 0; i < n; i++) {
        struct osc_lease *l = &h->osc->leases[i];
        if (l->used && l->fb_until > now)
            send_to(h, &l->to, l->slots && slot_path ? slot_path : path, m);
    }
    lo_message_free(m);
}

static void feedback(struct hub *h, enum fb_scope scope, const char *path, lo_message m)
{
    feedback2(h, scope, path, NULL, m);
}

// A slot number as a person or a layout writes it: "3" or "03" (1..999).
static int slot_number(const char *s)
{
    int n = 0, len = 0;
    for (; s[len]; len++) {
        if (s[len] < '0' || s[len] > '9' || len >= 3)
            return 0;
        n = n * 10 + (s[len] - '0');
    }
    return len ? n : 0;
}

// The connected musician named tok, or in slot tok; NULL if none.
static struct hub_client *find_client(struct hub *h, const char *tok)
{
    int n = slot_number(tok);
    if (n >= 1 && n <= BB_MAX_CLIENTS) {
        struct hub_client *c = h->slots[n - 1];
        return c && c->state == HUB_CLIENT_ACTIVE ? c : NULL;
    }
    return hub_find_name(h, tok);
}

// Reads one numeric or boolean argument (T is 1, F is 0); returns 0 or -1.
static int arg_number(char type, const lo_arg *a, float *out)
{
    double d;
    if (type == 'T' || type == 'F')
        d = type == 'T';
    else if (bb_arg_number(type, a, &d) < 0)
        return -1;
    *out = (float)d;
    return 0;
}

// Resolves a source name to source ids; returns how many (0 = unknown).
// For a relayed controller `me` is its musician and me_k their channel k.
static int resolve_sources(struct hub *h, const char *name, int ids[BB_MAX_CLIENT_CH],
                           const struct osc_src *src)
{
    unsigned k;
    char tail;
    if (src->relay && strncmp(name, "me", 2) == 0) {
        const struct hub_client *me = src->relay;
        if (name[2] == '\0') {
            for (unsigned ch = 0; ch < me->channels; ch++)
                ids[ch] = BB_SRC_CLIENT(me->slot, ch);
            return (int)me->channels;
        }
        if (sscanf(name + 2, "_%u%c", &k, &tail) == 1)
            return k >= 1 && k <= me->channels ? (ids[0] = BB_SRC_CLIENT(me->slot, k - 1), 1) : 0;
    }
    if (sscanf(name, "in_%u%c", &k, &tail) == 1 && k >= 1 && k <= h->local_inputs) {
        ids[0] = BB_SRC_LOCAL(k - 1);
        return 1;
    }
    struct hub_client *c = find_client(h, name);
    if (c) {
        for (unsigned ch = 0; ch < c->channels; ch++)
            ids[ch] = BB_SRC_CLIENT(c->slot, ch);
        return (int)c->channels;
    }
    const char *dot = strchr(name, '.'); // n.k: channel k of the musician in slot n
    if (dot && dot - name <= 3 && sscanf(dot + 1, "%u%c", &k, &tail) == 1 && k >= 1) {
        char num[4];
        memcpy(num, name, (size_t)(dot - name));
        num[dot - name] = '\0';
        c = slot_number(num) ? find_client(h, num) : NULL;
        if (c && k <= c->channels) {
            ids[0] = BB_SRC_CLIENT(c->slot, k - 1);
            return 1;
        }
        return 0;
    }
    const char *us = strrchr(name, '_');
    if (us && sscanf(us + 1, "%u%c", &k, &tail) == 1 && k >= 1) {
        char base[BB_NAME_MAX];
        size_t n = (size_t)(us - name);
        if (n < sizeof base) {
            memcpy(base, name, n);
            base[n] = '\0';
            c = hub_find_name(h, base);
            if (c && k <= c->channels) {
                ids[0] = BB_SRC_CLIENT(c->slot, k - 1);
                return 1;
            }
        }
    }
    return 0;
}

// How feedback names the source a change was made to (ids, n from
// resolve_sources): by name (a slot number becomes the musician's name)
// and by number (a whole musician, or its channel 1, is its slot "n";
// another single channel "n.k"; local inputs are in_k in both). me gets
// "me" or "me_k" when the source is the musician in slot me_slot (else
// ""), for that musician's own controllers.
static void source_tokens(struct hub *h, const char *given, const int *ids, int n, char *name,
                          char *slot, char *me, int me_slot, size_t size)
{
    snprintf(name, size, "%s", given);
    snprintf(slot, size, "%s", given);
    me[0] = '\0';
    if (ids[0] >= BB_SRC_LOCAL(0))
        return;
    int sl = ids[0] / BB_MAX_CLIENT_CH, ch = ids[0] % BB_MAX_CLIENT_CH;
    const struct hub_client *c = h->slots[sl];
    if (!c)
        return;
    if (n > 1 || (unsigned)n == c->channels) { // every channel of the musician
        snprintf(name, size, "%s", c->name);
        if (sl == me_slot)
            snprintf(me, size, "me");
    } else {
        snprintf(name, size, "%s_%d", c->name, ch + 1);
        if (sl == me_slot)
            snprintf(me, size, "me_%d", ch + 1);
    }
    if (n > 1 || ch == 0)
        snprintf(slot, size, "%d", sl + 1);
    else
        snprintf(slot, size, "%d.%d", sl + 1, ch + 1);
}

// A change in mc's mix, to mc's own controllers (those with a live
// feedback lease): on /mix/me/ch/<source>/<param>, the source named by the
// lease's style, and once more as me or me_k when it is mc themself (me
// not ""), so both a strip of a fixed layout and a "me" fader move. m is
// not freed.
static void feedback_own_mix(struct hub *h, const struct hub_client *mc, const char *name_src,
                             const char *slot_src, const char *me, const char *param,
                             lo_message m)
{
    uint64_t now = bb_now_ns();
    char path[160];
    for (int i = OSC_MAX_LEASES; i < OSC_MAX_LEASES + OSC_RELAY_LEASES; i++) {
        struct osc_lease *l = &h->osc->leases[i];
        if (!l->used || l->fb_until <= now || l->to.slot != mc->slot ||
            l->to.session != mc->session)
            continue;
        snprintf(path, sizeof path, "/mix/me/ch/%s/%s", l->slots ? slot_src : name_src, param);
        send_to(h, &l->to, path, m);
        if (me[0]) {
            snprintf(path, sizeof path, "/mix/me/ch/%s/%s", me, param);
            send_to(h, &l->to, path, m);
        }
    }
}

enum mix_param { P_GAIN, P_FADER, P_PAN, P_MUTE, P_SOLO, P_SUB, P_COUNT };
static const char *const mix_param_names[P_COUNT] = {"gain", "fader", "pan", "mute", "solo", "sub"};

static lo_message mix_value(enum mix_param which, const struct hub_send *sd)
{
    lo_message m = lo_message_new();
    switch (which) {
    case P_GAIN:
        lo_message_add_float(m, sd->gain_db);
        break;
    case P_FADER:
        lo_message_add_float(m, bb_db_to_fader(sd->gain_db));
        break;
    case P_PAN:
        lo_message_add_float(m, sd->pan);
        break;
    case P_MUTE:
        lo_message_add_int32(m, sd->mute);
        break;
    case P_SOLO:
        lo_message_add_int32(m, sd->solo);
        break;
    default:
        lo_message_add_int32(m, sd->sub);
        break;
    }
    return m;
}

static int handle_mix(struct hub *h, const char *path, const char *types, lo_arg **argv,
                      int argc, const struct osc_src *src)
{
    char mixname[BB_NAME_MAX + 1], srcname[BB_NAME_MAX + 8], param[16], tail;
    if (sscanf(path, "/mix/%32[^/]/ch/%39[^/]/%15[^/]%c", mixname, srcname, param, &tail) != 3) {
        reply_error(h, src, path, "expected /mix/<mix>/ch/<source>/<gain|fader|pan|mute|solo|sub>");
        return 0;
    }
    struct hub_send *sends;
    struct hub_client *mc = NULL; // whose mix (NULL: main)
    if (src->relay) {
        // A musician's own controller: their own mix, however it is named.
        if (strcmp(mixname, "me") == 0)
            mc = src->relay;
        else if (strcmp(mixname, "main") != 0)
            mc = find_client(h, mixname);
        if (mc != src->relay) {
            reply_error(h, src, path, OSC_RELAY_REFUSED);
            return 0;
        }
        sends = mc->sends;
    } else if (strcmp(mixname, "main") == 0) {
        sends = h->main_sends;
    } else {
        mc = find_client(h, mixname);
        if (!mc) {
            reply_error(h, src, path,
                        strcmp(mixname, "me") == 0
                            ? "\"me\" is a musician's own mix only through their bandbridge join"
                            : "no musician of that name is connected");
            return 0;
        }
        sends = mc->sends;
    }
    int ids[BB_MAX_CLIENT_CH];
    int n = resolve_sources(h, srcname, ids, src);
    if (n == 0) {
        reply_error(h, src, path, "no source of that name");
        return 0;
    }
    enum mix_param which = P_COUNT;
    for (int p = 0; p < P_COUNT; p++)
        if (strcmp(param, mix_param_names[p]) == 0)
            which = (enum mix_param)p;
    if (which == P_COUNT) {
        reply_error(h, src, path, "unknown parameter");
        return 0;
    }
    if (argc == 0) {
        // A query: the first channel's value.
        reply(h, src, path, mix_value(which, &sends[ids[0]]));
        return 0;
    }
    float v;
    if (argc != 1 || arg_number(types[0], argv[0], &v) < 0 || isnan(v)) {
        reply_error(h, src, path, "expected one number");
        return 0;
    }
    int ok = 1;
    switch (which) {
    case P_GAIN:
        ok = v <= 12.0f;
        break;
    case P_PAN:
        ok = v >= -1.0f && v <= 1.0f;
        break;
    default:
        ok = v >= 0.0f && v <= 1.0f;
        break;
    }
    if (!ok) {
        reply_error(h, src, path, "value out of range");
        return 0;
    }
    for (int i = 0; i < n; i++) {
        struct hub_send *sd = &sends[ids[i]];
        switch (which) {
        case P_GAIN:
            sd->gain_db = v < -120.0f ? -INFINITY : v;
            break;
        case P_FADER:
            sd->gain_db = bb_fader_to_db(v);
            break;
        case P_PAN:
            sd->pan = v;
            break;
        case P_MUTE:
            sd->mute = v >= 0.5f;
            break;
        case P_SOLO:
            sd->solo = v >= 0.5f;
            break;
        default:
            sd->sub = v >= 0.5f;
            break;
        }
    }
    h->dirty = 1;
    hub_state_mark(h, mc);

    // Feedback: the value as stored, and the other view of a gain, with
    // names or slot numbers; to the mix's musician's own controllers as me.
    char names[2][BB_NAME_MAX + 8], slots[2][BB_NAME_MAX + 8], me[BB_NAME_MAX + 8];
    snprintf(names[0], sizeof names[0], "%s", mc ? mc->name : "main");
    snprintf(slots[0], sizeof slots[0], "%s", "main");
    if (mc)
        snprintf(slots[0], sizeof slots[0], "%d", mc->slot + 1);
    source_tokens(h, srcname, ids, n, names[1], slots[1], me, mc ? mc->slot : -1, sizeof me);
    for (int k = 0; k < 2; k++) {
        enum mix_param p = k == 0 ? which : which == P_GAIN ? P_FADER : P_GAIN;
        if (k == 1 && which != P_GAIN && which != P_FADER)
            break;
        char fp[160], sp[160];
        snprintf(fp, sizeof fp, "/mix/%s/ch/%s/%s", names[0], names[1], mix_param_names[p]);
        snprintf(sp, sizeof sp, "/mix/%s/ch/%s/%s", slots[0], slots[1], mix_param_names[p]);
        lo_message m = mix_value(p, &sends[ids[0]]);
        if (mc)
            feedback_own_mix(h, mc, names[1], slots[1], me, mix_param_names[p], m);
        feedback2(h, FB_ROOM, fp, sp, m);
    }
    return 0;
}

static lo_message send_value(int fader, const struct hub_client *c)
{
    lo_message m = lo_message_new();
    lo_message_add_float(m, fader ? bb_db_to_fader(c->send_db) : c->send_db);
    return m;
}

/// "/ROOT/<musician>/VERB" with VERB one of verbs ("gain|fader"): the
/// connected musician (by name or slot) and the verb in verb[16]; else
/// NULL, with the error answered.
static struct hub_client *path_musician(struct hub *h, const struct osc_src *src,
                                        const char *path, const char *root, const char *verbs,
                                        char verb[16])
{
    char r[16], name[BB_NAME_MAX + 1], tail;
    int ok = sscanf(path, "/%15[^/]/%32[^/]/%15[^/]%c", r, name, verb, &tail) == 3 &&
             strcmp(r, root) == 0;
    for (const char *v = verbs; ok;) { // verb must be one of the '|'-separated verbs
        size_t n = strcspn(v, "|");
        if (strlen(verb) == n && strncmp(v, verb, n) == 0)
            break;
        if (!v[n])
            ok = 0;
        else
            v += n + 1;
    }
    if (!ok) {
        char usage[96];
        int several = strchr(verbs, '|') != NULL;
        snprintf(usage, sizeof usage, "expected /%s/<musician>/%s%s%s", root, several ? "<" : "",
                 verbs, several ? ">" : "");
        reply_error(h, src, path, usage);
        return NULL;
    }
    struct hub_client *c = find_client(h, name);
    if (!c)
        reply_error(h, src, path, "no musician of that name is connected");
    return c;
}

// /send/<name>/gain [dB]: a musician's own send level, applied in every mix.
static int handle_send(struct hub *h, const char *path, const char *types, lo_arg **argv,
                       int argc, const struct osc_src *src)
{
    char param[16];
    struct hub_client *c = path_musician(h, src, path, "send", "gain|fader", param);
    if (!c)
        return 0;
    int fader = strcmp(param, "fader") == 0;
    if (argc == 0) {
        reply(h, src, path, send_value(fader, c));
        return 0;
    }
    float v;
    if (argc != 1 || arg_number(types[0], argv[0], &v) < 0 || isnan(v)) {
        reply_error(h, src, path, "expected one number");
        return 0;
    }
    if (fader ? !(v >= 0.0f && v <= 1.0f) : !(v <= 12.0f)) {
        reply_error(h, src, path, "value out of range");
        return 0;
    }
    c->send_db = fader ? bb_fader_to_db(v) : (v < -120.0f ? -INFINITY : v);
    h->dirty = 1;
    hub_state_mark(h, c);
    char fp[64], sp[64];
    snprintf(fp, sizeof fp, "/send/%s/gain", c->name);
    snprintf(sp, sizeof sp, "/send/%d/gain", c->slot + 1);
    feedback2(h, FB_ROOM, fp, sp, send_value(0, c));
    snprintf(fp, sizeof fp, "/send/%s/fader", c->name);
    snprintf(sp, sizeof sp, "/send/%d/fader", c->slot + 1);
    feedback2(h, FB_ROOM, fp, sp, send_value(1, c));
    return 0;
}

static lo_message clients_msg(struct hub *h)
{
    lo_message m = lo_message_new();
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i] && h->slots[i]->state == HUB_CLIENT_ACTIVE)
            lo_message_add_string(m, h->slots[i]->name);
    return m;
}

// /slot/<n>/name s:name ("" for an empty slot) to one controller.
static void send_slot_name(struct hub *h, const struct osc_peer *to, int slot)
{
    char path[32];
    const struct hub_client *c = h->slots[slot];
    lo_message m = lo_message_new();
    lo_message_add_string(m, c && c->state == HUB_CLIENT_ACTIVE ? c->name : "");
    snprintf(path, sizeof path, "/slot/%d/name", slot + 1);
    send_to(h, to, path, m);
    lo_message_free(m);
}

// ---- leases -------------------------------------------------------------

// The lease of the sender with this reply port (UDP), or of the relayed
// controller that sent it (port ignored), or NULL.
static struct osc_lease *find_lease(struct hub_osc *o, const struct osc_src *src, uint16_t port)
{
    if (src->relay) {
        for (int i = OSC_MAX_LEASES; i < OSC_MAX_LEASES + OSC_RELAY_LEASES; i++) {
            struct osc_lease *l = &o->leases[i];
            if (l->used && l->to.slot == src->peer.slot && l->to.session == src->peer.session &&
                l->to.controller == src->peer.controller)
                return l;
        }
        return NULL;
    }
    for (int i = 0; i < OSC_MAX_LEASES; i++)
        if (o->leases[i].used && o->leases[i].port == port &&
            strcmp(o->leases[i].host, src->host) == 0)
            return &o->leases[i];
    return NULL;
}

// A free lease for src, or NULL with the reason in *why.
static struct osc_lease *new_lease(struct hub_osc *o, const struct osc_src *src,
                                   const char **why)
{
    int first = src->relay ? OSC_MAX_LEASES : 0;
    int end = src->relay ? OSC_MAX_LEASES + OSC_RELAY_LEASES : OSC_MAX_LEASES;
    int mine = 0;
    struct osc_lease *free_l = NULL;
    for (int i = first; i < end; i++) {
        struct osc_lease *l = &o->leases[i];
        if (!l->used && !free_l)
            free_l = l;
        else if (l->used && src->relay && l->to.slot == src->peer.slot)
            mine++;
    }
    if (src->relay && mine >= OSC_RELAY_PER_MUSICIAN) {
        *why = "too many controllers of this musician (8); let one expire or /unsubscribe";
        return NULL;
    }
    if (!free_l)
        *why = src->relay ? "too many relayed controllers on the hub; let one expire or /unsubscribe"
                          : "too many controllers (16); let one expire or /unsubscribe";
    return free_l;
}

// "192.168.1.20:9000", or "alice's controller 3" (for log lines).
static const char *lease_name(const struct osc_lease *l, char *buf, size_t size)
{
    if (l->to.slot >= 0)
        snprintf(buf, size, "%s's controller %u", l->host, l->to.controller);
    else
        snprintf(buf, size, "%s:%u", l->host, l->port);
    return buf;
}

static void lease_drop(struct osc_lease *l)
{
    if (l->to.addr)
        lo_address_free(l->to.addr);
    memset(l, 0, sizeof *l);
    l->to.slot = -1;
}

// Reads the optional arguments [lease_seconds] [reply_port] [style] (lease
// NULL: only [reply_port]); style, a string, may also come alone or after
// the lease. Returns NULL or the reason they are refused.
static const char *lease_args(const char *types, lo_arg **argv, int argc, int *lease,
                              uint16_t *port, int *slots, const struct osc_src *src)
{
    if (lease && argc > 0 && (types[argc - 1] == 's' || types[argc - 1] == 'S')) {
        const char *st = bb_arg_str(argv[argc - 1]);
        if (strcmp(st, "slots") == 0)
            *slots = 1;
        else if (strcmp(st, "names") == 0)
            *slots = 0;
        else
            return "style is \"names\" or \"slots\"";
        argc--;
    }
    int nmax = lease ? 2 : 1;
    if (argc > nmax)
        return lease ? "expected [i:lease_seconds] [i:reply_port] [s:style]" : "expected [i:reply_port]";
    float v[2] = {0, 0};
    for (int i = 0; i < argc; i++)
        if (arg_number(types[i], argv[i], &v[i]) < 0 || !(v[i] == floorf(v[i])))
            return lease ? "expected [i:lease_seconds] [i:reply_port] [s:style]" : "expected [i:reply_port]";
    int pi = lease ? 1 : 0;
    if (lease) {
        *lease = argc >= 1 && v[0] != 0 ? (int)v[0] : OSC_LEASE_DEF;
        if (argc >= 1 && !(v[0] >= 1 && v[0] <= OSC_LEASE_MAX))
            return "lease out of range (1..60 seconds)";
    }
    if (argc > pi && !(v[pi] >= 0 && v[pi] <= 65535))
        return "reply port out of range (0..65535)";
    *port = argc > pi && v[pi] != 0 ? (uint16_t)v[pi] : src->port;
    return NULL;
}

// /subscribe and /meters/subscribe.
static int do_subscribe(struct hub *h, const char *path, const char *types, lo_arg **argv,
                        int argc, const struct osc_src *src, int meters)
{
    int secs, slots = -1;
    uint16_t port;
    const char *why = lease_args(types, argv, argc, &secs, &port, &slots, src);
    if (why) {
        reply_error(h, src, path, why);
        return 0;
    }
    struct hub_osc *o = h->osc;
    struct osc_lease *l = find_lease(o, src, port);
    if (!l) {
        if (!(l = new_lease(o, src, &why))) {
            reply_error(h, src, path, why);
            return 0;
        }
        if (src->relay) {
            // Keyed by the session and the controller: the relay's peer.
            l->to = src->peer;
            snprintf(l->host, sizeof l->host, "%s", src->relay->name);
            l->port = src->peer.controller;
        } else {
            char ps[8];
            snprintf(ps, sizeof ps, "%u", port);
            lo_address to = lo_address_new(src->host, ps);
            if (!to) {
                reply_error(h, src, path, "cannot reply to this address");
                return 0;
            }
            l->to = (struct osc_peer){.addr = to, .slot = -1};
            snprintf(l->host, sizeof l->host, "%s", src->host);
            l->port = port;
        }
        l->used = 1;
    }
    int restyled = slots >= 0 && slots != l->slots;
    if (slots >= 0)
        l->slots = slots;
    uint64_t now = bb_now_ns(), until = now + (uint64_t)secs * 1000000000ull;
    uint64_t *lease = meters ? &l->meter_until : &l->fb_until;
    char ln[OSC_HOST_MAX + 32];
    if (*lease <= now)
        bb_info("OSC controller %s subscribed to %s (lease %d s)", lease_name(l, ln, sizeof ln),
                meters ? "meters" : "feedback", secs);
    int was_live = *lease > now;
    *lease = until;
    lo_message m = lo_message_new();
    lo_message_add_int32(m, secs);
    send_to(h, &l->to, path, m);
    lo_message_free(m);
    if (!meters && (!was_live || restyled)) {
        m = clients_msg(h); // a newcomer learns who is there
        send_to(h, &l->to, "/clients", m);
        lo_message_free(m);
        if (l->slots) // and a fixed layout which slot is whose
            for (int i = 0; i < (int)h->max_clients && i < BB_MAX_CLIENTS; i++)
                send_slot_name(h, &l->to, i);
    }
    return 0;
}

static int do_unsubscribe(struct hub *h, const char *path, const char *types, lo_arg **argv,
                          int argc, const struct osc_src *src, int meters)
{
    uint16_t port;
    const char *why = lease_args(types, argv, argc, NULL, &port, NULL, src);
    if (why) {
        reply_error(h, src, path, why);
        return 0;
    }
    struct osc_lease *l = find_lease(h->osc, src, port);
    if (!l) {
        reply_error(h, src, path, "not subscribed");
        return 0;
    }
    lo_message m = lo_message_new();
    lo_message_add_int32(m, 0);
    send_to(h, &l->to, path, m);
    lo_message_free(m);
    char ln[OSC_HOST_MAX + 32];
    bb_info("OSC controller %s unsubscribed from %s", lease_name(l, ln, sizeof ln),
            meters ? "meters" : "everything");
    l->meter_until = 0;
    if (!meters)
        l->fb_until = 0;
    if (!l->fb_until && !l->meter_until)
        lease_drop(l);
    return 0;
}

// ---- access -------------------------------------------------------------

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

// Compares without stopping at the first difference (no timing hint).
static int same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

// ---- the table ----------------------------------------------------------

typedef int (*osc_fn)(struct hub *h, const char *path, const char *types, lo_arg **argv,
                      int argc, const struct osc_src *src);

/// What a message needs when the hub has a password.
enum osc_access {
    ACC_OPEN,  ///< nothing (it changes nothing, or it is /auth)
    ACC_QUERY, ///< nothing without arguments (a query), /auth first with
    ACC_AUTH,  ///< /auth first
};

static int cmd_auth(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                    const struct osc_src *src)
{
    if (argc != 1 || (types[0] != 's' && types[0] != 'S')) {
        reply_error(h, src, path, "expected s:password");
        return 0;
    }
    if (!h->osc_password[0]) {
        lo_message m = lo_message_new();
        lo_message_add_int32(m, 1);
        reply(h, src, path, m);
        return 0;
    }
    if (!same_secret(bb_arg_str(argv[0]), h->osc_password)) {
        bb_warn("OSC: wrong password from %s:%u", src->host, src->port);
        reply_error(h, src, path, "wrong password");
        return 0;
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
    lo_message m = lo_message_new();
    lo_message_add_int32(m, 1);
    reply(h, src, path, m);
    return 0;
}

static int cmd_subscribe(struct hub *h, const char *path, const char *types, lo_arg **argv,
                         int argc, const struct osc_src *src)
{
    return do_subscribe(h, path, types, argv, argc, src, 0);
}

static int cmd_unsubscribe(struct hub *h, const char *path, const char *types, lo_arg **argv,
                           int argc, const struct osc_src *src)
{
    return do_unsubscribe(h, path, types, argv, argc, src, 0);
}

static int cmd_meters_subscribe(struct hub *h, const char *path, const char *types,
                                lo_arg **argv, int argc, const struct osc_src *src)
{
    return do_subscribe(h, path, types, argv, argc, src, 1);
}

static int cmd_meters_unsubscribe(struct hub *h, const char *path, const char *types,
                                  lo_arg **argv, int argc, const struct osc_src *src)
{
    return do_unsubscribe(h, path, types, argv, argc, src, 1);
}

static int cmd_mix(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                   const struct osc_src *src)
{
    return handle_mix(h, path, types, argv, argc, src);
}

static int cmd_send(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                    const struct osc_src *src)
{
    return handle_send(h, path, types, argv, argc, src);
}

static int cmd_clients(struct hub *h, const char *path, const char *types, lo_arg **argv,
                       int argc, const struct osc_src *src)
{
    reply(h, src, "/clients", clients_msg(h));
    return 0;
}

static int cmd_info(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                    const struct osc_src *src)
{
    lo_message m = lo_message_new();
    lo_message_add_int32(m, (int32_t)h->rate);
    lo_message_add_int32(m, (int32_t)h->period);
    lo_message_add_string(m, BB_VERSION);
    char codecs[96] = "";
    for (int c = 1; c < BB_CODEC_COUNT; c++)
        snprintf(codecs + strlen(codecs), sizeof codecs - strlen(codecs), "%s%s",
                 codecs[0] ? "," : "", bb_codec_name((enum bb_codec)c));
    lo_message_add_string(m, codecs);
    lo_message_add_int32(m, (int32_t)h->max_clients);
    lo_message_add_int32(m, (int32_t)h->local_inputs);
    reply(h, src, "/info", m);
    return 0;
}

static int cmd_slots(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                     const struct osc_src *src)
{
    lo_message m = lo_message_new();
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i] && h->slots[i]->state == HUB_CLIENT_ACTIVE) {
            lo_message_add_int32(m, i + 1);
            lo_message_add_string(m, h->slots[i]->name);
        }
    reply(h, src, "/slots", m);
    return 0;
}

// A rename, by /slot/<n>/name or /client/<name>/rename: one string, the
// new name. The room's controllers only (dispatch checked the password);
// hub_rename() checks the name and does it, or says why not.
static int do_rename(struct hub *h, const char *path, const char *types, lo_arg **argv,
                     int argc, const struct osc_src *src, struct hub_client *c)
{
    if (src->relay) {
        reply_error(h, src, path, OSC_RELAY_REFUSED);
        return 0;
    }
    if (argc != 1 || (types[0] != 's' && types[0] != 'S')) {
        reply_error(h, src, path, "expected s:name");
        return 0;
    }
    const char *why = NULL;
    if (hub_rename(h, c, bb_arg_str(argv[0]), &why) < 0)
        reply_error(h, src, path, why);
    return 0;
}

static int cmd_slot(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                    const struct osc_src *src)
{
    char num[8], tail;
    int n;
    if (sscanf(path, "/slot/%7[^/]/name%c", num, &tail) != 1 || !(n = slot_number(num)) ||
        n > (int)h->max_clients) {
        reply_error(h, src, path, "expected /slot/<1..max clients>/name");
        return 0;
    }
    if (argc == 0) {
        send_slot_name(h, &src->peer, n - 1);
        return 0;
    }
    struct hub_client *c = h->slots[n - 1];
    if (src->relay) {
        reply_error(h, src, path, OSC_RELAY_REFUSED);
        return 0;
    }
    if (!c || c->state != HUB_CLIENT_ACTIVE) {
        reply_error(h, src, path, "no musician in that slot");
        return 0;
    }
    return do_rename(h, path, types, argv, argc, src, c);
}

// /client/<musician>/rename s:name (a musician by name or slot number).
static int cmd_client(struct hub *h, const char *path, const char *types, lo_arg **argv,
                      int argc, const struct osc_src *src)
{
    char verb[16];
    struct hub_client *c = path_musician(h, src, path, "client", "rename", verb);
    if (!c)
        return 0;
    return do_rename(h, path, types, argv, argc, src, c);
}

static int cmd_channels(struct hub *h, const char *path, const char *types, lo_arg **argv,
                        int argc, const struct osc_src *src)
{
    lo_message m = lo_message_new();
    char name[BB_NAME_MAX + 8];
    for (unsigned k = 0; k < h->local_inputs; k++)
        lo_message_add_string(m, hub_state_source_name(h, BB_SRC_LOCAL(k), name, sizeof name));
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        const struct hub_client *c = h->slots[i];
        if (!c || c->state != HUB_CLIENT_ACTIVE)
            continue;
        for (unsigned ch = 0; ch < c->channels; ch++)
            lo_message_add_string(m, hub_state_source_name(h, BB_SRC_CLIENT(i, ch), name, sizeof name));
    }
    reply(h, src, "/channels", m);
    return 0;
}

static void add_stat(lo_message m, const char *key, uint64_t v)
{
    lo_message_add_string(m, key);
    lo_message_add_int64(m, (int64_t)v);
}

static int cmd_stats(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                     const struct osc_src *src)
{
    struct bb_store_stats st = {0};
    if (h->store)
        bb_store_get_stats(h->store, &st);
    unsigned n = 0;
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        n += h->slots[i] && h->slots[i]->state == HUB_CLIENT_ACTIVE;
    lo_message m = lo_message_new();
    add_stat(m, "clients", n);
    add_stat(m, "cycles", atomic_load(&h->stats.cycles));
    add_stat(m, "xruns", atomic_load(&h->stats.xruns));
    add_stat(m, "late_cycles", atomic_load(&h->stats.late_cycles));
    add_stat(m, "skipped_cycles", atomic_load(&h->stats.skipped_cycles));
    add_stat(m, "rendered_cycles", atomic_load(&h->stats.rendered_cycles));
    add_stat(m, "rt_worst_us", atomic_load(&h->stats.rt_ns_max) / 1000);
    add_stat(m, "bad_packets", atomic_load(&h->stats.bad_packets));
    add_stat(m, "unknown_session", atomic_load(&h->stats.unknown_session));
    add_stat(m, "wrong_source", atomic_load(&h->stats.wrong_source));
    add_stat(m, "send_errors", atomic_load(&h->stats.send_errors));
    add_stat(m, "mono_packets", atomic_load(&h->stats.mono_packets));
    add_stat(m, "osc_messages", h->osc->messages);
    add_stat(m, "osc_errors", h->osc->errors);
    add_stat(m, "osc_relayed", h->osc->relayed);
    add_stat(m, "osc_relay_dropped", atomic_load(&h->stats.osc_relay_dropped));
    add_stat(m, "osc_turns", h->osc->turns);
    add_stat(m, "db_transactions", st.transactions);
    add_stat(m, "db_rows_written", st.rows_written);
    add_stat(m, "db_errors", st.errors);
    reply(h, src, "/stats", m);
    return 0;
}

// The loudest of a musician's channels, from the last meter snapshot.
static void client_level(const struct hub_osc *o, const struct hub_client *c, float *peak,
                         float *sq)
{
    *peak = 0.0f;
    *sq = 0.0f;
    for (unsigned ch = 0; ch < c->channels; ch++) {
        int id = BB_SRC_CLIENT(c->slot, ch);
        *peak = fmaxf(*peak, o->meter.src_peak[id]);
        *sq = fmaxf(*sq, o->meter.src_sq[id]);
    }
}

static int cmd_status(struct hub *h, const char *path, const char *types, lo_arg **argv,
                      int argc, const struct osc_src *src)
{
    int count = 0;
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        const struct hub_client *c = h->slots[i];
        if (!c || c->state != HUB_CLIENT_ACTIVE)
            continue;
        const struct bb_jbuf_stats *st = &c->jb.stats;
        uint64_t rx = atomic_load(&st->received), lost = atomic_load(&st->lost);
        float peak, sq;
        client_level(h->osc, c, &peak, &sq);
        char as[64];
        lo_message m = lo_message_new();
        lo_message_add_int32(m, i + 1);
        lo_message_add_string(m, c->name);
        lo_message_add_string(m, bb_addr_str(&c->addr, as, sizeof as));
        char cs[40];
        snprintf(cs, sizeof cs, "%s%s%s", bb_codec_name(c->codec), c->down_codec != c->codec ? "/" : "",
                 c->down_codec != c->codec ? bb_codec_name(c->down_codec) : "");
        lo_message_add_string(m, cs);
        lo_message_add_int32(m, (int32_t)c->channels);
        lo_message_add_float(m, (float)atomic_load(&c->rtt_us) / 1000.0f);
        lo_message_add_int32(m, (int32_t)atomic_load(&st->fill));
        lo_message_add_int32(m, (int32_t)atomic_load(&st->target));
        lo_message_add_float(m, rx + lost ? 100.0f * (float)lost / (float)(rx + lost) : 0.0f);
        lo_message_add_float(m, bb_meter_peak_db(peak));
        lo_message_add_int64(m, (int64_t)atomic_load(&st->underruns));
        lo_message_add_int32(m, atomic_load(&st->drift_ppm));
        lo_message_add_int32(m, (int32_t)atomic_load(&st->resampling));
        send_to(h, &src->peer, "/status/client", m);
        lo_message_free(m);
        count++;
    }
    lo_message m = lo_message_new();
    lo_message_add_int32(m, count);
    reply(h, src, "/status/end", m);
    return 0;
}

/// The address space. A path ending in '/' is a prefix.
static const struct osc_cmd {
    const char     *path;
    enum osc_access access;
    int             relay; ///< a musician's own controller may send it (/mix/: own mix only)
    osc_fn          fn;
    const char     *args;
    const char     *doc;
} osc_cmds[] = {
    {"/mix/", ACC_QUERY, 1, cmd_mix, "[value]",
     "/mix/<mix>/ch/<source>/<gain|fader|pan|mute|solo|sub>: set, or query without a value"},
    {"/send/", ACC_QUERY, 0, cmd_send, "[value]",
     "/send/<musician>/<gain|fader>: a musician's send level in every mix"},
    {"/clients", ACC_OPEN, 1, cmd_clients, "", "-> /clients s:name...: connected musicians"},
    {"/info", ACC_OPEN, 1, cmd_info, "",
     "-> /info i:rate i:period s:version s:codecs i:max_clients i:local_inputs"},
    {"/slots", ACC_OPEN, 1, cmd_slots, "", "-> /slots (i:slot s:name)...: connected musicians by slot"},
    {"/slot/", ACC_QUERY, 1, cmd_slot, "[s:name]",
     "/slot/<n>/name -> /slot/<n>/name s:name (\"\" when free); with s:name, renames that "
     "musician (not relayed)"},
    {"/client/", ACC_AUTH, 0, cmd_client, "s:name",
     "/client/<musician>/rename s:name: renames a connected musician (ports, mixes and stored "
     "settings follow)"},
    {"/channels", ACC_OPEN, 1, cmd_channels, "", "-> /channels s:source...: every source of the mixes"},
    {"/status", ACC_OPEN, 0, cmd_status, "",
     "-> /status/client i:slot s:name s:address s:codec i:channels f:rtt_ms i:jbuf_fill "
     "i:jbuf_target f:loss_pct f:peak_db h:underruns i:drift_ppm i:resampling per musician, "
     "then /status/end i:count"},
    {"/stats", ACC_OPEN, 0, cmd_stats, "", "-> /stats (s:key h:value)...: hub counters"},
    {"/auth", ACC_OPEN, 0, cmd_auth, "s:password", "-> /auth i:1; remembered for this IP for 1 h"},
    {"/subscribe", ACC_AUTH, 1, cmd_subscribe, "[i:lease_s=10 (1..60)] [i:reply_port] [s:names|slots]",
     "-> /subscribe i:lease_s; every change, /clients, /joined, /left, /renamed, "
     "/slot/<n>/name until the lease ends"},
    {"/unsubscribe", ACC_AUTH, 1, cmd_unsubscribe, "[i:reply_port]",
     "-> /unsubscribe i:0; ends both leases"},
    {"/meters/subscribe", ACC_AUTH, 1, cmd_meters_subscribe,
     "[i:lease_s=10 (1..60)] [i:reply_port] [s:names|slots]",
     "-> /meters/subscribe i:lease_s; a meter bundle 25 times a second until the lease ends"},
    {"/meters/unsubscribe", ACC_AUTH, 1, cmd_meters_unsubscribe, "[i:reply_port]",
     "-> /meters/unsubscribe i:0"},
};

void hub_osc_doc(FILE *f)
{
    for (size_t i = 0; i < BB_ARRAY_LEN(osc_cmds); i++) {
        const struct osc_cmd *c = &osc_cmds[i];
        fprintf(f, "%-20s %-40s %s%s%s\n", c->path, c->args,
                c->access == ACC_AUTH ? "[password] " : c->access == ACC_QUERY ? "[password to set] " : "",
                c->relay ? "[relayed] " : "", c->doc);
    }
    fprintf(f, "%-20s %-40s %s\n", "(relayed)", "",
            "from a musician's own controller (bandbridge join --osc-port): [relayed] addresses "
            "only, /mix/ of their own mix only (me, their name or slot)");
    fprintf(f, "%-20s %-40s %s\n", "(sent)", "", "/error s:address s:reason for anything refused");
    fprintf(f, "%-20s %-40s %s\n", "(sent)", "",
            "/meter/ch/<source> f:peak_db f:rms_db, /meter/mix/<mix> f:peak_L f:peak_R f:rms_L f:rms_R");
}

// The table entry for path, or NULL.
static const struct osc_cmd *find_cmd(const char *path)
{
    for (size_t i = 0; i < BB_ARRAY_LEN(osc_cmds); i++) {
        const char *p = osc_cmds[i].path;
        size_t n = strlen(p);
        if (p[n - 1] == '/' ? strncmp(path, p, n) == 0 : strcmp(path, p) == 0)
            return &osc_cmds[i];
    }
    return NULL;
}

// Everything after the sender is known: the table, then the password (OSC
// port) or the relay's limits (a musician's own controller), then the
// handler.
static int dispatch(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                    const struct osc_src *src)
{
    h->osc->messages++;
    h->osc->relayed += src->relay != NULL;
    const struct osc_cmd *cmd = find_cmd(path);
    if (!cmd) {
        reply_error(h, src, path, "unknown address");
        return 0;
    }
    if (src->relay) {
        // The session is the authentication; handle_mix checks whose mix.
        if (!cmd->relay) {
            reply_error(h, src, path, OSC_RELAY_REFUSED);
            return 0;
        }
    } else {
        int need = cmd->access == ACC_AUTH || (cmd->access == ACC_QUERY && argc > 0);
        if (need && h->osc_password[0] && !find_authed(h->osc, src->host, bb_now_ns())) {
            reply_error(h, src, path, "password required");
            return 0;
        }
    }
    return cmd->fn(h, path, types, argv, argc, src);
}

// A message on the OSC port.
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
        reply_error(h, &src, path, "not allowed from this address");
        return 0;
    }
    return dispatch(h, path, types, argv, argc, &src);
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
            reply_error(h, src, "#bundle", "bundles nested too deep");
            return;
        }
        for (size_t pos = 16; pos < len;) {
            uint32_t n = len - pos >= 4 ? be32(pkt + pos) : 0;
            if (n == 0 || n % 4 || n > len - pos - 4) {
                reply_error(h, src, "#bundle", "malformed OSC bundle");
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
        reply_error(h, src, "?", "malformed OSC message");
        return;
    }
    // A valid message starts with its NUL-terminated address.
    dispatch(h, (const char *)copy, lo_message_get_types(m), lo_message_get_argv(m),
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

// ---- server -------------------------------------------------------------

int hub_osc_start(struct hub *h, char *err, size_t err_size)
{
    if (h->osc_port == 0)
        return 0;
    h->osc = calloc(1, sizeof *h->osc);
    if (!h->osc) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    h->osc->srv = bb_osc_server_open(h->osc_port, h->osc_bind, osc_error_cb, err, err_size);
    if (!h->osc->srv) {
        free(h->osc);
        h->osc = NULL;
        return -1;
    }
    lo_server_add_method(h->osc->srv, NULL, NULL, generic_handler, h);
    for (size_t i = 0; i < BB_ARRAY_LEN(h->osc->leases); i++)
        h->osc->leases[i].to.slot = -1;
    h->osc->next_meter_ns = bb_now_ns() + OSC_METER_NS;
    return 0;
}

void hub_osc_stop(struct hub *h)
{
    if (!h->osc)
        return;
    for (unsigned k = 0; k < h->osc->nfb; k++)
        lo_message_free(h->osc->fb[k].m);
    for (size_t i = 0; i < BB_ARRAY_LEN(h->osc->leases); i++)
        lease_drop(&h->osc->leases[i]);
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
    while (n < 256 && lo_server_recv_noblock(o->srv, 0) > 0)
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
    uint64_t t = h->osc->next_meter_ns;
    if (h->osc->fb_due_ns && h->osc->fb_due_ns < t)
        t = h->osc->fb_due_ns;
    if (h->osc->hold_until_ns > now && h->osc->hold_until_ns < t)
        t = h->osc->hold_until_ns; // the socket is read again then
    return t <= now ? 0 : (int)((t - now + 999999) / 1000000);
}

/// Collects meter messages: into one bundle (out NULL: the OSC port, no
/// size limit), or into bundles that each fit one relayed datagram,
/// serialised into out.
struct meter_pack {
    lo_bundle          b;
    size_t             size; ///< serialised size of b
    struct osc_chunks *out;
};

static void pack_flush(struct meter_pack *p)
{
    if (!p->out || !p->b)
        return;
    if (p->out->n < OSC_METER_CHUNKS && lo_bundle_count(p->b) > 0) {
        size_t len = 0;
        lo_bundle_serialise(p->b, p->out->data[p->out->n], &len); // p->size <= its size
        p->out->len[p->out->n++] = len;
    }
    lo_bundle_free_recursive(p->b);
    p->b = NULL;
}

// Adds m (which the pack then owns) on path.
static void pack_add(struct meter_pack *p, const char *path, lo_message m)
{
    size_t add = 4 + lo_message_length(m, path);
    if (p->out && p->b && p->size + add > BB_OSC_PACKET_MAX)
        pack_flush(p);
    if (!p->b) {
        p->b = lo_bundle_new(LO_TT_IMMEDIATE);
        p->size = 16; // "#bundle" and the time tag
    }
    if (!p->b || (p->out && p->size + add > BB_OSC_PACKET_MAX)) {
        lo_message_free(m);
        return;
    }
    lo_bundle_add_message(p->b, path, m);
    p->size += add;
}

static void add_level(struct meter_pack *p, const char *path, float peak, float sq,
                      unsigned frames)
{
    lo_message m = lo_message_new();
    lo_message_add_float(m, bb_meter_peak_db(peak));
    lo_message_add_float(m, bb_meter_rms_db(sq, frames));
    pack_add(p, path, m);
}

static lo_message mix_level(const struct bb_meter_slot *ms, unsigned id)
{
    lo_message m = lo_message_new();
    lo_message_add_float(m, bb_meter_peak_db(ms->mix_peak[id][0]));
    lo_message_add_float(m, bb_meter_peak_db(ms->mix_peak[id][1]));
    lo_message_add_float(m, bb_meter_rms_db(ms->mix_sq[id][0], ms->frames));
    lo_message_add_float(m, bb_meter_rms_db(ms->mix_sq[id][1], ms->frames));
    return m;
}

// Every source the graph has now, by name (slots = 0) or by slot number:
// then a musician is one meter, the loudest of its channels.
static void meter_sources(struct hub *h, const struct hub_graph *g, int slots,
                          struct meter_pack *p)
{
    const struct bb_meter_slot *ms = &h->osc->meter;
    char name[BB_NAME_MAX + 8], path[BB_NAME_MAX + 24];
    for (unsigned s = 0; s < g->mix->nsrc; s++) {
        unsigned id = g->mix->src_id[s];
        if (!hub_state_source_name(h, (int)id, name, sizeof name)[0])
            continue;
        if (slots && id < (unsigned)BB_SRC_LOCAL(0)) {
            const struct hub_client *c = h->slots[id / BB_MAX_CLIENT_CH];
            if (id % BB_MAX_CLIENT_CH != 0 || !c)
                continue;
            float peak, sq;
            client_level(h->osc, c, &peak, &sq);
            snprintf(path, sizeof path, "/meter/ch/%d", c->slot + 1);
            add_level(p, path, peak, sq, ms->frames);
            continue;
        }
        snprintf(path, sizeof path, "/meter/ch/%s", name);
        add_level(p, path, ms->src_peak[id], ms->src_sq[id], ms->frames);
    }
}

// One bundle with every source and mix, for a controller on the OSC port.
static lo_bundle meter_bundle(struct hub *h, const struct hub_graph *g, int slots)
{
    const struct bb_meter_slot *ms = &h->osc->meter;
    struct meter_pack p = {NULL, 0, NULL};
    meter_sources(h, g, slots, &p);
    char path[BB_NAME_MAX + 24];
    for (unsigned k = 0; k < g->mix->nmix; k++) {
        unsigned id = g->mix->mix_id[k];
        const struct hub_client *c = g->mix_client[k];
        if (!c)
            snprintf(path, sizeof path, "/meter/mix/main");
        else if (slots)
            snprintf(path, sizeof path, "/meter/mix/%d", c->slot + 1);
        else
            snprintf(path, sizeof path, "/meter/mix/%s", c->name);
        pack_add(&p, path, mix_level(ms, id));
    }
    return p.b;
}

// A relayed meter lease: the sources (chunks shared by every relayed
// lease of that style), then one bundle of its own: /meter/mix/me, the
// musician's personal mix, and /meter/ch/me, their loudest channel.
static void send_relayed_meters(struct hub *h, const struct hub_graph *g, struct osc_lease *l)
{
    struct hub_osc *o = h->osc;
    const struct hub_client *c = h->slots[l->to.slot];
    if (!c || c->session != l->to.session || g->by_slot[c->slot] != c)
        return;
    struct osc_chunks *ch = &o->chunks[l->slots ? 1 : 0];
    if (!ch->built) { // the first relayed lease of this style in this tick
        struct meter_pack p = {NULL, 0, ch};
        meter_sources(h, g, l->slots, &p);
        pack_flush(&p);
        ch->built = 1;
    }
    for (unsigned i = 0; i < ch->n; i++)
        relay_packet(h, &l->to, ch->data[i], ch->len[i]);
    struct meter_pack p = {NULL, 0, NULL}; // two short messages: one datagram
    pack_add(&p, "/meter/mix/me", mix_level(&o->meter, (unsigned)c->slot));
    float peak, sq;
    client_level(o, c, &peak, &sq);
    add_level(&p, "/meter/ch/me", peak, sq, o->meter.frames);
    if (p.b && p.size <= BB_OSC_PACKET_MAX) {
        uint8_t buf[BB_OSC_PACKET_MAX];
        size_t len = 0;
        lo_bundle_serialise(p.b, buf, &len);
        relay_packet(h, &l->to, buf, len);
    }
    if (p.b)
        lo_bundle_free_recursive(p.b);
}

static void send_meters(struct hub *h, uint64_t now)
{
    struct hub_osc *o = h->osc;
    const struct hub_graph *g = bb_snap_peek(&h->graph);
    if (!g)
        return;
    lo_bundle b[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++)
        o->chunks[k].built = 0, o->chunks[k].n = 0;
    char ln[OSC_HOST_MAX + 32];
    for (size_t i = 0; i < BB_ARRAY_LEN(o->leases); i++) {
        struct osc_lease *l = &o->leases[i];
        if (!l->used || l->meter_until <= now)
            continue;
        if (l->to.slot >= 0) {
            send_relayed_meters(h, g, l);
            continue;
        }
        int st = l->slots ? 1 : 0;
        if (!b[st])
            b[st] = meter_bundle(h, g, st);
        if (b[st] && lo_send_bundle_from(l->to.addr, o->srv, b[st]) < 0)
            bb_debug("OSC: cannot send meters to %s: %s", lease_name(l, ln, sizeof ln),
                     lo_address_errstr(l->to.addr));
    }
    for (int k = 0; k < 2; k++)
        if (b[k])
            lo_bundle_free_recursive(b[k]);
}

void hub_osc_tick(struct hub *h, uint64_t now)
{
    struct hub_osc *o = h->osc;
    if (o && o->fb_due_ns && now >= o->fb_due_ns)
        feedback_flush(h);
    if (!o || now < o->next_meter_ns)
        return;
    o->next_meter_ns += OSC_METER_NS; // a steady rate, not "40 ms after we got round to it"
    if (o->next_meter_ns <= now)
        o->next_meter_ns = now + OSC_METER_NS;
    int meters = 0;
    char ln[OSC_HOST_MAX + 32];
    for (size_t i = 0; i < BB_ARRAY_LEN(o->leases); i++) {
        struct osc_lease *l = &o->leases[i];
        if (!l->used)
            continue;
        if (l->to.slot >= 0) {
            // A relayed lease ends with its musician's session.
            const struct hub_client *c = h->slots[l->to.slot];
            if (!c || c->session != l->to.session || c->state != HUB_CLIENT_ACTIVE) {
                bb_info("OSC controller %s: leases end (the musician left)",
                        lease_name(l, ln, sizeof ln));
                lease_drop(l);
                continue;
            }
        }
        if (l->fb_until && l->fb_until <= now) {
            bb_info("OSC controller %s: feedback lease expired", lease_name(l, ln, sizeof ln));
            l->fb_until = 0;
        }
        if (l->meter_until && l->meter_until <= now) {
            bb_info("OSC controller %s: meter lease expired", lease_name(l, ln, sizeof ln));
            l->meter_until = 0;
        }
        if (!l->fb_until && !l->meter_until)
            lease_drop(l);
        else
            meters |= l->meter_until != 0;
    }
    // Taken every tick, listened to or not, so a new subscriber's first
    // levels are as fresh as the others'.
    if (bb_meters_take(&h->meters, &o->meter) && meters)
        send_meters(h, now);
}

// The musician list changed at slot: /clients to every controller, and the
// slot's name to those that follow slots.
static void announce_slot(struct hub *h, int slot)
{
    feedback(h, FB_ALL, "/clients", clients_msg(h));
    uint64_t now = bb_now_ns();
    for (size_t i = 0; i < BB_ARRAY_LEN(h->osc->leases); i++) {
        struct osc_lease *l = &h->osc->leases[i];
        if (l->used && l->fb_until > now && l->slots)
            send_slot_name(h, &l->to, slot);
    }
}

void hub_osc_notify_renamed(struct hub *h, int slot, const char *old, const char *name)
{
    if (!h->osc)
        return;
    // Changes made under the old name go out first, under it.
    if (h->osc->nfb)
        feedback_flush(h);
    for (size_t i = OSC_MAX_LEASES; i < BB_ARRAY_LEN(h->osc->leases); i++) {
        struct osc_lease *l = &h->osc->leases[i];
        if (l->used && l->to.slot == slot) // their own controllers, as logged
            snprintf(l->host, sizeof l->host, "%s", name);
    }
    lo_message m = lo_message_new();
    lo_message_add_string(m, old);
    lo_message_add_string(m, name);
    feedback(h, FB_ALL, "/renamed", m);
    announce_slot(h, slot);
}

void hub_osc_notify_clients(struct hub *h, int slot, const char *name, int joined)
{
    if (!h->osc)
        return;
    char ln[OSC_HOST_MAX + 32];
    for (size_t i = OSC_MAX_LEASES; !joined && i < BB_ARRAY_LEN(h->osc->leases); i++) {
        struct osc_lease *l = &h->osc->leases[i];
        if (l->used && l->to.slot == slot) { // the one leaving: their own controllers
            bb_info("OSC controller %s: leases end (the musician left)",
                    lease_name(l, ln, sizeof ln));
            lease_drop(l);
        }
    }
    announce_slot(h, slot);
    lo_message m = lo_message_new();
    lo_message_add_string(m, name);
    feedback(h, FB_ALL, joined ? "/joined" : "/left", m);
}
