// SPDX-License-Identifier: GPL-2.0-or-later
// bbglitch.c: a glitch counter. A JACK client that plays a known tone into a
// path (a musician's input) and counts, block by block, where what comes
// back (the musician's mix) departs from it: dropouts, concealment that did
// not conceal, latency changes, the longest gap, and how long sound takes to
// come back after an outage.
//
//   bbglitch [--seconds S] [--connect-out PORT]... [--connect-in PORT]...
//            [--ins 1|2] [--freq HZ] [--level DB] [--hop FRAMES] [--snr-min DB]
//            [--max-lag FRAMES] [--back-gap MS] [--name NAME] [--trace FILE] [-v]
//
// The signal: a tone of constant amplitude that hops, with continuous phase
// and a raised-cosine glide, between 16 pitches (a semitone apart around
// --freq, 0.63..1.5 x) in a fixed pseudo-random order, one "note" every
// --hop frames (default 512), repeating every 2^18 frames (5.5 s).
// Why not a plain sine: a sine's delay is ambiguous modulo its period, and a
// jitter buffer moves the delay by whole packets; the note sequence makes
// the delay unambiguous up to 5.5 s from a few notes of it. Why not noise
// or an MLS: Opus keeps a spectrum, not a waveform; on noise its SNR is near
// 0 dB by design, on a tone it is high, so a tone tells codec noise from a
// glitch. Why 512-frame notes: shorter ones cost Opus a few dB of SNR
// (64-frame CELT on a fast glide), longer ones leave a 4096-frame window
// too few notes to be unambiguous. Every sample is known in advance (a
// table by JACK frame time): each block is compared with exactly what
// should be there.
//
// Timeline: JACK's frame time (jack_last_frame_time). The output at frame
// time t is table[t]; the input at t is compared with gain * table[t - D].
// A cycle this client misses (the dummy backend skips clients under load)
// leaves a hole in its output; returning blocks that would carry that hole
// are not judged (self_skipped), so the count is the path's, not the tool's.
//
// Lock: once 8192 consecutive input samples carry signal, the delay D is the
// lag in 0..--max-lag (default 48000) of the highest normalised correlation
// with the table (>= 0.7 required), and the gain the least-squares one there.
// Per block (one JACK period): SNR = energy of gain*table[t-D] / energy of the
// difference. A block is good at SNR >= --snr-min (default 6 dB), bad
// otherwise: a glitch, "silent" if its level is 20 dB under the locked
// level, "wrong" otherwise. Calibration, Opus through hub and join on one
// machine (it_glitch.sh): clean blocks spread over 10..40 dB (median ~20),
// a dropout, a refill or concealment gone wrong reads -20..4 dB; a 6 dB
// level drop reads 6 dB.
// Verdicts wait 4096 frames. When a bad block with signal comes, the lock is
// checked on the last 4096 samples (normalised correlation at D); below 0.95
// it is searched again, near D (+-1024) and, at most every 2 s, over the
// whole range; a better fit moves the lock (latency_changes), a fit at D
// with another gain only sets the gain (a fader moved). Then every block
// still waiting is judged again: good if it fits the old lock or the new
// one. A jitter buffer that moves by a packet costs the blocks that really
// are wrong, not the time it took to notice.
//
// Xruns: a cycle some client missed (the dummy backend on a loaded machine
// does it several times a second) is audio that never existed; no buffer
// makes up for it and an automatic jitter buffer refills after it. A run of
// glitch blocks with an xrun reported (JACK's xrun callback) anywhere from
// the moment its first block left us to 25 ms after its last came back (the
// report's own lag on a loaded machine) counts as glitch_near_xrun; the rest
// as glitch_xrun_free: the path's own.
//
// stdin: each line is a mark (its text the label), stamped with JACK's frame
// time when read (and printed: "mark label=... at_s=..."): the next gap of
// --back-gap ms (default 100: an outage, not a lost packet's blip) that ends
// after it prints "back in=in_1 label=... time_back_ms=... gap_ms=..." (from
// the mark to the first good block). Every gap of 20 ms or more prints
// "gap in=in_1 at_s=... ms=..." (from its first bad block to the first good
// one: the time sound takes to come back after an outage).
//
// Output at exit, one line per input (key=value):
//   status=ok in=in_1 rate=48000 period=64 seconds=10.0 locked=1 lock_corr=0.999
//   gain_db=0.00 latency_median=64 latency_min=64 latency_max=64 latency_mode=64
//   latency_p5=64 latency_p95=64 latency_changes=0 latency_slews=0 latency_nudges=0
//   latency_hist=64:7480 blocks=7480
//   good_blocks=7480 glitch_blocks=0 glitch_silent=0 glitch_wrong=0
//   glitch_near_xrun=0 glitch_xrun_free=0 glitches_per_min=0.00 gaps=0
//   longest_gap_ms=0.0 last_gap_ms=none time_back_ms=none self_skipped=0
//   snr_min_db=.. snr_p001_db=.. snr_p01_db=.. snr_p50_db=.. own_skips=0
//   ring_overflows=0 xruns=0
// latency_*: over good blocks, in frames (latency_hist: the 16 shortest lags
// held, lag:blocks; the percentiles are over every lag); latency_changes: moves of the lock
// by more than SLEW_MAX (8) frames (a jitter buffer refilling or trimming);
// slews: by 3 to 8 (a resampler walking the delay down: at 1000 ppm the
// lock moves 4 or 5 frames between the checks a drifting block triggers);
// nudges: by 1 or 2 (a codec's phase on a tone, a resampler following drift).
// gaps: runs of bad blocks; longest_gap_ms from a run's first bad block to
// the next good one. snr_p001/p01/p50: 0.1 %, 1 %, 50 % percentiles of the
// block SNR (the margin above --snr-min). own_skips: cycles this client
// missed. ring_overflows: periods the analysis fell too far behind to keep
// (holes, as own skips). With -v, once a second:
//   t=3 in=in_1 locked=1 latency=64 good=750 bad=0 snr_p50_db=..
// Exit 0 if every input locked, 2 if one never did (status=nolock), 1 on errors.
//
// The process callback only reads a table and copies into a lock-free ring
// (single producer, single consumer); the analysis runs in its own thread.
#include <errno.h>
#include <jack/jack.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TBL_BITS 18
#define TBL_LEN (1u << TBL_BITS)
#define TBL_MASK (TBL_LEN - 1)
#define HIST_BITS 20 // input history: 21.8 s at 48 kHz, to judge a long streak again
#define HIST_LEN (1u << HIST_BITS)
#define HIST_MASK (HIST_LEN - 1)
#define MAX_INS 2
#define SLEW_MAX 8     // a move of the lock up to this is a slew, not a step (latency_slews)
#define LOCK_WIN 8192  // first lock: 8 notes
#define RELOCK_WIN 4096 // verdicts wait this long; the lock is checked on it
#define NEAR_WIN 2048   // a search near the lock: 4 notes, +-NEAR_LAGS
#define NEAR_LAGS 1024
#define MAX_GLITCH_LOG (1u << 18)
#define MAX_XRUNS 65536
#define LOCK_CORR 0.7
#define NOTES 16
#define MAX_PEND 16384
#define SNR_BINS 400 // 0.25 dB from -20 dB, plus "exact"
#define MAX_CONN 8

