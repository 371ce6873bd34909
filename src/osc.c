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
    int        slots;              ///< style: 1 = musicians by slot number, 0 = by name
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
    uint64_t             messages; ///< messages handled (for /stats)
    uint64_t             errors;   ///< /error answers sent
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
    reply(h, req, "/error", m);
}

// Sends m to every controller whose feedback lease is live, on path, or on
// slot_path for those that asked for slot numbers (NULL: the same). Frees m.
static void feedback2(struct hub *h, const char *path, const char *slot_path, lo_message m)
{
    uint64_t now = bb_now_ns();
    for (int i = 0; i < OSC_MAX_LEASES; i++) {
        struct osc_lease *l = &h->osc->leases[i];
        if (l->used && l->fb_until > now)
            send_to(h, l->to, l->slots && slot_path ? slot_path : path, m);
    }
    lo_message_free(m);
}

static void feedback(struct hub *h, const char *path, lo_message m)
{
    feedback2(h, path, NULL, m);
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
// another single channel "n.k"; local inputs are in_k in both).
static void source_tokens(struct hub *h, const char *given, const int *ids, int n, char *name,
                          char *slot, size_t size)
{
    snprintf(name, size, "%s", given);
    snprintf(slot, size, "%s", given);
    if (ids[0] >= BB_SRC_LOCAL(0))
        return;
    int sl = ids[0] / BB_MAX_CLIENT_CH, ch = ids[0] % BB_MAX_CLIENT_CH;
    const struct hub_client *c = h->slots[sl];
    if (!c)
        return;
    if (n > 1 || (unsigned)n == c->channels) // every channel of the musician
        snprintf(name, size, "%s", c->name);
    else
        snprintf(name, size, "%s_%d", c->name, ch + 1);
    if (n > 1 || ch == 0)
        snprintf(slot, size, "%d", sl + 1);
    else
        snprintf(slot, size, "%d.%d", sl + 1, ch + 1);
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
        mc = find_client(h, mixname);
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

    // Feedback: the value as stored, and the other view of a gain, with
    // names or slot numbers.
    char names[2][BB_NAME_MAX + 8], slots[2][BB_NAME_MAX + 8];
    snprintf(names[0], sizeof names[0], "%s", mc ? mc->name : "main");
    snprintf(slots[0], sizeof slots[0], "%s", "main");
    if (mc)
        snprintf(slots[0], sizeof slots[0], "%d", mc->slot + 1);
    source_tokens(h, srcname, ids, n, names[1], slots[1], sizeof names[1]);
    for (int k = 0; k < 2; k++) {
        enum mix_param p = k == 0 ? which : which == P_GAIN ? P_FADER : P_GAIN;
        if (k == 1 && which != P_GAIN && which != P_FADER)
            break;
        char fp[160], sp[160];
        snprintf(fp, sizeof fp, "/mix/%s/ch/%s/%s", names[0], names[1], mix_param_names[p]);
        snprintf(sp, sizeof sp, "/mix/%s/ch/%s/%s", slots[0], slots[1], mix_param_names[p]);
        feedback2(h, fp, sp, mix_value(p, &sends[ids[0]]));
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
    struct hub_client *c = find_client(h, name);
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
    char fp[64], sp[64];
    snprintf(fp, sizeof fp, "/send/%s/gain", c->name);
    snprintf(sp, sizeof sp, "/send/%d/gain", c->slot + 1);
    feedback2(h, fp, sp, send_value(0, c));
    snprintf(fp, sizeof fp, "/send/%s/fader", c->name);
    snprintf(sp, sizeof sp, "/send/%d/fader", c->slot + 1);
    feedback2(h, fp, sp, send_value(1, c));
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
static void send_slot_name(struct hub *h, lo_address to, int slot)
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

// Reads the optional arguments [lease_seconds] [reply_port] [style] (lease
// NULL: only [reply_port]); style, a string, may also come alone or after
// the lease. Returns NULL or the reason they are refused.
static const char *lease_args(const char *types, lo_arg **argv, int argc, int *lease,
                              uint16_t *port, int *slots, const struct osc_src *src)
{
    if (lease && argc > 0 && (types[argc - 1] == 's' || types[argc - 1] == 'S')) {
        const char *st = &argv[argc - 1]->s;
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
                        int argc, lo_message msg, const struct osc_src *src, int meters)
{
    int secs, slots = -1;
    uint16_t port;
    const char *why = lease_args(types, argv, argc, &secs, &port, &slots, src);
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
    int restyled = slots >= 0 && slots != l->slots;
    if (slots >= 0)
        l->slots = slots;
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
    if (!meters && (!was_live || restyled)) {
        m = clients_msg(h); // a newcomer learns who is there
        send_to(h, l->to, "/clients", m);
        lo_message_free(m);
        if (l->slots) // and a fixed layout which slot is whose
            for (int i = 0; i < (int)h->max_clients && i < BB_MAX_CLIENTS; i++)
                send_slot_name(h, l->to, i);
    }
    return 0;
}

static int do_unsubscribe(struct hub *h, const char *path, const char *types, lo_arg **argv,
                          int argc, lo_message msg, const struct osc_src *src, int meters)
{
    uint16_t port;
    const char *why = lease_args(types, argv, argc, NULL, &port, NULL, src);
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
    char codecs[96] = "";
    for (int c = 1; c < BB_CODEC_COUNT; c++)
        snprintf(codecs + strlen(codecs), sizeof codecs - strlen(codecs), "%s%s",
                 codecs[0] ? "," : "", bb_codec_name((enum bb_codec)c));
    lo_message_add_string(m, codecs);
    lo_message_add_int32(m, (int32_t)h->max_clients);
    lo_message_add_int32(m, (int32_t)h->local_inputs);
    reply(h, msg, "/info", m);
    return 0;
}

static int cmd_slots(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                     lo_message msg, const struct osc_src *src)
{
    lo_message m = lo_message_new();
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i] && h->slots[i]->state == HUB_CLIENT_ACTIVE) {
            lo_message_add_int32(m, i + 1);
            lo_message_add_string(m, h->slots[i]->name);
        }
    reply(h, msg, "/slots", m);
    return 0;
}

static int cmd_slot(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                    lo_message msg, const struct osc_src *src)
{
    char num[8], tail;
    int n;
    if (sscanf(path, "/slot/%7[^/]/name%c", num, &tail) != 1 || !(n = slot_number(num)) ||
        n > (int)h->max_clients) {
        reply_error(h, msg, path, "expected /slot/<1..max clients>/name");
        return 0;
    }
    if (argc > 0) {
        reply_error(h, msg, path, "read only: a musician's name is the one they join with");
        return 0;
    }
    send_slot_name(h, lo_message_get_source(msg), n - 1);
    return 0;
}

static int cmd_channels(struct hub *h, const char *path, const char *types, lo_arg **argv,
                        int argc, lo_message msg, const struct osc_src *src)
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
    reply(h, msg, "/channels", m);
    return 0;
}

static void add_stat(lo_message m, const char *key, uint64_t v)
{
    lo_message_add_string(m, key);
    lo_message_add_int64(m, (int64_t)v);
}

static int cmd_stats(struct hub *h, const char *path, const char *types, lo_arg **argv, int argc,
                     lo_message msg, const struct osc_src *src)
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
    add_stat(m, "rt_worst_us", atomic_load(&h->stats.rt_ns_max) / 1000);
    add_stat(m, "bad_packets", atomic_load(&h->stats.bad_packets));
    add_stat(m, "unknown_session", atomic_load(&h->stats.unknown_session));
    add_stat(m, "wrong_source", atomic_load(&h->stats.wrong_source));
    add_stat(m, "send_errors", atomic_load(&h->stats.send_errors));
    add_stat(m, "osc_messages", h->osc->messages);
    add_stat(m, "osc_errors", h->osc->errors);
    add_stat(m, "db_transactions", st.transactions);
    add_stat(m, "db_rows_written", st.rows_written);
    add_stat(m, "db_errors", st.errors);
    reply(h, msg, "/stats", m);
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
                      int argc, lo_message msg, const struct osc_src *src)
{
    lo_address to = lo_message_get_source(msg);
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
        lo_message_add_string(m, bb_codec_name(c->codec));
        lo_message_add_int32(m, (int32_t)c->channels);
        lo_message_add_float(m, (float)atomic_load(&c->rtt_us) / 1000.0f);
        lo_message_add_int32(m, (int32_t)atomic_load(&st->fill));
        lo_message_add_int32(m, (int32_t)atomic_load(&st->target));
        lo_message_add_float(m, rx + lost ? 100.0f * (float)lost / (float)(rx + lost) : 0.0f);
        lo_message_add_float(m, bb_meter_peak_db(peak));
        lo_message_add_int64(m, (int64_t)atomic_load(&st->underruns));
        send_to(h, to, "/status/client", m);
        lo_message_free(m);
        count++;
    }
    lo_message m = lo_message_new();
    lo_message_add_int32(m, count);
    reply(h, msg, "/status/end", m);
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
    {"/info", ACC_OPEN, cmd_info, "",
     "-> /info i:rate i:period s:version s:codecs i:max_clients i:local_inputs"},
    {"/slots", ACC_OPEN, cmd_slots, "", "-> /slots (i:slot s:name)...: connected musicians by slot"},
    {"/slot/", ACC_OPEN, cmd_slot, "", "/slot/<n>/name -> /slot/<n>/name s:name (\"\" when free)"},
    {"/channels", ACC_OPEN, cmd_channels, "", "-> /channels s:source...: every source of the mixes"},
    {"/status", ACC_OPEN, cmd_status, "",
     "-> /status/client i:slot s:name s:address s:codec i:channels f:rtt_ms i:jbuf_fill "
     "i:jbuf_target f:loss_pct f:peak_db h:underruns per musician, then /status/end i:count"},
    {"/stats", ACC_OPEN, cmd_stats, "", "-> /stats (s:key h:value)...: hub counters"},
    {"/auth", ACC_OPEN, cmd_auth, "s:password", "-> /auth i:1; remembered for this IP for 1 h"},
    {"/subscribe", ACC_AUTH, cmd_subscribe, "[i:lease_s=10 (1..60)] [i:reply_port] [s:names|slots]",
     "-> /subscribe i:lease_s; every change, /clients, /joined, /left, /slot/<n>/name until "
     "the lease ends"},
    {"/unsubscribe", ACC_AUTH, cmd_unsubscribe, "[i:reply_port]",
     "-> /unsubscribe i:0; ends both leases"},
    {"/meters/subscribe", ACC_AUTH, cmd_meters_subscribe,
     "[i:lease_s=10 (1..60)] [i:reply_port] [s:names|slots]",
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
    h->osc->messages++;
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

static void add_level(lo_bundle b, const char *path, float peak, float sq, unsigned frames)
{
    lo_message m = lo_message_new();
    lo_message_add_float(m, bb_meter_peak_db(peak));
    lo_message_add_float(m, bb_meter_rms_db(sq, frames));
    lo_bundle_add_message(b, path, m);
}

// One bundle with every source and mix the graph has now, by name
// (slots = 0) or by slot number: then a musician is one meter, the loudest
// of its channels.
static lo_bundle meter_bundle(struct hub *h, const struct hub_graph *g, int slots)
{
    const struct bb_meter_slot *ms = &h->osc->meter;
    lo_bundle b = lo_bundle_new(LO_TT_IMMEDIATE);
    if (!b)
        return NULL;
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
            add_level(b, path, peak, sq, ms->frames);
            continue;
        }
        snprintf(path, sizeof path, "/meter/ch/%s", name);
        add_level(b, path, ms->src_peak[id], ms->src_sq[id], ms->frames);
    }
    for (unsigned k = 0; k < g->mix->nmix; k++) {
        unsigned id = g->mix->mix_id[k];
        const struct hub_client *c = g->mix_client[k];
        lo_message m = lo_message_new();
        lo_message_add_float(m, bb_meter_peak_db(ms->mix_peak[id][0]));
        lo_message_add_float(m, bb_meter_peak_db(ms->mix_peak[id][1]));
        lo_message_add_float(m, bb_meter_rms_db(ms->mix_sq[id][0], ms->frames));
        lo_message_add_float(m, bb_meter_rms_db(ms->mix_sq[id][1], ms->frames));
        if (!c)
            snprintf(path, sizeof path, "/meter/mix/main");
        else if (slots)
            snprintf(path, sizeof path, "/meter/mix/%d", c->slot + 1);
        else
            snprintf(path, sizeof path, "/meter/mix/%s", c->name);
        lo_bundle_add_message(b, path, m);
    }
    return b;
}

