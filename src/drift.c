// SPDX-License-Identifier: GPL-2.0-or-later
// drift.c: sender clock rate against ours, from arrival and cycle
// timestamps (see drift.h).
#include "drift.h"

#include <math.h>
#include <string.h>

#define WINDOW_S       0.25   // consumer time per window
#define STEP_US        100.0  // a window this far off the median slope is a step
#define START_STEP_US  300.0  // before there is a median: more than 1000 ppm moves in a window
#define GAP_S          2.0    // no producer data for this long: the slope history starts over
#define READY_POINTS   60     // windows before the estimate is trusted (15 s)
#define READY_SE_PPM   3.0    // and the most standard error it may have

void bb_drift_init(struct bb_drift *d, unsigned rate)
{
    memset(d, 0, sizeof *d);
    d->rate = rate;
    d->ns_per_frame = 1e9 / rate;
    atomic_store(&d->p_min, INT64_MAX);
}

void bb_drift_arrived(struct bb_drift *d, int64_t pos, uint64_t t_ns)
{
    int64_t off = (int64_t)t_ns - llround((double)pos * d->ns_per_frame);
    int64_t cur = atomic_load_explicit(&d->p_min, memory_order_relaxed);
    // The consumer may exchange p_min meanwhile: then the compare fails and
    // this offset is weighed against the new window's value, as it should be.
    while (off < cur && !atomic_compare_exchange_weak_explicit(&d->p_min, &cur, off,
                                                               memory_order_relaxed,
                                                               memory_order_relaxed)) {
    }
}

