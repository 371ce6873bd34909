// SPDX-License-Identifier: GPL-2.0-or-later
// recorder_writer.c: the recorder's writer thread (see recorder.h for the
// design, recorder_writer.h for how it hears from the control thread and
// the callback).
//
// Two parts, in this order: files (libsndfile through a virtual I/O that
// makes a write all or nothing, padding with silence, header updates and
// syncs, disk errors), then takes, commands and blocks (the ring drained
// into the files, a take finished, once a second a sync and a message).
#include "recorder_writer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sndfile.h>

#include "counter.h"
#include "ring.h"

static void rec_msg(struct bb_recorder *rec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- writer thread: files ------------------------------------------- */

static void rec_msg(struct bb_recorder *rec, const char *fmt, ...)
{
    char m[REC_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    (void)bb_ring_write(&rec->msgs, m, sizeof m); // full: the control thread is not reading
}

// A failure of file f (NULL: of the take) this sync interval, reported once
// a second by sync_tick.
static void rec_fail(struct bb_recorder *rec, const struct rec_file *f, const char *what, int err)
{
    bb_counter_inc(&rec->disk_errors);
    if (rec->tick_errors++ > 0)
        return;
    // The take's directory may be long; a log line cut short is fine.
    int n = snprintf(rec->tick_msg, sizeof rec->tick_msg, "%s %s%s%s: %s", what, rec->take.dir,
                     f ? "/" : "", f ? f->name : "", strerror(err));
    if (n >= (int)sizeof rec->tick_msg)
        memcpy(rec->tick_msg + sizeof rec->tick_msg - 4, "...", 4);
}

// libsndfile writes through these, so a write is all or nothing: a partial
// write (disk full, file size limit) is cut back, and libsndfile counts only
// whole frames, so the file's audio stays where its frame count says.
static sf_count_t vio_len(void *u)
{
    return ((struct rec_file *)u)->len;
}

static sf_count_t vio_seek(sf_count_t off, int whence, void *u)
{
    struct rec_file *f = u;
    int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? f->off : f->len;
    if (base + off < 0)
        return -1;
    f->off = base + off;
    return f->off;
}

static sf_count_t vio_read(void *ptr, sf_count_t n, void *u)
{
    struct rec_file *f = u;
    ssize_t r = pread(f->fd, ptr, (size_t)n, f->off);
    if (r < 0)
        return 0;
    f->off += r;
    return r;
}

static bool all_zero(const void *ptr, sf_count_t n)
{
    const unsigned char *p = ptr;
    return n > 0 && p[0] == 0 && memcmp(p, p + 1, (size_t)n - 1) == 0;
}

static sf_count_t vio_write(const void *ptr, sf_count_t n, void *u)
{
    struct rec_file *f = u;
    unsigned delay = atomic_load_explicit(&f->rec->test_delay_us, memory_order_relaxed);
    if (delay)
        usleep(delay);
    // Silence appended to a float WAV is zero bytes: a hole costs no disk
    // and no time, so a musician who joins an hour into a take does not
    // make the writer write 700 MB of zeros before their first note.
    if (f->off >= f->len && f->rec->format == BB_REC_WAV_FLOAT && all_zero(ptr, n)) {
        if (ftruncate(f->fd, f->off + n) < 0) {
            f->err = errno;
            return 0;
        }
        f->off += n;
        f->len = f->off;
        return n;
    }
    sf_count_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(f->fd, (const char *)ptr + done, (size_t)(n - done), f->off + done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            f->err = w < 0 ? errno : ENOSPC;
            if (f->off + done > f->len && ftruncate(f->fd, f->len > f->off ? f->len : f->off) < 0)
                f->err = errno;
            return 0;
        }
        done += w;
    }
    f->off += n;
    if (f->off > f->len)
        f->len = f->off;
    bb_counter_add(&f->rec->bytes, (uint64_t)n);
    return n;
}

static sf_count_t vio_tell(void *u)
{
    return ((struct rec_file *)u)->off;
}

static SF_VIRTUAL_IO rec_vio = {vio_len, vio_seek, vio_read, vio_write, vio_tell};

static int file_path(struct bb_recorder *rec, const struct rec_file *f, char *path, size_t size)
{
    const char *ext = rec->format == BB_REC_FLAC_24 ? "flac" : "wav";
    int n = snprintf(path, size, "%s/%s.%s", rec->take.dir, f->name, ext);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

// Opens (or, after a failure, opens again) f's file from its beginning.
static int file_open(struct bb_recorder *rec, struct rec_file *f)
{
    char path[PATH_MAX];
    if (file_path(rec, f, path, sizeof path) != 0) {
        rec_fail(rec, f, "name too long:", ENAMETOOLONG);
        return -1;
    }
    f->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        rec_fail(rec, f, "cannot create", errno);
        return -1;
    }
    f->off = f->len = 0;
    f->written = 0;
    f->nstage = 0;
    SF_INFO si = {.samplerate = (int)rec->rate, .channels = 1};
    si.format = rec->format == BB_REC_FLAC_24 ? SF_FORMAT_FLAC | SF_FORMAT_PCM_24
                                              : SF_FORMAT_RF64 | SF_FORMAT_FLOAT;
    f->sf = sf_open_virtual(&rec_vio, SFM_WRITE, &si, f);
    if (!f->sf) {
        rec_fail(rec, f, "libsndfile cannot write", f->err ? f->err : EIO);
        close(f->fd);
        f->fd = -1;
        return -1;
    }
    if (rec->format == BB_REC_FLAC_24) {
        sf_command(f->sf, SFC_SET_CLIPPING, NULL, SF_TRUE); // > 0 dBFS clips, never wraps
    } else {
        // A plain WAV while it is below 4 GB, RF64 once it grows beyond.
        sf_command(f->sf, SFC_RF64_AUTO_DOWNGRADE, NULL, SF_TRUE);
        // A file with its header in place from the start reads as empty, not broken.
        sf_command(f->sf, SFC_UPDATE_HEADER_NOW, NULL, 0);
    }
    atomic_fetch_add_explicit(&rec->files_open, 1, memory_order_relaxed);
    return 0;
}

static void file_flush(struct bb_recorder *rec, struct rec_file *f)
{
    if (!f->nstage)
        return;
    sf_count_t got = f->sf ? sf_write_float(f->sf, f->stage, f->nstage) : 0;
    if (got < 0)
        got = 0;
    f->written += (uint64_t)got;
    bb_counter_add(&rec->frames_written, (uint64_t)got);
    if ((unsigned)got < f->nstage) {
        bb_counter_add(&rec->frames_lost, f->nstage - (uint64_t)got);
        rec->tick_lost += f->nstage - (uint64_t)got;
        if (f->sf)
            rec_fail(rec, f, "cannot write", f->err ? f->err : EIO);
        f->failed = true;
    }
    f->nstage = 0;
}

// Puts n frames (data NULL: silence) at take position pos of f, filling a
// gap before them with silence.
static void file_put(struct bb_recorder *rec, struct rec_file *f, uint64_t pos, const float *data,
                     unsigned n)
{
    if (f->failed || !f->sf) {
        bb_counter_add(&rec->frames_lost, n);
        rec->tick_lost += n;
        return;
    }
    uint64_t cur = f->written + f->nstage;
    if (pos < cur) { // overlap: only after a timeline jump; keep the first
        uint64_t skip = cur - pos;
        if (skip >= n)
            return;
        data = data ? data + skip : NULL;
        n -= (unsigned)skip;
        pos = cur;
    }
    for (uint64_t gap = pos - cur; gap > 0 && !f->failed;) {
        unsigned k = REC_STAGE - f->nstage;
        if (k > gap)
            k = (unsigned)gap;
        memset(f->stage + f->nstage, 0, k * sizeof(float));
        f->nstage += k;
        gap -= k;
        bb_counter_add(&rec->frames_silence, k);
        if (f->nstage == REC_STAGE)
            file_flush(rec, f);
    }
    while (n > 0 && !f->failed) {
        unsigned k = REC_STAGE - f->nstage;
        if (k > n)
            k = n;
        if (data) {
            memcpy(f->stage + f->nstage, data, k * sizeof(float));
            data += k;
        } else {
            memset(f->stage + f->nstage, 0, k * sizeof(float));
        }
        f->nstage += k;
        n -= k;
        if (f->nstage == REC_STAGE)
            file_flush(rec, f);
    }
}

// Header rewritten and data on the disk: what a crash or power loss leaves.
static void file_sync(struct bb_recorder *rec, struct rec_file *f)
{
    file_flush(rec, f);
    if (!f->sf)
        return;
    if (rec->format == BB_REC_WAV_FLOAT)
        sf_command(f->sf, SFC_UPDATE_HEADER_NOW, NULL, 0);
    if (fdatasync(f->fd) < 0)
        rec_fail(rec, f, "cannot sync", errno);
}

static void file_close(struct bb_recorder *rec, struct rec_file *f)
{
    if (f->sf) {
        file_flush(rec, f);
        sf_close(f->sf);
        if (fdatasync(f->fd) < 0)
            rec_fail(rec, f, "cannot sync", errno);
        atomic_fetch_sub_explicit(&rec->files_open, 1, memory_order_relaxed);
    }
    if (f->fd >= 0)
        close(f->fd);
    free(f->stage);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

/* ---- writer thread: takes, commands, blocks ------------------------- */

// One more than the highest take-NNN in dir, so takes of earlier runs stay.
static unsigned next_take_number(const char *dir)
{
    unsigned best = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 1;
    for (struct dirent *e; (e = readdir(d));) {
        unsigned n;
        if (sscanf(e->d_name, "take-%u", &n) == 1 && n > best && n < 1000000)
            best = n;
    }
    closedir(d);
    return best + 1;
}

static void take_begin(struct bb_recorder *rec, const struct rec_cmd *c)
{
    rec->take.serial = c->take;
    rec->take.open = true;
    rec->take.stop_pending = false;
    rec->take.end = 0;
    rec->take.nfiles = 0;
    time_t t = (time_t)c->time;
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H-%M-%S", &tm);
    // dir is at most PATH_MAX - 200 long (bb_recorder_new_config): this fits.
    int n = snprintf(rec->take.dir, sizeof rec->take.dir, "%s/take-%03u_%s%s%s", rec->dir,
                     next_take_number(rec->dir), stamp, c->name[0] ? "_" : "", c->name);
    char probe[PATH_MAX + 4];
    if (n >= (int)sizeof rec->take.dir)
        rec_fail(rec, NULL, "path too long:", ENAMETOOLONG);
    else if (snprintf(probe, sizeof probe, "%s/x", rec->take.dir) < (int)sizeof probe &&
             bb_mkdirs_for(probe) < 0)
        rec_fail(rec, NULL, "cannot create", errno);
    else
        rec_msg(rec, "recorder: recording into %s", rec->take.dir);
    pthread_mutex_lock(&rec->dir_lock);
    snprintf(rec->take_dir, sizeof rec->take_dir, "%s", rec->take.dir);
    pthread_mutex_unlock(&rec->dir_lock);
}

// Every file padded to the take's end, so all have the same length; closed.
static void take_finish(struct bb_recorder *rec)
{
    uint64_t lost0 = bb_counter_get(&rec->frames_lost);
    // The callback's own end of the take counts too: when the ring was full
    // at the end, the last blocks of every track are missing, not the time.
    uint64_t serial = rec->take.serial & 0xFFFFFF;
    uint64_t ends[2] = {atomic_load_explicit(&rec->rt_pos, memory_order_relaxed),
                        atomic_load_explicit(&rec->rt_prev_pos, memory_order_relaxed)};
    for (int i = 0; i < 2; i++)
        if (ends[i] >> REC_POS_BITS == serial && (ends[i] & REC_POS_MASK) > rec->take.end)
            rec->take.end = ends[i] & REC_POS_MASK;
    for (unsigned k = 0; k < rec->take.nfiles; k++) {
        struct rec_file *f = &rec->take.files[k];
        f->failed = false; // one last try
        file_put(rec, f, rec->take.end, NULL, 0);
        file_close(rec, f);
    }
    rec_msg(rec, "recorder: take %s done: %u files, %.1f s%s", rec->take.dir, rec->take.nfiles,
            (double)rec->take.end / rec->rate,
            bb_counter_get(&rec->frames_lost) > lost0 ? " (some audio lost: disk errors)" : "");
    rec->take.open = false;
    rec->take.nfiles = 0;
}

static void file_begin(struct bb_recorder *rec, const struct rec_cmd *c)
{
    if (c->file != rec->take.nfiles || c->file >= rec->max_files)
        return; // the control thread numbers files 0, 1, 2, ... in a take
    struct rec_file *f = &rec->take.files[rec->take.nfiles++];
    memset(f, 0, sizeof *f);
    f->rec = rec;
    f->fd = -1;
    memcpy(f->name, c->name, REC_NAME);
    f->name[REC_NAME - 1] = '\0';
    f->stage = malloc(REC_STAGE * sizeof(float));
    if (!f->stage) {
        rec_fail(rec, f, "out of memory for", ENOMEM);
        return;
    }
    (void)file_open(rec, f); // a failure is retried at every sync
}

// Reads commands in order; stops before the next take's start while a take
// is still being written (its blocks come first).
static void drain_cmds(struct bb_recorder *rec)
{
    struct rec_cmd c;
    while (bb_ring_peek(&rec->cmds, &c, sizeof c)) {
        if (c.type == CMD_TAKE && rec->take.open)
            return;
        bb_ring_skip(&rec->cmds, sizeof c);
        c.name[REC_NAME - 1] = '\0';
        if (c.type == CMD_TAKE)
            take_begin(rec, &c);
        else if (c.type == CMD_FILE && rec->take.open && c.take == rec->take.serial)
            file_begin(rec, &c);
        else if (c.type == CMD_STOP && rec->take.open && c.take == rec->take.serial)
            rec->take.stop_pending = true;
    }
}

// The file block h goes to, reading commands if it is not known yet (the
// command naming it is then visible); NULL: a late block.
static struct rec_file *block_file(struct bb_recorder *rec, const struct rec_block *h)
{
    for (int pass = 0; pass < 3; pass++) {
        if (rec->take.open && h->take == rec->take.serial) {
            if (h->file < rec->take.nfiles)
                return &rec->take.files[h->file];
        } else if (rec->take.open && (int32_t)((h->take - rec->take.serial) << 8) > 0) {
            take_finish(rec); // the callback has moved on to a later take
        }
        drain_cmds(rec);
    }
    return NULL;
}

// Writes what is in the ring now. Returns false on a corrupt stream.
static bool drain_data(struct bb_recorder *rec)
{
    uint32_t avail = bb_ring_read_space(&rec->ring);
    while (avail >= sizeof(struct rec_block)) {
        struct rec_block h;
        bb_ring_peek(&rec->ring, &h, sizeof h);
        uint32_t bytes = h.nframes * (uint32_t)sizeof(float);
        // A block is published whole (bb_ring_write2): a header without
        // its data is as corrupt as a bad magic.
        if (h.magic != REC_MAGIC || h.nframes > BB_MAX_PERIOD || avail < sizeof h + bytes)
            return false;
        bb_ring_skip(&rec->ring, sizeof h);
        bb_ring_read(&rec->ring, rec->scratch, bytes);
        avail -= (uint32_t)sizeof h + bytes;
        struct rec_file *f = block_file(rec, &h);
        if (!f) {
            bb_counter_inc(&rec->late_blocks);
            continue;
        }
        file_put(rec, f, h.pos, rec->scratch, h.nframes);
        if (h.pos + h.nframes > rec->take.end)
            rec->take.end = h.pos + h.nframes;
        atomic_store_explicit(&rec->wr_pos,
                              (uint64_t)h.take << REC_POS_BITS | (rec->take.end & REC_POS_MASK),
                              memory_order_relaxed);
    }
    return true;
}

// Once per sync_ms: headers, fdatasync, retries, one message on trouble.
static void sync_tick(struct bb_recorder *rec)
{
    if (rec->take.open) {
        for (unsigned k = 0; k < rec->take.nfiles; k++) {
            struct rec_file *f = &rec->take.files[k];
            if (!f->sf && f->stage)
                (void)file_open(rec, f);
            f->failed = false; // try again; file_put pads the gap
            file_sync(rec, f);
        }
    }
    // A disk too slow for the take: say so before and while it costs audio.
    uint64_t dropped = bb_counter_get(&rec->frames_dropped);
    unsigned fill = (unsigned)((uint64_t)bb_ring_read_space(&rec->ring) * 100 / rec->ring.size);
    if (dropped > rec->tick_dropped)
        rec_msg(rec, "recorder: the disk is too slow: %llu frames dropped in %u ms (silence in "
                "the files), ring %u%% full", (unsigned long long)(dropped - rec->tick_dropped),
                rec->sync_ms, fill);
    else if (fill >= 50)
        rec_msg(rec, "recorder: the disk is slow: writer %.1f s behind, ring %u%% full",
                (double)lag_of(atomic_load_explicit(&rec->rt_pos, memory_order_relaxed),
                               atomic_load_explicit(&rec->wr_pos, memory_order_relaxed)) /
                    rec->rate, fill);
    rec->tick_dropped = dropped;
    if (rec->tick_errors) {
        rec_msg(rec, "recorder: %s (%llu errors, %llu frames lost in %u ms)", rec->tick_msg,
                (unsigned long long)rec->tick_errors, (unsigned long long)rec->tick_lost,
                rec->sync_ms);
        rec->tick_errors = 0;
        rec->tick_lost = 0;
    }
}

// Measured when the writer wakes, before it drains: the largest it gets.
static void note_lag(struct bb_recorder *rec)
{
    if (!rec->take.open)
        return;
    uint64_t lag = lag_of(atomic_load_explicit(&rec->rt_pos, memory_order_relaxed),
                          atomic_load_explicit(&rec->wr_pos, memory_order_relaxed));
    if (lag > bb_counter_get(&rec->max_lag))
        bb_counter_add(&rec->max_lag, lag - bb_counter_get(&rec->max_lag));
}

void *recorder_writer_main(void *arg)
{
    struct bb_recorder *rec = arg;
    uint64_t period = (uint64_t)rec->sync_ms * 1000000u;
    uint64_t next_sync = bb_now_ns() + period;
    bool corrupt_told = false;
    for (;;) {
        bool quit = atomic_load_explicit(&rec->quit, memory_order_acquire);
        note_lag(rec);
        drain_cmds(rec);
        // A stop seen before this look at the ring: all the take's blocks
        // the callback wrote before it are in what drain_data writes now.
        uint32_t stop = rec->take.open && rec->take.stop_pending ? rec->take.serial : 0;
        if (!drain_data(rec)) {
            bb_ring_skip(&rec->ring, bb_ring_read_space(&rec->ring));
            bb_counter_inc(&rec->disk_errors);
            if (!corrupt_told)
                rec_msg(rec, "recorder: corrupt block stream, dropped (bug)");
            corrupt_told = true;
        }
        if (stop && rec->take.open && rec->take.serial == stop)
            take_finish(rec); // (a later take the ring brought in meanwhile goes on)
        uint64_t now = bb_now_ns();
        if (now >= next_sync) {
            sync_tick(rec);
            next_sync = now + period;
        }
        if (quit && bb_ring_read_space(&rec->ring) < sizeof(struct rec_block) &&
            bb_ring_read_space(&rec->cmds) == 0) {
            if (!rec->take.open)
                break;
            take_finish(rec);
            continue;
        }
        bb_sem_wait_ms(&rec->wake, 20);
    }
    return NULL;
}
