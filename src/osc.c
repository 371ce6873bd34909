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

#define OSC_MAX_LEASES   16                        ///< controllers registered at once
#define OSC_MAX_AUTHED   64                        ///< addresses remembered after /auth
#define OSC_AUTH_NS      (3600ull * 1000000000ull) ///< an /auth lasts an hour
#define OSC_LEASE_DEF    10                        ///< seconds, as the X32's /xremote
#define OSC_LEASE_MAX    60
#define OSC_METER_NS     (40ull * 1000000ull)      ///< 25 meter bundles a second
#define OSC_HOST_MAX     64

/// A registered controller [ctl].
struct osc_lease {
    int        used;
    char       host[OSC_HOST_MAX]; ///< its IP address, as liblo prints it
    uint16_t   port;               ///< where it listens
    lo_address to;                 ///< host:port
    uint64_t   fb_until;           ///< feedback lease end (0: none)
    uint64_t   meter_until;        ///< meter lease end (0: none)
};

/// An address that sent the right password [ctl].
struct osc_authed {
    char     host[OSC_HOST_MAX];
    uint64_t until;
};

struct hub_osc {
    lo_server            srv;
    struct osc_lease     leases[OSC_MAX_LEASES];
    struct osc_authed    authed[OSC_MAX_AUTHED];
    uint64_t             next_meter_ns;
    struct bb_meter_slot meter; ///< last levels taken from the callback
};

/// Who sent the message being handled.
struct osc_src {
    lo_address addr;               ///< liblo's, answers go there
    char       host[OSC_HOST_MAX];
    uint16_t   port;
};

float bb_fader_to_db(float p)
{
    if (!(p > 0.0f))
        return -INFINITY;
    if (p > 1.0f)
        p = 1.0f;
    if (p >= 0.5f)
        return 40.0f * p - 30.0f;
    if (p >= 0.25f)
        return 80.0f * p - 50.0f;
    if (p >= 0.0625f)
        return 160.0f * p - 70.0f;
    return 480.0f * p - 90.0f;
}

float bb_db_to_fader(float db)
{
    if (!(db > -90.0f))
        return 0.0f;
    if (db >= -10.0f)
        return fminf(1.0f, (db + 30.0f) / 40.0f);
    if (db >= -30.0f)
        return (db + 50.0f) / 80.0f;
    if (db >= -60.0f)
        return (db + 70.0f) / 160.0f;
    return (db + 90.0f) / 480.0f;
}

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

static void send_to(struct hub *h, lo_address to, const char *path, lo_message m)
{
    if (to && lo_send_message_from(to, h->osc->srv, path, m) < 0)
        bb_debug("OSC: cannot send %s to %s:%s: %s", path, lo_address_get_hostname(to),
                 lo_address_get_port(to), lo_address_errstr(to));
}

// Answers the sender of req (and frees m).
static void reply(struct hub *h, lo_message req, const char *path, lo_message m)
{
    send_to(h, lo_message_get_source(req), path, m);
    lo_message_free(m);
}

static void reply_error(struct hub *h, lo_message req, const char *path, const char *why)
{
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
    reply(h, req, "/error", m);
}

// Sends path m to every controller whose feedback lease is live (frees m).
static void feedback(struct hub *h, const char *path, lo_message m)
{
    uint64_t now = bb_now_ns();
    for (int i = 0; i < OSC_MAX_LEASES; i++) {
        struct osc_lease *l = &h->osc->leases[i];
        if (l->used && l->fb_until > now)
            send_to(h, l->to, path, m);
    }
    lo_message_free(m);
}

// Reads one numeric or boolean argument; returns 0 or -1.
static int arg_number(char type, lo_arg *a, float *out)
{
    switch (type) {
    case 'f':
        *out = a->f;
        return 0;
    case 'd':
        *out = (float)a->d;
        return 0;
    case 'i':
        *out = (float)a->i;
        return 0;
    case 'h':
        *out = (float)a->h;
        return 0;
    case 'T':
        *out = 1.0f;
        return 0;
    case 'F':
        *out = 0.0f;
        return 0;
    default:
        return -1;
    }
}

