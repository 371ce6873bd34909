// SPDX-License-Identifier: GPL-2.0-or-later
// mixer.c: personal-mix matrix (control thread builds it) and the realtime
// mixing loop (process callback applies it). See mixer.h.
#include "mixer.h"

#include <stdlib.h>
#include <string.h>

struct bb_mix_graph *bb_mix_graph_new(unsigned nsrc, unsigned nmix)
{
    if (nsrc > BB_MAX_SOURCES || nmix > BB_MAX_MIXES)
        return NULL;
    struct bb_mix_graph *g = calloc(1, sizeof *g);
    float *gain = calloc((size_t)(nsrc ? nsrc : 1) * (nmix ? nmix : 1) * 2, sizeof *gain);
    if (!g || !gain) {
        free(gain);
        free(g);
        return NULL;
    }
    g->nsrc = nsrc;
    g->nmix = nmix;
    g->gain = gain;
    for (unsigned m = 0; m < BB_MAX_MIXES; m++)
        g->lead[m] = (uint16_t)m;
    g->nlead = nmix;
    return g;
}

void bb_mix_graph_group(struct bb_mix_graph *g)
{
    const size_t row = (size_t)g->nsrc * 2 * sizeof(float);
    g->nlead = 0;
    for (unsigned m = 0; m < g->nmix; m++) {
        g->lead[m] = (uint16_t)m;
        for (unsigned k = 0; k < m; k++)
            if (g->lead[k] == k &&
                memcmp(bb_mix_graph_gain(g, k, 0), bb_mix_graph_gain(g, m, 0), row) == 0) {
                g->lead[m] = (uint16_t)k;
                break;
            }
        g->nlead += g->lead[m] == m;
    }
}

void bb_mix_graph_free(struct bb_mix_graph *g)
{
    if (!g)
        return;
    free(g->gain);
    free(g);
}

void bb_pan_gains(float gain, float pan, float *l, float *r)
{
    if (pan < -1.0f)
        pan = -1.0f;
    if (pan > 1.0f)
        pan = 1.0f;
    *l = gain * (pan <= 0.0f ? 1.0f : 1.0f - pan);
    *r = gain * (pan >= 0.0f ? 1.0f : 1.0f + pan);
}

void bb_mixer_init(struct bb_mixer *mx, unsigned ramp_frames)
{
    memset(mx->cur, 0, sizeof mx->cur);
    mx->ramp_frames = ramp_frames ? ramp_frames : 1;
    mx->ramp_left = 0;
    mx->last = NULL;
}

// The inner loops are built for the baseline CPU and, where the compiler
// can, for AVX2 with FMA too, picked at load time (GCC's target_clones):
// one Debian package, the wide loop where the CPU has it.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define BB_MIX_CLONES __attribute__((target_clones("avx2,fma", "default")))
#else
#define BB_MIX_CLONES
#endif

// Adds src * g to acc (steady gain). Kept separate so the compiler
// vectorises it: no aliasing between the buffers.
BB_MIX_CLONES BB_RT static void mac_const(float *restrict acc, const float *restrict src, float g,
                                          unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        acc[i] += src[i] * g;
}

// Both sides of a steady stereo gain in one pass over src.
BB_MIX_CLONES BB_RT static void mac_const2(float *restrict l, float *restrict r,
                                           const float *restrict src, float gl, float gr,
                                           unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        l[i] += src[i] * gl;
        r[i] += src[i] * gr;
    }
}

// Adds src * (g0 + i * step) to acc (gain ramp).
BB_MIX_CLONES BB_RT static void mac_ramp(float *restrict acc, const float *restrict src, float g0, float step,
                           unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        acc[i] += src[i] * (g0 + step * (float)(i + 1));
}

// True when every sample is exactly zero: a muted microphone, a silent
// local input, a musician between songs. Checked once per source and
// period, it saves that source's work in every mix.
BB_RT static int all_zero(const float *restrict x, unsigned n)
{
    float acc = 0.0f;
    for (unsigned i = 0; i < n; i++)
        acc += x[i] * x[i]; // vectorises; a NaN or any non-zero makes it non-zero
    return acc == 0.0f;
}

BB_RT void bb_mixer_process(struct bb_mixer *mx, const struct bb_mix_graph *g,
                            const float *const *src, float *const *out, unsigned nframes)
{
    if (g != mx->last) {
        // A new graph: ramp from the gains in use to its targets.
        mx->ramp_left = (mx->ramp_frames + nframes - 1) / nframes;
        mx->last = g;
    }
    const unsigned ramp = mx->ramp_left;
    const float inv_n = 1.0f / (float)nframes;
    for (unsigned s = 0; s < g->nsrc; s++)
        mx->live[s] = src[s] && !all_zero(src[s], nframes) ? src[s] : NULL;

    for (unsigned m = 0; m < g->nmix; m++) {
        float *restrict l = out[2 * m];
        float *restrict r = out[2 * m + 1];
        if (ramp == 0 && g->lead[m] != m) {
            // Settled: every gain in use is its target, and the lead's
            // targets are this mix's: the same sums in the same order.
            memcpy(l, out[2 * g->lead[m]], nframes * sizeof *l);
            memcpy(r, out[2 * g->lead[m] + 1], nframes * sizeof *r);
            continue;
        }
        memset(l, 0, nframes * sizeof *l);
        memset(r, 0, nframes * sizeof *r);
        float(*cur)[2] = mx->cur[g->mix_id[m]];
        for (unsigned s = 0; s < g->nsrc; s++) {
            const float *target = bb_mix_graph_gain(g, m, s);
            float *c = cur[g->src_id[s]];
            const float *in = mx->live[s];
            if (ramp == 0) {
                // Steady state: skip what cannot be heard.
                if (!in || (c[0] == 0.0f && c[1] == 0.0f))
                    continue;
                if (c[0] != 0.0f && c[1] != 0.0f)
                    mac_const2(l, r, in, c[0], c[1], nframes);
                else if (c[0] != 0.0f)
                    mac_const(l, in, c[0], nframes);
                else
                    mac_const(r, in, c[1], nframes);
                continue;
            }
            float next_l = c[0] + (target[0] - c[0]) / (float)ramp;
            float next_r = c[1] + (target[1] - c[1]) / (float)ramp;
            if (ramp == 1) {
                next_l = target[0];
                next_r = target[1];
            }
            if (in) {
                if (c[0] != 0.0f || next_l != 0.0f)
                    mac_ramp(l, in, c[0], (next_l - c[0]) * inv_n, nframes);
                if (c[1] != 0.0f || next_r != 0.0f)
                    mac_ramp(r, in, c[1], (next_r - c[1]) * inv_n, nframes);
            }
            c[0] = next_l;
            c[1] = next_r;
        }
    }
    if (mx->ramp_left > 0)
        mx->ramp_left--;
}

BB_RT void bb_mix_add_ramped(float *dst, const float *src, unsigned nframes, float *cur,
                             float target, float step)
{
    float g = *cur;
    unsigned i = 0;
    // The ramp, frame by frame, until the gain is there...
    for (; i < nframes && g != target; i++) {
        g = g < target ? (g + step < target ? g + step : target)
                       : (g - step > target ? g - step : target);
        dst[i] += g * src[i];
    }
    // ... then the rest at the target (vectorisable).
    if (g != 0.0f)
        for (; i < nframes; i++)
            dst[i] += g * src[i];
    *cur = g;
}
