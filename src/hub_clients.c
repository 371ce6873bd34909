// SPDX-License-Identifier: GPL-2.0-or-later
// hub_clients.c: the client table (hub_clients.h). Control thread only.
//
// DESIGN. The control thread is the only writer of client state, and this
// file is the only code that writes it: joins (admit), leaves and timeouts
// (remove, advance, sweep), renames and mix settings. What others must do
// about a change (tell the OSC controllers, store it, send a LEAVE) they do
// in the callbacks they registered: the table knows none of them.
//
// A leave (or a musician found silent for --timeout) is two graph
// publications: first the musician's channels and mix are ramped to
// silence (FADING), and once the callback reports that ramp finished, a
// graph without the musician is published (REMOVED). When every reader
// (callback, receive and send threads) has acknowledged that graph, the
// musician leaves the table and goes to the JACK thread, which unregisters
// its ports and reports back; then it is freed. The callback never waits for
// any of it, and never sees a port that is going away.
//
// A rename is control-thread work only: the name is read by no other
// thread, so no graph is published for it; the JACK thread renames the
// ports in place (same port: the callback's handles and every connection
// stay).
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hub_clients.h"
#include "hub_names.h"
#include "hub_graph.h"
#include "hub_jack.h"
#include "log.h"

/// Tells every observer with a callback `ev`.
#define NOTIFY(h, ev, ...)                                                   \
    do {                                                                     \
        for (unsigned i_ = 0; i_ < (h)->nobservers; i_++)                    \
            if ((h)->observers[i_]->ev)                                      \
                (h)->observers[i_]->ev((h), __VA_ARGS__, (h)->observers[i_]->arg); \
    } while (0)

static const struct hub_send default_send = {.gain_db = 0.0f, .pan = 0.0f, .sub = 1};

void hub_clients_init(struct hub *h)
{
    for (int s = 0; s < BB_MAX_SOURCES; s++)
        h->main_sends[s] = default_send;
}

int hub_clients_observe(struct hub *h, const struct hub_clients_observer *o)
{
    if (h->nobservers == HUB_MAX_OBSERVERS)
        return -1;
    h->observers[h->nobservers++] = o;
    return 0;
}

// The musician's stream (stream.h): its channels in, its personal mix out.
int hub_client_stream_open(struct hub *h, struct hub_client *c, const struct bb_join *j,
                           unsigned target, char *err, size_t err_size)
{
    c->peer_period = j->period; // for its latency estimate (latency.h)
    const struct bb_stream_config cfg = {
        .session = c->session,
        .rate = h->rate,
        .tx_codec = c->st.tx_codec,
        .tx_channels = BB_MIX_CH,
        .tx_frames = c->st.tx_frames,
        .kbps = j->kbps,
        .complexity = (int)h->mix_complexity, // one encoder per musician: keep it cheap
        // A centred mix (left = right to the bit) is encoded once, if the
        // musician's decoder knows one-block payloads.
        .allow_mono = (j->flags & BB_JOIN_MONO_OK) != 0,
        .rx_codec = c->st.rx_codec,
        .rx_channels = j->channels,
        .rx_frames = c->st.rx_frames,
        .jitter = target,
        .drift_comp = h->drift_comp,
        .conceal_budget = &h->eng.rt_conceal_left,
    };
    c->tx_complexity = cfg.complexity;
    return bb_stream_open(&c->st, &cfg, err, err_size);
}

unsigned hub_active_count(const struct hub *h)
{
    unsigned n = 0;
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        n += h->slots[i] && h->slots[i]->state == HUB_CLIENT_ACTIVE;
    return n;
}

void hub_client_stream_close(struct hub_client *c)
{
    bb_stream_close(&c->st);
}

struct hub_client *hub_clients_new(int slot)
{
    struct hub_client *c = calloc(1, sizeof *c);
    if (c)
        c->slot = slot;
    return c;
}

