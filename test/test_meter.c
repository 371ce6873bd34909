// SPDX-License-Identifier: GPL-2.0-or-later
// test_meter.c: peak/RMS meters (src/meter.c): the levels of known
// signals, dBFS with its floor, and the two-slot handover of meter.h
// (nothing before the first period, one tick late, nothing lost or
// counted twice, also with the callback and the reader on two threads).
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "meter.h"

#define N 480 // 10 ms at 48 kHz: whole periods of 100 Hz and 1 kHz

static int near(double a, double b, double tol) { return fabs(a - b) <= tol; }

static void test_levels(void)
{
    float buf[N];
    float peak = 0.0f, sq = 0.0f;

    // A 100 Hz sine at half scale: peak 0.5 (sample 120 is the crest),
    // RMS 0.5 / sqrt(2) = -9.03 dBFS.
    for (int i = 0; i < N; i++)
        buf[i] = 0.5f * sinf(2.0f * (float)M_PI * 100.0f * (float)i / 48000.0f);
    bb_meter_acc(&peak, &sq, buf, N);
    CHECK(near(peak, 0.5, 1e-6));
    CHECK(near(sq, N * 0.125, 1e-3));
    CHECK(near(bb_meter_peak_db(peak), -6.0206, 1e-3));
    CHECK(near(bb_meter_rms_db(sq, N), -9.0309, 1e-3));

    // A full-scale square wave: 0 dBFS peak and RMS, negative half included.
    for (int i = 0; i < N; i++)
        buf[i] = (i / 24) % 2 ? -1.0f : 1.0f;
    peak = 0.0f, sq = 0.0f;
    bb_meter_acc(&peak, &sq, buf, N);
    CHECK(peak == 1.0f && sq == (float)N);
    CHECK(near(bb_meter_peak_db(peak), 0.0, 1e-6) && near(bb_meter_rms_db(sq, N), 0.0, 1e-6));

    // Negative DC: |x| is the peak.
    for (int i = 0; i < N; i++)
        buf[i] = -0.25f;
    peak = 0.0f, sq = 0.0f;
    bb_meter_acc(&peak, &sq, buf, N);
    CHECK(peak == 0.25f);
    CHECK(near(bb_meter_rms_db(sq, N), -12.0412, 1e-3));

    // Accumulating: the peak is the largest so far, the squares add up.
    float p2 = 0.75f, s2 = 10.0f;
    bb_meter_acc(&p2, &s2, buf, N); // 0.25 < 0.75
    CHECK(p2 == 0.75f && s2 == 10.0f + N * 0.0625f);
    bb_meter_acc(&p2, &s2, NULL, N); // NULL is silence: nothing changes
    CHECK(p2 == 0.75f && s2 == 10.0f + N * 0.0625f);
    float one = -0.9f;
    bb_meter_acc(&p2, &s2, &one, 1);
    CHECK(p2 == 0.9f);

    // The floor: silence, no frames, NaN.
    CHECK(bb_meter_peak_db(0.0f) == BB_METER_FLOOR_DB);
    CHECK(bb_meter_peak_db(1e-9f) == BB_METER_FLOOR_DB); // -180 dB
    CHECK(bb_meter_peak_db(nanf("")) == BB_METER_FLOOR_DB);
    CHECK(bb_meter_rms_db(0.0f, N) == BB_METER_FLOOR_DB);
    CHECK(bb_meter_rms_db(5.0f, 0) == BB_METER_FLOOR_DB);
    CHECK(near(bb_meter_peak_db(1e-5f), -100.0, 1e-3)); // above the floor: as it is
}

/// One process callback period: source 3 and mix 2 (right) at a constant value.
static void rt_period(struct bb_meters *m, float v, unsigned n)
{
    static float buf[N];
    for (unsigned i = 0; i < n; i++)
        buf[i] = v;
    uint64_t gen;
    struct bb_meter_slot *s = bb_meters_rt_begin(m, &gen);
    bb_meter_acc(&s->src_peak[3], &s->src_sq[3], buf, n);
    bb_meter_acc(&s->mix_peak[2][1], &s->mix_sq[2][1], buf, n);
    bb_meters_rt_end(m, s, gen, n);
}

