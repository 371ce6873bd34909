// SPDX-License-Identifier: GPL-2.0-or-later
// jbuf.h: jitter buffer for one incoming audio stream.
//
// Two threads use it and each has its own half:
//
//  * the network receive thread (producer) hands every AUDIO packet to
//    bb_jbuf_receive(): it holds the packet in a slot by sequence number,
//    decodes what is in order and appends the frames to a lock-free ring,
//    and gives a missing packet up (Opus PLC, PCM linear prediction) only
//    when the next read needs its frames or a packet beyond the depth is
//    here (jbuf_rx.c has the rules); late and duplicate packets are
//    counted and dropped;
//  * the process callback (consumer) takes exactly one period with
//    bb_jbuf_read().
//
// The consumer is in one state (enum bb_jbuf_state; jbuf.c's set_state
// lists the transitions):
//
//  * BUFFERING: silence until the ring holds a period plus the target
//    depth; then it starts with a one-period fade-in;
//  * PLAYING: the frames are copied through, bit exact;
//  * RESAMPLING: they go through a variable-ratio resampler that follows
//    the sender's clock drift (below);
//  * LEAVING: still resampling, at a ratio that walks the fill down to
//    where pass-through sits and then the phase to a whole frame, where it
//    drops back to PLAYING without a step.
//
// Every state that plays goes back to BUFFERING when a period runs dry:
// what is there plays, and the rest and the wait are a prediction of the
// stream fitted to what was played, for up to 15 ms, then silence; the
// restart crossfades from it (jbuf_conceal.h). Where there may be no
// prediction (too little history, the cycle's budget), the rest fades out
// from the last sample and the restart fades in.
//
// Depth: "target" is extra frames kept beyond the period being played; 0
// is the lowest latency (one packet in flight). In auto mode it is the
// arrival spread the producer measures from the packets' timestamps (all
// but 1 in 1000 packets of the last 1 to 2 s, at most 20 ms; jbuf_rx.c):
// deeper at once (the next late packet's restart buffers to it), shallower
// when a quarter packet too deep (the window rule cuts the excess), but
// after a depth that rose again soon after it was lowered only once it has
// gone unneeded a while, longer each time (jbuf.c, auto_target): lateness
// that recurs gets the depth that covers it and keeps it. Loss
// has no arrival and never deepens it. On top of it, the edge pad: a
// packet more after restarts that kept running dry at once with nothing
// lost (packets that come just as the reads do, as between two clients of
// one JACK server), given back after 5 s without an underrun, twice as
// long each time it comes back (jbuf.c, edge_pad). The target in the
// statistics includes it.
//
// Latency. After a burst of late packets the stream would keep their
// latency for good; so every read makes one decision whether to cut frames
// with a crossfaded splice (a trim): where a 200 ms window ends, the window
// rule; in between, the lag rule, or where the lag is not known, the owed
// rule:
//
//  * the lag rule. With timestamps (bb_jbuf_stamp after each packet,
//    bb_jbuf_clock each cycle: serve and join always), the lag is our clock
//    at the frame being played minus the sender's clock at that frame. Each
//    read moves both by a period, so it holds still while nothing goes
//    wrong, drift or not (drift shows in the fill); an underrun makes it
//    grow, a cut shrink. A calm 200 ms window (no underrun, no cut, the
//    lag within 2 frames of the window's first throughout) gives the
//    stream's own lag. A stream 16 frames or more later than that has the
//    frames it is late by cut as soon as they are here, down to the
//    target. A lag 50 ms or more off is a sender's new clock: forgotten
//    until the next calm window. Clocks are free-running 32-bit counters:
//    lags compare modulo 2^32.
//  * the owed rule, where the lag is not known (no timestamps, resampling,
//    a new auto depth, before the first calm window): an underrun owes the
//    frames that fell due while the ring was dry; when they come with a
//    packet more, they are cut and that packet kept, because without the
//    lag nothing tells whether the next packet comes just before the next
//    read or just after it.
//  * the window rule: an excess over the target that stood a packet or
//    more the whole window is cut, all of it, whatever its cause (a
//    consumer that lost time, a drift beyond the resampler's range).
//    The window also ends what is owed: what did not come in a window, the
//    sender never sent.
//
// A restart after an underrun plays the newest frames down to the target,
// or with a calm lag known, the frames at the calm lag if that is later, so
// that a burst holding every late packet leaves the next read its frames.
// A head earlier than the calm lag is a sender whose clock moved on
// without its stream (it stalled and slipped): the newest frames.
//
// Clock drift. The sender's sound card and ours never run at exactly one
// rate. With drift compensation on (bb_jbuf_set_drift_comp), drift.h
// estimates the ratio from the same timestamps and, when the drift is real
// and lasting, the stream is resampled so that the fill stays put instead
// of creeping into a trim or an underrun:
//
//  * engage: the estimate is ready (drift.h) and |drift| >= 20 ppm for 3 s.
//    The resampler (resampler.h: libsamplerate's SINC_FASTEST, >= 100 dB
//    below a tone up to 15 kHz, no group delay) is reset and primed with
//    the frames just played, so its first output is the frame pass-through
//    would have played and its filter holds the stream it continues: no
//    step, no jump. It looks BB_RS_AHEAD (21) frames ahead: that is its
//    latency while engaged. When the fill has no room for them (a target
//    of 0 leaves none), that first period starts it back, up to the set
//    point (at most what its history holds, less than a period), and
//    crossfades into it from pass-through, as a trim does the other way. A
//    start while the drift is wanted buffers to the set point (below) and
//    resamples from its first frame;
//  * while resampling: ratio = 1 + drift + (fill low-passed over 0.5 s -
//    set point) / 8 s, the correction within +-200 ppm, the ratio within
//    +-1000 ppm (beyond, the window rule takes the rest). The set point is
//    a period, the target, a packet and the look-ahead: the packets arrive
//    on the sender's clock, so the fill the reads see is a saw tooth a
//    packet high, and a packet above the target and the look-ahead keeps it
//    off both an underrun and a trim. So a trim there needs a packet more
//    than that standing, and keeps the rest; it crossfades into the stream
//    copied through, and the next read engages again, primed;
//  * the ratio is set (not ramped) each period, and the position's
//    fraction tracked with the library's own arithmetic, so every output's
//    place in the input is known;
//  * leave: |drift| < 8 ppm for 10 s: the ratio goes to 1 + 300 ppm (a
//    third of a cent) until the fill is down to where pass-through sits
//    (half a packet above a period and the target: the look-ahead and the
//    set point's packet given back unheard, not left for a trim) and the
//    phase wraps; then the reads snap (by less than 3e-4 of a sample) to
//    pass-through.
//
// Without drift (both ends on one clock) the stream is never resampled
// and comes out bit exact.
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
#include "jbuf_conceal.h"
#include "jbuf_rx.h"
#include "plc.h"
#include "resampler.h"
#include "ring.h"

