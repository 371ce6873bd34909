// SPDX-License-Identifier: GPL-2.0-or-later
// bbprobe.c: test JACK client that plays known signals and measures what comes back.
//
// Output k plays a deterministic pseudo-random signal (xorshift32, seed k), every
// sample an integer multiple of 1/32768 in [-A, A], so 16- and 24-bit PCM carry it
// bit exact. Playing starts once every --connect is made and every --wait-connection
// exists; after --settle seconds the inputs are recorded for --seconds. Frame
// positions come from a counter of the frames this client has processed (so a loop
// out_1 -> in_1 of this client is always exactly one period late and bit exact), and
// each input is compared with each output's reference: lag 0..--max-lag with the
// highest normalised correlation, then over the whole recording at that lag: least
// squares gain, residual SNR, bit-exact sample count. Output, one line each:
//
//   rate=48000 period=64 frames=144000
//   in_1 rms_db=-16.8
//   in_1 out_1 lag=64 corr=1.000000 gain_db=0.000 snr_db=inf exact=144000 mismatch=0 rms_db=-16.8 run=144000
//   ... run=144000 med_gain_db=0.000 med_snr_db=inf blocks=70 blocks_exact=70
//   (run: the longest stretch of consecutive bit-exact samples at that lag;
//   med_* and blocks_exact: over 512-sample blocks, each at its own best lag
//   near that lag, so a few skipped JACK cycles spoil only their blocks)
//   xruns=0
//   status=ok
//
// rms_db on the pair line is the level of gain*ref (what of the input this output
// explains); on the input line the level of the whole recording. -inf: silence.
// snr_db is inf when the residual is exactly zero, -inf when nothing is explained.
// xruns counts xrun callbacks during the recording.
// Exit 0 after status=ok, 2 after status=timeout (a --wait-port or --wait-connection
// never appeared, or the recording never finished), 1 on other errors (status=error).
//
// OSC gain mode (--osc HOST:PORT): while recording, bbprobe itself sets a gain on the
// hub over OSC (--osc-path, default /mix/main/ch/in_1/gain) to each dB value of
// --osc-steps in turn (cycling through the list), one step every --osc-interval
// seconds, and measures in out_1 -> in_1 how each change arrives. Before each step a
// query (the path without argument, answered to the port it came from, so one
// lo_server sends and listens) measures the OSC round trip; the JACK time
// (jack_get_time) is noted just before the value is sent; a second query right after
// it reads the value back (ack: from the set to that answer). Each step is judged on
// its own window, OSC_PRE frames before the send to --osc-window seconds after it,
// at a lag found in that window (the last OSC_PRE frames before the send, at the old
// gain): per sample gain = in_1 / out_1 at that lag (the noise signal makes almost
// every sample usable, and with one source in the mix the ratio is exact to float
// precision). Per step, one line:
//
//   osc_step n=3 from_db=0.000 to_db=-12.000 usable=1 reason=ok lag=64 corr=1.000000
//     xruns=0 delay_frames=41.2 ramp_frames=256 rtt_frames=9.1 ack_frames=11.0
//     echo_db=-12.000 changed=4737 nonmono=0 slope=0.938 overshoot=0 start_err=3.1e-08
//     end_err=5.9e-08 click=0 late=0
//
//   delay_frames: from the send to the first sample whose gain left the old value:
//     the JACK time at which bbprobe's process callback that recorded that sample
//     ran, plus the sample's offset in its period, minus the JACK time of the send,
//     in frames. Run times, not jack_last_frame_time: the dummy backend catches up
//     after a late wake-up by running cycles back to back, and its frame clock was
//     measured running up to 4 ms ahead of the callbacks. The run time of bbprobe's
//     callback is after the hub's (when the hub runs first in the cycle, as the
//     connection order of it_osc_gain.sh makes it) or a period later (otherwise),
//     so this never underestimates. "none" for a step to the same value, "inf"
//     when nothing changed in the window (late=1).
//   ramp_frames: from that first changed sample to the first sample at the new gain,
//     both counted. rtt_frames / ack_frames: JACK time in frames.
//   changed: samples of the window not at the old gain (0 expected for a step to the
//     same value). nonmono: samples that move against the direction of the step.
//   slope: steepest per-sample gain change / that of a 5 ms linear ramp of the whole
//     step (above 1: faster than 5 ms, a click). overshoot: samples outside [old, new].
//   start_err, end_err: worst relative error of the gain before the send and over the
//     last 256 samples of the window, against k * 10^(dB/20), k the law factor (pan)
//     measured before the first step (law_db below).
//   click=1: nonmono, slope > 1.01, overshoot, a start_err or end_err above 2^-21,
//     the new gain not held for the last two periods of the window, or samples the
//     signal does not explain with no discontinuity to blame (reason=garbled).
//   usable=0: the window holds a discontinuity and the step is not judged (it is
//     counted, and its list position is tried again on the next pass): reason=skip
//     (between the send and the end of the ramp, JACK's frame time did not advance by
//     exactly one period from one bbprobe cycle to the next: a cycle bbprobe missed,
//     whose hub output was never recorded, or the frame counter jumping after an
//     xrun), nolag (no exact alignment before the send), shift (the alignment moves
//     by whole periods), xrun (samples the signal does not explain, with an xrun
//     reported by JACK near the window).
//
// Steps go on until --osc-usable usable steps were measured and every position of
// the list had a usable one (complete=1), or --seconds of recording are used up;
// then the initial value is set again. The summary line (medians and worst over the
// usable steps that change the gain; rtt and ack over every step; frames):
//
//   osc_gain steps=14 usable=11 unusable=3 skip=0 nolag=1 shift=1 xrun=1 late=0
//     clicks=0 same=2 same_changed=0 delay_med=40.2 delay_min=12.0 delay_max=75.3
//     rtt_med=9.0 rtt_max=30.2 ack_med=10.1 ack_max=31.0 ramp_min=256 ramp_max=256
//     slope_max=0.938 end_err_max=1.2e-07 law_db=0.000 law_gain=1.000000000 init_db=0.000
//     complete=1
//
// law_gain (law_db in dB) is k: the gain measured before the first step over
// 10^(init_db/20), so 1 for a centred source under the balance law of bandbridge(1).
// followed by the usual lines over what was recorded. The hub must answer the query
// (status=error otherwise).
#include <errno.h>
#include <inttypes.h>
#include <jack/jack.h>
#include <lo/lo.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "osc_arg.h"

#define MAX_PORTS   64
#define MAX_LIST    64
#define COARSE_WIN  4096
#define COARSE_TOP  8

enum phase { PH_IDLE, PH_SETTLE, PH_RECORD, PH_DONE };

struct probe {
    jack_client_t *client;
    jack_port_t *out[MAX_PORTS];
    jack_port_t *in[MAX_PORTS];
    int nout, nin;
    // reference signals: ref[k][pad + t] is what out_(k+1) plays at frame t (t >= 0
    // from arming); the pad of max_lag zeros in front stands for "not yet playing".
    float *ref[MAX_PORTS];
    uint64_t pad, total;           // pad = max_lag frames, total = played frames
    float *rec[MAX_PORTS];         // rec[j][i]: in_(j+1) at frame settle + i
    uint64_t settle, nrec;         // in frames
    uint64_t pos;                  // frames since arming (process thread only)
    atomic_int armed;
    atomic_int phase;
    atomic_int xruns;
    atomic_int shutdown;
    // The recording ends at end_pos (settle + nrec; the OSC mode may end it early).
    _Atomic uint64_t end_pos;
    // pos after the last finished cycle: rec[] and cyc_ft[] below it are final.
    _Atomic uint64_t pub_pos;
    // cyc_run[c]: JACK time (jack_get_time, us) at which the process callback that
    // played frames [c * period, (c + 1) * period) of pos ran (OSC mode).
    jack_time_t *cyc_run;
    // cyc_ft[c]: JACK frame time (jack_last_frame_time) of that cycle (OSC mode).
    jack_nframes_t *cyc_ft;
    uint64_t ncyc;
    jack_nframes_t period;
    atomic_int period_changed;
    // JACK time of each xrun notification (OSC mode), up to XRUN_MAX.
    jack_time_t *xrun_us;
    atomic_int nxrun_us;
};