struct rec {
    jack_nframes_t t, n;
    float s[]; // n samples per input, input after input
};

struct input {
    int idx;
    jack_port_t *port;
    float *hist;
    uint32_t *hist_t; // the frame time stored at each history index
    bool locked;
    uint32_t D;
    double g, lock_corr, lock_rms;
    uint32_t lock_tries_at;
    bool lock_tried;
    uint64_t blocks, good, glitch_silent, glitch_wrong, self_skip, latency_changes;
    uint32_t *lat_hist; // good blocks by delay 0..max_lag
    bool in_gap;
    uint32_t gap_start;
    uint64_t gaps;
    double longest_gap_ms, last_gap_ms, time_back_ms;
    // Judged blocks wait RELOCK_WIN frames for their final verdict: if the
    // lock moves meanwhile, they are judged again at the new delay too.
    struct pend {
        uint32_t t, n, D;
        double snr;
        bool silent;
    } *pend; // a FIFO: pend_head .. pend_head + npend - 1 (mod MAX_PEND)
    size_t npend, pend_head;
    uint32_t relock_at; // no search before this frame time
    uint32_t full_at;   // no search of the whole range before this one
    uint32_t regain_at; // after a relock: the gain measured again on a clean window
    bool regain;
    uint64_t latency_nudges; // moves of 1 or 2 frames (Opus's phase, a resampler)
    uint64_t latency_slews;  // moves of 3 to SLEW_MAX frames (a resampler walking the delay)
    uint64_t snr_hist[SNR_BINS + 1];
    double snr_min;
    uint32_t first_t, last_t; // analysed span, frame times
    bool any;
    // per-second line
    uint64_t sec_good, sec_bad;
};

static jack_client_t *client;
static jack_port_t *out_port;
static struct input ins[MAX_INS];
static int n_ins = 1;
static float *tbl;      // 2 x TBL_LEN: a window never wraps
static double *tbl_sq;  // prefix sums of tbl^2 over the doubled table
static uint32_t *outw;  // frame time written at each history index (our output)
static float level_lin;
static double back_gap_ms = 100; // a mark waits for a gap this long (an outage, not a lost packet)
static double freq = 1000, level_db = -12, snr_min_db = 6, seconds = 10;
static uint32_t hop = 512, max_lag = 48000, rate, period;
static bool verbose;
// The ring: slots of one period each.
static unsigned char *ring;
static size_t slot_size, n_slots;
static uint32_t slot_frames;
static _Atomic size_t ring_head, ring_tail;
static atomic_uint ring_overflows, xruns, own_skips;
static atomic_bool too_big, stop_analysis;
static volatile sig_atomic_t got_signal;
static pthread_mutex_t mark_lock = PTHREAD_MUTEX_INITIALIZER;
static bool mark_set, mark_new; // mark_new: not yet printed (by the analysis thread)
static uint32_t mark_t;
static char mark_label[256];
// Glitch blocks (frame time, delay) and xruns (frame time), to tell at the
// end which glitches had an xrun anywhere along their way.
static struct glog {
    uint32_t t, D;
} *glitch_log[MAX_INS];
static size_t n_glitch_log[MAX_INS];
static uint32_t xrun_t[MAX_XRUNS];
static atomic_uint n_xrun_t;

static FILE *trace; // --trace FILE: one line per judged block, to see what a glitch was

