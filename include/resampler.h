// SPDX-License-Identifier: GPL-2.0-or-later
// resampler.h: a variable-ratio resampler for one interleaved stream, a thin
// wrapper over libsamplerate's SRC_SINC_FASTEST.
//
// Why that one (measured at 48 kHz, stereo, 64-frame periods, ratio
// 1 +- 100e-6; test/test_resampler.c asserts the error figures):
//
//   tone              1 kHz   5 kHz   10 kHz  15 kHz  18 kHz
//   error below it    119.7   115.2   107.1   100.7   97.8 dB
//
// with a look-ahead of BB_RS_AHEAD frames (its only latency: its output
// sits at its input position, no group delay) and about 17-19 us of one
// core per period on this project's build machine. speexdsp reaches 90 dB
// at 15 kHz only from quality 3 (24 frames of delay) and recomputes its
// filter table, and may reallocate it, on every rate change; zita-resampler
// is C++ for the same look-ahead. libsamplerate's src_process does not
// allocate or lock after src_new.
//
// The caller owns the input: every call passes the frames from the
// resampler's position on (the frame under the next output, then the ones
// after it), at least bb_rs_need() of them; the resampler reads the ones it
// has not been fed yet and says how far its position moved, so the caller
// drops exactly those. The position's fraction is tracked here with the
// library's own arithmetic (the ratio is set, not ramped, at each call), so
// the caller knows where every output sits: a whole frame after a reset.
#ifndef BB_RESAMPLER_H
#define BB_RESAMPLER_H

#include "bb.h"

/// Frames beyond the position of a call's last output that it must be fed
/// at a ratio near 1 (up to 1.025): the sinc filter's half length and the
/// frame it starts on. bb_rs_ahead() for any ratio.
#define BB_RS_AHEAD 21

struct bb_resampler {
    void       *src;      ///< SRC_STATE
    unsigned    channels;
    double      frac;     ///< fraction of the position of the next output, [0, 1)
    unsigned    fed;      ///< frames fed beyond the position's whole frame
    const float *in;      ///< this call's input (callback's view)
    unsigned    in_frames;
    unsigned    starved;  ///< frames the caller owed and did not give (silence fed)
    float       cur[BB_MAX_CLIENT_CH]; ///< the frame last handed to the library
};

/// Control thread: 0 or -errno.
int  bb_rs_init(struct bb_resampler *rs, unsigned channels);
void bb_rs_cleanup(struct bb_resampler *rs);

/// Start over at a whole frame: the next output is input frame 0 of the
/// next call, with silence before it.
BB_RT void bb_rs_reset(struct bb_resampler *rs);

/// BB_RS_AHEAD at ratio r (input frames per output frame): more above 1,
/// where the filter is stretched to low-pass the input.
BB_RT unsigned bb_rs_ahead(double r);

/// Input frames a call of nframes at ratio r (input frames per output
/// frame) needs, from the position on.
BB_RT unsigned bb_rs_need(const struct bb_resampler *rs, unsigned nframes, double r);

/// Input frames the position moves by over nframes at ratio r (what a call
/// would return), without running anything.
BB_RT unsigned bb_rs_advance(const struct bb_resampler *rs, unsigned nframes, double r);

/// Outputs before the position's fraction falls below r - 1, at ratio r
/// just above 1 (0 when it is there already, nframes when not in time):
/// where the position wraps to within r - 1 of a whole frame.
BB_RT unsigned bb_rs_until_whole(const struct bb_resampler *rs, unsigned nframes, double r);

/// nframes interleaved frames into out at ratio r, from in (in_frames
/// interleaved frames from the position on). Returns the input frames the
/// position moved by: the caller's next call starts that much later.
BB_RT unsigned bb_rs_run(struct bb_resampler *rs, const float *in, unsigned in_frames, double r,
                         float *out, unsigned nframes);

#endif
