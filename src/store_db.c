// SPDX-License-Identifier: GPL-2.0-or-later
// store_db.c: the store's database file: where it is by default, opening
// (creating, migrating, loading) it, a corrupt file set aside, a read-only
// one read without writing a byte, every failure logged once. The rules
// for failures are in store_db.h.
#include "store_db.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "store_bounds.h"
#include "store_rec.h"

#define BB_APP_ID      0x42427267 // PRAGMA application_id: "BBrg"

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
    // 2 -> 3: the click's level in a musician's mix (NULL: off, as it was
    // for everyone until then), and the hub's own settings (the click's
    // tempo, metre and levels) by key.
    "ALTER TABLE client ADD COLUMN click_db REAL;"
    "CREATE TABLE setting ("
    "  key   TEXT PRIMARY KEY NOT NULL,"
    "  value REAL NOT NULL);",
};
_Static_assert(BB_ARRAY_LEN(migrations) == BB_STORE_SCHEMA_VERSION,
               "one migration per schema version");
_Static_assert(BB_APP_ID == 1111650919, "application_id in migrations[0]");

// The SQL of the statements a flush uses (enum in store_db.h).
static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PUT_CLIENT] = "INSERT OR REPLACE INTO client (identity, name, channels, send_db, last_seen,"
                      " join_name, click_db) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_DEL_NAMES] = "DELETE FROM channel_name WHERE identity = ?1",
    [ST_DEL_SENDS] = "DELETE FROM send WHERE identity = ?1",
    [ST_DEL_CONNS] = "DELETE FROM conn WHERE identity = ?1",
    [ST_PUT_NAME] = "INSERT INTO channel_name (identity, ch, name) VALUES (?1, ?2, ?3)",
    [ST_PUT_SEND] = "INSERT INTO send (identity, pos, source, gain_db, pan, mute, solo, sub)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_PUT_CONN] = "INSERT INTO conn (identity, pos, port, peer, output)"
                    " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_PUT_SETTING] = "INSERT OR REPLACE INTO setting (key, value) VALUES (?1, ?2)",
};

// ---- small helpers --------------------------------------------------------

static void copy_column(char *dst, size_t dst_size, sqlite3_stmt *q, int col)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    size_t n = t ? (size_t)sqlite3_column_bytes(q, col) : 0;
    store_copy_field(dst, dst_size, t ? (const char *)t : "", n);
}

int store_err_class(int rc)
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
void store_describe(sqlite3 *db, int rc, char *buf, size_t size)
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

// ---- logging failures once ----------------------------------------------

void store_report(struct bb_store *s, int cls, const char *fmt, ...)
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

void store_recovered(struct bb_store *s)
{
    if (s->last_err != ERR_NONE)
        bb_info("database %s writable again", s->path);
    s->last_err = ERR_NONE;
}

// ---- opening -------------------------------------------------------------

void store_close_db(struct bb_store *s)
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
                         : store_sane_gain((float)sqlite3_column_double(qs, 1));
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
        // A read-only file of schema 1 has no join_name: it was the name;
        // before schema 3 nobody had the click (NULL: off).
        ver >= 3 ? "SELECT identity, name, channels, send_db, last_seen, join_name, click_db FROM client"
        : ver >= 2 ? "SELECT identity, name, channels, send_db, last_seen, join_name, NULL FROM client"
                   : "SELECT identity, name, channels, send_db, last_seen, name, NULL FROM client",
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
                        : store_sane_gain((float)sqlite3_column_double(q[0], 3));
        r.last_seen = sqlite3_column_int64(q[0], 4);
        r.click_db = sqlite3_column_type(q[0], 6) == SQLITE_NULL
                         ? -INFINITY
                         : store_sane_gain((float)sqlite3_column_double(q[0], 6));
        copy_column(r.join_name, sizeof r.join_name, q[0], 5);
        if (!r.join_name[0])
            memcpy(r.join_name, r.name, sizeof r.name);
        rc = load_lists(db, q[1], q[2], q[3], &r, r.identity, keylen);
        if (rc != SQLITE_OK) {
            store_rec_free_lists(&r);
            break;
        }
        struct rec *dst;
        if (keylen == 0) {
            dst = &s->main;
            if (s->has_main && s->main.dirty) {
                store_rec_free_lists(&r);
                continue;
            }
            s->has_main = 1;
        } else {
            dst = store_find_rec(s, r.identity);
            if (dst && dst->dirty) {
                store_rec_free_lists(&r);
                continue;
            }
            if (!dst && !(dst = store_add_rec(s, r.identity))) {
                store_rec_free_lists(&r);
                rc = SQLITE_NOMEM;
                break;
            }
        }
        store_rec_replace(dst, &r);
        if (keylen)
            (*count)++;
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    for (int i = 0; i < 4; i++)
        sqlite3_finalize(q[i]);
    return rc;
}

// Loads the hub-wide settings. Those changed in memory while the database
// could not be had win over what the file holds.
static int load_settings(struct bb_store *s, sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT key, value FROM setting", -1, &q, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        char key[BB_STORE_KEY_MAX];
        const unsigned char *k = sqlite3_column_text(q, 0);
        if (!k || (size_t)sqlite3_column_bytes(q, 0) >= sizeof key)
            continue; // not a key of ours
        snprintf(key, sizeof key, "%s", (const char *)k);
        struct store_setting *st = store_find_setting(s, key);
        if (st && st->dirty)
            continue;
        if (!st && s->nsettings < BB_STORE_MAX_SETTINGS) {
            st = &s->settings[s->nsettings++];
            snprintf(st->key, sizeof st->key, "%s", key);
        }
        if (st)
            st->value = sqlite3_column_double(q, 1);
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(q);
    return rc;
}

