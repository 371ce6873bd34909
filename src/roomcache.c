// SPDX-License-Identifier: GPL-2.0-or-later
// roomcache.c: the join's room key kept across runs (roomcache.h).
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb.h"
#include "roomcache.h"

#define CACHE_MAGIC "bandbridge-room-key-v1"
#define CHECK_SIZE  16

int bb_roomcache_path(const char *address, char *path, size_t size)
{
    uint8_t h[8];
    char hex[2 * sizeof h + 1], err[160];
    crypto_generichash(h, sizeof h, (const uint8_t *)address, strlen(address), NULL, 0);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    return bb_state_file_path("room", hex, path, size, err, sizeof err);
}

/// The check of password under the room key: the file is for that password.
static void check_of(const struct bb_room *r, const char *password, uint8_t out[CHECK_SIZE])
{
    static const char label[] = "bb room cache v1";
    crypto_generichash_state st;
    crypto_generichash_init(&st, r->key, sizeof r->key, CHECK_SIZE);
    crypto_generichash_update(&st, (const uint8_t *)label, sizeof label);
    crypto_generichash_update(&st, (const uint8_t *)password, strlen(password));
    crypto_generichash_final(&st, out, CHECK_SIZE);
}

static int unhex(uint8_t *out, size_t n, const char *hex)
{
    size_t got = 0;
    return sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL) == 0 && got == n ? 0 : -1;
}

int bb_roomcache_load(const char *path, const char *password, const uint8_t salt[BB_HS_SALT_SIZE],
                      uint32_t opslimit, uint32_t memlimit_kib, struct bb_room *r)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char magic[64] = "", saltx[64] = "", keyx[80] = "", checkx[48] = "";
    uint32_t ops = 0, mem = 0;
    struct bb_room c;
    uint8_t check[CHECK_SIZE], want[CHECK_SIZE];
    int ok = fscanf(f, "%63s %63s %" SCNu32 " %" SCNu32 " %79s %47s", magic, saltx, &ops, &mem,
                    keyx, checkx) == 6 &&
             strcmp(magic, CACHE_MAGIC) == 0 && unhex(c.salt, sizeof c.salt, saltx) == 0 &&
             unhex(c.key, sizeof c.key, keyx) == 0 && unhex(check, sizeof check, checkx) == 0;
    fclose(f);
    c.opslimit = ops;
    c.memlimit_kib = mem;
    if (ok) {
        check_of(&c, password, want);
        ok = ops == opslimit && mem == memlimit_kib &&
             sodium_memcmp(c.salt, salt, sizeof c.salt) == 0 &&
             sodium_memcmp(check, want, sizeof check) == 0;
    }
    if (ok)
        *r = c;
    sodium_memzero(&c, sizeof c);
    sodium_memzero(keyx, sizeof keyx);
    return ok;
}

int bb_roomcache_save(const char *path, const char *password, const struct bb_room *r)
{
    char tmp[4200], saltx[2 * BB_HS_SALT_SIZE + 1], keyx[2 * BB_HS_KEY_SIZE + 1],
        checkx[2 * CHECK_SIZE + 1];
    uint8_t check[CHECK_SIZE];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (bb_mkdirs_for(path) < 0)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    check_of(r, password, check);
    sodium_bin2hex(saltx, sizeof saltx, r->salt, sizeof r->salt);
    sodium_bin2hex(keyx, sizeof keyx, r->key, sizeof r->key);
    sodium_bin2hex(checkx, sizeof checkx, check, sizeof check);
    FILE *f = fdopen(fd, "w");
    int ok = f && fprintf(f, "%s\n%s %" PRIu32 " %" PRIu32 "\n%s\n%s\n", CACHE_MAGIC, saltx,
                          r->opslimit, r->memlimit_kib, keyx, checkx) > 0;
    ok = f && fflush(f) == 0 && fsync(fd) == 0 && ok;
    int saved = errno;
    if (f)
        fclose(f);
    else
        close(fd);
    sodium_memzero(keyx, sizeof keyx);
    if (!ok || rename(tmp, path) < 0) {
        saved = ok ? errno : saved;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return 0;
}
