// SPDX-License-Identifier: GPL-2.0-or-later
// test_click.c: the metronome's beats land on the predicted frame over ten
// minutes (120 and 97 BPM, across the wrap of JACK's frame counter and a
// skipped stretch), accents on beat 1, a tempo change at the next beat, off
// is silence, rendering in pieces equals rendering at once, and a frame
// counter that steps back a period (a late callback under jack2) moves no
// beat.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "click.h"

#define RATE 48000

// Onsets (extended frame) and peaks of the clicks rendered by render_run.
struct run {
    uint64_t *onset;
    float    *peak;
    size_t    n, cap;
    float     prev; // last sample of the previous call
};

static void scan(struct run *r, uint64_t f0, const float *buf, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        float prev = i ? buf[i - 1] : r->prev;
        if (buf[i] != 0.0f && prev == 0.0f) {
            if (r->n == r->cap) {
                r->cap = r->cap ? 2 * r->cap : 1024;
                r->onset = realloc(r->onset, r->cap * sizeof *r->onset);
                r->peak = realloc(r->peak, r->cap * sizeof *r->peak);
            }
            r->onset[r->n] = f0 + i;
            r->peak[r->n++] = 0.0f;
        }
        if (r->n && fabsf(buf[i]) > r->peak[r->n - 1])
            r->peak[r->n - 1] = fabsf(buf[i]);
    }
    if (n)
        r->prev = buf[n - 1];
}

// Renders frames [from, to) of the extended timeline in blocks of period;
// JACK's counter is the low 32 bits. skip_at/skip_len: a stretch JACK never
// ran us for.
static void render_run(struct bb_click *c, struct run *r, uint64_t from, uint64_t to,
                       unsigned period, uint64_t skip_at, uint64_t skip_len)
{
    static float buf[8192];
    for (uint64_t f = from; f < to;) {
        if (skip_len && f >= skip_at && f < skip_at + skip_len) {
            f = skip_at + skip_len;
            r->prev = 0.0f;
            continue;
        }
        unsigned n = to - f < period ? (unsigned)(to - f) : period;
        bb_click_render(c, (uint32_t)f, buf, n);
        scan(r, f, buf, n);
        f += n;
    }
}

static void set(struct bb_click *c, bool on, double bpm, unsigned bpb)
{
    struct bb_click_settings s;
    bb_click_get(c, &s);
    s.on = on;
    s.bpm = bpm;
    s.beats_per_bar = bpb;
    CHECK(bb_click_set(c, &s) == 0);
}

// Ten minutes: every onset at origin + round(n * 60 * rate / bpm), accents
// on beat 1 of each bar and nowhere else.
static void test_long_run(double bpm, unsigned bpb, uint64_t skip_len)
{
    struct bb_click *c = bb_click_new(RATE);
    CHECK(c != NULL);
    set(c, true, bpm, bpb);
    struct run r = {0};
    uint64_t origin = UINT32_MAX - 5ull * 60 * RATE; // the 32-bit counter wraps after 5 min
    uint64_t end = origin + 10ull * 60 * RATE;
    uint64_t skip_at = origin + 3ull * 60 * RATE + 12345;
    render_run(c, &r, origin, end, 256, skip_at, skip_len);
    size_t k = 0, bad = 0, bad_acc = 0, expected = 0;
    float normal = 0.0f, accent = 0.0f;
    for (uint64_t n = 0;; n++) {
        uint64_t f = origin + (uint64_t)llroundl((long double)n * 60 * RATE / bpm);
        if (f >= end)
            break;
        if (skip_len && f >= skip_at && f < skip_at + skip_len)
            continue; // beats of skipped frames are gone
        if (skip_len && f < skip_at && f + RATE / 50 > skip_at)
            continue; // cut short by the skip: still an onset, peak unknown
        expected++;
        if (k < r.n && r.onset[k] == f) {
            bool is_acc = n % bpb == 0;
            if (is_acc)
                accent = r.peak[k];
            else
                normal = r.peak[k];
            if (normal > 0 && accent > 0 && (is_acc ? r.peak[k] < 1.5f * normal
                                                   : r.peak[k] * 1.5f > accent))
                bad_acc++;
            k++;
        } else {
            bad++;
        }
        while (k < r.n && r.onset[k] <= f)
            k++; // an onset the skip cut in two
    }
    printf("%.0f BPM, %u/4%s: %zu beats, %zu onsets found, %zu misplaced, %zu wrong accents, "
           "accent/normal %.2f\n", bpm, bpb, skip_len ? ", 3 s skipped" : "", expected, r.n, bad,
           bad_acc, normal > 0 ? accent / normal : 0.0);
    CHECK(bad == 0);
    CHECK(bad_acc == 0);
    CHECK(r.n >= expected && r.n <= expected + 1);
    CHECK(fabsf(accent / normal - 2.0f) < 0.1f); // +6 dB
    CHECK(fabsf(normal - 0.251f) < 0.01f);       // -12 dBFS
    unsigned bib;
    CHECK(bb_click_beats(c, &bib) >= expected);
    free(r.onset);
    free(r.peak);
    bb_click_free(c);
}

