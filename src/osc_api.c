// SPDX-License-Identifier: GPL-2.0-or-later
// osc_api.c: the hub's OSC address space (osc_api.h): the table, the
// checks every message passes, and the handlers, run by the control thread.
//
// Each address is one row: its pattern (osc_match.h), its arguments with
// their types and ranges, who may send it, its documentation and its
// handler. A handler runs only after everything the row says has been
// checked, in the order bandbridge-osc(7) gives under /error: the address,
// the password or the relay's limits, what the address names (resolve:
// the mix, the source, the musician), then the arguments. So handlers
// neither parse their address nor check a range; they read c->m and c->v.
//
// Musicians and mixes are named by name or by slot number (1..
// --max-clients: the hub's table index plus one, stable while connected,
// and given back to a musician who returns while it is free). A musician's
// own controller (relayed, osc_server.c) may only touch their own mix and
// read the lists: rows with relay set, and /mix only of their own mix (by
// name, slot or `me`). They may not rename anyone, themselves included: a
// name is the room's, in the engineer's patchbay and recordings.
//
// Mix settings are read and written through the client table
// (hub_clients.h), which republishes the graph and stores the mix.
#include <lo/lo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fader.h"
#include "hub.h"
#include "hub_names.h"
#include "hub_clients.h"
#include "meter.h"
#include "osc_api.h"
#include "osc_arg.h"
#include "osc_args.h"
#include "osc_feedback.h"
#include "click.h"
#include "recorder_hub.h"

#define OSC_RELAY_REFUSED "a musician's own controller may only change their own mix"

/// One message being handled: what dispatch found and checked, for the
/// row's resolve and handler.
struct osc_call {
    const struct osc_api_row *row;
    const char               *path;
    const struct osc_src     *src;
    int                       argc;
    const char               *types; ///< the arguments as they came
    lo_arg                  **argv;
    struct osc_match          m;   ///< the address's variables, in pattern order
    struct osc_vals           v;   ///< the arguments, checked against row->args
    struct hub_client        *c;   ///< resolve: the musician (whose mix: NULL is main)
    int                       ids[BB_MAX_CLIENT_CH]; ///< resolve: the source ids
    int                       nids;
    int                       slot; ///< resolve: 0-based
};

