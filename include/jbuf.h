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
// Depth "target" is extra frames kept beyond the period being played:
// 0 is the lowest latency (one packet in flight). In auto mode the target
// grows by half a period on every underrun (to at most 20 ms) and shrinks
// by 16 frames after 10 s without one.
//
// Statistics are atomics written by their one owner thread and read by
// anyone (control thread, OSC, logs).
#ifndef BB_JBUF_H
#define BB_JBUF_H

#include <stdatomic.h>
#include <stdint.h>

#include "bb.h"
#include "codec.h"
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
    float         *decoded;      ///< scratch, frames * channels

    // consumer side (process callback)
    int            state;        ///< enum bb_jbuf_state
    int            fixed;        ///< target is fixed (not auto)
    unsigned       target;       ///< extra frames kept beyond a period
    unsigned       min_excess;   ///< smallest excess seen in the current window
    unsigned       window_left;  ///< reads left in the current trim window
    unsigned       calm_reads;   ///< reads since the last underrun (auto mode)
    unsigned       rate;
    float          last[BB_MAX_CLIENT_CH]; ///< last frame played, for the fade-out
    float          fade_in;      ///< 0..1 gain ramp after (re)buffering
    float         *scratch;      ///< (max_period + frames) * channels

    struct bb_jbuf_stats stats;
};

/// Control thread: prepare a jitter buffer. dec may be NULL for tests that
/// push already-decoded audio with bb_jbuf_push(). target: frames or
/// BB_JBUF_AUTO. Returns 0 or -errno.
int  bb_jbuf_init(struct bb_jbuf *jb, unsigned channels, unsigned frames, unsigned max_period,
                  unsigned rate, unsigned target, struct bb_decoder *dec);
void bb_jbuf_cleanup(struct bb_jbuf *jb);

/// Producer: one AUDIO packet's payload with its sequence number.
/// Returns frames appended (0 when the packet was late, duplicate or dropped).
int bb_jbuf_receive(struct bb_jbuf *jb, uint32_t seq, const uint8_t *payload, size_t len);

/// Producer: append decoded frames directly (tests, local loops).
int bb_jbuf_push(struct bb_jbuf *jb, const float *interleaved, unsigned nframes);

/// Consumer: the consumer missed nframes of its own timeline (JACK did not
/// run its callback for a cycle): drops as many frames as it would have
/// played, so the stream keeps its place and its latency instead of
/// drifting one period late until a trim.
BB_RT void bb_jbuf_skip(struct bb_jbuf *jb, unsigned nframes);

/// Consumer: frames ready to be played now (0 while buffering).
BB_RT unsigned bb_jbuf_ready(struct bb_jbuf *jb);

/// Consumer: fills out[c][0..nframes) for every channel c < channels.
/// Returns 1 if real audio was played, 0 when the output is silence or
/// fading out.
BB_RT int bb_jbuf_read(struct bb_jbuf *jb, float *const *out, unsigned nframes);

#endif
