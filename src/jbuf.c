// SPDX-License-Identifier: GPL-2.0-or-later
// jbuf.c: per-stream jitter buffer: producer half for the network receive
// thread, consumer half for the process callback (see jbuf.h).
#include "counter.h"
#include "jbuf.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_AUTO_MS    20    // auto target never grows beyond this
#define AUTO_LOWER_DIV 4     // auto target: lowered when a quarter packet too deep
#define DEPTH_HOLD_MS  2000  // a depth that rose again soon after it was lowered is kept
                             // this long unneeded before it is lowered again,
#define DEPTH_HOLD_MAX_S 16  // twice as long at each such rebound, up to this (s)
#define DEPTH_REBOUND_S 10   // a rise within this of a lowering is a rebound
#define WINDOW_MS      200   // the trim window: a standing excess must last this long
#define LAG_MIN_CUT    16    // frames later than the calm lag worth a splice
#define LAG_CALM       2     // how far the lag may stray in a calm window, frames
#define LAG_NEW_CLOCK_MS 50  // a lag this far from the calm one is a new clock
#define PAD_HOLD_MS    5000  // the edge pad is given back after this long without an underrun,
#define PAD_HOLD_MAX_S 80    // twice as long each time it comes back, up to this (s)
#define EDGE_QUICK     3     // restarts in a row that ran dry at once: the stream is on an edge

// Drift compensation (see jbuf.h and drift.h for the design).
#define DL_MAX_DRIFT   1000e-6 // drift estimate and ratio range
#define DL_FILL_TAU_S  0.5     // low-pass of the fill for the ratio's correction
#define RS_ENGAGE      20e-6   // |drift| at or above this for RS_ENGAGE_S engages
#define RS_ENGAGE_S    3
#define RS_RELEASE     8e-6    // |drift| below this for RS_RELEASE_S releases
#define RS_RELEASE_S   10
#define RS_CTL_TAU_S   8.0     // fill correction time constant while engaged
#define RS_CTL_MAX     200e-6  // and its limit
#define RS_LEAVE       300e-6  // ratio - 1 while heading for pass-through

int bb_jbuf_init(struct bb_jbuf *jb, unsigned channels, unsigned frames, unsigned max_period,
                 unsigned rate, unsigned target, struct bb_decoder *dec)
{
    memset(jb, 0, sizeof *jb);
    if (channels == 0 || channels > BB_MAX_CLIENT_CH || frames == 0 || frames > 4096 ||
        max_period == 0 || max_period > BB_MAX_PERIOD || rate == 0)
        return -EINVAL;
    jb->channels = channels;
    jb->frames = frames;
    jb->max_period = max_period;
    jb->rate = rate;
    jb->dec = dec;
    jb->fixed = target != BB_JBUF_AUTO;
    jb->target = jb->fixed ? target : 0;
    jb->since_lower = DEPTH_REBOUND_S * rate; // never lowered: the first rise is no rebound
    // Room for a generous backlog: the largest period, the deepest target
    // and a burst of late packets.
    size_t ring_frames = (size_t)max_period * 4 + (size_t)frames * 16 + rate / 10 +
                         (jb->fixed ? target : 0);
    int rc = bb_ring_init(&jb->ring, ring_frames * channels * sizeof(float));
    jb->decoded = calloc((size_t)frames * channels, sizeof(float));
    jb->scratch = calloc(((size_t)max_period * 2 + frames + 64 + BB_JBUF_RS_HIST) * channels,
                         sizeof(float));
    size_t rs_frames = max_period > BB_JBUF_RS_HIST ? max_period : BB_JBUF_RS_HIST;
    jb->rs_out = calloc(rs_frames * channels, sizeof(float));
    int rs_rc = bb_rs_init(&jb->rs, channels);
    if (rc < 0 || rs_rc < 0 || !jb->decoded || !jb->scratch || !jb->rs_out) {
        bb_jbuf_cleanup(jb);
        return rc < 0 ? rc : rs_rc < 0 ? rs_rc : -ENOMEM;
    }
    rc = bb_jbuf_rx_init(jb, jb->fixed ? target : 0);
    if (rc == 0)
        rc = bb_jbuf_cc_init(jb);
    if (rc < 0) {
        bb_jbuf_cleanup(jb);
        return rc;
    }
    atomic_store(&jb->stats.target, jb->target);
    jb->rs_ratio = 1.0;
    jb->dl_off = 1; // bb_jbuf_set_drift_comp() turns it on
    bb_drift_init(&jb->drift, rate);
    return 0;
}

void bb_jbuf_set_drift_comp(struct bb_jbuf *jb, int on)
{
    jb->dl_off = !on;
}

void bb_jbuf_set_conceal_budget(struct bb_jbuf *jb, unsigned *budget)
{
    jb->cc.budget = budget;
}

void bb_jbuf_cleanup(struct bb_jbuf *jb)
{
    bb_ring_cleanup(&jb->ring);
    bb_jbuf_rx_cleanup(jb);
    bb_jbuf_cc_cleanup(jb);
    free(jb->decoded);
    free(jb->scratch);
    free(jb->rs_out);
    bb_rs_cleanup(&jb->rs);
    jb->decoded = NULL;
    jb->scratch = NULL;
    jb->rs_out = NULL;
}