void hub_clients_free(struct hub_client *c)
{
    hub_client_stream_close(c);
    free(c->rec);
    free(c);
}

struct hub_client *hub_clients_slot(struct hub *h, unsigned slot)
{
    return slot < BB_MAX_CLIENTS ? h->slots[slot] : NULL;
}

int hub_clients_pick_slot(struct hub *h, const uint8_t *identity)
{
    // Slots stay within 1..--max-clients, the numbers controllers see.
    int slot = -1, unused = -1, free_slot = -1, count = 0;
    for (int i = 0; i < (int)h->max_clients; i++) {
        if (h->slots[i]) {
            count++;
            continue;
        }
        if (h->slot_known[i] && memcmp(h->slot_identity[i], identity, BB_IDENTITY_SIZE) == 0)
            slot = i;
        if (!h->slot_known[i] && unused < 0)
            unused = i;
        if (free_slot < 0)
            free_slot = i;
    }
    if (slot < 0)
        slot = unused >= 0 ? unused : free_slot;
    return slot < 0 || count >= (int)h->max_clients ? -1 : slot;
}

void hub_clients_admit(struct hub *h, struct hub_client *c)
{
    int slot = c->slot;
    c->state = HUB_CLIENT_ACTIVE;
    uint64_t now = bb_now_ns();
    c->joined_ns = now;
    atomic_store(&c->st.last_heard_ns, now);
    // Everyone hears everyone, themselves included, at 0 dB, centred.
    for (int s = 0; s < BB_MAX_SOURCES; s++)
        c->sends[s] = default_send;
    for (unsigned ch = 0; ch < BB_MAX_CLIENT_CH; ch++) {
        int id = BB_SRC_CLIENT(slot, ch);
        h->main_sends[id] = default_send;
        for (int i = 0; i < BB_MAX_CLIENTS; i++)
            if (h->slots[i])
                h->slots[i]->sends[id] = default_send;
    }
    h->slots[slot] = c;
    memcpy(h->slot_identity[slot], c->identity, BB_IDENTITY_SIZE);
    h->slot_known[slot] = 1;
    NOTIFY(h, joined, c); // the store first: stored mixes, before the first graph with c
    h->dirty = 1;
    hub_publish(h);
}

struct hub_client *hub_clients_find_identity(struct hub *h, const uint8_t *id)
{
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i] && memcmp(h->slots[i]->identity, id, BB_IDENTITY_SIZE) == 0)
            return h->slots[i];
    return NULL;
}

struct hub_client *hub_find_name(struct hub *h, const char *name)
{
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i] && h->slots[i]->state == HUB_CLIENT_ACTIVE &&
            strcmp(h->slots[i]->name, name) == 0)
            return h->slots[i];
    return NULL;
}

const char *hub_name_invalid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= BB_NAME_MAX)
        return "a name is 1 to 31 characters";
    char clean[BB_NAME_MAX];
    bb_sanitize_name(clean, sizeof clean, name);
    if (strcmp(clean, name) != 0)
        return "a name may only have letters, digits, '-', '_' and '.'";
    // The reserved words in any case: Main and main are one name.
    char low[BB_NAME_MAX];
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    unsigned k;
    size_t len;
    if (strcmp(low, "main") == 0 || hub_parse_local(low, &k))
        return "main and in_<k> are reserved by the hub";
    if (strcmp(low, "me") == 0 ||
        (hub_parse_channel(low, &len, &k) && len == 2 && strncmp(low, "me", 2) == 0))
        return "me and me_<k> are reserved: a musician's own controller says me";
    if (strspn(name, "0123456789.") == n)
        return "a name of digits and dots would read as a slot number (n or n.k)";
    return NULL;
}

