// SPDX-License-Identifier: GPL-2.0-or-later
// test_recorder.c: takes written and read back with libsndfile: alignment of
// tracks that come, go and come back, a skipped cycle, full ring, a slow
// disk (lag, then drops, the callback never waits), kill -9 mid-take, a file
// size limit and an unusable directory.
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sndfile.h>

#include "check.h"
#include "recorder.h"

#define RATE   48000
#define PERIOD 128

static char tmp_root[256];

// Every sample says which track and position it is; never 0 (0 = silence),
// a multiple of 2^-16, so float and 24-bit files hold it exactly.
static float sig(unsigned tag, uint64_t pos)
{
    return (float)((pos * 7 + tag * 1013) % 65535 + 1) / 65536.0f;
}

static void fill(float *buf, unsigned tag, uint64_t pos, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        buf[i] = sig(tag, pos + i);
}

static char msgs[8192];

// Collects the writer's messages until one contains what (or timeout_ms).
static bool wait_msg(struct bb_recorder *rec, const char *what, unsigned timeout_ms)
{
    char m[256];
    for (unsigned t = 0; t < timeout_ms; t += 5) {
        while (bb_recorder_message(rec, m, sizeof m)) {
            size_t len = strlen(msgs);
            snprintf(msgs + len, sizeof msgs - len, "%s\n", m);
            if (strstr(m, what))
                return true;
        }
        usleep(5000);
    }
    return false;
}

static struct bb_recorder *make(const char *sub, enum bb_rec_format fmt, unsigned ring_ms,
                                unsigned tracks, char *dir, size_t dir_size)
{
    snprintf(dir, dir_size, "%s/%s", tmp_root, sub);
    struct bb_recorder_config cfg = {.dir = dir, .rate = RATE, .max_tracks = tracks,
                                     .format = fmt, .ring_ms = ring_ms, .sync_ms = 200};
    char err[256];
    struct bb_recorder *rec = bb_recorder_new_config(&cfg, err, sizeof err);
    if (!rec)
        printf("%s\n", err);
    return rec;
}

