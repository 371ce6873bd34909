// SPDX-License-Identifier: GPL-2.0-or-later
// store.c: persistent hub state in SQLite (WAL, debounced batches, never fatal).
//
// Everything lives in memory (loaded at open); puts mark records dirty and
// bb_store_flush() writes all dirty records in one transaction at most once
// per debounce interval. The database is only ever touched with prepared
// statements and bound parameters: names come from the network.
//
// This file: the public API (open, close, get, put, rename, flush) and the
// batched writes. The database file's life (the default path, opening,
// migrations, a corrupt file set aside, failures, the rules for them) is
// store_db.c and store_db.h; the records in memory are store_rec.c.
#include "store.h"

#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_names.h"
#include "log.h"
#include "store_db.h"
#include "store_rec.h"

#define BACKOFF_MIN_MS 250u       // first write retry when the debounce is shorter

static const uint8_t main_identity[1]; // bound with length 0: X''

static int elapsed(uint64_t now, uint64_t since, uint64_t delay)
{
    return now < since || now - since >= delay; // a clock that went back: due
}

// ---- writing -------------------------------------------------------------

static int run(sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void bind_gain(sqlite3_stmt *q, int i, float db)
{
    if (isinf(db) && db < 0)
        sqlite3_bind_null(q, i);
    else
        sqlite3_bind_double(q, i, db);
}

static int write_rec(struct bb_store *s, const struct rec *r, int is_main, uint64_t *rows)
{
    const void *key = is_main ? (const void *)main_identity : (const void *)r->identity;
    int keylen = is_main ? 0 : BB_IDENTITY_SIZE;
    sqlite3_stmt *q = s->st[ST_PUT_CLIENT];
    sqlite3_bind_blob(q, 1, key, keylen, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, r->channels);
    bind_gain(q, 4, r->send_db);
    sqlite3_bind_int64(q, 5, r->last_seen);
    sqlite3_bind_text(q, 6, r->join_name, -1, SQLITE_STATIC);
    bind_gain(q, 7, r->click_db);
    int rc = run(q);
    for (int d = ST_DEL_NAMES; d <= ST_DEL_CONNS && rc == SQLITE_OK; d++) {
        sqlite3_bind_blob(s->st[d], 1, key, keylen, SQLITE_STATIC);
        rc = run(s->st[d]);
    }
    (*rows)++;
    q = s->st[ST_PUT_NAME];
    for (unsigned ch = 0; ch < BB_MAX_CLIENT_CH && rc == SQLITE_OK; ch++) {
        if (!r->channel_names[ch][0])
            continue;
        sqlite3_bind_blob(q, 1, key, keylen, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, ch);
        sqlite3_bind_text(q, 3, r->channel_names[ch], -1, SQLITE_STATIC);
        rc = run(q);
        (*rows)++;
    }
    q = s->st[ST_PUT_SEND];
    for (unsigned i = 0; i < r->nsends && rc == SQLITE_OK; i++) {
        const struct bb_stored_send *e = &r->sends[i];
        sqlite3_bind_blob(q, 1, key, keylen, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, i);
        sqlite3_bind_text(q, 3, e->source, -1, SQLITE_STATIC);
        bind_gain(q, 4, e->gain_db);
        sqlite3_bind_double(q, 5, e->pan);
        sqlite3_bind_int64(q, 6, e->mute);
        sqlite3_bind_int64(q, 7, e->solo);
        sqlite3_bind_int64(q, 8, e->sub);
        rc = run(q);
        (*rows)++;
    }
    q = s->st[ST_PUT_CONN];
    for (unsigned i = 0; i < r->nconns && rc == SQLITE_OK; i++) {
        const struct bb_stored_conn *e = &r->conns[i];
        sqlite3_bind_blob(q, 1, key, keylen, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, i);
        sqlite3_bind_text(q, 3, e->port, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, e->peer, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 5, e->output);
        rc = run(q);
        (*rows)++;
    }
    return rc;
}

// Writes every dirty record in one transaction. Returns records written or
// -1 (reported; records stay dirty).
static int write_dirty(struct bb_store *s)
{
    uint64_t rows = 0;
    int written = 0;
    int rc = run(s->st[ST_BEGIN]);
    if (rc == SQLITE_OK && s->has_main && s->main.dirty) {
        rc = write_rec(s, &s->main, 1, &rows);
        written++;
    }
    for (size_t i = 0; i < s->nrecs && rc == SQLITE_OK; i++) {
        if (!s->recs[i]->dirty)
            continue;
        rc = write_rec(s, s->recs[i], 0, &rows);
        written++;
    }
    for (unsigned i = 0; i < s->nsettings && rc == SQLITE_OK; i++) {
        const struct store_setting *st = &s->settings[i];
        if (!st->dirty)
            continue;
        sqlite3_bind_text(s->st[ST_PUT_SETTING], 1, st->key, -1, SQLITE_STATIC);
        sqlite3_bind_double(s->st[ST_PUT_SETTING], 2, st->value);
        rc = run(s->st[ST_PUT_SETTING]);
        rows++;
        written++;
    }
    if (rc == SQLITE_OK)
        rc = run(s->st[ST_COMMIT]);
    if (rc == SQLITE_OK) {
        s->main.dirty = 0;
        for (size_t i = 0; i < s->nrecs; i++)
            s->recs[i]->dirty = 0;
        for (unsigned i = 0; i < s->nsettings; i++)
            s->settings[i].dirty = 0;
        s->ndirty = 0;
        s->stats.transactions++;
        s->stats.rows_written += rows;
        return written;
    }

    char msg[400];
    store_describe(s->db, rc, msg, sizeof msg);
    if (!sqlite3_get_autocommit(s->db))
        run(s->st[ST_ROLLBACK]);
    int cls = store_err_class(rc);
    if (cls == ERR_LOCKED) {
        store_report(s, cls,
                     "database %s is locked by another process (another hub using the same "
                     "file?); keeping changes in memory, retrying",
                     s->path);
    } else if (cls == ERR_CORRUPT) {
        // Moved aside and started afresh; everything in memory is rewritten
        // at the next flush.
        store_close_db(s);
        if (store_set_aside(s, msg) != 0 || store_open_db(s) != OPEN_OK)
            s->retry_anchored = 0;
    } else {
        store_report(s, cls, "cannot write database %s: %s; keeping changes in memory, retrying",
                     s->path, msg);
    }
    return -1;
}

// ---- public API ----------------------------------------------------------

struct bb_store *bb_store_open(const char *path, const char *jack_name, unsigned debounce_ms)
{
    struct bb_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->debounce_ms = debounce_ms;
    if (path && strcmp(path, ":memory:") == 0) {
        bb_info("database :memory:: running without persistence");
        s->permanent = 1;
        s->path = strdup(path);
        return s;
    }
    if (path && path[0]) {
        s->path = strdup(path);
        if (!s->path) {
            free(s);
            return NULL;
        }
    } else {
        s->path = store_default_path(jack_name);
        s->make_parent = 1;
        if (!s->path) {
            bb_err("no place for the state database ($XDG_STATE_HOME and $HOME unset); running "
                   "without persistence");
            s->permanent = 1;
            return s;
        }
    }
    if (strlen(s->path) > PATH_MAX) {
        bb_err("database path too long; running without persistence");
        s->permanent = 1;
        return s;
    }
    if (store_open_db(s) == OPEN_NEVER)
        s->permanent = 1;
    return s;
}

void bb_store_close(struct bb_store *s)
{
    if (!s)
        return;
    if (s->ndirty && (s->db || !s->permanent)) {
        // Ignoring the debounce: the clock argument only has to be "later".
        s->has_last = 0;
        s->retry_anchored = 1;
        s->retry_ms = 0;
        bb_store_flush(s, UINT64_MAX);
    }
    if (s->ndirty && s->path && !s->permanent)
        bb_err("database %s: %zu changed mix%s could not be saved", s->path, s->ndirty,
               s->ndirty == 1 ? "" : "es");
    store_close_db(s);
    for (size_t i = 0; i < s->nrecs; i++) {
        store_rec_free_lists(s->recs[i]);
        free(s->recs[i]);
    }
    free(s->recs);
    store_rec_free_lists(&s->main);
    free(s->path);
    free(s);
}

int bb_store_persistent(const struct bb_store *s)
{
    return s && s->db != NULL;
}

const char *bb_store_path(const struct bb_store *s)
{
    return s && s->path ? s->path : "(none)";
}

int bb_store_get_client(struct bb_store *s, const uint8_t identity[BB_IDENTITY_SIZE],
                        struct bb_stored_client *out)
{
    const struct rec *r = s ? store_find_rec(s, identity) : NULL;
    if (!r)
        return 0;
    store_rec_to_client(r, out);
    return 1;
}

int bb_store_get_names(struct bb_store *s, const uint8_t identity[BB_IDENTITY_SIZE], char *name,
                       char *join_name)
{
    const struct rec *r = s ? store_find_rec(s, identity) : NULL;
    if (!r)
        return 0;
    memcpy(name, r->name, BB_NAME_MAX);
    memcpy(join_name, r->join_name, BB_NAME_MAX);
    return 1;
}

// If s names a source or hub port of musician old_name (old_<k>, and with
// mix also mix_old_L / mix_old_R), writes the same name for new_name into
// out and returns 1.
static int renamed_name(const char *s, const char *old_name, const char *new_name, int mix,
                        char *out, size_t size)
{
    size_t n = strlen(old_name);
    char mix_old[BB_NAME_MAX + 8], mix_new[BB_NAME_MAX + 8];
    hub_mix_name(mix_old, sizeof mix_old, old_name);
    size_t m = strlen(mix_old);
    if (mix && strncmp(s, mix_old, m) == 0 && (strcmp(s + m, "_L") == 0 || strcmp(s + m, "_R") == 0)) {
        hub_mix_name(mix_new, sizeof mix_new, new_name);
        return snprintf(out, size, "%s%s", mix_new, s + m) < (int)size;
    }
    size_t len;
    unsigned k;
    if (!hub_parse_channel(s, &len, &k) || len != n || strncmp(s, old_name, n) != 0)
        return 0;
    return snprintf(out, size, "%s%s", new_name, s + n) < (int)size;
}

// The same for a full port name: <jack_name>:<one of old_name's ports>.
static int renamed_port(const char *full, const char *jack_name, const char *old_name,
                        const char *new_name, char *out, size_t size)
{
    size_t j = strlen(jack_name);
    char tail[BB_PORT_NAME_MAX];
    if (strncmp(full, jack_name, j) != 0 || full[j] != ':' ||
        !renamed_name(full + j + 1, old_name, new_name, 1, tail, sizeof tail))
        return 0;
    return snprintf(out, size, "%s:%s", jack_name, tail) < (int)size;
}

int bb_store_rename_in(struct bb_stored_send *sends, unsigned *nsends,
                       struct bb_stored_conn *conns, unsigned nconns, const char *jack_name,
                       const char *old_name, const char *new_name, int own)
{
    int changed = 0;
    char nm[BB_PORT_NAME_MAX];
    // An entry new_<k> gives way when there is an old_<k> to take its place
    // (it was about someone else who had that name).
    unsigned k = 0;
    for (unsigned i = 0; i < *nsends; i++) {
        int gone = 0;
        if (renamed_name(sends[i].source, new_name, old_name, 0, nm, sizeof nm))
            for (unsigned o = 0; o < *nsends && !gone; o++)
                gone = strcmp(sends[o].source, nm) == 0;
        if (gone)
            changed = 1;
        else
            sends[k++] = sends[i];
    }
    *nsends = k;
    for (unsigned i = 0; i < *nsends; i++)
        if (renamed_name(sends[i].source, old_name, new_name, 0, nm, sizeof nm) &&
            strlen(nm) < sizeof sends[i].source) {
            snprintf(sends[i].source, sizeof sends[i].source, "%s", nm);
            changed = 1;
        }
    for (unsigned i = 0; i < nconns; i++) {
        struct bb_stored_conn *c = &conns[i];
        if (renamed_port(c->peer, jack_name, old_name, new_name, nm, sizeof nm) &&
            strlen(nm) < sizeof c->peer) {
            snprintf(c->peer, sizeof c->peer, "%s", nm);
            changed = 1;
        }
        if (own && renamed_name(c->port, old_name, new_name, 1, nm, sizeof nm) &&
            strlen(nm) < sizeof c->port) {
            snprintf(c->port, sizeof c->port, "%s", nm);
            changed = 1;
        }
    }
    return changed;
}

// Renames in one record of the store (own: the renamed musician's).
static void rename_rec(struct bb_store *s, struct rec *r, const char *jack_name,
                       const char *old_name, const char *new_name, int own)
{
    int changed = bb_store_rename_in(r->sends, &r->nsends, r->conns, r->nconns, jack_name,
                                     old_name, new_name, own);
    if (own && strcmp(r->name, new_name) != 0) {
        snprintf(r->name, sizeof r->name, "%s", new_name);
        changed = 1;
    }
    if (changed)
        store_set_dirty(s, r);
}

void bb_store_rename(struct bb_store *s, const uint8_t *identity, const char *jack_name,
                     const char *old_name, const char *new_name)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nrecs; i++)
        rename_rec(s, s->recs[i], jack_name, old_name, new_name,
                   identity && memcmp(s->recs[i]->identity, identity, BB_IDENTITY_SIZE) == 0);
    if (s->has_main)
        rename_rec(s, &s->main, jack_name, old_name, new_name, 0);
}