static void test_tempo_change(void)
{
    struct bb_click *c = bb_click_new(RATE);
    set(c, true, 120.0, 4); // beats at 0, 24000, 48000, ...
    struct run r = {0};
    render_run(c, &r, 1000, 1000 + 30000, 128, 0, 0);
    set(c, true, 90.0, 3); // 32000 frames a beat, 3 to a bar, from the next beat (48000)
    render_run(c, &r, 1000 + 30000, 1000 + 200000, 128, 0, 0);
    uint64_t want[] = {0, 24000, 48000, 80000, 112000, 144000, 176000};
    CHECK(r.n == 7);
    for (size_t i = 0; i < 7 && i < r.n; i++)
        CHECK(r.onset[i] == 1000 + want[i]);
    // Beat 3 (48000) was the 3rd of the 4/4 bar: the 3/4 bar goes on from
    // there (48000 is beat 2 of it), so 80000 is a downbeat.
    CHECK(r.n == 7 && r.peak[3] > 1.5f * r.peak[2] && r.peak[6] > 1.5f * r.peak[5]);
    CHECK(r.n == 7 && r.peak[4] < 1.1f * r.peak[5]);
    free(r.onset);
    free(r.peak);
    bb_click_free(c);
}

static void test_off_and_level(void)
{
    struct bb_click *c = bb_click_new(RATE);
    static float buf[RATE];
    // Off by default: silence, and the call says so.
    CHECK(!bb_click_render(c, 0, buf, RATE));
    bool silent = true;
    for (unsigned i = 0; i < RATE; i++)
        silent &= buf[i] == 0.0f;
    CHECK(silent);
    set(c, true, 120.0, 4);
    CHECK(bb_click_render(c, RATE, buf, 100)); // on: a downbeat at once
    CHECK(buf[0] != 0.0f);
    // Off in the middle of a click: it fades within 5 ms, then silence.
    set(c, false, 120.0, 4);
    bb_click_render(c, RATE + 100, buf, RATE);
    float tail = 0.0f;
    silent = true;
    for (unsigned i = 0; i < RATE; i++) {
        if (i >= RATE / 200)
            silent &= buf[i] == 0.0f;
        else
            tail = fmaxf(tail, fabsf(buf[i]));
    }
    CHECK(silent && tail > 0.0f);
    uint64_t beats = bb_click_beats(c, NULL);
    CHECK(!bb_click_render(c, 2 * RATE + 100, buf, RATE));
    CHECK(bb_click_beats(c, NULL) == beats);
    // Level: -6 dB is twice -12 dB (the first beat after on is the accent).
    struct bb_click_settings s;
    bb_click_get(c, &s);
    s.on = true;
    s.level_db = -6.0f;
    s.accent = false;
    CHECK(bb_click_set(c, &s) == 0);
    bb_click_render(c, 3 * RATE, buf, RATE / 2);
    float peak = 0.0f;
    for (unsigned i = 0; i < RATE / 50; i++)
        peak = fmaxf(peak, fabsf(buf[i]));
    CHECK(fabsf(peak - 0.501f) < 0.02f);
    // Bad values change nothing.
    struct bb_click_settings bad = s;
    bad.bpm = 10.0;
    CHECK(bb_click_set(c, &bad) == -EINVAL);
    bad = s;
    bad.bpm = NAN;
    CHECK(bb_click_set(c, &bad) == -EINVAL);
    bad = s;
    bad.beats_per_bar = 17;
    CHECK(bb_click_set(c, &bad) == -EINVAL);
    bad = s;
    bad.level_db = 20.0f;
    CHECK(bb_click_set(c, &bad) == -EINVAL);
    bb_click_get(c, &bad);
    CHECK(bad.bpm == s.bpm && bad.level_db == s.level_db);
    CHECK(bb_click_new(100) == NULL);
    bb_click_free(NULL);
    bb_click_free(c);
}

// Rendering in pieces of any size gives the same samples as one call.
static void test_split(void)
{
    const unsigned N = 5 * RATE;
    float *whole = calloc(N, sizeof(float)), *parts = calloc(N, sizeof(float));
    struct bb_click *a = bb_click_new(RATE), *b = bb_click_new(RATE);
    set(a, true, 97.0, 5);
    set(b, true, 97.0, 5);
    uint32_t f0 = UINT32_MAX - RATE; // across the wrap too
    bb_click_render(a, f0, whole, N);
    srand(7);
    for (unsigned done = 0; done < N;) {
        unsigned n = 1 + (unsigned)rand() % 700;
        if (n > N - done)
            n = N - done;
        bb_click_render(b, f0 + done, parts + done, n);
        done += n;
    }
    CHECK(memcmp(whole, parts, N * sizeof(float)) == 0);
    unsigned nz = 0;
    for (unsigned i = 0; i < N; i++)
        nz += whole[i] != 0.0f;
    CHECK(nz > 8 * RATE / 50 - 100); // 8 clicks in 5 s at 97 BPM
    free(whole);
    free(parts);
    bb_click_free(a);
    bb_click_free(b);
}

