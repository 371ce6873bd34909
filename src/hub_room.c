// SPDX-License-Identifier: GPL-2.0-or-later
// hub_room.c: the room password and salt the hub keeps (hub.h).
//
// Where the password comes from, first match: --open (the empty password:
// a trusted LAN; the same handshake, so the traffic is still sealed and
// fresh keys are still derived, but anyone who can reach the port may
// join), --password-file FILE, BANDBRIDGE_PASSWORD, else the one kept in
// the state database, else a new one (handshake.h: 140 random bits) that
// is generated, kept, and printed so the engineer can hand it out.
//
// The database (store.h, bb_store_room_*) keeps the Argon2id salt and the
// generated password, or an empty one when it is given at each start. The
// salt is kept so that a join's cached room key (per salt) stays valid
// across hub restarts, and changes only with the password. With --db none,
// or a database that cannot be written, nothing is kept: a generated
// password is new at every start, and said so.
//
// Older builds kept the room in a file beside the database (hub.db:
// hub.room; the default hub-<name>.room in the state directory), mode 0600:
//
//   bandbridge-room-v1
//   <32 hex digits: the Argon2id salt>
//   <the generated password, or an empty line when it is given each start>
//
// At the first start with a database that has no room, that file's room
// moves into it (the same password and salt: the band's joins notice
// nothing) and the file is removed, which the log says; --show-password
// still reads a file no hub has moved yet.
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub.h"
#include "log.h"
#include "seal.h"

#define ROOM_MAGIC "bandbridge-room-v1"

struct room_file {
    uint8_t salt[BB_HS_SALT_SIZE];
    char    password[BB_HS_PASSWORD_MAX]; ///< generated one, or ""
};

static int room_path(const struct hub *h, char *path, size_t size)
{
    int n;
    if (strcmp(h->db_path, "none") == 0)
        return -1;
    if (h->db_path[0]) {
        // hub.db -> hub.room: beside the database, not one of its files
        // (hub.db-wal...), which belong to SQLite and to whoever wrote them.
        size_t len = strlen(h->db_path);
        int db = len > 3 && strcmp(h->db_path + len - 3, ".db") == 0;
        n = snprintf(path, size, "%.*s.room", (int)(db ? len - 3 : len), h->db_path);
    } else {
        const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
        if (state && *state)
            n = snprintf(path, size, "%s/bandbridge/hub-%s.room", state, h->jack_name);
        else if (home && *home)
            n = snprintf(path, size, "%s/.local/state/bandbridge/hub-%s.room", home, h->jack_name);
        else
            return -1;
    }
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/// 1 read, 0 no file, -1 unreadable (said why).
static int room_read(const char *path, struct room_file *r)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : (bb_err("cannot read %s: %s", path, strerror(errno)), -1);
    char magic[64] = "", hex[80] = "", pw[BB_HS_PASSWORD_MAX + 2] = "";
    int ok = fgets(magic, sizeof magic, f) && fgets(hex, sizeof hex, f);
    if (ok && !fgets(pw, sizeof pw, f))
        pw[0] = '\0';
    fclose(f);
    magic[strcspn(magic, "\r\n")] = hex[strcspn(hex, "\r\n")] = pw[strcspn(pw, "\r\n")] = '\0';
    size_t bin = 0;
    if (!ok || strcmp(magic, ROOM_MAGIC) != 0 ||
        sodium_hex2bin(r->salt, sizeof r->salt, hex, strlen(hex), NULL, &bin, NULL) != 0 ||
        bin != sizeof r->salt || strlen(pw) >= sizeof r->password) {
        bb_err("%s is not a bandbridge room file; move it away to start a new room", path);
        sodium_memzero(pw, sizeof pw);
        return -1;
    }
    memcpy(r->password, pw, strlen(pw) + 1);
    sodium_memzero(pw, sizeof pw);
    return 1;
}

/// The password given for this start (--open, file, environment) into pw:
/// 1 given, 0 none, -1 an error said.
static int given_password(const struct hub *h, char pw[BB_HS_PASSWORD_MAX])
{
    char err[300];
    const char *env = getenv("BANDBRIDGE_PASSWORD");
    pw[0] = '\0';
    if (h->open_room)
        return 1;
    if (h->password_file[0]) {
        if (bb_room_password_load(h->password_file, pw, err, sizeof err) < 0)
            return bb_err("%s", err), -1;
        return 1;
    }
    if (env) {
        if (strlen(env) >= BB_HS_PASSWORD_MAX)
            return bb_err("BANDBRIDGE_PASSWORD is too long (%d bytes at most)",
                          BB_HS_PASSWORD_MAX - 1), -1;
        snprintf(pw, BB_HS_PASSWORD_MAX, "%s", env);
        return 1;
    }
    return 0;
}