// ---- names ---------------------------------------------------------------

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
        size_t len;
        if (hub_parse_channel(name, &len, &k) && len == 2)
            return k >= 1 && k <= me->channels ? (ids[0] = BB_SRC_CLIENT(me->slot, k - 1), 1) : 0;
    }
    if (hub_parse_local(name, &k) && k >= 1 && k <= h->local_inputs) {
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
    size_t n;
    if (hub_parse_channel(name, &n, &k) && k >= 1) {
        char base[BB_NAME_MAX];
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
        hub_source_name(name, size, c->name, (unsigned)ch);
        if (sl == me_slot)
            snprintf(me, size, "me_%d", ch + 1);
    }
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

// ---- mixes and send levels -----------------------------------------------

// A musician's mix, named in c->m.var[0]: c->c (NULL: main); then the
// sources named in var[1]. A musician's own controller: their own mix
// only, however it is named.
static int resolve_mix(struct hub *h, struct osc_call *c)
{
    const char *mixname = c->m.var[0];
    const struct osc_src *src = c->src;
    struct hub_client *mc = NULL;
    if (src->relay) {
        if (strcmp(mixname, "me") == 0)
            mc = src->relay;
        else if (strcmp(mixname, "main") != 0)
            mc = find_client(h, mixname);
        if (mc != src->relay) {
            osc_reply_error(h, src, c->path, OSC_RELAY_REFUSED);
            return -1;
        }
    } else if (strcmp(mixname, "main") != 0) {
        mc = find_client(h, mixname);
        if (!mc) {
            osc_reply_error(h, src, c->path,
                            strcmp(mixname, "me") == 0
                                ? "\"me\" is a musician's own mix only through their bandbridge join"
                                : "no musician of that name is connected");
            return -1;
        }
    }
    c->c = mc;
    c->nids = resolve_sources(h, c->m.var[1], c->ids, src);
    if (c->nids == 0) {
        osc_reply_error(h, src, c->path, "no source of that name");
        return -1;
    }
    return 0;
}

// Feedback of a mix change: the value as stored, and the other view of a
// gain, with names or slot numbers; to the mix's musician's own
// controllers as me.
static void mix_feedback(struct hub *h, const struct osc_call *c, enum mix_param which)
{
    const struct hub_client *mc = c->c;
    char names[2][BB_NAME_MAX + 8], slots[2][BB_NAME_MAX + 8], me[BB_NAME_MAX + 8];
    snprintf(names[0], sizeof names[0], "%s", mc ? mc->name : "main");
    snprintf(slots[0], sizeof slots[0], "%s", "main");
    if (mc)
        snprintf(slots[0], sizeof slots[0], "%d", mc->slot + 1);
    source_tokens(h, c->m.var[1], c->ids, c->nids, names[1], slots[1], me, mc ? mc->slot : -1,
                  sizeof me);
    for (int k = 0; k < 2; k++) {
        enum mix_param p = k == 0 ? which : which == P_GAIN ? P_FADER : P_GAIN;
        if (k == 1 && which != P_GAIN && which != P_FADER)
            break;
        char fp[160], sp[160];
        snprintf(fp, sizeof fp, "/mix/%s/ch/%s/%s", names[0], names[1], mix_param_names[p]);
        snprintf(sp, sizeof sp, "/mix/%s/ch/%s/%s", slots[0], slots[1], mix_param_names[p]);
        lo_message m = mix_value(p, hub_clients_send(h, mc, (unsigned)c->ids[0]));
        if (mc)
            osc_feedback_own_mix(h, mc, names[1], slots[1], me, mix_param_names[p], m);
        osc_feedback_change(h, fp, sp, m);
    }
}

// /mix/<mix>/ch/<source>/<param> [value]: a query answers the first
// channel's value; a value is set on every channel named.
static void cmd_mix(struct hub *h, struct osc_call *c)
{
    enum mix_param which = (enum mix_param)c->row->param;
    if (c->v.query) {
        osc_reply(h, c->src, c->path, mix_value(which, hub_clients_send(h, c->c, (unsigned)c->ids[0])));
        return;
    }
    float v = c->v.num[0];
    for (int i = 0; i < c->nids; i++) {
        struct hub_send sd = *hub_clients_send(h, c->c, (unsigned)c->ids[i]);
        switch (which) {
        case P_GAIN:
            sd.gain_db = v < -120.0f ? -INFINITY : v;
            break;
        case P_FADER:
            sd.gain_db = bb_fader_to_db(v);
            break;
        case P_PAN:
            sd.pan = v;
            break;
        case P_MUTE:
            sd.mute = v >= 0.5f;
            break;
        case P_SOLO:
            sd.solo = v >= 0.5f;
            break;
        default:
            sd.sub = v >= 0.5f;
            break;
        }
        hub_clients_set_send(h, c->c, (unsigned)c->ids[i], &sd);
    }
    mix_feedback(h, c, which);
}

// /mix/<mix>/ch/<source>/<anything else>: after the mix and the source,
// as the errors have always come.
static void cmd_mix_unknown(struct hub *h, struct osc_call *c)
{
    osc_reply_error(h, c->src, c->path, "unknown parameter");
}

// The connected musician named (or numbered) in c->m.var[0].
static int resolve_musician(struct hub *h, struct osc_call *c)
{
    c->c = find_client(h, c->m.var[0]);
    if (!c->c) {
        osc_reply_error(h, c->src, c->path, "no musician of that name is connected");
        return -1;
    }
    return 0;
}

static lo_message send_value(int fader, const struct hub_client *c)
{
    lo_message m = lo_message_new();
    lo_message_add_float(m, fader ? bb_db_to_fader(c->send_db) : c->send_db);
    return m;
}

// /send/<musician>/<gain|fader> [value]: a musician's own send level,
// applied in every mix.
static void cmd_send(struct hub *h, struct osc_call *c)
{
    int fader = c->row->param == P_FADER;
    struct hub_client *mc = c->c;
    if (c->v.query) {
        osc_reply(h, c->src, c->path, send_value(fader, mc));
        return;
    }
    float v = c->v.num[0];
    hub_clients_set_send_db(h, mc, fader ? bb_fader_to_db(v) : (v < -120.0f ? -INFINITY : v));
    char fp[64], sp[64];
    snprintf(fp, sizeof fp, "/send/%s/gain", mc->name);
    snprintf(sp, sizeof sp, "/send/%d/gain", mc->slot + 1);
    osc_feedback_change(h, fp, sp, send_value(0, mc));
    snprintf(fp, sizeof fp, "/send/%s/fader", mc->name);
    snprintf(sp, sizeof sp, "/send/%d/fader", mc->slot + 1);
    osc_feedback_change(h, fp, sp, send_value(1, mc));
}

// ---- names and slots -----------------------------------------------------

// /slot/<n>/name: n a slot; for a rename (an argument), a musician there
// and a controller of the room's.
static int resolve_slot(struct hub *h, struct osc_call *c)
{
    int n = slot_number(c->m.var[0]);
    if (!n || n > (int)h->max_clients) {
        osc_reply_error(h, c->src, c->path, c->row->usage);
        return -1;
    }
    c->slot = n - 1;
    if (c->argc == 0)
        return 0; // a query: of any slot, by anyone
    c->c = h->slots[n - 1];
    if (c->src->relay) {
        osc_reply_error(h, c->src, c->path, OSC_RELAY_REFUSED);
        return -1;
    }
    if (!c->c || c->c->state != HUB_CLIENT_ACTIVE) {
        osc_reply_error(h, c->src, c->path, "no musician in that slot");
        return -1;
    }
    return 0;
}

// /client/<musician>/rename: the musician, and a controller of the room's.
static int resolve_rename(struct hub *h, struct osc_call *c)
{
    if (resolve_musician(h, c) < 0)
        return -1;
    if (c->src->relay) {
        osc_reply_error(h, c->src, c->path, OSC_RELAY_REFUSED);
        return -1;
    }
    return 0;
}

// A rename to s:name (c->c resolved): hub_rename() checks the name and
// does it, or says why not.
static void cmd_rename(struct hub *h, struct osc_call *c)
{
    const char *why = NULL;
    if (hub_rename(h, c->c, c->v.str[0], &why) < 0)
        osc_reply_error(h, c->src, c->path, why);
}

static void cmd_slot(struct hub *h, struct osc_call *c)
{
    if (c->v.query)
        osc_send_slot_name(h, &c->src->peer, c->slot);
    else
        cmd_rename(h, c);
}

// ---- leases and access ---------------------------------------------------

static void cmd_auth(struct hub *h, struct osc_call *c)
{
    const char *why = NULL;
    if (osc_auth(h, c->src, c->v.str[0], &why) < 0) {
        osc_reply_error(h, c->src, c->path, why);
        return;
    }
    lo_message m = lo_message_new();
    lo_message_add_int32(m, 1);
    osc_reply(h, c->src, c->path, m);
}

// /cookie i:cookie [i:reply_port]: the cookie read as the exact int32 it
// came as (the table's numbers are floats).
static void cmd_cookie(struct hub *h, struct osc_call *c)
{
    const struct osc_vals *v = &c->v;
    if (!(v->given & 1u) || c->types[0] != 'i') {
        osc_reply_error(h, c->src, c->path, "expected /cookie i:cookie [i:reply_port]");
        return;
    }
    uint16_t port = v->given & 2u && v->num[1] != 0 ? (uint16_t)v->num[1] : c->src->port;
    if (osc_check_cookie(h, c->src, bb_arg_i32(c->argv[0]), port) < 0)
        osc_reply_error(h, c->src, c->path, "wrong or stale cookie: /subscribe again");
}

// /subscribe, /meters/subscribe (param 1) [lease_seconds] [reply_port] [style].
static void cmd_subscribe(struct hub *h, struct osc_call *c)
{
    const struct osc_vals *v = &c->v;
    int secs = v->given & 1u ? (int)v->num[0] : OSC_LEASE_DEF;
    uint16_t port = v->given & 2u && v->num[1] != 0 ? (uint16_t)v->num[1] : c->src->port;
    int slots = v->given & 4u ? strcmp(v->str[2], "slots") == 0 : -1;
    osc_subscribe(h, c->src, c->path, secs, port, slots, c->row->param);
}

// /unsubscribe, /meters/unsubscribe (param 1) [reply_port].
static void cmd_unsubscribe(struct hub *h, struct osc_call *c)
{
    const struct osc_vals *v = &c->v;
    uint16_t port = v->given & 1u && v->num[0] != 0 ? (uint16_t)v->num[0] : c->src->port;
    osc_unsubscribe(h, c->src, c->path, port, c->row->param);
}

// ---- the lists -----------------------------------------------------------

static void cmd_clients(struct hub *h, struct osc_call *c)
{
    osc_reply(h, c->src, "/clients", osc_clients_msg(h));
}

static void cmd_info(struct hub *h, struct osc_call *call)
{
    const struct osc_src *src = call->src;
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
    osc_reply(h, src, "/info", m);
}

static void cmd_slots(struct hub *h, struct osc_call *call)
{
    const struct osc_src *src = call->src;
    lo_message m = lo_message_new();
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i] && h->slots[i]->state == HUB_CLIENT_ACTIVE) {
            lo_message_add_int32(m, i + 1);
            lo_message_add_string(m, h->slots[i]->name);
        }
    osc_reply(h, src, "/slots", m);
}

