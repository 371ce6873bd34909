// SPDX-License-Identifier: GPL-2.0-or-later
// jbuf.c: per-stream jitter buffer: producer half for the network receive
// thread, consumer half for the process callback (see jbuf.h).
#include "jbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONCEAL    8     // conceal at most this many lost packets in a row
#define RESYNC_PACKETS 3000  // a jump of more packets than this restarts the stream
#define MAX_AUTO_MS    20    // auto target never grows beyond this
#define LATE_RESYNC    8     // this many late packets in a row restart the stream

int bb_jbuf_init(struct bb_jbuf *jb, unsigned channels, unsigned frames, unsigned max_period,
                 unsigned rate, unsigned target, struct bb_decoder *dec)
{
    memset(jb, 0, sizeof *jb);
    if (channels == 0 || channels > BB_MAX_CLIENT_CH || frames == 0 || frames > 4096 ||
        max_period == 0 || max_period > BB_MAX_PERIOD || rate == 0)
        return -EINVAL;
    jb->channels = channels;
    jb->frames = frames;
    jb->max_period = max_period;
    jb->rate = rate;
    jb->dec = dec;
    jb->fixed = target != BB_JBUF_AUTO;
    jb->target = jb->fixed ? target : 0;
    // Room for a generous backlog: the largest period, the deepest target
    // and a burst of late packets.
    size_t ring_frames = (size_t)max_period * 4 + (size_t)frames * 16 + rate / 10 +
                         (jb->fixed ? target : 0);
    int rc = bb_ring_init(&jb->ring, ring_frames * channels * sizeof(float));
    jb->decoded = calloc((size_t)frames * channels, sizeof(float));
    jb->scratch = calloc(((size_t)max_period * 2 + frames) * channels, sizeof(float));
    if (rc < 0 || !jb->decoded || !jb->scratch) {
        bb_jbuf_cleanup(jb);
        return rc < 0 ? rc : -ENOMEM;
    }
    atomic_store(&jb->stats.target, jb->target);
    return 0;
}

void bb_jbuf_cleanup(struct bb_jbuf *jb)
{
    bb_ring_cleanup(&jb->ring);
    free(jb->decoded);
    free(jb->scratch);
    jb->decoded = NULL;
    jb->scratch = NULL;
}

