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
#define LINE_POINTS    20     // points before departures are measured from the fitted line
#define FIT_PASSES     2      // rejections of off-line points before the final fit
#define FIT_REJECT     3.5    // a point further than this many typical departures is left out
#define FIT_FLOOR_US   10.0   // ... but one within this many us never is

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

// Least squares line through the fit's points that `use` marks: slope
// (ppm), intercept at mt, the points used and their residuals' sum of squares.
struct line {
    double b, a, mt, sxx, ss;
    unsigned m;
};

BB_RT static int fit_line(const struct bb_drift *d, const unsigned char *use, struct line *l)
{
    double mt = 0.0, mf = 0.0;
    unsigned m = 0;
    for (unsigned i = 0; i < d->n; i++)
        if (use[i]) {
            mt += d->t[i];
            mf += d->f[i];
            m++;
        }
    if (m < 3)
        return -1;
    mt /= m;
    mf /= m;
    double sxx = 0.0, sxy = 0.0;
    for (unsigned i = 0; i < d->n; i++)
        if (use[i]) {
            sxx += (d->t[i] - mt) * (d->t[i] - mt);
            sxy += (d->t[i] - mt) * (d->f[i] - mf);
        }
    if (sxx <= 0.0)
        return -1;
    l->b = sxy / sxx;
    l->a = mf;
    l->mt = mt;
    l->sxx = sxx;
    l->m = m;
    l->ss = 0.0;
    for (unsigned i = 0; i < d->n; i++)
        if (use[i]) {
            double r = d->f[i] - l->a - l->b * (d->t[i] - mt);
            l->ss += r * r;
        }
    return 0;
}

// The k-th smallest of v[0..n) (v is reordered): Hoare's selection.
BB_RT static double select_kth(double *v, unsigned n, unsigned k)
{
    unsigned lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = v[(lo + hi) / 2];
        unsigned i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double x = v[i];
                v[i] = v[j];
                v[j] = x;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return v[k];
}