// Resolves a source name to source ids; returns how many (0 = unknown).
static int resolve_sources(struct hub *h, const char *name, int ids[BB_MAX_CLIENT_CH])
{
    unsigned k;
    char tail;
    if (sscanf(name, "in_%u%c", &k, &tail) == 1 && k >= 1 && k <= h->local_inputs) {
        ids[0] = BB_SRC_LOCAL(k - 1);
        return 1;
    }
    struct hub_client *c = hub_find_name(h, name);
    if (c) {
        for (unsigned ch = 0; ch < c->channels; ch++)
            ids[ch] = BB_SRC_CLIENT(c->slot, ch);
        return (int)c->channels;
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
                      int argc, lo_message msg)
{
    char mixname[BB_NAME_MAX + 1], srcname[BB_NAME_MAX + 8], param[16], tail;
    if (sscanf(path, "/mix/%32[^/]/ch/%39[^/]/%15[^/]%c", mixname, srcname, param, &tail) != 3) {
        reply_error(h, msg, path, "expected /mix/<mix>/ch/<source>/<gain|fader|pan|mute|solo|sub>");
        return 0;
    }
    struct hub_send *sends;
    struct hub_client *mc = NULL; // whose mix (NULL: main)
    if (strcmp(mixname, "main") == 0) {
        sends = h->main_sends;
    } else {
        mc = hub_find_name(h, mixname);
        if (!mc) {
            reply_error(h, msg, path, "no musician of that name is connected");
            return 0;
        }
        sends = mc->sends;
    }
    int ids[BB_MAX_CLIENT_CH];
    int n = resolve_sources(h, srcname, ids);
    if (n == 0) {
        reply_error(h, msg, path, "no source of that name");
        return 0;
    }
    enum mix_param which = P_COUNT;
    for (int p = 0; p < P_COUNT; p++)
        if (strcmp(param, mix_param_names[p]) == 0)
            which = (enum mix_param)p;
    if (which == P_COUNT) {
        reply_error(h, msg, path, "unknown parameter");
        return 0;
    }
    if (argc == 0) {
        // A query: the first channel's value.
        reply(h, msg, path, mix_value(which, &sends[ids[0]]));
        return 0;
    }
    float v;
    if (argc != 1 || arg_number(types[0], argv[0], &v) < 0 || isnan(v)) {
        reply_error(h, msg, path, "expected one number");
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
        reply_error(h, msg, path, "value out of range");
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

    // Feedback: the value as stored, and the other view of a gain.
    char fp[128];
    snprintf(fp, sizeof fp, "/mix/%s/ch/%s/%s", mixname, srcname, mix_param_names[which]);
    feedback(h, fp, mix_value(which, &sends[ids[0]]));
    if (which == P_GAIN || which == P_FADER) {
        enum mix_param other = which == P_GAIN ? P_FADER : P_GAIN;
        snprintf(fp, sizeof fp, "/mix/%s/ch/%s/%s", mixname, srcname, mix_param_names[other]);
        feedback(h, fp, mix_value(other, &sends[ids[0]]));
    }
    return 0;
}

static lo_message send_value(int fader, const struct hub_client *c)
{
    lo_message m = lo_message_new();
    lo_message_add_float(m, fader ? bb_db_to_fader(c->send_db) : c->send_db);
    return m;
}

// /send/<name>/gain [dB]: a musician's own send level, applied in every mix.
static int handle_send(struct hub *h, const char *path, const char *types, lo_arg **argv,
                       int argc, lo_message msg)
{
    char name[BB_NAME_MAX + 1], param[16], tail;
    if (sscanf(path, "/send/%32[^/]/%15[^/]%c", name, param, &tail) != 2 ||
        (strcmp(param, "gain") != 0 && strcmp(param, "fader") != 0)) {
        reply_error(h, msg, path, "expected /send/<musician>/<gain|fader>");
        return 0;
    }
    struct hub_client *c = hub_find_name(h, name);
    if (!c) {
        reply_error(h, msg, path, "no musician of that name is connected");
        return 0;
    }
    int fader = strcmp(param, "fader") == 0;
    if (argc == 0) {
        reply(h, msg, path, send_value(fader, c));
        return 0;
    }
    float v;
    if (argc != 1 || arg_number(types[0], argv[0], &v) < 0 || isnan(v)) {
        reply_error(h, msg, path, "expected one number");
        return 0;
    }
    if (fader ? !(v >= 0.0f && v <= 1.0f) : !(v <= 12.0f)) {
        reply_error(h, msg, path, "value out of range");
        return 0;
    }
    c->send_db = fader ? bb_fader_to_db(v) : (v < -120.0f ? -INFINITY : v);
    h->dirty = 1;
    hub_state_mark(h, c);
    char fp[64];
    snprintf(fp, sizeof fp, "/send/%s/gain", c->name);
    feedback(h, fp, send_value(0, c));
    snprintf(fp, sizeof fp, "/send/%s/fader", c->name);
    feedback(h, fp, send_value(1, c));
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

// ---- leases -------------------------------------------------------------

static struct osc_lease *find_lease(struct hub_osc *o, const char *host, uint16_t port)
{
    for (int i = 0; i < OSC_MAX_LEASES; i++)
        if (o->leases[i].used && o->leases[i].port == port &&
            strcmp(o->leases[i].host, host) == 0)
            return &o->leases[i];
    return NULL;
}

static void lease_drop(struct osc_lease *l)
{
    if (l->to)
        lo_address_free(l->to);
    memset(l, 0, sizeof *l);
}

// Reads the optional integer arguments [lease_seconds] [reply_port] (lease
// NULL: only [reply_port]). Returns NULL or the reason they are refused.
static const char *lease_args(const char *types, lo_arg **argv, int argc, int *lease,
                              uint16_t *port, const struct osc_src *src)
{
    int nmax = lease ? 2 : 1;
    if (argc > nmax)
        return lease ? "expected [i:lease_seconds] [i:reply_port]" : "expected [i:reply_port]";
    float v[2] = {0, 0};
    for (int i = 0; i < argc; i++)
        if (arg_number(types[i], argv[i], &v[i]) < 0 || !(v[i] == floorf(v[i])))
            return lease ? "expected [i:lease_seconds] [i:reply_port]" : "expected [i:reply_port]";
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
                        int argc, lo_message msg, const struct osc_src *src, int meters)
{
    int secs;
    uint16_t port;
    const char *why = lease_args(types, argv, argc, &secs, &port, src);
    if (why) {
        reply_error(h, msg, path, why);
        return 0;
    }
    struct hub_osc *o = h->osc;
    struct osc_lease *l = find_lease(o, src->host, port);
    int fresh = !l;
    for (int i = 0; !l && i < OSC_MAX_LEASES; i++)
        if (!o->leases[i].used)
            l = &o->leases[i];
    if (!l) {
        reply_error(h, msg, path, "too many controllers (16); let one expire or /unsubscribe");
        return 0;
    }
    if (fresh) {
        char ps[8];
        snprintf(ps, sizeof ps, "%u", port);
        lo_address to = lo_address_new(src->host, ps);
        if (!to) {
            reply_error(h, msg, path, "cannot reply to this address");
            return 0;
        }
        l->used = 1;
        snprintf(l->host, sizeof l->host, "%s", src->host);
        l->port = port;
        l->to = to;
    }
    uint64_t now = bb_now_ns(), until = now + (uint64_t)secs * 1000000000ull;
    uint64_t *lease = meters ? &l->meter_until : &l->fb_until;
    if (*lease <= now)
        bb_info("OSC controller %s:%u subscribed to %s (lease %d s)", l->host, l->port,
                meters ? "meters" : "feedback", secs);
    int was_live = *lease > now;
    *lease = until;
    lo_message m = lo_message_new();
    lo_message_add_int32(m, secs);
    send_to(h, l->to, path, m);
    lo_message_free(m);
    if (!meters && !was_live) {
        m = clients_msg(h); // a newcomer learns who is there
        send_to(h, l->to, "/clients", m);
        lo_message_free(m);
    }
    return 0;
}

static int do_unsubscribe(struct hub *h, const char *path, const char *types, lo_arg **argv,
                          int argc, lo_message msg, const struct osc_src *src, int meters)
{
    uint16_t port;
    const char *why = lease_args(types, argv, argc, NULL, &port, src);
    if (why) {
        reply_error(h, msg, path, why);
        return 0;
    }
    struct osc_lease *l = find_lease(h->osc, src->host, port);
    if (!l) {
        reply_error(h, msg, path, "not subscribed");
        return 0;
    }
    lo_message m = lo_message_new();
    lo_message_add_int32(m, 0);
    send_to(h, l->to, path, m);
    lo_message_free(m);
    bb_info("OSC controller %s:%u unsubscribed from %s", l->host, l->port,
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
                      int argc, lo_message msg, const struct osc_src *src);

/// What a message needs when the hub has a password.
enum osc_access {
    ACC_OPEN,  ///< nothing (it changes nothing, or it is /auth)
    ACC_QUERY, ///< nothing without arguments (a query), /auth first with
    ACC_AUTH,  ///< /auth first
};

static int cmd_auth(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                    lo_message msg, const struct osc_src *src)
{
    if (argc != 1 || (types[0] != 's' && types[0] != 'S')) {
        reply_error(h, msg, path, "expected s:password");
        return 0;
    }
    if (!h->osc_password[0]) {
        lo_message m = lo_message_new();
        lo_message_add_int32(m, 1);
        reply(h, msg, path, m);
        return 0;
    }
    if (!same_secret(&argv[0]->s, h->osc_password)) {
        bb_warn("OSC: wrong password from %s:%u", src->host, src->port);
        reply_error(h, msg, path, "wrong password");
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
    reply(h, msg, path, m);
    return 0;
}

static int cmd_subscribe(struct hub *h, const char *path, const char *types, lo_arg **argv,
                         int argc, lo_message msg, const struct osc_src *src)
{
    return do_subscribe(h, path, types, argv, argc, msg, src, 0);
}

static int cmd_unsubscribe(struct hub *h, const char *path, const char *types, lo_arg **argv,
                           int argc, lo_message msg, const struct osc_src *src)
{
    return do_unsubscribe(h, path, types, argv, argc, msg, src, 0);
}

static int cmd_meters_subscribe(struct hub *h, const char *path, const char *types,
                                lo_arg **argv, int argc, lo_message msg, const struct osc_src *src)
{
    return do_subscribe(h, path, types, argv, argc, msg, src, 1);
}

static int cmd_meters_unsubscribe(struct hub *h, const char *path, const char *types,
                                  lo_arg **argv, int argc, lo_message msg,
                                  const struct osc_src *src)
{
    return do_unsubscribe(h, path, types, argv, argc, msg, src, 1);
}

static int cmd_mix(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                   lo_message msg, const struct osc_src *src)
{
    return handle_mix(h, path, types, argv, argc, msg);
}

static int cmd_send(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                    lo_message msg, const struct osc_src *src)
{
    return handle_send(h, path, types, argv, argc, msg);
}

static int cmd_clients(struct hub *h, const char *path, const char *types, lo_arg **argv,
                       int argc, lo_message msg, const struct osc_src *src)
{
    reply(h, msg, "/clients", clients_msg(h));
    return 0;
}

static int cmd_info(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                    lo_message msg, const struct osc_src *src)
{
    lo_message m = lo_message_new();
    lo_message_add_int32(m, (int32_t)h->rate);
    lo_message_add_int32(m, (int32_t)h->period);
    lo_message_add_string(m, BB_VERSION);
    reply(h, msg, "/info", m);
    return 0;
}

/// The address space. A path ending in '/' is a prefix.
static const struct osc_cmd {
    const char     *path;
    enum osc_access access;
    osc_fn          fn;
    const char     *args;
    const char     *doc;
} osc_cmds[] = {
    {"/mix/", ACC_QUERY, cmd_mix, "[value]",
     "/mix/<mix>/ch/<source>/<gain|fader|pan|mute|solo|sub>: set, or query without a value"},
    {"/send/", ACC_QUERY, cmd_send, "[value]",
     "/send/<musician>/<gain|fader>: a musician's send level in every mix"},
    {"/clients", ACC_OPEN, cmd_clients, "", "-> /clients s:name...: connected musicians"},
    {"/info", ACC_OPEN, cmd_info, "", "-> /info i:rate i:period s:version"},
    {"/auth", ACC_OPEN, cmd_auth, "s:password", "-> /auth i:1; remembered for this IP for 1 h"},
    {"/subscribe", ACC_AUTH, cmd_subscribe, "[i:lease_s=10 (1..60)] [i:reply_port]",
     "-> /subscribe i:lease_s; every change, /clients, /joined, /left until the lease ends"},
    {"/unsubscribe", ACC_AUTH, cmd_unsubscribe, "[i:reply_port]",
     "-> /unsubscribe i:0; ends both leases"},
    {"/meters/subscribe", ACC_AUTH, cmd_meters_subscribe, "[i:lease_s=10 (1..60)] [i:reply_port]",
     "-> /meters/subscribe i:lease_s; a meter bundle 25 times a second until the lease ends"},
    {"/meters/unsubscribe", ACC_AUTH, cmd_meters_unsubscribe, "[i:reply_port]",
     "-> /meters/unsubscribe i:0"},
};

void hub_osc_doc(FILE *f)
{
    for (size_t i = 0; i < BB_ARRAY_LEN(osc_cmds); i++) {
        const struct osc_cmd *c = &osc_cmds[i];
        fprintf(f, "%-20s %-40s %s%s\n", c->path, c->args,
                c->access == ACC_AUTH ? "[password] " : c->access == ACC_QUERY ? "[password to set] " : "",
                c->doc);
    }
    fprintf(f, "%-20s %-40s %s\n", "(sent)", "", "/error s:address s:reason for anything refused");
    fprintf(f, "%-20s %-40s %s\n", "(sent)", "",
            "/meter/ch/<source> f:peak_db f:rms_db, /meter/mix/<mix> f:peak_L f:peak_R f:rms_L f:rms_R");
}

static int generic_handler(const char *path, const char *types, lo_arg **argv, int argc,
                           lo_message msg, void *user)
{
    struct hub *h = user;
    struct osc_src src = {.addr = lo_message_get_source(msg)};
    if (src.addr) {
        const char *host = lo_address_get_hostname(src.addr);
        const char *port = lo_address_get_port(src.addr);
        snprintf(src.host, sizeof src.host, "%s", host ? host : "");
        src.port = port ? (uint16_t)atoi(port) : 0;
    }
    if (!host_allowed(h, src.host)) {
        bb_debug("OSC: %s from %s:%u refused (not in --osc-allow)", path, src.host, src.port);
        reply_error(h, msg, path, "not allowed from this address");
        return 0;
    }
    const struct osc_cmd *cmd = NULL;
    for (size_t i = 0; !cmd && i < BB_ARRAY_LEN(osc_cmds); i++) {
        const char *p = osc_cmds[i].path;
        size_t n = strlen(p);
        if (p[n - 1] == '/' ? strncmp(path, p, n) == 0 : strcmp(path, p) == 0)
            cmd = &osc_cmds[i];
    }
    if (!cmd) {
        reply_error(h, msg, path, "unknown address");
        return 0;
    }
    int need = cmd->access == ACC_AUTH || (cmd->access == ACC_QUERY && argc > 0);
    if (need && h->osc_password[0] && !find_authed(h->osc, src.host, bb_now_ns())) {
        reply_error(h, msg, path, "password required");
        return 0;
    }
    return cmd->fn(h, path, types, argv, argc, msg, &src);
}

// ---- server -------------------------------------------------------------

// liblo (0.31) binds its UDP servers to every address, and
// lo_server_new_from_url() takes a host only as a multicast group. So for
// --osc-bind the server is opened on a spare port and our own socket,
// bound where asked, takes the place of liblo's (same descriptor number).
static int bind_osc_socket(struct hub *h, char *err, size_t err_size)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(h->osc_port)};
    if (inet_pton(AF_INET, h->osc_bind, &sa.sin_addr) != 1) {
        snprintf(err, err_size, "--osc-bind %s: not an IPv4 address", h->osc_bind);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        snprintf(err, err_size, "cannot open the OSC port %s:%u: %s", h->osc_bind, h->osc_port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int lo_fd = lo_server_get_socket_fd(h->osc->srv);
    if (lo_fd < 0 || dup2(fd, lo_fd) < 0) {
        snprintf(err, err_size, "cannot bind the OSC port to %s: %s", h->osc_bind, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int hub_osc_start(struct hub *h, char *err, size_t err_size)
{
    if (h->osc_port == 0)
        return 0;
    h->osc = calloc(1, sizeof *h->osc);
    if (!h->osc) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    int bound = h->osc_bind[0] && strcmp(h->osc_bind, "0.0.0.0") != 0;
    char port[8];
    snprintf(port, sizeof port, "%u", h->osc_port);
    h->osc->srv = lo_server_new_with_proto(bound ? NULL : port, LO_UDP, osc_error_cb);
    if (!h->osc->srv) {
        snprintf(err, err_size, "cannot open the OSC port %u (in use? change it with --osc-port)",
                 h->osc_port);
        free(h->osc);
        h->osc = NULL;
        return -1;
    }
    if (bound && bind_osc_socket(h, err, err_size) < 0) {
        hub_osc_stop(h);
        return -1;
    }
    lo_server_add_method(h->osc->srv, NULL, NULL, generic_handler, h);
    h->osc->next_meter_ns = bb_now_ns() + OSC_METER_NS;
    return 0;
}

void hub_osc_stop(struct hub *h)
{
    if (!h->osc)
        return;
    for (int i = 0; i < OSC_MAX_LEASES; i++)
        lease_drop(&h->osc->leases[i]);
    lo_server_free(h->osc->srv);
    free(h->osc);
    h->osc = NULL;
}

int hub_osc_fd(struct hub *h)
{
    return h->osc ? lo_server_get_socket_fd(h->osc->srv) : -1;
}

void hub_osc_poll(struct hub *h)
{
    if (!h->osc)
        return;
    for (int i = 0; i < 256 && lo_server_recv_noblock(h->osc->srv, 0) > 0; i++) {
    }
}

int hub_osc_due_ms(struct hub *h, uint64_t now)
{
    if (!h->osc)
        return -1;
    uint64_t t = h->osc->next_meter_ns;
    return t <= now ? 0 : (int)((t - now + 999999) / 1000000);
}

// One bundle with every source and mix the graph has now.
static void send_meters(struct hub *h, uint64_t now)
{
    struct hub_osc *o = h->osc;
    const struct hub_graph *g = bb_snap_peek(&h->graph);
    if (!g)
        return;
    const struct bb_meter_slot *ms = &o->meter;
    lo_bundle b = lo_bundle_new(LO_TT_IMMEDIATE);
    if (!b)
        return;
    char name[BB_NAME_MAX + 8], path[BB_NAME_MAX + 24];
    for (unsigned s = 0; s < g->mix->nsrc; s++) {
        unsigned id = g->mix->src_id[s];
        if (!hub_state_source_name(h, (int)id, name, sizeof name)[0])
            continue;
        lo_message m = lo_message_new();
        lo_message_add_float(m, bb_meter_peak_db(ms->src_peak[id]));
        lo_message_add_float(m, bb_meter_rms_db(ms->src_sq[id], ms->frames));
        snprintf(path, sizeof path, "/meter/ch/%s", name);
        lo_bundle_add_message(b, path, m);
    }
    for (unsigned k = 0; k < g->mix->nmix; k++) {
        unsigned id = g->mix->mix_id[k];
        const struct hub_client *c = g->mix_client[k];
        lo_message m = lo_message_new();
        lo_message_add_float(m, bb_meter_peak_db(ms->mix_peak[id][0]));
        lo_message_add_float(m, bb_meter_peak_db(ms->mix_peak[id][1]));
        lo_message_add_float(m, bb_meter_rms_db(ms->mix_sq[id][0], ms->frames));
        lo_message_add_float(m, bb_meter_rms_db(ms->mix_sq[id][1], ms->frames));
        snprintf(path, sizeof path, "/meter/mix/%s", c ? c->name : "main");
        lo_bundle_add_message(b, path, m);
    }
    for (int i = 0; i < OSC_MAX_LEASES; i++) {
        struct osc_lease *l = &o->leases[i];
        if (l->used && l->meter_until > now && lo_send_bundle_from(l->to, o->srv, b) < 0)
            bb_debug("OSC: cannot send meters to %s:%u: %s", l->host, l->port,
                     lo_address_errstr(l->to));
    }
    lo_bundle_free_recursive(b);
}

void hub_osc_tick(struct hub *h, uint64_t now)
{
    struct hub_osc *o = h->osc;
    if (!o || now < o->next_meter_ns)
        return;
    o->next_meter_ns += OSC_METER_NS; // a steady rate, not "40 ms after we got round to it"
    if (o->next_meter_ns <= now)
        o->next_meter_ns = now + OSC_METER_NS;
    int meters = 0;
    for (int i = 0; i < OSC_MAX_LEASES; i++) {
        struct osc_lease *l = &o->leases[i];
        if (!l->used)
            continue;
        if (l->fb_until && l->fb_until <= now) {
            bb_info("OSC controller %s:%u: feedback lease expired", l->host, l->port);
            l->fb_until = 0;
        }
        if (l->meter_until && l->meter_until <= now) {
            bb_info("OSC controller %s:%u: meter lease expired", l->host, l->port);
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

void hub_osc_notify_clients(struct hub *h, const char *name, int joined)
{
    if (!h->osc)
        return;
    feedback(h, "/clients", clients_msg(h));
    lo_message m = lo_message_new();
    lo_message_add_string(m, name);
    feedback(h, joined ? "/joined" : "/left", m);
}