int bb_jbuf_stats_text(const struct bb_jbuf_stats *st, char *buf, size_t size)
{
    return snprintf(buf, size,
                    "fill %u target %u underruns %llu trims %llu lost %llu late %llu "
                    "drift %d ppm resampling %u (fit %.1f se %.1f steps %u spikes %u) "
                    "spread %u reordered %llu concealed %llu restores %llu",
                    atomic_load(&st->fill), atomic_load(&st->target),
                    (unsigned long long)atomic_load(&st->underruns),
                    (unsigned long long)atomic_load(&st->trims),
                    (unsigned long long)atomic_load(&st->lost),
                    (unsigned long long)atomic_load(&st->late), (int)atomic_load(&st->drift_ppm),
                    (unsigned)atomic_load(&st->resampling), atomic_load(&st->drift_fit) / 10.0,
                    atomic_load(&st->drift_se) / 10.0, (unsigned)atomic_load(&st->drift_steps),
                    (unsigned)atomic_load(&st->drift_spikes), (unsigned)atomic_load(&st->spread),
                    (unsigned long long)atomic_load(&st->reordered),
                    (unsigned long long)atomic_load(&st->concealed),
                    (unsigned long long)atomic_load(&st->restores));
}


// Producer: appends frames to the ring (0 when it is full).
static int push_frames(struct bb_jbuf *jb, const float *interleaved, unsigned nframes)
{
    uint32_t bytes = nframes * jb->channels * (uint32_t)sizeof(float);
    if (!bb_ring_write(&jb->ring, interleaved, bytes)) {
        bb_counter_add(&jb->stats.overflow, 1);
        return 0;
    }
    return (int)nframes;
}

int bb_jbuf_push(struct bb_jbuf *jb, const float *interleaved, unsigned nframes)
{
    int n = push_frames(jb, interleaved, nframes);
    jb->ts_pushed = n > 0;
    return n;
}

// ---- The consumer's state ----------------------------------------------

BB_RT static int resampling(const struct bb_jbuf *jb)
{
    return jb->state == BB_JB_RESAMPLING || jb->state == BB_JB_LEAVING;
}

// The one writer of jb->state. Each transition, and the step that decides it:
//
//   BUFFERING  -> PLAYING, RESAMPLING  start(): the ring holds the start depth
//   PLAYING    -> RESAMPLING           engage(): the drift is real and lasting
//   RESAMPLING -> LEAVING              drift_decide(): the drift is gone
//   LEAVING    -> RESAMPLING           drift_decide(): it is back
//   LEAVING    -> PLAYING              rs_read(): the fill is down, the phase wrapped
//   RESAMPLING, LEAVING -> PLAYING     rs_read(): a trim crossfades into pass-through;
//                                      too few frames for the resampler's
//                                      look-ahead (read_period, bb_jbuf_skip)
//   PLAYING    -> BUFFERING            underrun()
//
// Only RESAMPLING and LEAVING read at a fractional position. A move into
// them starts the resampler afresh at the whole frame the stream is at,
// and the first read primes it with the frames played before it (rs_hist):
// its filter then sees the stream it continues, and its first output is
// that frame, where pass-through would have been (no step, no delay).
BB_RT static void set_state(struct bb_jbuf *jb, enum bb_jbuf_state to)
{
    int rs_to = to == BB_JB_RESAMPLING || to == BB_JB_LEAVING;
    if (rs_to && !resampling(jb)) {
        bb_rs_reset(&jb->rs);
        jb->rs_prime = 1;
        jb->rs_back = 0;
    } else if (!rs_to) {
        jb->rs.frac = 0.0; // rs_need() for an engagement counts from a whole frame
    }
    jb->state = to;
}

BB_RT static void publish_drift(struct bb_jbuf *jb)
{
    atomic_store_explicit(&jb->stats.drift_ppm, (int32_t)lrint(jb->dl_avg * 1e6),
                          memory_order_relaxed);
    atomic_store_explicit(&jb->stats.resampling, (uint32_t)resampling(jb), memory_order_relaxed);
}

// The target, moved by auto mode. Another depth is another lag: the calm
// one is learnt again (until then the owed and window rules stand in).
// The depth the statistics show and the reorder stage waits within: the
// target and the edge pad.
BB_RT static void publish_target(struct bb_jbuf *jb)
{
    atomic_store_explicit(&jb->stats.target, jb->target + jb->pad, memory_order_relaxed);
}

BB_RT static void set_target(struct bb_jbuf *jb, unsigned target)
{
    jb->target = target;
    jb->lag_ok = 0;
    jb->quick = 0; // underruns at another depth tell nothing of this one
    publish_target(jb);
}

BB_RT void bb_jbuf_clock(struct bb_jbuf *jb, uint32_t frame, uint64_t t_ns)
{
    jb->play_frame = frame;
    jb->play_ok = 1;
    if (jb->dl_off)
        return; // no compensation asked: no estimate either (drift_ppm stays 0)
    if (bb_drift_cycle(&jb->drift, frame, t_ns)) {
        const struct bb_drift *d = &jb->drift; // a window closed: publish the fit
        double se = d->se_ppm * 10.0 < 4e9 ? d->se_ppm * 10.0 : 4e9;
        atomic_store_explicit(&jb->stats.drift_fit, (int32_t)lrint(d->ppm * 10.0),
                              memory_order_relaxed);
        atomic_store_explicit(&jb->stats.drift_se, (uint32_t)lrint(se), memory_order_relaxed);
        atomic_store_explicit(&jb->stats.drift_steps, (uint32_t)d->steps, memory_order_relaxed);
        atomic_store_explicit(&jb->stats.drift_spikes, (uint32_t)d->spikes,
                              memory_order_relaxed);
    }
    if (bb_drift_ready(&jb->drift)) {
        double d = jb->drift.ppm * 1e-6;
        jb->dl_avg = d > DL_MAX_DRIFT ? DL_MAX_DRIFT : d < -DL_MAX_DRIFT ? -DL_MAX_DRIFT : d;
    }
    publish_drift(jb);
}

// ---- Drift: when to resample, and at what ratio -------------------------

// The fill before a playing read, low-passed for the ratio's correction.
BB_RT static void fill_track(struct bb_jbuf *jb, double fill, unsigned nframes, int seat)
{
    double a = nframes / (DL_FILL_TAU_S * jb->rate);
    jb->fill_lp = seat ? fill : jb->fill_lp + (a < 1.0 ? a : 1.0) * (fill - jb->fill_lp);
}

