// SPDX-License-Identifier: GPL-2.0-or-later
// recorder_writer.h: the recorder's insides, shared by its two files:
// recorder.c (the control thread's side and the callback's) and
// recorder_writer.c (the writer thread). See recorder.h for the design;
// every field below names the thread that touches it.
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
#ifndef BB_RECORDER_WRITER_H
#define BB_RECORDER_WRITER_H

#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sndfile.h>

#include "recorder.h"
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

struct rec_track; // the control thread's view of a track [ctl], recorder.c

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

// Frames the writer is behind the callback (both packed take << 40 | pos);
// the writer not yet at the callback's take: all of the callback's position.
static inline uint64_t lag_of(uint64_t rt_pos, uint64_t wr_pos)
{
    if (rt_pos >> REC_POS_BITS != wr_pos >> REC_POS_BITS)
        return rt_pos & REC_POS_MASK;
    uint64_t r = rt_pos & REC_POS_MASK, w = wr_pos & REC_POS_MASK;
    return r > w ? r - w : 0;
}

/// [writer] The writer thread: drains the command ring and the block ring
/// into the take's files until quit. arg: the recorder. Started by
/// bb_recorder_new_config, joined by bb_recorder_free.
void *recorder_writer_main(void *arg);

#endif
