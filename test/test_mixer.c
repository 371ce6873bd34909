// SPDX-License-Identifier: GPL-2.0-or-later
// test_mixer.c: the mix matrix: gains, mute by zero gain, pan law, ramps
// without steps, and settling on the target.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mixer.h"

#define N 64

static struct bb_mixer mx;

static float max_step(const float *x, unsigned n, float prev)
{
    float m = fabsf(x[0] - prev);
    for (unsigned i = 1; i < n; i++)
        if (fabsf(x[i] - x[i - 1]) > m)
            m = fabsf(x[i] - x[i - 1]);
    return m;
}

int main(void)
{
    float a[N], b[N], l[N], r[N];
    for (int i = 0; i < N; i++) {
        a[i] = 0.5f;          // DC: a ramp shows as a slope, a step as a jump
        b[i] = 0.25f;
    }
    const float *src[2] = {a, b};
    float *out[2] = {l, r};

    // Pan law: unity at centre on both sides, far side silent at hard pan.
    float gl, gr;
    bb_pan_gains(1.0f, 0.0f, &gl, &gr);
    CHECK(gl == 1.0f && gr == 1.0f);
    bb_pan_gains(1.0f, -1.0f, &gl, &gr);
    CHECK(gl == 1.0f && gr == 0.0f);
    bb_pan_gains(0.5f, 0.5f, &gl, &gr);
    CHECK(gl == 0.25f && gr == 0.5f);
    bb_pan_gains(1.0f, 7.0f, &gl, &gr); // clamped
    CHECK(gl == 0.0f && gr == 1.0f);
    CHECK(fabsf(bb_db_to_gain(-6.0206f) - 0.5f) < 1e-4f);
    CHECK(bb_db_to_gain(-INFINITY) == 0.0f);

    bb_mixer_init(&mx, 240); // 5 ms at 48 kHz: 4 periods of 64
    struct bb_mix_graph *g1 = bb_mix_graph_new(2, 1);
    CHECK(g1 != NULL);
    g1->src_id[0] = BB_SRC_CLIENT(0, 0);
    g1->src_id[1] = BB_SRC_CLIENT(1, 0);
    g1->mix_id[0] = 0;
    bb_pan_gains(1.0f, 0.0f, &bb_mix_graph_gain(g1, 0, 0)[0], &bb_mix_graph_gain(g1, 0, 0)[1]);
    // source 1 muted: gain 0

    // A new source ramps in from silence: no step bigger than a ramp slice.
    float prev = 0.0f;
    int periods = 0;
    do {
        bb_mixer_process(&mx, g1, src, out, N);
        CHECK(max_step(l, N, prev) <= 0.5f / 240.0f * 1.01f + 1e-6f);
        prev = l[N - 1];
        periods++;
    } while (!bb_mixer_settled(&mx) && periods < 100);
    CHECK(periods == 4);
    CHECK(l[N - 1] == 0.5f && r[N - 1] == 0.5f);
    // Settled: exact copy of source 0 (gain 1), the muted source absent.
    bb_mixer_process(&mx, g1, src, out, N);
    int exact = 1;
    for (int i = 0; i < N; i++)
        exact &= l[i] == a[i] && r[i] == a[i];
    CHECK(exact);

    // -6 dB halves the amplitude (after the ramp); unmuting source 1 adds it.
    struct bb_mix_graph *g2 = bb_mix_graph_new(2, 1);
    memcpy(g2->src_id, g1->src_id, sizeof g1->src_id);
    memcpy(g2->mix_id, g1->mix_id, sizeof g1->mix_id);
    float half = bb_db_to_gain(-6.0206f);
    bb_pan_gains(half, 0.0f, &bb_mix_graph_gain(g2, 0, 0)[0], &bb_mix_graph_gain(g2, 0, 0)[1]);
    bb_pan_gains(1.0f, 1.0f, &bb_mix_graph_gain(g2, 0, 1)[0], &bb_mix_graph_gain(g2, 0, 1)[1]);
    prev = l[N - 1];
    for (int p = 0; p < 4; p++) {
        bb_mixer_process(&mx, g2, src, out, N);
        CHECK(max_step(l, N, prev) < 0.01f);
        prev = l[N - 1];
    }
    CHECK(bb_mixer_settled(&mx));
    bb_mixer_process(&mx, g2, src, out, N);
    CHECK(fabsf(l[10] - 0.5f * half) < 1e-6f);           // left: half of a, b panned right
    CHECK(fabsf(r[10] - (0.5f * half + 0.25f)) < 1e-6f); // right: half of a plus b

    // A silent source costs nothing and adds nothing; a NaN is not silence.
    float z[N] = {0};
    const float *src_z[2] = {a, z};
    bb_mixer_process(&mx, g2, src_z, out, N);
    CHECK(mx.live[1] == NULL && mx.live[0] == a);
    CHECK(fabsf(r[10] - 0.5f * half) < 1e-6f);
    z[3] = NAN;
    bb_mixer_process(&mx, g2, src_z, out, N);
    CHECK(mx.live[1] == z);
    z[3] = 0.0f;

    // NULL source = silence; a mix is overwritten, never accumulated.
    const float *src_null[2] = {NULL, NULL};
    bb_mixer_process(&mx, g2, src_null, out, N);
    CHECK(l[0] == 0.0f && r[N - 1] == 0.0f);

    // Sources and mixes keep their gains by stable id across graphs.
    struct bb_mix_graph *g3 = bb_mix_graph_new(1, 1);
    g3->src_id[0] = BB_SRC_CLIENT(1, 0);
    g3->mix_id[0] = 0;
    bb_pan_gains(1.0f, 1.0f, &bb_mix_graph_gain(g3, 0, 0)[0], &bb_mix_graph_gain(g3, 0, 0)[1]);
    const float *src_b[1] = {b};
    bb_mixer_process(&mx, g3, src_b, out, N);
    CHECK(r[N - 1] == 0.25f); // b was already at full gain: no new ramp from 0
    CHECK(l[N - 1] == 0.0f);

    CHECK(BB_SRC_LOCAL(0) == BB_MAX_CLIENTS * BB_MAX_CLIENT_CH);
    CHECK(BB_SRC_LOCAL(BB_MAX_LOCAL_CH - 1) < BB_MAX_SOURCES);
    CHECK(bb_mix_graph_new(BB_MAX_SOURCES + 1, 1) == NULL);

    // bb_mix_add_ramped (the hub's click): adds, ramps by at most step a
    // frame, ends on the target and stays there; a gain of 0 adds nothing.
    {
        float dst[8] = {1, 1, 1, 1, 1, 1, 1, 1}, one[8] = {1, 1, 1, 1, 1, 1, 1, 1}, cur = 0.0f;
        bb_mix_add_ramped(dst, one, 8, &cur, 1.0f, 0.25f);
        CHECK(dst[0] == 1.25f && dst[2] == 1.75f && dst[3] == 2.0f && dst[7] == 2.0f);
        CHECK(cur == 1.0f);
        bb_mix_add_ramped(dst, one, 8, &cur, 0.5f, 0.25f); // down: 0.75, 0.5, 0.5...
        CHECK(dst[0] == 2.0f && dst[1] == 2.0f && dst[7] == 2.5f && cur == 0.5f);
        cur = 0.0f;
        bb_mix_add_ramped(dst, one, 8, &cur, 0.0f, 0.25f);
        CHECK(dst[7] == 2.5f && cur == 0.0f);
    }

    bb_mix_graph_free(g1);
    bb_mix_graph_free(g2);
    bb_mix_graph_free(g3);
    bb_mix_graph_free(NULL);
    return check_report("test_mixer");
}
