// SPDX-License-Identifier: GPL-2.0-or-later
// identity.c: the musician's stable identity file (see identity.h).
#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb.h"

int bb_identity_path(const char *name, char *path, size_t size, char *err, size_t err_size)
{
    return bb_state_file_path("identity", name, path, size, err, err_size);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int bb_identity_load(const char *path, uint8_t id[BB_IDENTITY_SIZE], char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (f) {
        char text[80] = "";
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ' || text[n - 1] == '\r'))
            text[--n] = '\0';
        if (n != 2 * BB_IDENTITY_SIZE)
            goto bad;
        for (size_t i = 0; i < BB_IDENTITY_SIZE; i++) {
            int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
            if (hi < 0 || lo < 0)
                goto bad;
            id[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
    bad:
        snprintf(err, err_size, "%s does not hold a bandbridge identity (32 hex digits); "
                 "move it away or pass --identity with another file", path);
        return -1;
    }
    if (errno != ENOENT) {
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if (bb_mkdirs_for(path) < 0) {
        snprintf(err, err_size, "cannot create the directory of %s: %s", path, strerror(errno));
        return -1;
    }
    if (getrandom(id, BB_IDENTITY_SIZE, 0) != BB_IDENTITY_SIZE) {
        snprintf(err, err_size, "no random bytes: %s", strerror(errno));
        return -1;
    }
    char text[2 * BB_IDENTITY_SIZE + 2];
    for (size_t i = 0; i < BB_IDENTITY_SIZE; i++)
        snprintf(text + 2 * i, 3, "%02x", id[i]);
    text[2 * BB_IDENTITY_SIZE] = '\n';
    // O_EXCL: two joins starting at once must not both invent an identity.
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return bb_identity_load(path, id, err, err_size);
    if (fd < 0 || write(fd, text, sizeof text - 1) != (ssize_t)(sizeof text - 1)) {
        snprintf(err, err_size, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}
