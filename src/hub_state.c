// SPDX-License-Identifier: GPL-2.0-or-later
// hub_state.c: the hub's persistent state: stored mixes <-> live mixes,
// and the JACK connections of the hub's ports as the JACK thread reads
// them (hub_jack.h). Control thread only.
//
// Stored mixes name their sources ("bob_1", "in_2") so a setting survives
// the source being absent or in another slot next time. A live change marks
// the record dirty; hub_state_sync() copies live settings into the record
// and hands it to the store, which writes in debounced batches. A join
// applies what is stored before the musician's first graph is published, so
// the first mixed sample already uses the restored mix.
//
// A rename (hub_rename, from OSC) renames the musician's sources in every
// record, live and stored, so the settings follow the new name; the record
// keeps both the name shown and the JOIN name, and a musician who joins
// again under the JOIN name it had when renamed is shown as renamed.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub.h"
#include "hub_jack.h"
#include "hub_names.h"
#include "log.h"
#include "store_bounds.h"

const char *hub_state_source_name(struct hub *h, int src_id, char *buf, size_t size)
{
    buf[0] = '\0';
    int local0 = BB_SRC_LOCAL(0);
    if (src_id >= local0) {
        if ((unsigned)(src_id - local0) < h->local_inputs)
            hub_local_name(buf, size, (unsigned)(src_id - local0));
        return buf;
    }
    int slot = src_id / BB_MAX_CLIENT_CH, ch = src_id % BB_MAX_CLIENT_CH;
    const struct hub_client *c = h->slots[slot];
    if (c && (unsigned)ch < c->channels)
        hub_source_name(buf, size, c->name, (unsigned)ch);
    return buf;
}

static struct bb_stored_send *find_send(struct bb_stored_client *r, const char *source)
{
    for (unsigned i = 0; i < r->nsends; i++)
        if (strcmp(r->sends[i].source, source) == 0)
            return &r->sends[i];
    return NULL;
}

// A stored value is what the file holds: keep it within what OSC allows.
static void to_live(struct hub_send *d, const struct bb_stored_send *s)
{
    d->gain_db = isnan(s->gain_db) ? 0.0f : s->gain_db > 12.0f ? 12.0f : s->gain_db;
    d->pan = isnan(s->pan) ? 0.0f : s->pan < -1.0f ? -1.0f : s->pan > 1.0f ? 1.0f : s->pan;
    d->mute = s->mute;
    d->solo = s->solo;
    d->sub = s->sub;
}

// Live settings of one mix into its record (sources present now only;
// stored settings for absent sources are kept).
static void to_record(struct hub *h, const struct hub_send *sends, struct bb_stored_client *r)
{
    char name[BB_NAME_MAX + 8];
    for (int id = 0; id < BB_MAX_SOURCES; id++) {
        if (!hub_state_source_name(h, id, name, sizeof name)[0])
            continue;
        struct bb_stored_send *s = find_send(r, name);
        if (!s) {
            if (r->nsends == BB_STORE_MAX_SENDS)
                continue; // full: the oldest settings win
            s = &r->sends[r->nsends++];
            snprintf(s->source, sizeof s->source, "%s", name);
        }
        s->gain_db = sends[id].gain_db;
        s->pan = sends[id].pan;
        s->mute = sends[id].mute;
        s->solo = sends[id].solo;
        s->sub = sends[id].sub;
    }
}

// Applies every stored send of r whose source is present to the live sends.
static void apply_record(struct hub *h, const struct bb_stored_client *r, struct hub_send *sends,
                         const struct hub_client *only)
{
    char name[BB_NAME_MAX + 8];
    for (int id = 0; id < BB_MAX_SOURCES; id++) {
        if (only && id / BB_MAX_CLIENT_CH != only->slot)
            continue;
        if (only && id >= BB_SRC_LOCAL(0))
            continue;
        if (!hub_state_source_name(h, id, name, sizeof name)[0])
            continue;
        for (unsigned i = 0; i < r->nsends; i++)
            if (strcmp(r->sends[i].source, name) == 0)
                to_live(&sends[id], &r->sends[i]);
    }
}

void hub_state_start(struct hub *h)
{
    h->main_rec = calloc(1, sizeof *h->main_rec);
    if (!h->main_rec)
        return;
    if (h->store && bb_store_get_main(h->store, h->main_rec))
        apply_record(h, h->main_rec, h->main_sends, NULL);
}

/// A channel's name until the musician gives it one: "alice_1".
/// (ch < BB_MAX_CLIENT_CH, 8: one digit.)
static void default_channel_name(char out[BB_NAME_MAX], const char *name, unsigned ch)
{
    snprintf(out, BB_NAME_MAX, "%.28s_%c", name, (char)('1' + ch));
}