// A corrupt database (closed by now): renamed aside, never deleted; what
// memory holds is to be written to the fresh one.
int store_set_aside(struct bb_store *s, const char *why)
{
    char *aside = move_aside(s->path);
    if (!aside) {
        store_report(s, ERR_MOVE_ASIDE,
                     "database %s is corrupt (%s) and could not be moved aside (%s); running "
                     "without persistence, retrying in 30 s",
                     s->path, why, strerror(errno));
        return -1;
    }
    s->stats.errors++;
    bb_err("database %s is corrupt (%s); moved it to %s and starting a fresh one", s->path, why,
           aside);
    free(aside);
    store_mark_all_dirty(s);
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
    if (rc == SQLITE_OK && ver >= 3)
        rc = load_settings(s, db);
    sqlite3_close_v2(db);
    return rc == SQLITE_OK ? (int)loaded : -1;
}

// A file that is not ours to touch: written by a newer bandbridge, or
// another application's. Closes db and reports it; returns 1 then, 0 when
// the file is ours.
static int not_ours(struct bb_store *s, sqlite3 *db, int64_t ver, int64_t app, int64_t objects)
{
    if (ver > BB_STORE_SCHEMA_VERSION) {
        sqlite3_close_v2(db);
        store_report(s, ERR_NEWER,
                     "database %s was written by a newer bandbridge (schema %lld); not "
                     "touching it; running without persistence",
                     s->path, (long long)ver);
        return 1;
    }
    if ((app != 0 && app != BB_APP_ID) || (ver == 0 && objects > 0)) {
        sqlite3_close_v2(db);
        store_report(s, ERR_FOREIGN,
                     "database %s is not a bandbridge database (application_id %lld, %lld "
                     "schema objects); not touching it; running without persistence",
                     s->path, (long long)app, (long long)objects);
        return 1;
    }
    return 0;
}

// A failed open: why, then close db before touching the file; reports
// it (once per kind). Returns 0 when a corrupt file was moved aside and a
// fresh one is to be created (first attempt only), else -1: OPEN_RETRY.
static int open_failed(struct bb_store *s, sqlite3 *db, int rc, char *why, size_t why_size,
                       int attempt)
{
    int cls = store_err_class(rc);
    if (cls == ERR_CORRUPT && strcmp(why, "ok") == 0)
        why[0] = '\0';
    char msg[400];
    store_describe(db, rc, msg, sizeof msg);
    if (cls == ERR_CORRUPT && !why[0])
        snprintf(why, why_size, "%s", msg);
    one_line(why);
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    sqlite3_close_v2(db);
    if (cls == ERR_LOCKED) {
        store_report(s, cls,
                     "database %s is locked by another process (another hub using the same "
                     "file?); running without persistence, retrying in 30 s",
                     s->path);
        return -1;
    }
    if (cls != ERR_CORRUPT) {
        char ro[80] = "";
        int n = cls != ERR_LOCKED && !s->loaded ? load_readonly(s) : -1;
        if (n >= 0) {
            s->loaded = 1;
            snprintf(ro, sizeof ro, "read %d stored musician%s from it; ", n,
                     n == 1 ? "" : "s");
        }
        store_report(s, cls,
                     "cannot open database %s: %s; %srunning without persistence, "
                     "retrying in 30 s",
                     s->path, msg, ro);
        return -1;
    }
    if (attempt > 0) {
        store_report(s, ERR_CORRUPT,
                     "database %s is corrupt (%s) right after being created; running without "
                     "persistence, retrying in 30 s",
                     s->path, why);
        return -1;
    }
    if (store_set_aside(s, why) != 0)
        return -1;
    return 0;
}

// Opens s->path into s->db, creating, migrating and loading it. Reports
// failures (once per kind) and leaves s->db NULL unless OPEN_OK.
int store_open_db(struct bb_store *s)
{
    char why[400];
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s->make_parent && mkdir_parents(s->path) != 0) {
            store_report(s, ERR_MKDIR,
                         "cannot create the directory of database %s: %s; running without "
                         "persistence, retrying in 30 s",
                         s->path, strerror(errno));
            return OPEN_RETRY;
        }
        sqlite3 *db = NULL;
        int64_t ver = 0, app = 0, objects = 0;
        why[0] = '\0';
        unsigned loaded = 0;
        store_private_files(s->path); // mode 0600 (store_bounds.h)
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
        if (rc == SQLITE_OK && not_ours(s, db, ver, app, objects))
            return OPEN_NEVER;
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
            if (rc == SQLITE_OK && ver >= 3)
                rc = load_settings(s, db);
            s->loaded |= rc == SQLITE_OK;
        }
        for (int i = 0; i < ST_COUNT && rc == SQLITE_OK && !readonly; i++)
            rc = sqlite3_prepare_v3(db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                    NULL);
        if (rc == SQLITE_OK && readonly) {
            sqlite3_close_v2(db);
            store_report(s, ERR_READONLY_FILE,
                         "database %s is read-only (permissions?); %s, running without "
                         "persistence, retrying in 30 s",
                         s->path, ver >= 1 ? "stored mixes loaded" : "not loaded");
            return OPEN_RETRY;
        }
        if (rc == SQLITE_OK) {
            s->db = db;
            if (s->last_err != ERR_NONE)
                store_recovered(s);
            else
                bb_info("database %s: %u musician%s stored", s->path, loaded,
                        loaded == 1 ? "" : "s");
            return OPEN_OK;
        }
        if (open_failed(s, db, rc, why, sizeof why, attempt) != 0)
            return OPEN_RETRY;
    }
    return OPEN_RETRY;
}

// ---- the default path -----------------------------------------------------

char *store_default_path(const char *jack_name)
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
