// SPDX-License-Identifier: GPL-2.0-or-later
// test_jbuf.c: jitter buffer: exact pass-through at the target depth, gap
// concealment and counters, underrun fade and refill, trimming a standing
// excess back to target, frames owed by an underrun cut when they come,
// a missed consumer cycle; the lag from
// timestamps (late frames cut at once, restart at the calm lag, missed
// cycles, a sender's new clock, a sender that slipped, a restart into
// the resampler); clock drift: a simulated producer ppm fast or slow,
// followed by the resampler (bit exact without drift, no click, no fault
// after lock, a clean sine).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec.h"
#include "jbuf.h"

#define RATE 48000
#define F    64

static float sample(uint32_t i)
{
    return (float)((int)(i * 2654435761u >> 20) % 8000 - 4000) / 32768.0f;
}

// Encodes frames [first, first+F) of the test signal as one float packet.
static int packet(struct bb_encoder *e, uint32_t first, uint8_t *out)
{
    float pcm[F];
    for (uint32_t i = 0; i < F; i++)
        pcm[i] = sample(first + i);
    return bb_encode(e, pcm, out, 1024);
}

// The tests of the restart turn the gap's prediction off with a budget of
// 0 channels, and so hear the fade out, the silence and the fade in they
// check; conceal_tests() tests the prediction.
static unsigned no_conceal;

static void restart_only(struct bb_jbuf *jb)
{
    bb_jbuf_set_conceal_budget(jb, &no_conceal);
}

static int read_period(struct bb_jbuf *jb, float *buf, unsigned n)
{
    float *out[1] = {buf};
    return bb_jbuf_read(jb, out, n);
}

// ---- Clock drift -------------------------------------------------------
//
// A producer whose clock runs ppm fast (or slow) against the consumer's:
// it makes packets of F frames of a sine at its own sample rate, each
// handed over when its consumer-time comes (plus a random delivery delay of
// up to jitter frames, in order); the consumer reads F frames every F
// frames of its own time. Everything is measured on what the consumer
// plays.

#define DRIFT_AMP 0.5
#define T0_NS     1000000000000ull // where the simulated CLOCK_MONOTONIC starts

struct drift_case {
    double   ppm;        ///< producer rate over consumer rate, - 1, in ppm
    double   ppm2;       ///< the same after switch_s seconds (a second phase)
    double   switch_s;   ///< 0: no second phase
    double   seconds;    ///< consumer time simulated
    double   lock_s;     ///< assertions on what follows this time
    unsigned target;     ///< jitter buffer target (frames)
    double   jitter;     ///< largest random delivery delay (frames)
    double   freq;       ///< sine frequency at the producer's rate (Hz)
    float   *keep;       ///< when set: every output sample (seconds * RATE)
    double   lose_every; ///< the consumer loses time every this many seconds (0: never)
    double   lose;       ///< that much (frames of real time without a cycle)
    unsigned fit_packets; ///< the sine fit's block, packets (0: 40, 53 ms)
};

struct drift_result {
    uint64_t underruns, trims;     ///< over the whole run
    uint64_t late_underruns, late_trims; ///< after lock_s
    double   first_rs_s;           ///< when the resampler first engaged (-1: never)
    double   last_rs_s;            ///< when it was last seen engaged
    double   last_fault_s;         ///< last underrun or trim
    int      fill_min, fill_max;   ///< excess over a period + target after lock_s
    int      drift_err_max;        ///< |drift estimate - truth| after lock_s (ppm)
    int      drift_last;           ///< the last drift estimate (ppm)
    double   step_ratio;           ///< largest sample step after lock_s over the sine's own
    double   step_ratio_all;       ///< the same over the whole run after the first second
    double   snr_min_db;           ///< worst 53 ms block after lock_s: sine fit / residual
    double   snr_db;               ///< over all blocks after lock_s
    int      resampled;            ///< engaged at some point
    uint64_t rooms;                ///< engagements that made room for the look-ahead
};

static uint32_t drift_rng = 12345;
static double drift_rand(void) // [0, 1)
{
    drift_rng = drift_rng * 1664525u + 1013904223u;
    return (double)(drift_rng >> 8) / 16777216.0;
}

static float drift_sample(double freq, uint64_t n)
{
    return (float)(DRIFT_AMP * sin(2.0 * M_PI * freq * (double)(n % 4800000) / RATE));
}

