// SPDX-License-Identifier: GPL-2.0-or-later
// store_room.c: the room's secret in the state database (store.h), for
// hub_room.c. Control thread only, like the rest of the store.
//
// One row: the Argon2id salt and the password generated at the first
// start ("" when the engineer gives one at every start). It is written at
// once when it changes (the hub's start, never in the debounced flush of
// the mixes), in its own transaction.
//
// The table is made by the first write (CREATE TABLE IF NOT EXISTS) rather
// than by a schema migration: a hub of an older schema refuses a newer
// database as a whole and runs without the band's stored mixes, and an
// extra table is nothing it needs to refuse. A database without the table
// simply has no room yet.
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store_db.h"

#define ROOM_TABLE "CREATE TABLE IF NOT EXISTS room (id INTEGER PRIMARY KEY CHECK (id = 1)," \
                   " salt BLOB NOT NULL, password TEXT NOT NULL)"

/// 1 read, 0 none (no table, no row), -1 an SQLite error (rc in *rc_out).
static int room_select(sqlite3 *db, struct bb_store_room *r, int *rc_out)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT salt, password FROM room WHERE id = 1", -1, &q, NULL);
    if (rc != SQLITE_OK) {
        // No such table: a database from before the room was kept in it.
        int none = rc == SQLITE_ERROR && strstr(sqlite3_errmsg(db), "no such table");
        *rc_out = rc;
        return none ? 0 : -1;
    }
    int found = 0;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const void *salt = sqlite3_column_blob(q, 0);
        const unsigned char *pw = sqlite3_column_text(q, 1);
        size_t pl = pw ? strlen((const char *)pw) : 0;
        if (sqlite3_column_bytes(q, 0) == (int)sizeof r->salt && salt && pl < sizeof r->password) {
            memcpy(r->salt, salt, sizeof r->salt);
            memcpy(r->password, pw ? (const char *)pw : "", pl + 1);
            found = 1;
        } else {
            found = -1; // not a room this hub wrote
            rc = SQLITE_MISMATCH;
        }
    } else if (rc != SQLITE_DONE) {
        found = -1;
    }
    sqlite3_finalize(q);
    *rc_out = rc;
    return found;
}

int bb_store_room_get(struct bb_store *s, struct bb_store_room *r, char *err, size_t err_size)
{
    int rc;
    if (!s || !s->db) {
        snprintf(err, err_size, "no database");
        return -1;
    }
    int found = room_select(s->db, r, &rc);
    if (found < 0)
        store_describe(s->db, rc, err, err_size);
    return found;
}

int bb_store_room_put(struct bb_store *s, const struct bb_store_room *r, char *err, size_t err_size)
{
    if (!s || !s->db) {
        snprintf(err, err_size, "no database");
        return -1;
    }
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, ROOM_TABLE, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO room (id, salt, password) "
                                       "VALUES (1, ?1, ?2)", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_blob(q, 1, r->salt, (int)sizeof r->salt, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, r->password, -1, SQLITE_STATIC);
        rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->db);
    }
    sqlite3_finalize(q);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        store_describe(s->db, rc, err, err_size);
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    s->stats.transactions++;
    s->stats.rows_written++;
    return 0;
}

int bb_store_room_peek(const char *path, const char *jack_name, struct bb_store_room *r,
                       char *where, size_t where_size, char *err, size_t err_size)
{
    char *def = NULL;
    if (!path || !path[0])
        path = def = store_default_path(jack_name);
    snprintf(where, where_size, "%s", path ? path : "(no state directory)");
    if (!path)
        return 0;
    int found = 0, rc = SQLITE_OK;
    sqlite3 *db = NULL;
    if (access(path, F_OK) == 0) {
        // Read only, never created: asking for the password changes nothing.
        rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
        if (rc == SQLITE_OK)
            found = room_select(db, r, &rc);
        else
            found = -1;
        if (found < 0)
            store_describe(db, rc, err, err_size);
        sqlite3_close_v2(db);
    }
    free(def);
    return found;
}
