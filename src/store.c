// SPDX-License-Identifier: GPL-2.0-or-later
// store.c: persistent hub state in SQLite (WAL, debounced batches, never fatal).
//
// Everything lives in memory (loaded at open); puts mark records dirty and
// bb_store_flush() writes all dirty records in one transaction at most once
// per debounce interval. The database is only ever touched with prepared
// statements and bound parameters: names come from the network.
//
// Failure handling, in one place so the rules are easy to check:
//   - newer schema, or a database of another application: memory-only,
//     never touched, never retried (a human has to act);
//   - corrupt (SQLITE_CORRUPT, SQLITE_NOTADB, quick_check not "ok"): the file
//     and its -wal/-shm are renamed to <path>.corrupt-<unix time>[.N] and a
//     fresh database is created; nothing is ever deleted or overwritten;
//   - locked, read-only, full, I/O error, cannot open: memory-only at open
//     (reopened every 30 s by bb_store_flush), or records kept dirty at a
//     write (retried after the debounce, backing off to 30 s);
//   - every distinct failure is logged once; a recovery is logged once.
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hub_names.h"
#include "log.h"

#define RETRY_MS       30000u     // reopen interval when memory-only; longest write backoff
#define BACKOFF_MIN_MS 250u       // first write retry when the debounce is shorter
#define BB_APP_ID      0x42427267 // PRAGMA application_id: "BBrg"

// Failure classes, for "log once, and again only when it changes".
enum {
    ERR_NONE = 0,
    ERR_LOCKED = 1000, // above every SQLite primary result code
    ERR_CORRUPT,
    ERR_MKDIR,
    ERR_READONLY_FILE,
    ERR_MOVE_ASIDE,
    ERR_NEWER,
    ERR_FOREIGN,
};

// Schema migrations: migrations[v] takes a database from version v to v + 1
// in one transaction (with PRAGMA user_version). Append; never edit.
//
// The main mix is stored under the empty identity X'' (a musician's identity
// is always BB_IDENTITY_SIZE bytes, so no musician can collide with it).
// Lists keep the caller's order through pos. gain_db and send_db are NULL
// for -inf.
static const char *const migrations[] = {
    // 0 -> 1
    "PRAGMA application_id = 1111650919;" // BB_APP_ID
    "CREATE TABLE client ("
    "  identity  BLOB PRIMARY KEY NOT NULL,"
    "  name      TEXT NOT NULL,"
    "  channels  INTEGER NOT NULL,"
    "  send_db   REAL,"
    "  last_seen INTEGER NOT NULL);"
    "CREATE TABLE channel_name ("
    "  identity BLOB NOT NULL,"
    "  ch       INTEGER NOT NULL,"
    "  name     TEXT NOT NULL,"
    "  PRIMARY KEY (identity, ch));"
    "CREATE TABLE send ("
    "  identity BLOB NOT NULL,"
    "  pos      INTEGER NOT NULL,"
    "  source   TEXT NOT NULL,"
    "  gain_db  REAL,"
    "  pan      REAL,"
    "  mute     INTEGER NOT NULL,"
    "  solo     INTEGER NOT NULL,"
    "  sub      INTEGER NOT NULL,"
    "  PRIMARY KEY (identity, pos));"
    "CREATE TABLE conn ("
    "  identity BLOB NOT NULL,"
    "  pos      INTEGER NOT NULL,"
    "  port     TEXT NOT NULL,"
    "  peer     TEXT NOT NULL,"
    "  output   INTEGER NOT NULL,"
    "  PRIMARY KEY (identity, pos));",
    // 1 -> 2: the name a musician joined with, apart from the name shown
    // (an engineer may rename a musician over OSC). Until then they were
    // the same.
    "ALTER TABLE client ADD COLUMN join_name TEXT NOT NULL DEFAULT '';"
    "UPDATE client SET join_name = name;",
};
_Static_assert(BB_ARRAY_LEN(migrations) == BB_STORE_SCHEMA_VERSION,
               "one migration per schema version");
_Static_assert(BB_APP_ID == 1111650919, "application_id in migrations[0]");

