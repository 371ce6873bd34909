// SPDX-License-Identifier: GPL-2.0-or-later
// meter.h: peak and RMS levels, measured by the process callback and read
// by the control thread, without locks and without losing a peak.
//
// PROTOCOL. Two slots. The control thread owns `gen`; the process callback
// accumulates into slot[gen & 1] and, when a period is done, stores the gen
// it used into `rt_gen` (release). Callbacks run one after another, so once
// rt_gen == gen the callback no longer touches slot[(gen - 1) & 1]: the
// control thread may then read it, clear it, and flip (gen + 1, release),
// which hands that cleared slot back to the callback. If the callback has
// not run since the last flip (JACK stopped) the control thread does
// nothing. So each read returns the max peak and the summed squares since
// the read before it, one tick late, and nothing is ever lost or counted
// twice. Neither side waits.
#ifndef BB_METER_H
#define BB_METER_H

#include <stdatomic.h>
#include <stdint.h>

#include "bb.h"
#include "mixer.h"

#define BB_METER_FLOOR_DB (-120.0f) ///< what silence (or no data) reads

/// One accumulation interval. Indexed by stable ids (mixer.h): source id,
/// mix id. Written by [rt] while it is the live slot, by [ctl] otherwise.
struct bb_meter_slot {
    uint32_t frames;                      ///< frames accumulated
    float    src_peak[BB_MAX_SOURCES];    ///< max |x|
    float    src_sq[BB_MAX_SOURCES];      ///< sum of x^2
    float    mix_peak[BB_MAX_MIXES][2];   ///< L, R
    float    mix_sq[BB_MAX_MIXES][2];
};

struct bb_meters {
    _Atomic uint64_t     gen;     ///< [ctl writes, rt reads] the live slot is slot[gen & 1]
    _Atomic uint64_t     rt_gen;  ///< [rt writes, ctl reads] gen of the last finished period
    struct bb_meter_slot slot[2]; ///< see PROTOCOL
};

/// [ctl] Before the callback may run.
void bb_meters_init(struct bb_meters *m);

/// [rt] The slot to accumulate into this period; *gen receives its gen.
BB_RT static inline struct bb_meter_slot *bb_meters_rt_begin(struct bb_meters *m, uint64_t *gen)
{
    *gen = atomic_load_explicit(&m->gen, memory_order_acquire);
    return &m->slot[*gen & 1];
}

/// [rt] Adds buf (n frames; NULL = silence) to one meter.
BB_RT void bb_meter_acc(float *peak, float *sq, const float *buf, unsigned n);

/// [rt] The period is done.
BB_RT static inline void bb_meters_rt_end(struct bb_meters *m, struct bb_meter_slot *s,
                                          uint64_t gen, unsigned n)
{
    s->frames += n;
    atomic_store_explicit(&m->rt_gen, gen, memory_order_release);
}

/// [ctl] Copies out what was measured since the previous successful call
/// (see PROTOCOL) and resets it. Returns 1, or 0 when the callback has not
/// run since the previous call (out untouched).
int bb_meters_take(struct bb_meters *m, struct bb_meter_slot *out);

/// Peak (linear) to dBFS, floored at BB_METER_FLOOR_DB.
float bb_meter_peak_db(float peak);
/// RMS in dBFS of sq summed over frames, floored at BB_METER_FLOOR_DB.
float bb_meter_rms_db(float sq, uint32_t frames);

#endif
