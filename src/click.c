// SPDX-License-Identifier: GPL-2.0-or-later
// click.c: the metronome (see click.h). Everything but new, free, set and
// get runs in the process callback: no allocation, no locks, no I/O.
#include "click.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "counter.h"
#include "ring.h"

#define CLICK_QUEUE 16 // settings in flight from control to callback

struct bb_click {
    unsigned                 rate;
    unsigned                 len;      ///< click length in frames (20 ms)
    struct bb_ring           q;        ///< [ctl] -> [rt] struct bb_click_settings
    struct bb_click_settings ctl_set;  ///< [ctl] last set
    _Atomic uint64_t         beats;    ///< [rt] onsets played
    _Atomic unsigned         last_beat; ///< [rt] beat in bar of the last onset
    _Atomic uint64_t         steps_back; ///< [rt] renders whose frame was before the last one's end
    unsigned                 max_back; ///< [ro] frames: a larger step back is a new server

    // [rt] everything below
    struct bb_click_settings cur;     ///< grid, pitch and accent in force
    struct bb_click_settings next;    ///< newest received
    bool     pending;                 ///< next differs from cur at the next beat
    bool     running;                 ///< a grid is running (on, or fading out)
    bool     have_end;                ///< end is valid
    uint64_t end;                     ///< extended frame after the last render
    uint64_t origin;                  ///< extended frame of beat 0 of this tempo
    uint64_t n;                       ///< index (from origin) of the next beat
    uint64_t next_onset;              ///< extended frame of beat n
    uint32_t mbpm;                    ///< tempo in 1/1000 BPM
    unsigned beat_in_bar;             ///< of the next beat
    bool     sounding;                ///< a click is playing
    uint64_t click_start;             ///< its first frame
    const float *click_tab;           ///< its table
    float    click_gain;              ///< its accent gain
    float    gain, target, step;      ///< level ramp (linear)
    float    tab_hz[2];               ///< pitches the tables hold
    float   *tab[2];                  ///< ordinary beat, accent: len frames each
};

void bb_click_defaults(struct bb_click_settings *s)
{
    *s = (struct bb_click_settings){.on = false, .bpm = 120.0, .beats_per_bar = 4,
                                    .level_db = -12.0f, .accent = true, .accent_db = 6.0f,
                                    .freq_hz = 1000.0f, .accent_hz = 1600.0f};
}

// A sine burst at hz (peak 1.0) sampled half a frame late, so its first sample is not
// 0 and an onset is visible where it is; rotation instead of sin() per
// sample, so a rebuild in the callback costs a few microseconds.
BB_RT static void build_tab(float *tab, unsigned len, unsigned rate, float hz)
{
    double w = 2.0 * M_PI * hz / rate;
    double s = sin(0.5 * w), co = cos(0.5 * w), sw = sin(w), cw = cos(w);
    double decay = exp(-1.0 / (0.004 * rate)); // 4 ms time constant
    double env = exp(-0.5 / (0.004 * rate));
    double attack = 0.0005 * rate, release = 0.002 * rate;
    for (unsigned k = 0; k < len; k++) {
        double t = k + 0.5, a = env;
        if (t < attack)
            a *= t / attack;
        if (len - t < release)
            a *= (len - t) / release;
        tab[k] = (float)(s * a);
        double s2 = s * cw + co * sw;
        co = co * cw - s * sw;
        s = s2;
        env *= decay;
    }
    // Peak 1.0 whatever the pitch, so level_db is the click's peak level.
    float peak = 0.0f;
    for (unsigned k = 0; k < len; k++)
        peak = fabsf(tab[k]) > peak ? fabsf(tab[k]) : peak;
    for (unsigned k = 0; peak > 0.0f && k < len; k++)
        tab[k] /= peak;
}

struct bb_click *bb_click_new(unsigned rate)
{
    if (rate < 8000 || rate > 384000)
        return NULL;
    struct bb_click *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->rate = rate;
    c->len = rate / 50;
    c->max_back = rate / 10;
    c->tab[0] = calloc(c->len, sizeof(float));
    c->tab[1] = calloc(c->len, sizeof(float));
    if (!c->tab[0] || !c->tab[1] ||
        bb_ring_init(&c->q, CLICK_QUEUE * sizeof(struct bb_click_settings)) != 0) {
        bb_click_free(c);
        return NULL;
    }
    bb_click_defaults(&c->ctl_set);
    c->cur = c->next = c->ctl_set;
    c->mbpm = (uint32_t)lround(c->cur.bpm * 1000.0);
    c->tab_hz[0] = c->cur.freq_hz;
    c->tab_hz[1] = c->cur.accent_hz;
    build_tab(c->tab[0], c->len, rate, c->tab_hz[0]);
    build_tab(c->tab[1], c->len, rate, c->tab_hz[1]);
    return c;
}