// Stores c into dst (a record, or the main mix) unless nothing changed.
static void put(struct bb_store *s, struct rec *dst, const struct bb_stored_client *c, int fresh,
                int is_main)
{
    struct rec n;
    if (store_rec_from_client(&n, c) != 0) {
        bb_err("out of memory: a mix change is not stored");
        return;
    }
    if (is_main) { // unused for the main mix
        memset(n.identity, 0, sizeof n.identity);
        memset(n.name, 0, sizeof n.name);
        memset(n.join_name, 0, sizeof n.join_name);
    }
    if (fresh || !store_same_rec(dst, &n)) {
        store_rec_replace(dst, &n);
        store_set_dirty(s, dst);
    }
    store_rec_free_lists(&n);
}

void bb_store_put_client(struct bb_store *s, const struct bb_stored_client *c)
{
    if (!s || !c)
        return;
    struct rec *r = store_find_rec(s, c->identity);
    int fresh = !r;
    if (!r && !(r = store_add_rec(s, c->identity))) {
        bb_err("out of memory: a mix change is not stored");
        return;
    }
    put(s, r, c, fresh, 0);
}

int bb_store_get_main(struct bb_store *s, struct bb_stored_client *out)
{
    if (!s || !s->has_main)
        return 0;
    store_rec_to_client(&s->main, out);
    return 1;
}