static void stat_add(_Atomic uint64_t *c, uint64_t n)
{
    // Single writer: a relaxed load + store is enough and cheaper than an RMW.
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

int bb_jbuf_push(struct bb_jbuf *jb, const float *interleaved, unsigned nframes)
{
    uint32_t bytes = nframes * jb->channels * (uint32_t)sizeof(float);
    if (!bb_ring_write(&jb->ring, interleaved, bytes)) {
        stat_add(&jb->stats.overflow, 1);
        return 0;
    }
    return (int)nframes;
}

int bb_jbuf_receive(struct bb_jbuf *jb, uint32_t seq, const uint8_t *payload, size_t len)
{
    if (!jb->have_seq) {
        jb->have_seq = 1;
        jb->next_seq = seq;
    }
    int32_t d = (int32_t)(seq - jb->next_seq);
    if (d < 0 && ++jb->late_run >= LATE_RESYNC)
        d = RESYNC_PACKETS + 1; // a run of "late" packets is a sender that started over
    if (d < -RESYNC_PACKETS || d > RESYNC_PACKETS) {
        // The sender restarted its numbering: follow it, lose nothing more.
        jb->next_seq = seq;
        d = 0;
    }
    if (d < 0) {
        // Its place in the stream has been played or concealed already.
        if (d == -1)
            stat_add(&jb->stats.dup, 1);
        else
            stat_add(&jb->stats.late, 1);
        return 0;
    }
    jb->late_run = 0;
    int pushed = 0;
    if (d > 0) {
        stat_add(&jb->stats.lost, (uint64_t)d);
        // Conceal a short gap so the stream stays continuous; a long one
        // is left to the consumer, which fades out and refills.
        for (int i = 0; i < d && i < MAX_CONCEAL && jb->dec; i++) {
            if (bb_decode(jb->dec, NULL, 0, jb->decoded) > 0)
                pushed += bb_jbuf_push(jb, jb->decoded, jb->frames);
        }
    }
    jb->next_seq = seq + 1;
    stat_add(&jb->stats.received, 1);
    if (!jb->dec)
        return pushed;
    if (bb_decode(jb->dec, payload, len, jb->decoded) != (int)jb->frames) {
        stat_add(&jb->stats.bad, 1);
        return pushed;
    }
    return pushed + bb_jbuf_push(jb, jb->decoded, jb->frames);
}

BB_RT unsigned bb_jbuf_ready(struct bb_jbuf *jb)
{
    if (jb->state != BB_JB_PLAYING)
        return 0;
    return bb_ring_read_space(&jb->ring) / (jb->channels * (uint32_t)sizeof(float));
}

BB_RT void bb_jbuf_skip(struct bb_jbuf *jb, unsigned nframes)
{
    if (jb->state != BB_JB_PLAYING)
        return; // buffering: the start finds its depth anyway
    const uint32_t frame_bytes = jb->channels * (uint32_t)sizeof(float);
    unsigned avail = bb_ring_read_space(&jb->ring) / frame_bytes;
    unsigned n = nframes < avail ? nframes : avail;
    bb_ring_skip(&jb->ring, n * frame_bytes);
    stat_add(&jb->stats.skipped, n);
}

// Reads n frames from the ring into out (deinterleaving), starting at
// frame offset 0 of scratch already filled by the caller.
BB_RT static void deinterleave(const struct bb_jbuf *jb, const float *src, float *const *out,
                               unsigned n)
{
    const unsigned ch = jb->channels;
    if (ch == 1) {
        memcpy(out[0], src, n * sizeof(float));
        return;
    }
    for (unsigned c = 0; c < ch; c++)
        for (unsigned i = 0; i < n; i++)
            out[c][i] = src[i * ch + c];
}

BB_RT static void silence(const struct bb_jbuf *jb, float *const *out, unsigned from, unsigned n)
{
    for (unsigned c = 0; c < jb->channels; c++)
        memset(out[c] + from, 0, (n - from) * sizeof(float));
}

BB_RT int bb_jbuf_read(struct bb_jbuf *jb, float *const *out, unsigned nframes)
{
    const unsigned ch = jb->channels;
    const uint32_t frame_bytes = ch * (uint32_t)sizeof(float);
    if (nframes > jb->max_period) {
        silence(jb, out, 0, nframes);
        return 0;
    }
    unsigned avail = bb_ring_read_space(&jb->ring) / frame_bytes;
    atomic_store_explicit(&jb->stats.fill, avail, memory_order_relaxed);

    if (jb->state == BB_JB_BUFFERING) {
        if (avail < nframes + jb->target) {
            silence(jb, out, 0, nframes);
            return 0;
        }
        // Start (again) with a fade-in, at the target depth.
        unsigned excess = avail - nframes - jb->target;
        if (excess > 0)
            bb_ring_skip(&jb->ring, excess * frame_bytes);
        avail -= excess;
        jb->state = BB_JB_PLAYING;
        jb->fade_in = 0.0f;
        jb->window_left = 0;
    }

    if (avail < nframes) {
        // Underrun: play what is there, fade the rest out from the last
        // sample, and wait for the ring to refill to the target.
        bb_ring_read(&jb->ring, jb->scratch, avail * frame_bytes);
        for (unsigned i = 0; i < avail; i++)
            for (unsigned c = 0; c < ch; c++)
                jb->last[c] = jb->scratch[i * ch + c];
        deinterleave(jb, jb->scratch, out, avail);
        unsigned rest = nframes - avail;
        for (unsigned c = 0; c < ch; c++)
            for (unsigned i = 0; i < rest; i++)
                out[c][avail + i] = jb->last[c] * (float)(rest - 1 - i) / (float)rest;
        memset(jb->last, 0, sizeof jb->last);
        jb->state = BB_JB_BUFFERING;
        atomic_store_explicit(&jb->stats.underruns,
                              atomic_load_explicit(&jb->stats.underruns, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        if (!jb->fixed) {
            unsigned max_target = jb->rate * MAX_AUTO_MS / 1000;
            jb->target += nframes / 2 ? nframes / 2 : 1;
            if (jb->target > max_target)
                jb->target = max_target;
            atomic_store_explicit(&jb->stats.target, jb->target, memory_order_relaxed);
        }
        jb->calm_reads = 0;
        return 0;
    }

    // Watch the smallest excess over a 200 ms window; a standing excess of
    // a packet or more is latency nobody needs: cut all of it at once.
    unsigned excess = avail >= nframes + jb->target ? avail - nframes - jb->target : 0;
    if (jb->window_left == 0) {
        jb->window_left = jb->rate / 5 / nframes + 1;
        jb->min_excess = excess;
    }
    if (excess < jb->min_excess)
        jb->min_excess = excess;
    unsigned trim = 0;
    if (--jb->window_left == 0 && jb->min_excess >= jb->frames) {
        trim = jb->min_excess < jb->max_period ? jb->min_excess : jb->max_period;
        atomic_store_explicit(&jb->stats.trims,
                              atomic_load_explicit(&jb->stats.trims, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    }

    if (trim == 0) {
        bb_ring_read(&jb->ring, jb->scratch, nframes * frame_bytes);
        deinterleave(jb, jb->scratch, out, nframes);
    } else {
        // Splice: crossfade from the stream as it was to the stream trim
        // frames later, over the whole period.
        bb_ring_read(&jb->ring, jb->scratch, (nframes + trim) * frame_bytes);
        const float *a = jb->scratch, *b = jb->scratch + (size_t)trim * ch;
        for (unsigned c = 0; c < ch; c++)
            for (unsigned i = 0; i < nframes; i++) {
                float w = (float)(i + 1) / (float)nframes;
                out[c][i] = a[i * ch + c] * (1.0f - w) + b[i * ch + c] * w;
            }
    }
    if (jb->fade_in < 1.0f) {
        for (unsigned c = 0; c < ch; c++)
            for (unsigned i = 0; i < nframes; i++)
                out[c][i] *= (float)(i + 1) / (float)nframes;
        jb->fade_in = 1.0f;
    }
    for (unsigned c = 0; c < ch; c++)
        jb->last[c] = out[c][nframes - 1];

    if (!jb->fixed && jb->target > 0 && ++jb->calm_reads > jb->rate * 10 / nframes) {
        jb->target = jb->target > 16 ? jb->target - 16 : 0;
        jb->calm_reads = 0;
        atomic_store_explicit(&jb->stats.target, jb->target, memory_order_relaxed);
    }
    return 1;
}
