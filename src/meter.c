// SPDX-License-Identifier: GPL-2.0-or-later
// meter.c: level meters between the process callback and the control
// thread; the handover protocol is described in meter.h.
#include "meter.h"

#include <math.h>
#include <string.h>

void bb_meters_init(struct bb_meters *m)
{
    memset(m->slot, 0, sizeof m->slot);
    atomic_store(&m->rt_gen, 0);
    atomic_store(&m->gen, 1);
}

BB_RT void bb_meter_acc(float *peak, float *sq, const float *buf, unsigned n)
{
    if (!buf)
        return;
    float p = *peak, s = 0.0f;
    for (unsigned i = 0; i < n; i++) {
        float a = fabsf(buf[i]);
        p = a > p ? a : p;
        s += buf[i] * buf[i];
    }
    *peak = p;
    *sq += s;
}

int bb_meters_take(struct bb_meters *m, struct bb_meter_slot *out)
{
    uint64_t g = atomic_load_explicit(&m->gen, memory_order_relaxed); // we are its only writer
    if (atomic_load_explicit(&m->rt_gen, memory_order_acquire) != g)
        return 0; // the callback may still be in the other slot
    struct bb_meter_slot *done = &m->slot[(g + 1) & 1];
    memcpy(out, done, sizeof *out);
    memset(done, 0, sizeof *done);
    atomic_store_explicit(&m->gen, g + 1, memory_order_release);
    return 1;
}

float bb_meter_peak_db(float peak)
{
    float db = 20.0f * log10f(peak);
    return db > BB_METER_FLOOR_DB ? db : BB_METER_FLOOR_DB; // also NaN and -inf
}

float bb_meter_rms_db(float sq, uint32_t frames)
{
    if (!frames)
        return BB_METER_FLOOR_DB;
    float db = 10.0f * log10f(sq / (float)frames);
    return db > BB_METER_FLOOR_DB ? db : BB_METER_FLOOR_DB;
}
