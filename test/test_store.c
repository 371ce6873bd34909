// SPDX-License-Identifier: GPL-2.0-or-later
// test_store.c: the SQLite store: round trips, debounce, bad files, locks, crashes, hostile names.
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bb.h"
#include "check.h"
#include "store.h"

// ---- helpers --------------------------------------------------------------

static uint64_t mono_ms(void)
{
    return bb_now_ns() / 1000000;
}

static char *mkdir_tmp(void)
{
    char tmpl[] = "/tmp/test_store.XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void rm_rf(char *dir)
{
    if (!dir)
        return;
    chmod(dir, 0700);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static char *join(const char *a, const char *b)
{
    char *p = NULL;
    return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, (cap *= 2) + 1);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

// What a caller does with a long name: truncates it to the field.
static void set_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static int count_str(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

// Names of dir's entries that start with prefix: how many, and the first.
static int find_prefix(const char *dir, const char *prefix, char *first, size_t size)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (n++ == 0 && first)
            snprintf(first, size, "%s", e->d_name);
    }
    closedir(d);
    return n;
}

static int count_entries(const char *dir)
{
    return find_prefix(dir, "", NULL, 0) - 2; // . and ..
}

// Log capture: bb_log writes to stderr; the captured text is echoed after.
static int cap_saved = -1;
static char cap_path[64];

static void cap_begin(void)
{
    fflush(stderr);
    snprintf(cap_path, sizeof cap_path, "/tmp/test_store_log.XXXXXX");
    int fd = mkstemp(cap_path);
    cap_saved = dup(2);
    dup2(fd, 2);
    close(fd);
}

static char *cap_end(void)
{
    fflush(stderr);
    dup2(cap_saved, 2);
    close(cap_saved);
    char *s = read_file(cap_path, NULL);
    unlink(cap_path);
    if (s)
        fputs(s, stderr);
    return s ? s : strdup("");
}

static struct bb_stored_client *new_client(void)
{
    struct bb_stored_client *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    return c;
}

static void fill_client(struct bb_stored_client *c, uint8_t seed)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < BB_IDENTITY_SIZE; i++)
        c->identity[i] = (uint8_t)(seed * 31 + i);
    snprintf(c->name, sizeof c->name, "alice%u", seed);
    snprintf(c->join_name, sizeof c->join_name, "al%u", seed);
    c->channels = 3;
    snprintf(c->channel_names[0], BB_NAME_MAX, "vox");
    snprintf(c->channel_names[1], BB_NAME_MAX, "guitar L");
    snprintf(c->channel_names[2], BB_NAME_MAX, "guitar R");
    c->send_db = -3.5f;
    c->click_db = seed == 2 ? -INFINITY : -9.5f; // the click in their mix, or not
    c->nsends = 3;
    snprintf(c->sends[0].source, sizeof c->sends[0].source, "bob_1");
    c->sends[0].gain_db = -6.25f;
    c->sends[0].pan = -0.5f;
    c->sends[0].sub = 1;
    snprintf(c->sends[1].source, sizeof c->sends[1].source, "bob_2");
    c->sends[1].gain_db = -INFINITY;
    c->sends[1].pan = 0.75f;
    c->sends[1].mute = 1;
    c->sends[1].sub = 1;
    snprintf(c->sends[2].source, sizeof c->sends[2].source, "in_1");
    c->sends[2].gain_db = 4.0f;
    c->sends[2].solo = 1;
    c->nconns = 2;
    snprintf(c->conns[0].port, sizeof c->conns[0].port, "alice_1");
    snprintf(c->conns[0].peer, sizeof c->conns[0].peer, "ardour:Audio 1/audio_in 1");
    c->conns[0].output = 1;
    snprintf(c->conns[1].port, sizeof c->conns[1].port, "mix_alice_L");
    snprintf(c->conns[1].peer, sizeof c->conns[1].peer, "system:playback_1");
    c->conns[1].output = 1;
    c->last_seen = 1700000000 + seed;
}

static int same_float(float a, float b)
{
    return a == b || (isnan(a) && isnan(b));
}

static int clients_equal(const struct bb_stored_client *a, const struct bb_stored_client *b)
{
    int ok = memcmp(a->identity, b->identity, BB_IDENTITY_SIZE) == 0 &&
             strcmp(a->name, b->name) == 0 && strcmp(a->join_name, b->join_name) == 0 &&
             a->channels == b->channels &&
             same_float(a->send_db, b->send_db) && same_float(a->click_db, b->click_db) &&
             a->nsends == b->nsends &&
             a->nconns == b->nconns && a->last_seen == b->last_seen;
    for (int ch = 0; ok && ch < BB_MAX_CLIENT_CH; ch++)
        ok = strcmp(a->channel_names[ch], b->channel_names[ch]) == 0;
    for (unsigned i = 0; ok && i < a->nsends; i++) {
        const struct bb_stored_send *x = &a->sends[i], *y = &b->sends[i];
        ok = strcmp(x->source, y->source) == 0 && same_float(x->gain_db, y->gain_db) &&
             same_float(x->pan, y->pan) && x->mute == y->mute && x->solo == y->solo &&
             x->sub == y->sub;
    }
    for (unsigned i = 0; ok && i < a->nconns; i++) {
        const struct bb_stored_conn *x = &a->conns[i], *y = &b->conns[i];
        ok = strcmp(x->port, y->port) == 0 && strcmp(x->peer, y->peer) == 0 &&
             x->output == y->output;
    }
    return ok;
}

// A raw SQLite query returning one integer or one text (for checks).
static long long sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    long long v = -12345;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
            if (sqlite3_step(q) == SQLITE_ROW)
                v = sqlite3_column_int64(q, 0);
            sqlite3_finalize(q);
        }
    }
    sqlite3_close(db);
    return v;
}

static int sql_text_is(const char *path, const char *sql, const char *want)
{
    sqlite3 *db;
    int ok = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
            if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
                ok = strcmp((const char *)sqlite3_column_text(q, 0), want) == 0;
            sqlite3_finalize(q);
        }
    }
    sqlite3_close(db);
    return ok;
}

static int sql_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

// ---- 1. round trip ----------------------------------------------------------