int hub_room_show(struct hub *h)
{
    char path[4200] = "", where[4200] = "", err[300] = "";
    struct room_file r;
    struct bb_store_room sr;
    int found = 0;
    if (strcmp(h->db_path, "none") != 0) {
        found = bb_store_room_peek(h->db_path, h->jack_name, &sr, where, sizeof where, err,
                                   sizeof err);
        if (found < 0)
            fprintf(stderr, "bandbridge serve: cannot read the room from %s: %s\n", where, err);
        if (found > 0 && sr.password[0]) {
            printf("%s\n", sr.password);
            sodium_memzero(&sr, sizeof sr);
            return 0;
        }
        sodium_memzero(&sr, sizeof sr);
        // A room file no hub has moved into the database yet.
        if (found == 0 && room_path(h, path, sizeof path) == 0 && room_read(path, &r) > 0 &&
            r.password[0]) {
            printf("%s\n", r.password);
            sodium_memzero(&r, sizeof r);
            return 0;
        }
    }
    fprintf(stderr, "bandbridge serve: no generated room password is kept%s%s%s\n",
            where[0] ? " in " : "", where, strcmp(h->db_path, "none") == 0 ? " (--db none)" : "");
    return 1;
}

/// The room kept before: the database's, else a room file's (moved = 1:
/// to be written into the database, the file then removed). 1 kept, 0
/// none, -1 an error said.
static int kept_room(struct hub *h, struct room_file *r, char *file, size_t file_size, int *moved)
{
    char err[300];
    struct bb_store_room sr;
    *moved = 0;
    file[0] = '\0';
    if (bb_store_persistent(h->store)) {
        int found = bb_store_room_get(h->store, &sr, err, sizeof err);
        if (found < 0)
            return bb_err("cannot read the room password from the database %s: %s",
                          bb_store_path(h->store), err), -1;
        if (found) {
            memcpy(r->salt, sr.salt, sizeof r->salt);
            memcpy(r->password, sr.password, sizeof r->password);
            sodium_memzero(&sr, sizeof sr);
            return 1;
        }
    }
    // Without a database this start still uses the file (a locked or
    // read-only database must not change the band's password).
    if (room_path(h, file, file_size) < 0)
        file[0] = '\0';
    int rc = file[0] ? room_read(file, r) : 0;
    *moved = rc > 0 && bb_store_persistent(h->store);
    return rc;
}

/// Keeps r in the database; then the room file it came from (file, or
/// "") is removed: the secret is not left in two places.
static void keep_room(struct hub *h, const struct room_file *r, const char *file)
{
    char err[300];
    struct bb_store_room sr;
    memcpy(sr.salt, r->salt, sizeof sr.salt);
    memcpy(sr.password, r->password, sizeof sr.password);
    int rc = bb_store_room_put(h->store, &sr, err, sizeof err);
    sodium_memzero(&sr, sizeof sr);
    if (rc < 0) {
        bb_warn("cannot keep the room password in the database %s: %s", bb_store_path(h->store),
                err);
        return;
    }
    if (!file[0])
        return;
    if (unlink(file) == 0)
        bb_info("the room (password and salt) moved from %s into the database %s; %s removed",
                file, bb_store_path(h->store), file);
    else
        bb_warn("the room is kept in the database %s now, but %s cannot be removed: %s",
                bb_store_path(h->store), file, strerror(errno));
}

int hub_room_setup(struct hub *h)
{
    _Static_assert(sizeof(struct bb_store_room) == BB_HS_SALT_SIZE + BB_HS_PASSWORD_MAX &&
                       BB_STORE_ROOM_SALT == BB_HS_SALT_SIZE &&
                       BB_STORE_ROOM_PASSWORD == BB_HS_PASSWORD_MAX,
                   "the store keeps the room as the handshake has it");
    char file[4200], pw[BB_HS_PASSWORD_MAX];
    struct room_file r = {0};
    int given = given_password(h, pw), moved = 0;
    if (given < 0 || bb_crypto_init() < 0)
        return -1;
    int kept = kept_room(h, &r, file, sizeof file, &moved);
    if (kept < 0)
        return -1;
    // A new salt when the password changes (given now, generated before,
    // or the other way round): a join's cached key is for the old one.
    int fresh = !kept || (given && r.password[0]) || (!given && !r.password[0]);
    if (fresh) {
        randombytes_buf(r.salt, sizeof r.salt);
        r.password[0] = '\0';
        if (!given)
            bb_room_password_generate(r.password);
    }
    if (!given)
        snprintf(pw, sizeof pw, "%s", r.password);
    int db = bb_store_persistent(h->store);
    if (db && (fresh || moved))
        keep_room(h, &r, moved ? file : "");
    if (h->open_room)
        bb_info("open room (--open): no password; anyone who reaches this port may join. "
                "Traffic is still encrypted");
    else if (!given && fresh && db)
        bb_info("room password: %s  (hand it to the band; kept in the database %s, shown again "
                "by bandbridge serve --show-password)", pw, bb_store_path(h->store));
    else if (!given && fresh)
        bb_info("room password: %s  (hand it to the band; not kept: %s, so a new one is made at "
                "every start)", pw, strcmp(h->db_path, "none") == 0 ? "--db none" : "no database");
    else if (!given)
        bb_info("room password kept in %s (bandbridge serve --show-password prints it)",
                db ? bb_store_path(h->store) : file);
    int rc = bb_hs_hub_init(&h->hs, pw, r.salt, 0, 0);
    sodium_memzero(pw, sizeof pw);
    sodium_memzero(&r, sizeof r);
    if (rc < 0) {
        bb_err("cannot derive the room key: %s", bb_hs_strerror(rc));
        return -1;
    }
    h->eng.hs = &h->hs;
    return 0;
}