#define BB_JBUF_AUTO 0xFFFFu  ///< target value meaning "automatic"
/// Frames played last, kept to start the resampler on (its filter's half
/// length and more).
#define BB_JBUF_RS_HIST 96

/// The consumer's state (see above).
enum bb_jbuf_state {
    BB_JB_BUFFERING = 0, ///< waiting for the start depth; plays silence
    BB_JB_PLAYING,       ///< frames copied through
    BB_JB_RESAMPLING,    ///< frames through the resampler
    BB_JB_LEAVING,       ///< resampling until the phase wraps, then PLAYING
};

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
    _Atomic uint64_t reordered;  ///< packets that came out of order and were played (producer)
    _Atomic uint64_t recovered;  ///< lost packets filled by a redundant copy (producer)
    _Atomic uint32_t spread;     ///< arrival spread: frames that cover all but 1 in 1000
                                 ///< packets over the last 1 to 2 s (producer)
    _Atomic uint64_t concealed;  ///< underruns whose gap was a prediction, not a fade (consumer)
    _Atomic uint64_t restores;   ///< fixed depth: restarts that gave a shallow stream its
                                 ///< depth back (consumer; jbuf.c, trim_window)
};

struct bb_jbuf {
    unsigned       channels;     ///< interleaved channels in the ring
    unsigned       frames;       ///< frames per packet (wire frame)
    unsigned       max_period;   ///< largest period the consumer reads
    struct bb_ring ring;         ///< decoded interleaved float frames