static void test_round_trip(void)
{
    char *dir = mkdir_tmp();
    char *path = join(dir, "hub.db");
    struct bb_stored_client *a = new_client(), *b = new_client(), *m = new_client(),
                            *got = new_client();

    struct bb_store *s = bb_store_open(path, "hub", 500);
    CHECK(s && bb_store_persistent(s));
    CHECK(strcmp(bb_store_path(s), path) == 0);
    fill_client(a, 1);
    fill_client(b, 2);
    CHECK(!bb_store_get_client(s, a->identity, got));
    CHECK(!bb_store_get_main(s, got));

    fill_client(m, 9); // the main mix: sends and connections, no identity
    memset(m->identity, 0, sizeof m->identity);
    m->name[0] = '\0';
    m->join_name[0] = '\0';
    snprintf(m->conns[0].port, sizeof m->conns[0].port, "main_L");
    snprintf(m->conns[1].port, sizeof m->conns[1].port, "in_1");
    m->conns[1].output = 0;

    bb_store_put_client(s, a);
    bb_store_put_client(s, b);
    bb_store_put_main(s, m);
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    CHECK(bb_store_flush(s, 1000) == 3);
    struct bb_store_stats st;
    bb_store_get_stats(s, &st);
    CHECK(st.transactions == 1);
    CHECK(st.rows_written == 3 * (1 + 3 + 3 + 2)); // client, names, sends, conns
    CHECK(st.errors == 0);
    bb_store_close(s);
    CHECK(exists(path));

    s = bb_store_open(path, "hub", 500);
    CHECK(s && bb_store_persistent(s));
    memset(got, 0x5a, sizeof *got);
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    CHECK(got->sends[1].gain_db == -INFINITY);
    CHECK(got->channel_names[3][0] == '\0' && got->conns[2].peer[0] == '\0'); // zero-filled
    CHECK(bb_store_get_client(s, b->identity, got) && clients_equal(got, b));
    CHECK(bb_store_get_main(s, got) && clients_equal(got, m));
    CHECK(bb_store_due_ms(s, 0) == -1); // loaded, clean
    snprintf(m->name, sizeof m->name, "ignored");
    m->identity[3] = 7;
    bb_store_put_main(s, m); // identity and name are not part of the main mix
    CHECK(bb_store_due_ms(s, 0) == -1);

    // A smaller mix replaces the old one completely (no stale rows).
    a->nsends = 1;
    a->nconns = 0;
    a->channel_names[2][0] = '\0';
    bb_store_put_client(s, a);
    CHECK(bb_store_flush(s, 5000) == 1);
    bb_store_close(s);
    s = bb_store_open(path, "hub", 500);
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    CHECK(got->nsends == 1 && got->nconns == 0);
    bb_store_close(s);
    CHECK(sql_int(path, "SELECT count(*) FROM send") == 1 + 3 + 3);
    CHECK(sql_int(path, "SELECT count(*) FROM send WHERE gain_db IS NULL") == 2);
    CHECK(sql_text_is(path, "PRAGMA journal_mode", "wal"));

    // The default path: $XDG_STATE_HOME/bandbridge/hub-<sanitised name>.db,
    // its directory created 0700; else ~/.local/state/bandbridge/.
    char *xdg = join(dir, "xdg"), *home = join(dir, "home");
    char *old_xdg = getenv("XDG_STATE_HOME") ? strdup(getenv("XDG_STATE_HOME")) : NULL;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("XDG_STATE_HOME", xdg, 1);
    s = bb_store_open(NULL, "my hub:1/..", 500);
    char *want = NULL;
    CHECK(asprintf(&want, "%s/bandbridge/hub-my_hub_1_...db", xdg) > 0);
    CHECK(s && strcmp(bb_store_path(s), want) == 0);
    CHECK(bb_store_persistent(s));
    bb_store_put_client(s, a);
    bb_store_close(s);
    CHECK(exists(want));
    struct stat sb;
    char *bdir = join(xdg, "bandbridge");
    CHECK(stat(bdir, &sb) == 0 && (sb.st_mode & 0777) == 0700);
    free(want);
    free(bdir);
    unsetenv("XDG_STATE_HOME");
    setenv("HOME", home, 1);
    s = bb_store_open(NULL, "", 500);
    CHECK(asprintf(&want, "%s/.local/state/bandbridge/hub-bandbridge.db", home) > 0);
    CHECK(s && strcmp(bb_store_path(s), want) == 0 && bb_store_persistent(s));
    bb_store_close(s);
    CHECK(exists(want));
    free(want);
    if (old_xdg)
        setenv("XDG_STATE_HOME", old_xdg, 1);
    if (old_home)
        setenv("HOME", old_home, 1);
    free(old_xdg);
    free(old_home);
    free(xdg);
    free(home);

    free(a);
    free(b);
    free(m);
    free(got);
    free(path);
    rm_rf(dir);
}

// ---- 2. debounce --------------------------------------------------------------

static void test_debounce(void)
{
    char *dir = mkdir_tmp();
    char *path = join(dir, "hub.db");
    struct bb_stored_client *a = new_client(), *got = new_client();
    struct bb_store_stats st;
    fill_client(a, 3);

    struct bb_store *s = bb_store_open(path, "hub", 500);
    CHECK(bb_store_due_ms(s, 10000) == -1); // clean
    uint64_t t0 = 10000;
    // A fader sweep before the first flush: one transaction.
    for (int i = 0; i < 500; i++) {
        a->sends[0].gain_db = -60.0f + (float)i * 0.1f;
        bb_store_put_client(s, a);
    }
    CHECK(bb_store_due_ms(s, t0) == 0); // never written: due now
    CHECK(bb_store_flush(s, t0) == 1);
    bb_store_get_stats(s, &st);
    CHECK(st.transactions == 1);
    CHECK(bb_store_due_ms(s, t0) == -1);

    // Another sweep right after that write waits for the debounce.
    for (int i = 0; i < 500; i++) {
        a->sends[0].gain_db = (float)i * -0.1f;
        bb_store_put_client(s, a);
    }
    CHECK(bb_store_due_ms(s, t0 + 100) == 400);
    CHECK(bb_store_flush(s, t0 + 100) == 0);
    CHECK(bb_store_due_ms(s, t0 + 499) == 1);
    CHECK(bb_store_flush(s, t0 + 499) == 0);
    bb_store_get_stats(s, &st);
    CHECK(st.transactions == 1);
    CHECK(bb_store_due_ms(s, t0 + 500) == 0);
    CHECK(bb_store_flush(s, t0 + 500) == 1);
    bb_store_get_stats(s, &st);
    CHECK(st.transactions == 2);
    CHECK(bb_store_due_ms(s, t0 + 500) == -1);
    CHECK(bb_store_flush(s, t0 + 5000) == 0); // nothing dirty
    bb_store_get_stats(s, &st);
    CHECK(st.transactions == 2);

    // Putting what is already stored is not a change.
    bb_store_put_client(s, a);
    CHECK(bb_store_due_ms(s, t0 + 600) == -1);

    // The hub's "flush now" (UINT64_MAX), then its monotonic clock again.
    a->send_db = -1.0f;
    bb_store_put_client(s, a);
    CHECK(bb_store_flush(s, UINT64_MAX) == 1);
    a->send_db = -2.0f;
    bb_store_put_client(s, a);
    CHECK(bb_store_flush(s, t0 + 700) == 1);

    // Close writes what the debounce held back.
    a->send_db = -7.0f;
    a->sends[0].gain_db = -12.5f;
    bb_store_put_client(s, a);
    CHECK(bb_store_flush(s, t0 + 701) == 0);
    bb_store_close(s);
    s = bb_store_open(path, "hub", 500);
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    bb_store_close(s);

    free(a);
    free(got);
    free(path);
    rm_rf(dir);
}