static void drift_run(const struct drift_case *dc, struct drift_result *res)
{
    struct bb_jbuf jb;
    memset(res, 0, sizeof *res);
    res->first_rs_s = res->last_rs_s = res->last_fault_s = -1.0;
    res->fill_min = 1 << 30;
    res->fill_max = -(1 << 30);
    if (bb_jbuf_init(&jb, 1, F, 256, RATE, dc->target, NULL) != 0) {
        CHECK(0);
        return;
    }
    bb_jbuf_set_drift_comp(&jb, 1);
    const uint64_t total = (uint64_t)(dc->seconds * RATE);
    const uint64_t lock = (uint64_t)(dc->lock_s * RATE);
    const unsigned block = F * (dc->fit_packets ? dc->fit_packets : 40);
    float pcm[F], out[F], prev = 0.0f;
    float *outs[1] = {out};
    float *blk = calloc(block, sizeof(float));
    double t_next = 0.0, t_deliver = 0.0;  // producer's next packet complete / delivered
    uint64_t pn = 0;                        // producer frames made
    double fit_sig = 0.0, fit_err = 0.0;
    unsigned bfill = 0;
    uint64_t bstart = 0;
    int have_prev = 0;
    double lost = 0.0; // real time the consumer lost (frames), as JACK's dummy backend does
    for (uint64_t m = 0; m < total; m += F) {
        if (dc->lose_every > 0 && m > 0 && m % (uint64_t)(dc->lose_every * RATE) < F)
            lost += dc->lose;
        double now = (double)m + lost; // real time; m is the consumer's own
        double ppm = dc->switch_s > 0 && now >= dc->switch_s * RATE ? dc->ppm2 : dc->ppm;
        double rho = 1.0 + ppm * 1e-6;
        // Packets whose (jittered) delivery time has come.
        for (;;) {
            if (t_deliver == 0.0 || t_deliver <= t_next) {
                double d = t_next + F / rho + dc->jitter * drift_rand();
                t_deliver = d > t_deliver ? d : t_deliver + 1e-9;
            }
            if (t_deliver > now)
                break;
            for (unsigned i = 0; i < F; i++)
                pcm[i] = drift_sample(dc->freq, pn + i);
            bb_jbuf_push(&jb, pcm, F);
            bb_jbuf_stamp(&jb, (uint32_t)(pn + F), T0_NS + (uint64_t)llround(t_deliver * 1e9 / RATE));
            pn += F;
            t_next += F / rho;
        }
        bb_jbuf_clock(&jb, (uint32_t)m, T0_NS + (uint64_t)llround(now * 1e9 / RATE));
        now = (double)m; // the rest is measured on the consumer's timeline
        bb_jbuf_read(&jb, outs, F);
        uint64_t under = atomic_load(&jb.stats.underruns), trims = atomic_load(&jb.stats.trims);
        if (under + trims != res->underruns + res->trims)
            res->last_fault_s = now / RATE;
        if (m >= lock) {
            res->late_underruns += under - res->underruns;
            res->late_trims += trims - res->trims;
        }
        res->underruns = under;
        res->trims = trims;
        if (atomic_load(&jb.stats.resampling)) {
            if (res->first_rs_s < 0)
                res->first_rs_s = now / RATE;
            res->last_rs_s = now / RATE;
            res->resampled = 1;
        }
        int drift = atomic_load(&jb.stats.drift_ppm);
        res->drift_last = drift;
        if (getenv("DRIFT_TRACE") && (getenv("DRIFT_TRACE")[0] == 'a' || m % (RATE / F * F) == 0))
            printf("  t %5.1f drift %5d rs %u fill %u under %llu trims %llu fit %.2f se %.2f "
                   "steps %llu\n",
                   now / RATE, drift, atomic_load(&jb.stats.resampling),
                   atomic_load(&jb.stats.fill), (unsigned long long)under,
                   (unsigned long long)trims, jb.drift.ppm, jb.drift.se_ppm,
                   (unsigned long long)jb.drift.steps);
        if (dc->keep)
            memcpy(dc->keep + m, out, sizeof out);
        // Sample steps against the sine's steepest step at its heard frequency.
        double w = 2.0 * M_PI * dc->freq * rho / RATE;
        double steep = 2.0 * DRIFT_AMP * sin(w / 2.0);
        for (unsigned i = 0; i < F; i++) {
            if (have_prev && m + i >= (uint64_t)RATE) {
                double r = fabs((double)out[i] - prev) / steep;
                if (r > res->step_ratio_all)
                    res->step_ratio_all = r;
                if (m >= lock && r > res->step_ratio)
                    res->step_ratio = r;
            }
            prev = out[i];
            have_prev = 1;
        }
        if (m < lock)
            continue;
        int excess = (int)atomic_load(&jb.stats.fill) - F - (int)atomic_load(&jb.stats.target);
        if (excess < res->fill_min)
            res->fill_min = excess;
        if (excess > res->fill_max)
            res->fill_max = excess;
        int de = abs(drift - (int)lrint(ppm));
        if (de > res->drift_err_max)
            res->drift_err_max = de;
        // 53 ms blocks: least-squares fit of a sine at the heard frequency.
        if (bfill == 0)
            bstart = m;
        memcpy(blk + bfill, out, sizeof out);
        bfill += F;
        if (bfill >= block) {
            // Least squares of (a + c u) sin + (b + d u) cos, u the time in the
            // block: the slow wander of the ratio is not an error.
            double A[4][5] = {{0}};
            for (unsigned i = 0; i < bfill; i++) {
                double ph = w * (double)(bstart + i - lock), u = (double)i / bfill - 0.5;
                double v[4] = {sin(ph), cos(ph), u * sin(ph), u * cos(ph)};
                for (int p = 0; p < 4; p++) {
                    for (int q = 0; q < 4; q++)
                        A[p][q] += v[p] * v[q];
                    A[p][4] += v[p] * blk[i];
                }
            }
            for (int p = 0; p < 4; p++) // Gauss-Jordan, the matrix is well conditioned
                for (int q = 0; q < 4; q++) {
                    if (q == p)
                        continue;
                    double f = A[q][p] / A[p][p];
                    for (int k = 0; k < 5; k++)
                        A[q][k] -= f * A[p][k];
                }
            double sig = 0, err = 0;
            for (unsigned i = 0; i < bfill; i++) {
                double ph = w * (double)(bstart + i - lock), u = (double)i / bfill - 0.5;
                double v[4] = {sin(ph), cos(ph), u * sin(ph), u * cos(ph)};
                double f = 0;
                for (int p = 0; p < 4; p++)
                    f += v[p] * A[p][4] / A[p][p];
                sig += f * f;
                err += (blk[i] - f) * (blk[i] - f);
            }
            double snr = 10.0 * log10(sig / (err + 1e-30));
            if (fit_sig == 0.0 || snr < res->snr_min_db)
                res->snr_min_db = snr;
            fit_sig += sig;
            fit_err += err;
            bfill = 0;
        }
    }
    res->snr_db = 10.0 * log10(fit_sig / (fit_err + 1e-30));
    res->rooms = atomic_load(&jb.stats.rooms);
    free(blk);
    bb_jbuf_cleanup(&jb);
}

static void drift_print(const char *what, const struct drift_case *dc, const struct drift_result *r)
{
    printf("drift %+5.0f ppm%s %s: underruns %llu (%llu after %.0f s) trims %llu (%llu after), "
           "resampling %.1f..%.1f s, last fault %.1f s, excess %d..%d, drift est err <= %d ppm "
           "(last %d), step %.2f (all %.2f) x sine, SNR %.1f dB (worst 53 ms %.1f dB)\n",
           dc->ppm, dc->switch_s > 0 ? " (then other)" : "", what,
           (unsigned long long)r->underruns, (unsigned long long)r->late_underruns, dc->lock_s,
           (unsigned long long)r->trims, (unsigned long long)r->late_trims, r->first_rs_s,
           r->last_rs_s, r->last_fault_s, r->fill_min, r->fill_max, r->drift_err_max,
           r->drift_last, r->step_ratio, r->step_ratio_all, r->snr_db, r->snr_min_db);
}

