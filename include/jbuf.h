// SPDX-License-Identifier: GPL-2.0-or-later
// jbuf.h: jitter buffer for one incoming audio stream.
//
// Two threads use it and each has its own half:
//
//  * the network receive thread (producer) hands every AUDIO packet to
//    bb_jbuf_receive(): it sorts the packet by sequence number (next,
//    gap, late, duplicate), conceals lost packets (Opus PLC, PCM fade),
//    decodes and appends the frames to a lock-free ring;
//  * the process callback (consumer) takes exactly one period with
//    bb_jbuf_read(). It starts playing once the ring holds a period plus
//    the target depth, fades out cleanly on an underrun and waits to refill,
//    fades in again, and trims a standing excess (a packet or more above
//    target for a whole 200 ms window) with one crossfaded splice, so that latency
//    stays at target after a burst of late packets.
//
// After an underrun the restart takes what is there down to the target; if
// fewer frames came than fell due while the ring was dry, the stream now
// plays that much later. Those owed frames are cut by the splice as soon as
// they are here with a packet more (so that the cut never leaves the next
// read dry: on one machine the next packet often comes just before the
// read, often just after), else nothing is owed at the end of the trim
// window and the window's rule applies. Without this, a late packet that
// came alone kept the round trip a period longer until a whole 200 ms
// window passed without an underrun, which at a few underruns a second on
// a noisy machine was seconds.

// Where timestamps are there (bb_jbuf_stamp after each packet, bb_jbuf_clock
// each cycle: serve and join always), the buffer knows its lag: our clock
// at the frame being played minus the sender's clock at that frame. Every
// read moves both by a period, so it does not move while nothing goes
// wrong, clock drift or not (drift shows in the fill): an underrun makes
// it grow, a skip or a cut shrink. The lag of a calm trim window (no
// underrun, no cut, the lag within 2 frames of the window's first all
// through) is the stream's own. Clocks are free-running 32-bit counters, so
// lags are compared modulo 2^32. When a disturbance
// leaves the stream later than that by 16 frames or more (a burst of
// packets from a sender catching up after a stall, a restart that found a
// few of the late frames and then got the rest), the frames it is late by
// are cut by the splice as soon as they are here, down to the target, all
// of them if there, and a restart keeps the frames that put it back at the
// calm lag instead of the newest ones only (unless its head is earlier
// than the calm lag: a sender whose clock moved on without its stream). A lag 50 ms or more away from
// the calm one is a new clock (a sender that started over): forgotten until
// the next calm window. Without timestamps, or while resampling, the
// owed-frames rule above stands in. The lag is counted exactly, so it
// needs none of the owed rule's margin; the races the margin was for are
// the calm state's own.

// Depth "target" is extra frames kept beyond the period being played:
// 0 is the lowest latency (one packet in flight). In auto mode the target
// grows by half a period on every underrun (to at most 20 ms) and shrinks
// by 16 frames after 10 s without one.
//
// Clock drift. The sender's sound card and ours never run at exactly the
// same rate (tens to a few hundred ppm apart). With drift compensation on
// (bb_jbuf_set_drift_comp), the rate ratio is estimated from timestamps
// (drift.h: the producer stamps each packet's arrival with bb_jbuf_stamp,
// the consumer each cycle with bb_jbuf_clock; without both the estimate
// never forms) and, when the drift is real and lasting, the stream plays
// through a variable-ratio resampler so that the fill stays put instead of
// creeping into a trim or an underrun:
//
//  * engage: the estimate is ready (15 s of windows, standard error under
//    3 ppm) and |drift| >= 20 ppm for 3 s: the resampler starts at
//    fractional phase 0 with the exact pass-through sample, so the switch
//    has no step; if the fill is then too low for the interpolator's
//    look-ahead (3 frames: a target of 0 leaves none), that first period
//    plays slower (by at most 10 %: at a 64-frame period, 4.8 % for 1.3
//    ms) to leave them in the ring;
//  * while engaged: ratio = 1 + drift + (fill low-passed over 0.5 s - set
//    point) / 8 s (that correction limited to +-200 ppm, the whole ratio to
//    +-1000 ppm). The set point is a period plus the target plus one
//    packet: the sender's packets arrive on its clock, so the fill seen by
//    the reads is a saw tooth one packet high; a packet above the target
//    keeps it between half a packet and a packet and a half. A trim then
//    needs a standing excess of two packets (beyond +-1000 ppm, the
//    fallback);
//  * interpolator: 4-point cubic Hermite (Catmull-Rom), 3 frames of
//    look-ahead. Its error on a sine at a ratio of 1+100e-6, over all
//    fractional phases: 1 kHz 91.6 dB below the signal, 5 kHz 47.5 dB,
//    10 kHz 26.6 dB (high frequencies: a slow gain ripple as the phase
//    sweeps, once every 0.2 s at 100 ppm). test_jbuf.c measures 1 kHz
//    through the whole loop after lock: ~85-90 dB;
//  * disengage: |drift| < 8 ppm for 10 s: the ratio goes to 1+100 ppm
//    until the fractional phase wraps, then the reads snap (by less than
//    1e-4 of a sample) to exact pass-through again.
//
// Without drift (both ends on one clock) the stream is never resampled
// and comes out bit exact, as before.
//
// Statistics are atomics written by their one owner thread and read by
// anyone (control thread, OSC, logs).
#ifndef BB_JBUF_H
#define BB_JBUF_H