#define XRUN_MAX 4096

static struct probe P;

// ---------------------------------------------------------------- RT side

static int tonal; // --signal tones

static int process_cb(jack_nframes_t nframes, void *arg)
{
    struct probe *p = arg;
    float *inb[MAX_PORTS];
    // Inputs first: for a port of this same client JACK copies the output buffer into
    // the input buffer when the input buffer is fetched, i.e. before we write this
    // cycle's output (that is the one-period loop delay).
    for (int j = 0; j < p->nin; j++)
        inb[j] = jack_port_get_buffer(p->in[j], nframes);

    if (!atomic_load_explicit(&p->armed, memory_order_acquire)) {
        for (int k = 0; k < p->nout; k++)
            memset(jack_port_get_buffer(p->out[k], nframes), 0, nframes * sizeof(float));
        return 0;
    }

    uint64_t t0 = p->pos, t1 = t0 + nframes;
    uint64_t r0 = p->settle, r1 = atomic_load_explicit(&p->end_pos, memory_order_acquire);
    if (nframes != p->period)
        atomic_store_explicit(&p->period_changed, 1, memory_order_relaxed);
    else if (p->cyc_run && t0 / nframes < p->ncyc) {
        p->cyc_run[t0 / nframes] = jack_get_time();
        p->cyc_ft[t0 / nframes] = jack_last_frame_time(p->client);
    }

    // record the overlap of [t0, t1) with [r0, r1)
    uint64_t a = t0 > r0 ? t0 : r0, b = t1 < r1 ? t1 : r1;
    if (a < b) {
        for (int j = 0; j < p->nin; j++)
            memcpy(p->rec[j] + (a - r0), inb[j] + (a - t0), (size_t)(b - a) * sizeof(float));
    }

    // play the reference, silence after its end
    for (int k = 0; k < p->nout; k++) {
        float *o = jack_port_get_buffer(p->out[k], nframes);
        uint64_t n = 0;
        if (t0 < p->total) {
            n = p->total - t0 < nframes ? p->total - t0 : nframes;
            memcpy(o, p->ref[k] + p->pad + t0, (size_t)n * sizeof(float));
        }
        if (n < nframes)
            memset(o + n, 0, (size_t)(nframes - n) * sizeof(float));
    }

    p->pos = t1;
    atomic_store_explicit(&p->pub_pos, t1, memory_order_release);
    int ph = t1 >= r1 ? PH_DONE : t1 > r0 ? PH_RECORD : PH_SETTLE;
    atomic_store_explicit(&p->phase, ph, memory_order_release);
    return 0;
}

static int xrun_cb(void *arg)
{
    struct probe *p = arg;
    if (atomic_load_explicit(&p->phase, memory_order_relaxed) == PH_RECORD)
        atomic_fetch_add_explicit(&p->xruns, 1, memory_order_relaxed);
    if (p->xrun_us) {
        // Not the process thread: a notification, some time after the xrun.
        int i = atomic_load_explicit(&p->nxrun_us, memory_order_relaxed);
        if (i < XRUN_MAX) {
            p->xrun_us[i] = jack_get_time();
            atomic_store_explicit(&p->nxrun_us, i + 1, memory_order_release);
        }
    }
    return 0;
}

static void shutdown_cb(void *arg)
{
    struct probe *p = arg;
    atomic_store(&p->shutdown, 1);
}

// ---------------------------------------------------------------- helpers

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void nap_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bbprobe [--name CLIENT] [--outs N] [--ins M] [--seconds S] [--settle S]\n"
            "               [--amp A] [--signal noise|tones] [--connect SRC=DST]...\n"
            "               [--wait-connection SRC=DST]...\n"
            "               [--max-lag FRAMES] [--wait-port PORT]... [--timeout S] [--dump FILE]\n"
            "  SRC/DST are full port names or short names (out_1, in_2) of this client.\n"
            "  --wait-connection: after --connect, wait until SRC=DST is connected (made by\n"
            "  anyone, e.g. jack_connect) before the settle time starts.\n"
            "  --dump: raw native-endian float32 recordings, inputs interleaved.\n"
            "OSC gain mode (measures gain changes made over OSC in out_1 -> in_1):\n"
            "  --osc HOST:PORT       the hub's OSC port; --seconds is then the longest run\n"
            "  --osc-path PATH       default /mix/main/ch/in_1/gain\n"
            "  --osc-steps LIST      dB values, comma separated, -60..12, cycled\n"
            "                        (default -6,0,-12,-12,0)\n"
            "  --osc-interval S      between two steps (default 0.12)\n"
            "  --osc-window S        judged after each send (default 0.1)\n"
            "  --osc-usable N        usable steps wanted (default 10; every list position\n"
            "                        also needs one)\n");
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

// Full port name of s: s itself if it has a ':', else CLIENT:s.
static void full_name(char *dst, size_t n, const char *client, const char *s)
{
    if (strchr(s, ':'))
        snprintf(dst, n, "%s", s);
    else
        snprintf(dst, n, "%s:%s", client, s);
}

// Splits "SRC=DST" in place; false if malformed.
static bool split_pair(char *s, char **src, char **dst)
{
    char *eq = strchr(s, '=');
    if (!eq || eq == s || !eq[1])
        return false;
    *eq = 0;
    *src = s;
    *dst = eq + 1;
    return true;
}

static uint32_t xorshift32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}


// Tones for codecs that keep a spectrum rather than a waveform (Opus on
// white noise has an SNR near 0 dB by design): four sines of incommensurate
// frequencies (different per output), quantised to 1/32768 like the noise.
static void make_tones(float *dst, uint64_t n, int k, double amp)
{
    static const double f0[4] = {220.0, 347.3, 563.9, 1013.7};
    for (uint64_t i = 0; i < n; i++) {
        double v = 0;
        for (int t = 0; t < 4; t++)
            v += sin(2.0 * M_PI * f0[t] * (1.0 + 0.1 * (k - 1)) * (double)i / 48000.0 + t);
        dst[i] = (float)(lrint(v * amp / 4.0 * 32768.0) / 32768.0);
    }
}

static void make_reference(float *dst, uint64_t n, int k, double amp)
{
    if (tonal) {
        make_tones(dst, n, k, amp);
        return;
    }
    uint32_t s = (uint32_t)k * 2654435761u;
    if (!s)
        s = 1;
    for (int i = 0; i < 16; i++)
        (void)xorshift32(&s);
    long m = lrint(floor(amp * 32768.0 + 1e-9));
    if (m > 32767)
        m = 32767;
    uint32_t span = (uint32_t)(2 * m + 1);
    for (uint64_t i = 0; i < n; i++)
        dst[i] = (float)((long)(xorshift32(&s) % span) - m) / 32768.0f;
}

static double db10(double power)
{
    return power > 0 ? 10.0 * log10(power) : -INFINITY;
}

// "%.Nf" that prints inf/-inf the same way everywhere.
static const char *fmt_db(char *buf, size_t n, double v, int decimals)
{
    if (isnan(v))
        snprintf(buf, n, "nan");
    else if (isinf(v))
        snprintf(buf, n, "%s", v > 0 ? "inf" : "-inf");
    else
        snprintf(buf, n, "%.*f", decimals, v);
    return buf;
}

// Dot product of two float arrays, float lanes (fast, for the coarse search).
static float dotf(const float *a, const float *b, size_t n)
{
    float acc[8] = { 0 };
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += a[i + l] * b[i + l];
    float s = 0;
    for (; i < n; i++)
        s += a[i] * b[i];
    for (int l = 0; l < 8; l++)
        s += acc[l];
    return s;
}