// ---- the signal ----
static void make_table(void)
{
    double *f = malloc(sizeof *f * TBL_LEN);
    uint32_t x = 0x9e3779b9u;
    int prev = 0;
    uint32_t notes = TBL_LEN / hop;
    int *seq = malloc(sizeof *seq * notes);
    if (!f || !seq) {
        fprintf(stderr, "bbglitch: out of memory\n");
        exit(1);
    }
    for (uint32_t k = 0; k < notes; k++) {
        int nn;
        do { // xorshift32: the same sequence on every machine
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            nn = (int)(x >> 28);
        } while (nn == prev);
        seq[k] = prev = nn;
    }
    uint32_t glide = hop / 4 ? hop / 4 : 1;
    for (uint32_t k = 0; k < notes; k++) {
        double f1 = freq * pow(2.0, (seq[k] - 8) / 12.0);
        double f0 = freq * pow(2.0, (seq[k ? k - 1 : notes - 1] - 8) / 12.0);
        for (uint32_t i = 0; i < hop; i++) {
            double w = i < glide ? 0.5 - 0.5 * cos(M_PI * i / glide) : 1.0;
            f[k * hop + i] = f0 + (f1 - f0) * w;
        }
    }
    // Whole cycles over the table, so it repeats without a step: scale every
    // frequency by a few ppm.
    double total = 0;
    for (uint32_t i = 0; i < TBL_LEN; i++)
        total += f[i] / rate;
    double scale = round(total) / total, ph = 0;
    for (uint32_t i = 0; i < TBL_LEN; i++) {
        tbl[i] = tbl[i + TBL_LEN] = (float)sin(2 * M_PI * ph);
        ph += f[i] * scale / rate;
        ph -= floor(ph);
    }
    tbl_sq[0] = 0;
    for (uint32_t i = 0; i < 2 * TBL_LEN; i++)
        tbl_sq[i + 1] = tbl_sq[i] + (double)tbl[i] * tbl[i];
    free(f);
    free(seq);
}

// ---- JACK callbacks ----
static void write_out(jack_nframes_t t, jack_nframes_t n)
{
    float *o = jack_port_get_buffer(out_port, n);
    for (jack_nframes_t i = 0; i < n; i++)
        o[i] = level_lin * tbl[(t + i) & TBL_MASK];
}

static int process(jack_nframes_t n, void *arg)
{
    (void)arg;
    jack_nframes_t t = jack_last_frame_time(client);
    // Inputs are read before the output is written: an input connected to
    // our own output can share its buffer (JACK2 does), and would otherwise
    // read this cycle's output instead of the last one's.
    if (n > slot_frames) {
        atomic_store_explicit(&too_big, true, memory_order_relaxed);
        write_out(t, n);
        return 0;
    }
    size_t h = atomic_load_explicit(&ring_head, memory_order_relaxed);
    size_t tl = atomic_load_explicit(&ring_tail, memory_order_acquire);
    if (h - tl >= n_slots) {
        atomic_fetch_add_explicit(&ring_overflows, 1, memory_order_relaxed);
        write_out(t, n);
        return 0;
    }
    struct rec *r = (struct rec *)(ring + (h % n_slots) * slot_size);
    r->t = t, r->n = n;
    for (int k = 0; k < n_ins; k++)
        memcpy(r->s + (size_t)k * n, jack_port_get_buffer(ins[k].port, n), n * sizeof(float));
    write_out(t, n);
    atomic_store_explicit(&ring_head, h + 1, memory_order_release);
    return 0;
}

// Runs in JACK's notification thread, not in the process callback.
static int on_xrun(void *arg)
{
    (void)arg;
    atomic_fetch_add_explicit(&xruns, 1, memory_order_relaxed);
    unsigned k = atomic_load_explicit(&n_xrun_t, memory_order_relaxed);
    if (k < MAX_XRUNS) {
        xrun_t[k] = jack_frame_time(client);
        atomic_store_explicit(&n_xrun_t, k + 1, memory_order_release);
    }
    return 0;
}

static void on_shutdown(void *arg)
{
    (void)arg;
    got_signal = 1;
}

static void on_signal(int s) { got_signal = s; }

// ---- analysis ----
static bool hist_valid(const struct input *in, uint32_t t, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (in->hist_t[(t + i) & HIST_MASK] != t + i)
            return false;
    return true;
}

static bool out_written(uint32_t t, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (outw[(t + i) & HIST_MASK] != t + i)
            return false;
    return true;
}