void bb_click_free(struct bb_click *c)
{
    if (!c)
        return;
    bb_ring_cleanup(&c->q);
    free(c->tab[0]);
    free(c->tab[1]);
    free(c);
}

int bb_click_set(struct bb_click *c, const struct bb_click_settings *s)
{
    // Written so that NaN fails every test.
    if (!(s->bpm >= BB_CLICK_BPM_MIN && s->bpm <= BB_CLICK_BPM_MAX) || s->beats_per_bar < 1 ||
        s->beats_per_bar > BB_CLICK_BEATS_MAX || !(s->level_db >= -60.0f && s->level_db <= 6.0f) ||
        !(s->accent_db >= 0.0f && s->accent_db <= 12.0f) ||
        !(s->freq_hz >= 200.0f && s->freq_hz <= 5000.0f) ||
        !(s->accent_hz >= 200.0f && s->accent_hz <= 5000.0f))
        return -EINVAL;
    if (!bb_ring_write(&c->q, s, sizeof *s))
        return -EAGAIN;
    c->ctl_set = *s;
    return 0;
}

void bb_click_get(const struct bb_click *c, struct bb_click_settings *s)
{
    *s = c->ctl_set;
}

uint64_t bb_click_steps_back(const struct bb_click *c)
{
    return atomic_load_explicit(&c->steps_back, memory_order_relaxed);
}

uint64_t bb_click_beats(const struct bb_click *c, unsigned *beat_in_bar)
{
    if (beat_in_bar)
        *beat_in_bar = atomic_load_explicit(&c->last_beat, memory_order_relaxed);
    return atomic_load_explicit(&c->beats, memory_order_relaxed);
}

// Frames from the origin to beat n: round(n * 60 * rate * 1000 / mbpm),
// exact in 64 bits for far longer than any rehearsal.
BB_RT static uint64_t beat_offset(const struct bb_click *c, uint64_t n)
{
    uint64_t k = 60000ull * c->rate;
    return (n * k + c->mbpm / 2) / c->mbpm;
}

BB_RT static void onset(struct bb_click *c, uint64_t f);

// The grid's next beat is the first at or after frame f. Frames JACK
// skipped carry their beats away with them, but for the last one: when it
// began in the skipped frames, after what was rendered (from), and would
// still sound at f, it sounds from there on, at its place on the grid. A
// late callback of jack2's is told the next cycle's frame (click.h, GRID):
// without this the beat it jumps over would be lost, though the frames come
// again in the next cycle.
BB_RT static void grid_seek(struct bb_click *c, uint64_t f, uint64_t from)
{
    if (c->next_onset >= f)
        return;
    uint64_t rel = f - c->origin;
    uint64_t n = rel * c->mbpm / (60000ull * c->rate);
    while (n > 0 && beat_offset(c, n - 1) >= rel)
        n--;
    while (beat_offset(c, n) < rel)
        n++;
    uint64_t last = n > 0 ? c->origin + beat_offset(c, n - 1) : 0;
    bool tail = n > c->n && last >= from && last >= c->next_onset && f - last < c->len;
    if (tail)
        n--;
    c->beat_in_bar = (unsigned)((c->beat_in_bar + (n - c->n)) % c->cur.beats_per_bar);
    c->n = n;
    c->next_onset = c->origin + beat_offset(c, n);
    if (tail)
        onset(c, c->next_onset);
}

