// SPDX-License-Identifier: GPL-2.0-or-later
// recorder.c: multitrack take recorder (see recorder.h for the design).
//
// Three parts, in this order: the control thread's side (takes, tracks,
// the names of a take's files), the callback's side (tagged blocks into the
// ring), the writer thread (commands, blocks, files, sync, finalisation).
//
// The control thread tells the writer what to do through a command ring
// (take begins, file k of take t is called NAME, take ends) and tells the
// callback which file each track feeds through one atomic word per track
// (take serial << 32 | file index), stored after the command that names the
// file is in the command ring. So when the writer meets a block of a file
// it does not know yet, the command is already visible and it reads more
// commands. A take ends for the writer when its stop command was seen
// before the writer looked at the ring and everything in the ring then is
// written, or when a block of a later take turns up; blocks of a take that
// has ended are counted as late and dropped (the callback had not yet seen
// the stop: a period at most).
#include "recorder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sndfile.h>

#include "counter.h"
#include "ring.h"

#define REC_NAME     64      // a file's name without extension, with its NUL
#define REC_STAGE    16384   // frames a file buffers before one write (64 KB)
#define REC_MAGIC    0x5245u // marks a block header: a torn stream shows at once
#define REC_MSG      200     // bytes of one writer -> control message
#define REC_POS_BITS 40      // positions packed with a 24-bit take serial
#define REC_POS_MASK ((UINT64_C(1) << REC_POS_BITS) - 1)

/// One track's audio of one cycle, followed by nframes floats.
struct rec_block {
    uint32_t take;    ///< take serial
    uint32_t file;    ///< file index within the take
    uint64_t pos;     ///< take position of the first frame
    uint32_t nframes;
    uint32_t magic;   ///< REC_MAGIC
};

enum rec_cmd_type { CMD_TAKE = 1, CMD_FILE, CMD_STOP };

/// Control thread -> writer.
struct rec_cmd {
    uint32_t type;      ///< enum rec_cmd_type
    uint32_t take;      ///< take serial
    uint32_t file;      ///< CMD_FILE: index
    int64_t  time;      ///< CMD_TAKE: wall clock at start_take
    char     name[REC_NAME]; ///< CMD_TAKE: label, CMD_FILE: file name
};

/// One file of the take being written. [writer]
struct rec_file {
    struct bb_recorder *rec;
    SNDFILE            *sf;      ///< NULL: not open (failed, retried each sync)
    int                 fd;
    int64_t             off;     ///< virtual I/O position
    int64_t             len;     ///< virtual I/O length
    uint64_t            written; ///< frames libsndfile has taken
    unsigned            nstage;  ///< frames in stage, they follow written
    float              *stage;   ///< REC_STAGE frames
    bool                failed;  ///< last write failed: skip until the next sync
    int                 err;     ///< errno of the last failed write
    char                name[REC_NAME];
};

/// Control thread's view of a track. [ctl]
struct rec_track {
    bool open;
    int  file; ///< file index in the current take, -1 none
    char name[REC_NAME];
};

struct bb_recorder {
    char               dir[PATH_MAX];
    unsigned           rate, max_tracks, max_files, sync_ms;
    enum bb_rec_format format;

    struct bb_ring ring; ///< [rt] -> [writer] tagged blocks
    struct bb_ring cmds; ///< [ctl] -> [writer] struct rec_cmd
    struct bb_ring msgs; ///< [writer] -> [ctl] REC_MSG-byte messages
    sem_t          wake; ///< posted by [rt] and [ctl], waited on by [writer]
    pthread_t      thread;
    bool           thread_started; ///< [ctl]
    pthread_mutex_t dir_lock;      ///< guards take_dir: a strcpy, never disk I/O