// Once per playing read: how long the drift has been above the engage
// threshold and below the release one, and the moves between resampling
// and leaving that those decide (engaging is engage()'s).
BB_RT static void drift_decide(struct bb_jbuf *jb, unsigned nframes)
{
    double d = fabs(jb->dl_avg);
    unsigned cap = jb->rate * 1000;
    jb->hi_frames = d >= RS_ENGAGE && bb_drift_ready(&jb->drift)
                        ? (jb->hi_frames < cap ? jb->hi_frames + nframes : cap)
                        : 0;
    jb->lo_frames = d < RS_RELEASE ? (jb->lo_frames < cap ? jb->lo_frames + nframes : cap) : 0;
    if (jb->state == BB_JB_RESAMPLING && jb->lo_frames >= jb->rate * RS_RELEASE_S)
        set_state(jb, BB_JB_LEAVING);
    if (jb->state == BB_JB_LEAVING && jb->hi_frames > 0)
        set_state(jb, BB_JB_RESAMPLING); // drift is back: stay
}

BB_RT static int drift_wanted(const struct bb_jbuf *jb)
{
    return !jb->dl_off && jb->hi_frames >= jb->rate * RS_ENGAGE_S;
}

// What the fill rides above a period and the target while resampling: a
// packet (the saw tooth of arrivals) and the resampler's look-ahead.
BB_RT static unsigned rs_pad(const struct bb_jbuf *jb)
{
    return jb->frames + BB_RS_AHEAD;
}

// The set point of the fill while resampling.
BB_RT static double rs_setpoint(const struct bb_jbuf *jb, unsigned nframes)
{
    return (double)nframes + jb->target + jb->pad + rs_pad(jb);
}

// The ratio for this read: the drift plus a slow pull of the fill to the
// set point; while leaving, a step just past 1 that walks the phase to a
// whole frame.
BB_RT static double rs_ratio(const struct bb_jbuf *jb, unsigned nframes)
{
    if (jb->state == BB_JB_LEAVING)
        return 1.0 + RS_LEAVE;
    double corr = (jb->fill_lp - rs_setpoint(jb, nframes)) / (RS_CTL_TAU_S * jb->rate);
    if (corr > RS_CTL_MAX)
        corr = RS_CTL_MAX;
    if (corr < -RS_CTL_MAX)
        corr = -RS_CTL_MAX;
    double d = jb->dl_avg + corr;
    if (d > DL_MAX_DRIFT)
        d = DL_MAX_DRIFT;
    if (d < -DL_MAX_DRIFT)
        d = -DL_MAX_DRIFT;
    return 1.0 + d;
}

// Input frames the resampler needs in the ring for nframes at ratio r.
BB_RT static unsigned rs_need(const struct bb_jbuf *jb, unsigned nframes, double r)
{
    return bb_rs_need(&jb->rs, nframes, r);
}

// The frames just before the read position, after n more were consumed
// (x: those n, interleaved): the resampler's history should it engage.
BB_RT static void hist_push(struct bb_jbuf *jb, const float *x, unsigned n)
{
    const unsigned ch = jb->channels, h = BB_JBUF_RS_HIST;
    if (n >= h) {
        memcpy(jb->rs_hist, x + (size_t)(n - h) * ch, (size_t)h * ch * sizeof(float));
        return;
    }
    memmove(jb->rs_hist, jb->rs_hist + (size_t)n * ch, (size_t)(h - n) * ch * sizeof(float));
    memcpy(jb->rs_hist + (size_t)(h - n) * ch, x, (size_t)n * ch * sizeof(float));
}

BB_RT static void rs_read(struct bb_jbuf *jb, float *const *out, unsigned nframes, double r,
                          unsigned trim);

// Leaving: the fill at which pass-through takes over, half a packet above
// a period and the target, where it would sit without resampling. Above
// it, the look-ahead's frames and the packet the set point keeps would
// stand for the window rule's trim, a splice; the walk there at RS_LEAVE
// (a third of a cent) gives that latency back unheard.
BB_RT static double rs_leave_fill(const struct bb_jbuf *jb, unsigned nframes)
{
    return (double)nframes + jb->target + jb->pad + jb->frames / 2.0;
}

// After an underrun (owed set by it, not before the first start), nframes
// more fell due while the ring stayed dry (at most a second's worth counted).
BB_RT static void owe_more(struct bb_jbuf *jb, unsigned nframes)
{
    if (jb->owed && jb->owed < jb->rate)
        jb->owed += nframes;
}

BB_RT void bb_jbuf_skip(struct bb_jbuf *jb, unsigned nframes)
{
    jb->play_frame += nframes;
    if (jb->state == BB_JB_BUFFERING) {
        owe_more(jb, nframes);
        return; // the start finds its depth anyway
    }
    const uint32_t frame_bytes = jb->channels * (uint32_t)sizeof(float);
    unsigned avail = bb_ring_read_space(&jb->ring) / frame_bytes;
    unsigned n;
    if (resampling(jb)) {
        // Run the period through the resampler unheard: it keeps its phase
        // and its filter the stream it is in.
        if (nframes <= jb->max_period && rs_need(jb, nframes, jb->rs_ratio) <= avail) {
            uint32_t before = bb_ring_consumed(&jb->ring);
            rs_read(jb, NULL, nframes, jb->rs_ratio, 0);
            bb_counter_add(&jb->stats.skipped,
                           (bb_ring_consumed(&jb->ring) - before) / frame_bytes);
            return;
        }
        set_state(jb, BB_JB_PLAYING); // not enough: the next read underruns anyway
    }
    n = nframes < avail ? nframes : avail;
    unsigned h = n < BB_JBUF_RS_HIST ? n : BB_JBUF_RS_HIST;
    bb_ring_skip(&jb->ring, (n - h) * frame_bytes);
    bb_ring_read(&jb->ring, jb->scratch, h * frame_bytes);
    hist_push(jb, jb->scratch, h);
    bb_counter_add(&jb->stats.skipped, n);
}

