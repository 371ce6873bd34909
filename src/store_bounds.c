// SPDX-License-Identifier: GPL-2.0-or-later
// store_bounds.c: the store's bounds (store_bounds.h): stored musicians
// forgotten by age and beyond a count; the database file's mode.
#include "store_bounds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store_db.h"
#include "store_rec.h"

unsigned bb_store_count(const struct bb_store *s)
{
    return s ? (unsigned)s->nrecs : 0;
}

// Deletes the rows of the identities in ids (n of them) in one
// transaction. 0, or -1 (reported) when the database refused.
static int delete_rows(struct bb_store *s, const uint8_t (*ids)[BB_IDENTITY_SIZE], size_t n)
{
    static const char *const sql[] = {
        "DELETE FROM client WHERE identity = ?1",
        "DELETE FROM channel_name WHERE identity = ?1",
        "DELETE FROM send WHERE identity = ?1",
        "DELETE FROM conn WHERE identity = ?1",
    };
    enum { NSQL = sizeof sql / sizeof sql[0] };
    sqlite3_stmt *q[NSQL] = {NULL};
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (size_t k = 0; k < NSQL && rc == SQLITE_OK; k++)
        rc = sqlite3_prepare_v2(s->db, sql[k], -1, &q[k], NULL);
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
        for (size_t k = 0; k < NSQL && rc == SQLITE_OK; k++) {
            sqlite3_reset(q[k]);
            sqlite3_bind_blob(q[k], 1, ids[i], BB_IDENTITY_SIZE, SQLITE_STATIC);
            rc = sqlite3_step(q[k]) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->db);
        }
    for (size_t k = 0; k < NSQL; k++)
        sqlite3_finalize(q[k]);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        char why[300];
        store_describe(s->db, rc, why, sizeof why);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        store_report(s, store_err_class(rc), "database %s: cannot forget old musicians: %s",
                     s->path, why);
        return -1;
    }
    s->stats.transactions++;
    return 0;
}

// Removes record i from the table (the last one takes its place).
static void drop_rec(struct bb_store *s, size_t i)
{
    struct rec *r = s->recs[i];
    if (r->dirty)
        s->ndirty--;
    store_rec_free_lists(r);
    free(r);
    s->recs[i] = s->recs[--s->nrecs];
}

// Index of the least recently seen record.
static size_t oldest(const struct bb_store *s)
{
    size_t o = 0;
    for (size_t i = 1; i < s->nrecs; i++)
        if (s->recs[i]->last_seen < s->recs[o]->last_seen)
            o = i;
    return o;
}

int bb_store_forget(struct bb_store *s, int64_t now_s, int64_t max_age_s, unsigned max_count)
{
    if (!s)
        return -1;
    size_t over = max_count && s->nrecs > max_count ? s->nrecs - max_count : 0;
    size_t aged = 0;
    for (size_t i = 0; max_age_s > 0 && i < s->nrecs; i++)
        aged += s->recs[i]->last_seen < now_s - max_age_s;
    if (!over && !aged)
        return 0;
    uint8_t (*ids)[BB_IDENTITY_SIZE] = malloc((aged + over) * sizeof *ids);
    if (!ids)
        return 0; // tried again at the next call
    size_t n = 0;
    for (size_t i = 0; max_age_s > 0 && i < s->nrecs;) {
        if (s->recs[i]->last_seen < now_s - max_age_s) {
            memcpy(ids[n++], s->recs[i]->identity, BB_IDENTITY_SIZE);
            drop_rec(s, i); // the last record moved to i: look at i again
        } else {
            i++;
        }
    }
    while (max_count && s->nrecs > max_count) {
        size_t o = oldest(s);
        memcpy(ids[n++], s->recs[o]->identity, BB_IDENTITY_SIZE);
        drop_rec(s, o);
    }
    if (s->db)
        delete_rows(s, (const uint8_t (*)[BB_IDENTITY_SIZE])ids, n);
    free(ids);
    return (int)n;
}

// Clears the group and other bits of an existing file.
static void owner_only(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077) && st.st_uid == geteuid() &&
        chmod(path, st.st_mode & 0700) < 0)
        bb_warn("%s: cannot make it private (chmod: %s)", path, strerror(errno));
}

void store_private_files(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0)
        close(fd); // new and empty: SQLite makes it a database
    else
        owner_only(path);
    static const char *const sfx[] = {"-wal", "-shm"};
    for (size_t i = 0; i < 2; i++) {
        char *p = NULL;
        if (asprintf(&p, "%s%s", path, sfx[i]) < 0)
            continue;
        owner_only(p);
        free(p);
    }
}