static void test_protocol(void)
{
    static struct bb_meters m;
    static struct bb_meter_slot out;
    bb_meters_init(&m);

    // Before the callback ever ran: nothing to take, out untouched.
    memset(&out, 0x5A, sizeof out);
    CHECK(bb_meters_take(&m, &out) == 0);
    CHECK(out.frames == 0x5A5A5A5Au);

    // Period 1, then a read: one tick late, the first read is empty.
    rt_period(&m, 0.5f, 64);
    CHECK(bb_meters_take(&m, &out) == 1);
    CHECK(out.frames == 0 && out.src_peak[3] == 0.0f);

    // Period 2; the read now returns period 1.
    rt_period(&m, 0.25f, 64);
    CHECK(bb_meters_take(&m, &out) == 1);
    CHECK(out.frames == 64 && out.src_peak[3] == 0.5f && out.src_sq[3] == 64 * 0.25f);
    CHECK(out.mix_peak[2][1] == 0.5f && out.mix_peak[2][0] == 0.0f && out.src_peak[2] == 0.0f);

    // No period since that read (JACK stopped): nothing, out untouched.
    memset(&out, 0x5A, sizeof out);
    CHECK(bb_meters_take(&m, &out) == 0);
    CHECK(out.frames == 0x5A5A5A5Au);

    // Three periods in one tick: the read returns period 2, then all three
    // together (max peak, summed squares and frames).
    rt_period(&m, 0.1f, 64);
    rt_period(&m, 0.875f, 32);
    rt_period(&m, 0.5f, 64);
    CHECK(bb_meters_take(&m, &out) == 1);
    CHECK(out.frames == 64 && out.src_peak[3] == 0.25f);
    rt_period(&m, 0.0f, 0); // a period with no frames hands the slot back
    CHECK(bb_meters_take(&m, &out) == 1);
    CHECK(out.frames == 160 && out.src_peak[3] == 0.875f);
    CHECK(near(out.src_sq[3], 64 * 0.01 + 32 * 0.765625 + 64 * 0.25, 1e-4));

    // A slot handed back is clear: the next read has only what came after.
    rt_period(&m, 0.125f, 16);
    CHECK(bb_meters_take(&m, &out) == 1); // the empty period
    CHECK(out.frames == 0 && out.src_peak[3] == 0.0f && out.src_sq[3] == 0.0f);
    rt_period(&m, 0.0f, 0);
    CHECK(bb_meters_take(&m, &out) == 1);
    CHECK(out.frames == 16 && out.src_peak[3] == 0.125f && out.src_sq[3] == 16 * 0.015625f);
}

// Two threads, as in the hub: a callback thread runs PERIODS periods of 16
// frames at 1.0 (one of them louder), the reader takes as fast as it can.
// Squares of 1.0 add up exactly in float, so every frame and square must
// be counted once: none lost in a flip, none read twice.
#define PERIODS 200000u
#define LOUD_AT 123457u

static struct bb_meters tm;
static _Atomic int rt_done;

static void *rt_thread(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < PERIODS; i++) {
        rt_period(&tm, i == LOUD_AT ? 1.5f : 1.0f, 16);
        sched_yield(); // a callback ends its period: let the reader in between
    }
    atomic_store(&rt_done, 1);
    return NULL;
}

static void test_threads(void)
{
    bb_meters_init(&tm);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, rt_thread, NULL) == 0);
    static struct bb_meter_slot out;
    double frames = 0, sq = 0, loud_sq = 1.5 * 1.5 * 16 - 16;
    float peak = 0.0f;
    unsigned takes = 0;
    while (!atomic_load(&rt_done)) {
        if (bb_meters_take(&tm, &out)) {
            takes++;
            frames += out.frames;
            sq += out.src_sq[3];
            peak = out.src_peak[3] > peak ? out.src_peak[3] : peak;
        }
    }
    pthread_join(t, NULL);
    // The last periods are in the live slot: one more period hands them over.
    if (bb_meters_take(&tm, &out)) {
        frames += out.frames, sq += out.src_sq[3];
        peak = out.src_peak[3] > peak ? out.src_peak[3] : peak;
    }
    rt_period(&tm, 0.0f, 0);
    CHECK(bb_meters_take(&tm, &out) == 1);
    frames += out.frames, sq += out.src_sq[3];
    peak = out.src_peak[3] > peak ? out.src_peak[3] : peak;
    printf("  two threads: %u reads while %u periods ran\n", takes, PERIODS);
    CHECK(takes > 1); // the reader did read concurrently
    CHECK(frames == 16.0 * PERIODS);
    CHECK(sq == 16.0 * PERIODS + loud_sq);
    CHECK(peak == 1.5f);
}

int main(void)
{
    test_levels();
    test_protocol();
    test_threads();
    return check_report("test_meter");
}