// ---- The lag -------------------------------------------------------------

// The lag (see jbuf.h): our clock at the frame the next read plays minus
// the sender's at that frame. 0 when it is not known: no clock or no stamp
// yet, resampling (a fractional position), or the frames at the read
// position came before their stamp did.
BB_RT static int lag_now(const struct bb_jbuf *jb, int32_t *lag)
{
    if (!jb->play_ok || resampling(jb) ||
        !atomic_load_explicit(&jb->ts_at_ok, memory_order_acquire))
        return 0;
    uint64_t at = atomic_load_explicit(&jb->ts_at, memory_order_acquire);
    int32_t ahead = (int32_t)((uint32_t)at - bb_ring_consumed(&jb->ring));
    if (ahead < 0)
        return 0;
    uint32_t frame_bytes = jb->channels * (uint32_t)sizeof(float);
    uint32_t head = (uint32_t)(at >> 32) - (uint32_t)ahead / frame_bytes;
    *lag = (int32_t)(jb->play_frame - head);
    return 1;
}

// a - b for lags: both clocks are free-running 32-bit counters, so a lag
// can sit anywhere in int32 and differences wrap (never signed overflow).
BB_RT static inline int32_t lag_diff(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

// How much later than the calm lag (frames): 0 when that is not known, or
// when the lag is so far off that the sender's clock is a new one (then the
// calm lag is forgotten until the next calm window).
BB_RT static int32_t lag_late(struct bb_jbuf *jb, int lag_known, int32_t lag)
{
    if (!lag_known || !jb->lag_ok)
        return 0;
    int32_t late = lag_diff(lag, jb->lag_ref);
    int32_t far = (int32_t)(jb->rate * LAG_NEW_CLOCK_MS / 1000);
    if (late >= far || late <= -far) {
        jb->lag_ok = 0;
        return 0;
    }
    return late;
}

// ---- Rendering -----------------------------------------------------------

// n frames, one buffer per channel, into dst interleaved.
BB_RT static void interleave(const struct bb_jbuf *jb, float *const *src, float *dst, unsigned n)
{
    const unsigned ch = jb->channels;
    for (unsigned c = 0; c < ch; c++)
        for (unsigned i = 0; i < n; i++)
            dst[i * ch + c] = src[c][i];
}

// n interleaved frames from src into out, one buffer per channel.
BB_RT static void deinterleave(const struct bb_jbuf *jb, const float *src, float *const *out,
                               unsigned n)
{
    const unsigned ch = jb->channels;
    if (ch == 1) {
        memcpy(out[0], src, n * sizeof(float));
        return;
    }
    for (unsigned c = 0; c < ch; c++)
        for (unsigned i = 0; i < n; i++)
            out[c][i] = src[i * ch + c];
}

BB_RT static void silence(const struct bb_jbuf *jb, float *const *out, unsigned from, unsigned n)
{
    for (unsigned c = 0; c < jb->channels; c++)
        memset(out[c] + from, 0, (n - from) * sizeof(float));
}

// One period through the resampler into out (NULL: unheard, for a skip).
// The ring's read position is the resampler's whole frame; it holds the
// frames it needs (rs_need(), and for a trim the period trim frames on).
// Leaving: where the phase wraps to a whole frame (within RS_LEAVE of one)
// the rest is that frame on, copied through: PLAYING without a step. A
// trim crossfades into the stream trim frames later, copied through, and
// so plays on from a whole frame too: the next read engages again if the
// drift still wants it, primed on what was just played.
BB_RT static void rs_read(struct bb_jbuf *jb, float *const *out, unsigned nframes, double r,
                          unsigned trim)
{
    const unsigned ch = jb->channels, h = BB_JBUF_RS_HIST;
    const uint32_t frame_bytes = ch * (uint32_t)sizeof(float);
    float *x = jb->scratch, *in = x + (size_t)h * ch;
    const unsigned back = jb->rs_prime ? jb->rs_back : 0;
    unsigned need = rs_need(jb, nframes, r) - back;
    // a trim or a start back crossfades from or into the frames copied through
    unsigned plain = trim ? trim + nframes : back ? nframes : 0;
    unsigned peek = plain > need ? plain : need;
    memcpy(x, jb->rs_hist, (size_t)h * frame_bytes);
    bb_ring_peek(&jb->ring, in, peek * frame_bytes);
    if (jb->rs_prime) {
        // From a reset at the first history frame, ratio 1: these outputs
        // (not heard) bring it to the read position (back frames before it)
        // with the stream in its filter.
        bb_rs_run(&jb->rs, x, h + peek, 1.0, jb->rs_out, h - back);
        jb->rs_prime = 0;
    }
    unsigned snap = nframes;
    if (jb->state == BB_JB_LEAVING && trim == 0 && jb->fill_lp <= rs_leave_fill(jb, nframes))
        snap = bb_rs_until_whole(&jb->rs, nframes, r);
    const float *from = in - (size_t)back * ch;
    unsigned consumed = snap ? bb_rs_run(&jb->rs, from, peek + back, r, jb->rs_out, snap) - back : 0;
    if (out)
        deinterleave(jb, jb->rs_out, out, snap);
    for (unsigned c = 0; out && back && c < ch; c++)
        for (unsigned k = 0; k < nframes; k++) { // from pass-through into the resampled
            float w = (float)(k + 1) / (float)nframes;
            out[c][k] = in[(size_t)k * ch + c] * (1.0f - w) + out[c][k] * w;
        }
    if (snap < nframes) {
        for (unsigned c = 0; out && c < ch; c++)
            for (unsigned k = snap; k < nframes; k++)
                out[c][k] = in[(size_t)(consumed + k - snap) * ch + c];
        consumed += nframes - snap;
        set_state(jb, BB_JB_PLAYING);
    } else if (trim > 0) {
        const float *b = in + (size_t)trim * ch;
        for (unsigned c = 0; out && c < ch; c++)
            for (unsigned k = 0; k < nframes; k++) {
                float w = (float)(k + 1) / (float)nframes;
                out[c][k] = out[c][k] * (1.0f - w) + b[(size_t)k * ch + c] * w;
            }
        consumed = trim + nframes;
        set_state(jb, BB_JB_PLAYING);
    }
    hist_push(jb, in + (size_t)consumed * ch - (size_t)h * ch, h); // x holds h before in
    bb_ring_skip(&jb->ring, consumed * frame_bytes);
}

// One period copied through, or with a trim: a crossfade from the stream
// as it was to the stream trim frames later, over the whole period.
BB_RT static void plain_read(struct bb_jbuf *jb, float *const *out, unsigned nframes,
                             unsigned trim)
{
    const unsigned ch = jb->channels;
    const uint32_t frame_bytes = ch * (uint32_t)sizeof(float);
    bb_ring_read(&jb->ring, jb->scratch, (nframes + trim) * frame_bytes);
    const float *a = jb->scratch, *b = jb->scratch + (size_t)trim * ch;
    if (trim == 0) {
        deinterleave(jb, a, out, nframes);
    } else {
        for (unsigned c = 0; c < ch; c++)
            for (unsigned i = 0; i < nframes; i++) {
                float w = (float)(i + 1) / (float)nframes;
                out[c][i] = a[i * ch + c] * (1.0f - w) + b[i * ch + c] * w;
            }
    }
    hist_push(jb, jb->scratch, nframes + trim); // should the next read engage
}

// ---- One read, step by step ----------------------------------------------

// What one read works with: measured first, then decided step by step.
struct period {
    unsigned n;         ///< frames to play
    unsigned avail;     ///< frames in the ring
    int      lag_known; ///< lag is the lag at this read's first frame
    int32_t  lag;
    int      started;   ///< the stream (re)starts with this read: it fades in
    double   r;         ///< input frames per output frame
    unsigned trim;      ///< input frames this read cuts
    int      restore;   ///< a fixed depth given back instead (trim_window)
};

BB_RT static void measure(struct bb_jbuf *jb, struct period *p, unsigned nframes)
{
    const uint32_t frame_bytes = jb->channels * (uint32_t)sizeof(float);
    *p = (struct period){.n = nframes, .r = 1.0};
    p->avail = bb_ring_read_space(&jb->ring) / frame_bytes;
    p->lag_known = lag_now(jb, &p->lag);
    atomic_store_explicit(&jb->stats.fill, p->avail, memory_order_relaxed);
    // For the producer's reorder stage: fewer frames than this in the ring
    // and a missing packet is given up (jbuf_rx.c).
    unsigned need = nframes + (jb->state == BB_JB_BUFFERING ? jb->target + jb->pad
                               : resampling(jb)           ? BB_RS_AHEAD + 1
                                                          : 0);
    atomic_store_explicit(&jb->need, need, memory_order_relaxed);
    if (jb->state != BB_JB_BUFFERING)
        fill_track(jb, p->avail - (resampling(jb) ? jb->rs.frac : 0.0), nframes, 0);
}

// Of the over frames a restart has beyond its depth, those it drops: all
// (the newest frames play), or with a calm lag known, only those that put
// the stream back at it; the frames that would be cut then are not late
// ones, and the next packet may well come just after the next read. A head
// earlier than the calm lag is a sender whose clock moved on without its
// stream: the newest frames again.
BB_RT static unsigned restart_cut(struct bb_jbuf *jb, const struct period *p, unsigned over)
{
    int32_t late = lag_late(jb, p->lag_known, p->lag);
    if (!p->lag_known || !jb->lag_ok || late < -LAG_CALM)
        return over;
    return late <= 0 ? 0 : (unsigned)late < over ? (unsigned)late : over;
}

// From the last sample to silence over out[c][from..n); forgets the
// concealment's history (what follows does not continue it).
BB_RT static void fade_out(struct bb_jbuf *jb, float *const *out, unsigned from, unsigned n)
{
    const unsigned rest = n - from;
    for (unsigned c = 0; c < jb->channels; c++)
        for (unsigned i = 0; i < rest; i++)
            out[c][from + i] = jb->last[c] * (float)(rest - 1 - i) / (float)rest;
    memset(jb->last, 0, sizeof jb->last);
    bb_jbuf_cc_forget(jb);
}

// A read that runs dry after avail frames (0..n): those from the ring,
// then a prediction of the rest (jbuf_conceal.h) or, where there may be
// none, a fade from the last sample. Returns 1 when it predicted.
BB_RT static int play_dry(struct bb_jbuf *jb, float *const *out, unsigned avail, unsigned n)
{
    const unsigned ch = jb->channels;
    if (avail)
        bb_ring_read(&jb->ring, jb->scratch, avail * ch * (uint32_t)sizeof(float));
    if (bb_jbuf_cc_fill(jb, jb->scratch, avail, n)) {
        deinterleave(jb, jb->scratch, out, n);
        for (unsigned c = 0; c < ch; c++)
            jb->last[c] = out[c][n - 1];
        return 1;
    }
    for (unsigned c = 0; avail && c < ch; c++)
        jb->last[c] = jb->scratch[(avail - 1) * ch + c];
    deinterleave(jb, jb->scratch, out, avail);
    fade_out(jb, out, avail, n);
    return 0;
}

// A read while the buffer waits to start: the gap's prediction while it
// lives (jbuf_conceal.h), then silence (the restart crossfades from it); a
// prediction cut short (the cycle's budget) fades out from where it was.
BB_RT static void gap(struct bb_jbuf *jb, float *const *out, unsigned n)
{
    if (!bb_jbuf_cc_gap(jb))
        silence(jb, out, 0, n);
    else
        play_dry(jb, out, 0, n);
}

// Buffering: start once the ring holds a period and the target (and when
// the drift is to be resampled, at the resampler's set point plus its
// look-ahead, resampling from the first frame). Returns 0 while it does
// not: the period is silence.
BB_RT static int start(struct bb_jbuf *jb, struct period *p, float *const *out)
{
    int rs = drift_wanted(jb);
    unsigned depth = p->n + jb->target + jb->pad + (rs ? rs_pad(jb) : 0);
    if (p->avail < depth) {
        gap(jb, out, p->n);
        owe_more(jb, p->n);
        return 0;
    }
    unsigned cut = p->avail - depth;
    if (rs)
        p->lag_known = 0; // no lag while resampling (lag_now): the lag rule
                          // would cut the packet this start keeps for the set point
    else
        cut = restart_cut(jb, p, cut);
    bb_ring_skip(&jb->ring, cut * jb->channels * (uint32_t)sizeof(float));
    p->avail -= cut;
    p->lag = lag_diff(p->lag, (int32_t)cut);
    jb->owed = jb->owed > cut ? jb->owed - cut : 0; // the rest is cut when it comes
    set_state(jb, rs ? BB_JB_RESAMPLING : BB_JB_PLAYING);
    jb->lag_moved = 1;
    p->started = 1;
    jb->since_start = 0;
    jb->lost_at_start = atomic_load_explicit(&jb->stats.lost, memory_order_relaxed);
    jb->window_left = 0;
    memset(jb->rs_hist, 0, sizeof jb->rs_hist); // faded in from silence
    fill_track(jb, p->avail, p->n, 1);
    return 1;
}

// The edge pad (auto mode). Where the packets come about when the reads
// do (hub and musician on one machine: the other end's callback of the
// same cycle sends them), whether a read finds its packet is a coin toss
// each period that neither the arrival spread nor the lag tells: a target
// below a packet buys no time at all when the packet is the period (the
// read still needs the next packet's frames), and every restart, cut back
// to its depth or to the calm lag, sits on the same edge, a glitch every
// few periods for as long as it lasts. Restarts that run dry again within
// a trim window of starting, EDGE_QUICK in a row (one is a late burst's
// tail) at one target and with no packet lost since (loss is not
// lateness and never deepens the buffer), are that case: the next starts keep a packet more (the trim rules
// keep it too), given back after PAD_HOLD_MS without an underrun (the
// window rule then cuts it), twice as long each time it is needed again.
BB_RT static void edge_pad(struct bb_jbuf *jb)
{
    if (jb->fixed)
        return;
    uint64_t lost = atomic_load_explicit(&jb->stats.lost, memory_order_relaxed);
    int edge = jb->since_start < jb->rate * WINDOW_MS / 1000 && lost == jb->lost_at_start;
    jb->quick = edge ? jb->quick + 1 : 0;
    if (jb->quick >= EDGE_QUICK && !jb->pad) {
        jb->pad = jb->frames;
        jb->pad_hold = jb->pad_hold ? (jb->pad_hold < PAD_HOLD_MAX_S * jb->rate / 2
                                           ? jb->pad_hold * 2 : PAD_HOLD_MAX_S * jb->rate)
                                    : jb->rate * PAD_HOLD_MS / 1000;
    }
    if (jb->pad)
        jb->pad_left = jb->pad_hold;
    publish_target(jb);
}

// Too few frames for the period: play what is there and the rest dry
// (play_dry), and buffer again. The frames that fell due and did not
// come are owed (trim_owed).
BB_RT static void underrun(struct bb_jbuf *jb, const struct period *p, float *const *out)
{
    if (play_dry(jb, out, p->avail, p->n))
        bb_counter_inc(&jb->stats.concealed);
    set_state(jb, BB_JB_BUFFERING);
    jb->owed = p->n - p->avail;
    edge_pad(jb);
    bb_counter_inc(&jb->stats.underruns);
}

// A fixed depth given back (trim_window): this read plays dry from its
// first frame (play_dry: the stream's prediction from where the last read
// ended), and the buffer waits for its depth (the frames that are there
// play after it). No underrun is counted, nothing is owed.
BB_RT static void restore(struct bb_jbuf *jb, const struct period *p, float *const *out)
{
    jb->lag_ok = 0;
    bb_counter_inc(&jb->stats.restores);
    play_dry(jb, out, 0, p->n);
    set_state(jb, BB_JB_BUFFERING);
    jb->owed = 0;
}

// The trim window's books for this read: the smallest excess and how far
// the lag strayed from the window's first. Returns 1 when this read ends it.
BB_RT static int window_track(struct bb_jbuf *jb, const struct period *p, unsigned excess,
                              unsigned short_by)
{
    if (jb->window_left == 0) {
        jb->window_left = jb->rate * WINDOW_MS / 1000 / p->n + 1;
        jb->min_excess = excess;
        jb->min_short = UINT_MAX;
        jb->lag_first = p->lag;
        jb->lag_dev = p->lag_known ? 0 : UINT32_MAX;
    }
    if (excess < jb->min_excess)
        jb->min_excess = excess;
    if (short_by < jb->min_short)
        jb->min_short = short_by;
    if (!p->lag_known) {
        jb->lag_dev = UINT32_MAX;
    } else if (jb->lag_dev != UINT32_MAX) {
        int32_t d = lag_diff(p->lag, jb->lag_first);
        uint32_t dev = d < 0 ? 0u - (uint32_t)d : (uint32_t)d;
        jb->lag_dev = dev > jb->lag_dev ? dev : jb->lag_dev;
    }
    return --jb->window_left == 0;
}

// The window rule: an excess that stood a packet or more the whole window
// is latency nobody needs: cut all of it. While resampling the fill rides
// a packet higher (jbuf.h), so there it takes two and keeps one. A window
// without a cut whose lag held still gives the calm lag; what is owed and
// did not come in a whole window, the sender never sent.
BB_RT static unsigned trim_window(struct bb_jbuf *jb, struct period *p)
{
    const int rs = resampling(jb);
    unsigned trim = 0;
    if (jb->min_excess >= (rs ? jb->frames + rs_pad(jb) : jb->frames)) {
        trim = jb->min_excess - (rs ? rs_pad(jb) : 0);
        trim = trim < jb->max_period ? trim : jb->max_period;
        if (rs && p->avail < rs_need(jb, p->n, p->r))
            trim = 0;
    }
    jb->owed = 0;
    // A fixed depth is the depth asked for. A sender that lost time and
    // sent nothing for it (a hub that JACK did not run for more periods
    // than it makes up, hub_rt.c) leaves the stream that much short for
    // good: the next frames carry a clock that moved on, so a calm lag
    // that is earlier than the calm lag before by a packet or more tells
    // it, while a window short by a packet or more tells what it cost.
    // (Only where the stream itself was neither cut nor restarted since
    // that calm lag: a trim moves the lag by what it cut.)
    // That stream would play on with less margin than asked until its
    // next underrun; it restarts now instead, its gap predicted as an
    // underrun's, its calm lag (the old one) forgotten. A stream short for
    // a while by late packets keeps its lag and is left alone: they come.
    // The automatic depth follows the arrival spread, not the fill.
    if (jb->fixed && !rs && jb->min_short >= jb->frames && jb->lag_ok && !jb->lag_moved &&
        jb->lag_dev <= LAG_CALM && lag_diff(jb->lag_first, jb->lag_ref) <= -(int32_t)jb->frames) {
        p->restore = 1;
        return 0;
    }
    if (trim == 0 && jb->lag_dev <= LAG_CALM) {
        jb->lag_ref = p->lag;
        jb->lag_ok = 1;
        jb->lag_moved = 0;
    }
    return trim;
}

// The lag rule: later than the calm lag by LAG_MIN_CUT or more, cut what
// the stream is late by as soon as it is here, down to the target (the
// rest when it comes). The lag is exact, so it keeps no margin.
BB_RT static unsigned trim_lag(struct bb_jbuf *jb, const struct period *p, unsigned excess)
{
    int32_t late = lag_late(jb, 1, p->lag);
    if (late < LAG_MIN_CUT || excess < LAG_MIN_CUT)
        return 0;
    unsigned trim = (unsigned)late < excess ? (unsigned)late : excess;
    jb->owed = 0;
    return trim < jb->max_period ? trim : jb->max_period;
}

// The owed rule, where the lag is not known: the frames owed since the
// last underrun came after all, and a packet more is here: cut them,
// keeping that packet as the margin (the next packet may come just before
// the read or just after it, and a cut must not leave the next read dry).
BB_RT static unsigned trim_owed(struct bb_jbuf *jb, unsigned excess)
{
    if (!jb->owed || excess < jb->owed + jb->frames || resampling(jb))
        return 0;
    unsigned trim = jb->owed < jb->max_period ? jb->owed : jb->max_period;
    jb->owed = 0;
    return trim;
}

// The one trim decision (frames this read cuts with a splice): the window
// rule where a window ends (which may instead set p->restore: a fixed
// depth given back), else the lag rule where the lag and the calm lag are
// known, else the owed rule.
BB_RT static unsigned decide_trim(struct bb_jbuf *jb, struct period *p)
{
    unsigned keep = p->n + jb->target + jb->pad;
    unsigned excess = p->avail >= keep ? p->avail - keep : 0;
    unsigned trim;
    if (window_track(jb, p, excess, keep > p->avail ? keep - p->avail : 0))
        trim = trim_window(jb, p);
    else if (p->lag_known && jb->lag_ok)
        trim = trim_lag(jb, p, excess);
    else
        trim = trim_owed(jb, excess);
    if (trim) {
        bb_counter_inc(&jb->stats.trims);
        jb->lag_moved = 1;
    }
    return trim;
}

// Engage at phase 0 from the exact sample: this period starts where
// pass-through would have, with no step. The resampler looks BB_RS_AHEAD
// frames ahead; when the fill has no room for that (a target of 0), a small
// drift would take many seconds to make it, or an underrun if the sender
// is slow; so this period starts the resampler frames back and crossfades
// into it from pass-through, as a trim does the other way: back as far as
// the set point (the fill just made is then not lost to the next read of
// a slow sender), at most what its history holds and less than a period.
BB_RT static void engage(struct bb_jbuf *jb, struct period *p)
{
    if (jb->state != BB_JB_PLAYING || p->started || p->trim || !drift_wanted(jb))
        return;
    double r = rs_ratio(jb, p->n);
    unsigned need = rs_need(jb, p->n, r), back = 0;
    if (p->avail < need) {
        unsigned most = BB_JBUF_RS_HIST - BB_RS_AHEAD < p->n - 1 ? BB_JBUF_RS_HIST - BB_RS_AHEAD
                                                                  : p->n - 1;
        double want = rs_setpoint(jb, p->n) - p->avail;
        back = need - p->avail;
        if (back > most)
            return; // no room yet
        back = want > most ? most : want > back ? (unsigned)want : back;
        bb_counter_inc(&jb->stats.rooms);
    }
    set_state(jb, BB_JB_RESAMPLING);
    jb->rs_back = back;
    p->r = r;
}

// The period itself, faded in when the stream (re)starts.
BB_RT static void render(struct bb_jbuf *jb, const struct period *p, float *const *out)
{
    int inter = 0; // jb->scratch holds out, interleaved, from its first frame
    if (resampling(jb)) {
        rs_read(jb, out, p->n, p->r, p->trim);
        jb->rs_ratio = p->r;
    } else {
        plain_read(jb, out, p->n, p->trim);
        jb->rs_ratio = 1.0;
        inter = p->trim == 0;
    }
    if (p->started && !bb_jbuf_cc_gap(jb)) { // after a predicted gap: crossfaded from it
        for (unsigned c = 0; c < jb->channels; c++)
            for (unsigned i = 0; i < p->n; i++)
                out[c][i] *= (float)(i + 1) / (float)p->n;
        inter = 0;
    }
    // Into the concealment's history (mono in place; the crossfade after a
    // predicted gap is written back). A plain read left the frames
    // interleaved in scratch already.
    float *x = jb->channels == 1 ? out[0] : jb->scratch;
    if (jb->channels > 1 && !inter)
        interleave(jb, out, x, p->n);
    if (bb_jbuf_cc_heard(jb, x, p->n) && jb->channels > 1)
        deinterleave(jb, x, out, p->n);
    for (unsigned c = 0; c < jb->channels; c++)
        jb->last[c] = out[c][p->n - 1];
}

// After a period played: the lag of a resampled stream is no reference,
// and the drift decides what is next.
BB_RT static void played(struct bb_jbuf *jb, unsigned nframes)
{
    if (resampling(jb))
        jb->lag_ok = 0;
    drift_decide(jb, nframes);
    publish_drift(jb);
}

// Auto mode: the depth the producer's arrival spread asks for (jbuf_rx.c),
// at most MAX_AUTO_MS. Deeper at once: the next late packet underruns and
// the restart buffers to it (a fill that is short of a new depth is no
// fault). Shallower once it is a quarter packet too deep, so that the
// spread's wobble does not move it (each move forgets the calm lag): the
// window rule then cuts the excess with its crossfade.
//
// Settling: a lowering is a trim and its latency change, and lateness
// that comes back every few seconds (a machine's, a link's) underruns at
// each return while the depth is below it. So a rise within
// DEPTH_REBOUND_S of a lowering is a rebound: the lateness recurs. From
// then on the depth covers every packet of the spread (the 1 in 1000 it
// may leave out are what recurs), and must go unneeded DEPTH_HOLD_MS
// before it is lowered, twice as long at each rebound (up to
// DEPTH_HOLD_MAX_S), half as long after each lowering that no rise
// followed within DEPTH_REBOUND_S, until the hold is gone and the spread's
// quantile rules again. A single disturbance leaves as soon as the spread
// forgets it.
BB_RT static void auto_target(struct bb_jbuf *jb, unsigned nframes)
{
    unsigned rebound = DEPTH_REBOUND_S * jb->rate, max_target = jb->rate * MAX_AUTO_MS / 1000;
    unsigned first = jb->rate * DEPTH_HOLD_MS / 1000, most = DEPTH_HOLD_MAX_S * jb->rate;
    if (jb->since_lower < rebound && jb->since_lower + nframes >= rebound)
        jb->depth_hold = jb->depth_hold / 2 >= first ? jb->depth_hold / 2 : 0; // no rebound
    jb->since_lower = jb->since_lower < rebound ? jb->since_lower + nframes : rebound;
    unsigned want = atomic_load_explicit(&jb->auto_want, memory_order_relaxed);
    if (want > jb->target && jb->since_lower < rebound) { // a rebound: the lateness recurs
        jb->depth_hold = !jb->depth_hold ? first
                         : jb->depth_hold < most / 2 ? jb->depth_hold * 2 : most;
        jb->since_lower = rebound; // counted once
    }
    if (jb->depth_hold)
        want = atomic_load_explicit(&jb->auto_max, memory_order_relaxed);
    want = want < max_target ? want : max_target;
    if (want > jb->target) {
        jb->depth_idle = 0;
        set_target(jb, want);
    } else if (want + jb->frames / AUTO_LOWER_DIV <= jb->target) {
        jb->depth_idle += nframes;
        if (jb->depth_idle >= jb->depth_hold) {
            jb->depth_idle = 0;
            jb->since_lower = 0;
            set_target(jb, want);
        }
    } else {
        jb->depth_idle = 0;
    }
}

BB_RT static int read_period(struct bb_jbuf *jb, float *const *out, unsigned nframes)
{
    if (nframes > jb->max_period || nframes == 0) {
        silence(jb, out, 0, nframes);
        return 0;
    }
    if (!jb->fixed)
        auto_target(jb, nframes);
    jb->since_start = jb->since_start < jb->rate ? jb->since_start + nframes : jb->since_start;
    jb->pad_left = jb->pad_left > nframes ? jb->pad_left - nframes : 0;
    if (!jb->pad_left && jb->pad) {
        jb->pad = 0;
        publish_target(jb);
    }
    struct period p;
    measure(jb, &p, nframes);
    if (jb->state == BB_JB_BUFFERING && !start(jb, &p, out)) {
        publish_drift(jb);
        return 0;
    }
    if (resampling(jb)) {
        p.r = rs_ratio(jb, nframes);
        if (p.avail < rs_need(jb, nframes, p.r)) {
            set_state(jb, BB_JB_PLAYING); // the plain path plays or fades out
            p.r = 1.0;
        }
    }
    if (p.avail < nframes) {
        underrun(jb, &p, out);
        publish_drift(jb);
        return 0;
    }
    p.trim = decide_trim(jb, &p);
    if (p.restore) {
        restore(jb, &p, out);
        publish_drift(jb);
        return 0;
    }
    engage(jb, &p);
    render(jb, &p, out);
    played(jb, nframes);
    return 1;
}

BB_RT int bb_jbuf_read(struct bb_jbuf *jb, float *const *out, unsigned nframes)
{
    int played_audio = read_period(jb, out, nframes);
    jb->play_frame += nframes; // the next read plays the next period
    return played_audio;
}