// ---- 3. corrupt files ---------------------------------------------------------

static void test_garbage(void)
{
    char *dir = mkdir_tmp();
    char *path = join(dir, "hub.db");
    struct bb_stored_client *a = new_client(), *got = new_client();
    fill_client(a, 4);

    char garbage[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof garbage; i++) {
        x = x * 1103515245u + 12345u;
        garbage[i] = (char)(x >> 16);
    }
    CHECK(write_file(path, garbage, sizeof garbage) == 0);

    cap_begin();
    struct bb_store *s = bb_store_open(path, "hub", 500);
    char *log = cap_end();
    CHECK(s && bb_store_persistent(s));
    char aside[256] = "";
    CHECK(find_prefix(dir, "hub.db.corrupt-", aside, sizeof aside) == 1);
    char *aside_path = join(dir, aside);
    size_t len = 0;
    char *content = read_file(aside_path, &len);
    CHECK(content && len == sizeof garbage && memcmp(content, garbage, len) == 0);
    CHECK(count_str(log, "is corrupt") == 1);
    CHECK(strstr(log, path) && strstr(log, aside_path));
    CHECK(strstr(log, "starting a fresh one") != NULL);

    bb_store_put_client(s, a);
    CHECK(bb_store_flush(s, 1000) == 1);
    bb_store_close(s);
    s = bb_store_open(path, "hub", 500);
    CHECK(bb_store_persistent(s));
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    bb_store_close(s);
    free(content);
    free(aside_path);
    free(log);

    // A real database damaged inside (header intact): quick_check finds it,
    // and it is moved aside too (a second name: never over the first).
    s = bb_store_open(path, "hub", 0);
    for (int i = 0; i < 200; i++) {
        fill_client(a, (uint8_t)i);
        a->identity[15] = (uint8_t)(i + 100);
        bb_store_put_client(s, a);
    }
    CHECK(bb_store_flush(s, 1) == 200);
    bb_store_close(s);
    content = read_file(path, &len);
    CHECK(content && len > 8 * 4096);
    if (content && len > 8 * 4096) {
        memset(content + 4096 + 100, 0x7f, 3 * 4096); // pages 2..4, after page 2's header
        CHECK(write_file(path, content, len) == 0);
    }
    cap_begin();
    s = bb_store_open(path, "hub", 500);
    log = cap_end();
    CHECK(bb_store_persistent(s));
    CHECK(count_str(log, "is corrupt") == 1);
    CHECK(find_prefix(dir, "hub.db.corrupt-", NULL, 0) == 2);
    bb_store_put_client(s, a);
    CHECK(bb_store_flush(s, 1000) >= 1); // a, and whatever could be read before
    bb_store_close(s);
    CHECK(sql_text_is(path, "PRAGMA integrity_check", "ok"));
    free(content);
    free(log);

    free(a);
    free(got);
    free(path);
    rm_rf(dir);
}

// ---- 4. newer schema, other application ---------------------------------------

static void test_not_ours(void)
{
    char *dir = mkdir_tmp();
    char *path = join(dir, "hub.db");
    struct bb_stored_client *a = new_client(), *got = new_client();
    fill_client(a, 5);

    CHECK(sql_exec(path, "PRAGMA user_version = 99; CREATE TABLE future(x);") == SQLITE_OK);
    size_t len0 = 0, len1 = 0;
    char *before = read_file(path, &len0);
    struct stat st0, st1;
    CHECK(stat(path, &st0) == 0);

    cap_begin();
    struct bb_store *s = bb_store_open(path, "hub", 500);
    char *log = cap_end();
    CHECK(s && !bb_store_persistent(s));
    CHECK(count_str(log, "was written by a newer bandbridge (schema 99); not touching it") == 1);
    bb_store_put_client(s, a); // memory only, still served
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    CHECK(bb_store_due_ms(s, 0) == -1);
    CHECK(bb_store_flush(s, 1000) == 0);
    CHECK(bb_store_flush(s, 100000) == 0); // not retried: a person has to act
    bb_store_close(s);
    char *after = read_file(path, &len1);
    CHECK(stat(path, &st1) == 0);
    CHECK(before && after && len0 == len1 && memcmp(before, after, len0) == 0);
    CHECK(st0.st_mtim.tv_sec == st1.st_mtim.tv_sec && st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec);
    CHECK(count_entries(dir) == 1); // no -wal, -shm or corrupt-*
    free(before);
    free(after);
    free(log);

    // The same in WAL mode, its writer killed: not even its -wal is checkpointed.
    char *wpath = join(dir, "wal.db"), *wwal = join(dir, "wal.db-wal");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        sqlite3 *db;
        sqlite3_open(wpath, &db);
        sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA user_version = 99; "
                         "CREATE TABLE future(x); INSERT INTO future VALUES (randomblob(5000));",
                     NULL, NULL, NULL);
        kill(getpid(), SIGKILL);
        _exit(1);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
    size_t wlen0 = 0, wlen1 = 0;
    char *wbefore = read_file(wpath, &len0), *walbefore = read_file(wwal, &wlen0);
    CHECK(wbefore && walbefore && wlen0 > 5000);
    cap_begin();
    s = bb_store_open(wpath, "hub", 500);
    log = cap_end();
    CHECK(s && !bb_store_persistent(s));
    CHECK(count_str(log, "was written by a newer bandbridge (schema 99); not touching it") == 1);
    bb_store_close(s);
    char *wafter = read_file(wpath, &len1), *walafter = read_file(wwal, &wlen1);
    CHECK(wafter && len0 == len1 && memcmp(wbefore, wafter, len0) == 0);
    CHECK(walafter && wlen0 == wlen1 && memcmp(walbefore, walafter, wlen0) == 0);
    free(wbefore);
    free(walbefore);
    free(wafter);
    free(walafter);
    free(wpath);
    free(wwal);
    free(log);

    // ":memory:" is memory only, said once.
    s = bb_store_open(":memory:", "hub", 500);
    CHECK(s && !bb_store_persistent(s) && strcmp(bb_store_path(s), ":memory:") == 0);
    bb_store_close(s);

    // Somebody else's database (tables, no bandbridge schema) is not ours either.
    char *other = join(dir, "other.db");
    CHECK(sql_exec(other, "CREATE TABLE photos(id, blob); INSERT INTO photos VALUES (1, 'x');") ==
          SQLITE_OK);
    before = read_file(other, &len0);
    cap_begin();
    s = bb_store_open(other, "hub", 500);
    log = cap_end();
    CHECK(s && !bb_store_persistent(s));
    CHECK(count_str(log, "is not a bandbridge database") == 1);
    bb_store_put_client(s, a);
    bb_store_close(s);
    after = read_file(other, &len1);
    CHECK(before && after && len0 == len1 && memcmp(before, after, len0) == 0);
    free(before);
    free(after);
    free(log);
    free(other);

    free(a);
    free(got);
    free(path);
    rm_rf(dir);
}

