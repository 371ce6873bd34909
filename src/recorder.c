// SPDX-License-Identifier: GPL-2.0-or-later
// recorder.c: multitrack take recorder (see recorder.h for the design).
//
// Two parts, in this order: the control thread's side (takes, tracks,
// the names of a take's files), the callback's side (tagged blocks into the
// ring). The writer thread (commands, blocks, files, sync, finalisation) is
// recorder_writer.c; how the three talk is in recorder_writer.h.
#include "bb.h"
#include "recorder.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counter.h"
#include "recorder_writer.h"
#include "ring.h"

/// Control thread's view of a track. [ctl]
struct rec_track {
    bool open;
    int  file; ///< file index in the current take, -1 none
    char name[REC_NAME];
};

/* ---- control thread ------------------------------------------------- */

static int cmd_push(struct bb_recorder *rec, uint32_t type, uint32_t take, uint32_t file,
                    const char *name)
{
    struct rec_cmd c = {.type = type, .take = take, .file = file, .time = (int64_t)time(NULL)};
    if (name)
        snprintf(c.name, sizeof c.name, "%s", name);
    return bb_ring_write(&rec->cmds, &c, sizeof c) ? 0 : -EAGAIN;
}

static bool cmd_room(struct bb_recorder *rec, unsigned n)
{
    return bb_ring_write_space(&rec->cmds) >= n * sizeof(struct rec_cmd);
}

struct bb_recorder *bb_recorder_new(const char *dir, unsigned rate, unsigned max_tracks, char *err,
                                    size_t err_size)
{
    struct bb_recorder_config cfg = {.dir = dir, .rate = rate, .max_tracks = max_tracks};
    return bb_recorder_new_config(&cfg, err, err_size);
}

static int rec_alloc(struct bb_recorder *rec, const struct bb_recorder_config *cfg)
{
    unsigned ring_ms = cfg->ring_ms ? cfg->ring_ms : 3000;
    // Audio plus one header per 64-frame block, the smallest period JACK users run.
    size_t per_frame = sizeof(float) + sizeof(struct rec_block) / 64 + 1;
    size_t ring_bytes = (size_t)ring_ms * cfg->rate / 1000 * cfg->max_tracks * per_frame;
    size_t min_block = sizeof(struct rec_block) + BB_MAX_PERIOD * sizeof(float);
    if (ring_bytes < 2 * min_block)
        ring_bytes = 2 * min_block;
    rec->track_file = calloc(cfg->max_tracks, sizeof *rec->track_file);
    rec->track_dropped = calloc(cfg->max_tracks, sizeof *rec->track_dropped);
    rec->tracks = calloc(cfg->max_tracks, sizeof *rec->tracks);
    rec->fnames = calloc(rec->max_files, sizeof *rec->fnames);
    rec->fowner = calloc(rec->max_files, sizeof *rec->fowner);
    rec->take.files = calloc(rec->max_files, sizeof *rec->take.files);
    rec->scratch = malloc(BB_MAX_PERIOD * sizeof(float));
    if (!rec->track_file || !rec->track_dropped || !rec->tracks || !rec->fnames || !rec->fowner ||
        !rec->take.files || !rec->scratch)
        return -ENOMEM;
    int rc = bb_ring_init(&rec->ring, ring_bytes);
    if (rc == 0)
        bb_touch_pages(rec->ring.buf, rec->ring.size);
    if (rc == 0)
        rc = bb_ring_init(&rec->cmds, (rec->max_files + 64) * sizeof(struct rec_cmd));
    if (rc == 0)
        rc = bb_ring_init(&rec->msgs, 32 * REC_MSG);
    return rc;
}

