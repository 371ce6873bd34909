// SPDX-License-Identifier: GPL-2.0-or-later
// join_conv.c: sample-rate conversion at the musician's end (join.h).
//
// A musician whose JACK runs at another rate than the hub's (44.1 kHz
// against 48 kHz, or the other way) converts both directions here, so the
// wire and the hub run at the hub's rate and the hub needs no resampler:
//
//  * up: each period of our inputs is appended to a FIFO and converted
//    into as many frames at the hub's rate as it allows (a period of 64 at
//    44.1 kHz gives 69 or 70 at 48 kHz), which go to the send ring;
//  * down: each period asks the jitter buffer (at the hub's rate) for what
//    the converter lacks to make one of our periods, and converts.
//
// The ratio is the nominal one (our rate over the hub's) and fixed: the
// drift between the two sound cards is the jitter buffers' business, at
// both ends, as between two machines at one rate (the hub's sees our
// clock, scaled to its rate, in the timestamps).
//
// Clocks. Timestamps and the jitter buffer's clock count frames at the
// hub's rate: up_clock is the frames converted up so far, so a packet's ts
// is the place of its first frame in our converted stream (it advances at
// our clock's pace times the nominal ratio, which is what the hub's drift
// estimator must see); down_clock is the frames read from the jitter
// buffer so far, the clock its lag and drift estimate count in. Both start
// at 0 with the session: only their differences mean anything.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "join.h"

#define CONV_FRAMES (BB_STREAM_MAX_PERIOD + 4 * BB_RS_AHEAD + 8) // any buffer here, frames