const char *hub_name_clash(struct hub *h, const char *name, const struct hub_client *self,
                           const struct hub_client **with)
{
    size_t n = strlen(name);
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        const struct hub_client *o = h->slots[i];
        if (!o || o == self)
            continue;
        *with = o;
        // Still listed while leaving: its ports have that name until freed.
        if (strcasecmp(o->name, name) == 0)
            return "another musician has that name";
        // name = o's name + _<k>, or o's name = name + _<k>: a source
        // "bob_2" would mean two things.
        size_t on = strlen(o->name);
        const char *longer = n > on ? name : o->name, *shorter = n > on ? o->name : name;
        size_t sn = n > on ? on : n;
        if (strncasecmp(longer, shorter, sn) == 0 && longer[sn] == '_' && longer[sn + 1] &&
            strspn(longer + sn + 1, "0123456789") == strlen(longer + sn + 1))
            return "another musician's channel names would collide (name_<k>)";
    }
    *with = NULL;
    return NULL;
}

const char *hub_name_refused(struct hub *h, const char *name, const struct hub_client *self)
{
    const struct hub_client *with;
    const char *why = hub_name_invalid(name);
    return why ? why : hub_name_clash(h, name, self, &with);
}

int hub_rename(struct hub *h, struct hub_client *c, const char *name, const char **why)
{
    if (c->state != HUB_CLIENT_ACTIVE) {
        *why = "no musician of that name is connected";
        return -1;
    }
    if (strcmp(name, c->name) == 0)
        return 0; // already so: nothing to do, nothing to announce
    if ((*why = hub_name_refused(h, name, c)))
        return -1;
    char old[BB_NAME_MAX];
    snprintf(old, sizeof old, "%s", c->name);
    // Connections made since the last snapshot, under the old port names,
    // so the stored ones are complete before they are renamed.
    // (The JACK thread reads them before it renames the ports: it does
    // what it is asked in order, and the report is taken by their index.)
    hub_jack_snapshot(h, c);
    hub_jack_rename(h, c, name);
    snprintf(c->name, sizeof c->name, "%s", name);
    NOTIFY(h, renamed, c, old);
    bb_info("%s is now called %s (slot %d): ports, mixes and stored settings follow", old,
            c->name, c->slot + 1);
    return 0;
}

// [ctl] Starts a musician's departure. The graph that fades it out is
// published by hub_clients_advance(), once for every departure of this loop
// turn: fifty zombies found in one sweep cost one graph, not fifty.
void hub_clients_remove(struct hub *h, struct hub_client *c, enum hub_why why)
{
    if (c->state != HUB_CLIENT_ACTIVE)
        return;
    hub_jack_snapshot(h, c); // routing made since the last snapshot
    c->state = HUB_CLIENT_FADING;
    c->fade_epoch = 0;
    c->leave_ns = bb_now_ns();
    bb_info("%s %s; fading out", c->name, why == HUB_WHY_SILENT ? "went silent" : "left");
    NOTIFY(h, leaving, c, why); // e.g. no longer listed in /clients
}