// Statements used by a flush, prepared once per open database.
enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_PUT_CLIENT,
    ST_DEL_NAMES,
    ST_DEL_SENDS,
    ST_DEL_CONNS,
    ST_PUT_NAME,
    ST_PUT_SEND,
    ST_PUT_CONN,
    ST_COUNT
};
static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PUT_CLIENT] = "INSERT OR REPLACE INTO client (identity, name, channels, send_db, last_seen,"
                      " join_name) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_DEL_NAMES] = "DELETE FROM channel_name WHERE identity = ?1",
    [ST_DEL_SENDS] = "DELETE FROM send WHERE identity = ?1",
    [ST_DEL_CONNS] = "DELETE FROM conn WHERE identity = ?1",
    [ST_PUT_NAME] = "INSERT INTO channel_name (identity, ch, name) VALUES (?1, ?2, ?3)",
    [ST_PUT_SEND] = "INSERT INTO send (identity, pos, source, gain_db, pan, mute, solo, sub)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_PUT_CONN] = "INSERT INTO conn (identity, pos, port, peer, output)"
                    " VALUES (?1, ?2, ?3, ?4, ?5)",
};

// One stored mix in memory: like bb_stored_client, with lists sized to fit
// (a full bb_stored_client is ~75 KB; a few hundred of them need not be).
struct rec {
    uint8_t                identity[BB_IDENTITY_SIZE];
    char                   name[BB_NAME_MAX];
    char                   join_name[BB_NAME_MAX];
    unsigned               channels;
    char                   channel_names[BB_MAX_CLIENT_CH][BB_NAME_MAX];
    float                  send_db;
    int64_t                last_seen;
    unsigned               nsends, nconns;
    struct bb_stored_send *sends;
    struct bb_stored_conn *conns;
    int                    dirty;
};

struct bb_store {
    char        *path;        // NULL: no usable path (memory only for good)
    int          make_parent; // the default path: create its directory
    sqlite3     *db;          // NULL: memory only
    sqlite3_stmt *st[ST_COUNT];
    unsigned     debounce_ms;
    int          permanent;   // memory only for good: do not retry
    struct rec **recs;
    size_t       nrecs, cap;
    struct rec   main;
    int          has_main;
    size_t       ndirty;      // dirty records, the main mix included
    // Writes: the next one is due delay_ms after last_ms (none yet: now).
    int          has_last;
    uint64_t     last_ms, delay_ms;
    unsigned     fails;
    // Reopening when memory only: due RETRY_MS after retry_ms.
    int          retry_anchored;
    uint64_t     retry_ms;
    int          last_err;    // the failure class last logged, ERR_NONE when fine
    int          loaded;      // the stored mixes were read (at least once)
    struct bb_store_stats stats;
};

static const uint8_t main_identity[1]; // bound with length 0: X''

// ---- small helpers --------------------------------------------------------

// Copies a possibly unterminated field of src_size bytes, truncating to fit.
static void copy_field(char *dst, size_t dst_size, const char *src, size_t src_size)
{
    size_t n = strnlen(src, src_size);
    if (n >= dst_size)
        n = dst_size - 1;
    memcpy(dst, src, n);
    memset(dst + n, 0, dst_size - n);
}

static void copy_column(char *dst, size_t dst_size, sqlite3_stmt *q, int col)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    size_t n = t ? (size_t)sqlite3_column_bytes(q, col) : 0;
    copy_field(dst, dst_size, t ? (const char *)t : "", n);
}

static float sane_gain(float db)
{
    return isnan(db) ? -INFINITY : db;
}

static int elapsed(uint64_t now, uint64_t since, uint64_t delay)
{
    return now < since || now - since >= delay; // a clock that went back: due
}

static int err_class(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return ERR_LOCKED;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return ERR_CORRUPT;
    default:
        return rc & 0xff;
    }
}