int join_conv_open(struct join_stream *s, unsigned ours, unsigned hubs, unsigned period,
                   char *err, size_t err_size)
{
    struct join_conv *cv = &s->conv;
    memset(cv, 0, sizeof *cv);
    cv->up_ratio = (double)ours / hubs;
    cv->down_ratio = (double)hubs / ours;
    // A period at the larger rate, and what the converter looks ahead,
    // must fit the stream's buffers (BB_STREAM_MAX_PERIOD).
    double most = cv->up_ratio > 1.0 ? cv->up_ratio : cv->down_ratio;
    if (period * most + 2 * bb_rs_ahead(most) + 4 > BB_STREAM_MAX_PERIOD) {
        snprintf(err, err_size,
                 "cannot convert %u Hz to the hub's %u Hz with a JACK period of %u frames", ours,
                 hubs, period);
        return -1;
    }
    const unsigned up_ch = s->st.tx_channels, down_ch = s->st.rx_channels;
    int ok = bb_rs_init(&cv->up, up_ch) == 0 && bb_rs_init(&cv->down, down_ch) == 0;
    ok = ok && (cv->up_fifo = calloc((size_t)CONV_FRAMES * up_ch, sizeof(float)));
    ok = ok && (cv->up_out = calloc((size_t)CONV_FRAMES * up_ch, sizeof(float)));
    ok = ok && (cv->down_fifo = calloc((size_t)CONV_FRAMES * down_ch, sizeof(float)));
    ok = ok && (cv->down_out = calloc((size_t)CONV_FRAMES * down_ch, sizeof(float)));
    for (unsigned c = 0; c < BB_MIX_CH; c++)
        ok = ok && (cv->down_plane[c] = calloc(CONV_FRAMES, sizeof(float)));
    if (!ok) {
        join_conv_close(s);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    bb_rs_reset(&cv->up);
    bb_rs_reset(&cv->down);
    cv->on = 1;
    return 0;
}

void join_conv_close(struct join_stream *s)
{
    struct join_conv *cv = &s->conv;
    bb_rs_cleanup(&cv->up);
    bb_rs_cleanup(&cv->down);
    free(cv->up_fifo);
    free(cv->up_out);
    free(cv->down_fifo);
    free(cv->down_out);
    for (unsigned c = 0; c < BB_MIX_CH; c++)
        free(cv->down_plane[c]);
    memset(cv, 0, sizeof *cv);
}

// The most output frames the n input frames at hand make at ratio r.
BB_RT static unsigned conv_can(const struct bb_resampler *rs, unsigned have, double r)
{
    unsigned ahead = bb_rs_ahead(r);
    if (have < ahead + 1)
        return 0;
    unsigned k = (unsigned)((have - ahead - rs->frac) / r) + 1;
    while (k > 0 && bb_rs_need(rs, k, r) > have)
        k--;
    while (bb_rs_need(rs, k + 1, r) <= have)
        k++;
    return k;
}

BB_RT void join_conv_send(struct join_stream *s, const float *inter, unsigned n)
{
    struct join_conv *cv = &s->conv;
    const unsigned ch = s->st.tx_channels;
    if (cv->up_fill + n > CONV_FRAMES)
        cv->up_fill = 0; // cannot happen with the period join_conv_open took
    memcpy(cv->up_fifo + (size_t)cv->up_fill * ch, inter, (size_t)n * ch * sizeof(float));
    cv->up_fill += n;
    unsigned k = conv_can(&cv->up, cv->up_fill, cv->up_ratio);
    if (k > CONV_FRAMES)
        k = CONV_FRAMES;
    if (k == 0)
        return;
    unsigned used = bb_rs_run(&cv->up, cv->up_fifo, cv->up_fill, cv->up_ratio, cv->up_out, k);
    memmove(cv->up_fifo, cv->up_fifo + (size_t)used * ch,
            (size_t)(cv->up_fill - used) * ch * sizeof(float));
    cv->up_fill -= used;
    bb_stream_rt_send(&s->st, cv->up_out, k, cv->up_clock);
    cv->up_clock += k;
}

BB_RT void join_conv_gap(struct join_stream *s, unsigned missed, float *scratch)
{
    struct join_conv *cv = &s->conv;
    // Up: the gap at the hub's rate, faded from the last frame sent; the
    // converter starts again after it (what it held is half a millisecond).
    unsigned up = (unsigned)lrint(missed / cv->up_ratio);
    bb_stream_rt_send_gap(&s->st, up, BB_STREAM_MAX_PERIOD, cv->up_clock, scratch);
    cv->up_clock += up;
    cv->up_fill = 0;
    bb_rs_reset(&cv->up);
    // Down: what we would have played, at the hub's rate, dropped.
    unsigned down = (unsigned)lrint(missed * cv->down_ratio);
    unsigned held = cv->down_fill < down ? cv->down_fill : down;
    bb_jbuf_skip(&s->st.jb, down - held);
    cv->down_clock += down - held;
    cv->down_fill = 0;
    bb_rs_reset(&cv->down);
}

BB_RT int join_conv_read(struct join_stream *s, float *const *out, unsigned n, uint64_t t_ns)
{
    struct join_conv *cv = &s->conv;
    const unsigned ch = s->st.rx_channels;
    unsigned need = bb_rs_need(&cv->down, n, cv->down_ratio);
    int played = 1;
    bb_jbuf_clock(&s->st.jb, cv->down_clock, t_ns);
    if (need > cv->down_fill) {
        unsigned m = need - cv->down_fill;
        played = bb_jbuf_read(&s->st.jb, cv->down_plane, m);
        cv->down_clock += m;
        float *dst = cv->down_fifo + (size_t)cv->down_fill * ch;
        for (unsigned i = 0; i < m; i++)
            for (unsigned c = 0; c < ch; c++)
                dst[i * ch + c] = cv->down_plane[c][i];
        cv->down_fill += m;
    }
    unsigned used =
        bb_rs_run(&cv->down, cv->down_fifo, cv->down_fill, cv->down_ratio, cv->down_out, n);
    memmove(cv->down_fifo, cv->down_fifo + (size_t)used * ch,
            (size_t)(cv->down_fill - used) * ch * sizeof(float));
    cv->down_fill -= used;
    for (unsigned c = 0; c < ch; c++)
        for (unsigned i = 0; i < n; i++)
            out[c][i] = cv->down_out[i * ch + c];
    return played;
}
