// SPDX-License-Identifier: GPL-2.0-or-later
// hub_room.c: the room password and salt the hub keeps (hub.h).
//
// Where the password comes from, first match: --open (the empty password:
// a trusted LAN; the same handshake, so the traffic is still sealed and
// fresh keys are still derived, but anyone who can reach the port may
// join), --password-file FILE, BANDBRIDGE_PASSWORD, else the one kept in
// the room file, else a new one (handshake.h: 140 random bits) that is
// generated, kept, and printed once so the engineer can hand it out.
//
// The room file sits next to the state database (hub.db: hub.room; the
// default hub-<name>.room in the state directory; nothing with --db none), mode
// 0600, written through a temporary file renamed into place:
//
//   bandbridge-room-v1
//   <32 hex digits: the Argon2id salt>
//   <the generated password, or an empty line when it is given each start>
//
// The salt is kept so that a join's cached room key (per salt) stays valid
// across hub restarts, and changes only with the password.
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static int room_write(const char *path, const struct room_file *r)
{
    char tmp[4200], hex[2 * BB_HS_SALT_SIZE + 1];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    if (bb_mkdirs_for(path) < 0)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    sodium_bin2hex(hex, sizeof hex, r->salt, sizeof r->salt);
    FILE *f = fdopen(fd, "w");
    int ok = f && fprintf(f, "%s\n%s\n%s\n", ROOM_MAGIC, hex, r->password) > 0;
    ok = f && fflush(f) == 0 && fsync(fd) == 0 && ok;
    if (f)
        fclose(f);
    else
        close(fd);
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
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
    char path[4200];
    struct room_file r;
    if (room_path(h, path, sizeof path) < 0 || room_read(path, &r) <= 0 || !r.password[0]) {
        fprintf(stderr, "bandbridge serve: no generated room password is kept%s%s\n",
                path[0] ? " in " : "", path);
        return 1;
    }
    printf("%s\n", r.password);
    sodium_memzero(&r, sizeof r);
    return 0;
}

int hub_room_setup(struct hub *h)
{
    char path[4200] = "", pw[BB_HS_PASSWORD_MAX];
    struct room_file r = {0};
    int given = given_password(h, pw);
    if (given < 0 || bb_crypto_init() < 0)
        return -1;
    int kept = room_path(h, path, sizeof path) == 0 ? room_read(path, &r) : 0;
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
    if (fresh && path[0] && room_write(path, &r) < 0)
        bb_warn("cannot keep the room in %s: %s", path, strerror(errno));
    if (h->open_room)
        bb_info("open room (--open): no password; anyone who reaches this port may join. "
                "Traffic is still encrypted");
    else if (!given && fresh)
        bb_info("room password: %s  (hand it to the band; kept in %s, shown again by "
                "bandbridge serve --show-password)", pw, path[0] ? path : "memory only");
    else if (!given)
        bb_info("room password kept in %s (bandbridge serve --show-password prints it)", path);
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