static void cmd_channels(struct hub *h, struct osc_call *call)
{
    const struct osc_src *src = call->src;
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
    osc_reply(h, src, "/channels", m);
}

static void add_stat(lo_message m, const char *key, uint64_t v)
{
    lo_message_add_string(m, key);
    lo_message_add_int64(m, (int64_t)v);
}

static void cmd_stats(struct hub *h, struct osc_call *call)
{
    const struct osc_src *src = call->src;
    struct bb_store_stats st = {0};
    if (h->store)
        bb_store_get_stats(h->store, &st);
    lo_message m = lo_message_new();
    add_stat(m, "clients", hub_active_count(h));
    add_stat(m, "cycles", atomic_load(&h->eng.stats.cycles));
    add_stat(m, "xruns", atomic_load(&h->eng.stats.xruns));
    add_stat(m, "late_cycles", atomic_load(&h->eng.stats.late_cycles));
    add_stat(m, "skipped_cycles", atomic_load(&h->eng.stats.skipped_cycles));
    add_stat(m, "rendered_cycles", atomic_load(&h->eng.stats.rendered_cycles));
    add_stat(m, "rt_worst_us", atomic_load(&h->eng.stats.rt_ns_max) / 1000);
    add_stat(m, "bad_packets", atomic_load(&h->eng.stats.bad_packets));
    add_stat(m, "unknown_session", atomic_load(&h->eng.stats.unknown_session));
    add_stat(m, "wrong_source", atomic_load(&h->eng.stats.wrong_source));
    add_stat(m, "forged", atomic_load(&h->eng.stats.forged)); // security: hub_net.c
    add_stat(m, "replayed", atomic_load(&h->eng.stats.replayed));
    add_stat(m, "joins_limited", atomic_load(&h->eng.stats.joins_limited));
    add_stat(m, "handshake_bad", atomic_load(&h->eng.stats.handshake_bad));
    add_stat(m, "joins_per_address", atomic_load(&h->eng.stats.joins_per_address));
    add_stat(m, "addr_moves", atomic_load(&h->eng.stats.addr_moves));
    add_stat(m, "send_errors", atomic_load(&h->eng.stats.send_errors));
    uint64_t tx_late, tx_max;
    hub_net_tx_lateness(&h->eng, &tx_late, &tx_max);
    add_stat(m, "tx_late", tx_late);
    add_stat(m, "tx_worst_us", tx_max / 1000);
    add_stat(m, "mono_packets", atomic_load(&h->eng.stats.mono_packets));
    add_stat(m, "shared_packets", atomic_load(&h->eng.stats.shared_packets));
    const struct hub_graph *g = bb_snap_peek(&h->eng.graph);
    add_stat(m, "mixes_mixed", g ? g->mix->nlead : 0);
    add_stat(m, "mix_encodes", g ? g->tx_groups : 0);
    add_stat(m, "load_pct", h->load.pct);
    add_stat(m, "load_ceiling_pct", h->load.ceiling_pct);
    add_stat(m, "shed_level", (uint64_t)h->load.level);
    add_stat(m, "busy_rejects", h->load.busy_rejects);
    add_stat(m, "load_rt_pct", h->load.rt_pct);
    add_stat(m, "load_rx_pct", h->load.rx_pct);
    add_stat(m, "load_tx_pct", h->load.tx_pct);
    add_stat(m, "load_wall_pct", h->load.wall_pct);
    add_stat(m, "click_steps_back", bb_click_steps_back(h->eng.click));
    add_stat(m, "osc_messages", h->osc->messages);
    add_stat(m, "osc_errors", h->osc->errors);
    add_stat(m, "osc_relayed", h->osc->relayed);
    add_stat(m, "osc_relay_dropped", atomic_load(&h->eng.stats.osc_relay_dropped));
    add_stat(m, "osc_turns", h->osc->turns);
    add_stat(m, "osc_refused", h->osc->refused);
    add_stat(m, "osc_dropped", h->osc->dropped);
    add_stat(m, "osc_auth_failed", h->osc->auth_failed);
    add_stat(m, "osc_auth_backoff", h->osc->auth_backoff);
    add_stat(m, "osc_cookies", h->osc->cookies);
    add_stat(m, "osc_replies_cut", h->osc->replies_cut);
    add_stat(m, "loop_max_us", h->loop_prof.max_ns / 1000);
    add_stat(m, "loop_slow", h->loop_prof.slow);
    add_stat(m, "db_transactions", st.transactions);
    add_stat(m, "db_rows_written", st.rows_written);
    add_stat(m, "db_errors", st.errors);
    hub_rec_stats(h, m);
    osc_reply(h, src, "/stats", m);
}