struct bb_recorder *bb_recorder_new_config(const struct bb_recorder_config *cfg, char *err,
                                           size_t err_size)
{
    if (!cfg->dir || !*cfg->dir || strlen(cfg->dir) > PATH_MAX - 200) {
        snprintf(err, err_size, "recorder: no directory or a too long one");
        return NULL;
    }
    if (cfg->rate < 8000 || cfg->rate > 384000 || cfg->max_tracks < 1 || cfg->max_tracks > 4096) {
        snprintf(err, err_size, "recorder: rate %u or track count %u out of range", cfg->rate,
                 cfg->max_tracks);
        return NULL;
    }
    struct bb_recorder *rec = calloc(1, sizeof *rec);
    if (!rec) {
        snprintf(err, err_size, "recorder: out of memory");
        return NULL;
    }
    snprintf(rec->dir, sizeof rec->dir, "%s", cfg->dir);
    rec->rate = cfg->rate;
    rec->max_tracks = cfg->max_tracks;
    // Musicians come and go under new names (alice_1, then bob_1 on the
    // same track id): room for a few names per track in one take.
    rec->max_files = 4 * cfg->max_tracks + 8;
    rec->sync_ms = cfg->sync_ms ? cfg->sync_ms : 1000;
    rec->format = cfg->format;
    pthread_mutex_init(&rec->dir_lock, NULL);
    if (sem_init(&rec->wake, 0, 0) != 0 || rec_alloc(rec, cfg) != 0) {
        snprintf(err, err_size, "recorder: out of memory for %u tracks", cfg->max_tracks);
        bb_recorder_free(rec);
        return NULL;
    }
    for (unsigned i = 0; i < rec->max_tracks; i++)
        rec->tracks[i].file = -1;
    for (unsigned k = 0; k < rec->max_files; k++)
        rec->fowner[k] = -1;
    int rc = pthread_create(&rec->thread, NULL, recorder_writer_main, rec);
    if (rc != 0) {
        snprintf(err, err_size, "recorder: cannot start the writer thread: %s", strerror(rc));
        bb_recorder_free(rec);
        return NULL;
    }
    rec->thread_started = true;
    return rec;
}

void bb_recorder_free(struct bb_recorder *rec)
{
    if (!rec)
        return;
    if (rec->thread_started) {
        bb_recorder_stop(rec);
        atomic_store_explicit(&rec->quit, true, memory_order_release);
        sem_post(&rec->wake);
        pthread_join(rec->thread, NULL);
    }
    bb_ring_cleanup(&rec->ring);
    bb_ring_cleanup(&rec->cmds);
    bb_ring_cleanup(&rec->msgs);
    sem_destroy(&rec->wake);
    pthread_mutex_destroy(&rec->dir_lock);
    free(rec->track_file);
    free(rec->track_dropped);
    free(rec->tracks);
    free(rec->fnames);
    free(rec->fowner);
    free(rec->take.files);
    free(rec->scratch);
    free(rec);
}

// The file index track id records into in the current take: an existing
// file of that name nobody uses, else a new one (a name another open track
// uses gets -2, -3, ...). Returns the index or -errno.
static int assign_file(struct bb_recorder *rec, unsigned id)
{
    char name[REC_NAME];
    snprintf(name, sizeof name, "%s", rec->tracks[id].name);
    for (unsigned suffix = 2;; suffix++) {
        int free_k = -1;
        bool taken = false;
        for (unsigned k = 0; k < rec->nfiles; k++) {
            if (strcmp(rec->fnames[k], name) != 0)
                continue;
            if (rec->fowner[k] < 0)
                free_k = (int)k;
            else
                taken = true;
        }
        if (free_k >= 0) {
            rec->fowner[free_k] = (int)id;
            return free_k;
        }
        if (!taken)
            break;
        snprintf(name, sizeof name, "%.50s-%u", rec->tracks[id].name, suffix);
    }
    if (rec->nfiles >= rec->max_files)
        return -ENOSPC;
    unsigned k = rec->nfiles;
    if (cmd_push(rec, CMD_FILE, rec->take_serial, k, name) != 0)
        return -EAGAIN;
    memcpy(rec->fnames[k], name, REC_NAME);
    rec->fowner[k] = (int)id;
    rec->nfiles++;
    return (int)k;
}

// Publishes track id's file to the callback (after the command naming it).
static int bind_track(struct bb_recorder *rec, unsigned id)
{
    int k = assign_file(rec, id);
    if (k < 0)
        return k;
    rec->tracks[id].file = k;
    atomic_store_explicit(&rec->track_file[id], (uint64_t)rec->take_serial << 32 | (uint32_t)k,
                          memory_order_release);
    return 0;
}