BB_RT static double median(const double *v, unsigned n)
{
    double s[BB_DRIFT_MEDIAN];
    for (unsigned i = 0; i < n; i++) { // insertion sort, n <= BB_DRIFT_MEDIAN
        double x = v[i];
        unsigned j = i;
        for (; j > 0 && s[j - 1] > x; j--)
            s[j] = s[j - 1];
        s[j] = x;
    }
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

// Least squares line through the fit's points: slope (ppm) and its standard error.
BB_RT static void refit(struct bb_drift *d)
{
    const unsigned n = d->n;
    if (n < 3)
        return;
    double mt = 0.0, mf = 0.0;
    for (unsigned i = 0; i < n; i++) {
        mt += d->t[i];
        mf += d->f[i];
    }
    mt /= n;
    mf /= n;
    double sxx = 0.0, sxy = 0.0;
    for (unsigned i = 0; i < n; i++) {
        sxx += (d->t[i] - mt) * (d->t[i] - mt);
        sxy += (d->t[i] - mt) * (d->f[i] - mf);
    }
    if (sxx <= 0.0)
        return;
    double b = sxy / sxx, ss = 0.0;
    for (unsigned i = 0; i < n; i++) {
        double r = d->f[i] - mf - b * (d->t[i] - mt);
        ss += r * r;
    }
    d->ppm = b;
    d->se_ppm = sqrt(ss / (n - 2) / sxx);
}

BB_RT static void add_point(struct bb_drift *d, double t, double raw, double f)
{
    d->last_raw = raw;
    d->last_adj = f;
    d->last_t = t;
    d->t[d->head] = t;
    d->f[d->head] = f;
    d->head = (d->head + 1) % BB_DRIFT_POINTS;
    if (d->n < BB_DRIFT_POINTS)
        d->n++;
}

// A slope between two windows that were not a step goes into the
// median's history: drift, or the evidence of it (points held back one
// after the other, each off the line in the same direction: a lasting
// change of slope wins the median in 5 windows).
BB_RT static void add_slope(struct bb_drift *d, double s, double dev)
{
    d->slopes[d->slope_head] = s;
    d->devs[d->slope_head] = fabs(dev);
    d->slope_head = (d->slope_head + 1) % BB_DRIFT_MEDIAN;
    if (d->nslopes < BB_DRIFT_MEDIAN)
        d->nslopes++;
}

// One window's point: raw (us) at consumer time t (s). A point off the
// line by more than the threshold is held back until the next window
// tells a spike (the next is back on the line: dropped) from a step (the
// next stays off with it: the step is taken out of both).
BB_RT static void window_point(struct bb_drift *d, double t, double raw)
{
    if (!d->have_base) {
        d->have_base = 1;
        d->base = raw;
        add_point(d, t, 0.0, 0.0);
        return;
    }
    raw -= d->base;
    double dt = t - d->last_t;
    if (dt > GAP_S) {
        d->nslopes = 0; // a pause: whatever happened in it, start the median over
        d->pending = 0;
    }
    double keep, thr; // the slope the line follows (ppm), the step threshold (us)
    if (d->nslopes >= 3) {
        keep = median(d->slopes, d->nslopes);
        double noise = median(d->devs, d->nslopes);
        thr = 5.0 * noise > STEP_US ? 5.0 * noise : STEP_US;
    } else {
        keep = d->n >= READY_POINTS ? d->ppm : 0.0;
        thr = START_STEP_US * (dt > WINDOW_S ? dt / WINDOW_S : 1.0);
    }
    double dev = raw - d->last_raw - keep * dt;
    if (d->pending) {
        d->pending = 0;
        double pdt = d->p_t - d->last_t;
        double dev2 = raw - d->p_raw - keep * (t - d->p_t);
        if (fabs(dev) <= thr) {
            d->spikes++; // the held point was a spike: this one follows the line
        } else if (fabs(dev2) <= thr) {
            // A step at the held point: put it on the line, this one after it.
            d->steps++;
            add_slope(d, (raw - d->p_raw) / (t - d->p_t), dev2);
            double fp = d->last_adj + keep * pdt;
            add_point(d, d->p_t, d->p_raw, fp);
            add_point(d, t, raw, fp + raw - d->p_raw);
            refit(d);
            return;
        } else {
            // Neither: the held point was off the line and so is this one,
            // differently. Keep the held one's slope as evidence; hold this.
            d->spikes++;
            add_slope(d, (d->p_raw - d->last_raw) / pdt, d->p_dev);
            d->pending = 1;
            d->p_raw = raw;
            d->p_t = t;
            d->p_dev = dev;
            return;
        }
    } else if (fabs(dev) > thr) {
        d->pending = 1;
        d->p_raw = raw;
        d->p_t = t;
        d->p_dev = dev;
        return;
    }
    add_slope(d, (raw - d->last_raw) / dt, dev);
    add_point(d, t, raw, d->last_adj + raw - d->last_raw);
    refit(d);
}

BB_RT static void window_closed(struct bb_drift *d)
{
    int64_t pm = atomic_exchange_explicit(&d->p_min, INT64_MAX, memory_order_relaxed);
    int64_t cm = d->c_min;
    d->c_min = INT64_MAX;
    if (pm == INT64_MAX || cm == INT64_MAX)
        return; // nothing arrived in this window (a pause): no point
    // The fill in time (us, plus a constant) at this consumer time (s).
    window_point(d, (double)d->c_pos / d->rate, (double)(cm - pm) / 1000.0);
}

BB_RT int bb_drift_cycle(struct bb_drift *d, uint32_t frame, uint64_t t_ns)
{
    const int64_t window = (int64_t)(d->rate * WINDOW_S);
    if (!d->c_have) {
        d->c_have = 1;
        d->c_pos = 0;
        d->c_min = INT64_MAX;
        d->win_end = window;
        // What the producer saw before our first cycle belongs to no window.
        atomic_store_explicit(&d->p_min, INT64_MAX, memory_order_relaxed);
    } else {
        // JACK's frame counter only moves on; a cycle it lost is in the jump.
        d->c_pos += (uint32_t)(frame - d->c_frame);
    }
    d->c_frame = frame;
    int64_t off = (int64_t)t_ns - llround((double)d->c_pos * d->ns_per_frame);
    if (off < d->c_min)
        d->c_min = off;
    if (d->c_pos < d->win_end)
        return 0;
    window_closed(d);
    while (d->win_end <= d->c_pos)
        d->win_end += window;
    return 1;
}

BB_RT int bb_drift_ready(const struct bb_drift *d)
{
    return d->n >= READY_POINTS && d->se_ppm < READY_SE_PPM;
}