// ---- latency, recording and the click -------------------------------------

static void cmd_record(struct hub *h, struct osc_call *c)
{
    const char *why = NULL;
    int rc = 0;
    if (c->row->param == 1)
        rc = hub_rec_start(h, c->v.given & 1u ? c->v.str[0] : NULL, &why);
    else if (c->row->param == 2)
        rc = hub_rec_stop(h, &why);
    if (rc < 0) {
        osc_reply_error(h, c->src, c->path, why);
        return;
    }
    osc_reply(h, c->src, c->path, hub_rec_state_msg(h)); // ctl prints an answer on its own address
}

static const char *const click_paths[] = {"/click/on", "/click/tempo", "/click/beats",
                                          "/click/accent", "/click/level", "/click/main",
                                          "/click/record"};

// /click/<setting> [value]: the metronome's settings, fed back.
static void cmd_click(struct hub *h, struct osc_call *c)
{
    enum hub_click_param p = (enum hub_click_param)c->row->param;
    if (c->v.query) {
        osc_reply(h, c->src, c->path, hub_click_value(h, p));
        return;
    }
    float v = c->v.num[0];
    struct bb_click_settings s;
    bb_click_get(h->eng.click, &s);
    switch (p) {
    case K_ON:
        s.on = v >= 0.5f;
        break;
    case K_TEMPO:
        s.bpm = v;
        break;
    case K_BEATS:
        s.beats_per_bar = (unsigned)v;
        break;
    case K_ACCENT:
        s.accent = v > 0.0f;
        s.accent_db = v;
        break;
    case K_LEVEL:
        s.level_db = v;
        break;
    case K_MAIN:
        hub_click_set_mix(h, NULL, v >= 0.5f ? 0.0f : -INFINITY);
        break;
    default:
        hub_click_set_record(h, v >= 0.5f);
        break;
    }
    if (p != K_MAIN && p != K_RECORD && bb_click_set(h->eng.click, &s) < 0) {
        osc_reply_error(h, c->src, c->path, "the click is busy: try again");
        return;
    }
    hub_click_save(h);
    osc_feedback_change(h, click_paths[p], NULL, hub_click_value(h, p));
}

// /mix/<mix>: a musician's mix (c->c) or main (NULL); a musician's own
// controller, their own only.
static int resolve_mix_only(struct hub *h, struct osc_call *c)
{
    const char *mixname = c->m.var[0];
    struct hub_client *mc = NULL;
    if (strcmp(mixname, "me") == 0 && c->src->relay)
        mc = c->src->relay;
    else if (strcmp(mixname, "main") != 0 && !(mc = find_client(h, mixname))) {
        osc_reply_error(h, c->src, c->path, "no musician of that name is connected");
        return -1;
    }
    if (c->src->relay && mc != c->src->relay) {
        osc_reply_error(h, c->src, c->path, OSC_RELAY_REFUSED);
        return -1;
    }
    c->c = mc;
    return 0;
}

