// SPDX-License-Identifier: GPL-2.0-or-later
// osc.c: the hub's OSC control surface on liblo, run by the control thread.
//
// The liblo server is non-blocking and polled from the control loop, so
// every handler runs in the control thread and may change client state
// directly; a change marks the graph dirty and the loop publishes it.
// Addresses (see bandbridge-osc(7)):
//
//   /mix/<mix>/ch/<source>/<param> [value]   mix: a musician's name or "main"
//        source: <name>_<k>, <name> (all its channels) or in_<k>
//        param:  gain (dB, f), fader (0..1, f), pan (-1..1, f),
//                mute, solo, sub (0/1)
//        without a value: a query, answered on the same address
//   /send/<name>/gain|fader [value]  a musician's own send level (every mix)
//   /clients        -> /clients s...    names of the connected musicians
//   /info           -> /info i:rate i:period s:version
//   errors          -> /error s:address s:reason
#include <lo/lo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "log.h"
#include "osc.h"

struct hub_osc {
    lo_server srv;
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

static void osc_error_cb(int num, const char *msg, const char *path)
{
    bb_warn("OSC server error %d: %s%s%s", num, msg, path ? " at " : "", path ? path : "");
}

static void reply(struct hub *h, lo_message req, const char *path, lo_message m)
{
    lo_address src = lo_message_get_source(req);
    if (src)
        lo_send_message_from(src, h->osc->srv, path, m);
    lo_message_free(m);
}

static void reply_error(struct hub *h, lo_message req, const char *path, const char *why)
{
    lo_message m = lo_message_new();
    lo_message_add_string(m, path);
    lo_message_add_string(m, why);
    reply(h, req, "/error", m);
}

// Reads one numeric or boolean argument; returns 0 or -1.
static int arg_number(const char *types, lo_arg **argv, float *out)
{
    switch (types[0]) {
    case 'f':
        *out = argv[0]->f;
        return 0;
    case 'd':
        *out = (float)argv[0]->d;
        return 0;
    case 'i':
        *out = (float)argv[0]->i;
        return 0;
    case 'h':
        *out = (float)argv[0]->h;
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
    enum { GAIN, FADER, PAN, MUTE, SOLO, SUB } which;
    if (strcmp(param, "gain") == 0)
        which = GAIN;
    else if (strcmp(param, "fader") == 0)
        which = FADER;
    else if (strcmp(param, "pan") == 0)
        which = PAN;
    else if (strcmp(param, "mute") == 0)
        which = MUTE;
    else if (strcmp(param, "solo") == 0)
        which = SOLO;
    else if (strcmp(param, "sub") == 0)
        which = SUB;
    else {
        reply_error(h, msg, path, "unknown parameter");
        return 0;
    }
    if (argc == 0) {
        // A query: the first channel's value.
        const struct hub_send *sd = &sends[ids[0]];
        lo_message m = lo_message_new();
        switch (which) {
        case GAIN:
            lo_message_add_float(m, sd->gain_db);
            break;
        case FADER:
            lo_message_add_float(m, bb_db_to_fader(sd->gain_db));
            break;
        case PAN:
            lo_message_add_float(m, sd->pan);
            break;
        case MUTE:
            lo_message_add_int32(m, sd->mute);
            break;
        case SOLO:
            lo_message_add_int32(m, sd->solo);
            break;
        case SUB:
            lo_message_add_int32(m, sd->sub);
            break;
        }
        reply(h, msg, path, m);
        return 0;
    }
    float v;
    if (argc != 1 || arg_number(types, argv, &v) < 0 || isnan(v)) {
        reply_error(h, msg, path, "expected one number");
        return 0;
    }
    int ok = 1;
    switch (which) {
    case GAIN:
        ok = v <= 12.0f;
        break;
    case FADER:
    case SUB:
    case MUTE:
    case SOLO:
        ok = v >= 0.0f && v <= 1.0f;
        break;
    case PAN:
        ok = v >= -1.0f && v <= 1.0f;
        break;
    }
    if (!ok) {
        reply_error(h, msg, path, "value out of range");
        return 0;
    }
    for (int i = 0; i < n; i++) {
        struct hub_send *sd = &sends[ids[i]];
        switch (which) {
        case GAIN:
            sd->gain_db = v < -120.0f ? -INFINITY : v;
            break;
        case FADER:
            sd->gain_db = bb_fader_to_db(v);
            break;
        case PAN:
            sd->pan = v;
            break;
        case MUTE:
            sd->mute = v >= 0.5f;
            break;
        case SOLO:
            sd->solo = v >= 0.5f;
            break;
        case SUB:
            sd->sub = v >= 0.5f;
            break;
        }
    }
    h->dirty = 1;
    hub_state_mark(h, mc);
    return 0;
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
        lo_message m = lo_message_new();
        lo_message_add_float(m, fader ? bb_db_to_fader(c->send_db) : c->send_db);
        reply(h, msg, path, m);
        return 0;
    }
    float v;
    if (argc != 1 || arg_number(types, argv, &v) < 0 || isnan(v)) {
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
    return 0;
}

static int generic_handler(const char *path, const char *types, lo_arg **argv, int argc,
                           lo_message msg, void *user)
{
    struct hub *h = user;
    if (strncmp(path, "/send/", 6) == 0)
        return handle_send(h, path, types, argv, argc, msg);
    if (strncmp(path, "/mix/", 5) == 0)
        return handle_mix(h, path, types, argv, argc, msg);
    if (strcmp(path, "/clients") == 0) {
        lo_message m = lo_message_new();
        for (int i = 0; i < BB_MAX_CLIENTS; i++)
            if (h->slots[i] && h->slots[i]->state == HUB_CLIENT_ACTIVE)
                lo_message_add_string(m, h->slots[i]->name);
        reply(h, msg, "/clients", m);
        return 0;
    }
    if (strcmp(path, "/info") == 0) {
        lo_message m = lo_message_new();
        lo_message_add_int32(m, (int32_t)h->rate);
        lo_message_add_int32(m, (int32_t)h->period);
        lo_message_add_string(m, BB_VERSION);
        reply(h, msg, "/info", m);
        return 0;
    }
    reply_error(h, msg, path, "unknown address");
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
    char port[8];
    snprintf(port, sizeof port, "%u", h->osc_port);
    h->osc->srv = lo_server_new_with_proto(port, LO_UDP, osc_error_cb);
    if (!h->osc->srv) {
        snprintf(err, err_size, "cannot open the OSC port %u (in use? change it with --osc-port)",
                 h->osc_port);
        free(h->osc);
        h->osc = NULL;
        return -1;
    }
    lo_server_add_method(h->osc->srv, NULL, NULL, generic_handler, h);
    return 0;
}

void hub_osc_stop(struct hub *h)
{
    if (!h->osc)
        return;
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

void hub_osc_notify_clients(struct hub *h)
{
    (void)h; // feedback to registered controllers comes with the OSC issue
}