// Reads a whole mono file; returns its frame count (-1: cannot open).
static long read_file(const char *path, float **out)
{
    SF_INFO si = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &si);
    if (!sf) {
        printf("cannot open %s: %s\n", path, sf_strerror(NULL));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    float *buf = malloc(cap * sizeof *buf);
    for (;;) {
        if (n + 4096 > cap)
            buf = realloc(buf, (cap *= 2) * sizeof *buf);
        sf_count_t got = sf_read_float(sf, buf + n, 4096);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    CHECK(si.channels == 1 && si.samplerate == RATE);
    sf_close(sf);
    *out = buf;
    return (long)n;
}

static long read_track(const char *take, const char *name, const char *ext, float **out)
{
    char path[1200];
    if (snprintf(path, sizeof path, "%s/%s.%s", take, name, ext) >= (int)sizeof path)
        return -1;
    return read_file(path, out);
}

// ---- alignment: tracks that join, leave and return; a skipped cycle ----

#define AL_CYCLES 1000
#define AL_LEN    ((AL_CYCLES + 2) * PERIOD) // one cycle skipped: 2 periods of gap

static void test_alignment(enum bb_rec_format fmt)
{
    char dir[512];
    struct bb_recorder *rec = make(fmt == BB_REC_FLAC_24 ? "al_flac" : "al_wav", fmt, 10000, 8,
                                   dir, sizeof dir);
    CHECK(rec != NULL);
    if (!rec)
        return;
    // Expected content of each file (tag = file): main_L, main_R, alice_1, bob_1.
    static float expect[4][AL_LEN];
    memset(expect, 0, sizeof expect);
    CHECK(bb_recorder_track_open(rec, 0, "main_L") == 0);
    CHECK(bb_recorder_track_open(rec, 1, "main_R") == 0);
    CHECK(bb_recorder_track_open(rec, 2, "alice_1") == 0);
    CHECK(bb_recorder_start_take(rec, "unit test") == 0);
    CHECK(bb_recorder_start_take(rec, "again") == -EBUSY);
    // JACK's frame counter wraps during this take.
    uint32_t frame = UINT32_MAX - 300 * PERIOD;
    uint64_t pos = 0;
    float buf[PERIOD];
    for (unsigned c = 0; c < AL_CYCLES; c++) {
        if (c == 300)
            CHECK(bb_recorder_track_open(rec, 3, "bob_1") == 0); // joins mid-take
        if (c == 500)
            bb_recorder_track_close(rec, 2); // alice leaves ...
        if (c == 700)
            CHECK(bb_recorder_track_open(rec, 5, "alice_1") == 0); // ... and returns elsewhere
        if (c == 800) { // JACK skipped a cycle: two periods pass
            frame += 2 * PERIOD;
            pos += 2 * PERIOD;
        }
        bb_recorder_rt_begin(rec, frame);
        unsigned ids[4] = {0, 1, (c < 500) ? 2u : 5u, 3};
        for (unsigned t = 0; t < 4; t++) {
            fill(buf, t, pos, PERIOD);
            bb_recorder_rt_write(rec, ids[t], buf, PERIOD);
            bool present = t < 2 || (t == 2 && (c < 500 || c >= 700)) || (t == 3 && c >= 300);
            if (present)
                memcpy(&expect[t][pos], buf, sizeof buf);
        }
        bb_recorder_rt_write(rec, 6, buf, PERIOD); // not a track: ignored
        bb_recorder_rt_end(rec);
        frame += PERIOD;
        pos += PERIOD;
    }
    CHECK(pos == AL_LEN);
    CHECK(bb_recorder_stop(rec) == 0);
    CHECK(wait_msg(rec, "done", 10000));
    char take[1024];
    bb_recorder_take_dir(rec, take, sizeof take);
    CHECK(strstr(take, "/take-001_") != NULL && strstr(take, "_unit_test") != NULL);
    const char *names[4] = {"main_L", "main_R", "alice_1", "bob_1"};
    const char *ext = fmt == BB_REC_FLAC_24 ? "flac" : "wav";
    float tol = fmt == BB_REC_FLAC_24 ? 2e-6f : 0.0f;
    for (unsigned t = 0; t < 4; t++) {
        float *got = NULL;
        long n = read_track(take, names[t], ext, &got);
        CHECK(n == AL_LEN);
        long bad = 0;
        for (long i = 0; i < n && i < AL_LEN; i++)
            if (!(got[i] - expect[t][i] <= tol && expect[t][i] - got[i] <= tol))
                bad++;
        if (bad)
            printf("%s: %ld samples differ\n", names[t], bad);
        CHECK(bad == 0);
        free(got);
    }
    struct bb_recorder_stats st;
    bb_recorder_stats(rec, &st);
    CHECK(st.frames_dropped == 0 && st.disk_errors == 0 && st.frames_lost == 0);
    CHECK(st.frames_written == 4 * (uint64_t)AL_LEN);
    CHECK(!st.recording && st.files_open == 0);
    // A second take gets the next number.
    CHECK(bb_recorder_start_take(rec, NULL) == 0);
    CHECK(wait_msg(rec, "recording into", 5000));
    bb_recorder_take_dir(rec, take, sizeof take);
    CHECK(strstr(take, "/take-002_") != NULL);
    bb_recorder_free(rec); // finishes the take
}

// ---- a full ring and a slow disk ----

// Callback cycles that took over 5 ms in the last run_cycles. The worst
// cycle alone says little on a loaded 2-core machine (the test thread is
// not realtime and gets preempted now and then; a thread that never sleeps
// is preempted at every time slice, so the checks run at real pace); a
// callback that waited for a 30 ms disk write would be slow again and again.
static unsigned slow_cycles;

// Writes ncycles of tracks 0..ntr-1 at real pace (sleep between cycles) or
// flat out; returns the longest callback cycle in ns.
static uint64_t run_cycles(struct bb_recorder *rec, unsigned ntr, unsigned c0, unsigned ncycles,
                           bool paced, uint64_t *lag_before_drop)
{
    float buf[PERIOD];
    uint64_t worst = 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    slow_cycles = 0;
    for (unsigned c = c0; c < c0 + ncycles; c++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        bb_recorder_rt_begin(rec, 1000 + c * PERIOD);
        for (unsigned t = 0; t < ntr; t++) {
            fill(buf, t, (uint64_t)c * PERIOD, PERIOD);
            bb_recorder_rt_write(rec, t, buf, PERIOD);
        }
        bb_recorder_rt_end(rec);
        clock_gettime(CLOCK_MONOTONIC, &b);
        uint64_t ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u + (uint64_t)(b.tv_nsec - a.tv_nsec);
        if (ns > worst)
            worst = ns;
        slow_cycles += ns > 5000000;
        if (lag_before_drop && *lag_before_drop == 0) {
            struct bb_recorder_stats st;
            bb_recorder_stats(rec, &st);
            if (st.frames_dropped)
                *lag_before_drop = st.max_lag_frames;
        }
        if (paced) {
            next.tv_nsec += PERIOD * 1000000000L / RATE;
            if (next.tv_nsec >= 1000000000L) {
                next.tv_nsec -= 1000000000L;
                next.tv_sec++;
            }
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        }
    }
    return worst;
}

// Every file as long as the take; each sample what was written or silence
// where a block was dropped; the silence adds up to the drops.
static void check_dropped_take(struct bb_recorder *rec, unsigned ntr, unsigned ncycles)
{
    char take[1024];
    bb_recorder_take_dir(rec, take, sizeof take);
    for (unsigned t = 0; t < ntr; t++) {
        char name[16];
        snprintf(name, sizeof name, "t%u", t);
        float *got = NULL;
        long n = read_track(take, name, "wav", &got);
        CHECK(n == (long)ncycles * PERIOD);
        long bad = 0, zeros = 0;
        for (long i = 0; i < n; i++) {
            if (got[i] == 0.0f)
                zeros++;
            else if (got[i] != sig(t, (uint64_t)i))
                bad++;
        }
        CHECK(bad == 0);
        CHECK((uint64_t)zeros == bb_recorder_track_dropped(rec, t));
        free(got);
    }
}

static void test_full_ring_slow_disk(void)
{
    char dir[512];
    // A ring of 100 ms and a disk that takes 30 ms for every write.
    struct bb_recorder *rec = make("slow", BB_REC_WAV_FLOAT, 100, 4, dir, sizeof dir);
    CHECK(rec != NULL);
    if (!rec)
        return;
    for (unsigned t = 0; t < 4; t++) {
        char name[16];
        snprintf(name, sizeof name, "t%u", t);
        CHECK(bb_recorder_track_open(rec, t, name) == 0);
    }
    bb_recorder_test_slow_disk(rec, 30000);
    CHECK(bb_recorder_start_take(rec, "slow") == 0);
    uint64_t lag_at_drop = 0;
    msgs[0] = '\0';
    unsigned ncycles = 750; // 2 s at real pace
    uint64_t worst = run_cycles(rec, 4, 0, ncycles, true, &lag_at_drop);
    struct bb_recorder_stats st;
    bb_recorder_stats(rec, &st);
    printf("slow disk: worst callback cycle %.1f us (4 tracks), lag before the first drop %llu "
           "frames, max lag %llu, dropped %llu of %u frames\n",
           worst / 1e3, (unsigned long long)lag_at_drop, (unsigned long long)st.max_lag_frames,
           (unsigned long long)st.frames_dropped, ncycles * PERIOD * 4);
    CHECK(st.frames_dropped > 0);
    CHECK(lag_at_drop > RATE / 20); // the writer fell behind before anything dropped
    CHECK(slow_cycles * 100 < ncycles); // never waited for a 30 ms write
    bb_recorder_test_slow_disk(rec, 0);
    CHECK(bb_recorder_stop(rec) == 0);
    CHECK(wait_msg(rec, "done", 10000));
    CHECK(strstr(msgs, "the disk is too slow") != NULL); // told, once a sync interval
    check_dropped_take(rec, 4, ncycles);
    bb_recorder_free(rec);
}

// ---- writer throughput and callback cost ----

static void test_throughput(void)
{
    char dir[512];
    enum { NT = 16, NC = 3000 };
    struct bb_recorder *rec = make("speed", BB_REC_WAV_FLOAT, 20000, NT, dir, sizeof dir);
    CHECK(rec != NULL);
    if (!rec)
        return;
    for (unsigned t = 0; t < NT; t++) {
        char name[16];
        snprintf(name, sizeof name, "t%u", t);
        bb_recorder_track_open(rec, t, name);
    }
    CHECK(bb_recorder_start_take(rec, "speed") == 0);
    uint64_t t0 = bb_now_ns();
    float buf[PERIOD];
    fill(buf, 1, 0, PERIOD);
    uint64_t rt_ns = 0;
    for (unsigned c = 0; c < NC; c++) {
        uint64_t a = bb_now_ns();
        bb_recorder_rt_begin(rec, c * PERIOD);
        for (unsigned t = 0; t < NT; t++)
            bb_recorder_rt_write(rec, t, buf, PERIOD);
        bb_recorder_rt_end(rec);
        rt_ns += bb_now_ns() - a;
    }
    CHECK(bb_recorder_stop(rec) == 0);
    CHECK(wait_msg(rec, "done", 30000));
    double secs = (bb_now_ns() - t0) / 1e9;
    struct bb_recorder_stats st;
    bb_recorder_stats(rec, &st);
    CHECK(st.frames_dropped == 0);
    double audio = (double)NT * NC * PERIOD / RATE;
    printf("throughput: %u tracks x %.1f s written in %.2f s = %.0fx real time (%.1f MB/s); "
           "callback %.2f us per channel per %u-frame period\n",
           NT, (double)NC * PERIOD / RATE, secs, audio / secs, st.bytes / secs / 1e6,
           rt_ns / 1e3 / NC / NT, PERIOD);
    bb_recorder_free(rec);
}

// ---- kill -9 mid-take ----

static bool find_take(const char *dir, const char *prefix, char *take, size_t size)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(take, size, "%s/%s", dir, e->d_name);
            found = true;
        }
    }
    closedir(d);
    return found;
}