static double dot(const float *a, const float *b, uint32_t n)
{
    // Eight partial sums: independent chains the compiler can vectorise
    // without -ffast-math, and a long search four times faster.
    float acc[8] = {0};
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += a[i + k] * b[i + k];
    double s = 0;
    for (int k = 0; k < 8; k++)
        s += acc[k];
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

// Best lag for the W input samples ending at frame time tend, lags lo..hi.
static bool search(struct input *in, uint32_t tend, uint32_t W, uint32_t lo, uint32_t hi,
                   uint32_t *lag, double *corr, double *gain, double *rms)
{
    static float y[LOCK_WIN];
    uint32_t t0 = tend - W;
    if (W > LOCK_WIN || !hist_valid(in, t0, W))
        return false;
    double yy = 0;
    for (uint32_t i = 0; i < W; i++) {
        y[i] = in->hist[(t0 + i) & HIST_MASK];
        yy += (double)y[i] * y[i];
    }
    *rms = sqrt(yy / W);
    if (*rms < 1e-3) // -60 dBFS: nothing to lock on
        return false;
    double best = -2, bdot = 0, brr = 1;
    uint32_t bl = lo;
    for (uint32_t d = lo; d <= hi; d++) {
        uint32_t s = (t0 - d) & TBL_MASK; // tbl[s .. s+W) never wraps (table doubled)
        double dt = dot(y, tbl + s, W);
        if (dt <= 0)
            continue;
        double rr = tbl_sq[s + W] - tbl_sq[s];
        double c = dt / sqrt(yy * rr);
        if (c > best)
            best = c, bl = d, bdot = dt, brr = rr;
    }
    *lag = bl, *corr = best, *gain = bdot / brr;
    return best >= LOCK_CORR;
}

// SNR of the block at t (n frames) against gain * table[t - D], in dB.
static double block_snr(const struct input *in, uint32_t t, uint32_t n, uint32_t D, double g,
                        double *rms)
{
    double se = 0, sd = 0, sy = 0;
    for (uint32_t i = 0; i < n; i++) {
        double y = in->hist[(t + i) & HIST_MASK];
        double r = g * tbl[(t + i - D) & TBL_MASK];
        se += r * r, sd += (y - r) * (y - r), sy += y * y;
    }
    *rms = sqrt(sy / n);
    if (sd == 0)
        return INFINITY;
    return 10 * log10(se / sd);
}

static void snr_add(struct input *in, double s)
{
    int b = isinf(s) ? SNR_BINS : (int)floor((s + 20) * 4);
    if (b < 0)
        b = 0;
    if (b > SNR_BINS)
        b = SNR_BINS;
    in->snr_hist[b]++;
    if (s < in->snr_min)
        in->snr_min = s;
}

static double snr_pct(const struct input *in, double p)
{
    uint64_t n = 0, acc = 0;
    for (int b = 0; b <= SNR_BINS; b++)
        n += in->snr_hist[b];
    if (!n)
        return NAN;
    uint64_t want = (uint64_t)ceil(p * (double)n);
    if (want < 1)
        want = 1;
    for (int b = 0; b <= SNR_BINS; b++) {
        acc += in->snr_hist[b];
        if (acc >= want)
            return b == SNR_BINS ? INFINITY : b / 4.0 - 20;
    }
    return INFINITY;
}

static void print_db(const char *key, double v)
{
    if (isnan(v))
        printf(" %s=none", key);
    else if (isinf(v))
        printf(" %s=%sinf", key, v < 0 ? "-" : "");
    else
        printf(" %s=%.2f", key, v);
}

static void end_gap(struct input *in, uint32_t t)
{
    if (!in->in_gap)
        return;
    in->in_gap = false;
    double ms = (double)(int32_t)(t - in->gap_start) * 1000.0 / rate;
    in->gaps++;
    in->last_gap_ms = ms;
    if (ms > in->longest_gap_ms)
        in->longest_gap_ms = ms;
    if (ms >= 20) {
        printf("gap in=in_%d at_s=%.3f ms=%.1f\n", in->idx + 1,
               (double)(in->gap_start - in->first_t) / rate, ms);
        fflush(stdout);
    }
    pthread_mutex_lock(&mark_lock);
    if (mark_set && (int32_t)(t - mark_t) >= 0 && ms >= back_gap_ms) {
        in->time_back_ms = (double)(int32_t)(t - mark_t) * 1000.0 / rate;
        printf("back in=in_%d label=%s time_back_ms=%.1f gap_ms=%.1f\n", in->idx + 1,
               mark_label[0] ? mark_label : "-", in->time_back_ms, ms);
        fflush(stdout);
        mark_set = false;
    }
    pthread_mutex_unlock(&mark_lock);
}

// The final verdict on the oldest pending block.
static void finalize(struct input *in)
{
    struct pend *p = &in->pend[in->pend_head];
    in->pend_head = (in->pend_head + 1) % MAX_PEND;
    in->npend--;
    snr_add(in, p->snr);
    if (p->snr >= snr_min_db) {
        in->good++, in->sec_good++;
        if (p->D <= max_lag)
            in->lat_hist[p->D]++;
        end_gap(in, p->t);
        return;
    }
    if (!in->in_gap)
        in->in_gap = true, in->gap_start = p->t;
    if (n_glitch_log[in->idx] < MAX_GLITCH_LOG)
        glitch_log[in->idx][n_glitch_log[in->idx]++] = (struct glog){p->t, p->D};
    if (p->silent)
        in->glitch_silent++;
    else
        in->glitch_wrong++;
    in->sec_bad++;
}

// After the lock moved (or the level changed): every pending block is good
// if it fits either the lock it was judged at or the new one, and counts at
// the delay it fits best. Blocks from before the move fit the old delay,
// blocks after it the new one; only what fits neither is a glitch.
static void rejudge_pending(struct input *in)
{
    for (size_t i = 0; i < in->npend; i++) {
        struct pend *p = &in->pend[(in->pend_head + i) % MAX_PEND];
        double rms;
        if (!hist_valid(in, p->t, p->n))
            continue;
        double s = block_snr(in, p->t, p->n, in->D, in->g, &rms);
        if (s > p->snr)
            p->snr = s, p->D = in->D;
    }
}

// Normalised correlation of the W input samples ending at tend with the table at delay D.
static double corr_at(const struct input *in, uint32_t tend, uint32_t W, uint32_t D)
{
    double yy = 0, yr = 0;
    uint32_t t0 = tend - W;
    for (uint32_t i = 0; i < W; i++) {
        double y = in->hist[(t0 + i) & HIST_MASK], r = tbl[(t0 + i - D) & TBL_MASK];
        yy += y * y, yr += y * r;
    }
    uint32_t s = (t0 - D) & TBL_MASK;
    double rr = tbl_sq[s + W] - tbl_sq[s];
    return yy > 0 && rr > 0 ? yr / sqrt(yy * rr) : 0;
}

// Signal all through the W samples ending at tend: each eighth of them at
// least half the level of the whole. A window that straddles the moment
// the signal arrived would lock with too low a gain.
static bool steady(const struct input *in, uint32_t tend, uint32_t W)
{
    double part[8] = {0}, all = 0;
    uint32_t t0 = tend - W;
    if (!hist_valid(in, t0, W))
        return false;
    for (uint32_t i = 0; i < W; i++) {
        double y = in->hist[(t0 + i) & HIST_MASK];
        part[i * 8 / W] += y * y;
        all += y * y;
    }
    for (int k = 0; k < 8; k++)
        if (part[k] * 8 < all * 0.25) // RMS ratio 0.5
            return false;
    return true;
}

static void analyse_block(struct input *in, uint32_t t, uint32_t n)
{
    if (!in->locked) {
        if (in->lock_tried && (int32_t)(t - in->lock_tries_at) < 0)
            return;
        uint32_t lag;
        double c, g, rms;
        // A full search takes a good part of a second here: not every block.
        in->lock_tried = true;
        in->lock_tries_at = t + rate / 4;
        if (steady(in, t + n, LOCK_WIN) && search(in, t + n, LOCK_WIN, 0, max_lag, &lag, &c, &g, &rms)) {
            in->locked = true;
            in->D = lag, in->g = g, in->lock_corr = c, in->lock_rms = rms;
            in->first_t = t + n;
            fprintf(stderr, "bbglitch: in_%d locked: delay %u frames, corr %.4f, gain %.2f dB\n",
                    in->idx + 1, lag, c, 20 * log10(fabs(g) / level_lin));
        }
        return;
    }
    in->any = true;
    in->last_t = t + n;
    while (in->npend && (int32_t)(t - in->pend[in->pend_head].t) >= (int32_t)RELOCK_WIN)
        finalize(in);
    if (in->regain && (int32_t)(t - in->regain_at) >= 0) {
        uint32_t lag;
        double c, g, r2;
        in->regain = false;
        if (steady(in, t, RELOCK_WIN) && search(in, t, RELOCK_WIN, in->D, in->D, &lag, &c, &g, &r2) &&
            c >= 0.95) {
            in->g = g, in->lock_rms = r2;
            rejudge_pending(in);
        }
    }
    // Returning audio that would carry a cycle we never played is not the path's fault.
    if (!out_written(t - in->D, n)) {
        in->self_skip++;
        return;
    }
    in->blocks++;
    double rms, s = block_snr(in, t, n, in->D, in->g, &rms);
    bool silent = rms < in->lock_rms * 0.1; // 20 dB under the locked level
    if (trace)
        fprintf(trace, "%d %u %u %.2f %.5f %s\n", in->idx + 1, t, in->D, s, rms,
                s >= snr_min_db ? "good" : "bad");
    if (in->npend == MAX_PEND)
        finalize(in);
    in->pend[(in->pend_head + in->npend++) % MAX_PEND] = (struct pend){t, n, in->D, s, silent};
    if (s >= snr_min_db || silent || (int32_t)(t - in->relock_at) < 0)
        return;
    // A bad block with signal in it: is the lock still right? The last
    // RELOCK_WIN samples (several notes: unambiguous) say.
    uint32_t W = RELOCK_WIN;
    if (!hist_valid(in, t + n - W, W))
        return;
    // Searches cost: near ones at most every NEAR_WIN frames (a few per
    // second while the path is broken), the whole range (200 M multiplies)
    // at most every two seconds, or the analysis falls behind the ring.
    in->relock_at = t + NEAR_WIN;
    double c_now = corr_at(in, t + n, W, in->D);
    uint32_t lag = in->D;
    double c = c_now, g, r2;
    if (c_now < 0.95) {
        uint32_t lo = in->D > NEAR_LAGS ? in->D - NEAR_LAGS : 0;
        uint32_t hi = in->D + NEAR_LAGS > max_lag ? max_lag : in->D + NEAR_LAGS;
        bool ok = search(in, t + n, NEAR_WIN, lo, hi, &lag, &c, &g, &r2);
        if ((!ok || c < 0.9) && (int32_t)(t - in->full_at) >= 0) {
            in->full_at = t + 2 * rate;
            ok = search(in, t + n, W, 0, max_lag, &lag, &c, &g, &r2);
        }
        if (!ok || c < c_now + 0.02)
            return; // nothing fits better: the path is broken, not moved
    } else {
        // The delay holds; maybe the level moved (a fader): the gain afresh.
        search(in, t + n, W, in->D, in->D, &lag, &c, &g, &r2);
    }
    double rms2, s2 = block_snr(in, t, n, lag, g, &rms2);
    if (s2 < snr_min_db)
        return; // not even this block fits: keep the old lock and wait
    unsigned move = lag > in->D ? lag - in->D : in->D - lag;
    if (move > SLEW_MAX)
        in->latency_changes++;
    else if (move > 2)
        in->latency_slews++;
    else if (move)
        in->latency_nudges++;
    if (trace)
        fprintf(trace, "%d %u relock %u -> %u corr %.4f (was %.4f) gain %.2f dB pending %zu\n",
                in->idx + 1, t, in->D, lag, c, c_now, 20 * log10(fabs(g) / level_lin), in->npend);
    if (verbose && lag != in->D)
        fprintf(stderr, "bbglitch: in_%d relocked: delay %u -> %u frames, corr %.4f\n", in->idx + 1,
                in->D, lag, c);
    in->D = lag, in->g = g, in->lock_rms = r2;
    rejudge_pending(in);
    // The search window may straddle the move, which biases the gain: once
    // a whole window has passed at the new delay, measure it again.
    in->regain = true, in->regain_at = t + n + W;
}

static uint32_t lat_pct(const struct input *in, double p, uint64_t total)
{
    uint64_t want = (uint64_t)ceil(p * (double)total), acc = 0;
    if (want < 1)
        want = 1;
    for (uint32_t d = 0; d <= max_lag; d++) {
        acc += in->lat_hist[d];
        if (acc >= want)
            return d;
    }
    return max_lag;
}

static void per_second(uint32_t t)
{
    static uint32_t next;
    static bool started;
    if (!started)
        next = t + rate, started = true;
    if ((int32_t)(t - next) < 0)
        return;
    next += rate;
    for (int k = 0; k < n_ins; k++) {
        struct input *in = &ins[k];
        if (verbose) {
            printf("t=%.0f in=in_%d locked=%d latency=%u good=%llu bad=%llu",
                   in->locked ? (double)(t - in->first_t) / rate : 0.0, k + 1, in->locked,
                   in->D, (unsigned long long)in->sec_good, (unsigned long long)in->sec_bad);
            print_db("snr_p50_db", snr_pct(in, 0.5));
            printf("\n");
            fflush(stdout);
        }
        in->sec_good = in->sec_bad = 0;
    }
}

static void *analysis(void *arg)
{
    (void)arg;
    uint32_t last_t = 0;
    bool have_last = false;
    for (;;) {
        size_t tl = atomic_load_explicit(&ring_tail, memory_order_relaxed);
        size_t h = atomic_load_explicit(&ring_head, memory_order_acquire);
        if (tl == h) {
            if (atomic_load(&stop_analysis))
                break;
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
            continue;
        }
        const struct rec *r = (const struct rec *)(ring + (tl % n_slots) * slot_size);
        uint32_t t = r->t, n = r->n;
        if (have_last && t != last_t)
            atomic_fetch_add_explicit(&own_skips, 1, memory_order_relaxed);
        have_last = true, last_t = t + n;
        for (uint32_t i = 0; i < n; i++)
            outw[(t + i) & HIST_MASK] = t + i;
        for (int k = 0; k < n_ins; k++) {
            struct input *in = &ins[k];
            for (uint32_t i = 0; i < n; i++) {
                in->hist[(t + i) & HIST_MASK] = r->s[(size_t)k * n + i];
                in->hist_t[(t + i) & HIST_MASK] = t + i;
            }
        }
        atomic_store_explicit(&ring_tail, tl + 1, memory_order_release);
        for (int k = 0; k < n_ins; k++)
            analyse_block(&ins[k], t, n);
        per_second(t);
        pthread_mutex_lock(&mark_lock);
        if (mark_new) {
            // On the timeline of the gap lines (input 1's), to line marks up with gaps.
            if (ins[0].locked)
                printf("mark label=%s at_s=%.3f\n", mark_label[0] ? mark_label : "-",
                       (double)(int32_t)(mark_t - ins[0].first_t) / rate);
            else
                printf("mark label=%s at_s=none\n", mark_label[0] ? mark_label : "-");
            fflush(stdout);
            mark_new = false;
        }
        pthread_mutex_unlock(&mark_lock);
    }
    for (int k = 0; k < n_ins; k++) // the last verdicts (a gap still open at the end never ended)
        while (ins[k].npend)
            finalize(&ins[k]);
    return NULL;
}

// The xrun callback runs in JACK's notification thread, which is not a
// realtime one: on a loaded machine it runs late, and jack_frame_time() there
// stamps the report, not the xrun. Beside other test runs (load average 15
// to 20) a report came 200 to 970 frames (4 to 20 ms) after the end of the
// glitch run it explained: of 29 runs the old 2-period slack called the
// path's own, 24 had a report that soon after them, where reports 8500
// frames apart on average would put one there for 12 % of runs.
#define REPORT_LAG_MS 25

// Glitch blocks in a run (a gap) with an xrun reported anywhere from the
// moment the run's first block left us (t - D) to its last coming back,
// allowing for the report's lag: a cycle some client missed on the way,
// which no buffer can make up for, and whose refill and fade-in the whole
// run is. The rest are the path's.
static uint64_t glitches_near_xrun(const struct input *in)
{
    unsigned nx = atomic_load_explicit(&n_xrun_t, memory_order_acquire);
    uint64_t near = 0;
    uint32_t slack = 2 * period; // before: a report stamped early by a cycle or two
    uint32_t lag = (uint32_t)((uint64_t)rate * REPORT_LAG_MS / 1000); // after: a report that ran late
    const struct glog *gl = glitch_log[in->idx];
    size_t n = n_glitch_log[in->idx];
    for (size_t i = 0; i < n;) {
        size_t j = i + 1; // the run: blocks at most 4 periods apart
        while (j < n && gl[j].t - gl[j - 1].t <= 4 * period)
            j++;
        uint32_t from = gl[i].t - gl[i].D - slack, span = gl[j - 1].t - from + lag + period;
        bool is_near = false;
        for (unsigned k = 0; k < nx && !is_near; k++)
            is_near = xrun_t[k] - from <= span;
        if (is_near)
            near += j - i;
        if (trace)
            fprintf(trace, "%d %u glitch_run blocks %zu delay %u near_xrun %d\n", in->idx + 1,
                    gl[i].t, j - i, gl[i].D, is_near);
        i = j;
    }
    if (trace)
        for (unsigned k = 0; k < nx; k++)
            fprintf(trace, "0 %u xrun\n", xrun_t[k]);
    return near;
}

static void summary(struct input *in)
{
    uint64_t glitches = in->glitch_silent + in->glitch_wrong;
    double secs = in->any ? (double)(int32_t)(in->last_t - in->first_t) / rate : 0;
    printf("status=%s in=in_%d rate=%u period=%u seconds=%.1f locked=%d", in->locked ? "ok" : "nolock",
           in->idx + 1, rate, period, secs, in->locked);
    if (in->locked) {
        printf(" lock_corr=%.4f gain_db=%.2f", in->lock_corr, 20 * log10(fabs(in->g) / level_lin));
        if (in->good) {
            uint32_t mn = max_lag, mx = 0, mode = 0;
            for (uint32_t d = 0; d <= max_lag; d++) {
                if (!in->lat_hist[d])
                    continue;
                if (d < mn)
                    mn = d;
                if (d > mx)
                    mx = d;
                if (in->lat_hist[d] > in->lat_hist[mode])
                    mode = d;
            }
            printf(" latency_median=%u latency_min=%u latency_max=%u latency_mode=%u"
                   " latency_p5=%u latency_p95=%u",
                   lat_pct(in, 0.5, in->good), mn, mx, mode, lat_pct(in, 0.05, in->good),
                   lat_pct(in, 0.95, in->good));
        } else {
            printf(" latency_median=none latency_min=none latency_max=none latency_mode=none"
                   " latency_p5=none latency_p95=none");
        }
        printf(" latency_changes=%llu latency_slews=%llu latency_nudges=%llu latency_hist=",
               (unsigned long long)in->latency_changes, (unsigned long long)in->latency_slews,
               (unsigned long long)in->latency_nudges);
        int shown = 0;
        for (uint32_t d = 0; d <= max_lag && shown < 16; d++)
            if (in->lat_hist[d])
                printf("%s%u:%u", shown++ ? "," : "", d, in->lat_hist[d]);
        if (!shown)
            printf("none");
    }
    printf(" blocks=%llu good_blocks=%llu glitch_blocks=%llu glitch_silent=%llu glitch_wrong=%llu",
           (unsigned long long)in->blocks, (unsigned long long)in->good,
           (unsigned long long)glitches, (unsigned long long)in->glitch_silent,
           (unsigned long long)in->glitch_wrong);
    uint64_t near = glitches_near_xrun(in);
    printf(" glitch_near_xrun=%llu glitch_xrun_free=%llu", (unsigned long long)near,
           (unsigned long long)(glitches - near));
    printf(" glitches_per_min=%.2f gaps=%llu longest_gap_ms=%.1f", secs > 0 ? glitches * 60.0 / secs : 0.0,
           (unsigned long long)in->gaps, in->longest_gap_ms);
    if (in->gaps)
        printf(" last_gap_ms=%.1f", in->last_gap_ms);
    else
        printf(" last_gap_ms=none");
    if (in->time_back_ms >= 0)
        printf(" time_back_ms=%.1f", in->time_back_ms);
    else
        printf(" time_back_ms=none");
    printf(" self_skipped=%llu", (unsigned long long)in->self_skip);
    print_db("snr_min_db", in->good || in->blocks ? in->snr_min : NAN);
    print_db("snr_p001_db", snr_pct(in, 0.001));
    print_db("snr_p01_db", snr_pct(in, 0.01));
    print_db("snr_p50_db", snr_pct(in, 0.5));
    printf(" own_skips=%u ring_overflows=%u xruns=%u\n", atomic_load(&own_skips),
           atomic_load(&ring_overflows), atomic_load(&xruns));
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bbglitch [options]\n"
            "  --seconds S         run S seconds (default 10)\n"
            "  --connect-out PORT  connect out_1 to PORT (repeatable)\n"
            "  --connect-in PORT   connect PORT to the next input (in_1, then in_2)\n"
            "  --ins N             inputs (1 or 2; default: as many as --connect-in, at least 1)\n"
            "  --freq HZ           centre of the tone's pitches (default 1000)\n"
            "  --level DB          output level, dBFS peak (default -12)\n"
            "  --hop FRAMES        frames per note (default 256)\n"
            "  --snr-min DB        a block below this SNR is a glitch (default 10)\n"
            "  --max-lag FRAMES    longest delay searched (default 48000)\n"
            "  --name NAME         JACK client name (default bbglitch)\n"
            "  --wait S            wait up to S s for the ports to connect (default 10)\n"
            "  --trace FILE        one line per judged block: input frame_time delay snr_db rms verdict\n"
            "  -v                  one line a second\n"
            "  --back-gap MS       a mark is answered by the next gap this long (default 100)\n"
            "stdin: every line is a mark; the next gap that ends after it prints time_back_ms\n"
            "see the comment at the top of test/tools/bbglitch.c\n");
}