static void drift_tests(void)
{
    struct drift_result r;

    // (a) No drift: never resampled, bit exact after the buffer's latency,
    // also with delivery jitter of up to two packets.
    for (int j = 0; j < 2; j++) {
        const double secs = 60;
        float *keep = calloc((size_t)(secs * RATE), sizeof(float));
        struct drift_case dc = {.ppm = 0, .seconds = secs, .lock_s = 1, .target = j ? 2 * F : 0,
                                .jitter = j ? 2 * F : 0, .freq = 1000.37, .keep = keep};
        drift_run(&dc, &r);
        drift_print(j ? "jittered" : "clean", &dc, &r);
        CHECK(!r.resampled);
        CHECK(r.underruns == 0 && r.trims == 0);
        CHECK(r.drift_err_max <= (j ? 3 : 0));
        // Latency: where the first full second of output sits in the input.
        long lat = -1;
        for (long L = 0; L < 4 * F && lat < 0; L++) {
            int same = 1;
            for (long i = RATE; i < RATE + 200 && same; i++)
                same = keep[i] == drift_sample(dc.freq, (uint64_t)(i - L));
            if (same)
                lat = L;
        }
        CHECK(lat >= 0);
        long bad = 0;
        for (long i = RATE; lat >= 0 && i < (long)(secs * RATE); i++)
            bad += keep[i] != drift_sample(dc.freq, (uint64_t)(i - lat));
        printf("drift 0 ppm %s: latency %ld frames, %ld samples differ\n", j ? "jittered" : "clean",
               lat, bad);
        CHECK(bad == 0);
        free(keep);
    }

    // (a2) No drift, but the consumer loses real time now and then (a late
    // wake-up JACK does not count, as the dummy backend does here): 2 ms
    // every 3 s, and 0.4 ms every 0.7 s; the sender is on real time, so each
    // loss is a standing excess for a trim. Steps, not drift: never resampled.
    {
        const double every[] = {3.0, 0.7}, lose[] = {96, 19};
        for (int k = 0; k < 2; k++) {
            struct drift_case dc = {.ppm = 0, .seconds = 60, .lock_s = 10, .target = 0,
                                    .freq = 1000, .lose_every = every[k], .lose = lose[k]};
            drift_run(&dc, &r);
            drift_print("steps", &dc, &r);
            CHECK(!r.resampled);
            CHECK(r.drift_err_max <= (k ? 19 : 3)); // below the engage threshold (20)
            CHECK(r.late_underruns == 0);
        }
    }

    // (b) Real drift inside the range: after lock-in no underrun, no trim,
    // fill in a band, estimate close to the truth, no click, a clean sine.
    // Lock-in: the estimate is ready after 15 s and exact (timestamps, not
    // the fill's staircase); the resampler engages 3 s later, at 18 s,
    // whatever the drift: with a target of 0 there may be no room for its
    // look-ahead, so its first period starts it back, up to the set point,
    // and crossfades into it (once at most); no sample steps beyond the
    // sine's own anywhere in the run.
    const double ppms[] = {50, -50, 300, -300};
    for (unsigned k = 0; k < sizeof ppms / sizeof ppms[0]; k++) {
        int small = fabs(ppms[k]) < 100;
        struct drift_case dc = {.ppm = ppms[k], .seconds = small ? 140 : 100,
                                .lock_s = small ? 80 : 40, .target = 0, .freq = 1000};
        drift_run(&dc, &r);
        drift_print("", &dc, &r);
        CHECK(r.resampled && r.first_rs_s < 19 && r.last_rs_s > dc.seconds - 1);
        CHECK(r.rooms <= 1); // target 0: the first period may make room, once
        CHECK(r.late_underruns == 0 && r.late_trims == 0);
        // between underrun (the look-ahead) and trim
        CHECK(r.fill_min >= BB_RS_AHEAD + 8 && r.fill_max <= 2 * F + BB_RS_AHEAD - 4);
        CHECK(r.drift_err_max <= 2);
        CHECK(r.step_ratio <= 1.5 && r.step_ratio_all <= 1.5);
        CHECK(r.snr_db >= 84.0 && r.snr_min_db >= 70.0);
    }
    // With delivery jitter of a packet and a fixed target of a packet.
    {
        struct drift_case dc = {.ppm = -300, .seconds = 100, .lock_s = 40, .target = F,
                                .jitter = F, .freq = 1000};
        drift_run(&dc, &r);
        drift_print("jittered", &dc, &r);
        CHECK(r.resampled && r.late_underruns == 0 && r.late_trims == 0);
        CHECK(r.drift_err_max <= 15);
        CHECK(r.step_ratio <= 1.5);
    }

    // Beyond the range (+-1000 ppm) the trims take the rest; inside it even
    // +800 ppm is followed.
    {
        struct drift_case dc = {.ppm = 800, .seconds = 70, .lock_s = 40, .target = 0, .freq = 1000};
        drift_run(&dc, &r);
        drift_print("", &dc, &r);
        CHECK(r.resampled && r.late_underruns == 0 && r.late_trims == 0);
        CHECK(r.drift_err_max <= 2);
        struct drift_case big = {.ppm = 2000, .seconds = 60, .lock_s = 30, .target = 0,
                                 .freq = 1000};
        drift_run(&big, &r);
        drift_print("beyond range", &big, &r);
        CHECK(r.resampled && r.drift_last >= 990);
        CHECK(r.late_trims > 0 && r.late_underruns == 0); // fallback, still playing
    }

    // (c) Into resampling and out again: +100 ppm for 40 s, then the same
    // clock: engages, then returns to exact pass-through; no click at either.
    {
        struct drift_case dc = {.ppm = 100, .ppm2 = 0, .switch_s = 40, .seconds = 90,
                                .lock_s = 30, .target = 0, .freq = 1000};
        drift_run(&dc, &r);
        drift_print("", &dc, &r);
        CHECK(r.resampled && r.first_rs_s < 30);
        CHECK(r.last_rs_s > 40 && r.last_rs_s < 85); // released
        CHECK(r.late_underruns == 0 && r.late_trims == 0);
        CHECK(r.step_ratio_all <= 1.5);
        CHECK(abs(r.drift_last) <= 2);
    }

    // Sines through the whole loop at +100 ppm and -100 ppm after lock: 90 dB
    // below the tone up to 15 kHz. The fit is over 5 ms blocks: the fill
    // correction moves the ratio by up to 200 ppm (inaudible, a third of a
    // cent), and a longer fit at one frequency reads that wander as error
    // (53 ms blocks: 90 / 71 / 60 / 53 dB at 1 / 5 / 10 / 15 kHz; at a
    // constant ratio they read 134 / 119 / 108 dB to 10 kHz).
    const double freqs[] = {1000, 5000, 10000, 15000};
    const double floor_db[] = {120, 105, 95, 90}, worst_db[] = {105, 95, 88, 82};
    for (unsigned k = 0; k < 4; k++)
        for (int sign = -1; sign <= 1; sign += 2) {
            struct drift_case dc = {.ppm = 100 * sign, .seconds = 75, .lock_s = 60, .target = 0,
                                    .freq = freqs[k], .fit_packets = 4};
            drift_run(&dc, &r);
            printf("resampler at 1%+.0fe-6: %5.0f Hz: SNR %.1f dB (worst 5 ms %.1f dB)\n",
                   dc.ppm, freqs[k], r.snr_db, r.snr_min_db);
            CHECK(r.snr_db >= floor_db[k] && r.snr_min_db >= worst_db[k]);
            CHECK(r.late_underruns == 0 && r.late_trims == 0);
        }
}

// ---- The lag (timestamps) ----------------------------------------------
//
// One clock, as for a hub and a musician on one machine: packet k carries
// frames [kF, kF + F) with the sender's clock LAG_TS0 + kF at its first
// frame; consumer cycle c begins at our LAG_FRAME0 + cF. A calm stream's
// lag is then a constant, set by when the packets come against the reads.

#define LAG_TS0    1000000u
#define LAG_FRAME0 5000u
#define LAG_WINDOW (RATE / 5 / F + 1) // reads in a trim window
#define RS_WANTED_FRAMES (3 * RATE)   // a drift this long engages the resampler

struct lag_sim {
    struct bb_jbuf     jb;
    struct bb_encoder *enc;
    uint32_t           seq, sent; ///< the next packet: sequence number, first frame
    uint32_t           cycle;     ///< consumer cycles so far
    uint32_t           ts0;       ///< the sender's clock at frame 0
    float              buf[F];
};

static void lag_send(struct lag_sim *s)
{
    uint8_t pkt[1024];
    int n = packet(s->enc, s->sent, pkt);
    bb_jbuf_receive(&s->jb, s->seq++, pkt, (size_t)n);
    bb_jbuf_stamp(&s->jb, s->ts0 + s->sent + F, T0_NS);
    s->sent += F;
}

// One consumer cycle; returns bb_jbuf_read's result.
static int lag_cycle(struct lag_sim *s)
{
    bb_jbuf_clock(&s->jb, LAG_FRAME0 + s->cycle++ * F, T0_NS);
    return read_period(&s->jb, s->buf, F);
}

// The last read ended with the stream's frame `frame` - 1.
static int lag_played_to(const struct lag_sim *s, uint32_t frame)
{
    return s->buf[F - 1] == sample(frame - 1);
}