static lo_message float_msg(float v)
{
    lo_message m = lo_message_new();
    lo_message_add_float(m, v);
    return m;
}

// /mix/<mix>/click [dB]: the click's level in a mix (-inf: not in it).
static void cmd_mix_click(struct hub *h, struct osc_call *c)
{
    if (c->v.query) {
        osc_reply(h, c->src, c->path, float_msg(hub_click_mix_db(h, c->c)));
        return;
    }
    hub_click_set_mix(h, c->c, c->v.num[0]);
    char fp[64], sp[64];
    snprintf(fp, sizeof fp, "/mix/%s/click", c->c ? c->c->name : "main");
    snprintf(sp, sizeof sp, "/mix/%s/click", c->c ? "" : "main");
    if (c->c)
        snprintf(sp, sizeof sp, "/mix/%d/click", c->c->slot + 1);
    osc_feedback_change(h, fp, sp, float_msg(hub_click_mix_db(h, c->c)));
    if (!c->c)
        osc_feedback_change(h, "/click/main", NULL, hub_click_value(h, K_MAIN));
}

static void cmd_status(struct hub *h, struct osc_call *call)
{
    const struct osc_src *src = call->src;
    int count = 0;
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        const struct hub_client *c = h->slots[i];
        if (!c || c->state != HUB_CLIENT_ACTIVE)
            continue;
        const struct bb_jbuf_stats *st = &c->st.jb.stats;
        uint64_t rx = atomic_load(&st->received), lost = atomic_load(&st->lost);
        float peak, sq;
        osc_client_level(h, c, &peak, &sq);
        char as[64];
        lo_message m = lo_message_new();
        lo_message_add_int32(m, i + 1);
        lo_message_add_string(m, c->name);
        struct bb_addr addr; // the receive thread moves it when the musician's NAT rebinds
        hub_client_addr(c, &addr);
        lo_message_add_string(m, bb_addr_str(&addr, as, sizeof as));
        char cs[40];
        snprintf(cs, sizeof cs, "%s%s%s", bb_codec_name(c->st.rx_codec), c->st.tx_codec != c->st.rx_codec ? "/" : "",
                 c->st.tx_codec != c->st.rx_codec ? bb_codec_name(c->st.tx_codec) : "");
        lo_message_add_string(m, cs);
        lo_message_add_int32(m, (int32_t)c->channels);
        lo_message_add_float(m, (float)atomic_load(&c->st.rtt_us) / 1000.0f);
        lo_message_add_int32(m, (int32_t)atomic_load(&st->fill));
        lo_message_add_int32(m, (int32_t)atomic_load(&st->target));
        lo_message_add_float(m, rx + lost ? 100.0f * (float)lost / (float)(rx + lost) : 0.0f);
        lo_message_add_float(m, bb_meter_peak_db(peak));
        lo_message_add_int64(m, (int64_t)atomic_load(&st->underruns));
        lo_message_add_int32(m, atomic_load(&st->drift_ppm));
        lo_message_add_int32(m, (int32_t)atomic_load(&st->resampling));
        osc_send(h, &src->peer, "/status/client", m);
        lo_message_free(m);
        lo_message lm = hub_latency_msg(h, c); // after the musician's line, with the same slot
        osc_send(h, &src->peer, "/status/latency", lm);
        lo_message_free(lm);
        count++;
    }
    // The hub's own headroom (hub_load.h), before the end.
    lo_message lm = lo_message_new();
    lo_message_add_int32(lm, (int32_t)h->load.pct);
    lo_message_add_int32(lm, (int32_t)h->load.ceiling_pct);
    lo_message_add_int32(lm, h->load.level);
    lo_message_add_string(lm, hub_load_shed_text(h->load.level));
    lo_message_add_int32(lm, (int32_t)h->load.rt_pct);
    lo_message_add_int32(lm, (int32_t)h->load.rx_pct);
    lo_message_add_int32(lm, (int32_t)h->load.tx_pct);
    lo_message_add_int32(lm, (int32_t)h->load.wall_pct);
    osc_send(h, &src->peer, "/status/load", lm);
    lo_message_free(lm);
    lo_message m = lo_message_new();
    lo_message_add_int32(m, count);
    osc_reply(h, src, "/status/end", m);
}

// ---- the table -----------------------------------------------------------

#define MIX_USAGE  "expected /mix/<mix>/ch/<source>/<gain|fader|pan|mute|solo|sub>"
#define SEND_USAGE "expected /send/<musician>/<gain|fader>"
#define REC_ANSWER "-> i:recording i:take s:dir h:frames_written"
#define LEASE_SPEC {'i', "lease_seconds", 1, OSC_LEASE_MAX, NULL, "lease out of range (1..60 seconds)"}
#define PORT_SPEC  {'i', "reply_port", 0, 65535, NULL, "reply port out of range (0..65535)"}
#define STYLE_SPEC {'s', "style", 0, 0, "names|slots", NULL}
#define ARGS_NONE  {OSC_ARGS_NONE, 0, {{0}}}
/// A mix or send parameter: one number, or none for a query.
#define ARGS_VALUE(name, lo, hi) {OSC_ARGS_QUERY, 1, {{'f', name, lo, hi, NULL, NULL}}}
#define ARGS_SUB   {OSC_ARGS_OPTIONAL, 3, {LEASE_SPEC, PORT_SPEC, STYLE_SPEC}}
#define ARGS_UNSUB {OSC_ARGS_OPTIONAL, 1, {PORT_SPEC}}
#define ARGS_COOKIE                                                                         \
    {OSC_ARGS_OPTIONAL, 2, {{'i', "cookie", -INFINITY, INFINITY, NULL, NULL}, PORT_SPEC}}