static double num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : NAN;
    if (!s || errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "bbglitch: bad value '%s' for %s (%g..%g)\n", s ? s : "", opt, lo, hi);
        exit(1);
    }
    return v;
}

// Connect src -> dst, waiting for both ports until the deadline.
static bool connect_wait(const char *src, const char *dst, double wait_s)
{
    struct timespec ts = {0, 50000000};
    for (double waited = 0;; waited += 0.05) {
        int e = jack_connect(client, src, dst);
        if (e == 0 || e == EEXIST)
            return true;
        if (waited >= wait_s) {
            fprintf(stderr, "bbglitch: cannot connect %s -> %s\n", src, dst);
            return false;
        }
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    const char *conn_out[MAX_CONN], *conn_in[MAX_INS], *name = "bbglitch";
    int n_out = 0, n_in = 0, want_ins = 0;
    double wait_s = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-v"))
            verbose = true;
        else if (!strcmp(a, "--seconds"))
            seconds = num(a, v, 0.1, 1e7), i++;
        else if (!strcmp(a, "--connect-out") && v) {
            if (n_out == MAX_CONN) {
                fprintf(stderr, "bbglitch: at most %d --connect-out\n", MAX_CONN);
                return 1;
            }
            conn_out[n_out++] = v, i++;
        } else if (!strcmp(a, "--connect-in") && v) {
            if (n_in == MAX_INS) {
                fprintf(stderr, "bbglitch: at most %d --connect-in\n", MAX_INS);
                return 1;
            }
            conn_in[n_in++] = v, i++;
        } else if (!strcmp(a, "--ins"))
            want_ins = (int)num(a, v, 1, MAX_INS), i++;
        else if (!strcmp(a, "--freq"))
            freq = num(a, v, 50, 8000), i++;
        else if (!strcmp(a, "--level"))
            level_db = num(a, v, -80, 0), i++;
        else if (!strcmp(a, "--hop"))
            hop = (uint32_t)num(a, v, 16, 4096), i++;
        else if (!strcmp(a, "--snr-min"))
            snr_min_db = num(a, v, -20, 80), i++;
        else if (!strcmp(a, "--max-lag"))
            max_lag = (uint32_t)num(a, v, 1, 1 << 19), i++;
        else if (!strcmp(a, "--back-gap"))
            back_gap_ms = num(a, v, 0, 1e7), i++;
        else if (!strcmp(a, "--wait"))
            wait_s = num(a, v, 0, 3600), i++;
        else if (!strcmp(a, "--name") && v)
            name = v, i++;
        else if (!strcmp(a, "--trace") && v) {
            if (!(trace = fopen(v, "w"))) {
                perror(v);
                return 1;
            }
            i++;
        }
        else {
            usage(stderr);
            return 1;
        }
    }
    if (hop & (hop - 1)) {
        fprintf(stderr, "bbglitch: --hop must be a power of two (the table has 2^%d frames)\n", TBL_BITS);
        return 1;
    }
    n_ins = want_ins ? want_ins : (n_in ? n_in : 1);
    if (n_in > n_ins) {
        fprintf(stderr, "bbglitch: more --connect-in than inputs\n");
        return 1;
    }
    level_lin = (float)pow(10, level_db / 20);

    jack_status_t jst;
    client = jack_client_open(name, JackNoStartServer | JackUseExactName, &jst);
    if (!client) {
        fprintf(stderr, "bbglitch: cannot open JACK client '%s' (status 0x%x)\n", name, (unsigned)jst);
        printf("status=error\n");
        return 1;
    }
    rate = jack_get_sample_rate(client);
    period = jack_get_buffer_size(client);
    // Everything the callback and the analysis touch exists before activation.
    tbl = malloc(sizeof *tbl * 2 * TBL_LEN);
    tbl_sq = malloc(sizeof *tbl_sq * (2 * TBL_LEN + 1));
    outw = malloc(sizeof *outw * HIST_LEN);
    slot_frames = period < 256 ? 256 : period;
    slot_size = (sizeof(struct rec) + sizeof(float) * slot_frames * (size_t)n_ins + 15) & ~(size_t)15;
    n_slots = 1;
    while (n_slots * period < 2 * rate) // two seconds: a full lock search must fit
        n_slots <<= 1;
    ring = calloc(n_slots, slot_size);
    if (!tbl || !tbl_sq || !outw || !ring) {
        fprintf(stderr, "bbglitch: out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < HIST_LEN; i++)
        outw[i] = i + 1; // never equal to a frame time stored at index i
    make_table();
    out_port = jack_port_register(client, "out_1", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
    for (int k = 0; k < n_ins; k++) {
        struct input *in = &ins[k];
        char pn[16];
        snprintf(pn, sizeof pn, "in_%d", k + 1);
        in->idx = k;
        in->port = jack_port_register(client, pn, JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
        in->hist = calloc(HIST_LEN, sizeof *in->hist);
        in->hist_t = malloc(HIST_LEN * sizeof *in->hist_t);
        in->lat_hist = calloc(max_lag + 1, sizeof *in->lat_hist);
        in->pend = malloc(MAX_PEND * sizeof *in->pend);
        glitch_log[k] = malloc(MAX_GLITCH_LOG * sizeof *glitch_log[k]);
        in->snr_min = INFINITY;
        in->time_back_ms = -1;
        if (!in->port || !in->hist || !in->hist_t || !in->lat_hist || !in->pend || !glitch_log[k]) {
            fprintf(stderr, "bbglitch: cannot set up %s\n", pn);
            return 1;
        }
        for (uint32_t i = 0; i < HIST_LEN; i++)
            in->hist_t[i] = i + 1;
    }
    if (!out_port) {
        fprintf(stderr, "bbglitch: cannot register out_1\n");
        return 1;
    }
    jack_set_process_callback(client, process, NULL);
    jack_set_xrun_callback(client, on_xrun, NULL);
    jack_on_shutdown(client, on_shutdown, NULL);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, analysis, NULL) || jack_activate(client)) {
        fprintf(stderr, "bbglitch: cannot start\n");
        return 1;
    }
    bool ok = true;
    char full[320];
    for (int k = 0; k < n_out; k++) {
        snprintf(full, sizeof full, "%s:out_1", jack_get_client_name(client));
        ok &= connect_wait(full, conn_out[k], wait_s);
    }
    for (int k = 0; k < n_in; k++) {
        snprintf(full, sizeof full, "%s:in_%d", jack_get_client_name(client), k + 1);
        ok &= connect_wait(conn_in[k], full, wait_s);
    }
    if (!ok) {
        jack_client_close(client);
        printf("status=error\n");
        return 1;
    }
    // Marks from stdin, until the time is up. The clock is jack_get_time
    // (what JACK's frame time follows), so the run lasts --seconds of audio
    // time, give or take the machine's clock.
    jack_time_t end = jack_get_time() + (jack_time_t)(seconds * 1e6);
    bool stdin_open = true;
    char line[256];
    size_t ll = 0;
    while (!got_signal && jack_get_time() < end && !atomic_load(&too_big)) {
        struct pollfd pf = {0, POLLIN, 0};
        if (!stdin_open || poll(&pf, 1, 50) <= 0 || !(pf.revents & (POLLIN | POLLHUP))) {
            if (!stdin_open) {
                struct timespec ts = {0, 50000000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        char c;
        ssize_t r = read(0, &c, 1);
        if (r <= 0) {
            stdin_open = false;
            continue;
        }
        if (c != '\n') {
            if (ll + 1 < sizeof line)
                line[ll++] = c;
            continue;
        }
        line[ll] = 0, ll = 0;
        pthread_mutex_lock(&mark_lock);
        mark_t = jack_frame_time(client);
        mark_set = true;
        snprintf(mark_label, sizeof mark_label, "%s", line);
        for (char *p = mark_label; *p; p++)
            if (*p == ' ' || *p == '=')
                *p = '_'; // one key=value token
        mark_new = true;
        pthread_mutex_unlock(&mark_lock);
    }
    jack_deactivate(client);
    atomic_store(&stop_analysis, true);
    pthread_join(th, NULL);
    if (atomic_load(&too_big))
        fprintf(stderr, "bbglitch: the JACK period grew beyond %u frames; stopped\n", slot_frames);
    int rc = 0;
    for (int k = 0; k < n_ins; k++) {
        summary(&ins[k]);
        if (!ins[k].locked)
            rc = 2;
    }
    fflush(stdout);
    jack_client_close(client);
    return atomic_load(&too_big) ? 1 : rc;
}