void hub_state_join(struct hub *h, struct hub_client *c)
{
    c->rec = calloc(1, sizeof *c->rec);
    if (!c->rec)
        return;
    c->restored = h->store && bb_store_get_client(h->store, c->identity, c->rec);
    memcpy(c->rec->identity, c->identity, BB_IDENTITY_SIZE);
    snprintf(c->rec->name, sizeof c->rec->name, "%s", c->name);
    snprintf(c->rec->join_name, sizeof c->rec->join_name, "%s", c->join_name);
    c->rec->channels = c->channels;
    for (unsigned ch = 0; ch < c->channels; ch++)
        if (!c->rec->channel_names[ch][0])
            default_channel_name(c->rec->channel_names[ch], c->name, ch);
    c->rec->last_seen = (int64_t)time(NULL);
    // Its own mix and send level, as it left them.
    if (c->restored) {
        apply_record(h, c->rec, c->sends, NULL);
        c->send_db = isnan(c->rec->send_db) || c->rec->send_db > 12.0f ? 0.0f : c->rec->send_db;
    }
    // How everyone else, and the main mix, heard it last time.
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        struct hub_client *o = h->slots[i];
        if (o && o != c && o->rec)
            apply_record(h, o->rec, o->sends, c);
    }
    if (h->main_rec)
        apply_record(h, h->main_rec, h->main_sends, c);
    c->rec_dirty = 1;
}

void hub_state_shown_name(struct hub *h, const uint8_t *identity, const char *join_name,
                          char *out)
{
    char name[BB_NAME_MAX], joined_as[BB_NAME_MAX];
    snprintf(out, BB_NAME_MAX, "%s", join_name);
    if (!h->store || !bb_store_get_names(h->store, identity, name, joined_as) || !name[0] ||
        strcmp(name, join_name) == 0 || strcmp(joined_as, join_name) != 0)
        return; // not renamed, or the musician chose another name since
    const char *why = hub_name_refused(h, name, NULL);
    if (why) {
        bb_info("%s was renamed %s, but cannot be now (%s): shown as %s", join_name, name, why,
                join_name);
        return;
    }
    snprintf(out, BB_NAME_MAX, "%s", name);
}

void hub_state_rename(struct hub *h, struct hub_client *c, const char *old)
{
    // Musicians who are away (and the store's copies of those who are here).
    bb_store_rename(h->store, c->identity, h->jack_name, old, c->name);
    // Those who are here: their records are what hub_state_sync() stores.
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        struct hub_client *o = h->slots[i];
        if (o && o->rec &&
            bb_store_rename_in(o->rec->sends, &o->rec->nsends, o->rec->conns, o->rec->nconns,
                               h->jack_name, old, c->name, o == c))
            o->rec_dirty = 1;
    }
    if (h->main_rec && bb_store_rename_in(h->main_rec->sends, &h->main_rec->nsends,
                                          h->main_rec->conns, h->main_rec->nconns, h->jack_name,
                                          old, c->name, 0))
        h->main_dirty = 1;
    if (!c->rec)
        return;
    snprintf(c->rec->name, sizeof c->rec->name, "%s", c->name);
    char def[BB_NAME_MAX];
    for (unsigned ch = 0; ch < c->channels; ch++) {
        // Default channel names ("alice_1") follow; others are the musician's.
        default_channel_name(def, old, ch);
        if (strcmp(c->rec->channel_names[ch], def) == 0)
            default_channel_name(c->rec->channel_names[ch], c->name, ch);
    }
    c->rec_dirty = 1;
}

void hub_state_mark(struct hub *h, struct hub_client *c)
{
    if (c)
        c->rec_dirty = 1;
    else
        h->main_dirty = 1;
}

/// How often the age of stored musicians (--forget-after) is looked at.
#define FORGET_CHECK_S 3600

// [ctl] The store's bounds (store_bounds.h): the cap at every sync (a
// count compared, unless over), the age at start and once an hour.
static void forget(struct hub *h, int64_t now)
{
    static int64_t aged_at; // [ctl] when the age was last applied
    int64_t age = 0;
    if (h->forget_days && (!aged_at || now - aged_at >= FORGET_CHECK_S)) {
        age = (int64_t)h->forget_days * 86400;
        aged_at = now;
    }
    if (!age && (!h->max_identities || bb_store_count(h->store) <= h->max_identities))
        return;
    int n = bb_store_forget(h->store, now, age, h->max_identities);
    if (n > 0)
        bb_info("forgot %d stored musician%s (not seen for %u days, or the least recently seen "
                "beyond %u: --forget-after, --max-identities)",
                n, n == 1 ? "" : "s", h->forget_days, h->max_identities);
}