/// A row of /mix/<mix>/ch/<source>/NAME.
#define MIX_ROW(NAME, P, ARG, lo, hi, ans, DOC)                                                  \
    {"/mix/<mix>/ch/<source>/" NAME, MIX_USAGE, OSC_ACC_AUTH, 1, 0, P,                     \
     ARGS_VALUE(ARG, lo, hi), resolve_mix, cmd_mix, ans, DOC}

static const struct osc_api_row osc_rows[] = {
    MIX_ROW("gain", P_GAIN, "dB", -INFINITY, 12, "-> f:dB (-inf when silent)",
            "a source's gain in a mix, in dB; below -120 is -inf"),
    MIX_ROW("fader", P_FADER, "position", 0, 1, "-> f:position",
            "the same gain as a fader position (FADER LAW): 0.75 is 0 dB"),
    MIX_ROW("pan", P_PAN, "pan", -1, 1, "-> f:pan", "a source's pan in a mix: -1 left, 0 centre, 1 right"),
    MIX_ROW("mute", P_MUTE, "on", 0, 1, "-> i:0|1", "mutes a source in a mix (0.5 or more is on)"),
    MIX_ROW("solo", P_SOLO, "on", 0, 1, "-> i:0|1", "solos a source in a mix (0.5 or more is on)"),
    MIX_ROW("sub", P_SUB, "on", 0, 1, "-> i:0|1",
            "1: the source is in the mix at all (0.5 or more is on)"),
    {"/mix/<mix>/ch/<source>/<param>", MIX_USAGE, OSC_ACC_AUTH, 1, 1, 0, ARGS_NONE, resolve_mix,
     cmd_mix_unknown, "", "any other parameter: /error \"unknown parameter\", after the mix and source"},
    {"/send/<musician>/gain", SEND_USAGE, OSC_ACC_AUTH, 0, 0, P_GAIN,
     ARGS_VALUE("dB", -INFINITY, 12), resolve_musician, cmd_send, "-> f:dB",
     "a musician's send level, added to their channels in every mix; below -120 is -inf"},
    {"/send/<musician>/fader", SEND_USAGE, OSC_ACC_AUTH, 0, 0, P_FADER,
     ARGS_VALUE("position", 0, 1), resolve_musician, cmd_send, "-> f:position",
     "the same send level as a fader position"},
    {"/mix/<mix>/click", "expected /mix/<mix>/click", OSC_ACC_AUTH, 1, 0, 0,
     ARGS_VALUE("dB", -INFINITY, 12), resolve_mix_only, cmd_mix_click, "-> f:dB (-inf: off)",
     "the click's level in a mix, in dB (default -inf: off); below -120 is -inf"},
    {"/record", NULL, OSC_ACC_AUTH, 0, 0, 0, ARGS_NONE, NULL, cmd_record, REC_ANSWER,
     "whether a take is being recorded (serve --record), its number, directory and frames"},
    {"/record/start", NULL, OSC_ACC_AUTH, 0, 0, 1,
     {OSC_ARGS_OPTIONAL, 1, {{'s', "label", 0, 0, NULL, NULL}}}, NULL, cmd_record,
     REC_ANSWER, "starts a take (the label ends its directory's name); fed back as /record"},
    {"/record/stop", NULL, OSC_ACC_AUTH, 0, 0, 2, ARGS_NONE, NULL, cmd_record, REC_ANSWER,
     "ends the take: every file padded to the same length and closed; fed back as /record"},
    {"/click/on", NULL, OSC_ACC_AUTH, 0, 0, K_ON, {OSC_ARGS_QUERY, 1, {{'i', "on", 0, 1, NULL, NULL}}},
     NULL, cmd_click, "-> i:0|1", "the click on or off (it starts on a downbeat)"},
    {"/click/tempo", NULL, OSC_ACC_AUTH, 0, 0, K_TEMPO, ARGS_VALUE("bpm", 20, 300), NULL,
     cmd_click, "-> f:bpm", "the click's tempo, from the next beat"},
    {"/click/beats", NULL, OSC_ACC_AUTH, 0, 0, K_BEATS,
     {OSC_ARGS_QUERY, 1, {{'i', "beats", 1, BB_CLICK_BEATS_MAX, NULL, NULL}}}, NULL, cmd_click,
     "-> i:beats", "beats per bar (the first accented)"},
    {"/click/accent", NULL, OSC_ACC_AUTH, 0, 0, K_ACCENT, ARGS_VALUE("dB", 0, 12), NULL,
     cmd_click, "-> f:dB", "how much louder the first beat of a bar is (0: no accent)"},
    {"/click/level", NULL, OSC_ACC_AUTH, 0, 0, K_LEVEL, ARGS_VALUE("dB", -60, 6), NULL,
     cmd_click, "-> f:dB", "the click's level (peak of a beat, dBFS) before each mix's level"},
    {"/click/main", NULL, OSC_ACC_AUTH, 0, 0, K_MAIN,
     {OSC_ARGS_QUERY, 1, {{'i', "on", 0, 1, NULL, NULL}}}, NULL, cmd_click, "-> i:0|1",
     "the click in the main mix (and so in its recording) too (default 0)"},
    {"/click/record", NULL, OSC_ACC_AUTH, 0, 0, K_RECORD,
     {OSC_ARGS_QUERY, 1, {{'i', "on", 0, 1, NULL, NULL}}}, NULL, cmd_click, "-> i:0|1",
     "the click recorded as a track of its own, click.wav (default 0)"},
    {"/clients", NULL, OSC_ACC_AUTH, 1, 0, 0, ARGS_NONE, NULL, cmd_clients,
     "-> /clients s:name...", "the connected musicians"},
    {"/info", NULL, OSC_ACC_OPEN, 1, 0, 0, ARGS_NONE, NULL, cmd_info,
     "-> /info i:rate i:period s:version s:codecs i:max_clients i:local_inputs",
     "the hub's JACK rate and period, version, codecs (comma separated), slots and local inputs"},
    {"/slots", NULL, OSC_ACC_AUTH, 1, 0, 0, ARGS_NONE, NULL, cmd_slots,
     "-> /slots (i:slot s:name)...", "the connected musicians by slot"},
    {"/slot/<n>/name", "expected /slot/<1..max clients>/name", OSC_ACC_AUTH, 1, 0, 0,
     {OSC_ARGS_QUERY, 1, {{'s', "name", 0, 0, NULL, NULL}}}, resolve_slot, cmd_slot,
     "-> /slot/<n>/name s:name (\"\" when free)",
     "who is in slot n; with a name, renames that musician (not relayed)"},
    {"/client/<musician>/rename", "expected /client/<musician>/rename", OSC_ACC_AUTH, 0, 0, 0,
     {OSC_ARGS_EXACT, 1, {{'s', "name", 0, 0, NULL, NULL}}}, resolve_rename, cmd_rename, "",
     "renames a connected musician (ports, mixes and stored settings follow)"},
    {"/channels", NULL, OSC_ACC_AUTH, 1, 0, 0, ARGS_NONE, NULL, cmd_channels,
     "-> /channels s:source...", "every source of the mixes"},
    {"/status", NULL, OSC_ACC_AUTH, 0, 0, 0, ARGS_NONE, NULL, cmd_status,
     "-> /status/client... /status/end", "one /status/client per musician, then /status/end"},
    {"/stats", NULL, OSC_ACC_AUTH, 0, 0, 0, ARGS_NONE, NULL, cmd_stats,
     "-> /stats (s:key h:value)...", "the hub's counters"},
    {"/auth", NULL, OSC_ACC_OPEN, 0, 0, 0, {OSC_ARGS_EXACT, 1, {{'s', "password", 0, 0, NULL, NULL}}},
     NULL, cmd_auth, "-> /auth i:1",
     "the password: everything but /info from this address and port, until 10 min after its last message"},
    {"/cookie", NULL, OSC_ACC_OPEN, 0, 0, 0, ARGS_COOKIE, NULL, cmd_cookie, "",
     "echoes the hub's /cookie: reply_port (default: this port) may now take leases"},
    {"/subscribe", NULL, OSC_ACC_AUTH, 1, 0, 0, ARGS_SUB, NULL, cmd_subscribe,
     "-> /subscribe i:lease_seconds, or /cookie i:cookie",
     "feedback (default 10 s): every change, /clients, /joined, /left, /renamed, /slot/<n>/name"},
    {"/unsubscribe", NULL, OSC_ACC_AUTH, 1, 0, 0, ARGS_UNSUB, NULL, cmd_unsubscribe,
     "-> /unsubscribe i:0", "ends both leases"},
    {"/meters/subscribe", NULL, OSC_ACC_AUTH, 1, 0, 1, ARGS_SUB, NULL, cmd_subscribe,
     "-> /meters/subscribe i:lease_seconds, or /cookie i:cookie", "a meter bundle 25 times a second (default 10 s)"},
    {"/meters/unsubscribe", NULL, OSC_ACC_AUTH, 1, 0, 1, ARGS_UNSUB, NULL, cmd_unsubscribe,
     "-> /meters/unsubscribe i:0", "ends the meter lease"},
    // Sent by the hub only.
    {"/error", NULL, 0, 1, 0, 0, ARGS_NONE, NULL, NULL, "s:address s:reason",
     "the answer to anything refused"},
    {"/status/client", NULL, 0, 0, 0, 0, ARGS_NONE, NULL, NULL,
     "i:slot s:name s:address s:codec i:channels f:rtt_ms i:jbuf_fill i:jbuf_target "
     "f:loss_pct f:peak_db h:underruns i:drift_ppm i:resampling",
     "a musician, answering /status"},
    {"/status/latency", NULL, 0, 0, 0, 0, ARGS_NONE, NULL, NULL,
     "i:slot s:name f:rtt_ms i:period i:hub_period i:jbuf_fill i:codec_frames f:total_ms "
     "i:musician_jbuf",
     "a musician's round trip from both ends' jitter buffers (bandbridge(1), LATENCY), after "
     "their /status/client"},
    {"/status/load", NULL, 0, 0, 0, 0, ARGS_NONE, NULL, NULL,
     "i:load_pct i:ceiling_pct i:shed_level s:shedding i:rt_pct i:rx_pct i:tx_pct i:wall_pct",
     "the hub's load (its threads' CPU time, percent of a core) and what it sheds, before "
     "/status/end"},
    {"/status/end", NULL, 0, 0, 0, 0, ARGS_NONE, NULL, NULL, "i:count", "the end of /status"},
    {"/joined", NULL, 0, 1, 0, 0, ARGS_NONE, NULL, NULL, "s:name", "feedback: a musician joined"},
    {"/left", NULL, 0, 1, 0, 0, ARGS_NONE, NULL, NULL, "s:name", "feedback: a musician left"},
    {"/renamed", NULL, 0, 1, 0, 0, ARGS_NONE, NULL, NULL, "s:old s:new",
     "feedback: a musician was renamed"},
    {"/meter/ch/<source>", NULL, 0, 1, 0, 0, ARGS_NONE, NULL, NULL, "f:peak_db f:rms_db",
     "meters: a source (a musician, by slot)"},
    {"/meter/mix/<mix>", NULL, 0, 1, 0, 0, ARGS_NONE, NULL, NULL,
     "f:peak_L_db f:peak_R_db f:rms_L_db f:rms_R_db", "meters: a mix"},
};