// [ctl] Moves departing musicians along: FADING -> REMOVED -> freed.
// Returns whether some removal is still in progress.
int hub_clients_advance(struct hub *h)
{
    int pending = 0, fade = 0, gone = 0, freeing = 0;
    uint64_t settled = atomic_load(&h->eng.rt_settled_epoch);
    int rt_running = atomic_load(&h->jack_running);
    // Batch the transitions, so each step costs one graph for everyone.
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        struct hub_client *c = h->slots[i];
        if (!c || c->state == HUB_CLIENT_ACTIVE)
            continue;
        pending = 1;
        if (c->state == HUB_CLIENT_FADING && c->fade_epoch == 0)
            fade = 1;
        else if (c->state == HUB_CLIENT_FADING && (settled >= c->fade_epoch || !rt_running))
            gone = 1, c->state = HUB_CLIENT_REMOVED, c->gone_epoch = 0;
        else if (c->state == HUB_CLIENT_REMOVED && c->gone_epoch == 0)
            gone = 1;
        else if (c->state == HUB_CLIENT_REMOVED && bb_snap_reached(&h->eng.graph, c->gone_epoch))
            freeing = 1;
    }
    if (fade || gone) {
        h->dirty = 1;
        uint64_t epoch = hub_publish(h); // 0: not now, retried next turn
        for (int i = 0; i < BB_MAX_CLIENTS; i++) {
            struct hub_client *c = h->slots[i];
            if (c && c->state == HUB_CLIENT_FADING && c->fade_epoch == 0)
                c->fade_epoch = epoch;
            else if (c && c->state == HUB_CLIENT_REMOVED && c->gone_epoch == 0)
                c->gone_epoch = epoch;
        }
    }
    for (int i = 0; freeing && i < BB_MAX_CLIENTS; i++) {
        struct hub_client *c = h->slots[i];
        if (!c || c->state != HUB_CLIENT_REMOVED || !c->gone_epoch ||
            !bb_snap_reached(&h->eng.graph, c->gone_epoch))
            continue;
        // No reader sees it any more: its slot is free, and its ports go
        // (after whatever the JACK thread was asked before); it is freed at
        // HUB_JACK_GONE (client_gone).
        NOTIFY(h, removed, c); // its record is final: the store takes it now
        h->slots[i] = NULL;
        hub_jack_remove(h, c);
    }
    bb_snap_collect(&h->eng.graph);
    return pending;
}

// [ctl] The JACK thread has unregistered departed musician c's ports.
void hub_clients_gone(struct hub *h, struct hub_client *c)
{
    // Logged now that the ports are really gone: the time is the one to trust.
    unsigned long long rx = atomic_load(&c->st.jb.stats.received),
                       lost = atomic_load(&c->st.jb.stats.lost),
                       late = atomic_load(&c->st.jb.stats.late),
                       under = atomic_load(&c->st.jb.stats.underruns);
    bb_info("%s is gone: ports removed %.1f ms after the leave (received %llu, lost %llu, "
            "late %llu, underruns %llu)",
            c->name, (double)(bb_now_ns() - c->leave_ns) / 1e6, rx, lost, late, under);
    (void)h;
    hub_clients_free(c);
}

// [ctl] Every musician silent for longer than the timeout goes, all in one
// sweep. Returns when the next sweep is due: at the earliest moment a
// musician still heard could time out (plus 1 ms), at most HUB_SWEEP_NS away,
// so a silent musician is dropped right at its timeout, not up to a sweep
// period later.
uint64_t hub_clients_sweep(struct hub *h, uint64_t now)
{
    uint64_t next = now + HUB_SWEEP_NS;
    uint64_t limit = (uint64_t)h->timeout_ms * 1000000ull;
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        struct hub_client *c = h->slots[i];
        if (!c || c->state != HUB_CLIENT_ACTIVE)
            continue;
        uint64_t heard = atomic_load(&c->st.last_heard_ns); // the rx thread may be ahead of now
        if (heard < now && now - heard > limit) {
            hub_clients_remove(h, c, HUB_WHY_SILENT);
        } else if (heard + limit + 1000000u < next) {
            next = heard + limit + 1000000u;
        }
    }
    return next > now ? next : now + 1000000u;
}

const struct hub_send *hub_clients_send(const struct hub *h, const struct hub_client *mc,
                                        unsigned src_id)
{
    return mc ? &mc->sends[src_id] : &h->main_sends[src_id];
}

void hub_clients_set_send(struct hub *h, struct hub_client *mc, unsigned src_id,
                          const struct hub_send *v)
{
    if (mc)
        mc->sends[src_id] = *v;
    else
        h->main_sends[src_id] = *v;
    h->dirty = 1;
    NOTIFY(h, mix_changed, mc);
}

void hub_clients_set_send_db(struct hub *h, struct hub_client *c, float db)
{
    c->send_db = db;
    h->dirty = 1;
    NOTIFY(h, mix_changed, c);
}