#include <stdatomic.h>
#include <stdint.h>

#include "bb.h"
#include "codec.h"
#include "drift.h"
#include "ring.h"

#define BB_JBUF_AUTO 0xFFFFu  ///< target value meaning "automatic"

enum bb_jbuf_state { BB_JB_BUFFERING = 0, BB_JB_PLAYING = 1 };

struct bb_jbuf_stats {
    _Atomic uint64_t received;   ///< packets accepted (producer)
    _Atomic uint64_t lost;       ///< packets never seen, concealed or skipped (producer)
    _Atomic uint64_t late;       ///< packets older than the stream position (producer)
    _Atomic uint64_t dup;        ///< duplicates (producer)
    _Atomic uint64_t overflow;   ///< packets dropped because the ring was full (producer)
    _Atomic uint64_t bad;        ///< payloads the decoder refused (producer)
    _Atomic uint64_t underruns;  ///< periods that ran dry (consumer)
    _Atomic uint64_t trims;      ///< excess trimmed by a splice (consumer)
    _Atomic uint32_t fill;       ///< frames in the ring at the last read (consumer)
    _Atomic uint32_t target;     ///< current target depth in frames (consumer)
    _Atomic uint64_t skipped;    ///< frames dropped for missed consumer cycles (consumer)
    _Atomic int32_t  drift_ppm;  ///< estimated sender rate over ours, -1, in ppm; 0 unless
                                 ///< bb_jbuf_set_drift_comp() turned it on (consumer)
    _Atomic uint32_t resampling; ///< 1 while drift is being resampled away (consumer)
    _Atomic int32_t  drift_fit;  ///< the estimator's latest fit, 0.1 ppm, ready or not (consumer)
    _Atomic uint32_t drift_se;   ///< its standard error, 0.1 ppm (consumer)
    _Atomic uint32_t drift_steps; ///< steps it took out (consumer)
    _Atomic uint32_t drift_spikes; ///< single windows it dropped (consumer)
    _Atomic uint64_t rooms;      ///< engagements that made room for the look-ahead (consumer)
};

struct bb_jbuf {
    unsigned       channels;     ///< interleaved channels in the ring
    unsigned       frames;       ///< frames per packet (wire frame)
    unsigned       max_period;   ///< largest period the consumer reads
    struct bb_ring ring;         ///< decoded interleaved float frames

    // producer side (network receive thread)
    struct bb_decoder *dec;      ///< owned by the caller; used by the producer only
    int            have_seq;     ///< a first packet was seen
    uint32_t       next_seq;     ///< sequence number expected next
    unsigned       late_run;     ///< late packets in a row
    int            ts_pushed;    ///< the last receive or push appended its packet
    int            ts_have;      ///< ts_last is set
    uint32_t       ts_last;      ///< sender's clock after the last packet stamped
    int64_t        ts_pos;       ///< the same, unwrapped, from the first one
    float         *decoded;      ///< scratch, frames * channels

    // producer writes, consumer reads
    _Atomic uint64_t ts_at;      ///< sender's clock just after the newest frame (high
                                 ///< 32 bits) and the ring's bytes written then (low 32)
    _Atomic int    ts_at_ok;     ///< ts_at is set

    // consumer side (process callback)
    int            state;        ///< enum bb_jbuf_state
    int            fixed;        ///< target is fixed (not auto)
    unsigned       target;       ///< extra frames kept beyond a period
    unsigned       min_excess;   ///< smallest excess seen in the current window
    unsigned       window_left;  ///< reads left in the current trim window
    unsigned       calm_reads;   ///< reads since the last underrun (auto mode)
    unsigned       owed;         ///< frames of the stream that fell due in the last
                                 ///< underrun and have not come yet
    unsigned       rate;
    uint32_t       play_frame;   ///< our clock at the frame the next read plays
    int            play_ok;      ///< play_frame is known (bb_jbuf_clock was called)
    int32_t        lag_ref;      ///< the lag of the last calm window
    int            lag_ok;       ///< lag_ref is set
    int32_t        lag_first;    ///< the lag at the current window's first read
    uint32_t       lag_dev;      ///< how far it strayed from that since; UINT32_MAX
                                 ///< when some read of the window did not know it
    float          last[BB_MAX_CLIENT_CH]; ///< last frame played, for the fade-out
    float          fade_in;      ///< 0..1 gain ramp after (re)buffering
    float         *scratch;      ///< (2 * max_period + frames + 16) * channels

