// SPDX-License-Identifier: GPL-2.0-or-later
// test_drift.c: the clock drift estimator (src/drift.c) against a
// synthetic sender. Our clock is exact; the sender's frame counter runs
// PPM fast or slow; its packets reach us after a network delay with a
// floor and a random tail, and our cycles wake up late by a random amount
// (now and then by a millisecond). The estimate must come within a few
// ppm of the truth, also when a step (a cycle JACK lost without counting
// it, a route that got 2 ms longer) or a one-window spike (a burst of late
// packets) is thrown in, and must not claim to be ready too early.
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "drift.h"

#define RATE   48000u
#define PERIOD 64u

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static double uniform(void) // (0, 1]
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 1.0) / 9007199254740992.0;
}

static double expo(double mean) { return -mean * log(uniform()); }

struct scenario {
    const char *what;
    double      ppm;          ///< the sender's clock against ours (+ = fast)
    double      seconds;      ///< simulated time
    double      c_step_at;    ///< s: from here on our cycles come one period later than the frame counter says (0: never)
    double      p_step_at;    ///< s: from here on the network delay is 2 ms longer (0: never)
    double      spike_at;     ///< s: packets sent in the 300 ms from here are 1.5 ms later (0: never)
    double      load_from;    ///< s: from here on, load (0: never): see loaded()
};

// A loaded machine (it_drift_clock.sh beside other tests, load average
// 10 to 30): for spells of 0.25 to 2 s, more and more of them as the load
// grows, a thread wakes late all spell long: the receive thread (every
// arrival in it 60 to 300 us late) or, less often, our callback (every
// cycle 40 to 150 us late). Late, never early, and whole windows at a time:
// no punctual packet or cycle in them. Returns the extra delay (s) for the
// side asked (0: producer, 1: consumer) at time t (s).
static double loaded(const struct scenario *sc, int side, double t)
{
    if (sc->load_from <= 0 || t < sc->load_from)
        return 0.0;
    // Spells on a fixed pseudo-random schedule (a hash of the 0.25 s slot),
    // the same for every call at that time; denser as t grows.
    uint64_t slot = (uint64_t)(t / 0.25);
    double dens = 0.15 + 0.35 * (t - sc->load_from) / (sc->seconds - sc->load_from);
    uint64_t h = (slot / 2 + (uint64_t)side * 7919u) * 0x9E3779B97F4A7C15ull; // spells of 0.5 s
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    double u = (double)(h & 0xFFFFFF) / 16777216.0;
    double amount = (double)((h >> 24) & 0xFFFF) / 65536.0;
    if (side == 0)
        return u < dens ? 60e-6 + 240e-6 * amount : 0.0;
    return u < dens / 3 ? 40e-6 + 110e-6 * amount : 0.0;
}

struct result {
    double   ppm, se;
    int      ready;
    double   ready_at;        ///< s of simulated time when bb_drift_ready first said yes (-1: never)
    uint64_t steps, spikes;
};

static struct result run(const struct scenario *sc)
{
    static struct bb_drift d; // large: not on the stack
    bb_drift_init(&d, RATE);
    const double sender_fps = RATE * (1.0 + sc->ppm * 1e-6); // sender frames per our second
    const uint64_t t0 = 5000000000000ull;                    // our CLOCK_MONOTONIC at the start, ns
    const uint32_t f0 = 0xFFFFF000u;                         // JACK's frame counter wraps soon after
    const int64_t p0 = 123456789;                            // the sender's counter, any origin
    struct result r = { .ready_at = -1.0 };

    uint64_t j = 0;           // next packet
    double next_arrival = -1; // its arrival time (s), computed lazily
    const uint64_t cycles = (uint64_t)(sc->seconds * RATE / PERIOD);
    for (uint64_t k = 0; k < cycles; k++) {
        double tc = (double)(k * PERIOD) / RATE; // when cycle k begins, s
        if (sc->c_step_at > 0 && tc >= sc->c_step_at)
            tc += (double)PERIOD / RATE; // a cycle lost without counting it
        // The sender's packets that arrived before this cycle's callback ran.
        double wake = tc + (uniform() < 0.01 ? 0.001 : 0.0) + 20e-6 + expo(30e-6) + loaded(sc, 1, tc);
        for (;;) {
            if (next_arrival < 0) {
                double sent = (double)((j + 1) * PERIOD) / sender_fps; // its last frame, our time
                double delay = 1e-3 + expo(0.5e-3);
                if (sc->p_step_at > 0 && sent >= sc->p_step_at)
                    delay += 2e-3;
                if (sc->spike_at > 0 && sent >= sc->spike_at && sent < sc->spike_at + 0.3)
                    delay += 1.5e-3;
                next_arrival = sent + delay;
                next_arrival += loaded(sc, 0, next_arrival);
            }
            if (next_arrival > wake)
                break;
            bb_drift_arrived(&d, p0 + (int64_t)((j + 1) * PERIOD),
                             t0 + (uint64_t)llround(next_arrival * 1e9));
            j++;
            next_arrival = -1;
        }
        uint32_t frame = f0 + (uint32_t)(k * PERIOD);
        bb_drift_cycle(&d, frame, t0 + (uint64_t)llround(wake * 1e9));
        if (r.ready_at < 0 && bb_drift_ready(&d))
            r.ready_at = tc;
    }
    r.ppm = d.ppm;
    r.se = d.se_ppm;
    r.ready = bb_drift_ready(&d);
    r.steps = d.steps;
    r.spikes = d.spikes;
    printf("  %-44s truth %+7.1f ppm: estimate %+8.3f (se %.3f, %u of %u points), ready at %.1f s, %llu steps, %llu spikes\n",
           sc->what, sc->ppm, r.ppm, r.se, d.fit_used, d.n, r.ready_at, (unsigned long long)r.steps,
           (unsigned long long)r.spikes);
    return r;
}

