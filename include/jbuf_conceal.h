// SPDX-License-Identifier: GPL-2.0-or-later
// jbuf_conceal.h: the gap of an underrun played as a prediction of the
// stream instead of a fade to silence (src/jbuf_conceal.c).
//
// Why. The receive thread gives a missing packet up only when a newer one
// shows the loss (jbuf_rx.c): at a low depth, the automatic depth on a
// clean link, the read that needs a lost (or late) packet's frames comes
// first and runs dry. The buffer then restarts (jbuf.h): it waits for the
// depth, and plays on from the frames the calm lag places (the stream's
// latency is kept), or the newest. That stays as it was; what changes is
// what is heard meanwhile: the read that ran dry, and every read while the
// buffer waits, play a linear prediction of the stream (plc.h: Burg's
// method, fitted to the last 10 ms the consumer played, so it continues
// the sound without a step) instead of a fade to silence and silence; and
// the restart crossfades from the prediction's continuation into the
// frames it plays (about a millisecond) instead of fading in from silence.
// A lost packet at a low depth is then heard as a few milliseconds of
// prediction, not as a dropout.
//
// Limits. A prediction lives 15 ms (plc.h: 5 ms at full level, then a
// 10 ms fade to silence): a longer wait goes on in silence, and the restart
// crossfades from it. It needs 5 ms of history since the stream last
// started. A fit costs tens of microseconds per channel in the process
// callback: a hub shares a budget of channels per cycle among its
// musicians (bb_jbuf_set_conceal_budget); a read past it fades (the first
// read of a gap) or fades out what the prediction was playing.
//
// One thread: the consumer's (the process callback).
#ifndef BB_JBUF_CONCEAL_H
#define BB_JBUF_CONCEAL_H

#include "bb.h"
#include "plc.h"

struct bb_jbuf_cc {
    struct bb_plc plc;      ///< the stream as heard, and the prediction of it (its run:
                            ///< frames predicted in the current gap, 0 when none)
    unsigned *budget;       ///< channels that may still be predicted this cycle
                            ///< (the owner's; NULL: no limit)
};

struct bb_jbuf;
/// bb_jbuf_init's part. Returns 0 or -errno.
int  bb_jbuf_cc_init(struct bb_jbuf *jb);
void bb_jbuf_cc_cleanup(struct bb_jbuf *jb);

/// The stream ran dry at frame from of x (n frames, interleaved; those
/// before it were played from the ring): fill x[from..n) with its
/// prediction, or silence once the prediction has faded. Returns 1 when
/// it did, 0 when it may not (too little history, no budget left): x is
/// then untouched.
BB_RT int  bb_jbuf_cc_fill(struct bb_jbuf *jb, float *x, unsigned from, unsigned n);
/// A gap is being predicted (the restart crossfades from it, not fades in).
BB_RT int  bb_jbuf_cc_gap(const struct bb_jbuf *jb);
/// x (n frames, interleaved) was played from the ring: into the history;
/// the first frames after a gap are crossfaded from its prediction.
/// Returns 1 when x changed so.
BB_RT int  bb_jbuf_cc_heard(struct bb_jbuf *jb, float *x, unsigned n);
/// The stream broke where nothing was predicted (a fade): forget the
/// history.
BB_RT void bb_jbuf_cc_forget(struct bb_jbuf *jb);

#endif