    // producer side (network receive thread)
    struct bb_decoder *dec;      ///< owned by the caller; used by the producer only
    int            have_seq;     ///< a first packet was seen
    uint32_t       next_seq;     ///< the first packet neither decoded nor given up
    unsigned       late_run;     ///< late packets in a row
    unsigned       conceal_run;  ///< packets concealed in a row
    int            ts_pushed;    ///< the last push appended its frames (bb_jbuf_push)
    int            ts_have;      ///< ts_last is set
    uint32_t       ts_last;      ///< sender's clock after the last packet stamped
    int64_t        ts_pos;       ///< the same, unwrapped, from the first one
    float         *decoded;      ///< scratch, frames * channels
    struct bb_jbuf_rx rx;        ///< the reorder stage and the arrival spread (jbuf_rx.h)
    struct bb_plc  plc;          ///< PCM concealment (plc.h); unused for Opus
    int            pcm_plc;      ///< conceal with plc (a PCM decoder), not the decoder

    // producer writes, consumer reads
    _Atomic uint64_t ts_at;      ///< sender's clock just after the newest frame (high
                                 ///< 32 bits) and the ring's bytes written then (low 32)
    _Atomic int    ts_at_ok;     ///< ts_at is set
    _Atomic uint32_t auto_want;  ///< auto mode: the depth the arrival spread asks for
    _Atomic uint32_t auto_max;   ///< and the one that covers every packet of it
    // consumer writes, producer reads
    _Atomic uint32_t need;       ///< frames the next read needs in the ring: when fewer
                                 ///< are there, a missing packet is given up

    // consumer side (process callback)
    enum bb_jbuf_state state;    ///< changed by jbuf.c's set_state only
    int            fixed;        ///< target is fixed (not auto)
    unsigned       target;       ///< extra frames kept beyond a period
    unsigned       min_excess;   ///< smallest excess seen in the current window
    unsigned       min_short;    ///< and the smallest shortfall below the depth
    unsigned       window_left;  ///< reads left in the current trim window
    unsigned       owed;         ///< frames of the stream that fell due in the last
                                 ///< underrun and have not come yet
    unsigned       rate;
    uint32_t       play_frame;   ///< our clock at the frame the next read plays
    int            play_ok;      ///< play_frame is known (bb_jbuf_clock was called)
    int32_t        lag_ref;      ///< the lag of the last calm window
    int            lag_ok;       ///< lag_ref is set
    int            lag_moved;    ///< the stream was cut or restarted since lag_ref was set
    unsigned       pad;          ///< a packet kept beyond the target after a restart
                                 ///< that ran dry again at once (jbuf.c, edge_pad)
    unsigned       pad_left;     ///< frames without an underrun before it is given back
    unsigned       pad_hold;     ///< what pad_left starts from (frames): doubles each time
    unsigned       since_start;  ///< frames played since the last start (capped)
    unsigned       since_lower;  ///< auto: frames since the depth was last lowered (capped)
    unsigned       depth_hold;   ///< auto: frames the depth must go unneeded before it is
                                 ///< lowered (jbuf.c, auto_target); 0 at first
    unsigned       depth_idle;   ///< auto: frames it has gone unneeded
    unsigned       quick;        ///< restarts in a row that ran dry within a window
    uint64_t       lost_at_start; ///< stats.lost at the last start
    int32_t        lag_first;    ///< the lag at the current window's first read
    uint32_t       lag_dev;      ///< how far it strayed from that since; UINT32_MAX
                                 ///< when some read of the window did not know it
    float          last[BB_MAX_CLIENT_CH]; ///< last frame played, for the fade-out
    float         *scratch;      ///< (2 * max_period + frames + 64 + BB_JBUF_RS_HIST) * channels