// ---- 5. locked ------------------------------------------------------------------

static void test_locked(void)
{
    char *dir = mkdir_tmp();
    char *path = join(dir, "hub.db");
    struct bb_stored_client *a = new_client(), *got = new_client();
    fill_client(a, 6);

    // (a) Our WAL database, write-locked by another connection: opening
    // works (readers are not blocked), writes fail at once and wait.
    struct bb_store *s = bb_store_open(path, "hub", 500);
    bb_store_put_client(s, a);
    CHECK(bb_store_flush(s, 1000) == 1);
    bb_store_close(s);

    sqlite3 *other;
    CHECK(sqlite3_open(path, &other) == SQLITE_OK);
    CHECK(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK);
    cap_begin();
    uint64_t t = mono_ms();
    s = bb_store_open(path, "hub", 500);
    CHECK(mono_ms() - t < 100);
    CHECK(bb_store_persistent(s));
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    a->sends[0].gain_db = -1.5f;
    bb_store_put_client(s, a);
    uint64_t now = 5000;
    t = mono_ms();
    CHECK(bb_store_flush(s, now) == -1);
    CHECK(mono_ms() - t < 100);
    CHECK(bb_store_due_ms(s, now) > 0); // still dirty, retried later
    int due = bb_store_due_ms(s, now);
    CHECK(due >= 500 && due <= 30000);
    now += (uint64_t)due;
    CHECK(bb_store_flush(s, now) == -1); // still locked: not logged again
    CHECK(bb_store_due_ms(s, now) > due); // backing off
    struct bb_store_stats st;
    bb_store_get_stats(s, &st);
    CHECK(st.errors >= 2 && st.transactions == 0);
    CHECK(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(bb_store_flush(s, now + 1) == 0); // not due yet
    now += 30000;
    CHECK(bb_store_flush(s, now) == 1);
    char *log = cap_end();
    CHECK(count_str(log, "is locked by another process (another hub using the same file?)") == 1);
    CHECK(count_str(log, "writable again") == 1);
    bb_store_close(s);
    s = bb_store_open(path, "hub", 500);
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    bb_store_close(s);
    sqlite3_close(other);
    free(log);

    // (b) A rollback-journal database exclusively locked: even reading it
    // fails, so the store starts memory-only and reopens every 30 s.
    char *path2 = join(dir, "hub2.db");
    CHECK(sqlite3_open(path2, &other) == SQLITE_OK);
    CHECK(sqlite3_exec(other, "PRAGMA journal_mode = DELETE; BEGIN EXCLUSIVE", NULL, NULL, NULL) ==
          SQLITE_OK);
    cap_begin();
    t = mono_ms();
    s = bb_store_open(path2, "hub", 500);
    CHECK(mono_ms() - t < 100);
    CHECK(s && !bb_store_persistent(s));
    bb_store_put_client(s, a);
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    now = 100000;
    CHECK(bb_store_due_ms(s, now) == 0);
    CHECK(bb_store_flush(s, now) == 0); // starts the 30 s clock
    CHECK(bb_store_due_ms(s, now) == 30000);
    CHECK(bb_store_flush(s, now + 29999) == 0);
    t = mono_ms();
    CHECK(bb_store_flush(s, now + 30000) == -1); // retried: still locked
    CHECK(mono_ms() - t < 100);
    CHECK(!bb_store_persistent(s));
    CHECK(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(other);
    CHECK(bb_store_flush(s, now + 59999) == 0);
    CHECK(bb_store_flush(s, now + 60000) == 1);
    CHECK(bb_store_persistent(s));
    log = cap_end();
    CHECK(count_str(log, "is locked by another process (another hub using the same file?); "
                         "running without persistence, retrying in 30 s") == 1);
    CHECK(count_str(log, "writable again") == 1);
    bb_store_close(s);
    s = bb_store_open(path2, "hub", 500);
    CHECK(bb_store_persistent(s));
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    bb_store_close(s);
    free(log);
    free(path2);

    free(a);
    free(got);
    free(path);
    rm_rf(dir);
}

// ---- 6. read-only --------------------------------------------------------------

// A database whose directory became read-only (permission bits: not as root).
static void read_only_dir(void)
{
    char *dir = mkdir_tmp();
    char *path = join(dir, "hub.db");
    struct bb_stored_client *a = new_client(), *got = new_client();
    fill_client(a, 7);
    struct bb_store *s = bb_store_open(path, "hub", 500);
    bb_store_put_client(s, a);
    bb_store_close(s);
    CHECK(chmod(dir, 0500) == 0);

    cap_begin();
    s = bb_store_open(path, "hub", 500);
    char *log = cap_end();
    CHECK(s && !bb_store_persistent(s));
    CHECK(count_str(log, "running without persistence, retrying in 30 s") == 1);
    CHECK(count_str(log, "read 1 stored musician from it") == 1);
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a)); // still restored
    a->send_db = 2.0f;
    bb_store_put_client(s, a);
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    free(log);
    cap_begin();
    CHECK(bb_store_flush(s, 1000) == 0);
    CHECK(bb_store_flush(s, 31000) == -1); // retried, quietly
    CHECK(chmod(dir, 0700) == 0);
    CHECK(bb_store_flush(s, 61000) == 1); // writable again: written
    CHECK(bb_store_persistent(s));
    bb_store_close(s);
    log = cap_end();
    CHECK(count_str(log, "writable again") == 1);
    CHECK(count_str(log, "retrying") == 0);
    s = bb_store_open(path, "hub", 500);
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    bb_store_close(s);
    free(log);
    free(a);
    free(got);
    free(path);
    rm_rf(dir);
}