struct pair_stats {
    uint64_t lag;
    double corr, gain, sig, noise, exact;
    uint64_t run;  // longest stretch of consecutive bit-exact samples
    double med_gain, med_snr; // medians over blocks: robust to a few glitches
    uint64_t blocks, blocks_exact;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// Median gain (dB) and SNR (dB) over BLOCK-sample blocks, each at its own
// best lag within +-SEARCH of the overall lag. A cycle that JACK skipped for
// one client moves the alignment by a period and spoils one block; every
// other block is still judged sample by sample (a block is exact only if
// all its samples are bit-equal to the reference at one lag).
#define BLOCK  512
#define SEARCH 1024
static double corr_at(const float *rec, const float *ref, uint64_t n);
static void block_stats(const float *rec, const float *refp, uint64_t settle, uint64_t lag,
                        uint64_t maxlag, uint64_t n, struct pair_stats *st)
{
    uint64_t nb = n / BLOCK;
    double *g = calloc(nb ? nb : 1, sizeof *g), *q = calloc(nb ? nb : 1, sizeof *q);
    st->blocks_exact = 0;
    for (uint64_t b = 0; b < nb; b++) {
        const float *x = rec + b * BLOCK;
        int64_t t0 = (int64_t)settle + (int64_t)(b * BLOCK); // frame x[0] was recorded at
        // Tones correlate almost as well one period off: search every lag
        // (finely) rather than trusting the overall lag.
        int64_t lo = tonal ? 0 : (int64_t)lag - SEARCH, hi = tonal ? (int64_t)maxlag : (int64_t)lag + SEARCH,
                best = (int64_t)lag;
        if (lo < 0)
            lo = 0;
        if (hi > (int64_t)maxlag)
            hi = (int64_t)maxlag;
        double bc = corr_at(x, refp + t0 - best, BLOCK);
        for (int pass = 0; pass < 2; pass++) {
            int64_t coarse = tonal ? 2 : 16;
            int64_t step = pass == 0 ? coarse : 1, c0 = pass == 0 ? lo : best - coarse + 1,
                    c1 = pass == 0 ? hi : best + coarse - 1;
            for (int64_t l = c0; l <= c1; l += step) {
                if (l < 0 || l > (int64_t)maxlag)
                    continue;
                double c = corr_at(x, refp + t0 - l, BLOCK);
                if (c > bc) {
                    bc = c;
                    best = l;
                }
            }
        }
        const float *r = refp + t0 - best;
        double xr = 0, rr = 0, ee = 0;
        uint64_t same = 0;
        for (uint64_t i = 0; i < BLOCK; i++) {
            xr += (double)x[i] * r[i];
            rr += (double)r[i] * r[i];
            uint32_t u, w;
            memcpy(&u, x + i, 4);
            memcpy(&w, r + i, 4);
            same += u == w;
        }
        st->blocks_exact += same == BLOCK;
        double gain = rr > 0 ? xr / rr : 0;
        for (uint64_t i = 0; i < BLOCK; i++) {
            double e = (double)x[i] - gain * r[i];
            ee += e * e;
        }
        g[b] = gain > 0 ? 20.0 * log10(gain) : -INFINITY;
        q[b] = gain * gain * rr <= 0 ? -INFINITY : ee == 0 ? INFINITY : 10.0 * log10(gain * gain * rr / ee);
    }
    qsort(g, nb, sizeof *g, cmp_double);
    qsort(q, nb, sizeof *q, cmp_double);
    st->med_gain = nb ? g[nb / 2] : -INFINITY;
    st->med_snr = nb ? q[nb / 2] : -INFINITY;
    st->blocks = nb;
    free(g);
    free(q);
}

// Exact statistics of rec (n samples) against ref (aligned pointer, n samples).
static void full_stats(const float *rec, const float *ref, uint64_t n, struct pair_stats *st)
{
    double xr = 0, rr = 0, xx = 0;
    uint64_t exact = 0, run = 0, cur = 0;
    for (uint64_t i = 0; i < n; i++) {
        xr += (double)rec[i] * ref[i];
        rr += (double)ref[i] * ref[i];
        xx += (double)rec[i] * rec[i];
        uint32_t a, b;
        memcpy(&a, rec + i, 4);
        memcpy(&b, ref + i, 4);
        exact += a == b;
        cur = a == b ? cur + 1 : 0;
        if (cur > run)
            run = cur;
    }
    st->run = run;
    st->corr = (xx > 0 && rr > 0) ? xr / sqrt(xx * rr) : 0.0;
    st->gain = rr > 0 ? xr / rr : 0.0;
    double noise = 0;
    for (uint64_t i = 0; i < n; i++) {
        double e = (double)rec[i] - st->gain * ref[i];
        noise += e * e;
    }
    st->sig = st->gain * st->gain * rr;
    st->noise = noise;
    st->exact = (double)exact;
}

static double corr_at(const float *rec, const float *ref, uint64_t n)
{
    double xr = 0, rr = 0, xx = 0;
    for (uint64_t i = 0; i < n; i++) {
        xr += (double)rec[i] * ref[i];
        rr += (double)ref[i] * ref[i];
        xx += (double)rec[i] * rec[i];
    }
    return (xx > 0 && rr > 0) ? xr / sqrt(xx * rr) : 0.0;
}

// Finds the lag 0..maxlag maximising the normalised correlation of rec (n samples,
// rec[i] recorded at frame settle+i) with refp (refp[t] played at frame t, valid for
// t in [-maxlag, settle+n)). Coarse search on up to two windows of COARSE_WIN
// samples, then exact correlation over the whole recording for the best candidates.
static uint64_t find_lag(const float *rec, const float *refp, uint64_t settle, uint64_t n,
                         uint64_t maxlag, const double *pref2)
{
    // pref2[u] = sum of squares of refp[-maxlag .. -maxlag+u-1]
    uint64_t w = n < COARSE_WIN ? n : COARSE_WIN;
    int nwin = n >= 2 * w ? 2 : 1;
    uint64_t ws[2];
    double ex[2];
    for (int k = 0; k < nwin; k++) {
        ws[k] = (n - w) * (uint64_t)(k + 1) / (uint64_t)(nwin + 1);
        ex[k] = 0;
        for (uint64_t i = 0; i < w; i++)
            ex[k] += (double)rec[ws[k] + i] * rec[ws[k] + i];
    }
    uint64_t cand[COARSE_TOP];
    double cscore[COARSE_TOP];
    int ncand = 0;
    for (uint64_t lag = 0; lag <= maxlag; lag++) {
        double num = 0, er = 0, exx = 0;
        for (int k = 0; k < nwin; k++) {
            // ref index of rec[ws] is settle + ws - lag; offset into pref2 by +maxlag
            int64_t t = (int64_t)(settle + ws[k]) - (int64_t)lag;
            num += dotf(rec + ws[k], refp + t, (size_t)w);
            uint64_t u = (uint64_t)(t + (int64_t)maxlag);
            er += pref2[u + w] - pref2[u];
            exx += ex[k];
        }
        double score = (er > 0 && exx > 0) ? num / sqrt(er * exx) : 0.0;
        // keep the COARSE_TOP best, ties to the smaller lag
        int pos = ncand;
        while (pos > 0 && score > cscore[pos - 1])
            pos--;
        if (pos >= COARSE_TOP)
            continue;
        if (ncand < COARSE_TOP)
            ncand++;
        for (int m = ncand - 1; m > pos; m--) {
            cand[m] = cand[m - 1];
            cscore[m] = cscore[m - 1];
        }
        cand[pos] = lag;
        cscore[pos] = score;
    }
    uint64_t best = 0;
    double bestc = -INFINITY;
    for (int m = 0; m < ncand; m++) {
        double c = corr_at(rec, refp + (int64_t)settle - (int64_t)cand[m], n);
        if (c > bestc || (c == bestc && cand[m] < best)) {
            bestc = c;
            best = cand[m];
        }
    }
    return best;
}

// ---------------------------------------------------------------- OSC gain mode

#define OSC_PRE      1024 // frames before a send: lag search, old gain
#define OSC_MAXLIST  64
#define OSC_MAXSTEPS 1024
#define OSC_TAIL     256  // frames at the end of a window for end_err
#define TOL_REL      (1.0 / (1 << 21)) // "float precision": 2^-21, a few float ulps

struct osc_ctl {
    lo_server srv;
    lo_address addr;
    const char *path;
    int got;          // an answer on path arrived
    float value;
    int errors;       // /error answers
    char err[256];
};

struct step_res {
    int n, listpos;
    double from_db, to_db;
    int usable;
    const char *reason;
    uint64_t lag;
    int xruns;
    double corr;      // of the alignment before the send
    double delay;     // frames; INFINITY: nothing changed (late)
    int64_t ramp;     // frames; -1: not measured
    double rtt, ack;  // frames
    float echo;
    uint64_t changed, nonmono, overshoot;
    double slope, start_err, end_err;
    int click, late, same;
};

static int osc_handler(const char *path, const char *types, lo_arg **argv, int argc,
                       lo_message m, void *user)
{
    (void)m;
    struct osc_ctl *o = user;
    if (!strcmp(path, "/error")) {
        o->errors++;
        snprintf(o->err, sizeof o->err, "%s: %s",
                 argc >= 1 && types[0] == 's' ? bb_arg_str(argv[0]) : "?",
                 argc >= 2 && types[1] == 's' ? bb_arg_str(argv[1]) : "?");
    } else if (!strcmp(path, o->path) && argc == 1 && types[0] == 'f') {
        o->value = bb_arg_f32(argv[0]);
        o->got = 1;
    }
    return 0;
}

// Sends the path without argument (a query) and waits up to 2 s for the answer.
// t_sent, t_ans: JACK time (us) just before the send and at the answer.
static int osc_query(struct osc_ctl *o, float *val, jack_time_t *t_sent, jack_time_t *t_ans)
{
    o->got = 0;
    lo_message m = lo_message_new();
    *t_sent = jack_get_time();
    int rc = lo_send_message_from(o->addr, o->srv, o->path, m);
    lo_message_free(m);
    if (rc < 0) {
        fprintf(stderr, "bbprobe: OSC send failed: %s\n", lo_address_errstr(o->addr));
        return -1;
    }
    double deadline = now_s() + 2.0;
    while (!o->got) {
        int ms = (int)((deadline - now_s()) * 1000.0);
        if (ms <= 0) {
            fprintf(stderr, "bbprobe: no answer to the OSC query %s within 2 s\n", o->path);
            return -1;
        }
        lo_server_recv_noblock(o->srv, ms);
    }
    *t_ans = jack_get_time();
    *val = o->value;
    return 0;
}

static bool parse_steps(const char *s, double *v, int *n)
{
    char tmp[1024], *save = NULL;
    if (strlen(s) >= sizeof tmp)
        return false;
    snprintf(tmp, sizeof tmp, "%s", s);
    *n = 0;
    for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == OSC_MAXLIST || !parse_double(t, -60, 12, &v[*n]))
            return false;
        (*n)++;
    }
    return *n > 0;
}

