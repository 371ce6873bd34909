// SPDX-License-Identifier: GPL-2.0-or-later
// click.h: a metronome rendered in the process callback, sample-accurate
// against JACK's frame counter.
//
// GRID. When the click is switched on, the first render call's first frame
// is beat 0 (an accented downbeat). Beat n then starts exactly at frame
// origin + round(n * 60 * rate / bpm), computed with 64-bit integers from
// the tempo in thousandths of a BPM (no accumulated error: it does not
// drift over hours, and JACK's 32-bit frame counter may wrap). A tempo,
// metre, pitch or accent change takes effect at the next beat, which then
// becomes the origin of the new tempo; level and on/off take effect at the
// next render call with a 5 ms ramp (switching off lets a sounding click
// fade instead of cutting it; switching on starts a new grid). Frames JACK
// skipped are skipped on the grid too (the beats keep their place), but a
// beat that began in them and is still sounding sounds on from the first
// frame rendered: a late cycle's jump would otherwise lose it. The
// counter may also step back by a period or two: jack2's
// jack_last_frame_time reads the server's current cycle, so a callback that
// starts late, after the server moved on, is told the next cycle's frame,
// and the cycle after it the same frame again. A step back of up to 100 ms
// is followed, its frames rendered again at their place on the grid (the
// next beat lies ahead of them, so no beat is played twice or restarted);
// a larger one is a new JACK server, and the grid restarts there.
//
// SOUND. A 20 ms sine burst with a 0.5 ms attack and a fast exponential
// decay (1 kHz; the accent on beat 1 of each bar 1.6 kHz and 6 dB louder by
// default), tables rebuilt in the callback (a few microseconds) only when a
// pitch changes, at a beat.
//
// THREADS. [ctl] new, free, set, get; [rt] render, position. Settings go
// from control to callback through a small lock-free ring; the callback
// keeps the newest. The hub mixes the rendered buffer into the personal
// mixes of musicians who ask for it, each at their own level, and never
// into the main mix or a recording unless asked.
#ifndef BB_CLICK_H
#define BB_CLICK_H

#include <stdbool.h>
#include <stdint.h>

#include "bb.h"

#define BB_CLICK_BPM_MIN 20.0
#define BB_CLICK_BPM_MAX 300.0
#define BB_CLICK_BEATS_MAX 16

struct bb_click_settings {
    bool     on;
    double   bpm;           ///< 20..300, kept to 1/1000 BPM
    unsigned beats_per_bar; ///< 1..16
    float    level_db;      ///< -60..+6 dBFS, peak of an ordinary beat
    bool     accent;        ///< beat 1 of each bar accented
    float    accent_db;     ///< 0..+12 dB above level_db
    float    freq_hz;       ///< 200..5000, ordinary beat
    float    accent_hz;     ///< 200..5000, beat 1
};

struct bb_click;

/// [ctl] Defaults: off, 120 BPM, 4 beats, -12 dB, accent +6 dB, 1000/1600 Hz.
void bb_click_defaults(struct bb_click_settings *s);
/// [ctl] A click for sample rate rate (8000..384000), with the defaults.
/// NULL: out of memory or a bad rate.
struct bb_click *bb_click_new(unsigned rate);
/// NULL is a no-op. The callback must be done with it.
void bb_click_free(struct bb_click *c);
/// [ctl] New settings. Returns 0, -EINVAL (a value out of range: nothing
/// changes), -EAGAIN (the callback has not taken the last 16 yet).
int bb_click_set(struct bb_click *c, const struct bb_click_settings *s);
/// [ctl] The settings last set.
void bb_click_get(const struct bb_click *c, struct bb_click_settings *s);
/// [any] Beats played since the click began (onsets), and the beat in the
/// bar of the last one (0 = downbeat).
uint64_t bb_click_beats(const struct bb_click *c, unsigned *beat_in_bar);

/// [any] Renders whose frame was before the end of the last one (the
/// counter stepped back, see GRID).
uint64_t bb_click_steps_back(const struct bb_click *c);

/// [rt] Writes nframes of click (0.0 where silent) into out; frame is JACK's
/// frame counter at out[0] (jack_last_frame_time). Returns whether anything
/// but silence was written, so a caller can skip mixing it.
BB_RT bool bb_click_render(struct bb_click *c, uint32_t frame, float *out, unsigned nframes);

#endif