static void test_read_only(void)
{
    char *dir = mkdir_tmp();
    struct bb_stored_client *a = new_client(), *got = new_client();
    fill_client(a, 7);

    if (geteuid() != 0) {
        read_only_dir();
    } else {
        // Root writes through permission bits: run that case as nobody.
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0) {
                printf("test_store: cannot become nobody: read-only directory case skipped\n");
                _exit(0);
            }
            check_failed = 0;
            read_only_dir();
            fflush(stdout);
            _exit(check_failed ? 1 : 0);
        }
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    // A directory that cannot exist (its parent is a regular file): as root too.
    char *file = join(dir, "file");
    CHECK(write_file(file, "x", 1) == 0);
    char *path = join(file, "hub.db");
    cap_begin();
    struct bb_store *s = bb_store_open(path, "hub", 500);
    char *log = cap_end();
    CHECK(s && !bb_store_persistent(s));
    CHECK(count_str(log, "cannot open database") == 1);
    CHECK(count_str(log, "running without persistence, retrying in 30 s") == 1);
    CHECK(count_str(log, path) == 1);
    bb_store_put_client(s, a);
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    free(log);
    cap_begin();
    CHECK(bb_store_flush(s, 1000) == 0);
    CHECK(bb_store_flush(s, 31000) == -1);
    CHECK(bb_store_flush(s, 61000) == -1);
    CHECK(bb_store_due_ms(s, 61000) == 30000);
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    bb_store_close(s);
    log = cap_end();
    CHECK(count_str(log, path) == 1); // only the "could not be saved" line at close
    CHECK(count_str(log, "1 changed mix could not be saved") == 1);
    free(log);
    free(path);
    free(file);

    // The default path under a directory that cannot be created.
    file = join(dir, "notadir");
    CHECK(write_file(file, "x", 1) == 0);
    char *old_xdg = getenv("XDG_STATE_HOME") ? strdup(getenv("XDG_STATE_HOME")) : NULL;
    setenv("XDG_STATE_HOME", file, 1);
    cap_begin();
    s = bb_store_open(NULL, "hub", 500);
    log = cap_end();
    CHECK(s && !bb_store_persistent(s));
    CHECK(count_str(log, "cannot create the directory of database") == 1);
    bb_store_put_client(s, a);
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    bb_store_close(s);
    if (old_xdg)
        setenv("XDG_STATE_HOME", old_xdg, 1);
    else
        unsetenv("XDG_STATE_HOME");
    free(old_xdg);
    free(file);
    free(log);

    free(a);
    free(got);
    rm_rf(dir);
}

// ---- 7. crash safety --------------------------------------------------------------

static void test_crash(void)
{
    char *dir = mkdir_tmp();
    char *path = join(dir, "hub.db");
    struct bb_stored_client *a = new_client(), *b = new_client(), *got = new_client();
    fill_client(a, 8);
    fill_client(b, 9);

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        struct bb_store *s = bb_store_open(path, "hub", 500);
        a->sends[0].gain_db = -1.0f;
        bb_store_put_client(s, a);
        if (bb_store_flush(s, 1000) != 1)
            _exit(3);
        a->sends[0].gain_db = -2.0f; // not flushed
        bb_store_put_client(s, a);
        bb_store_put_client(s, b);
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    struct bb_store *s = bb_store_open(path, "hub", 500);
    CHECK(bb_store_persistent(s));
    CHECK(bb_store_get_client(s, a->identity, got) && got->sends[0].gain_db == -1.0f);
    CHECK(!bb_store_get_client(s, b->identity, got));
    bb_store_close(s);
    CHECK(sql_text_is(path, "PRAGMA integrity_check", "ok"));

    // Killed at a random moment in the middle of a stream of writes. The
    // delay counts from the stream's first commit, which the child reports
    // through a pipe: counted from fork, a slow start (seen in the
    // ThreadSanitizer build) had the child killed before it wrote anything.
    for (int round = 0; round < 5; round++) {
        int ready[2];
        CHECK(pipe(ready) == 0);
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid == 0) {
            close(ready[0]);
            struct bb_store *cs = bb_store_open(path, "hub", 0);
            for (uint64_t i = 1;; i++) {
                a->sends[0].gain_db = (float)i;
                a->last_seen = (int64_t)i;
                b->nsends = (unsigned)(i % 4);
                bb_store_put_client(cs, a);
                bb_store_put_client(cs, b);
                if (bb_store_flush(cs, i) > 0 && ready[1] >= 0) {
                    if (write(ready[1], "", 1) != 1)
                        _exit(5);
                    close(ready[1]);
                    ready[1] = -1;
                }
            }
        }
        close(ready[1]);
        struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
        char c;
        CHECK(poll(&pfd, 1, 10000) == 1 && read(ready[0], &c, 1) == 1);
        close(ready[0]);
        usleep(20000 + (useconds_t)round * 15000);
        kill(pid, SIGKILL);
        CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
        CHECK(sql_text_is(path, "PRAGMA integrity_check", "ok"));
        s = bb_store_open(path, "hub", 500);
        CHECK(bb_store_persistent(s));
        CHECK(bb_store_get_client(s, a->identity, got));
        CHECK(got->last_seen >= 0 && got->sends[0].gain_db == (float)got->last_seen);
        bb_store_close(s);
    }

    free(a);
    free(b);
    free(got);
    free(path);
    rm_rf(dir);
}

// ---- 8. hostile names ------------------------------------------------------------