// Waits until the process thread has finished pos q (or the server went away,
// or the deadline passed). True when reached.
static bool wait_pos(struct probe *p, uint64_t q, double deadline)
{
    while (atomic_load_explicit(&p->pub_pos, memory_order_acquire) < q) {
        if (atomic_load(&p->shutdown) || now_s() > deadline)
            return false;
        nap_ms(1);
    }
    return true;
}

// Time (us, JACK clock) from t to the run of the process callback that played and
// recorded pos q (its cycle must be finished), plus q's offset in that period.
static double time_rel_us(const struct probe *p, uint64_t q, jack_time_t t, double rate)
{
    return (double)(int64_t)(p->cyc_run[q / p->period] - t) + (double)(q % p->period) * 1e6 / rate;
}

// The first pos of the first cycle whose callback ran after t (the first that can
// hear a change made at t). Waits until there is one; UINT64_MAX on timeout.
static uint64_t pos_after(struct probe *p, jack_time_t t, double deadline)
{
    uint64_t PER = p->period, n;
    for (;;) {
        n = atomic_load_explicit(&p->pub_pos, memory_order_acquire) / PER; // finished cycles
        if (n > 0 && p->cyc_run[n - 1] > t)
            break;
        if (atomic_load(&p->shutdown) || now_s() > deadline)
            return UINT64_MAX;
        nap_ms(1);
    }
    uint64_t lo = 0, hi = n - 1; // cyc_run is increasing; cyc_run[hi] > t
    if (p->cyc_run[0] > t)
        return 0;
    while (hi - lo > 1) { // cyc_run[lo] <= t < cyc_run[hi]
        uint64_t mid = lo + (hi - lo) / 2;
        if (p->cyc_run[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return hi * PER;
}

// Per-sample gain of rec[i] against the reference at lag l (NAN if that is 0).
static double ratio_at(const struct probe *p, int64_t i, int64_t l)
{
    float x = p->ref[0][(int64_t)p->pad + (int64_t)p->settle + i - l];
    return x != 0.0f ? (double)p->rec[0][i] / x : NAN;
}

// How rec[a, b) (one cycle's worth) is explained: 0: at lag l (three quarters of its
// samples' gains inside [lo, hi]); 1: at whole-period shifts of l (90% of the
// samples inside [lo, hi] and within maxstep of the previous sample at the same
// lag, at l or at l +- 1..4 periods: a discontinuity, whole or from some sample
// on); 2: digital silence; 3: not at all. Samples before i_min are not used as
// the previous one.
static int chunk_kind(const struct probe *p, int64_t a, int64_t b, int64_t i_min, uint64_t l,
                      double lo, double hi, double maxstep)
{
    const int64_t per = p->period;
    uint64_t nuse = 0, at_l = 0, other = 0, zero = 1;
    for (int64_t i = a; i < b; i++) {
        zero &= p->rec[0][i] == 0.0f;
        double r = ratio_at(p, i, (int64_t)l);
        if (isnan(r))
            continue;
        nuse++;
        if (r >= lo && r <= hi) {
            at_l++;
            continue;
        }
        for (int64_t m = -4; m <= 4; m++) {
            int64_t l2 = (int64_t)l + m * per;
            if (m == 0 || l2 < 0 || l2 > (int64_t)p->pad || i - 1 < i_min)
                continue;
            double r2 = ratio_at(p, i, l2), r1 = ratio_at(p, i - 1, l2);
            if (r2 >= lo && r2 <= hi && fabs(r2 - r1) <= maxstep) {
                other++;
                break;
            }
        }
    }
    if (at_l * 4 >= nuse * 3)
        return 0;
    if (zero)
        return 2;
    return (at_l + other) * 10 >= nuse * 9 ? 1 : 3;
}

// Judges one step: window rec[is - OSC_PRE, is + post), is the recording index of
// the send. g_law: the law factor (0 until measured; set here by the first step
// with a lag).
static void analyse_step(struct probe *p, uint64_t q_send, jack_time_t t_send, uint64_t post,
                         double rate, double *g_law, struct step_res *s)
{
    const float *rec = p->rec[0];
    const float *refp = p->ref[0] + p->pad;
    const int64_t PER = p->period, settle = (int64_t)p->settle;
    const int64_t is = (int64_t)q_send - settle, i0 = is - OSC_PRE, i1 = is + (int64_t)post;
    s->usable = 0;
    s->delay = INFINITY;
    s->ramp = -1;
    s->same = s->from_db == s->to_db;

    // xruns JACK reported near the window (notifications come late: more after)
    int nx = atomic_load_explicit(&p->nxrun_us, memory_order_acquire);
    double w0 = time_rel_us(p, (uint64_t)(settle + i0), t_send, rate) - 4e3;
    double w1 = time_rel_us(p, (uint64_t)(settle + i1 - 1), t_send, rate) + 50e3;
    s->xruns = 0;
    for (int k = 0; k < nx; k++) {
        double x = (double)(int64_t)(p->xrun_us[k] - t_send);
        s->xruns += x >= w0 && x <= w1;
    }

    // 1. the lag, from the OSC_PRE samples before the send (old gain, steady)
    double bestc = -2;
    uint64_t best = 0;
    for (uint64_t l = 0; l <= p->pad; l++) {
        const float *r = refp + settle + i0 - (int64_t)l;
        double xr = 0, rr = 0, xx = 0;
        for (int64_t i = 0; i < OSC_PRE; i++) {
            xr += (double)rec[i0 + i] * r[i];
            rr += (double)r[i] * r[i];
            xx += (double)rec[i0 + i] * rec[i0 + i];
        }
        double c = xx > 0 && rr > 0 ? xr / sqrt(xx * rr) : 0;
        if (c > bestc) {
            bestc = c;
            best = l;
        }
    }
    s->lag = best;
    s->corr = bestc;
    if (bestc < 0.99999) {
        s->reason = "nolag";
        return;
    }

    // 2. the per-sample gain over the window (NAN where the reference is 0)
    const int64_t n = i1 - i0;
    double *g = malloc((size_t)n * sizeof *g), *tmp = malloc((size_t)n * sizeof *tmp);
    if (!g || !tmp) {
        free(g);
        free(tmp);
        s->reason = "nomem";
        return;
    }
    int64_t nt = 0;
    for (int64_t i = 0; i < n; i++) {
        float x = refp[settle + i0 + i - (int64_t)best];
        g[i] = x != 0.0f ? (double)rec[i0 + i] / x : NAN;
        if (i < OSC_PRE && x != 0.0f)
            tmp[nt++] = g[i];
    }
    qsort(tmp, (size_t)nt, sizeof *tmp, cmp_double);
    double g_old = nt ? tmp[nt / 2] : 0;
    free(tmp);
    if (!(g_old > 0)) {
        s->reason = "nolag";
        free(g);
        return;
    }
    if (*g_law == 0)
        *g_law = g_old / pow(10.0, s->from_db / 20.0);
    double e_old = *g_law * pow(10.0, s->from_db / 20.0), e_new = *g_law * pow(10.0, s->to_db / 20.0);
    double lo = fmin(e_old, e_new), hi = fmax(e_old, e_new), tol = TOL_REL * hi;

    // 3. alignment: is every cycle's worth of samples explained at this lag? If
    //    not, a discontinuity makes the step unusable: the samples are explained
    //    at whole-period shifts of the lag (all of them, or from some sample on),
    //    or they are digital silence with an xrun reported near the window.
    //    Anything else is the hub's doing: garbled, a click.
    int garbled = 0, shifted = 0, silent = 0;
    double env_lo = lo - 0.01 * hi, env_hi = hi * 1.01, maxstep = 2.0 * (hi - lo) / (0.005 * rate) + tol;
    for (int64_t c0 = i0 - ((settle + i0) % PER); c0 < i1; c0 += PER) {
        int64_t a = c0 < i0 ? i0 : c0, b = c0 + PER > i1 ? i1 : c0 + PER;
        switch (chunk_kind(p, a, b, i0, best, env_lo, env_hi, maxstep)) {
        case 0:
            break;
        case 1:
            shifted = 1;
            break;
        case 2:
            silent = 1;
            break;
        default:
            garbled = 1;
        }
    }
    if (shifted || (silent && !garbled && s->xruns)) {
        s->reason = shifted ? "shift" : "xrun";
        free(g);
        return;
    }
    garbled |= silent;
    s->usable = 1;
    s->reason = garbled ? "garbled" : "ok";

    // 4. the step itself
    s->start_err = fabs(g_old / e_old - 1.0);
    s->changed = 0;
    int64_t first = -1, last_off = -1; // first sample off the old gain, last off the new
    for (int64_t i = 0; i < n; i++) {
        if (isnan(g[i]))
            continue;
        if (fabs(g[i] - g_old) > tol) {
            s->changed++;
            if (first < 0)
                first = i;
        }
        if (fabs(g[i] - e_new) > tol)
            last_off = i;
    }
    s->end_err = 0;
    for (int64_t i = n - OSC_TAIL; i < n; i++)
        if (!isnan(g[i]) && fabs(g[i] / e_new - 1.0) > s->end_err)
            s->end_err = fabs(g[i] / e_new - 1.0);
    int end_ok = last_off < n - 2 * PER;
    if (!s->same && first >= 0) {
        // A cycle bbprobe missed (or JACK's frame counter jumping after an xrun)
        // between the send and the end of the ramp: the hub's output of a missed
        // cycle was never recorded, which shortens the ramp as seen here by a whole
        // period (measured: ramp_frames=193, slope=60) with the alignment intact.
        int64_t ca = (settle + is) / PER - 1, cb = (settle + i0 + last_off + 1) / PER + 1;
        if (ca < (settle + i0) / PER)
            ca = (settle + i0) / PER;
        if (cb > (settle + i1 - 1) / PER)
            cb = (settle + i1 - 1) / PER;
        for (int64_t c = ca; c < cb; c++) {
            if ((int32_t)(p->cyc_ft[c + 1] - p->cyc_ft[c]) != (int32_t)PER) {
                s->usable = 0;
                s->reason = "skip";
                free(g);
                return;
            }
        }
    }
    s->nonmono = s->overshoot = 0;
    s->slope = 0;
    if (!s->same && first >= 0) {
        s->delay = time_rel_us(p, (uint64_t)(settle + i0 + first), t_send, rate) * rate / 1e6;
        if (end_ok)
            s->ramp = last_off + 1 - first + 1;
        double dir = e_new > e_old ? 1 : -1, prev = g_old;
        int64_t iprev = first - 1;
        for (int64_t i = first; i < n; i++) {
            if (isnan(g[i]))
                continue;
            if ((g[i] - prev) * dir < -tol)
                s->nonmono++;
            double sl = fabs(g[i] - prev) / (double)(i - iprev);
            if (sl > s->slope)
                s->slope = sl;
            if (g[i] < lo - tol || g[i] > hi + tol)
                s->overshoot++;
            prev = g[i];
            iprev = i;
        }
        // relative to a 5 ms linear ramp over the whole step
        s->slope /= fabs(e_new - e_old) / (0.005 * rate);
    } else if (!s->same) {
        s->late = 1;
    }
    // A late step (nothing changed in the window) is a timing failure, not a click;
    // its end value is of course not reached.
    s->click = garbled || s->nonmono || s->overshoot || s->slope > 1.01 ||
               s->start_err > TOL_REL || (!s->late && (!end_ok || s->end_err > TOL_REL));
    free(g);
}

static void print_step(const struct step_res *s)
{
    char d[32], r[32];
    if (!s->usable || s->same)
        snprintf(d, sizeof d, "none");
    else
        fmt_db(d, sizeof d, s->delay, 1);
    if (s->ramp < 0)
        snprintf(r, sizeof r, "none");
    else
        snprintf(r, sizeof r, "%" PRId64, s->ramp);
    printf("osc_step n=%d from_db=%.3f to_db=%.3f usable=%d reason=%s lag=%" PRIu64
           " corr=%.6f xruns=%d delay_frames=%s ramp_frames=%s rtt_frames=%.1f ack_frames=%.1f echo_db=%.3f",
           s->n, s->from_db, s->to_db, s->usable, s->reason, s->lag, s->corr, s->xruns, d, r, s->rtt, s->ack,
           (double)s->echo);
    if (s->usable)
        printf(" changed=%" PRIu64 " nonmono=%" PRIu64 " slope=%.3f overshoot=%" PRIu64
               " start_err=%.1e end_err=%.1e click=%d late=%d",
               s->changed, s->nonmono, s->slope, s->overshoot, s->start_err, s->end_err, s->click,
               s->late);
    printf("\n");
}

struct osc_opts {
    const char *target, *path;
    double steps[OSC_MAXLIST];
    int nsteps;
    double interval, window;
    long usable;
};

// Runs the steps while the process thread records; stops the recording (end_pos)
// when done. Returns 0, or 1 on error (message on stderr).
static int osc_run(struct probe *p, const struct osc_opts *oo, double rate, struct step_res *res,
                   int *nres, double *init_db, double *g_law, int *complete)
{
    struct osc_ctl o = { .path = oo->path };
    char host[256];
    const char *colon = strrchr(oo->target, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - oo->target), oo->target);
    o.addr = lo_address_new(host, colon + 1);
    o.srv = lo_server_new(NULL, NULL);
    if (!o.addr || !o.srv) {
        fprintf(stderr, "bbprobe: cannot open an OSC socket for %s\n", oo->target);
        if (o.addr)
            lo_address_free(o.addr);
        return 1;
    }
    lo_server_add_method(o.srv, NULL, NULL, osc_handler, &o);
    int rc = 1;
    const uint64_t PER = p->period, post = (uint64_t)llround(oo->window * rate);
    const uint64_t step_gap = (uint64_t)llround(oo->interval * rate);
    const uint64_t rec_end = p->settle + p->nrec;
    int covered[OSC_MAXLIST] = { 0 }, ncovered = 0, usable = 0;
    float v;
    jack_time_t t0, t1, t2;
    *nres = 0;
    *complete = 0;
    *g_law = 0;

    if (osc_query(&o, &v, &t0, &t1) < 0)
        goto out;
    if (o.errors) {
        fprintf(stderr, "bbprobe: the hub refused the query: %s\n", o.err);
        goto out;
    }
    if (!isfinite(v)) {
        fprintf(stderr, "bbprobe: %s is %f dB: nothing to measure against\n", oo->path, (double)v);
        goto out;
    }
    *init_db = v;
    double cur = v;
    uint64_t next = p->settle + OSC_PRE + 4 * PER; // first send: after a baseline
    for (int k = 0; k < OSC_MAXSTEPS; k++) {
        if (usable >= oo->usable && ncovered == oo->nsteps) {
            *complete = 1;
            break;
        }
        // room for the window (and a few periods of slack) in the recording?
        if (next + post + 8 * PER > rec_end)
            break;
        double deadline = now_s() + 2.0 * (double)(next + post - p->settle) / rate + 10.0;
        if (!wait_pos(p, next, deadline))
            break;
        struct step_res *s = &res[(*nres)++];
        memset(s, 0, sizeof *s);
        s->n = k + 1;
        s->listpos = k % oo->nsteps;
        s->from_db = cur;
        s->to_db = oo->steps[s->listpos];
        if (osc_query(&o, &v, &t0, &t1) < 0)
            goto out;
        s->rtt = (double)(t1 - t0) * rate / 1e6;

        lo_message m = lo_message_new();
        lo_message_add_float(m, (float)s->to_db);
        jack_time_t t_send = t0 = jack_get_time();
        int e = lo_send_message_from(o.addr, o.srv, o.path, m);
        lo_message_free(m);
        if (e < 0) {
            fprintf(stderr, "bbprobe: OSC send failed: %s\n", lo_address_errstr(o.addr));
            goto out;
        }
        if (osc_query(&o, &v, &t1, &t2) < 0)
            goto out;
        if (o.errors) {
            fprintf(stderr, "bbprobe: the hub refused %s %.3f: %s\n", o.path, s->to_db, o.err);
            goto out;
        }
        s->ack = (double)(t2 - t0) * rate / 1e6;
        s->echo = v;
        cur = s->to_db;

        uint64_t q = pos_after(p, t_send, now_s() + 10.0);
        if (q == UINT64_MAX || q < p->settle + OSC_PRE || q + post > rec_end) {
            // cannot be judged where it landed (JACK stalled): not a result
            s->usable = 0;
            s->reason = "skip";
            next = (q == UINT64_MAX ? next : q) + step_gap;
            continue;
        }
        if (!wait_pos(p, q + post, now_s() + 2.0 * oo->window + 10.0))
            break;
        analyse_step(p, q, t_send, post, rate, g_law, s);
        if (s->usable && !covered[s->listpos]) {
            covered[s->listpos] = 1;
            ncovered++;
        }
        usable += s->usable;
        next = q + (step_gap > post + PER ? step_gap : post + PER);
    }
    rc = 0;
    if (atomic_load_explicit(&p->period_changed, memory_order_relaxed)) {
        fprintf(stderr, "bbprobe: the JACK period changed during the run\n");
        rc = 1;
    }
    // Leave the hub as it was.
    lo_send_from(o.addr, o.srv, LO_TT_IMMEDIATE, o.path, "f", (float)*init_db);
out:
    lo_server_free(o.srv);
    lo_address_free(o.addr);
    return rc;
}

static void print_osc_summary(const struct step_res *res, int n, double init_db, double g_law,
                              int complete)
{
    int usable = 0, skip = 0, nolag = 0, shift = 0, xrun = 0, late = 0, clicks = 0, same = 0;
    uint64_t same_changed = 0;
    int64_t ramp_min = INT64_MAX, ramp_max = -1;
    double d[OSC_MAXSTEPS], rt[OSC_MAXSTEPS], ak[OSC_MAXSTEPS], slope_max = 0, end_max = 0;
    int nd = 0, nr = 0;
    for (int i = 0; i < n; i++) {
        const struct step_res *s = &res[i];
        rt[nr] = s->rtt;
        ak[nr++] = s->ack;
        if (!s->usable) {
            skip += !strcmp(s->reason, "skip");
            nolag += !strcmp(s->reason, "nolag");
            shift += !strcmp(s->reason, "shift");
            xrun += !strcmp(s->reason, "xrun");
            continue;
        }
        usable++;
        clicks += s->click;
        if (s->end_err > end_max)
            end_max = s->end_err;
        if (s->same) {
            same++;
            same_changed += s->changed;
            continue;
        }
        late += s->late;
        d[nd++] = s->delay;
        if (s->slope > slope_max)
            slope_max = s->slope;
        if (s->ramp >= 0 && s->ramp < ramp_min)
            ramp_min = s->ramp;
        if (s->ramp > ramp_max)
            ramp_max = s->ramp;
    }
    qsort(d, (size_t)nd, sizeof *d, cmp_double);
    qsort(rt, (size_t)nr, sizeof *rt, cmp_double);
    qsort(ak, (size_t)nr, sizeof *ak, cmp_double);
    char dm[32] = "none", dmin[32] = "none", dmax[32] = "none";
    if (nd) {
        fmt_db(dm, sizeof dm, d[nd / 2], 1);
        fmt_db(dmin, sizeof dmin, d[0], 1);
        fmt_db(dmax, sizeof dmax, d[nd - 1], 1);
    }
    printf("osc_gain steps=%d usable=%d unusable=%d skip=%d nolag=%d shift=%d xrun=%d late=%d "
           "clicks=%d same=%d same_changed=%" PRIu64 " delay_med=%s delay_min=%s delay_max=%s "
           "rtt_med=%.1f rtt_max=%.1f ack_med=%.1f ack_max=%.1f ramp_min=%" PRId64
           " ramp_max=%" PRId64 " slope_max=%.3f end_err_max=%.1e law_db=%.3f law_gain=%.9f "
           "init_db=%.3f complete=%d\n",
           n, usable, n - usable, skip, nolag, shift, xrun, late, clicks, same, same_changed, dm,
           dmin, dmax, nr ? rt[nr / 2] : 0.0, nr ? rt[nr - 1] : 0.0, nr ? ak[nr / 2] : 0.0,
           nr ? ak[nr - 1] : 0.0, ramp_max < 0 ? (int64_t)-1 : ramp_min, ramp_max, slope_max,
           end_max, g_law > 0 ? 20.0 * log10(g_law) : -INFINITY, g_law, init_db, complete);
}

// ---------------------------------------------------------------- main

int main(int argc, char **argv)
{
    const char *name = "bbprobe", *dump = NULL;
    long nout = 1, nin = 1, maxlag = 4800;
    double seconds = 3, settle = 1, amp = 0.25, timeout = 10;
    char *connects[MAX_LIST], *waitports[MAX_LIST], *waitconns[MAX_LIST];
    int nconn = 0, nwaitp = 0, nwaitc = 0;
    struct osc_opts oo = { .target = NULL, .path = "/mix/main/ch/in_1/gain",
                           .steps = { -6, 0, -12, -12, 0 }, .nsteps = 5,
                           .interval = 0.12, .window = 0.1, .usable = 10 };

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bbprobe: %s: missing value or unknown option\n", o);
            usage(stderr);
            return 1;
        }
        const char *v = argv[++i];
        bool good = true;
        if (!strcmp(o, "--name"))
            name = v, good = *v && strlen(v) <= (size_t)jack_client_name_size() - 1;
        else if (!strcmp(o, "--outs"))
            good = parse_long(v, 0, MAX_PORTS, &nout);
        else if (!strcmp(o, "--ins"))
            good = parse_long(v, 0, MAX_PORTS, &nin);
        else if (!strcmp(o, "--seconds"))
            good = parse_double(v, 0.01, 3600, &seconds);
        else if (!strcmp(o, "--settle"))
            good = parse_double(v, 0, 3600, &settle);
        else if (!strcmp(o, "--signal"))
            tonal = !strcmp(v, "tones"), good = tonal || !strcmp(v, "noise");
        else if (!strcmp(o, "--amp"))
            good = parse_double(v, 0, 1, &amp);
        else if (!strcmp(o, "--max-lag"))
            good = parse_long(v, 0, 10 * 192000, &maxlag);
        else if (!strcmp(o, "--timeout"))
            good = parse_double(v, 0, 3600, &timeout);
        else if (!strcmp(o, "--dump"))
            dump = v;
        else if (!strcmp(o, "--osc")) {
            const char *c = strrchr(v, ':');
            long port;
            oo.target = v;
            good = c && c != v && (size_t)(c - v) < 256 && parse_long(c + 1, 1, 65535, &port);
        } else if (!strcmp(o, "--osc-path"))
            oo.path = v, good = *v == '/';
        else if (!strcmp(o, "--osc-steps"))
            good = parse_steps(v, oo.steps, &oo.nsteps);
        else if (!strcmp(o, "--osc-interval"))
            good = parse_double(v, 0.01, 60, &oo.interval);
        else if (!strcmp(o, "--osc-window"))
            good = parse_double(v, 0.02, 10, &oo.window);
        else if (!strcmp(o, "--osc-usable"))
            good = parse_long(v, 0, OSC_MAXSTEPS / 2, &oo.usable);
        else if (!strcmp(o, "--connect") || !strcmp(o, "--wait-connection") ||
                 !strcmp(o, "--wait-port")) {
            bool is_wp = !strcmp(o, "--wait-port");
            char **list = is_wp ? waitports : !strcmp(o, "--connect") ? connects : waitconns;
            int *cnt = is_wp ? &nwaitp : !strcmp(o, "--connect") ? &nconn : &nwaitc;
            char tmp[512], *s, *d;
            snprintf(tmp, sizeof tmp, "%s", v);
            good = *cnt < MAX_LIST && strlen(v) < 256 && (is_wp ? *v != 0 : split_pair(tmp, &s, &d));
            if (good)
                list[(*cnt)++] = argv[i];
        } else {
            fprintf(stderr, "bbprobe: unknown option %s\n", o);
            usage(stderr);
            return 1;
        }
        if (!good) {
            fprintf(stderr, "bbprobe: bad value for %s: '%s'\n", o, v);
            return 1;
        }
    }

    if (oo.target && (nout < 1 || nin < 1)) {
        fprintf(stderr, "bbprobe: --osc needs --outs and --ins of at least 1\n");
        return 1;
    }
    struct probe *p = &P;
    p->nout = (int)nout;
    p->nin = (int)nin;
    atomic_init(&p->armed, 0);
    atomic_init(&p->phase, PH_IDLE);
    atomic_init(&p->xruns, 0);
    atomic_init(&p->shutdown, 0);
    atomic_init(&p->pub_pos, 0);
    atomic_init(&p->period_changed, 0);
    atomic_init(&p->nxrun_us, 0);

    jack_status_t jst;
    p->client = jack_client_open(name, JackNoStartServer | JackUseExactName, &jst);
    if (!p->client) {
        fprintf(stderr, "bbprobe: cannot open JACK client '%s' (status 0x%x)%s\n", name,
                (unsigned)jst,
                (jst & JackNameNotUnique) ? ": name in use" :
                (jst & JackServerFailed) ? ": no server (JACK_DEFAULT_SERVER?)" :
                (jst & JackServerError) ? ": refused by the server (name in use?)" : "");
        return 1;
    }
    const char *cname = jack_get_client_name(p->client);
    for (int k = 0; k < p->nout; k++) {
        char pn[32];
        snprintf(pn, sizeof pn, "out_%d", k + 1);
        p->out[k] = jack_port_register(p->client, pn, JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
        if (!p->out[k]) {
            fprintf(stderr, "bbprobe: cannot register %s\n", pn);
            return 1;
        }
    }
    for (int j = 0; j < p->nin; j++) {
        char pn[32];
        snprintf(pn, sizeof pn, "in_%d", j + 1);
        p->in[j] = jack_port_register(p->client, pn, JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
        if (!p->in[j]) {
            fprintf(stderr, "bbprobe: cannot register %s\n", pn);
            return 1;
        }
    }

    double rate = jack_get_sample_rate(p->client);
    jack_nframes_t period = jack_get_buffer_size(p->client);
    p->settle = (uint64_t)llround(settle * rate);
    p->nrec = (uint64_t)llround(seconds * rate);
    if (p->nrec == 0)
        p->nrec = 1;
    p->pad = (uint64_t)maxlag;
    p->total = p->settle + p->nrec + p->pad;
    p->period = period;
    atomic_init(&p->end_pos, p->settle + p->nrec);
    p->ncyc = p->total / period + 2;
    p->cyc_run = oo.target ? calloc(p->ncyc, sizeof *p->cyc_run) : NULL;
    p->cyc_ft = oo.target ? calloc(p->ncyc, sizeof *p->cyc_ft) : NULL;
    p->xrun_us = oo.target ? calloc(XRUN_MAX, sizeof *p->xrun_us) : NULL;
    if (oo.target && (!p->cyc_run || !p->cyc_ft || !p->xrun_us)) {
        fprintf(stderr, "bbprobe: out of memory\n");
        return 1;
    }
    for (int k = 0; k < p->nout; k++) {
        p->ref[k] = calloc(p->pad + p->total, sizeof(float));
        if (!p->ref[k]) {
            fprintf(stderr, "bbprobe: out of memory\n");
            return 1;
        }
        make_reference(p->ref[k] + p->pad, p->total, k + 1, amp);
    }
    for (int j = 0; j < p->nin; j++) {
        p->rec[j] = malloc(p->nrec * sizeof(float));
        if (!p->rec[j]) {
            fprintf(stderr, "bbprobe: out of memory\n");
            return 1;
        }
        memset(p->rec[j], 0, p->nrec * sizeof(float)); // fault the pages in now
    }

    // Wait for ports of other clients before activating.
    double deadline = now_s() + timeout;
    for (int i = 0; i < nwaitp; i++) {
        char pn[512];
        full_name(pn, sizeof pn, cname, waitports[i]);
        for (;;) {
            jack_port_t *wp = jack_port_by_name(p->client, pn);
            if (wp)
                break;
            if (now_s() > deadline) {
                fprintf(stderr, "bbprobe: port %s did not appear within %.1f s\n", pn, timeout);
                printf("status=timeout\n");
                jack_client_close(p->client);
                return 2;
            }
            nap_ms(10);
        }
    }

    jack_set_process_callback(p->client, process_cb, p);
    jack_set_xrun_callback(p->client, xrun_cb, p);
    jack_on_shutdown(p->client, shutdown_cb, p);
    if (jack_activate(p->client)) {
        fprintf(stderr, "bbprobe: cannot activate\n");
        jack_client_close(p->client);
        return 1;
    }

    int rc = 0;
    for (int i = 0; i < nconn && !rc; i++) {
        char tmp[512], s1[512], d1[512], *s, *d;
        snprintf(tmp, sizeof tmp, "%s", connects[i]);
        split_pair(tmp, &s, &d);
        full_name(s1, sizeof s1, cname, s);
        full_name(d1, sizeof d1, cname, d);
        int e = jack_connect(p->client, s1, d1);
        if (e && e != EEXIST) {
            fprintf(stderr, "bbprobe: cannot connect %s to %s (%d)\n", s1, d1, e);
            rc = 1;
        }
    }
    deadline = now_s() + timeout;
    for (int i = 0; i < nwaitc && !rc; i++) {
        char tmp[512], s1[512], d1[512], *s, *d;
        snprintf(tmp, sizeof tmp, "%s", waitconns[i]);
        split_pair(tmp, &s, &d);
        full_name(s1, sizeof s1, cname, s);
        full_name(d1, sizeof d1, cname, d);
        for (;;) {
            jack_port_t *sp = jack_port_by_name(p->client, s1);
            if (sp && jack_port_connected_to(sp, d1))
                break;
            if (now_s() > deadline) {
                fprintf(stderr, "bbprobe: %s -> %s not connected within %.1f s\n", s1, d1,
                        timeout);
                rc = 2;
                break;
            }
            nap_ms(10);
        }
    }

    static struct step_res osc_res[OSC_MAXSTEPS];
    int osc_n = 0, osc_complete = 0;
    double osc_init = 0, osc_law = 0;
    if (!rc) {
        atomic_store_explicit(&p->armed, 1, memory_order_release);
        if (oo.target) {
            if (osc_run(p, &oo, rate, osc_res, &osc_n, &osc_init, &osc_law, &osc_complete))
                rc = 1;
            // Stop recording here: everything below end_pos gets recorded.
            uint64_t stop = atomic_load_explicit(&p->pub_pos, memory_order_acquire) + period;
            if (stop <= p->settle)
                stop = p->settle + period;
            if (stop < atomic_load(&p->end_pos))
                atomic_store_explicit(&p->end_pos, stop, memory_order_release);
        }
        // Generous: the run itself plus --timeout for a stalled or starved server.
        deadline = now_s() + 2.0 * (double)(p->settle + p->nrec) / rate + timeout + 1.0;
        while (!rc && atomic_load_explicit(&p->phase, memory_order_acquire) != PH_DONE) {
            if (atomic_load(&p->shutdown)) {
                fprintf(stderr, "bbprobe: JACK server shut down\n");
                rc = 1;
                break;
            }
            if (now_s() > deadline) {
                fprintf(stderr, "bbprobe: recording did not finish in time\n");
                rc = 2;
                break;
            }
            nap_ms(5);
        }
    }
    int xruns = atomic_load(&p->xruns);
    if (!atomic_load(&p->shutdown)) {
        jack_deactivate(p->client);
        jack_client_close(p->client);
    }
    if (rc) {
        printf("status=%s\n", rc == 2 ? "timeout" : "error");
        return rc;
    }

    uint64_t endp = atomic_load(&p->end_pos);
    if (endp > p->settle && endp - p->settle < p->nrec)
        p->nrec = endp - p->settle; // the OSC mode stopped early

    if (dump) {
        FILE *f = fopen(dump, "wb");
        if (!f) {
            fprintf(stderr, "bbprobe: %s: %s\n", dump, strerror(errno));
        } else {
            for (uint64_t i = 0; i < p->nrec; i++)
                for (int j = 0; j < p->nin; j++)
                    fwrite(p->rec[j] + i, sizeof(float), 1, f);
            if (fclose(f))
                fprintf(stderr, "bbprobe: %s: write failed\n", dump);
        }
    }

    printf("rate=%.0f period=%u frames=%" PRIu64 "\n", rate, (unsigned)period, p->nrec);
    if (oo.target) {
        for (int i = 0; i < osc_n; i++)
            print_step(&osc_res[i]);
        print_osc_summary(osc_res, osc_n, osc_init, osc_law, osc_complete);
    }

    // Prefix sums of squares of each reference (for the coarse normalisation).
    double *pref2s[MAX_PORTS] = { 0 };
    for (int k = 0; k < p->nout; k++) {
        pref2s[k] = malloc((p->pad + p->total + 1) * sizeof(double));
        if (!pref2s[k]) {
            fprintf(stderr, "bbprobe: out of memory\n");
            return 1;
        }
        pref2s[k][0] = 0;
        for (uint64_t u = 0; u < p->pad + p->total; u++)
            pref2s[k][u + 1] = pref2s[k][u] + (double)p->ref[k][u] * p->ref[k][u];
    }

    char b1[32], b2[32], b3[32], b4[32], b5[32];
    for (int j = 0; j < p->nin; j++) {
        const float *rec = p->rec[j];
        double xx = 0;
        for (uint64_t i = 0; i < p->nrec; i++)
            xx += (double)rec[i] * rec[i];
        printf("in_%d rms_db=%s\n", j + 1, fmt_db(b1, sizeof b1, db10(xx / (double)p->nrec), 1));
        for (int k = 0; k < p->nout; k++) {
            const float *refp = p->ref[k] + p->pad; // refp[t]: played at frame t
            struct pair_stats st;
            st.lag = find_lag(rec, refp, p->settle, p->nrec, p->pad, pref2s[k]);
            full_stats(rec, refp + (int64_t)p->settle - (int64_t)st.lag, p->nrec, &st);
            block_stats(rec, refp, p->settle, st.lag, p->pad, p->nrec, &st);
            if (getenv("BBPROBE_BLOCKS")) {
                // Debugging aid: the best lag (multiple of 16) of every block.
                printf("# in_%d out_%d block lags:", j + 1, k + 1);
                for (uint64_t b = 0; b + BLOCK <= p->nrec; b += BLOCK) {
                    uint64_t best = 0;
                    double bc = -2;
                    for (uint64_t lag = 0; lag <= p->pad && lag <= p->settle + b; lag += 16) {
                        double c = corr_at(rec + b, refp + (int64_t)p->settle + (int64_t)b - (int64_t)lag, BLOCK);
                        if (c > bc) {
                            bc = c;
                            best = lag;
                        }
                    }
                    printf(" %" PRIu64 "%s", best, bc > 0.99 ? "" : bc > 0.5 ? "~" : "?");
                }
                printf("\n");
            }
            double gain_db = st.gain != 0 ? 20.0 * log10(fabs(st.gain)) : -INFINITY;
            double snr = st.sig <= 0 ? -INFINITY : st.noise == 0 ? INFINITY
                                                                 : 10.0 * log10(st.sig / st.noise);
            printf("in_%d out_%d lag=%" PRIu64 " corr=%.6f gain_db=%s snr_db=%s exact=%.0f "
                   "mismatch=%.0f rms_db=%s run=%" PRIu64 " med_gain_db=%s med_snr_db=%s blocks=%" PRIu64 " blocks_exact=%" PRIu64 "\n",
                   j + 1, k + 1, st.lag, st.corr, fmt_db(b1, sizeof b1, gain_db, 3),
                   fmt_db(b2, sizeof b2, snr, 2), st.exact, (double)p->nrec - st.exact,
                   fmt_db(b3, sizeof b3, db10(st.sig / (double)p->nrec), 1), st.run,
                   fmt_db(b4, sizeof b4, st.med_gain, 3), fmt_db(b5, sizeof b5, st.med_snr, 2),
                   st.blocks, st.blocks_exact);
        }
    }
    printf("xruns=%d\n", xruns);
    printf("status=ok\n");
    fflush(stdout);
    for (int k = 0; k < p->nout; k++) {
        free(p->ref[k]);
        free(pref2s[k]);
    }
    for (int j = 0; j < p->nin; j++)
        free(p->rec[j]);
    free(p->cyc_run);
    free(p->cyc_ft);
    free(p->xrun_us);
    return 0;
}