void bb_store_put_main(struct bb_store *s, const struct bb_stored_client *m)
{
    if (!s || !m)
        return;
    int fresh = !s->has_main;
    s->has_main = 1;
    put(s, &s->main, m, fresh, 1);
}

int bb_store_get_setting(struct bb_store *s, const char *key, double *value)
{
    struct store_setting *st = s ? store_find_setting(s, key) : NULL;
    if (st)
        *value = st->value;
    return st != NULL;
}

int bb_store_put_setting(struct bb_store *s, const char *key, double value)
{
    if (!s || strlen(key) >= BB_STORE_KEY_MAX || !isfinite(value))
        return -1;
    struct store_setting *st = store_find_setting(s, key);
    if (!st) {
        if (s->nsettings == BB_STORE_MAX_SETTINGS)
            return -1;
        st = &s->settings[s->nsettings++];
        snprintf(st->key, sizeof st->key, "%s", key);
    } else if (st->value == value) {
        return 0;
    }
    st->value = value;
    store_setting_dirty(s, st);
    return 0;
}

int bb_store_flush(struct bb_store *s, uint64_t now_ms)
{
    if (!s)
        return 0;
    if (!s->db) {
        if (s->permanent)
            return 0;
        if (!s->retry_anchored) { // the first call after a failed open starts the clock
            s->retry_anchored = 1;
            s->retry_ms = now_ms;
            return 0;
        }
        if (!elapsed(now_ms, s->retry_ms, RETRY_MS))
            return 0;
        s->retry_ms = now_ms;
        int r = store_open_db(s);
        if (r == OPEN_NEVER)
            s->permanent = 1;
        if (r != OPEN_OK)
            return s->ndirty ? -1 : 0;
        s->has_last = 0; // write what waited at once
    }
    if (s->ndirty == 0)
        return 0;
    if (s->has_last && !elapsed(now_ms, s->last_ms, s->delay_ms))
        return 0;
    int n = write_dirty(s);
    s->has_last = 1;
    s->last_ms = now_ms;
    if (n >= 0) {
        s->fails = 0;
        s->delay_ms = s->debounce_ms;
        store_recovered(s);
    } else {
        // Back off: the debounce (at least BACKOFF_MIN_MS), doubling up to RETRY_MS.
        uint64_t d = s->debounce_ms > BACKOFF_MIN_MS ? s->debounce_ms : BACKOFF_MIN_MS;
        for (unsigned i = 0; i < s->fails && d < RETRY_MS; i++)
            d *= 2;
        s->delay_ms = d < RETRY_MS ? d : RETRY_MS;
        s->fails++;
    }
    return n;
}

int bb_store_due_ms(const struct bb_store *s, uint64_t now_ms)
{
    uint64_t since, delay;
    if (!s)
        return -1;
    if (!s->db) {
        if (s->permanent || s->ndirty == 0)
            return -1;
        if (!s->retry_anchored)
            return 0;
        since = s->retry_ms;
        delay = RETRY_MS;
    } else {
        if (s->ndirty == 0)
            return -1;
        if (!s->has_last)
            return 0;
        since = s->last_ms;
        delay = s->delay_ms;
    }
    if (elapsed(now_ms, since, delay))
        return 0;
    uint64_t left = since + delay - now_ms;
    return left > INT_MAX ? INT_MAX : (int)left;
}

void bb_store_get_stats(const struct bb_store *s, struct bb_store_stats *out)
{
    if (s)
        *out = s->stats;
    else
        memset(out, 0, sizeof *out);
}