    // drift compensation (consumer side but for drift's producer half, see above)
    struct bb_drift drift;       ///< the estimator (drift.h: each half its own thread)
    int            dl_off;       ///< never resample (the default: bb_jbuf_set_drift_comp)
    double         dl_avg;       ///< the drift estimate in use (last ready one), ratio - 1
    double         fill_lp;      ///< fill before each read, low-passed (input frames)
    unsigned       hi_frames;    ///< frames in a row with |drift| >= engage threshold
    unsigned       lo_frames;    ///< frames in a row with |drift| < release threshold
    struct bb_resampler rs;      ///< its position is the ring's read position plus rs.frac
    int            rs_prime;     ///< entered resampling: start it on rs_hist first
    unsigned       rs_back;      ///< and that many frames before the read position
    double         rs_ratio;     ///< input frames per output frame of the last read
    float          rs_hist[BB_JBUF_RS_HIST * BB_MAX_CLIENT_CH]; ///< the frames before the
                                 ///< read position, interleaved, oldest first
    float         *rs_out;       ///< the resampler's interleaved output, max_period frames

    struct bb_jbuf_cc cc;        ///< an underrun's gap predicted (jbuf_conceal.h; consumer)

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

/// Control thread, before the buffer is in use: the underruns of one
/// process callback cycle may predict at most *budget channels among all
/// the buffers that share it; the callback sets it at each cycle's start.
/// NULL (the default): no limit, for a buffer read alone.
void bb_jbuf_set_conceal_budget(struct bb_jbuf *jb, unsigned *budget);

/// Any thread: the stats as one log fragment ("fill F target T underruns
/// ... drift D ppm resampling R (fit X se Y steps S spikes K) spread P
/// reordered O concealed C"), for the -v lines of serve and join. Returns what snprintf returns.
int bb_jbuf_stats_text(const struct bb_jbuf_stats *st, char *buf, size_t size);

/// Producer: one AUDIO packet's payload with its sequence number.
/// Returns frames appended (0 when the packet was late, duplicate or dropped).
int bb_jbuf_receive(struct bb_jbuf *jb, uint32_t seq, const uint8_t *payload, size_t len);

/// Producer: a redundant copy of an earlier packet (a packet carrying its
/// predecessors' payloads, bandbridge-wire(7)): fills the hole if that
/// packet is still missing and not yet given up; otherwise it is dropped
/// without counting (copies of packets that came are the normal case).
/// Call for the copies a packet carries before the packet itself (the
/// oldest first: a copy fills its hole before the packet after it can
/// give it up), and stamp nothing for them.
int bb_jbuf_receive_copy(struct bb_jbuf *jb, uint32_t seq, const uint8_t *payload, size_t len);

/// Producer: append decoded frames directly (tests, local loops).
int bb_jbuf_push(struct bb_jbuf *jb, const float *interleaved, unsigned nframes);

/// Producer: what was received or pushed so far arrived at t_ns
/// (CLOCK_MONOTONIC, bb_now_ns), and ts_end is the sender's clock just
/// after its last frame (the AUDIO header's ts plus the packet's frames:
/// the sender's JACK frame counter, see bandbridge-wire(7)). Call after
/// bb_jbuf_receive or bb_jbuf_push, for every packet: the drift estimate,
/// the lag (above) and the arrival spread (auto depth). Packets may come
/// in any order: ts_end is unwrapped against the last one; a packet held
/// for one before it keeps its stamp, and the newest packet decoded (with
/// nothing concealed after it) places the ring's frames in time.
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