// A stream at the given target (lag_init: 0), its restarts unpredicted.
static void lag_init_at(struct lag_sim *s, struct bb_encoder *enc, struct bb_decoder *dec,
                        unsigned target)
{
    memset(s, 0, sizeof *s);
    s->enc = enc;
    s->ts0 = LAG_TS0;
    CHECK(bb_jbuf_init(&s->jb, 1, F, 256, RATE, target, dec) == 0);
    restart_only(&s->jb);
}

static void lag_init(struct lag_sim *s, struct bb_encoder *enc, struct bb_decoder *dec)
{
    lag_init_at(s, enc, dec, 0);
}

// n cycles of a packet each, sent just before the read.
static void lag_steady(struct lag_sim *s, int n)
{
    for (int c = 0; c < n; c++) {
        lag_send(s);
        lag_cycle(s);
    }
}

static void lag_tests(struct bb_encoder *enc, struct bb_decoder *dec)
{
    struct lag_sim s;

    // A packet that comes before each read: the calm lag is learnt in the
    // second trim window.
    lag_init(&s, enc, dec);
    for (int c = 0; c < 3 * LAG_WINDOW; c++) {
        lag_send(&s);
        lag_cycle(&s);
    }
    CHECK(s.jb.lag_ok && s.jb.lag_ref == (int32_t)(LAG_FRAME0 - LAG_TS0));
    CHECK(lag_played_to(&s, s.sent));
    // Underrun; the late packet comes alone and plays a period late; then
    // the next two come together: the late period is cut at once, all of
    // it, with no packet kept as a margin (the owed rule would wait for a
    // third), and the stream is back where it was.
    CHECK(lag_cycle(&s) == 0 && atomic_load(&s.jb.stats.underruns) == 1);
    lag_send(&s);
    CHECK(lag_cycle(&s) == 1 && lag_played_to(&s, s.sent));
    lag_send(&s);
    lag_send(&s);
    CHECK(lag_cycle(&s) == 1);
    CHECK(atomic_load(&s.jb.stats.trims) == 1);
    CHECK(lag_played_to(&s, s.sent)); // the splice ends in the newest packet
    CHECK(bb_ring_read_space(&s.jb.ring) == 0);
    int exact = 1;
    for (int c = 0; c < 20; c++) {
        lag_send(&s);
        lag_cycle(&s);
        exact &= lag_played_to(&s, s.sent);
    }
    CHECK(exact && atomic_load(&s.jb.stats.underruns) == 1);

    // Missed cycles keep the lag: read for the missed one before the
    // clock (the hub), or skipped (a musician). No cut, no underrun.
    lag_send(&s);
    lag_send(&s);
    read_period(&s.jb, s.buf, F); // the missed cycle, rendered late
    s.cycle++;
    CHECK(lag_cycle(&s) == 1 && lag_played_to(&s, s.sent));
    lag_send(&s);
    lag_send(&s);
    bb_jbuf_skip(&s.jb, F);
    s.cycle++;
    CHECK(lag_cycle(&s) == 1 && lag_played_to(&s, s.sent));
    CHECK(atomic_load(&s.jb.stats.trims) == 1 && atomic_load(&s.jb.stats.underruns) == 1);
    CHECK(s.jb.lag_ok && s.jb.lag_ref == (int32_t)(LAG_FRAME0 - LAG_TS0));

    // The sender's clock jumps a second (it started over): no cut, the old
    // lag is forgotten, the new one learnt from calm windows.
    s.ts0 += RATE;
    for (int c = 0; c < 3 * LAG_WINDOW; c++) {
        lag_send(&s);
        lag_cycle(&s);
    }
    CHECK(atomic_load(&s.jb.stats.trims) == 1 && atomic_load(&s.jb.stats.underruns) == 1);
    CHECK(s.jb.lag_ok && s.jb.lag_ref == (int32_t)(LAG_FRAME0 - LAG_TS0 - RATE));
    // A new clock that puts the lag 2 s later: not frames the stream is
    // late by. A packet of jitter is kept (the window rule judges it), not
    // cut by a calm lag that belongs to the old clock.
    s.ts0 -= 2 * RATE;
    lag_send(&s);
    lag_send(&s);
    CHECK(lag_cycle(&s) == 1 && lag_played_to(&s, s.sent - F));
    CHECK(atomic_load(&s.jb.stats.trims) == 1 && !s.jb.lag_ok);
    bb_jbuf_cleanup(&s.jb);

    // Clocks are free-running 32-bit counters: two machines' can differ by
    // anything, the lag sits anywhere in int32 and a new clock can jump it
    // across the wrap. Nothing overflows (UBSan builds abort if it does),
    // and the lag is learnt, kept and relearnt as anywhere else.
    lag_init(&s, enc, dec);
    s.ts0 = LAG_FRAME0 - (uint32_t)INT32_MAX; // a calm lag of INT32_MAX
    for (int c = 0; c < 3 * LAG_WINDOW; c++) {
        lag_send(&s);
        lag_cycle(&s);
    }
    CHECK(s.jb.lag_ok && s.jb.lag_ref == INT32_MAX);
    CHECK(lag_cycle(&s) == 0); // an underrun: the lag grows past INT32_MAX
    lag_send(&s);
    CHECK(lag_cycle(&s) == 1 && lag_played_to(&s, s.sent)); // plays the late packet
    lag_send(&s);
    lag_send(&s);
    CHECK(lag_cycle(&s) == 1 && lag_played_to(&s, s.sent)); // and cuts it at once
    CHECK(atomic_load(&s.jb.stats.trims) == 1);
    s.ts0 += 0x80000000u; // a new clock, half the counter away
    for (int c = 0; c < 3 * LAG_WINDOW; c++) {
        lag_send(&s);
        lag_cycle(&s);
    }
    CHECK(atomic_load(&s.jb.stats.trims) == 1 && atomic_load(&s.jb.stats.underruns) == 1);
    CHECK(s.jb.lag_ok && s.jb.lag_ref == -1); // INT32_MAX - 2^31, modulo 2^32
    bb_jbuf_cleanup(&s.jb);

    // Packets that come just after each read: the calm lag is a period
    // more. After a stall, a burst with every late packet and the current
    // one comes before a read: the restart keeps the frames of the calm
    // lag, not only the newest (which would leave the next read dry as the
    // next packet comes after it), and the stream goes on without an
    // underrun.
    lag_init(&s, enc, dec);
    for (int c = 0; c < 3 * LAG_WINDOW; c++) {
        lag_cycle(&s);
        lag_send(&s);
    }
    CHECK(s.jb.lag_ok && s.jb.lag_ref == (int32_t)(LAG_FRAME0 - LAG_TS0 + F));
    uint64_t under = atomic_load(&s.jb.stats.underruns);
    CHECK(lag_cycle(&s) == 1); // the packet that was there; then the stall:
    CHECK(lag_cycle(&s) == 0 && lag_cycle(&s) == 0); // an underrun, buffering
    CHECK(atomic_load(&s.jb.stats.underruns) == under + 1);
    for (int k = 0; k < 4; k++)
        lag_send(&s);
    CHECK(lag_cycle(&s) == 1 && lag_played_to(&s, s.sent - F));
    CHECK(bb_ring_read_space(&s.jb.ring) == F * sizeof(float));
    exact = 1;
    for (int c = 0; c < 20; c++) {
        lag_cycle(&s);
        exact &= lag_played_to(&s, s.sent);
        lag_send(&s);
    }
    CHECK(exact && atomic_load(&s.jb.stats.underruns) == under + 1);
    CHECK(atomic_load(&s.jb.stats.trims) == 0);
    // A sender that stalled and slipped: its clock moves on 10 ms without
    // its stream. After the stall the head of the burst reads earlier than
    // the calm lag: the restart plays the newest frames, as without a lag.
    CHECK(lag_cycle(&s) == 1 && lag_cycle(&s) == 0);
    s.ts0 += RATE / 100;
    for (int k = 0; k < 3; k++)
        lag_send(&s);
    CHECK(lag_cycle(&s) == 1 && lag_played_to(&s, s.sent));
    CHECK(bb_ring_read_space(&s.jb.ring) == 0);
    bb_jbuf_cleanup(&s.jb);

    // Auto depth: a deeper target, then an underrun: the restart plays at
    // the new depth. The calm lag of the old depth is forgotten: against it
    // the new depth's frames would read as late, and the first packet of
    // jitter would be cut down to the old latency.
    lag_init(&s, enc, dec);
    bb_jbuf_cleanup(&s.jb);
    CHECK(bb_jbuf_init(&s.jb, 1, F, 256, RATE, BB_JBUF_AUTO, dec) == 0);
    restart_only(&s.jb);
    for (int c = 0; c < 3 * LAG_WINDOW; c++) {
        lag_send(&s);
        lag_cycle(&s);
    }
    CHECK(s.jb.lag_ok && lag_played_to(&s, s.sent));
    atomic_store(&s.jb.auto_want, F / 2); // as the arrival spread would ask
    CHECK(lag_cycle(&s) == 0 && atomic_load(&s.jb.stats.target) == F / 2);
    lag_send(&s);
    lag_send(&s);
    CHECK(lag_cycle(&s) == 1 && lag_played_to(&s, s.sent - F / 2));
    for (int c = 0; c < 4; c++) {
        lag_send(&s);
        lag_cycle(&s);
    }
    lag_send(&s); // a packet early
    lag_send(&s);
    CHECK(lag_cycle(&s) == 1 && lag_played_to(&s, s.sent - F - F / 2));
    CHECK(atomic_load(&s.jb.stats.trims) == 0);
    bb_jbuf_cleanup(&s.jb);

    // A restart while a drift is to be resampled keeps a packet and the
    // resampler's look-ahead above the target. The stream was late: the
    // lag rule must not take those frames for late ones (the resampler has
    // no lag), which would also leave it short of its look-ahead.
    lag_init(&s, enc, dec);
    bb_jbuf_set_drift_comp(&s.jb, 1);
    for (int c = 0; c < 3 * LAG_WINDOW; c++) {
        lag_send(&s);
        lag_cycle(&s);
    }
    CHECK(s.jb.lag_ok);
    for (int c = 0; c < 4; c++) // an underrun, buffering
        CHECK(lag_cycle(&s) == 0);
    s.jb.hi_frames = RS_WANTED_FRAMES; // as if a drift had lasted
    for (int k = 0; k < 5; k++)
        lag_send(&s);
    CHECK(lag_cycle(&s) == 1 && atomic_load(&s.jb.stats.resampling) == 1);
    CHECK(atomic_load(&s.jb.stats.trims) == 0);
    // The newest frames less a packet and the look-ahead, resampled at a
    // ratio within 1e-5 of 1 (faded in): the test signal is white, so the
    // resampler's band limit leaves a residue, but a frame's offset either
    // way costs far more.
    double err[7];
    for (int d = -3; d <= 3; d++) {
        double e = 0, sig = 0;
        for (uint32_t k = F / 2; k < F; k++) {
            double want = sample(s.sent - 2 * F - BB_RS_AHEAD + k + (uint32_t)d) * (k + 1.0) / F;
            e += (s.buf[k] - want) * (s.buf[k] - want);
            sig += want * want;
        }
        err[d + 3] = e / sig;
    }
    printf("restart resampling: error at the expected frame %.3f, a frame off %.3f / %.3f\n",
           err[3], err[2], err[4]);
    CHECK(err[3] < 0.05 && err[3] * 10 < err[2] && err[3] * 10 < err[4]);
    bb_jbuf_cleanup(&s.jb);
}