// Renders [origin, end) at 240 BPM in 64-frame cycles as jack2 tells a
// late callback: in each cycle whose offset from origin modulo every is
// below 64 after at, the next cycle's frame, and the cycle after it that
// frame again. Onsets go to r, at the true frames. Returns the late cycles.
static unsigned render_late(struct bb_click *c, struct run *r, uint64_t origin, uint64_t end,
                            uint64_t every, uint64_t at)
{
    const unsigned P = 64;
    static float buf[64];
    unsigned late = 0;
    uint32_t told_next = 0;
    bool have_told = false;
    for (uint64_t f = origin; f < end; f += P) {
        uint32_t told = (uint32_t)f;
        if (have_told) {
            told = told_next; // the late cycle's frame, read again
            have_told = false;
        } else if (f > origin && (f - origin) % every - at < P) {
            told = (uint32_t)(f + P); // late: the server is a cycle on
            told_next = told;
            have_told = true;
            late++;
        }
        bb_click_render(c, told, buf, P);
        scan(r, f, buf, P);
    }
    return late;
}

// jack2 tells a callback that starts late the next cycle's frame, and the
// cycle after it that frame again: the counter steps back by a period. The
// beats stay on their grid, as heard at the true frames (what a recorder
// at the hub's ports gets), every one of them.
static void test_late_reads(void)
{
    const unsigned P = 64, BEAT = 12000; // 240 BPM at 48 kHz
    struct bb_click *c = bb_click_new(RATE);
    set(c, true, 240.0, 4);
    struct run r = {0};
    static float buf[64];
    const uint64_t origin = 1000000, end = origin + 60ull * RATE;
    unsigned late = render_late(c, &r, origin, end, 3 * BEAT, BEAT / 2); // mid-beat, every third
    size_t bad = 0, expected = 0, k = 0;
    for (uint64_t t = origin; t < end; t += BEAT, expected++) {
        while (k < r.n && r.onset[k] < t)
            k++, bad++; // an onset off the grid
        if (k < r.n && r.onset[k] == t)
            k++;
        else
            bad++;
    }
    bad += r.n - k;
    printf("late callbacks: %u in 60 s, %zu beats due, %zu onsets, %zu off the grid or missing, "
           "%llu steps back seen\n", late, expected, r.n, bad,
           (unsigned long long)bb_click_steps_back(c));
    CHECK(late > 70);
    CHECK(bad == 0);
    CHECK(r.n == expected);
    CHECK(bb_click_steps_back(c) == late);
    // A new JACK server (its counter far behind): the grid restarts there,
    // a downbeat at once.
    bb_click_render(c, 5000, buf, P);
    CHECK(buf[0] != 0.0f);
    free(r.onset);
    free(r.peak);
    bb_click_free(c);
}

// A late callback told the next cycle's frame in the very cycle a beat
// begins in: the beat still sounds, at its place on the grid (what the
// late cycle jumped over sounds from the next frame rendered), every one.
static void test_late_onset(void)
{
    const unsigned P = 64, BEAT = 12000; // 240 BPM at 48 kHz
    struct bb_click *c = bb_click_new(RATE);
    set(c, true, 240.0, 4);
    struct run r = {0};
    const uint64_t origin = 2000000, end = origin + 30ull * RATE;
    unsigned late = render_late(c, &r, origin, end, BEAT, 0); // the cycle a beat begins in
    size_t heard = 0, expected = 0, k = 0;
    for (uint64_t t = origin; t + BEAT < end; t += BEAT, expected++) {
        while (k < r.n && r.onset[k] + P < t)
            k++;
        if (k < r.n && r.onset[k] <= t + P)
            heard++, k++;
    }
    printf("late callbacks at onsets: %u in 30 s, %zu beats due, %zu heard within a period\n", late,
           expected, heard);
    CHECK(late > 100);
    CHECK(heard == expected);
    free(r.onset);
    free(r.peak);
    bb_click_free(c);
}

static void bench(void)
{
    struct bb_click *c = bb_click_new(RATE);
    set(c, true, 300.0, 4);
    static float buf[128];
    uint64_t t0 = bb_now_ns();
    unsigned cycles = 60 * RATE / 128;
    for (unsigned i = 0; i < cycles; i++)
        bb_click_render(c, i * 128, buf, 128);
    printf("render: %.2f us per 128-frame period (300 BPM)\n",
           (bb_now_ns() - t0) / 1e3 / cycles);
    bb_click_free(c);
}

int main(void)
{
    test_long_run(120.0, 4, 0);
    test_long_run(97.0, 4, 0);
    test_long_run(97.0, 3, 3 * RATE);
    test_tempo_change();
    test_off_and_level();
    test_split();
    test_late_reads();
    test_late_onset();
    bench();
    return check_report("test_click");
}