// Keeps a message to one printable line: the first line of it, control
// characters replaced (quick_check reports many lines).
static void one_line(char *msg)
{
    static const char banner[] = "*** in database main ***\n";
    if (strncmp(msg, banner, sizeof banner - 1) == 0)
        memmove(msg, msg + sizeof banner - 1, strlen(msg + sizeof banner - 1) + 1);
    char *nl = strchr(msg, '\n');
    if (nl && nl[1])
        snprintf(nl, 5, " ...");
    else if (nl)
        *nl = '\0';
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

// What went wrong, for a log line: SQLite's message and the OS error, or
// which operation failed when SQLite no longer knows the OS error.
static void describe(sqlite3 *db, int rc, char *buf, size_t size)
{
    static const struct {
        int         code;
        const char *what;
    } ops[] = {
        {SQLITE_IOERR_WRITE, "write failed"},   {SQLITE_IOERR_FSYNC, "fsync failed"},
        {SQLITE_IOERR_READ, "read failed"},     {SQLITE_IOERR_SHORT_READ, "file truncated"},
        {SQLITE_IOERR_TRUNCATE, "truncate failed"}, {SQLITE_IOERR_SHMOPEN, "cannot open -shm"},
        {SQLITE_IOERR_SHMSIZE, "cannot grow -shm"}, {SQLITE_IOERR_LOCK, "locking failed"},
        {SQLITE_READONLY_DBMOVED, "file moved or deleted"},
        {SQLITE_READONLY_CANTINIT, "cannot initialise -shm"},
    };
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    int sys = db ? sqlite3_system_errno(db) : 0;
    const char *what = NULL;
    for (size_t i = 0; i < BB_ARRAY_LEN(ops); i++)
        if (ops[i].code == rc)
            what = ops[i].what;
    if ((rc & 0xff) == SQLITE_READONLY && !what)
        what = "the file, its directory or the file system is not writable";
    if (sys)
        snprintf(buf, size, "%s (%s)", msg, strerror(sys));
    else if (what)
        snprintf(buf, size, "%s (%s)", msg, what);
    else
        snprintf(buf, size, "%s", msg);
    one_line(buf);
}

static void rec_free_lists(struct rec *r)
{
    free(r->sends);
    free(r->conns);
    r->sends = NULL;
    r->conns = NULL;
    r->nsends = r->nconns = 0;
}

static struct rec *find_rec(const struct bb_store *s, const uint8_t id[BB_IDENTITY_SIZE])
{
    for (size_t i = 0; i < s->nrecs; i++) // a hub knows a few hundred musicians at most
        if (memcmp(s->recs[i]->identity, id, BB_IDENTITY_SIZE) == 0)
            return s->recs[i];
    return NULL;
}

static struct rec *add_rec(struct bb_store *s, const uint8_t id[BB_IDENTITY_SIZE])
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

static void set_dirty(struct bb_store *s, struct rec *r)
{
    if (!r->dirty) {
        r->dirty = 1;
        s->ndirty++;
    }
}

static void mark_all_dirty(struct bb_store *s)
{
    for (size_t i = 0; i < s->nrecs; i++)
        set_dirty(s, s->recs[i]);
    if (s->has_main)
        set_dirty(s, &s->main);
}

// ---- records <-> the public struct ---------------------------------------

// Normalises c into r (lists allocated; strings terminated; NaN gains -inf).
static int rec_from_client(struct rec *r, const struct bb_stored_client *c)
{
    memset(r, 0, sizeof *r);
    memcpy(r->identity, c->identity, BB_IDENTITY_SIZE);
    copy_field(r->name, sizeof r->name, c->name, sizeof c->name);
    copy_field(r->join_name, sizeof r->join_name, c->join_name, sizeof c->join_name);
    r->channels = c->channels < BB_MAX_CLIENT_CH ? c->channels : BB_MAX_CLIENT_CH;
    for (unsigned ch = 0; ch < BB_MAX_CLIENT_CH; ch++)
        copy_field(r->channel_names[ch], BB_NAME_MAX, c->channel_names[ch], BB_NAME_MAX);
    r->send_db = sane_gain(c->send_db);
    r->last_seen = c->last_seen;
    unsigned ns = c->nsends < BB_STORE_MAX_SENDS ? c->nsends : BB_STORE_MAX_SENDS;
    unsigned nc = c->nconns < BB_ARRAY_LEN(c->conns) ? c->nconns : BB_ARRAY_LEN(c->conns);
    if (ns && !(r->sends = calloc(ns, sizeof *r->sends)))
        return -1;
    if (nc && !(r->conns = calloc(nc, sizeof *r->conns))) {
        rec_free_lists(r);
        return -1;
    }
    for (unsigned i = 0; i < ns; i++) {
        const struct bb_stored_send *a = &c->sends[i];
        struct bb_stored_send *b = &r->sends[i];
        copy_field(b->source, sizeof b->source, a->source, sizeof a->source);
        b->gain_db = sane_gain(a->gain_db);
        b->pan = isnan(a->pan) ? 0.0f : a->pan;
        b->mute = a->mute != 0;
        b->solo = a->solo != 0;
        b->sub = a->sub != 0;
    }
    for (unsigned i = 0; i < nc; i++) {
        const struct bb_stored_conn *a = &c->conns[i];
        struct bb_stored_conn *b = &r->conns[i];
        copy_field(b->port, sizeof b->port, a->port, sizeof a->port);
        copy_field(b->peer, sizeof b->peer, a->peer, sizeof a->peer);
        b->output = a->output != 0;
    }
    r->nsends = ns;
    r->nconns = nc;
    return 0;
}

static void rec_to_client(const struct rec *r, struct bb_stored_client *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->identity, r->identity, BB_IDENTITY_SIZE);
    memcpy(out->name, r->name, sizeof out->name);
    memcpy(out->join_name, r->join_name, sizeof out->join_name);
    out->channels = r->channels;
    memcpy(out->channel_names, r->channel_names, sizeof out->channel_names);
    out->send_db = r->send_db;
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

static int same_rec(const struct rec *a, const struct rec *b)
{
    if (strcmp(a->name, b->name) != 0 || strcmp(a->join_name, b->join_name) != 0 ||
        a->channels != b->channels ||
        a->send_db != b->send_db || a->last_seen != b->last_seen || a->nsends != b->nsends ||
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
static void rec_replace(struct rec *dst, struct rec *src)
{
    int dirty = dst->dirty;
    rec_free_lists(dst);
    *dst = *src;
    dst->dirty = dirty;
    src->sends = NULL;
    src->conns = NULL;
}

// ---- logging failures once ----------------------------------------------

static void report(struct bb_store *s, int cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(struct bb_store *s, int cls, const char *fmt, ...)
{
    s->stats.errors++;
    if (cls == s->last_err)
        return;
    s->last_err = cls;
    char line[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    bb_err("%s", line);
}

static void recovered(struct bb_store *s)
{
    if (s->last_err != ERR_NONE)
        bb_info("database %s writable again", s->path);
    s->last_err = ERR_NONE;
}

// ---- opening -------------------------------------------------------------

static void close_db(struct bb_store *s)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    if (s->db)
        sqlite3_close_v2(s->db);
    s->db = NULL;
}

static int mkdir_parents(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return -1;
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; rc == 0; p++) {
            if (*p != '/' && *p != '\0')
                continue;
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                rc = -1;
            *p = c;
            if (!c)
                break;
        }
    }
    int saved = errno;
    free(dir);
    errno = saved;
    return rc;
}

static int path_exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0 || errno != ENOENT;
}

// "%s%s" into a new string, or NULL.
static char *concat(const char *a, const char *b)
{
    char *p = NULL;
    return asprintf(&p, "%s%s", a, b) < 0 ? NULL : p;
}

static int exists_with(const char *base, const char *sfx)
{
    char *p = concat(base, sfx);
    int r = !p || path_exists(p); // out of memory: do not risk it
    free(p);
    return r;
}

// Renames path (and path-wal, path-shm) to path.corrupt-<unix time>[.N],
// never over an existing file. Returns the new name (malloc'd), or NULL
// with errno set.
static char *move_aside(const char *path)
{
    long long t = (long long)time(NULL);
    char *aside = NULL;
    for (int n = 0; n < 100; n++) {
        int len = n ? asprintf(&aside, "%s.corrupt-%lld.%d", path, t, n)
                    : asprintf(&aside, "%s.corrupt-%lld", path, t);
        if (len < 0) {
            errno = ENOMEM;
            return NULL;
        }
        if (!exists_with(aside, "") && !exists_with(aside, "-wal") && !exists_with(aside, "-shm"))
            break;
        free(aside);
        aside = NULL;
    }
    if (!aside) {
        errno = EEXIST;
        return NULL;
    }
    if (rename(path, aside) != 0) {
        int e = errno;
        free(aside);
        errno = e;
        return NULL;
    }
    static const char *const sfx[] = {"-wal", "-shm"};
    for (size_t i = 0; i < BB_ARRAY_LEN(sfx); i++) {
        char *from = concat(path, sfx[i]), *to = concat(aside, sfx[i]);
        if (from && to && rename(from, to) != 0 && errno != ENOENT)
            bb_warn("could not move %s aside to %s: %s", from, to, strerror(errno));
        free(from);
        free(to);
    }
    return aside;
}

// Runs a statement returning one integer (a PRAGMA); constant SQL only.
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(q, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        *out = 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    return rc;
}

static int query_text(sqlite3 *db, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *q;
    out[0] = '\0';
    int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        copy_column(out, size, q, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    return rc;
}

static int migrate(sqlite3 *db, int64_t from)
{
    for (int64_t v = from; v < BB_STORE_SCHEMA_VERSION; v++) {
        int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return rc;
        char set[64]; // an integer of ours, not data: PRAGMA cannot take a parameter
        snprintf(set, sizeof set, "PRAGMA user_version = %d", (int)v + 1);
        rc = sqlite3_exec(db, migrations[v], NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, set, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            if (!sqlite3_get_autocommit(db))
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        bb_info("database schema migrated to version %d", (int)v + 1);
    }
    return SQLITE_OK;
}

// Reads the lists of one identity into r.
static int load_lists(sqlite3 *db, sqlite3_stmt *qn, sqlite3_stmt *qs, sqlite3_stmt *qc,
                      struct rec *r, const void *key, int keylen)
{
    int rc;
    sqlite3_bind_blob(qn, 1, key, keylen, SQLITE_STATIC);
    while ((rc = sqlite3_step(qn)) == SQLITE_ROW) {
        int64_t ch = sqlite3_column_int64(qn, 0);
        if (ch >= 0 && ch < BB_MAX_CLIENT_CH)
            copy_column(r->channel_names[ch], BB_NAME_MAX, qn, 1);
    }
    sqlite3_reset(qn);
    if (rc != SQLITE_DONE)
        return rc;

    sqlite3_bind_blob(qs, 1, key, keylen, SQLITE_STATIC);
    while ((rc = sqlite3_step(qs)) == SQLITE_ROW) {
        if (r->nsends == BB_STORE_MAX_SENDS)
            continue;
        if (r->nsends % 16 == 0) {
            struct bb_stored_send *n = realloc(r->sends, (r->nsends + 16) * sizeof *n);
            if (!n) {
                rc = SQLITE_NOMEM;
                break;
            }
            r->sends = n;
        }
        struct bb_stored_send *d = &r->sends[r->nsends++];
        memset(d, 0, sizeof *d);
        copy_column(d->source, sizeof d->source, qs, 0);
        d->gain_db = sqlite3_column_type(qs, 1) == SQLITE_NULL
                         ? -INFINITY
                         : sane_gain((float)sqlite3_column_double(qs, 1));
        d->pan = sqlite3_column_type(qs, 2) == SQLITE_NULL ? 0.0f
                                                            : (float)sqlite3_column_double(qs, 2);
        if (isnan(d->pan))
            d->pan = 0.0f;
        d->mute = sqlite3_column_int64(qs, 3) != 0;
        d->solo = sqlite3_column_int64(qs, 4) != 0;
        d->sub = sqlite3_column_int64(qs, 5) != 0;
    }
    sqlite3_reset(qs);
    if (rc != SQLITE_DONE)
        return rc;

    const unsigned maxc = BB_STORE_MAX_CONN * (BB_MAX_CLIENT_CH + 2);
    sqlite3_bind_blob(qc, 1, key, keylen, SQLITE_STATIC);
    while ((rc = sqlite3_step(qc)) == SQLITE_ROW) {
        if (r->nconns == maxc)
            continue;
        if (r->nconns % 16 == 0) {
            struct bb_stored_conn *n = realloc(r->conns, (r->nconns + 16) * sizeof *n);
            if (!n) {
                rc = SQLITE_NOMEM;
                break;
            }
            r->conns = n;
        }
        struct bb_stored_conn *d = &r->conns[r->nconns++];
        memset(d, 0, sizeof *d);
        copy_column(d->port, sizeof d->port, qc, 0);
        copy_column(d->peer, sizeof d->peer, qc, 1);
        d->output = sqlite3_column_int64(qc, 2) != 0;
    }
    sqlite3_reset(qc);
    (void)db;
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

// Loads every stored mix. Records dirty in memory (changed while the
// database could not be had) win over what the file holds.
static int load_all(struct bb_store *s, sqlite3 *db, int64_t ver, unsigned *count)
{
    const char *sql[4] = {
        // A read-only file of schema 1 has no join_name: it was the name.
        ver >= 2 ? "SELECT identity, name, channels, send_db, last_seen, join_name FROM client"
                 : "SELECT identity, name, channels, send_db, last_seen, name FROM client",
        "SELECT ch, name FROM channel_name WHERE identity = ?1",
        "SELECT source, gain_db, pan, mute, solo, sub FROM send WHERE identity = ?1 ORDER BY pos",
        "SELECT port, peer, output FROM conn WHERE identity = ?1 ORDER BY pos",
    };
    sqlite3_stmt *q[4] = {NULL, NULL, NULL, NULL};
    int rc = SQLITE_OK;
    *count = 0;
    for (int i = 0; i < 4 && rc == SQLITE_OK; i++)
        rc = sqlite3_prepare_v2(db, sql[i], -1, &q[i], NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(q[0])) == SQLITE_ROW) {
        rc = SQLITE_OK;
        const void *key = sqlite3_column_blob(q[0], 0);
        int keylen = sqlite3_column_bytes(q[0], 0);
        if (keylen != 0 && keylen != BB_IDENTITY_SIZE)
            continue; // not ours to interpret
        struct rec r;
        memset(&r, 0, sizeof r);
        if (keylen)
            memcpy(r.identity, key, BB_IDENTITY_SIZE);
        copy_column(r.name, sizeof r.name, q[0], 1);
        int64_t ch = sqlite3_column_int64(q[0], 2);
        r.channels = ch < 0 ? 0 : ch > BB_MAX_CLIENT_CH ? BB_MAX_CLIENT_CH : (unsigned)ch;
        r.send_db = sqlite3_column_type(q[0], 3) == SQLITE_NULL
                        ? -INFINITY
                        : sane_gain((float)sqlite3_column_double(q[0], 3));
        r.last_seen = sqlite3_column_int64(q[0], 4);
        copy_column(r.join_name, sizeof r.join_name, q[0], 5);
        if (!r.join_name[0])
            memcpy(r.join_name, r.name, sizeof r.name);
        rc = load_lists(db, q[1], q[2], q[3], &r, r.identity, keylen);
        if (rc != SQLITE_OK) {
            rec_free_lists(&r);
            break;
        }
        struct rec *dst;
        if (keylen == 0) {
            dst = &s->main;
            if (s->has_main && s->main.dirty) {
                rec_free_lists(&r);
                continue;
            }
            s->has_main = 1;
        } else {
            dst = find_rec(s, r.identity);
            if (dst && dst->dirty) {
                rec_free_lists(&r);
                continue;
            }
            if (!dst && !(dst = add_rec(s, r.identity))) {
                rec_free_lists(&r);
                rc = SQLITE_NOMEM;
                break;
            }
        }
        rec_replace(dst, &r);
        if (keylen)
            (*count)++;
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    for (int i = 0; i < 4; i++)
        sqlite3_finalize(q[i]);
    return rc;
}

// A corrupt database (closed by now): renamed aside, never deleted; what
// memory holds is to be written to the fresh one.
static int set_aside(struct bb_store *s, const char *why)
{
    char *aside = move_aside(s->path);
    if (!aside) {
        report(s, ERR_MOVE_ASIDE,
               "database %s is corrupt (%s) and could not be moved aside (%s); running "
               "without persistence, retrying in 30 s",
               s->path, why, strerror(errno));
        return -1;
    }
    s->stats.errors++;
    bb_err("database %s is corrupt (%s); moved it to %s and starting a fresh one", s->path, why,
           aside);
    free(aside);
    mark_all_dirty(s);
    return 0;
}

// When the database cannot be opened for writing (read-only directory or
// file system, permissions), still restore the stored mixes from the file
// if it can be read without writing anything: opened immutable, which is
// only sound when no -wal holds transactions the main file lacks. Returns
// the musicians loaded, or -1. Never reports: the caller's line says it.
static int load_readonly(struct bb_store *s)
{
    struct stat st;
    if (stat(s->path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        return -1;
    char *wal = concat(s->path, "-wal");
    int has_wal = !wal || (stat(wal, &st) == 0 && st.st_size > 0);
    free(wal);
    if (has_wal)
        return -1;
    // file:<path, percent-encoded>?immutable=1
    size_t n = strlen(s->path);
    char *uri = malloc(n * 3 + 32), *u = uri;
    if (!uri)
        return -1;
    u += sprintf(u, "file:");
    for (const unsigned char *p = (const unsigned char *)s->path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/-._~", *p))
            *u++ = (char)*p;
        else
            u += sprintf(u, "%%%02X", *p);
    }
    strcpy(u, "?immutable=1");
    sqlite3 *db = NULL;
    int64_t ver = 0, app = 0;
    unsigned loaded = 0;
    int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                             NULL);
    free(uri);
    if (rc == SQLITE_OK)
        rc = query_int(db, "PRAGMA user_version", &ver);
    if (rc == SQLITE_OK)
        rc = query_int(db, "PRAGMA application_id", &app);
    if (rc == SQLITE_OK && (ver < 1 || ver > BB_STORE_SCHEMA_VERSION || app != BB_APP_ID))
        rc = SQLITE_ERROR;
    if (rc == SQLITE_OK)
        rc = load_all(s, db, ver, &loaded);
    sqlite3_close_v2(db);
    return rc == SQLITE_OK ? (int)loaded : -1;
}

enum { OPEN_OK, OPEN_RETRY, OPEN_NEVER };

// Opens s->path into s->db, creating, migrating and loading it. Reports
// failures (once per kind) and leaves s->db NULL unless OPEN_OK.
static int open_db(struct bb_store *s)
{
    char why[400];
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s->make_parent && mkdir_parents(s->path) != 0) {
            report(s, ERR_MKDIR,
                   "cannot create the directory of database %s: %s; running without "
                   "persistence, retrying in 30 s",
                   s->path, strerror(errno));
            return OPEN_RETRY;
        }
        sqlite3 *db = NULL;
        int64_t ver = 0, app = 0, objects = 0;
        why[0] = '\0';
        unsigned loaded = 0;
        int rc = sqlite3_open_v2(s->path, &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 NULL);
        if (rc == SQLITE_OK) {
            sqlite3_extended_result_codes(db, 1);
            sqlite3_busy_timeout(db, 0); // never wait on the control thread
            // Until we know the file is ours, closing must not write to it
            // (a checkpoint of someone else's -wal would).
            rc = sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
        }
        if (rc == SQLITE_OK)
            rc = query_int(db, "PRAGMA user_version", &ver);
        if (rc == SQLITE_OK)
            rc = query_int(db, "PRAGMA application_id", &app);
        if (rc == SQLITE_OK && ver == 0)
            rc = query_int(db, "SELECT count(*) FROM sqlite_master", &objects);
        if (rc == SQLITE_OK) {
            if (ver > BB_STORE_SCHEMA_VERSION) {
                sqlite3_close_v2(db);
                report(s, ERR_NEWER,
                       "database %s was written by a newer bandbridge (schema %lld); not "
                       "touching it; running without persistence",
                       s->path, (long long)ver);
                return OPEN_NEVER;
            }
            if ((app != 0 && app != BB_APP_ID) || (ver == 0 && objects > 0)) {
                sqlite3_close_v2(db);
                report(s, ERR_FOREIGN,
                       "database %s is not a bandbridge database (application_id %lld, %lld "
                       "schema objects); not touching it; running without persistence",
                       s->path, (long long)app, (long long)objects);
                return OPEN_NEVER;
            }
        }
        if (rc == SQLITE_OK)
            rc = sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, (int *)NULL);
        if (rc == SQLITE_OK) {
            rc = query_text(db, "PRAGMA quick_check", why, sizeof why);
            if (rc == SQLITE_OK && strcmp(why, "ok") != 0)
                rc = SQLITE_CORRUPT;
        }
        int readonly = rc == SQLITE_OK && sqlite3_db_readonly(db, "main") == 1;
        if (rc == SQLITE_OK && !readonly) {
            char mode[32];
            rc = query_text(db, "PRAGMA journal_mode = WAL", mode, sizeof mode);
            if (rc == SQLITE_OK && strcmp(mode, "wal") != 0)
                bb_warn("database %s: WAL journal unavailable (journal_mode %s); a crash may "
                        "lose more than the last changes",
                        s->path, mode);
        }
        if (rc == SQLITE_OK && !readonly)
            rc = sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
        if (rc == SQLITE_OK && !readonly)
            rc = migrate(db, ver);
        if (rc == SQLITE_OK && readonly && ver < 1)
            ver = -1; // empty: nothing to load
        else if (rc == SQLITE_OK && !readonly)
            ver = BB_STORE_SCHEMA_VERSION; // migrated
        if (rc == SQLITE_OK && ver >= 1) {
            rc = load_all(s, db, ver, &loaded);
            s->loaded |= rc == SQLITE_OK;
        }
        for (int i = 0; i < ST_COUNT && rc == SQLITE_OK && !readonly; i++)
            rc = sqlite3_prepare_v3(db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                    NULL);
        if (rc == SQLITE_OK && readonly) {
            sqlite3_close_v2(db);
            report(s, ERR_READONLY_FILE,
                   "database %s is read-only (permissions?); %s, running without persistence, "
                   "retrying in 30 s",
                   s->path, ver >= 1 ? "stored mixes loaded" : "not loaded");
            return OPEN_RETRY;
        }
        if (rc == SQLITE_OK) {
            s->db = db;
            if (s->last_err != ERR_NONE)
                recovered(s);
            else
                bb_info("database %s: %u musician%s stored", s->path, loaded,
                        loaded == 1 ? "" : "s");
            return OPEN_OK;
        }

        // Failed: why, then close before touching the file.
        int cls = err_class(rc);
        if (cls == ERR_CORRUPT && strcmp(why, "ok") == 0)
            why[0] = '\0';
        char msg[400];
        describe(db, rc, msg, sizeof msg);
        if (cls == ERR_CORRUPT && !why[0])
            snprintf(why, sizeof why, "%s", msg);
        one_line(why);
        for (int i = 0; i < ST_COUNT; i++) {
            sqlite3_finalize(s->st[i]);
            s->st[i] = NULL;
        }
        sqlite3_close_v2(db);
        if (cls == ERR_LOCKED) {
            report(s, cls,
                   "database %s is locked by another process (another hub using the same "
                   "file?); running without persistence, retrying in 30 s",
                   s->path);
            return OPEN_RETRY;
        }
        if (cls != ERR_CORRUPT) {
            char ro[80] = "";
            int n = cls != ERR_LOCKED && !s->loaded ? load_readonly(s) : -1;
            if (n >= 0) {
                s->loaded = 1;
                snprintf(ro, sizeof ro, "read %d stored musician%s from it; ", n,
                         n == 1 ? "" : "s");
            }
            report(s, cls, "cannot open database %s: %s; %srunning without persistence, "
                           "retrying in 30 s",
                   s->path, msg, ro);
            return OPEN_RETRY;
        }
        if (attempt > 0) {
            report(s, ERR_CORRUPT,
                   "database %s is corrupt (%s) right after being created; running without "
                   "persistence, retrying in 30 s",
                   s->path, why);
            return OPEN_RETRY;
        }
        if (set_aside(s, why) != 0)
            return OPEN_RETRY;
    }
    return OPEN_RETRY;
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
    if (rc == SQLITE_OK)
        rc = run(s->st[ST_COMMIT]);
    if (rc == SQLITE_OK) {
        s->main.dirty = 0;
        for (size_t i = 0; i < s->nrecs; i++)
            s->recs[i]->dirty = 0;
        s->ndirty = 0;
        s->stats.transactions++;
        s->stats.rows_written += rows;
        return written;
    }

    char msg[400];
    describe(s->db, rc, msg, sizeof msg);
    if (!sqlite3_get_autocommit(s->db))
        run(s->st[ST_ROLLBACK]);
    int cls = err_class(rc);
    if (cls == ERR_LOCKED) {
        report(s, cls,
               "database %s is locked by another process (another hub using the same "
               "file?); keeping changes in memory, retrying",
               s->path);
    } else if (cls == ERR_CORRUPT) {
        // Moved aside and started afresh; everything in memory is rewritten
        // at the next flush.
        close_db(s);
        if (set_aside(s, msg) != 0 || open_db(s) != OPEN_OK)
            s->retry_anchored = 0;
    } else {
        report(s, cls, "cannot write database %s: %s; keeping changes in memory, retrying",
               s->path, msg);
    }
    return -1;
}

// ---- public API ----------------------------------------------------------

static char *default_path(const char *jack_name)
{
    char name[64], *p = NULL;
    if (!bb_sanitize_name(name, sizeof name, jack_name ? jack_name : ""))
        snprintf(name, sizeof name, "bandbridge");
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/') // the spec says relative paths are to be ignored
        n = asprintf(&p, "%s/bandbridge/hub-%s.db", xdg, name);
    else if (home && home[0])
        n = asprintf(&p, "%s/.local/state/bandbridge/hub-%s.db", home, name);
    else
        return NULL;
    return n < 0 ? NULL : p;
}

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
        s->path = default_path(jack_name);
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
    if (open_db(s) == OPEN_NEVER)
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
    close_db(s);
    for (size_t i = 0; i < s->nrecs; i++) {
        rec_free_lists(s->recs[i]);
        free(s->recs[i]);
    }
    free(s->recs);
    rec_free_lists(&s->main);
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
    const struct rec *r = s ? find_rec(s, identity) : NULL;
    if (!r)
        return 0;
    rec_to_client(r, out);
    return 1;
}

int bb_store_get_names(struct bb_store *s, const uint8_t identity[BB_IDENTITY_SIZE], char *name,
                       char *join_name)
{
    const struct rec *r = s ? find_rec(s, identity) : NULL;
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
        set_dirty(s, r);
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
    if (rec_from_client(&n, c) != 0) {
        bb_err("out of memory: a mix change is not stored");
        return;
    }
    if (is_main) { // unused for the main mix
        memset(n.identity, 0, sizeof n.identity);
        memset(n.name, 0, sizeof n.name);
        memset(n.join_name, 0, sizeof n.join_name);
    }
    if (fresh || !same_rec(dst, &n)) {
        rec_replace(dst, &n);
        set_dirty(s, dst);
    }
    rec_free_lists(&n);
}

void bb_store_put_client(struct bb_store *s, const struct bb_stored_client *c)
{
    if (!s || !c)
        return;
    struct rec *r = find_rec(s, c->identity);
    int fresh = !r;
    if (!r && !(r = add_rec(s, c->identity))) {
        bb_err("out of memory: a mix change is not stored");
        return;
    }
    put(s, r, c, fresh, 0);
}

int bb_store_get_main(struct bb_store *s, struct bb_stored_client *out)
{
    if (!s || !s->has_main)
        return 0;
    rec_to_client(&s->main, out);
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
        int r = open_db(s);
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
        recovered(s);
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
