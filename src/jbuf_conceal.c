// SPDX-License-Identifier: GPL-2.0-or-later
// jbuf_conceal.c: an underrun's gap played as a prediction (see
// jbuf_conceal.h). The process callback's only.
#include "jbuf_conceal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jbuf.h"

int bb_jbuf_cc_init(struct bb_jbuf *jb)
{
    struct bb_jbuf_cc *cc = &jb->cc;
    int rc = bb_plc_init(&cc->plc, jb->channels, jb->max_period, jb->rate);
    if (rc < 0)
        return rc;
    cc->min_hist = cc->plc.hist_len / 2;
    cc->cap = cc->plc.hold + cc->plc.fade;
    cc->buf = calloc((size_t)jb->max_period * jb->channels, sizeof(float));
    return cc->buf ? 0 : -ENOMEM;
}

void bb_jbuf_cc_cleanup(struct bb_jbuf *jb)
{
    struct bb_jbuf_cc *cc = &jb->cc;
    bb_plc_cleanup(&cc->plc);
    free(cc->buf);
    cc->buf = NULL;
}

BB_RT static void interleave(const struct bb_jbuf *jb, float *const *src, float *dst, unsigned n)
{
    const unsigned ch = jb->channels;
    if (ch == 1) {
        memcpy(dst, src[0], n * sizeof(float));
        return;
    }
    for (unsigned c = 0; c < ch; c++)
        for (unsigned i = 0; i < n; i++)
            dst[i * ch + c] = src[c][i];
}

BB_RT static void deinterleave(const struct bb_jbuf *jb, const float *src, float *const *dst,
                               unsigned from, unsigned n)
{
    const unsigned ch = jb->channels;
    for (unsigned c = 0; c < ch; c++)
        for (unsigned i = from; i < n; i++)
            dst[c][i] = src[i * ch + c];
}

BB_RT int bb_jbuf_cc_fill(struct bb_jbuf *jb, float *const *out, unsigned from, unsigned n)
{
    struct bb_jbuf_cc *cc = &jb->cc;
    const unsigned ch = jb->channels, miss = n - from;
    if (n > jb->max_period || from >= n || cc->run >= cc->cap)
        return 0;
    if (cc->plc.filled + from < cc->min_hist)
        return 0;
    if (cc->budget) {
        if (*cc->budget < ch)
            return 0;
        *cc->budget -= ch;
    }
    float *x = cc->buf;
    if (from) { // heard before it ran dry (after a gap: crossfaded from it)
        interleave(jb, out, x, from);
        bb_plc_feed_n(&cc->plc, x, from);
        deinterleave(jb, x, out, 0, from);
    }
    // The prediction to the end of its life (it has faded to silence
    // there), silence after.
    unsigned pred = cc->cap - cc->run < miss ? cc->cap - cc->run : miss;
    bb_plc_conceal_n(&cc->plc, x + (size_t)from * ch, pred);
    memset(x + (size_t)(from + pred) * ch, 0, (size_t)(miss - pred) * ch * sizeof(float));
    deinterleave(jb, x, out, from, n);
    cc->run += miss;
    return 1;
}

BB_RT int bb_jbuf_cc_gap(const struct bb_jbuf *jb)
{
    return jb->cc.run > 0;
}

BB_RT void bb_jbuf_cc_heard(struct bb_jbuf *jb, float *const *out, unsigned n)
{
    struct bb_jbuf_cc *cc = &jb->cc;
    if (n > jb->max_period)
        return;
    int xfade = cc->plc.run > 0 || cc->plc.xf_on;
    interleave(jb, out, cc->buf, n);
    bb_plc_feed_n(&cc->plc, cc->buf, n);
    if (xfade)
        deinterleave(jb, cc->buf, out, 0, n);
    cc->run = 0;
}

BB_RT void bb_jbuf_cc_forget(struct bb_jbuf *jb)
{
    bb_plc_reset(&jb->cc.plc);
    jb->cc.run = 0;
}