void hub_state_sync(struct hub *h, int force)
{
    if (!h->store)
        return;
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        struct hub_client *c = h->slots[i];
        if (!c || !c->rec || !c->rec_dirty)
            continue;
        to_record(h, c->sends, c->rec);
        c->rec->send_db = c->send_db;
        c->rec->last_seen = (int64_t)time(NULL);
        bb_store_put_client(h->store, c->rec);
        c->rec_dirty = 0;
    }
    if (h->main_dirty && h->main_rec) {
        to_record(h, h->main_sends, h->main_rec);
        bb_store_put_main(h->store, h->main_rec);
        h->main_dirty = 0;
    }
    forget(h, (int64_t)time(NULL));
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    bb_store_flush(h->store, force ? UINT64_MAX : now_ms);
}

// The connections the JACK thread read of port `port` (short name
// port_short) into r, replacing r's entries of that port; returns whether
// anything changed (compared as a set).
static int merge_port(const struct hub_jack_report *rp, unsigned port, const char *port_short,
                      struct bb_stored_client *r)
{
    unsigned old = 0, same = 0, n = 0;
    for (unsigned i = 0; i < r->nconns; i++)
        if (strcmp(r->conns[i].port, port_short) == 0)
            old++;
    for (unsigned k = 0; k < rp->nconns; k++) {
        if (rp->conns[k].port != port)
            continue;
        n++;
        for (unsigned i = 0; i < r->nconns; i++)
            if (strcmp(r->conns[i].port, port_short) == 0 &&
                strcmp(r->conns[i].peer, rp->conns[k].peer) == 0)
                same++;
    }
    if (same == old && old == n)
        return 0;
    unsigned k = 0;
    for (unsigned i = 0; i < r->nconns; i++)
        if (strcmp(r->conns[i].port, port_short) != 0)
            r->conns[k++] = r->conns[i];
    r->nconns = k;
    const unsigned cap = BB_ARRAY_LEN(r->conns);
    for (unsigned i = 0; i < rp->nconns && r->nconns < cap; i++) {
        if (rp->conns[i].port != port)
            continue;
        struct bb_stored_conn *sc = &r->conns[r->nconns++];
        snprintf(sc->port, sizeof sc->port, "%s", port_short);
        snprintf(sc->peer, sizeof sc->peer, "%s", rp->conns[i].peer);
        sc->output = rp->conns[i].output;
    }
    return 1;
}

void hub_state_conns(struct hub *h, const struct hub_jack_report *rp)
{
    struct hub_client *c = rp->c;
    struct bb_stored_client *r = c ? c->rec : h->main_rec;
    if (!r)
        return;
    // Ports are named from the name they have here and now: a snapshot
    // taken before a rename lands under the new name, as the rename moved
    // the stored ones.
    char pn[BB_NAME_MAX + 16];
    int changed = 0;
    for (unsigned i = 0; i < rp->nports && i < BB_ARRAY_LEN(rp->present); i++) {
        if (!rp->present[i])
            continue;
        if (c)
            hub_port_name(pn, sizeof pn, c->name, c->channels, i);
        else
            hub_own_port_name(pn, sizeof pn, h->local_inputs, i);
        changed |= merge_port(rp, i, pn, r);
    }
    if (!changed)
        return;
    if (!c)
        h->main_dirty = 1;
    else if (h->slots[c->slot] == c)
        c->rec_dirty = 1;
    else if (h->store)
        bb_store_put_client(h->store, r); // departed: its record was final but for this
}

// ---- the client table's observer ----

static void on_joined(struct hub *h, struct hub_client *c, void *arg)
{
    (void)arg;
    hub_state_join(h, c);
}

static void on_leaving(struct hub *h, struct hub_client *c, enum hub_why why, void *arg)
{
    (void)h, (void)why, (void)arg;
    c->rec_dirty = 1; // its last-seen time
}

static void on_removed(struct hub *h, struct hub_client *c, void *arg)
{
    (void)c, (void)arg;
    hub_state_sync(h, 0); // its record is final: to the store while it is listed
}

static void on_renamed(struct hub *h, struct hub_client *c, const char *old, void *arg)
{
    (void)arg;
    hub_state_rename(h, c, old);
}

static void on_mix_changed(struct hub *h, struct hub_client *mc, void *arg)
{
    (void)arg;
    hub_state_mark(h, mc);
}

const struct hub_clients_observer hub_state_observer = {
    .joined = on_joined,
    .leaving = on_leaving,
    .removed = on_removed,
    .renamed = on_renamed,
    .mix_changed = on_mix_changed,
};