const struct osc_api_row *osc_api_rows(size_t *n)
{
    *n = BB_ARRAY_LEN(osc_rows);
    return osc_rows;
}

const struct osc_api_row *osc_api_find(const char *path, struct osc_match *m, int *fits)
{
    for (size_t i = 0; i < BB_ARRAY_LEN(osc_rows); i++)
        if (osc_rows[i].fn && osc_match(osc_rows[i].pattern, path, m)) {
            *fits = 1;
            return &osc_rows[i];
        }
    // Not one of them, but starts like a row with variables: misspelt.
    for (size_t i = 0; i < BB_ARRAY_LEN(osc_rows); i++) {
        const struct osc_api_row *r = &osc_rows[i];
        if (r->fn && r->usage && strncmp(path, r->pattern, osc_match_prefix_len(r->pattern)) == 0) {
            *fits = 0;
            return r;
        }
    }
    return NULL;
}

void osc_api_dispatch(struct hub *h, const char *path, const char *types, lo_arg **argv,
                      int argc, const struct osc_src *src)
{
    h->osc->messages++;
    h->osc->relayed += src->relay != NULL;
    struct osc_call c = {.path = path, .src = src, .argc = argc, .types = types, .argv = argv};
    int fits = 0;
    c.row = osc_api_find(path, &c.m, &fits);
    if (!c.row) {
        osc_reply_error(h, src, path, "unknown address");
        return;
    }
    if (src->relay) {
        // The session is the authentication; resolve_mix checks whose mix.
        if (!c.row->relay) {
            osc_reply_error(h, src, path, OSC_RELAY_REFUSED);
            return;
        }
    } else {
        if (c.row->access == OSC_ACC_AUTH && h->osc_password[0] && !osc_authed(h, src)) {
            osc_reply_error(h, src, path, "password required");
            return;
        }
    }
    if (!fits) {
        osc_reply_error(h, src, path, c.row->usage);
        return;
    }
    if (c.row->resolve && c.row->resolve(h, &c) < 0)
        return;
    char why[128];
    if (osc_args_check(&c.row->args, types, argv, argc, &c.v, why, sizeof why) < 0) {
        osc_reply_error(h, src, path, why);
        return;
    }
    c.row->fn(h, &c);
}