#define TOL_PPM 3.0 // "within a few ppm": it_drift_clock.sh reads within 1.5 on a real JACK

static void test_clean(void)
{
    static const double truths[] = { 0.0, 200.0, -200.0, 37.5 };
    for (unsigned i = 0; i < sizeof truths / sizeof truths[0]; i++) {
        struct scenario sc = { .what = "steady sender", .ppm = truths[i], .seconds = 40.0 };
        struct result r = run(&sc);
        CHECK(r.ready);
        CHECK(fabs(r.ppm - truths[i]) < TOL_PPM);
        // Ready no sooner than 60 windows (15 s) and, here, not much later.
        CHECK(r.ready_at >= 14.9 && r.ready_at < 20.0);
        CHECK(r.steps == 0);
    }
}

static void test_not_ready_early(void)
{
    struct scenario sc = { .what = "10 s only", .ppm = 200.0, .seconds = 10.0 };
    struct result r = run(&sc);
    CHECK(!r.ready);
    CHECK(r.ready_at < 0);
}

static void test_steps(void)
{
    // A lost cycle moves our side by 1333 us, a longer route the sender's
    // by 2000 us: over the 32 s fit either would read as tens of ppm if it
    // stayed in.
    struct scenario a = { .what = "lost cycle at 25 s", .ppm = 200.0, .seconds = 45.0,
                          .c_step_at = 25.0 };
    struct result r = run(&a);
    CHECK(r.steps >= 1);
    CHECK(r.ready && fabs(r.ppm - 200.0) < TOL_PPM);

    struct scenario b = { .what = "route 2 ms longer at 20 s", .ppm = -200.0, .seconds = 45.0,
                          .p_step_at = 20.0 };
    r = run(&b);
    CHECK(r.steps >= 1);
    CHECK(r.ready && fabs(r.ppm + 200.0) < TOL_PPM);

    struct scenario c = { .what = "both, at 0 ppm", .ppm = 0.0, .seconds = 45.0,
                          .c_step_at = 8.0, .p_step_at = 30.0 };
    r = run(&c);
    CHECK(r.steps >= 2);
    CHECK(r.ready && fabs(r.ppm) < TOL_PPM);
}

static void test_spike(void)
{
    struct scenario sc = { .what = "late burst at 18 s", .ppm = 200.0, .seconds = 40.0,
                           .spike_at = 18.0 };
    struct result r = run(&sc);
    CHECK(r.spikes >= 1);
    CHECK(r.steps == 0); // it came back: not a step
    CHECK(r.ready && fabs(r.ppm - 200.0) < TOL_PPM);
}

// Load, late never early, whole windows at a time and more of them as time
// goes on (which tilted a plain least-squares line by 5 to 15 ppm): within
// 1 ppm, and no spell taken for a step.
static void test_load(void)
{
    static const double truths[] = { 0.0, 120.0, -60.0 };
    for (unsigned i = 0; i < sizeof truths / sizeof truths[0]; i++) {
        struct scenario sc = { .what = "loaded from 5 s", .ppm = truths[i], .seconds = 45.0,
                               .load_from = 5.0 };
        struct result r = run(&sc);
        CHECK(r.ready);
        CHECK(fabs(r.ppm - truths[i]) < 1.0);
    }
    struct scenario sc = { .what = "loaded, and a lost cycle at 25 s", .ppm = 0.0, .seconds = 45.0,
                           .load_from = 5.0, .c_step_at = 25.0 };
    struct result r = run(&sc);
    CHECK(r.steps >= 1);
    CHECK(r.ready && fabs(r.ppm) < 1.0);
}

int main(void)
{
    test_clean();
    test_not_ready_early();
    test_steps();
    test_spike();
    test_load();
    return check_report("test_drift");
}
