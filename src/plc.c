// SPDX-License-Identifier: GPL-2.0-or-later
// plc.c: linear-prediction concealment of lost PCM packets (see plc.h).
#include "plc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PLC_HISTORY_MS 10 // the predictor is fitted to this much signal
#define PLC_ORDER      32
#define PLC_XFADE_MS   1  // crossfade back into the real signal
#define PLC_HOLD_MS    5  // a run of losses plays this long at full level ...
#define PLC_FADE_MS    10 // ... and then fades to silence over this long

int bb_plc_init(struct bb_plc *p, unsigned channels, unsigned frames, unsigned rate)
{
    memset(p, 0, sizeof *p);
    if (channels == 0 || frames == 0 || rate == 0)
        return -EINVAL;
    p->channels = channels;
    p->frames = frames;
    unsigned want = rate * PLC_HISTORY_MS / 1000;
    p->hist_len = 64;
    while (p->hist_len < want)
        p->hist_len *= 2;
    p->order = PLC_ORDER;
    p->xfade = rate * PLC_XFADE_MS / 1000;
    p->xfade = p->xfade < frames ? p->xfade : frames;
    p->xfade = p->xfade ? p->xfade : 1;
    p->xf_pos = p->xfade; // no crossfade under way
    p->hold = rate * PLC_HOLD_MS / 1000;
    p->fade = rate * PLC_FADE_MS / 1000 + 1;
    p->hist = calloc((size_t)p->hist_len * channels, sizeof(float));
    p->work = calloc((size_t)3 * p->hist_len + frames + p->xfade, sizeof(double));
    p->tail = calloc((size_t)p->xfade * channels, sizeof(float));
    p->pred = calloc((size_t)frames * channels, sizeof(float));
    if (!p->hist || !p->work || !p->tail || !p->pred) {
        bb_plc_cleanup(p);
        return -ENOMEM;
    }
    return 0;
}

void bb_plc_cleanup(struct bb_plc *p)
{
    free(p->hist);
    free(p->work);
    free(p->tail);
    free(p->pred);
    p->hist = p->tail = p->pred = NULL;
    p->work = NULL;
}

// The recursion as in Collomb's "Burg's Method, Algorithm and Recursion"
// (2009): forward and backward errors are updated in place; the error
// energy den is carried by the recursion rather than summed each order.
unsigned bb_plc_burg(const double *x, unsigned n, double *a, unsigned order, double *work)
{
    double *f = work, *b = work + n;
    memset(a, 0, (order + 1) * sizeof *a);
    a[0] = 1.0;
    if (n < 2 * order + 2)
        return 0;
    double den = 0.0;
    for (unsigned j = 0; j < n; j++) {
        f[j] = b[j] = x[j];
        den += 2.0 * x[j] * x[j];
    }
    den -= f[0] * f[0] + b[n - 1] * b[n - 1];
    const double floor = den * 1e-12; // below this the signal is fitted: stop
    unsigned k;
    for (k = 0; k < order; k++) {
        if (!(den > floor) || den <= 1e-30)
            break;
        double mu = 0.0;
        for (unsigned j = 0; j + k + 1 < n; j++)
            mu += f[j + k + 1] * b[j];
        mu *= -2.0 / den;
        if (mu > 1.0 || mu < -1.0) // rounding only: keep the filter stable
            mu = mu > 0 ? 1.0 : -1.0;
        for (unsigned j = 0; j <= (k + 1) / 2; j++) {
            double t1 = a[j] + mu * a[k + 1 - j];
            double t2 = a[k + 1 - j] + mu * a[j];
            a[j] = t1;
            a[k + 1 - j] = t2;
        }
        for (unsigned j = 0; j + k + 1 < n; j++) {
            double t1 = f[j + k + 1] + mu * b[j];
            double t2 = b[j] + mu * f[j + k + 1];
            f[j + k + 1] = t1;
            b[j] = t2;
        }
        den = (1.0 - mu * mu) * den - f[k + 1] * f[k + 1] - b[n - k - 2] * b[n - k - 2];
    }
    return k;
}

