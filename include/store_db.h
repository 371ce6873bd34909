// SPDX-License-Identifier: GPL-2.0-or-later
// store_db.h: the store's database file (store_db.c), and the store's
// handle, which store.c, store_db.c and store_rec.c share. All of it is
// the control thread's, like the rest of the store (store.h).
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
#ifndef BB_STORE_DB_H
#define BB_STORE_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store_rec.h"

#define RETRY_MS       30000u     // reopen interval when memory-only; longest write backoff

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
    ST_PUT_SETTING,
    ST_COUNT
};

// The store's handle. Every field is the control thread's [ctl], the
// store's only thread (store.h).
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
    size_t       ndirty;      // dirty records (the main mix included) and settings
    struct store_setting settings[BB_STORE_MAX_SETTINGS];
    unsigned     nsettings;
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

// ---- failures, logged once -------------------------------------------------

/// The failure class of an SQLite result code (ERR_LOCKED, ERR_CORRUPT, or
/// the primary result code).
int  store_err_class(int rc);
/// What went wrong, in one line for a log message: SQLite's message and
/// the OS error, or which operation failed. db may be NULL.
void store_describe(sqlite3 *db, int rc, char *buf, size_t size);
/// Counts an error and logs the line, unless failure class cls was the
/// last one logged.
void store_report(struct bb_store *s, int cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/// Writes work again: says so once, if a failure was logged.
void store_recovered(struct bb_store *s);

// ---- the database file ------------------------------------------------------

enum { OPEN_OK, OPEN_RETRY, OPEN_NEVER };

/// Opens s->path into s->db, creating, migrating and loading it. Reports
/// failures (once per kind) and leaves s->db NULL unless OPEN_OK.
int  store_open_db(struct bb_store *s);
/// Finalises the statements and closes s->db (NULL: nothing to do).
void store_close_db(struct bb_store *s);
/// A corrupt database (closed by now): renamed aside, never deleted; what
/// memory holds is marked to be written to the fresh one. Returns 0, or -1
/// (reported) when it could not be moved.
int  store_set_aside(struct bb_store *s, const char *why);
/// $XDG_STATE_HOME/bandbridge/hub-<jack_name>.db (or ~/.local/state/...),
/// malloc'd, or NULL when neither is set or out of memory.
char *store_default_path(const char *jack_name);

#endif
