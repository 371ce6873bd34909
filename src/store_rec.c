// SPDX-License-Identifier: GPL-2.0-or-later
// store_rec.c: the store's records in memory (see store_rec.h): the table
// of musicians' records, their dirty marks, and a record to and from the
// public bb_stored_client. No SQLite here.
#include "store_rec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store_db.h"

// ---- small helpers --------------------------------------------------------

// Copies a possibly unterminated field of src_size bytes, truncating to fit.
void store_copy_field(char *dst, size_t dst_size, const char *src, size_t src_size)
{
    size_t n = strnlen(src, src_size);
    if (n >= dst_size)
        n = dst_size - 1;
    memcpy(dst, src, n);
    memset(dst + n, 0, dst_size - n);
}

float store_sane_gain(float db)
{
    return isnan(db) ? -INFINITY : db;
}

void store_rec_free_lists(struct rec *r)
{
    free(r->sends);
    free(r->conns);
    r->sends = NULL;
    r->conns = NULL;
    r->nsends = r->nconns = 0;
}

struct rec *store_find_rec(const struct bb_store *s, const uint8_t id[BB_IDENTITY_SIZE])
{
    for (size_t i = 0; i < s->nrecs; i++) // a hub knows a few hundred musicians at most
        if (memcmp(s->recs[i]->identity, id, BB_IDENTITY_SIZE) == 0)
            return s->recs[i];
    return NULL;
}

struct rec *store_add_rec(struct bb_store *s, const uint8_t id[BB_IDENTITY_SIZE])
{
    if (s->nrecs == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct rec **n = realloc(s->recs, cap * sizeof *n);
        if (!n)
            return NULL;
        s->recs = n;
        s->cap = cap;
    }
    struct rec *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    memcpy(r->identity, id, BB_IDENTITY_SIZE);
    s->recs[s->nrecs++] = r;
    return r;
}

void store_set_dirty(struct bb_store *s, struct rec *r)
{
    if (!r->dirty) {
        r->dirty = 1;
        s->ndirty++;
    }
}

struct store_setting *store_find_setting(struct bb_store *s, const char *key)
{
    for (unsigned i = 0; i < s->nsettings; i++)
        if (strcmp(s->settings[i].key, key) == 0)
            return &s->settings[i];
    return NULL;
}

void store_setting_dirty(struct bb_store *s, struct store_setting *st)
{
    if (!st->dirty) {
        st->dirty = 1;
        s->ndirty++;
    }
}

void store_mark_all_dirty(struct bb_store *s)
{
    for (unsigned i = 0; i < s->nsettings; i++)
        store_setting_dirty(s, &s->settings[i]);
    for (size_t i = 0; i < s->nrecs; i++)
        store_set_dirty(s, s->recs[i]);
    if (s->has_main)
        store_set_dirty(s, &s->main);
}

// ---- records <-> the public struct ---------------------------------------