static void test_hostile(void)
{
    char *dir = mkdir_tmp();
    char *path = join(dir, "hub.db");
    struct bb_stored_client *a = new_client(), *b = new_client(), *got = new_client();
    static const char *const evil[] = {
        "a'b",
        "x\"y",
        "semi;colon",
        "'); DROP TABLE client;--",
        "\"; DROP TABLE send; --",
        "%s%n%x%%",
        "Bj\xc3\xb8rk_1",
        "back\\slash",
        "",
    };
    char big[301], huge[401];
    memset(big, 'Q', 300);
    big[300] = '\0';
    memset(huge, 'Z', 400);
    huge[400] = '\0';

    fill_client(b, 10);
    fill_client(a, 11);
    snprintf(a->name, sizeof a->name, "%s", "'); DROP TABLE client;--");
    snprintf(a->channel_names[0], BB_NAME_MAX, "%s", "x'); DELETE FROM send;--");
    a->nsends = 0;
    a->nconns = 0;
    for (size_t i = 0; i < BB_ARRAY_LEN(evil); i++) {
        struct bb_stored_send *e = &a->sends[a->nsends++];
        snprintf(e->source, sizeof e->source, "%s", evil[i]);
        e->gain_db = (float)i;
        struct bb_stored_conn *c = &a->conns[a->nconns++];
        snprintf(c->port, sizeof c->port, "%s", evil[i]);
        snprintf(c->peer, sizeof c->peer, "%s:%s", evil[i], evil[i]);
    }
    // 300 bytes, truncated by the caller to the field's size.
    set_str(a->sends[a->nsends++].source, sizeof a->sends[0].source, big);
    set_str(a->conns[a->nconns].port, sizeof a->conns[0].port, big);
    set_str(a->conns[a->nconns++].peer, sizeof a->conns[0].peer, big);
    set_str(a->conns[a->nconns++].peer, sizeof a->conns[0].peer, huge);

    // Fields without their NUL: the store must stop at the field's end.
    struct bb_stored_client *raw = new_client();
    *raw = *a;
    memset(raw->name, 'N', sizeof raw->name);
    memset(raw->sends[0].source, 'S', sizeof raw->sends[0].source);
    memset(raw->conns[0].peer, 'P', sizeof raw->conns[0].peer);
    memset(raw->channel_names[7], 'C', BB_NAME_MAX);
    raw->identity[0] ^= 0xff;
    // And nonsense counts: clamped, not trusted.
    raw->channels = 1000;

    struct bb_store *s = bb_store_open(path, "hub", 500);
    bb_store_put_client(s, a);
    bb_store_put_client(s, b);
    bb_store_put_client(s, raw);
    CHECK(bb_store_flush(s, 1000) == 3);
    bb_store_close(s);

    s = bb_store_open(path, "hub", 500);
    CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
    CHECK(strlen(got->sends[BB_ARRAY_LEN(evil)].source) == sizeof got->sends[0].source - 1);
    CHECK(strcmp(got->conns[BB_ARRAY_LEN(evil)].peer, big) == 0);
    CHECK(strlen(got->conns[BB_ARRAY_LEN(evil)].port) == sizeof got->conns[0].port - 1);
    CHECK(strlen(got->conns[BB_ARRAY_LEN(evil) + 1].peer) == BB_PORT_NAME_MAX - 1);
    CHECK(bb_store_get_client(s, b->identity, got) && clients_equal(got, b));
    CHECK(bb_store_get_client(s, raw->identity, got));
    CHECK(strlen(got->name) == BB_NAME_MAX - 1 && got->name[0] == 'N');
    CHECK(strlen(got->sends[0].source) == sizeof got->sends[0].source - 1);
    CHECK(strlen(got->conns[0].peer) == BB_PORT_NAME_MAX - 1);
    CHECK(strlen(got->channel_names[7]) == BB_NAME_MAX - 1);
    CHECK(got->channels == BB_MAX_CLIENT_CH);
    bb_store_close(s);
    CHECK(sql_int(path, "SELECT count(*) FROM client") == 3);
    long long sends = 3 + 2 * (long long)(BB_ARRAY_LEN(evil) + 1); // b, then a and raw
    CHECK(sql_int(path, "SELECT count(*) FROM send") == sends);

    free(raw);
    free(a);
    free(b);
    free(got);
    free(path);
    rm_rf(dir);
}

// ---- 9. migrations ----------------------------------------------------------------