// ---- A short read concealed (jbuf_conceal.h) -----------------------------
//
// A tone at depth 0, one packet per period sent just before each read, as
// the lag tests do; the read plays frames [sent - F, sent).

#define CC_FREQ 441.0

static float cc_tone(uint32_t i)
{
    return (float)(0.5 * sin(2.0 * M_PI * CC_FREQ * i / RATE));
}

struct cc_sim {
    struct bb_jbuf     jb;
    struct bb_encoder *enc;
    uint32_t           seq, sent, cycle;
    float              buf[F];
};

static void cc_send(struct cc_sim *s)
{
    float pcm[F];
    uint8_t pkt[1024];
    for (uint32_t i = 0; i < F; i++)
        pcm[i] = cc_tone(s->sent + i);
    int n = bb_encode(s->enc, pcm, pkt, sizeof pkt);
    bb_jbuf_receive(&s->jb, s->seq++, pkt, (size_t)n);
    bb_jbuf_stamp(&s->jb, LAG_TS0 + s->sent + F, T0_NS);
    s->sent += F;
}

static void cc_lose(struct cc_sim *s) // a packet the network lost
{
    s->seq++;
    s->sent += F;
}

static int cc_cycle(struct cc_sim *s)
{
    bb_jbuf_clock(&s->jb, LAG_FRAME0 + s->cycle++ * F, T0_NS);
    return read_period(&s->jb, s->buf, F);
}

// The last read was frames [first, first + F) of the tone, bit exact.
static int cc_exact(const struct cc_sim *s, uint32_t first)
{
    for (uint32_t i = 0; i < F; i++)
        if (s->buf[i] != cc_tone(first + i))
            return 0;
    return 1;
}

// How close the last read came to frames [first, first + F), in dB.
static double cc_snr(const struct cc_sim *s, uint32_t first)
{
    double sig = 0.0, err = 0.0;
    for (uint32_t i = 0; i < F; i++) {
        double t = cc_tone(first + i), e = s->buf[i] - t;
        sig += t * t;
        err += e * e;
    }
    return 10.0 * log10(sig / (err + 1e-30));
}

// A calm second at depth 0 (fixed, or auto when auto_depth).
static void cc_init(struct cc_sim *s, struct bb_encoder *enc, struct bb_decoder *dec,
                    int auto_depth)
{
    memset(s, 0, sizeof *s);
    s->enc = enc;
    CHECK(bb_jbuf_init(&s->jb, 1, F, 256, RATE, auto_depth ? BB_JBUF_AUTO : 0, dec) == 0);
    for (int c = 0; c < RATE / F; c++) {
        cc_send(s);
        cc_cycle(s);
    }
    CHECK(s->jb.lag_ok && cc_exact(s, s->sent - F));
}

// n calm periods more: all exact, nothing concealed, cut or faded.
static int cc_calm(struct cc_sim *s, int n)
{
    int exact = 1;
    for (int c = 0; c < n; c++) {
        cc_send(s);
        cc_cycle(s);
        exact &= cc_exact(s, s->sent - F);
    }
    return exact;
}