// The line through the fit's points, robustly: a least-squares line, then
// again without the points that depart from it by more than FIT_REJECT
// times their typical departure (the median absolute residual, as a
// standard deviation), twice. Under load whole windows come late on one
// side (a network thread woken late all window long, a callback that
// was): those points sit off the line in one direction and would tilt a
// plain least-squares fit by several ppm; the majority, the punctual
// windows, decides. Slope and standard error from the points kept.
BB_RT static void refit(struct bb_drift *d)
{
    unsigned char use[BB_DRIFT_POINTS];
    double res[BB_DRIFT_POINTS];
    const unsigned n = d->n;
    if (n < 3)
        return;
    memset(use, 1, n);
    struct line l;
    if (fit_line(d, use, &l) < 0)
        return;
    for (int pass = 0; pass < FIT_PASSES; pass++) {
        for (unsigned i = 0; i < n; i++)
            res[i] = fabs(d->f[i] - l.a - l.b * (d->t[i] - l.mt));
        double sigma = 1.4826 * select_kth(res, n, n / 2);
        double cut = FIT_REJECT * sigma > FIT_FLOOR_US ? FIT_REJECT * sigma : FIT_FLOOR_US;
        for (unsigned i = 0; i < n; i++)
            use[i] = fabs(d->f[i] - l.a - l.b * (d->t[i] - l.mt)) <= cut;
        struct line l2;
        if (fit_line(d, use, &l2) < 0 || l2.m < n / 2)
            break; // no majority on a line: keep the last
        l = l2;
    }
    d->ppm = l.b;
    d->fit_a = l.a;
    d->fit_mt = l.mt;
    d->se_ppm = sqrt(l.ss / (l.m - 2) / l.sxx);
    d->fit_used = l.m;
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
// median's history.
BB_RT static void add_slope(struct bb_drift *d, double s, double dev)
{
    d->slopes[d->slope_head] = s;
    d->devs[d->slope_head] = fabs(dev);
    d->slope_head = (d->slope_head + 1) % BB_DRIFT_MEDIAN;
    if (d->nslopes < BB_DRIFT_MEDIAN)
        d->nslopes++;
}

// A point's departure (us) from where the line puts it: once the fit has
// LINE_POINTS points, the fitted line (robust: a run of late windows does
// not drag it along); before, the line through the last point kept at the
// median of recent slopes.
BB_RT static double departure(const struct bb_drift *d, double t, double raw, double keep)
{
    if (d->n >= LINE_POINTS)
        return raw + d->last_adj - d->last_raw - (d->fit_a + d->ppm * (t - d->fit_mt));
    return raw - d->last_raw - keep * (t - d->last_t);
}

// Held departures that only ever move away from the line, level from one
// window to the next or by a step, mostly level, and end on two windows
// level with each other: a staircase of steps (cycles lost every second or
// so). Not a drift beyond the range (all rise) nor a loaded spell, whose
// windows are late by as much as they like, up and down.
BB_RT static int staircase(const double *dv, unsigned n, double thr)
{
    const double sign = dv[n - 1] > 0 ? 1.0 : -1.0;
    if (n < 3 || sign * dv[0] <= 0 || fabs(dv[n - 1] - dv[n - 2]) > 0.5 * thr)
        return 0;
    unsigned flat = 0, up = 0;
    for (unsigned i = 1; i < n; i++) {
        double rise = sign * (dv[i] - dv[i - 1]);
        if (fabs(rise) <= 0.5 * thr)
            flat++;
        else if (rise >= thr)
            up++;
        else
            return 0; // neither level nor a step up: a slope, or a spell
    }
    return up > 0 && 2 * flat >= n - 1; // steps, mostly level: a drift is all rise
}

// BB_DRIFT_HOLD windows in a row off the line: a step if they agree on a
// new level (each within half the threshold of their median departure: a
// step is clean, a loaded spell's windows are late by as much as they like): the step is that
// median, taken out of all of them, which go in. Else the oldest was an
// excursion (dropped) and the rest wait on.
BB_RT static void held_full(struct bb_drift *d, double keep, double thr)
{
    double dv[BB_DRIFT_HOLD], sorted[BB_DRIFT_HOLD];
    unsigned n = d->nheld;
    for (unsigned i = 0; i < n; i++)
        sorted[i] = dv[i] = departure(d, d->h_t[i], d->h_raw[i], keep);
    double step = select_kth(sorted, n, n / 2);
    int agree = 1;
    for (unsigned i = 0; i < n && agree; i++)
        agree = fabs(dv[i] - step) <= 0.5 * thr;
    if (!agree && staircase(dv, n, thr)) {
        // Steps closer together than the hold: the newest two windows,
        // level with each other, stand on the newest step; what came
        // before them is left out, never fitted as a slope.
        d->spikes += n - 2;
        memmove(d->h_t, d->h_t + n - 2, 2 * sizeof d->h_t[0]);
        memmove(d->h_raw, d->h_raw + n - 2, 2 * sizeof d->h_raw[0]);
        dv[0] = dv[n - 2];
        dv[1] = dv[n - 1];
        n = d->nheld = 2;
        step = 0.5 * (dv[0] + dv[1]);
        agree = 1;
    }
    if (!agree) {
        d->spikes++;
        memmove(d->h_t, d->h_t + 1, (n - 1) * sizeof d->h_t[0]);
        memmove(d->h_raw, d->h_raw + 1, (n - 1) * sizeof d->h_raw[0]);
        d->nheld--;
        return;
    }
    d->steps++;
    const double raw0 = d->last_raw, adj0 = d->last_adj;
    for (unsigned i = 0; i < n; i++) {
        if (i > 0)
            add_slope(d, (d->h_raw[i] - d->h_raw[i - 1]) / (d->h_t[i] - d->h_t[i - 1]),
                      dv[i] - dv[i - 1]);
        add_point(d, d->h_t[i], d->h_raw[i], adj0 + d->h_raw[i] - raw0 - step);
    }
    d->nheld = 0;
    refit(d);
}

// One window's point: raw (us) at consumer time t (s). A point off the
// line through the last one kept (its slope the median of recent slopes)
// by more than the threshold is held back, with those after it, for up to
// BB_DRIFT_HOLD windows (2 s): if a point comes back on the line first,
// the held ones were an excursion (windows that came late on one side, a
// burst of late packets) and are dropped; if they stay off, together, it
// was a step (a cycle JACK lost without counting it, a longer route), and
// the step is taken out. Deciding on many windows, not one, keeps the
// excursions of a loaded machine, which come and go over a second or two,
// from being taken for steps in and out, each with its own error.
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
    if (dt > GAP_S + BB_DRIFT_HOLD * WINDOW_S ||
        (d->nheld && t - d->h_t[d->nheld - 1] > GAP_S)) {
        d->nslopes = 0; // a pause: whatever happened in it, start the median over
        d->spikes += d->nheld;
        d->nheld = 0;
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
    double dev = departure(d, t, raw, keep);
    if (fabs(dev) <= thr) {
        d->spikes += d->nheld; // back on the line: what was held was an excursion
        d->nheld = 0;
        add_slope(d, (raw - d->last_raw) / dt, dev);
        add_point(d, t, raw, d->last_adj + raw - d->last_raw);
        refit(d);
        return;
    }
    d->h_t[d->nheld] = t;
    d->h_raw[d->nheld] = raw;
    if (++d->nheld == BB_DRIFT_HOLD)
        held_full(d, keep, thr);
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