    _Atomic bool      quit;          ///< [ctl] writer: finish and exit
    _Atomic uint32_t  ctl_take;      ///< [ctl] take being recorded, 0 none
    _Atomic uint64_t *track_file;    ///< [ctl] per track: take << 32 | file
    _Atomic uint64_t *track_dropped; ///< [rt] per track: frames dropped
    _Atomic uint64_t  rt_pos;        ///< [rt] take << 40 | end of the last cycle
    _Atomic uint64_t  rt_prev_pos;   ///< [rt] rt_pos of the take before
    _Atomic uint64_t  wr_pos;        ///< [writer] take << 40 | end of the last block
    _Atomic unsigned  test_delay_us; ///< [any] slow-disk test hook

    _Atomic uint64_t frames_dropped; ///< [rt]
    _Atomic uint64_t timeline_jumps; ///< [rt] frame counter went back or leapt
    _Atomic uint64_t frames_written, frames_silence, frames_lost, bytes; ///< [writer]
    _Atomic uint64_t disk_errors, late_blocks, max_lag; ///< [writer]
    _Atomic unsigned files_open;                        ///< [writer]

    // [rt] state of the callback
    uint32_t rt_take;       ///< take of this cycle, 0 none
    bool     rt_on;         ///< this cycle records
    uint64_t rt_cur;        ///< take position of this cycle
    uint32_t rt_last_frame; ///< JACK frame of this cycle
    unsigned rt_len;        ///< longest write of this cycle
    unsigned rt_len_last;   ///< of the last cycle that wrote
    uint64_t rt_since_wake; ///< frames since the writer was woken

    // [ctl] state of the control thread
    uint32_t          take_serial; ///< last take started
    bool              recording;
    struct rec_track *tracks;      ///< max_tracks
    char (*fnames)[REC_NAME];      ///< max_files: names of this take's files
    int              *fowner;      ///< max_files: open track using the file, -1
    unsigned          nfiles;

    // [writer] state of the writer
    struct {
        uint32_t         serial;
        bool             open, stop_pending;
        uint64_t         end;    ///< largest block end seen
        unsigned         nfiles;
        struct rec_file *files;  ///< max_files
        char             dir[PATH_MAX];
    } take;
    float    *scratch;      ///< one block's audio
    uint64_t  tick_errors;  ///< errors since the last sync tick
    uint64_t  tick_lost;
    uint64_t  tick_dropped; ///< frames_dropped at the last sync tick
    char      tick_msg[REC_MSG];
    char      take_dir[PATH_MAX]; ///< [writer] under dir_lock, read by [ctl]
};

static void rec_msg(struct bb_recorder *rec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Frames the writer is behind the callback (both packed take << 40 | pos);
// the writer not yet at the callback's take: all of the callback's position.
static uint64_t lag_of(uint64_t rt_pos, uint64_t wr_pos)
{
    if (rt_pos >> REC_POS_BITS != wr_pos >> REC_POS_BITS)
        return rt_pos & REC_POS_MASK;
    uint64_t r = rt_pos & REC_POS_MASK, w = wr_pos & REC_POS_MASK;
    return r > w ? r - w : 0;
}

/* ---- control thread ------------------------------------------------- */

static void *writer_main(void *arg);

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
    // Touch every page now: where mlock is not allowed, the callback would
    // otherwise take the page faults of a fresh mapping on its first lap.
    if (rc == 0)
        memset(rec->ring.buf, 0, rec->ring.size);
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
    int rc = pthread_create(&rec->thread, NULL, writer_main, rec);
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
    uint32_t bytes = nframes * (uint32_t)sizeof(float);
    if (bb_ring_write_space(&rec->ring) < sizeof h + bytes) {
        bb_counter_add(&rec->track_dropped[track_id], nframes);
        bb_counter_add(&rec->frames_dropped, nframes);
        return;
    }
    // Only we write, so the space checked is there for both parts; the
    // writer waits for the data when it sees a header without it.
    bb_ring_write(&rec->ring, &h, sizeof h);
    bb_ring_write(&rec->ring, buf, bytes);
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
        if (h.magic != REC_MAGIC || h.nframes > BB_MAX_PERIOD)
            return false;
        if (avail < sizeof h + bytes)
            break; // the callback is between header and data
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

static void *writer_main(void *arg)
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