static uint64_t cc_stat(_Atomic uint64_t *v)
{
    return atomic_load(v);
}

static void conceal_tests(struct bb_encoder *enc, struct bb_decoder *dec)
{
    struct cc_sim s;

    // A packet lost at depth 0: the read that needs it runs dry and plays a
    // prediction (close to the tone) instead of a fade; the restart, when
    // the next packet comes, plays on at the calm lag (the receive thread's
    // concealment of the lost packet is the late frames it cuts), crossfaded
    // from the prediction's continuation, then bit exact: no cut.
    cc_init(&s, enc, dec, 0);
    cc_lose(&s);
    CHECK(cc_cycle(&s) == 0);
    double snr = cc_snr(&s, s.sent - F);
    printf("conceal: a lost packet's prediction is %.1f dB from the tone\n", snr);
    CHECK(snr > 30.0);
    CHECK(cc_stat(&s.jb.stats.concealed) == 1 && cc_stat(&s.jb.stats.underruns) == 1);
    cc_send(&s);
    CHECK(cc_cycle(&s) == 1);
    CHECK(cc_stat(&s.jb.stats.lost) == 1);
    snr = cc_snr(&s, s.sent - F);
    printf("conceal: the restart after it is %.1f dB from the tone (the crossfade)\n", snr);
    CHECK(snr > 30.0);
    CHECK(s.buf[F - 1] == cc_tone(s.sent - 1)); // at the same latency
    CHECK(cc_calm(&s, 20));
    CHECK(cc_stat(&s.jb.stats.underruns) == 1 && cc_stat(&s.jb.stats.trims) == 0);
    bb_jbuf_cleanup(&s.jb);

    // A packet late by a period: the same; the late packet is what the
    // restart's calm lag cuts.
    cc_init(&s, enc, dec, 0);
    CHECK(cc_cycle(&s) == 0 && cc_stat(&s.jb.stats.concealed) == 1);
    CHECK(cc_snr(&s, s.sent) > 30.0);
    cc_send(&s);
    cc_send(&s);
    CHECK(cc_cycle(&s) == 1 && s.buf[F - 1] == cc_tone(s.sent - 1));
    CHECK(cc_snr(&s, s.sent - F) > 30.0);
    CHECK(cc_stat(&s.jb.stats.lost) == 0 && cc_calm(&s, 20));
    bb_jbuf_cleanup(&s.jb);

    // Three packets late: the wait goes on predicting, one gap.
    cc_init(&s, enc, dec, 0);
    int good = 1;
    for (int c = 0; c < 3; c++) {
        CHECK(cc_cycle(&s) == 0);
        good &= cc_snr(&s, s.sent + (uint32_t)c * F) > 20.0;
    }
    CHECK(good && cc_stat(&s.jb.stats.concealed) == 1 && cc_stat(&s.jb.stats.underruns) == 1);
    for (int k = 0; k < 4; k++)
        cc_send(&s);
    CHECK(cc_cycle(&s) == 1 && s.buf[F - 1] == cc_tone(s.sent - 1));
    CHECK(cc_calm(&s, 20));
    bb_jbuf_cleanup(&s.jb);

    // An outage: the prediction plays its life (5 ms, then a 10 ms fade to
    // silence), then silence; when the packets come back the restart
    // crossfades from that silence.
    cc_init(&s, enc, dec, 0);
    unsigned life = (s.jb.cc.plc.hold + s.jb.cc.plc.fade) / F, quiet = 0;
    double level = 0.0;
    for (unsigned c = 0; c < life + 5; c++) {
        cc_lose(&s);
        CHECK(cc_cycle(&s) == 0);
        if (c == 0)
            level = fabs(s.buf[F - 1]) + fabs(s.buf[F / 2]);
        quiet += c > life && s.buf[0] == 0.0f && s.buf[F - 1] == 0.0f;
    }
    printf("conceal: an outage: the prediction at %.2f in its first period, then %u periods "
           "of silence\n", level, quiet);
    CHECK(level > 0.1 && quiet == 4);
    CHECK(cc_stat(&s.jb.stats.concealed) == 1 && cc_stat(&s.jb.stats.underruns) == 1);
    cc_send(&s);
    CHECK(cc_cycle(&s) == 1 && fabsf(s.buf[0]) < 0.05f); // from silence, no step
    cc_calm(&s, LAG_WINDOW + 2); // the receive thread's concealment of the outage's
    CHECK(cc_calm(&s, 20));      // first packets may play first: the window cuts it
    bb_jbuf_cleanup(&s.jb);

    // A budget shared among the streams of one callback: an underrun that
    // would take more channels than are left fades as before.
    unsigned budget = 0;
    cc_init(&s, enc, dec, 0);
    bb_jbuf_set_conceal_budget(&s.jb, &budget);
    CHECK(cc_cycle(&s) == 0 && cc_stat(&s.jb.stats.underruns) == 1 &&
          cc_stat(&s.jb.stats.concealed) == 0);
    CHECK(s.buf[F - 1] == 0.0f); // faded
    bb_jbuf_cleanup(&s.jb);
    budget = 3;
    cc_init(&s, enc, dec, 0);
    bb_jbuf_set_conceal_budget(&s.jb, &budget);
    CHECK(cc_cycle(&s) == 0 && budget == 2 && cc_stat(&s.jb.stats.concealed) == 1);
    // the budget runs out in the gap: what the prediction played fades out
    budget = 0;
    float before = s.buf[F - 1];
    CHECK(cc_cycle(&s) == 0 && fabsf(s.buf[0] - before) < 0.05f && s.buf[F - 1] == 0.0f);
    bb_jbuf_cleanup(&s.jb);
}

// ---- A fixed depth given back ------------------------------------------
//
// A sender that loses 5 periods of time and sends nothing for them (its
// clock moves on without its stream) leaves a fixed depth of 8 packets 5
// short with no underrun (the sender's stamps show the time it lost);
// within two trim windows the buffer restarts at its depth (the gap
// predicted), once, and stays there. Packets that are late for a while and
// then come (the sender's clock where it was) are waited for: no restore.
// An automatic depth is left to the arrival spread.
static void depth_restore_tests(struct bb_encoder *enc, struct bb_decoder *dec)
{
    for (int fixed = 1; fixed >= 0; fixed--) {
        struct lag_sim s;
        lag_init_at(&s, enc, dec, fixed ? 8 * F : BB_JBUF_AUTO);
        for (int k = 0; k < 9; k++)
            lag_send(&s);
        lag_steady(&s, 3 * LAG_WINDOW);
        unsigned deep = atomic_load(&s.jb.stats.fill);
        CHECK(!fixed || deep == 9 * F);
        for (int c = 0; c < 5; c++) // the sender lost 5 periods
            lag_cycle(&s);
        s.ts0 += 5 * F;
        lag_steady(&s, 1);
        unsigned shallow = atomic_load(&s.jb.stats.fill);
        lag_steady(&s, 3 * LAG_WINDOW);
        unsigned back = atomic_load(&s.jb.stats.fill);
        uint64_t restores = atomic_load(&s.jb.stats.restores);
        printf("# %s depth: %u frames before the stall, %u after, %u two windows on; %llu restores, "
               "%llu underruns\n",
               fixed ? "fixed" : "auto", deep, shallow, back, (unsigned long long)restores,
               (unsigned long long)atomic_load(&s.jb.stats.underruns));
        // Packets that come 5 periods late for two windows and then catch
        // up keep the sender's clock (the calm lag): no restore.
        for (int c = 0; c < 5; c++)
            lag_cycle(&s);
        lag_steady(&s, 2 * LAG_WINDOW);
        for (int k = 0; k < 5; k++)
            lag_send(&s);
        lag_steady(&s, 2 * LAG_WINDOW);
        uint64_t restores_late = atomic_load(&s.jb.stats.restores);
        printf("# %s depth, packets late for two windows: %llu restores, fill %u\n",
               fixed ? "fixed" : "auto", (unsigned long long)(restores_late - restores),
               atomic_load(&s.jb.stats.fill));
        CHECK(restores_late == restores);
        if (fixed) {
            CHECK(shallow <= 5 * F);
            CHECK(back == 9 * F && restores == 1);
            CHECK(atomic_load(&s.jb.stats.underruns) == 0);
            CHECK(lag_played_to(&s, s.sent - 8 * F)); // the stream, 8 packets behind the newest
        } else {
            CHECK(restores == 0);
        }
        bb_jbuf_cleanup(&s.jb);
    }
}