// The data chunk size a reader that trusts the header sees (-1: none).
static long wav_data_bytes(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    unsigned char h[12], c[8];
    long size = -1;
    if (fread(h, 1, 12, fp) == 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WAVE", 4) == 0) {
        while (fread(c, 1, 8, fp) == 8) {
            long len = (long)(c[4] | c[5] << 8 | c[6] << 16 | (unsigned long)c[7] << 24);
            if (memcmp(c, "data", 4) == 0) {
                size = len;
                break;
            }
            if (fseek(fp, len + (len & 1), SEEK_CUR) != 0)
                break;
        }
    }
    fclose(fp);
    return size;
}

static void kill9_child(const char *dir, enum bb_rec_format fmt, _Atomic uint64_t *shared)
{
    struct bb_recorder_config cfg = {.dir = dir, .rate = RATE, .max_tracks = 2, .format = fmt};
    char err[256];
    struct bb_recorder *rec = bb_recorder_new_config(&cfg, err, sizeof err);
    if (!rec || bb_recorder_track_open(rec, 0, "t0") || bb_recorder_track_open(rec, 1, "t1") ||
        bb_recorder_start_take(rec, "crash"))
        _exit(1);
    float buf[PERIOD];
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (unsigned c = 0; c < 20u * RATE / PERIOD; c++) {
        bb_recorder_rt_begin(rec, c * PERIOD);
        for (unsigned t = 0; t < 2; t++) {
            fill(buf, t, (uint64_t)c * PERIOD, PERIOD);
            bb_recorder_rt_write(rec, t, buf, PERIOD);
        }
        bb_recorder_rt_end(rec);
        atomic_store(shared, (uint64_t)(c + 1) * PERIOD);
        next.tv_nsec += PERIOD * 1000000000L / RATE;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    _exit(2);
}

static void test_kill9(enum bb_rec_format fmt)
{
    const char *ext = fmt == BB_REC_FLAC_24 ? "flac" : "wav";
    char dir[512], take[1024];
    snprintf(dir, sizeof dir, "%s/kill_%s", tmp_root, ext);
    _Atomic uint64_t *shared =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(shared != MAP_FAILED);
    if (shared == MAP_FAILED)
        return;
    atomic_init(shared, 0);
    pid_t pid = fork();
    if (pid == 0)
        kill9_child(dir, fmt, shared);
    usleep(2700 * 1000);
    uint64_t fed = atomic_load(shared);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(find_take(dir, "take-", take, sizeof take));
    float tol = fmt == BB_REC_FLAC_24 ? 2e-6f : 0.0f;
    for (unsigned t = 0; t < 2; t++) {
        char path[1200], cmd[1300];
        if (snprintf(path, sizeof path, "%s/t%u.%s", take, t, ext) >= (int)sizeof path)
            continue;
        float *got = NULL;
        long n = read_file(path, &got);
        long bad = 0;
        for (long i = 0; i < n; i++)
            if (!(got[i] - sig(t, (uint64_t)i) <= tol && sig(t, (uint64_t)i) - got[i] <= tol))
                bad++;
        long hdr = fmt == BB_REC_WAV_FLOAT ? wav_data_bytes(path) / 4 : n;
        printf("kill -9 (%s): callback had fed %llu frames, file reads %ld, header says %ld\n",
               ext, (unsigned long long)fed, n, hdr);
        CHECK(n >= (long)fed - RATE * 12 / 10 && n <= (long)fed);
        CHECK(hdr >= (long)fed - RATE * 12 / 10 && hdr <= n);
        CHECK(bad == 0);
        if (snprintf(cmd, sizeof cmd, "command -v sndfile-info >/dev/null || exit 0; "
                                      "sndfile-info '%s' >/dev/null 2>&1", path) < (int)sizeof cmd)
            CHECK(system(cmd) == 0);
        free(got);
    }
    munmap((void *)shared, 4096);
}

// ---- disk errors ----

static void test_file_size_limit(void)
{
    char dir[512];
    struct bb_recorder *rec = make("fsize", BB_REC_WAV_FLOAT, 5000, 2, dir, sizeof dir);
    CHECK(rec != NULL);
    if (!rec)
        return;
    bb_recorder_track_open(rec, 0, "t0");
    bb_recorder_track_open(rec, 1, "t1");
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 256 * 1024; // 1.3 s of a float track
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHECK(bb_recorder_start_take(rec, "fsize") == 0);
    uint64_t worst = run_cycles(rec, 2, 0, 750, true, NULL);
    msgs[0] = '\0';
    CHECK(wait_msg(rec, "File too large", 5000));
    struct bb_recorder_stats st;
    bb_recorder_stats(rec, &st);
    CHECK(st.disk_errors > 0 && st.frames_lost > 0);
    // Room again: the files go on from where they are, padded, aligned.
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    usleep(300 * 1000);
    unsigned slow1 = slow_cycles;
    uint64_t w2 = run_cycles(rec, 2, 750, 750, true, NULL);
    worst = w2 > worst ? w2 : worst;
    CHECK((slow1 + slow_cycles) * 100 < 1500);
    CHECK(bb_recorder_stop(rec) == 0);
    CHECK(wait_msg(rec, "done", 10000));
    printf("file size limit: %llu errors, %llu frames lost, worst callback cycle %.1f us\n",
           (unsigned long long)st.disk_errors, (unsigned long long)st.frames_lost, worst / 1e3);
    char take[1024];
    bb_recorder_take_dir(rec, take, sizeof take);
    for (unsigned t = 0; t < 2; t++) {
        char name[8];
        snprintf(name, sizeof name, "t%u", t);
        float *got = NULL;
        long n = read_track(take, name, "wav", &got);
        CHECK(n == 1500 * PERIOD);
        long bad = 0;
        for (long i = 0; i < n; i++)
            if (got[i] != 0.0f && got[i] != sig(t, (uint64_t)i))
                bad++;
        CHECK(bad == 0);
        CHECK(n > 0 && got[n - 1] == sig(t, (uint64_t)n - 1)); // recovered
        free(got);
    }
    bb_recorder_free(rec);
}

static void test_bad_dir(void)
{
    char dir[512], file[512];
    snprintf(file, sizeof file, "%s/not_a_dir", tmp_root);
    FILE *fp = fopen(file, "w");
    CHECK(fp != NULL);
    if (fp)
        fclose(fp);
    struct bb_recorder *rec = make("not_a_dir/rec", BB_REC_WAV_FLOAT, 1000, 2, dir, sizeof dir);
    CHECK(rec != NULL);
    if (!rec)
        return;
    bb_recorder_track_open(rec, 0, "t0");
    msgs[0] = '\0';
    CHECK(bb_recorder_start_take(rec, NULL) == 0);
    uint64_t worst = run_cycles(rec, 1, 0, 400, true, NULL);
    CHECK(wait_msg(rec, "Not a directory", 5000));
    CHECK(slow_cycles * 100 < 400);
    printf("unusable directory: worst callback cycle %.1f us\n", worst / 1e3);
    CHECK(bb_recorder_stop(rec) == 0);
    CHECK(wait_msg(rec, "done", 5000));
    struct bb_recorder_stats st;
    bb_recorder_stats(rec, &st);
    CHECK(st.disk_errors > 0 && st.frames_lost > 0 && st.frames_dropped == 0);
    bb_recorder_free(rec);
    char err[128];
    CHECK(bb_recorder_new("", RATE, 2, err, sizeof err) == NULL && strstr(err, "directory"));
    CHECK(bb_recorder_new("/tmp", 10, 2, err, sizeof err) == NULL && strstr(err, "range"));
}

// ---- a musician who joins an hour into a take ----

static void test_late_join(void)
{
    char dir[512], take[1024], path[1200];
    struct bb_recorder *rec = make("late", BB_REC_WAV_FLOAT, 1000, 2, dir, sizeof dir);
    CHECK(rec != NULL);
    if (!rec)
        return;
    bb_recorder_track_open(rec, 0, "main");
    CHECK(bb_recorder_start_take(rec, "late") == 0);
    const unsigned P = 4096, hour = 3600u * RATE / P;
    float buf[4096];
    for (unsigned c = 0; c < hour + 10; c++) {
        if (c == hour)
            CHECK(bb_recorder_track_open(rec, 1, "late") == 0);
        bb_recorder_rt_begin(rec, c * P);
        for (unsigned t = 0; t < 2; t++) {
            fill(buf, t, (uint64_t)c * P, P);
            bb_recorder_rt_write(rec, t, c >= hour ? buf : NULL, P);
        }
        bb_recorder_rt_end(rec);
    }
    uint64_t t0 = bb_now_ns();
    CHECK(bb_recorder_stop(rec) == 0);
    CHECK(wait_msg(rec, "done", 20000));
    double secs = (bb_now_ns() - t0) / 1e9;
    bb_recorder_take_dir(rec, take, sizeof take);
    uint64_t len = (uint64_t)(hour + 10) * P;
    for (unsigned t = 0; t < 2; t++) {
        snprintf(path, sizeof path, "%s/%s.wav", take, t ? "late" : "main");
        SF_INFO si = {0};
        SNDFILE *sf = sf_open(path, SFM_READ, &si);
        CHECK(sf != NULL && (uint64_t)si.frames == len);
        if (!sf)
            continue;
        long bad = 0;
        sf_read_float(sf, buf, P);
        for (unsigned i = 0; i < P; i++)
            bad += buf[i] != 0.0f;
        sf_seek(sf, (sf_count_t)hour * P - P, SEEK_SET);
        for (unsigned c = hour - 1; c < hour + 10; c++) {
            CHECK(sf_read_float(sf, buf, P) == P);
            for (unsigned i = 0; i < P; i++)
                bad += buf[i] != (c < hour ? 0.0f : sig(t, (uint64_t)c * P + i));
        }
        CHECK(bad == 0);
        sf_close(sf);
        struct stat stb;
        CHECK(stat(path, &stb) == 0 && (uint64_t)stb.st_blocks * 512 < len);
        if (t == 1)
            printf("late join: 1 h of silence padded in %.2f s, file %.0f MB on disk of %.0f MB\n",
                   secs, stb.st_blocks * 512 / 1e6, len * 4 / 1e6);
    }
    bb_recorder_free(rec);
}

// ---- stop and start between two cycles (a JACK restart in a hurry) ----

static void test_quick_restart(void)
{
    char dir[512];
    struct bb_recorder *rec = make("quick", BB_REC_WAV_FLOAT, 5000, 2, dir, sizeof dir);
    CHECK(rec != NULL);
    if (!rec)
        return;
    bb_recorder_track_open(rec, 0, "t0");
    bb_recorder_track_open(rec, 1, "t1");
    // A slow disk keeps the writer busy, so it meets the stop, the next
    // start and blocks of both takes all in one look.
    bb_recorder_test_slow_disk(rec, 50000);
    CHECK(bb_recorder_start_take(rec, "a") == 0);
    run_cycles(rec, 2, 0, 300, false, NULL);
    CHECK(bb_recorder_stop(rec) == 0);
    CHECK(bb_recorder_start_take(rec, "b") == 0);
    run_cycles(rec, 2, 0, 250, false, NULL); // the new take starts at position 0
    usleep(400 * 1000);
    bb_recorder_test_slow_disk(rec, 0);
    run_cycles(rec, 2, 250, 250, false, NULL);
    CHECK(bb_recorder_stop(rec) == 0);
    CHECK(wait_msg(rec, "_b done", 10000));
    char take_b[1024], take_a[1024];
    bb_recorder_take_dir(rec, take_b, sizeof take_b);
    CHECK(strstr(take_b, "/take-002_") != NULL && strstr(msgs, "_a done") != NULL);
    CHECK(find_take(dir, "take-001_", take_a, sizeof take_a));
    for (unsigned t = 0; t < 2; t++) {
        char name[8];
        snprintf(name, sizeof name, "t%u", t);
        float *got = NULL;
        CHECK(read_track(take_a, name, "wav", &got) == 300 * PERIOD);
        free(got);
        CHECK(read_track(take_b, name, "wav", &got) == 500 * PERIOD);
        long bad = 0;
        for (long i = 0; i < 500 * PERIOD; i++)
            bad += got[i] != sig(t, (uint64_t)i);
        CHECK(bad == 0);
        free(got);
    }
    struct bb_recorder_stats st;
    bb_recorder_stats(rec, &st);
    CHECK(st.frames_dropped == 0 && st.late_blocks == 0);
    bb_recorder_free(rec);
}

int main(void)
{
    signal(SIGXFSZ, SIG_IGN);
    snprintf(tmp_root, sizeof tmp_root, "/tmp/bb_test_recorder.XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    test_alignment(BB_REC_WAV_FLOAT);
    test_alignment(BB_REC_FLAC_24);
    test_full_ring_slow_disk();
    test_throughput();
    test_late_join();
    test_quick_restart();
    test_kill9(BB_REC_WAV_FLOAT);
    test_kill9(BB_REC_FLAC_24);
    test_file_size_limit();
    test_bad_dir();
    if (check_failed == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
        if (system(cmd) != 0)
            printf("could not remove %s\n", tmp_root);
    } else {
        printf("files kept in %s\n", tmp_root);
        printf("writer messages:\n%s", msgs);
    }
    return check_report("test_recorder");
}