// In at most two copies: the reads' concealment feeds it every period.
static void hist_add(struct bb_plc *p, const float *pcm, unsigned nframes)
{
    const unsigned ch = p->channels, len = p->hist_len;
    if (nframes > len) { // only the newest fit
        pcm += (size_t)(nframes - len) * ch;
        p->pos += nframes - len;
        nframes = len;
    }
    unsigned at = p->pos & (len - 1), first = len - at < nframes ? len - at : nframes;
    memcpy(p->hist + (size_t)at * ch, pcm, (size_t)first * ch * sizeof(float));
    memcpy(p->hist, pcm + (size_t)first * ch, (size_t)(nframes - first) * ch * sizeof(float));
    p->pos += nframes;
    p->filled = p->filled + nframes < len ? p->filled + nframes : len;
}

// Level of the k-th concealed frame of a run.
static float run_gain(const struct bb_plc *p, unsigned k)
{
    if (k < p->hold)
        return 1.0f;
    k -= p->hold;
    return k >= p->fade ? 0.0f : 1.0f - (float)k / (float)p->fade;
}

// Channel c: fit the predictor to the history, then run it on for n +
// xfade frames past the history's end: n into pcm (scaled by the run's
// level) and into pred (unscaled, the history's continuation), the rest
// into the tail (scaled) for the crossfade into the next real frames.
static void predict_channel(struct bb_plc *p, unsigned c, float *pcm, float *pred, unsigned n)
{
    const unsigned ch = p->channels, have = p->filled, len = p->hist_len;
    const unsigned total = n + p->xfade;
    double *x = p->work, *scratch = p->work + len + p->frames + p->xfade;
    for (unsigned i = 0; i < have; i++)
        x[i] = p->hist[(size_t)((p->pos - have + i) & (len - 1)) * ch + c];
    double a[PLC_ORDER + 1];
    unsigned m = bb_plc_burg(x, have, a, p->order, scratch);
    for (unsigned k = 0; k < total; k++) {
        double y = 0.0;
        for (unsigned i = 1; i <= m; i++)
            y -= a[i] * x[have + k - i];
        // A stable predictor cannot grow; this only guards against rounding.
        y = y > 4.0 ? 4.0 : y < -4.0 ? -4.0 : y;
        x[have + k] = y;
        float g = run_gain(p, p->run + k);
        if (k < n) {
            pcm[(size_t)k * ch + c] = (float)y * g;
            pred[(size_t)k * ch + c] = (float)y;
        } else {
            p->tail[(size_t)(k - n) * ch + c] = (float)y * g;
        }
    }
}

void bb_plc_conceal_n(struct bb_plc *p, float *pcm, unsigned n)
{
    n = n < p->frames ? n : p->frames;
    // The unscaled prediction goes on as history: a run of losses
    // continues it, not its faded copy.
    for (unsigned c = 0; c < p->channels; c++)
        predict_channel(p, c, pcm, p->pred, n);
    hist_add(p, p->pred, n);
    p->run += n;
}

void bb_plc_feed_n(struct bb_plc *p, float *pcm, unsigned n)
{
    const unsigned ch = p->channels;
    if (p->run > 0) {
        p->run = 0;
        p->xf_pos = 0;
    }
    // The crossfade from the prediction's tail, carried across blocks
    // shorter than it.
    for (unsigned i = 0; i < n && p->xf_pos < p->xfade; i++, p->xf_pos++) {
        float w = (float)(p->xf_pos + 1) / (float)(p->xfade + 1);
        for (unsigned c = 0; c < ch; c++) {
            float *s = pcm + (size_t)i * ch + c;
            *s = p->tail[(size_t)p->xf_pos * ch + c] * (1.0f - w) + *s * w;
        }
    }
    hist_add(p, pcm, n);
}

void bb_plc_conceal(struct bb_plc *p, float *pcm)
{
    bb_plc_conceal_n(p, pcm, p->frames);
}

void bb_plc_feed(struct bb_plc *p, float *pcm)
{
    bb_plc_feed_n(p, pcm, p->frames);
}

void bb_plc_reset(struct bb_plc *p)
{
    p->filled = 0;
    p->run = 0;
    p->xf_pos = p->xfade;
}
