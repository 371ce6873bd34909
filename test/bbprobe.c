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
#include <errno.h>
#include <inttypes.h>
#include <jack/jack.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
};

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
    uint64_t r0 = p->settle, r1 = p->settle + p->nrec;

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
    int ph = t1 >= r1 ? PH_DONE : t1 > r0 ? PH_RECORD : PH_SETTLE;
    atomic_store_explicit(&p->phase, ph, memory_order_release);
    return 0;
}

static int xrun_cb(void *arg)
{
    struct probe *p = arg;
    if (atomic_load_explicit(&p->phase, memory_order_relaxed) == PH_RECORD)
        atomic_fetch_add_explicit(&p->xruns, 1, memory_order_relaxed);
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
            "  --dump: raw native-endian float32 recordings, inputs interleaved.\n");
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

// ---------------------------------------------------------------- main

int main(int argc, char **argv)
{
    const char *name = "bbprobe", *dump = NULL;
    long nout = 1, nin = 1, maxlag = 4800;
    double seconds = 3, settle = 1, amp = 0.25, timeout = 10;
    char *connects[MAX_LIST], *waitports[MAX_LIST], *waitconns[MAX_LIST];
    int nconn = 0, nwaitp = 0, nwaitc = 0;

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

    struct probe *p = &P;
    p->nout = (int)nout;
    p->nin = (int)nin;
    atomic_init(&p->armed, 0);
    atomic_init(&p->phase, PH_IDLE);
    atomic_init(&p->xruns, 0);
    atomic_init(&p->shutdown, 0);

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

    if (!rc) {
        atomic_store_explicit(&p->armed, 1, memory_order_release);
        // Generous: the run itself plus --timeout for a stalled or starved server.
        deadline = now_s() + 2.0 * (double)(p->settle + p->nrec) / rate + timeout + 1.0;
        while (atomic_load_explicit(&p->phase, memory_order_acquire) != PH_DONE) {
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
    return 0;
}