    // drift compensation (consumer side but for drift's producer half, see above)
    struct bb_drift drift;       ///< the estimator (drift.h: each half its own thread)
    int            dl_off;       ///< never resample (the default: bb_jbuf_set_drift_comp)
    double         dl_avg;       ///< the drift estimate in use (last ready one), ratio - 1
    double         fill_lp;      ///< fill before each read, low-passed (input frames)
    unsigned       hi_frames;    ///< frames in a row with |drift| >= engage threshold
    unsigned       lo_frames;    ///< frames in a row with |drift| < release threshold
    int            rs_on;        ///< reads go through the resampler
    int            rs_leaving;   ///< heading for pass-through at the next phase wrap
    double         rs_frac;      ///< fractional read position in [0, 1)
    double         rs_ratio;     ///< input frames per output frame of the last read
    float          rs_hist[BB_MAX_CLIENT_CH]; ///< the frame before the read position

    struct bb_jbuf_stats stats;
};

/// Control thread: prepare a jitter buffer. dec may be NULL for tests that
/// push already-decoded audio with bb_jbuf_push(). target: frames or
/// BB_JBUF_AUTO. Returns 0 or -errno.
int  bb_jbuf_init(struct bb_jbuf *jb, unsigned channels, unsigned frames, unsigned max_period,
                  unsigned rate, unsigned target, struct bb_decoder *dec);
void bb_jbuf_cleanup(struct bb_jbuf *jb);
/// Control thread, before the buffer is in use: resample away a lasting
/// clock drift (on), or never resample (off, the default).
void bb_jbuf_set_drift_comp(struct bb_jbuf *jb, int on);

/// Any thread: the stats as one log fragment ("fill F target T underruns
/// ... drift D ppm resampling R (fit X se Y steps S spikes K)"), for the
/// -v lines of serve and join. Returns what snprintf returns.
int bb_jbuf_stats_text(const struct bb_jbuf_stats *st, char *buf, size_t size);

/// Producer: one AUDIO packet's payload with its sequence number.
/// Returns frames appended (0 when the packet was late, duplicate or dropped).
int bb_jbuf_receive(struct bb_jbuf *jb, uint32_t seq, const uint8_t *payload, size_t len);

/// Producer: append decoded frames directly (tests, local loops).
int bb_jbuf_push(struct bb_jbuf *jb, const float *interleaved, unsigned nframes);

/// Producer: what was received or pushed so far arrived at t_ns
/// (CLOCK_MONOTONIC, bb_now_ns), and ts_end is the sender's clock just
/// after its last frame (the AUDIO header's ts plus the packet's frames:
/// the sender's JACK frame counter, see bandbridge-wire(7)). Call after
/// bb_jbuf_receive or bb_jbuf_push, for every packet: the drift estimate
/// and the lag (above). Packets may come in any order: ts_end is unwrapped
/// against the last one; only a packet whose frames were appended places
/// the frames in time.
void bb_jbuf_stamp(struct bb_jbuf *jb, uint32_t ts_end, uint64_t t_ns);

/// Consumer: the consumer missed nframes of its own timeline (JACK did not
/// run its callback for a cycle): drops as many frames as it would have
/// played, so the stream keeps its place and its latency instead of
/// drifting one period late until a trim.
BB_RT void bb_jbuf_skip(struct bb_jbuf *jb, unsigned nframes);

/// Consumer: this cycle began at JACK frame `frame` (jack_last_frame_time)
/// and its callback ran at t_ns (CLOCK_MONOTONIC, bb_now_ns). Once per
/// cycle, before the cycle's read: the drift estimate and the lag. Reads
/// and skips move the frame on by what they play, so reads for missed
/// cycles done before this call (hub_rt.c) play at their own frames.
BB_RT void bb_jbuf_clock(struct bb_jbuf *jb, uint32_t frame, uint64_t t_ns);

/// Consumer: fills out[c][0..nframes) for every channel c < channels.
/// Returns 1 if real audio was played, 0 when the output is silence or
/// fading out.
BB_RT int bb_jbuf_read(struct bb_jbuf *jb, float *const *out, unsigned nframes);

#endif
