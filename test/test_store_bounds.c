// SPDX-License-Identifier: GPL-2.0-or-later
// test_store_bounds.c: the store's bounds (store_bounds.h): musicians
// forgotten by age and beyond a cap, in memory and in the file, and the
// database's files readable by their owner only.
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb.h"
#include "check.h"
#include "store.h"
#include "store_bounds.h"

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void put(struct bb_store *s, unsigned i, int64_t last_seen)
{
    static struct bb_stored_client c; // large
    memset(&c, 0, sizeof c);
    memcpy(c.identity, &i, sizeof i);
    c.identity[15] = 0xA5; // never the main mix's empty identity
    snprintf(c.name, sizeof c.name, "m%u", i);
    snprintf(c.join_name, sizeof c.join_name, "m%u", i);
    c.channels = 1;
    c.nsends = 1;
    snprintf(c.sends[0].source, sizeof c.sends[0].source, "in_1");
    c.last_seen = last_seen;
    bb_store_put_client(s, &c);
}

static int known(struct bb_store *s, unsigned i)
{
    static struct bb_stored_client c;
    uint8_t id[BB_IDENTITY_SIZE] = {0};
    memcpy(id, &i, sizeof i);
    id[15] = 0xA5;
    return bb_store_get_client(s, id, &c);
}

static long long rows(const char *path, const char *table)
{
    sqlite3 *db;
    long long n = -1;
    char sql[80];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
            n = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    return n;
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 0777) : 01000;
}

int main(void)
{
    char tmpl[] = "/tmp/test_store_bounds.XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir)
        return check_report("test_store_bounds");
    char path[256], wal[300], shm[300];
    snprintf(path, sizeof path, "%s/hub.db", dir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    umask(022); // what most users have: files would be 0644

    // A new database and SQLite's files beside it: 0600.
    struct bb_store *s = bb_store_open(path, "t", 0);
    CHECK(s && bb_store_persistent(s));
    const int64_t now = 2000000000, day = 86400;
    for (unsigned i = 0; i < 20; i++) // 0..9 seen 200 days ago, 10..19 i days ago
        put(s, i, i < 10 ? now - 200 * day : now - (int64_t)i * day);
    CHECK(bb_store_flush(s, 1) == 20);
    CHECK(bb_store_count(s) == 20);
    CHECK(rows(path, "client") == 20);
    CHECK(mode_of(path) == 0600);
    CHECK(access(wal, F_OK) != 0 || mode_of(wal) == 0600);
    CHECK(access(shm, F_OK) != 0 || mode_of(shm) == 0600);

    // Age: the ten not seen for 180 days go, from memory and the file.
    CHECK(bb_store_forget(s, now, 180 * day, 0) == 10);
    CHECK(bb_store_count(s) == 10);
    CHECK(!known(s, 3) && known(s, 12));
    CHECK(rows(path, "client") == 10);
    CHECK(rows(path, "send") == 10);
    CHECK(bb_store_forget(s, now, 180 * day, 0) == 0); // nothing more to forget

    // Cap: the least recently seen go first (19 days ago, then 18...).
    CHECK(bb_store_forget(s, now, 0, 7) == 3);
    CHECK(bb_store_count(s) == 7);
    CHECK(!known(s, 19) && !known(s, 18) && !known(s, 17) && known(s, 16) && known(s, 10));
    CHECK(rows(path, "client") == 7);

    // A forgotten musician who comes back is simply new.
    put(s, 3, now);
    CHECK(known(s, 3) && bb_store_count(s) == 8);
    CHECK(bb_store_flush(s, 100000) >= 1);
    CHECK(rows(path, "client") == 8);
    bb_store_close(s);

    // Reopened, the file holds what memory held.
    s = bb_store_open(path, "t", 0);
    CHECK(bb_store_count(s) == 8 && known(s, 3) && !known(s, 5));
    bb_store_close(s);

    // An older file, world-readable, loses its group and other bits; a
    // read-only one stays read-only.
    CHECK(chmod(path, 0644) == 0);
    s = bb_store_open(path, "t", 0);
    CHECK(mode_of(path) == 0600);
    bb_store_close(s);
    if (geteuid() != 0) { // root writes whatever the mode says
        CHECK(chmod(path, 0444) == 0);
        s = bb_store_open(path, "t", 0);
        CHECK(mode_of(path) == 0400);
        CHECK(!bb_store_persistent(s));
        bb_store_close(s);
    }
    CHECK(bb_store_forget(NULL, now, 1, 1) == -1);

    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    return check_report("test_store_bounds");
}
