// SPDX-License-Identifier: GPL-2.0-or-later
// recorder.h: multitrack recording of a rehearsal, one file per track, fed
// by the process callback without ever blocking it.
//
// THREADS. Three sides, each call marked with the thread it belongs to:
//   [ctl]    the control thread: new/free, takes, tracks, stats, messages.
//            It never touches the disk and never waits for the writer.
//   [rt]     the JACK process callback: rt_begin, rt_write per track,
//            rt_end, once per cycle. Copies into one lock-free ring, bumps
//            counters, at most one sem_post; nothing else.
//   [writer] a thread of the recorder's own: drains the ring, pads gaps with
//            silence, writes through libsndfile, updates headers and syncs.
//
// ONE SHARED RING OF TAGGED BLOCKS (not one ring per track): every block says
// which take, which file and at which take position (in frames) its audio
// belongs. The writer puts each block at its position and fills whatever is
// missing before it with silence: a block the callback had to drop (ring
// full), a cycle JACK skipped, the time before a musician joined, the time
// a musician was away. So every file of a take is sample-aligned to the same
// JACK cycle without any per-track bookkeeping in the callback, the callback
// writes sequentially into one region (cache friendly, one wake-up), and the
// writer drains one stream in order. At the end of a take every file is
// padded to the same length.
//
// TAKE POSITION. Frame 0 of a take is the first cycle the callback sees
// after bb_recorder_start_take; a cycle's position is the previous one's
// plus the difference of JACK's frame counters (jack_last_frame_time), so a
// cycle JACK did not run us for is silence in every file, not a slip.
//
// FILES. DIR/take-NNN_YYYY-MM-DDTHH-MM-SS[_label]/NAME.wav (local time; NNN
// one more than the highest take number already in DIR). One mono file per
// track: a musician channel, a local input, the main mix as main_L/main_R
// (two mono files, so that every JACK port is one file and one code path,
// and a DAW imports the take as equal tracks; `sox -M main_L.wav main_R.wav
// main.wav` makes the stereo listening copy). Default format: 32-bit float
// WAV (exact, cannot clip, no conversion cost; the JACK sample format),
// written as RF64 with auto-downgrade, i.e. a plain WAV while it is under
// 4 GB and RF64 beyond (6 h of one track at 48 kHz), header rewritten and
// file fdatasync'ed every sync_ms (1 s): a kill -9 or a power loss leaves a
// WAV that every reader plays up to the last sync. FLAC (24 bit) is the
// alternative that halves the disk: libsndfile reads a killed FLAC file up
// to its last complete frame (4096 samples) but reports its length as
// unknown until it is closed properly. Silence the writer pads into a WAV
// (a musician who joins late) is a sparse hole: no disk, no time.
//
// Each file is WAVE_FORMAT_EXTENSIBLE float with a JUNK chunk that becomes
// the ds64 chunk if it outgrows 4 GB; a track is mono (channel mask C).
//
// A JACK server restart is a new take: bb_recorder_stop, then
// bb_recorder_start_take once the client is back (frame counters of the
// old and new server have nothing to do with each other).
//
// TROUBLE. A full ring drops the block (counted per track) and the file gets
// silence there. A write error (disk full, file size limit, unwritable
// directory) is counted, its frames are counted as lost, and the file is
// tried again every sync_ms from where it stopped, padded so it stays
// aligned. One message a second at most says what went wrong
// (bb_recorder_message). The process must ignore SIGXFSZ (a file size limit
// is then a write error, not death).
#ifndef BB_RECORDER_H
#define BB_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bb.h"

struct bb_recorder;

enum bb_rec_format {
    BB_REC_WAV_FLOAT = 0, ///< 32-bit float WAV/RF64 (default)
    BB_REC_FLAC_24   = 1, ///< 24-bit FLAC
};

struct bb_recorder_config {
    const char        *dir;        ///< where takes go (created if missing)
    unsigned           rate;       ///< sample rate of every file
    unsigned           max_tracks; ///< track ids are 0 .. max_tracks-1
    enum bb_rec_format format;
    unsigned           ring_ms;    ///< audio the ring holds with all tracks recording (0: 3000)
    unsigned           sync_ms;    ///< header update + fdatasync interval (0: 1000)
};