// Tempo, metre, pitch and accent of c->next take over at frame f, a beat.
// Only a new tempo (or regrid: a new start) moves the origin to f: beats of
// an unchanged tempo stay on their first grid, which keeps 97 BPM rounding
// exact over hours.
BB_RT static void apply_next(struct bb_click *c, uint64_t f, bool regrid)
{
    uint32_t mbpm = (uint32_t)lround(c->next.bpm * 1000.0);
    if (regrid || mbpm != c->mbpm) {
        c->mbpm = mbpm;
        c->origin = f;
        c->n = 0;
        c->next_onset = f;
    }
    c->cur.bpm = c->next.bpm;
    c->cur.beats_per_bar = c->next.beats_per_bar;
    c->cur.accent = c->next.accent;
    c->cur.accent_db = c->next.accent_db;
    c->cur.freq_hz = c->next.freq_hz;
    c->cur.accent_hz = c->next.accent_hz;
    c->beat_in_bar %= c->cur.beats_per_bar;
    const float hz[2] = {c->cur.freq_hz, c->cur.accent_hz};
    for (int i = 0; i < 2; i++) {
        if (c->tab_hz[i] != hz[i]) {
            c->tab_hz[i] = hz[i];
            build_tab(c->tab[i], c->len, c->rate, hz[i]);
        }
    }
    c->pending = false;
}

// Newest settings from the control thread: level and on/off now, the rest
// at the next beat. f is the first frame of this render.
BB_RT static void take_settings(struct bb_click *c, uint64_t f)
{
    struct bb_click_settings s;
    bool got = false;
    while (bb_ring_read(&c->q, &s, sizeof s)) {
        c->next = s;
        got = true;
    }
    if (!got)
        return;
    c->pending = true;
    float level = c->next.on ? bb_db_to_gain(c->next.level_db) : 0.0f;
    if (c->next.on && !c->running) {
        // A new grid from this frame, at full level at once: nothing sounds yet.
        c->running = true;
        c->sounding = false;
        c->beat_in_bar = 0;
        apply_next(c, f, true);
        c->gain = level;
    }
    c->target = level;
    c->step = fabsf(c->target - c->gain) / (0.005f * c->rate);
}

// The beat at frame f starts.
BB_RT static void onset(struct bb_click *c, uint64_t f)
{
    if (c->pending)
        apply_next(c, f, false);
    bool acc = c->cur.accent && c->beat_in_bar == 0;
    c->sounding = true;
    c->click_start = f;
    c->click_tab = c->tab[acc];
    c->click_gain = acc ? bb_db_to_gain(c->cur.accent_db) : 1.0f;
    atomic_store_explicit(&c->last_beat, c->beat_in_bar, memory_order_relaxed);
    bb_counter_inc(&c->beats);
    c->beat_in_bar = (c->beat_in_bar + 1) % c->cur.beats_per_bar;
    c->n++;
    c->next_onset = c->origin + beat_offset(c, c->n);
}

BB_RT bool bb_click_render(struct bb_click *c, uint32_t frame, float *out, unsigned nframes)
{
    // JACK's 32-bit counter extended to 64 bits. A small step back is
    // followed (click.h, GRID): the frames are rendered again at their place
    // on the grid, whose next beat lies ahead of them. A larger one is a new
    // JACK server: the grid restarts where we are.
    uint64_t f = frame;
    uint64_t from = c->have_end ? c->end : frame; // the first frame not rendered yet
    if (c->have_end) {
        int32_t d = (int32_t)(frame - (uint32_t)c->end);
        if (d >= -(int32_t)c->max_back && (d >= 0 || (uint64_t)-(int64_t)d <= c->end)) {
            f = c->end + (uint64_t)(int64_t)d;
            if (d < 0)
                bb_counter_inc(&c->steps_back);
        } else {
            f = c->end;
            from = f;
            if (c->running)
                apply_next(c, f, true);
        }
    }
    take_settings(c, f);
    if (c->running)
        grid_seek(c, f, from);
    bool any = false;
    for (unsigned i = 0; i < nframes; i++, f++) {
        if (c->running && f == c->next_onset)
            onset(c, f);
        float v = 0.0f;
        if (c->sounding && f >= c->click_start) { // before it: frames rendered again
            uint64_t k = f - c->click_start;
            if (k < c->len)
                v = c->click_tab[k] * c->click_gain;
            else
                c->sounding = false;
        }
        if (c->gain != c->target) {
            if (c->gain < c->target)
                c->gain = c->gain + c->step < c->target ? c->gain + c->step : c->target;
            else
                c->gain = c->gain - c->step > c->target ? c->gain - c->step : c->target;
        }
        out[i] = v * c->gain;
        any |= v != 0.0f && c->gain != 0.0f;
    }
    if (c->running && c->target == 0.0f && c->gain == 0.0f) {
        c->running = false; // faded out: off
        c->sounding = false;
    }
    c->end = f;
    c->have_end = true;
    return any;
}