int bb_recorder_start_take(struct bb_recorder *rec, const char *label)
{
    if (rec->recording)
        return -EBUSY;
    if (!cmd_room(rec, 1 + rec->max_tracks))
        return -EAGAIN;
    char clean[REC_NAME] = "";
    if (label)
        bb_sanitize_name(clean, sizeof clean, label);
    // Serials live in 24 bits next to positions; 0 means "none".
    rec->take_serial = (rec->take_serial + 1) & 0xFFFFFF;
    if (rec->take_serial == 0)
        rec->take_serial = 1;
    cmd_push(rec, CMD_TAKE, rec->take_serial, 0, clean);
    rec->nfiles = 0;
    for (unsigned k = 0; k < rec->max_files; k++)
        rec->fowner[k] = -1;
    for (unsigned id = 0; id < rec->max_tracks; id++) {
        rec->tracks[id].file = -1;
        if (rec->tracks[id].open)
            (void)bind_track(rec, id); // room checked above, names bounded by max_files
    }
    atomic_store_explicit(&rec->ctl_take, rec->take_serial, memory_order_release);
    rec->recording = true;
    sem_post(&rec->wake);
    return 0;
}

int bb_recorder_stop(struct bb_recorder *rec)
{
    if (!rec->recording)
        return 0;
    if (!cmd_room(rec, 1))
        return -EAGAIN;
    atomic_store_explicit(&rec->ctl_take, 0, memory_order_release);
    cmd_push(rec, CMD_STOP, rec->take_serial, 0, NULL);
    rec->recording = false;
    for (unsigned id = 0; id < rec->max_tracks; id++) {
        rec->tracks[id].file = -1;
        atomic_store_explicit(&rec->track_file[id], 0, memory_order_release);
    }
    sem_post(&rec->wake);
    return 0;
}

int bb_recorder_track_open(struct bb_recorder *rec, unsigned track_id, const char *name)
{
    if (track_id >= rec->max_tracks || !name)
        return -EINVAL;
    char clean[REC_NAME];
    if (bb_sanitize_name(clean, sizeof clean - 8, name) == 0)
        return -EINVAL;
    // A file name must not be "." or "..", nor hidden.
    if (clean[0] == '.')
        clean[0] = '_';
    struct rec_track *t = &rec->tracks[track_id];
    if (t->open && strcmp(t->name, clean) == 0)
        return 0;
    if (t->open)
        bb_recorder_track_close(rec, track_id);
    memcpy(t->name, clean, sizeof clean);
    t->open = true;
    t->file = -1;
    if (!rec->recording)
        return 0;
    int rc = bind_track(rec, track_id);
    if (rc == 0)
        sem_post(&rec->wake);
    return rc;
}

void bb_recorder_track_close(struct bb_recorder *rec, unsigned track_id)
{
    if (track_id >= rec->max_tracks || !rec->tracks[track_id].open)
        return;
    struct rec_track *t = &rec->tracks[track_id];
    atomic_store_explicit(&rec->track_file[track_id], 0, memory_order_release);
    if (t->file >= 0 && rec->fowner[t->file] == (int)track_id)
        rec->fowner[t->file] = -1;
    t->open = false;
    t->file = -1;
}

void bb_recorder_stats(struct bb_recorder *rec, struct bb_recorder_stats *out)
{
    memset(out, 0, sizeof *out);
    out->recording = rec->recording;
    out->take = rec->take_serial;
    out->frames_written = bb_counter_get(&rec->frames_written);
    out->frames_silence = bb_counter_get(&rec->frames_silence);
    out->frames_dropped = bb_counter_get(&rec->frames_dropped);
    out->frames_lost = bb_counter_get(&rec->frames_lost);
    out->bytes = bb_counter_get(&rec->bytes);
    out->disk_errors = bb_counter_get(&rec->disk_errors);
    out->late_blocks = bb_counter_get(&rec->late_blocks);
    out->max_lag_frames = bb_counter_get(&rec->max_lag);
    out->timeline_jumps = bb_counter_get(&rec->timeline_jumps);
    if (rec->recording)
        out->lag_frames = lag_of(atomic_load_explicit(&rec->rt_pos, memory_order_relaxed),
                                 atomic_load_explicit(&rec->wr_pos, memory_order_relaxed));
    out->ring_fill_pct = (unsigned)((uint64_t)bb_ring_read_space(&rec->ring) * 100 / rec->ring.size);
    out->files_open = atomic_load_explicit(&rec->files_open, memory_order_relaxed);
}

