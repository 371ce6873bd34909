// SPDX-License-Identifier: GPL-2.0-or-later
// jbuf_conceal.c: an underrun's gap played as a prediction (see
// jbuf_conceal.h). The process callback's only; frames interleaved, as
// plc.h keeps them (jbuf.c converts to and from the ports' buffers).
#include "jbuf_conceal.h"

#include <string.h>

#include "jbuf.h"

// The prediction's life (plc.h: full level, then the fade to silence).
static unsigned life(const struct bb_plc *p)
{
    return p->hold + p->fade;
}

int bb_jbuf_cc_init(struct bb_jbuf *jb)
{
    return bb_plc_init(&jb->cc.plc, jb->channels, jb->max_period, jb->rate);
}

void bb_jbuf_cc_cleanup(struct bb_jbuf *jb)
{
    bb_plc_cleanup(&jb->cc.plc);
}

BB_RT int bb_jbuf_cc_fill(struct bb_jbuf *jb, float *x, unsigned from, unsigned n)
{
    struct bb_plc *p = &jb->cc.plc;
    const unsigned ch = jb->channels, miss = n - from;
    if (p->run >= life(p)) { // it has faded: silence until the restart
        memset(x + (size_t)from * ch, 0, (size_t)miss * ch * sizeof(float));
        return 1;
    }
    if (p->filled + from < p->hist_len / 2)
        return 0; // too little of the stream to fit
    if (jb->cc.budget) {
        if (*jb->cc.budget < ch)
            return 0;
        *jb->cc.budget -= ch;
    }
    if (from) // heard before it ran dry
        bb_plc_feed_n(p, x, from);
    unsigned pred = life(p) - p->run < miss ? life(p) - p->run : miss;
    bb_plc_conceal_n(p, x + (size_t)from * ch, pred);
    memset(x + (size_t)(from + pred) * ch, 0, (size_t)(miss - pred) * ch * sizeof(float));
    return 1;
}

BB_RT int bb_jbuf_cc_gap(const struct bb_jbuf *jb)
{
    return jb->cc.plc.run > 0;
}

BB_RT int bb_jbuf_cc_heard(struct bb_jbuf *jb, float *x, unsigned n)
{
    struct bb_plc *p = &jb->cc.plc;
    int xfade = p->run > 0 || p->xf_pos < p->xfade;
    bb_plc_feed_n(p, x, n);
    return xfade;
}

BB_RT void bb_jbuf_cc_forget(struct bb_jbuf *jb)
{
    bb_plc_reset(&jb->cc.plc);
}