static void test_migrations(void)
{
    char *dir = mkdir_tmp();
    char *path = join(dir, "hub.db"), *empty = join(dir, "empty.db");
    struct bb_stored_client *a = new_client(), *got = new_client();
    fill_client(a, 12);

    // A real SQLite file at version 0 without tables, and a zero-byte file.
    CHECK(sql_exec(path, "PRAGMA user_version = 0; CREATE TABLE x(a); DROP TABLE x;") == SQLITE_OK);
    CHECK(sql_int(path, "PRAGMA user_version") == 0);
    CHECK(write_file(empty, "", 0) == 0);
    const char *files[2] = {path, empty};
    for (int i = 0; i < 2; i++) {
        cap_begin();
        struct bb_store *s = bb_store_open(files[i], "hub", 500);
        char *log = cap_end();
        CHECK(s && bb_store_persistent(s));
        CHECK(strstr(log, "migrated to version 1") != NULL);
        bb_store_put_client(s, a);
        CHECK(bb_store_flush(s, 1) == 1);
        bb_store_close(s);
        CHECK(sql_int(files[i], "PRAGMA user_version") == BB_STORE_SCHEMA_VERSION);
        CHECK(sql_int(files[i], "PRAGMA application_id") == 0x42427267);
        CHECK(sql_int(files[i], "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                "name IN ('client', 'channel_name', 'send', 'conn')") == 4);
        CHECK(sql_text_is(files[i], "PRAGMA journal_mode", "wal"));
        // Reopening does not migrate again.
        cap_begin();
        s = bb_store_open(files[i], "hub", 500);
        free(log);
        log = cap_end();
        CHECK(strstr(log, "migrated") == NULL);
        CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
        bb_store_close(s);
        free(log);
    }

    free(a);
    free(got);
    free(empty);
    free(path);
    rm_rf(dir);
}

// ---- 10. write errors (a file size limit: EFBIG, as a full disk) -------------------

// ---- 10. renames ------------------------------------------------------------------

static void add_send(struct bb_stored_client *c, const char *source, float gain_db)
{
    struct bb_stored_send *e = &c->sends[c->nsends++];
    memset(e, 0, sizeof *e);
    snprintf(e->source, sizeof e->source, "%s", source);
    e->gain_db = gain_db;
    e->sub = 1;
}

static void add_conn(struct bb_stored_client *c, const char *port, const char *peer)
{
    struct bb_stored_conn *e = &c->conns[c->nconns++];
    snprintf(e->port, sizeof e->port, "%s", port);
    snprintf(e->peer, sizeof e->peer, "%s", peer);
    e->output = 1;
}

static int has_send(const struct bb_stored_client *c, const char *source, float gain_db)
{
    for (unsigned i = 0; i < c->nsends; i++)
        if (strcmp(c->sends[i].source, source) == 0)
            return same_float(c->sends[i].gain_db, gain_db);
    return 0;
}

static void test_rename(void)
{
    struct bb_stored_client *a = new_client(), *b = new_client(), *got = new_client();

    // One record's lists: bob -> rob, on a hub whose JACK client is "hub".
    add_send(a, "bob_1", -1.0f);
    add_send(a, "rob_1", -9.0f);   // about an earlier rob: gives way to bob_1
    add_send(a, "rob_3", -3.0f);   // no bob_3 to replace it: kept
    add_send(a, "bob_12", -2.0f);
    add_send(a, "bobby_1", -4.0f); // another musician
    add_send(a, "bob_x", -5.0f);   // not a channel of bob
    add_send(a, "bob", -6.0f);     // not a channel either
    add_send(a, "in_1", -7.0f);
    add_conn(a, "dave_1", "hub:bob_1");
    add_conn(a, "mix_dave_L", "hub:mix_bob_R");
    add_conn(a, "dave_2", "other:bob_1");   // another JACK client's port
    add_conn(a, "bob_1", "hub:mix_bobby_L"); // own ports: only with own
    CHECK(bb_store_rename_in(a->sends, &a->nsends, a->conns, a->nconns, "hub", "bob", "rob", 0));
    CHECK(a->nsends == 7);
    CHECK(has_send(a, "rob_1", -1.0f) && has_send(a, "rob_3", -3.0f));
    CHECK(has_send(a, "rob_12", -2.0f) && has_send(a, "bobby_1", -4.0f));
    CHECK(has_send(a, "bob_x", -5.0f) && has_send(a, "bob", -6.0f) && has_send(a, "in_1", -7.0f));
    CHECK(strcmp(a->conns[0].peer, "hub:rob_1") == 0);
    CHECK(strcmp(a->conns[1].peer, "hub:mix_rob_R") == 0);
    CHECK(strcmp(a->conns[2].peer, "other:bob_1") == 0);
    CHECK(strcmp(a->conns[3].port, "bob_1") == 0 && strcmp(a->conns[3].peer, "hub:mix_bobby_L") == 0);
    CHECK(!bb_store_rename_in(a->sends, &a->nsends, a->conns, a->nconns, "hub", "bob", "rob", 0));
    add_conn(a, "mix_bob_L", "system:playback_1");
    CHECK(bb_store_rename_in(a->sends, &a->nsends, a->conns, a->nconns, "hub", "bob", "rob", 1));
    CHECK(strcmp(a->conns[3].port, "rob_1") == 0 && strcmp(a->conns[4].port, "mix_rob_L") == 0);

    // Through a store: bob's own record takes the name, keeps its JOIN
    // name; another musician's mix and the main mix follow; it persists.
    char *dir = mkdir_tmp();
    char *path = join(dir, "hub.db");
    memset(a, 0, sizeof *a);
    memset(a->identity, 1, BB_IDENTITY_SIZE);
    set_str(a->name, sizeof a->name, "bob");
    set_str(a->join_name, sizeof a->join_name, "bob");
    a->channels = 1;
    add_send(a, "bob_1", -3.0f);
    add_conn(a, "bob_1", "ardour:in 1");
    memset(b, 0, sizeof *b);
    memset(b->identity, 2, BB_IDENTITY_SIZE);
    set_str(b->name, sizeof b->name, "dave");
    set_str(b->join_name, sizeof b->join_name, "dave");
    add_send(b, "bob_1", -8.0f);
    struct bb_stored_client *m = new_client();
    add_send(m, "bob_1", -10.0f);
    add_conn(m, "in_1", "hub:bob_1");
    struct bb_store *s = bb_store_open(path, "hub", 500);
    CHECK(s && bb_store_persistent(s));
    bb_store_put_client(s, a);
    bb_store_put_client(s, b);
    bb_store_put_main(s, m);
    CHECK(bb_store_flush(s, 1) == 3);
    bb_store_rename(s, a->identity, "hub", "bob", "rob");
    CHECK(bb_store_due_ms(s, 2) >= 0); // something to write
    char name[BB_NAME_MAX], joined[BB_NAME_MAX];
    CHECK(bb_store_get_names(s, a->identity, name, joined));
    CHECK(strcmp(name, "rob") == 0 && strcmp(joined, "bob") == 0);
    CHECK(bb_store_get_client(s, a->identity, got) && has_send(got, "rob_1", -3.0f));
    CHECK(got->nconns == 1 && strcmp(got->conns[0].port, "rob_1") == 0);
    CHECK(bb_store_get_client(s, b->identity, got) && has_send(got, "rob_1", -8.0f));
    CHECK(strcmp(got->name, "dave") == 0);
    CHECK(bb_store_get_main(s, got) && has_send(got, "rob_1", -10.0f));
    CHECK(strcmp(got->conns[0].peer, "hub:rob_1") == 0);
    uint8_t nobody[BB_IDENTITY_SIZE];
    memset(nobody, 3, sizeof nobody);
    CHECK(!bb_store_get_names(s, nobody, name, joined));
    bb_store_close(s);
    CHECK(sql_text_is(path, "SELECT name || '/' || join_name FROM client WHERE identity = "
                            "X'01010101010101010101010101010101'",
                      "rob/bob"));
    CHECK(sql_int(path, "SELECT count(*) FROM send WHERE source = 'bob_1'") == 0);
    CHECK(sql_int(path, "SELECT count(*) FROM send WHERE source = 'rob_1'") == 3);
    s = bb_store_open(path, "hub", 500);
    CHECK(bb_store_get_names(s, a->identity, name, joined));
    CHECK(strcmp(name, "rob") == 0 && strcmp(joined, "bob") == 0);
    bb_store_close(s);

    free(a);
    free(b);
    free(m);
    free(got);
    free(path);
    rm_rf(dir);
}

// A database of schema 1 (no join_name) is migrated: the JOIN name was the name.
static void test_migrate_v1(void)
{
    char *dir = mkdir_tmp();
    char *path = join(dir, "hub.db");
    CHECK(sql_exec(path,
                   "PRAGMA application_id = 1111650919;"
                   "CREATE TABLE client (identity BLOB PRIMARY KEY NOT NULL, name TEXT NOT NULL,"
                   "  channels INTEGER NOT NULL, send_db REAL, last_seen INTEGER NOT NULL);"
                   "CREATE TABLE channel_name (identity BLOB NOT NULL, ch INTEGER NOT NULL,"
                   "  name TEXT NOT NULL, PRIMARY KEY (identity, ch));"
                   "CREATE TABLE send (identity BLOB NOT NULL, pos INTEGER NOT NULL,"
                   "  source TEXT NOT NULL, gain_db REAL, pan REAL, mute INTEGER NOT NULL,"
                   "  solo INTEGER NOT NULL, sub INTEGER NOT NULL, PRIMARY KEY (identity, pos));"
                   "CREATE TABLE conn (identity BLOB NOT NULL, pos INTEGER NOT NULL,"
                   "  port TEXT NOT NULL, peer TEXT NOT NULL, output INTEGER NOT NULL,"
                   "  PRIMARY KEY (identity, pos));"
                   "INSERT INTO client VALUES (X'05050505050505050505050505050505',"
                   "  'erin', 1, -2.0, 1700000000);"
                   "INSERT INTO send VALUES (X'05050505050505050505050505050505',"
                   "  0, 'bob_1', -4.0, 0, 0, 0, 1);"
                   "PRAGMA user_version = 1;") == SQLITE_OK);
    cap_begin();
    struct bb_store *s = bb_store_open(path, "hub", 500);
    char *log = cap_end();
    CHECK(s && bb_store_persistent(s));
    CHECK(strstr(log, "migrated to version 2") != NULL);
    CHECK(strstr(log, "migrated to version 3") != NULL);
    CHECK(strstr(log, "migrated to version 1") == NULL);
    uint8_t id[BB_IDENTITY_SIZE];
    memset(id, 5, sizeof id);
    char name[BB_NAME_MAX], joined[BB_NAME_MAX];
    CHECK(bb_store_get_names(s, id, name, joined));
    CHECK(strcmp(name, "erin") == 0 && strcmp(joined, "erin") == 0);
    struct bb_stored_client *got = new_client();
    CHECK(bb_store_get_client(s, id, got) && has_send(got, "bob_1", -4.0f));
    CHECK(got->click_db == -INFINITY); // nobody had the click before schema 3
    bb_store_close(s);
    CHECK(sql_int(path, "PRAGMA user_version") == BB_STORE_SCHEMA_VERSION);
    CHECK(sql_text_is(path, "SELECT join_name FROM client", "erin"));
    free(got);
    free(log);
    free(path);
    rm_rf(dir);
}

// Hub-wide settings: kept across a reopen, written only when changed,
// bounded, and a value set while memory-only wins over the file's.
static void test_settings(void)
{
    char *dir = mkdir_tmp();
    char *path = join(dir, "hub.db");
    struct bb_store *s = bb_store_open(path, "hub", 500);
    double v = 0.0;
    CHECK(s && !bb_store_get_setting(s, "click.bpm", &v));
    CHECK(bb_store_put_setting(s, "click.bpm", 97.5) == 0);
    CHECK(bb_store_put_setting(s, "click.level_db", -20.0) == 0);
    CHECK(bb_store_put_setting(s, "click.level_db", -INFINITY) == -1); // not a number to keep
    CHECK(bb_store_put_setting(s, "a key far too long for the table's key", 1.0) == -1);
    CHECK(bb_store_get_setting(s, "click.bpm", &v) && v == 97.5);
    CHECK(bb_store_flush(s, 1000) == 2);
    CHECK(bb_store_put_setting(s, "click.bpm", 97.5) == 0);
    CHECK(bb_store_due_ms(s, 5000) == -1); // unchanged: nothing to write
    char key[BB_STORE_KEY_MAX];
    int room = 1;
    for (int i = 0; i < BB_STORE_MAX_SETTINGS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        room &= bb_store_put_setting(s, key, i) == 0;
    }
    CHECK(!room); // two were there already: the last ones did not fit
    bb_store_close(s);
    CHECK(sql_int(path, "SELECT count(*) FROM setting") == BB_STORE_MAX_SETTINGS);

    s = bb_store_open(path, "hub", 500);
    CHECK(s && bb_store_get_setting(s, "click.bpm", &v) && v == 97.5);
    CHECK(bb_store_get_setting(s, "click.level_db", &v) && v == -20.0);
    CHECK(bb_store_get_setting(s, "k3", &v) && v == 3.0);
    CHECK(bb_store_due_ms(s, 0) == -1); // loaded, clean
    CHECK(!bb_store_get_setting(NULL, "click.bpm", &v) && bb_store_put_setting(NULL, "x", 1) == -1);
    bb_store_close(s);
    rm_rf(dir);
    free(path);
}

static void test_write_error(void)
{
    char *dir = mkdir_tmp();
    char *path = join(dir, "hub.db"), *wal = join(dir, "hub.db-wal");
    struct bb_stored_client *a = new_client(), *big = new_client(), *got = new_client();
    fill_client(a, 13);
    fill_client(big, 14);
    big->nconns = BB_ARRAY_LEN(big->conns);
    for (unsigned i = 0; i < big->nconns; i++) {
        memset(big->conns[i].peer, 'a' + (int)(i % 26), BB_PORT_NAME_MAX - 1);
        snprintf(big->conns[i].port, sizeof big->conns[i].port, "p%u", i);
    }

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) { // the limit applies to this process only
        check_failed = 0;
        struct bb_store *s = bb_store_open(path, "hub", 500);
        bb_store_put_client(s, a);
        CHECK(bb_store_flush(s, 1000) == 1);
        struct stat st;
        CHECK(stat(wal, &st) == 0);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        struct rlimit small = {.rlim_cur = (rlim_t)st.st_size + 8192, .rlim_max = rl.rlim_max};
        CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
        cap_begin();
        bb_store_put_client(s, big);
        CHECK(bb_store_flush(s, 2000) == -1);
        CHECK(bb_store_persistent(s));
        int due = bb_store_due_ms(s, 2000);
        CHECK(due >= 500);
        CHECK(bb_store_flush(s, 2000 + (uint64_t)due) == -1);
        CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
        CHECK(bb_store_flush(s, 40000) == 1);
        char *log = cap_end();
        CHECK(count_str(log, "cannot write database") == 1);
        CHECK(count_str(log, "(write failed)") == 1);
        CHECK(count_str(log, "keeping changes in memory, retrying") == 1);
        CHECK(count_str(log, "writable again") == 1);
        bb_store_close(s);
        s = bb_store_open(path, "hub", 500);
        CHECK(bb_store_get_client(s, big->identity, got) && clients_equal(got, big));
        CHECK(bb_store_get_client(s, a->identity, got) && clients_equal(got, a));
        bb_store_close(s);
        free(log);
        fflush(stdout);
        _exit(check_failed ? 1 : 0);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    free(a);
    free(big);
    free(got);
    free(wal);
    free(path);
    rm_rf(dir);
}

int main(void)
{
    test_round_trip();
    test_debounce();
    test_garbage();
    test_not_ours();
    test_locked();
    test_read_only();
    test_crash();
    test_hostile();
    test_migrations();
    test_write_error();
    test_rename();
    test_migrate_v1();
    test_settings();
    return check_report("test_store");
}