int main(void)
{
    char err[128];
    struct bb_encoder *enc = bb_encoder_new(BB_CODEC_FLOAT, RATE, 1, F, 0, err, sizeof err);
    struct bb_decoder *dec = bb_decoder_new(BB_CODEC_FLOAT, RATE, 1, F, err, sizeof err);
    CHECK(enc && dec);
    struct bb_jbuf jb;
    CHECK(bb_jbuf_init(&jb, 1, F, 256, RATE, 0, dec) == 0);
    restart_only(&jb);
    uint8_t pkt[1024];
    float buf[256];

    // Nothing yet: silence, still buffering.
    CHECK(read_period(&jb, buf, F) == 0 && buf[0] == 0.0f);

    // In step: one packet per period comes out bit exact (after the fade-in period).
    uint32_t seq = 0, pos = 0;
    int exact = 1;
    for (int p = 0; p < 100; p++) {
        int n = packet(enc, pos, pkt);
        CHECK(bb_jbuf_receive(&jb, seq++, pkt, (size_t)n) == F);
        read_period(&jb, buf, F);
        if (p > 0)
            for (int i = 0; i < F; i++)
                exact &= buf[i] == sample(pos + (uint32_t)i);
        pos += F;
    }
    CHECK(exact);
    CHECK(atomic_load(&jb.stats.underruns) == 0);
    CHECK(atomic_load(&jb.stats.received) == 100);

    // Packets played already are duplicates, counted and dropped (late
    // ones: test_jbuf_order.c).
    int n = packet(enc, pos - F, pkt);
    CHECK(bb_jbuf_receive(&jb, seq - 1, pkt, (size_t)n) == 0);
    CHECK(atomic_load(&jb.stats.dup) == 1);
    CHECK(bb_jbuf_receive(&jb, seq - 5, pkt, (size_t)n) == 0);
    CHECK(atomic_load(&jb.stats.dup) == 2 && atomic_load(&jb.stats.late) == 0);

    // A lost packet the next read needs is concealed (PCM: predicted, see
    // test_plc.c) so the stream keeps its length; the next packet is exact
    // again after its first millisecond, crossfaded from the prediction.
    seq++; // lost
    pos += F;
    n = packet(enc, pos, pkt);
    CHECK(bb_jbuf_receive(&jb, seq++, pkt, (size_t)n) == 2 * F);
    CHECK(atomic_load(&jb.stats.lost) == 1);
    read_period(&jb, buf, F); // concealment
    CHECK(fabsf(buf[F - 1]) < 0.5f);
    read_period(&jb, buf, F);
    exact = 1;
    for (int i = RATE / 1000; i < F; i++)
        exact &= buf[i] == sample(pos + (uint32_t)i);
    CHECK(exact);
    pos += F;

    // Underrun: a period with nothing fades out from the last sample, no step.
    float last = buf[F - 1];
    CHECK(read_period(&jb, buf, F) == 0);
    CHECK(fabsf(buf[0] - last) <= fabsf(last) / (F - 1) * 1.01f + 1e-7f);
    CHECK(buf[F - 1] == 0.0f);
    CHECK(atomic_load(&jb.stats.underruns) == 1);

    // Back from the underrun: a burst of late packets is skipped to the
    // target depth when playing resumes.
    for (int k = 0; k < 3; k++) {
        n = packet(enc, pos, pkt);
        bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
        pos += F;
    }
    CHECK(read_period(&jb, buf, F) == 1);
    CHECK(atomic_load(&jb.stats.fill) == 3 * F);
    CHECK(bb_ring_read_space(&jb.ring) == 0);

    // Underrun, and the late packet comes alone: it plays, a period late
    // (nothing else to play). When the frames owed come with a packet more,
    // the late period is cut at once by a splice (not a window later), and
    // that packet stays as the margin.
    CHECK(read_period(&jb, buf, F) == 0);
    CHECK(atomic_load(&jb.stats.underruns) == 2);
    n = packet(enc, pos, pkt); // due at the underrun
    bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
    pos += F;
    CHECK(read_period(&jb, buf, F) == 1);
    CHECK(fabsf(buf[F - 1] - sample(pos - 1)) < 1e-6f);
    CHECK(jb.owed == F);
    for (int k = 0; k < 2; k++) { // a packet more than owed: no cut, it is jitter
        n = packet(enc, pos, pkt);
        bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
        pos += F;
    }
    read_period(&jb, buf, F);
    CHECK(atomic_load(&jb.stats.trims) == 0);
    CHECK(buf[F - 1] == sample(pos - F - 1));
    n = packet(enc, pos, pkt); // now owed and a packet more
    bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
    pos += F;
    n = packet(enc, pos, pkt);
    bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
    pos += F;
    read_period(&jb, buf, F);
    CHECK(atomic_load(&jb.stats.trims) == 1);
    CHECK(buf[F - 1] == sample(pos - F - 1)); // spliced into the stream a period on
    CHECK(bb_ring_read_space(&jb.ring) == F * sizeof(float));
    CHECK(jb.owed == 0);
    read_period(&jb, buf, F); // the margin
    n = packet(enc, pos, pkt);
    bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
    pos += F;
    read_period(&jb, buf, F);
    exact = 1;
    for (int i = 0; i < F; i++)
        exact &= buf[i] == sample(pos - F + (uint32_t)i);
    CHECK(exact);
    uint64_t trims_before = atomic_load(&jb.stats.trims);

    // Standing excess while playing: three packets arrive at once, then
    // one per period; the excess is cut back to target by the end of the
    // first whole 200 ms window that saw it (at most 400 ms), in one splice.
    for (int k = 0; k < 3; k++) {
        n = packet(enc, pos, pkt);
        bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
        pos += F;
    }
    int periods = 0;
    while (atomic_load(&jb.stats.trims) == trims_before && periods < 1000) {
        n = packet(enc, pos, pkt);
        bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
        pos += F;
        read_period(&jb, buf, F);
        periods++;
    }
    CHECK(atomic_load(&jb.stats.trims) == trims_before + 1);
    CHECK(periods <= 2 * (RATE / 5 / F + 1) + 1); // at the end of the first whole window
    // After the splice the output is the stream at the original latency.
    n = packet(enc, pos, pkt);
    bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
    read_period(&jb, buf, F);
    exact = 1;
    for (int i = 0; i < F; i++)
        exact &= buf[i] == sample(pos + (uint32_t)i);
    CHECK(exact);
    pos += F;

    // Hub and musician may run different periods: packets of 64, reads of 128.
    for (int p = 0; p < 20; p++) {
        for (int k = 0; k < 2; k++) {
            n = packet(enc, pos, pkt);
            bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
            pos += F;
        }
        read_period(&jb, buf, 128);
    }
    exact = 1;
    for (int i = 0; i < 128; i++)
        exact &= buf[i] == sample(pos - 128 + (uint32_t)i);
    CHECK(exact);
    CHECK(atomic_load(&jb.stats.underruns) == 2);

    // A sender that starts its numbering over is followed after a few packets.
    uint64_t rec = atomic_load(&jb.stats.received);
    for (uint32_t s2 = 0; s2 < 12; s2++) {
        n = packet(enc, pos, pkt);
        bb_jbuf_receive(&jb, s2, pkt, (size_t)n);
    }
    CHECK(atomic_load(&jb.stats.received) > rec);
    bb_jbuf_cleanup(&jb);

    // Every period the ring stays dry after an underrun is owed too: when
    // the late packets come, all of them and a packet more, they are cut at
    // once, back to the latency before the underrun.
    CHECK(bb_jbuf_init(&jb, 1, F, 256, RATE, 0, dec) == 0);
    restart_only(&jb);
    seq = pos = 0;
    for (int p = 0; p < 5; p++) {
        n = packet(enc, pos, pkt);
        bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
        pos += F;
        read_period(&jb, buf, F);
    }
    for (int p = 0; p < 3; p++) // an underrun, then two periods buffering
        CHECK(read_period(&jb, buf, F) == 0);
    CHECK(jb.owed == 3 * F);
    n = packet(enc, pos, pkt); // the first late packet comes alone
    bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
    pos += F;
    CHECK(read_period(&jb, buf, F) == 1 && buf[F - 1] == sample(pos - 1));
    for (int k = 0; k < 5; k++) { // the rest: what is owed, one to play, one more
        n = packet(enc, pos, pkt);
        bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
        pos += F;
    }
    CHECK(read_period(&jb, buf, F) == 1);
    CHECK(atomic_load(&jb.stats.trims) == 1 && jb.owed == 0);
    CHECK(buf[F - 1] == sample(pos - F - 1));
    CHECK(bb_ring_read_space(&jb.ring) == F * sizeof(float));
    bb_jbuf_cleanup(&jb);

    // Stereo interleaving: channel order survives.
    struct bb_jbuf st;
    CHECK(bb_jbuf_init(&st, 2, F, 256, RATE, 0, NULL) == 0);
    restart_only(&st);
    float inter[2 * F], L[F], R[F];
    for (int i = 0; i < F; i++) {
        inter[2 * i] = 0.5f;
        inter[2 * i + 1] = -0.25f;
    }
    CHECK(bb_jbuf_push(&st, inter, F) == F);
    float *lr[2] = {L, R};
    bb_jbuf_read(&st, lr, F); // fades in
    CHECK(bb_jbuf_push(&st, inter, F) == F);
    bb_jbuf_read(&st, lr, F);
    CHECK(L[10] == 0.5f && R[10] == -0.25f);
    bb_jbuf_cleanup(&st);

    // Stereo concealment: each side's prediction continues that side (the
    // history is kept interleaved, from the ring's frames where a plain
    // read left them so, re-interleaved after a fade-in).
    CHECK(bb_jbuf_init(&st, 2, F, 256, RATE, 0, NULL) == 0);
    uint32_t sn = 0;
    for (int p = 0; p < 40; p++) {
        for (int i = 0; i < F; i++, sn++) {
            inter[2 * i] = 0.5f * sinf(2.0f * (float)M_PI * 440.0f * (float)sn / RATE);
            inter[2 * i + 1] = 0.3f * sinf(2.0f * (float)M_PI * 1000.0f * (float)sn / RATE);
        }
        CHECK(bb_jbuf_push(&st, inter, F) == F);
        bb_jbuf_read(&st, lr, F);
    }
    bb_jbuf_read(&st, lr, F); // runs dry: predicted
    float errl = 0.0f, errr = 0.0f;
    for (int i = 0; i < RATE / 1000; i++) {
        float tl = 0.5f * sinf(2.0f * (float)M_PI * 440.0f * (float)(sn + (uint32_t)i) / RATE);
        float tr = 0.3f * sinf(2.0f * (float)M_PI * 1000.0f * (float)(sn + (uint32_t)i) / RATE);
        errl = fmaxf(errl, fabsf(L[i] - tl));
        errr = fmaxf(errr, fabsf(R[i] - tr));
    }
    printf("# stereo concealment: first ms off by %.5f (L, 440 Hz) and %.5f (R, 1 kHz); %llu concealed\n",
           (double)errl, (double)errr, (unsigned long long)atomic_load(&st.stats.concealed));
    CHECK(atomic_load(&st.stats.concealed) == 1);
    CHECK(errl < 0.01f && errr < 0.01f);
    bb_jbuf_cleanup(&st);

    // A cycle the consumer missed: the frames it would have played are
    // dropped, so the stream keeps its place (the next period is the one
    // after the missed one, no underrun, no excess to trim later).
    struct bb_jbuf sk;
    CHECK(bb_jbuf_init(&sk, 1, F, 256, RATE, F, dec) == 0);
    restart_only(&sk);
    uint32_t kseq = 0, kpos = 0, played = 0;
    int kexact = 1;
    for (int p = 0; p < 40; p++) {
        int len = packet(enc, kpos, pkt);
        bb_jbuf_receive(&sk, kseq++, pkt, (size_t)len);
        kpos += F;
        if (p == 20) { // the consumer misses this cycle
            bb_jbuf_skip(&sk, F);
            played += F;
            continue;
        }
        if (read_period(&sk, buf, F) && p > 3) {
            // at target depth F, period p plays the packet received at p - 1
            for (int i = 0; i < F; i++)
                kexact &= buf[i] == sample(played + (uint32_t)i);
        }
        if (p >= 1)
            played += F;
    }
    CHECK(kexact);
    CHECK(atomic_load(&sk.stats.skipped) == F);
    CHECK(atomic_load(&sk.stats.underruns) == 0 && atomic_load(&sk.stats.trims) == 0);
    CHECK(atomic_load(&sk.stats.fill) == 2 * F); // still a period plus the target
    bb_jbuf_skip(&sk, 100000); // more than it holds: drops what there is (the target)
    CHECK(atomic_load(&sk.stats.skipped) == F + F);
    bb_jbuf_cleanup(&sk);

    CHECK(bb_jbuf_init(&st, 0, F, 256, RATE, 0, NULL) < 0);
    lag_tests(enc, dec);
    conceal_tests(enc, dec);
    depth_restore_tests(enc, dec);
    bb_encoder_free(enc);
    bb_decoder_free(dec);
    drift_tests();
    return check_report("test_jbuf");
}