// Normalises c into r (lists allocated; strings terminated; NaN gains -inf).
int store_rec_from_client(struct rec *r, const struct bb_stored_client *c)
{
    memset(r, 0, sizeof *r);
    memcpy(r->identity, c->identity, BB_IDENTITY_SIZE);
    store_copy_field(r->name, sizeof r->name, c->name, sizeof c->name);
    store_copy_field(r->join_name, sizeof r->join_name, c->join_name, sizeof c->join_name);
    r->channels = c->channels < BB_MAX_CLIENT_CH ? c->channels : BB_MAX_CLIENT_CH;
    for (unsigned ch = 0; ch < BB_MAX_CLIENT_CH; ch++)
        store_copy_field(r->channel_names[ch], BB_NAME_MAX, c->channel_names[ch], BB_NAME_MAX);
    r->send_db = store_sane_gain(c->send_db);
    r->click_db = store_sane_gain(c->click_db);
    r->last_seen = c->last_seen;
    unsigned ns = c->nsends < BB_STORE_MAX_SENDS ? c->nsends : BB_STORE_MAX_SENDS;
    unsigned nc = c->nconns < BB_ARRAY_LEN(c->conns) ? c->nconns : BB_ARRAY_LEN(c->conns);
    if (ns && !(r->sends = calloc(ns, sizeof *r->sends)))
        return -1;
    if (nc && !(r->conns = calloc(nc, sizeof *r->conns))) {
        store_rec_free_lists(r);
        return -1;
    }
    for (unsigned i = 0; i < ns; i++) {
        const struct bb_stored_send *a = &c->sends[i];
        struct bb_stored_send *b = &r->sends[i];
        store_copy_field(b->source, sizeof b->source, a->source, sizeof a->source);
        b->gain_db = store_sane_gain(a->gain_db);
        b->pan = isnan(a->pan) ? 0.0f : a->pan;
        b->mute = a->mute != 0;
        b->solo = a->solo != 0;
        b->sub = a->sub != 0;
    }
    for (unsigned i = 0; i < nc; i++) {
        const struct bb_stored_conn *a = &c->conns[i];
        struct bb_stored_conn *b = &r->conns[i];
        store_copy_field(b->port, sizeof b->port, a->port, sizeof a->port);
        store_copy_field(b->peer, sizeof b->peer, a->peer, sizeof a->peer);
        b->output = a->output != 0;
    }
    r->nsends = ns;
    r->nconns = nc;
    return 0;
}

void store_rec_to_client(const struct rec *r, struct bb_stored_client *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->identity, r->identity, BB_IDENTITY_SIZE);
    memcpy(out->name, r->name, sizeof out->name);
    memcpy(out->join_name, r->join_name, sizeof out->join_name);
    out->channels = r->channels;
    memcpy(out->channel_names, r->channel_names, sizeof out->channel_names);
    out->send_db = r->send_db;
    out->click_db = r->click_db;
    out->last_seen = r->last_seen;
    out->nsends = r->nsends;
    out->nconns = r->nconns;
    if (r->nsends)
        memcpy(out->sends, r->sends, r->nsends * sizeof *r->sends);
    if (r->nconns)
        memcpy(out->conns, r->conns, r->nconns * sizeof *r->conns);
}

static int same_send(const struct bb_stored_send *a, const struct bb_stored_send *b)
{
    return strcmp(a->source, b->source) == 0 && a->gain_db == b->gain_db && a->pan == b->pan &&
           a->mute == b->mute && a->solo == b->solo && a->sub == b->sub;
}

static int same_conn(const struct bb_stored_conn *a, const struct bb_stored_conn *b)
{
    return strcmp(a->port, b->port) == 0 && strcmp(a->peer, b->peer) == 0 &&
           a->output == b->output;
}

int store_same_rec(const struct rec *a, const struct rec *b)
{
    if (strcmp(a->name, b->name) != 0 || strcmp(a->join_name, b->join_name) != 0 ||
        a->channels != b->channels ||
        a->send_db != b->send_db || a->click_db != b->click_db || a->last_seen != b->last_seen || a->nsends != b->nsends ||
        a->nconns != b->nconns)
        return 0;
    for (unsigned ch = 0; ch < BB_MAX_CLIENT_CH; ch++)
        if (strcmp(a->channel_names[ch], b->channel_names[ch]) != 0)
            return 0;
    for (unsigned i = 0; i < a->nsends; i++)
        if (!same_send(&a->sends[i], &b->sends[i]))
            return 0;
    for (unsigned i = 0; i < a->nconns; i++)
        if (!same_conn(&a->conns[i], &b->conns[i]))
            return 0;
    return 1;
}

// Replaces dst's content by src's (src's lists move; dst's old lists freed).
void store_rec_replace(struct rec *dst, struct rec *src)
{
    int dirty = dst->dirty;
    store_rec_free_lists(dst);
    *dst = *src;
    dst->dirty = dirty;
    src->sends = NULL;
    src->conns = NULL;
}