void hub_osc_doc(FILE *f)
{
    fprintf(f, "bandbridge serve: OSC addresses (bandbridge-osc(7) has them all).\n"
               "[password]: with --osc-password, needs /auth first from the same address and\n"
               "port (everything but /info, /auth and /cookie);\n"
               "[relayed]: a musician's own controller (join --osc-port) may send it, /mix of\n"
               "their own mix only (me, their name or slot). Refused: /error s:address s:reason.\n");
    for (int sent = 0; sent < 2; sent++) {
        fprintf(f, sent ? "\nSent by the hub:\n" : "\nReceived:\n");
        for (size_t i = 0; i < BB_ARRAY_LEN(osc_rows); i++) {
            const struct osc_api_row *r = &osc_rows[i];
            if (r->hidden || (r->fn == NULL) != sent)
                continue;
            char args[160];
            if (sent)
                snprintf(args, sizeof args, "%s", r->answer);
            else
                osc_args_format(&r->args, args, sizeof args);
            fprintf(f, "%s%s%s\n", r->pattern, args[0] ? " " : "", args);
            fprintf(f, "    %s%s%s", sent                              ? ""
                                     : r->access == OSC_ACC_AUTH   ? "[password] "
                                                                   : "",
                    !sent && r->relay ? "[relayed] " : "", r->doc);
            fprintf(f, "%s%s\n", !sent && r->answer[0] ? "; " : "", sent ? "" : r->answer);
        }
    }
}