static void send_meters(struct hub *h, uint64_t now)
{
    struct hub_osc *o = h->osc;
    const struct hub_graph *g = bb_snap_peek(&h->graph);
    if (!g)
        return;
    lo_bundle b[2] = {NULL, NULL};
    for (int i = 0; i < OSC_MAX_LEASES; i++) {
        struct osc_lease *l = &o->leases[i];
        if (!l->used || l->meter_until <= now)
            continue;
        int st = l->slots ? 1 : 0;
        if (!b[st])
            b[st] = meter_bundle(h, g, st);
        if (b[st] && lo_send_bundle_from(l->to, o->srv, b[st]) < 0)
            bb_debug("OSC: cannot send meters to %s:%u: %s", l->host, l->port,
                     lo_address_errstr(l->to));
    }
    for (int k = 0; k < 2; k++)
        if (b[k])
            lo_bundle_free_recursive(b[k]);
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

void hub_osc_notify_clients(struct hub *h, int slot, const char *name, int joined)
{
    if (!h->osc)
        return;
    feedback(h, "/clients", clients_msg(h));
    uint64_t now = bb_now_ns();
    for (int i = 0; i < OSC_MAX_LEASES; i++) {
        struct osc_lease *l = &h->osc->leases[i];
        if (l->used && l->fb_until > now && l->slots)
            send_slot_name(h, l->to, slot);
    }
    lo_message m = lo_message_new();
    lo_message_add_string(m, name);
    feedback(h, joined ? "/joined" : "/left", m);
}