uint64_t bb_recorder_track_dropped(struct bb_recorder *rec, unsigned track_id)
{
    return track_id < rec->max_tracks ? bb_counter_get(&rec->track_dropped[track_id]) : 0;
}

bool bb_recorder_message(struct bb_recorder *rec, char *buf, size_t size)
{
    char m[REC_MSG];
    if (!bb_ring_read(&rec->msgs, m, sizeof m))
        return false;
    m[REC_MSG - 1] = '\0';
    snprintf(buf, size, "%s", m);
    return true;
}

void bb_recorder_take_dir(struct bb_recorder *rec, char *buf, size_t size)
{
    pthread_mutex_lock(&rec->dir_lock);
    snprintf(buf, size, "%s", rec->take_dir);
    pthread_mutex_unlock(&rec->dir_lock);
}

void bb_recorder_test_slow_disk(struct bb_recorder *rec, unsigned us)
{
    atomic_store_explicit(&rec->test_delay_us, us, memory_order_relaxed);
}

/* ---- process callback ----------------------------------------------- */

BB_RT void bb_recorder_rt_begin(struct bb_recorder *rec, uint32_t jack_frame)
{
    uint32_t t = atomic_load_explicit(&rec->ctl_take, memory_order_acquire);
    if (t != rec->rt_take && rec->rt_take) // the writer ends the old take there
        atomic_store_explicit(&rec->rt_prev_pos,
                              atomic_load_explicit(&rec->rt_pos, memory_order_relaxed),
                              memory_order_relaxed);
    rec->rt_on = t != 0;
    if (!t) {
        rec->rt_take = 0;
        return;
    }
    if (t != rec->rt_take) {
        rec->rt_take = t;
        rec->rt_cur = 0;
        rec->rt_len_last = 0;
        rec->rt_since_wake = 0;
    } else {
        // JACK's frame counter gives the distance, so a cycle JACK skipped is
        // a gap (silence) in every file; a counter that goes back or leaps
        // more than a minute is nonsense: carry on as if one cycle passed.
        uint32_t d = jack_frame - rec->rt_last_frame;
        if ((int32_t)d <= 0 || d > 60u * rec->rate) {
            bb_counter_inc(&rec->timeline_jumps);
            d = rec->rt_len_last;
        }
        rec->rt_cur += d;
    }
    rec->rt_last_frame = jack_frame;
    rec->rt_len = 0;
}

BB_RT void bb_recorder_rt_write(struct bb_recorder *rec, unsigned track_id, const float *buf,
                                unsigned nframes)
{
    if (!rec->rt_on || track_id >= rec->max_tracks || nframes == 0)
        return;
    if (nframes > BB_MAX_PERIOD) {
        bb_counter_add(&rec->frames_dropped, nframes);
        return;
    }
    uint64_t v = atomic_load_explicit(&rec->track_file[track_id], memory_order_acquire);
    if ((uint32_t)(v >> 32) != rec->rt_take)
        return;
    if (nframes > rec->rt_len)
        rec->rt_len = nframes;
    if (!buf)
        return; // the writer fills the gap with silence
    struct rec_block h = {.take = rec->rt_take, .file = (uint32_t)v, .pos = rec->rt_cur,
                          .nframes = nframes, .magic = REC_MAGIC};
    // Header and samples published as one: the writer never sees a block
    // without its data.
    if (!bb_ring_write2(&rec->ring, &h, sizeof h, buf, nframes * (uint32_t)sizeof(float))) {
        bb_counter_add(&rec->track_dropped[track_id], nframes);
        bb_counter_add(&rec->frames_dropped, nframes);
    }
}

BB_RT void bb_recorder_rt_end(struct bb_recorder *rec)
{
    if (!rec->rt_on)
        return;
    if (rec->rt_len)
        rec->rt_len_last = rec->rt_len;
    atomic_store_explicit(&rec->rt_pos,
                          (uint64_t)rec->rt_take << REC_POS_BITS |
                              ((rec->rt_cur + rec->rt_len) & REC_POS_MASK),
                          memory_order_relaxed);
    // The writer also looks every 20 ms by itself; waking it every 50 ms of
    // audio instead of every period keeps its writes large.
    rec->rt_since_wake += rec->rt_len;
    if (rec->rt_since_wake >= rec->rate / 20) {
        rec->rt_since_wake = 0;
        sem_post(&rec->wake);
    }
}
