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

static struct bb_mixer mx_grouped, mx_alone;

// A graph of 4 sources and 5 mixes, every gain `base` but mix `odd`'s gain
// for source 1, which is `odd_gain` (odd < 0: none differ).
static struct bb_mix_graph *group_graph(float base, int odd, float odd_gain)
{
    struct bb_mix_graph *g = bb_mix_graph_new(4, 5);
    for (unsigned s = 0; s < 4; s++)
        g->src_id[s] = (uint16_t)s;
    for (unsigned m = 0; m < 5; m++) {
        g->mix_id[m] = (uint16_t)m;
        for (unsigned s = 0; s < 4; s++) {
            float v = (int)m == odd && s == 1 ? odd_gain : base;
            bb_mix_graph_gain(g, m, s)[0] = v;
            bb_mix_graph_gain(g, m, s)[1] = s == 3 ? 0.5f * v : v; // a panned one
        }
    }
    return g;
}

// Issue 17: equal mixes mixed once. A mixer given graphs with their
// groups (bb_mix_graph_group) must produce, every period, exactly what a
// mixer mixing every mix on its own produces from the same gains: while
// settled (copies of the lead) and while a member's gain ramps away from
// its group (it leaves at the next period, ramped: no step).
static void test_groups(void)
{
    enum { PERIODS = 40 };
    static float src[4][N], out_g[10][N], out_a[10][N];
    const float *in[4];
    float *og[10], *oa[10];
    for (unsigned s = 0; s < 4; s++) {
        for (unsigned i = 0; i < N; i++)
            src[s][i] = sinf(0.01f * (float)(i + 1) * (float)(s + 1)) * 0.3f;
        in[s] = src[s];
    }
    for (unsigned k = 0; k < 10; k++) {
        og[k] = out_g[k];
        oa[k] = out_a[k];
    }
    bb_mixer_init(&mx_grouped, 240);
    bb_mixer_init(&mx_alone, 240);
    struct bb_mix_graph *gg[3], *ga[3];
    gg[0] = group_graph(1.0f, -1, 0.0f);   // everyone equal: one group
    gg[1] = group_graph(1.0f, 2, 0.25f);   // mix 2's source 1 down: it leaves
    gg[2] = group_graph(1.0f, -1, 0.0f);   // and comes back
    for (int k = 0; k < 3; k++) {
        ga[k] = group_graph(1.0f, k == 1 ? 2 : -1, 0.25f);
        bb_mix_graph_group(gg[k]);
    }
    CHECK(gg[0]->nlead == 1 && gg[0]->lead[4] == 0);
    CHECK(gg[1]->nlead == 2 && gg[1]->lead[2] == 2 && gg[1]->lead[3] == 0);
    CHECK(ga[0]->lead[4] == 4 && ga[0]->nlead == 5); // not grouped: mixed alone
    int exact = 1, ramped = 1;
    float prev2 = 0.0f;
    for (int p = 0; p < 3 * PERIODS; p++) {
        int k = p / PERIODS;
        bb_mixer_process(&mx_grouped, gg[k], in, og, N);
        bb_mixer_process(&mx_alone, ga[k], in, oa, N);
        CHECK_LOOP(exact, memcmp(out_g, out_a, sizeof out_g) == 0, "period %d differs", p);
        // Mix 2's left, less mix 0's: 0 while grouped, then ramps to the
        // difference of its source 1 (a step would jump at once).
        float d = out_g[4][N - 1] - out_g[0][N - 1];
        CHECK_LOOP(ramped, fabsf(d - prev2) <= 0.75f * 0.3f * (float)N / 240.0f + 1e-4f,
                   "period %d: step %g", p, (double)(d - prev2));
        prev2 = d;
    }
    CHECK(exact);
    CHECK(ramped);
    for (int k = 0; k < 3; k++) {
        bb_mix_graph_free(gg[k]);
        bb_mix_graph_free(ga[k]);
    }
}

int main(void)
{
    test_groups();
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
