// SPDX-License-Identifier: GPL-2.0-or-later
// keypair.c: the musician's Ed25519 identity key file (see keypair.h).
#include "keypair.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "bb.h"

#define KEY_MAGIC "bandbridge-ed25519-v1"
#define SEED_SIZE crypto_sign_SEEDBYTES
/// Magic line, seed in hex, two newlines.
#define KEY_TEXT_SIZE (sizeof KEY_MAGIC - 1 + 1 + 2 * SEED_SIZE + 1)

_Static_assert(crypto_sign_PUBLICKEYBYTES == BB_KEY_PUBLIC_SIZE, "public key size");
_Static_assert(crypto_sign_SECRETKEYBYTES == BB_KEY_SECRET_SIZE, "secret key size");

int bb_keypair_path(const char *name, char *path, size_t size, char *err, size_t err_size)
{
    return bb_state_file_path("key", name, path, size, err, err_size);
}

void bb_keypair_wipe(struct bb_keypair *kp)
{
    sodium_memzero(kp, sizeof *kp);
}

/// Parses the file's text into a key pair. Constant-time hex decoding: the
/// seed is a secret.
static int parse_key(const char *text, size_t n, struct bb_keypair *kp)
{
    size_t m = sizeof KEY_MAGIC - 1;
    if (n < m + 1 || memcmp(text, KEY_MAGIC, m) != 0 || text[m] != '\n')
        return -1;
    const char *hex = text + m + 1;
    size_t hex_len = n - m - 1;
    while (hex_len > 0 && (hex[hex_len - 1] == '\n' || hex[hex_len - 1] == '\r'
                           || hex[hex_len - 1] == ' '))
        hex_len--;
    if (hex_len != 2 * SEED_SIZE)
        return -1;
    uint8_t seed[SEED_SIZE];
    size_t got = 0;
    int st = sodium_hex2bin(seed, sizeof seed, hex, hex_len, NULL, &got, NULL);
    if (st == 0 && got == SEED_SIZE)
        st = crypto_sign_seed_keypair(kp->pk, kp->sk, seed);
    else
        st = -1;
    sodium_memzero(seed, sizeof seed);
    return st;
}

/// Reads an existing key file (fd open on path). Refuses one others may
/// read or write, or that another user owns.
static int read_key(int fd, const char *path, struct bb_keypair *kp, char *err, size_t err_size)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, err_size, "cannot stat %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, err_size, "%s is not a regular file", path);
        return -1;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 077)) {
        snprintf(err, err_size, "%s is accessible to other users (mode %03o): its secret key "
                 "may be known; chmod 600 it if it never left your control, else delete it "
                 "and let the hub's engineer re-link your musician", path,
                 (unsigned)(st.st_mode & 0777));
        return -1;
    }
    char text[KEY_TEXT_SIZE + 16];
    ssize_t n = read(fd, text, sizeof text);
    int bad = n < 0 || (size_t)n >= sizeof text || parse_key(text, (size_t)n, kp) < 0;
    sodium_memzero(text, sizeof text);
    if (bad) {
        snprintf(err, err_size, "%s does not hold a bandbridge key pair; "
                 "move it away or pass another file", path);
        return -1;
    }
    return 0;
}

/// Writes a new key file at path: a temporary file (mkstemp: mode 0600)
/// filled, synced, then linked to path. link() never replaces an existing
/// file, so two joins starting at once cannot overwrite each other's key:
/// the loser gets EEXIST and loads the winner's. Returns 0, 1 (EEXIST), -1.
static int create_key(const char *path, struct bb_keypair *kp, char *err, size_t err_size)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
        snprintf(err, err_size, "key path too long");
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, err_size, "cannot create a file next to %s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t seed[SEED_SIZE];
    randombytes_buf(seed, sizeof seed);
    char text[KEY_TEXT_SIZE + 1];
    memcpy(text, KEY_MAGIC "\n", sizeof KEY_MAGIC);
    sodium_bin2hex(text + sizeof KEY_MAGIC, 2 * SEED_SIZE + 1, seed, sizeof seed);
    text[KEY_TEXT_SIZE - 1] = '\n';
    crypto_sign_seed_keypair(kp->pk, kp->sk, seed);
    sodium_memzero(seed, sizeof seed);
    int ok = fchmod(fd, 0600) == 0 && write(fd, text, KEY_TEXT_SIZE) == (ssize_t)KEY_TEXT_SIZE
             && fsync(fd) == 0;
    int saved = errno;
    sodium_memzero(text, sizeof text);
    close(fd);
    int linked = ok ? link(tmp, path) : -1;
    if (ok && linked < 0)
        saved = errno;
    unlink(tmp);
    if (linked == 0)
        return 0;
    bb_keypair_wipe(kp);
    if (ok && saved == EEXIST)
        return 1;
    snprintf(err, err_size, "cannot write %s: %s", path, strerror(saved));
    return -1;
}

int bb_keypair_load(const char *path, struct bb_keypair *kp, int *created,
                    char *err, size_t err_size)
{
    if (created)
        *created = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            int st = read_key(fd, path, kp, err, err_size);
            close(fd);
            return st;
        }
        if (errno != ENOENT) {
            snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
            return -1;
        }
        if (bb_mkdirs_for(path) < 0) {
            snprintf(err, err_size, "cannot create the directory of %s: %s", path, strerror(errno));
            return -1;
        }
        int st = create_key(path, kp, err, err_size);
        if (st <= 0) {
            if (st == 0 && created)
                *created = 1;
            return st;
        }
        // EEXIST: another process created it between open() and link().
    }
    snprintf(err, err_size, "%s keeps appearing and vanishing", path);
    return -1;
}

/// Reads identity.h's file (32 hex digits) without creating it.
/// 1 = read, 0 = no such file, -1 = error.
static int read_old(const char *path, uint8_t tok[BB_IDENTITY_SIZE], char *err, size_t err_size)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char text[80];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        n--;
    size_t got = 0;
    if (n != 2 * BB_IDENTITY_SIZE
        || sodium_hex2bin(tok, BB_IDENTITY_SIZE, text, n, NULL, &got, NULL) != 0
        || got != BB_IDENTITY_SIZE) {
        sodium_memzero(text, sizeof text);
        snprintf(err, err_size, "%s does not hold a bandbridge identity (32 hex digits)", path);
        return -1;
    }
    sodium_memzero(text, sizeof text);
    return 1;
}

int bb_keypair_load_or_migrate(const char *path_new, const char *path_old,
                               struct bb_keypair *kp, uint8_t old_token[BB_IDENTITY_SIZE],
                               int *have_old, char *err, size_t err_size)
{
    *have_old = 0;
    if (path_old) {
        int st = read_old(path_old, old_token, err, err_size);
        if (st < 0)
            return -1;
        *have_old = st;
    }
    if (bb_keypair_load(path_new, kp, NULL, err, err_size) < 0) {
        sodium_memzero(old_token, BB_IDENTITY_SIZE);
        *have_old = 0;
        return -1;
    }
    return 0;
}

int bb_keypair_retire_old(const char *path_old, char *err, size_t err_size)
{
    char to[4096];
    if (snprintf(to, sizeof to, "%s.migrated", path_old) >= (int)sizeof to) {
        snprintf(err, err_size, "identity path too long");
        return -1;
    }
    if (rename(path_old, to) < 0) {
        snprintf(err, err_size, "cannot rename %s: %s", path_old, strerror(errno));
        return -1;
    }
    return 0;
}