struct bb_recorder_stats {
    bool     recording;      ///< a take is running [ctl]
    unsigned take;           ///< serial of the current/last take (not its NNN)
    uint64_t frames_written; ///< [writer] frames put in files, silence included
    uint64_t frames_silence; ///< [writer] of which silence the writer filled in
    uint64_t frames_dropped; ///< [rt] frames dropped because the ring was full
    uint64_t frames_lost;    ///< [writer] frames a disk error kept out of a file
    uint64_t bytes;          ///< [writer] bytes written to disk (headers included)
    uint64_t disk_errors;    ///< [writer] failed writes, opens, syncs
    uint64_t late_blocks;    ///< [writer] blocks that came after their take ended
    uint64_t timeline_jumps; ///< [rt] JACK's frame counter went back or leapt > 60 s
    uint64_t lag_frames;     ///< callback position minus writer position, now
    uint64_t max_lag_frames; ///< the largest lag seen
    unsigned ring_fill_pct;  ///< how full the ring is now
    unsigned files_open;     ///< [writer] files of the current take
};

/// [ctl] A recorder with default settings (WAV float, 3 s ring, 1 s sync).
/// Returns NULL with a one-line reason in err.
struct bb_recorder *bb_recorder_new(const char *dir, unsigned rate, unsigned max_tracks, char *err,
                                    size_t err_size);
/// [ctl] The same with every setting.
struct bb_recorder *bb_recorder_new_config(const struct bb_recorder_config *cfg, char *err,
                                           size_t err_size);
/// [ctl] Finishes the take if one is running, waits for the writer to
/// write what it has, and frees everything. The callback must be done.
/// NULL is a no-op.
void bb_recorder_free(struct bb_recorder *rec);

/// [ctl] Starts a take with every open track; label (may be NULL or "")
/// ends the take's directory name. Returns 0, -EBUSY (a take is running),
/// -EAGAIN (the writer is too far behind to accept commands).
int bb_recorder_start_take(struct bb_recorder *rec, const char *label);
/// [ctl] Ends the take. The writer pads every file to the same length and
/// closes them; the callback's blocks of the take still in the ring are
/// written first. Returns 0 or -EAGAIN; stopping when idle is 0.
int bb_recorder_stop(struct bb_recorder *rec);

/// [ctl] Track track_id is name (sanitised; main_L, alice_1, ...). While a
/// take runs it gets a file aligned to the take (silence before); a name
/// that was in this take before continues its file (silence for the time
/// away). A name another open track uses gets a suffix. Returns 0,
/// -EINVAL, -ENOSPC (too many files in this take) or -EAGAIN.
int bb_recorder_track_open(struct bb_recorder *rec, unsigned track_id, const char *name);
/// [ctl] The track is gone: the callback's rt_write for it does nothing from
/// its next cycle; its file stays open until the take ends.
void bb_recorder_track_close(struct bb_recorder *rec, unsigned track_id);

/// [ctl] Counters now.
void bb_recorder_stats(struct bb_recorder *rec, struct bb_recorder_stats *out);
/// [ctl] Frames of track_id dropped by the callback since the recorder began.
uint64_t bb_recorder_track_dropped(struct bb_recorder *rec, unsigned track_id);
/// [ctl] Takes one pending message of the writer (take started, finished,
/// disk trouble; at most about one a second for trouble) into buf. Returns
/// whether there was one. Call it from a timer and log what it gives.
bool bb_recorder_message(struct bb_recorder *rec, char *buf, size_t size);
/// [ctl] Path of the current (or last) take's directory, "" before the
/// first. Written by the writer: may lag start_take a little.
void bb_recorder_take_dir(struct bb_recorder *rec, char *buf, size_t size);

/// [rt] A cycle begins; jack_frame is jack_last_frame_time().
BB_RT void bb_recorder_rt_begin(struct bb_recorder *rec, uint32_t jack_frame);
/// [rt] One track's nframes (at most BB_MAX_PERIOD) of this cycle, once per
/// track per cycle. buf NULL: silence (costs nothing).
BB_RT void bb_recorder_rt_write(struct bb_recorder *rec, unsigned track_id, const float *buf,
                                unsigned nframes);
/// [rt] The cycle is done: publishes the position, wakes the writer now and
/// then (every 50 ms of audio).
BB_RT void bb_recorder_rt_end(struct bb_recorder *rec);

/// Test hook [any]: the writer sleeps us microseconds in every disk write.
void bb_recorder_test_slow_disk(struct bb_recorder *rec, unsigned us);

#endif
