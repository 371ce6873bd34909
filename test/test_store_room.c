// SPDX-License-Identifier: GPL-2.0-or-later
// test_store_room.c: the room's secret in the state database
// (src/store_room.c): none in a new database, kept and read back, replaced,
// read by --show-password's peek without creating or changing anything,
// and a database from before the room table (it_room.sh runs the hub's
// side: generation, the move from a room file, --db none).
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb.h"
#include "check.h"
#include "log.h"
#include "store.h"

static void test_room(const char *dir)
{
    char path[512], where[600], err[300], other[512];
    snprintf(path, sizeof path, "%s/hub.db", dir);
    snprintf(other, sizeof other, "%s/nothing.db", dir);
    struct bb_store_room r, back;
    memset(&r, 0, sizeof r);

    // Peeking at a database that is not there creates nothing.
    CHECK(bb_store_room_peek(other, "x", &back, where, sizeof where, err, sizeof err) == 0);
    CHECK(strcmp(where, other) == 0 && access(other, F_OK) != 0);

    struct bb_store *s = bb_store_open(path, "test", 0);
    CHECK(s && bb_store_persistent(s));
    CHECK(bb_store_room_get(s, &back, err, sizeof err) == 0); // a new database: none
    for (int i = 0; i < BB_STORE_ROOM_SALT; i++)
        r.salt[i] = (uint8_t)(0xA0 + i);
    snprintf(r.password, sizeof r.password, "abcdefg-hjkmnpq-rstvwxy-z012345");
    CHECK(bb_store_room_put(s, &r, err, sizeof err) == 0);
    memset(&back, 0, sizeof back);
    CHECK(bb_store_room_get(s, &back, err, sizeof err) == 1);
    CHECK(memcmp(&back, &r, sizeof r) == 0);
    // Replaced: a password given at every start keeps the salt only.
    r.password[0] = '\0';
    r.salt[0] ^= 0xFF;
    CHECK(bb_store_room_put(s, &r, err, sizeof err) == 0);
    CHECK(bb_store_room_get(s, &back, err, sizeof err) == 1);
    CHECK(back.password[0] == '\0' && back.salt[0] == r.salt[0]);
    // --show-password's peek reads what the running hub wrote.
    CHECK(bb_store_room_peek(path, "test", &back, where, sizeof where, err, sizeof err) == 1);
    CHECK(back.salt[0] == r.salt[0] && back.password[0] == '\0');
    bb_store_close(s);

    // After a restart, the same.
    s = bb_store_open(path, "test", 0);
    CHECK(bb_store_room_get(s, &back, err, sizeof err) == 1 && back.salt[1] == r.salt[1]);
    bb_store_close(s);

    // A row this hub did not write (a salt of another size): an error,
    // never a room.
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK &&
          sqlite3_exec(db, "UPDATE room SET salt = X'0102'", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    s = bb_store_open(path, "test", 0);
    CHECK(bb_store_room_get(s, &back, err, sizeof err) == -1 && err[0]);
    bb_store_close(s);

    // No database (memory only): nothing to read or keep.
    s = bb_store_open(":memory:", "test", 0);
    CHECK(bb_store_room_get(s, &back, err, sizeof err) == -1);
    CHECK(bb_store_room_put(s, &r, err, sizeof err) == -1);
    bb_store_close(s);
    unlink(path);
}

int main(void)
{
    bb_log_set_level(BB_LOG_ERR);
    char tmpl[] = "/tmp/test_store_room.XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (dir) {
        test_room(dir);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
    return check_report("test_store_room");
}
