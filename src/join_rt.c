// SPDX-License-Identifier: GPL-2.0-or-later
// join_rt.c: the musician's JACK process callback.
//
// Per period: our inputs (and the demo tone) into the session stream's
// send ring, a wake-up for the send thread, and one period of the hub's mix
// from the stream's jitter buffer to our outputs; through join_conv.c when
// our rate is not the hub's. Without a session it plays silence. Nothing
// blocks, allocates, locks or logs.
#include <math.h>
#include <string.h>

#include "join.h"

// A cycle JACK did not run us for (a loaded machine now and then leaves a
// client "not finished") is accounted for as if it had run, as the hub
// does (hub_rt.c): the frames we would have played are dropped from the
// jitter buffer and a gap of the same length, faded out from the last
// sample, goes to the hub. Both streams keep their place, so the round
// trip stays what it was instead of growing by a period, or underrunning
// at the hub and growing its buffer.
#define JOIN_MAX_GAP 16 // periods; a longer jump is a restart, not a lost cycle

// Returns JACK's frame counter for this cycle (the drift estimator's clock).
BB_RT static jack_nframes_t keep_timeline(struct join *j, struct join_stream *s, jack_nframes_t n)
{
    jack_nframes_t now = jack_last_frame_time(j->jack);
    int32_t missed = bb_rt_timeline_missed(&s->timeline, now, n);
    if (missed <= 0 || missed > (int32_t)(JOIN_MAX_GAP * n))
        return now; // on time, or a stall: the timeline slips (a trim takes the excess later)
    atomic_store_explicit(&s->skipped_cycles,
                          atomic_load_explicit(&s->skipped_cycles, memory_order_relaxed) +
                              (uint64_t)missed / n,
                          memory_order_relaxed);
    if (s->conv.on) {
        join_conv_gap(s, (unsigned)missed, j->rt_inter);
    } else {
        bb_jbuf_skip(&s->st.jb, (unsigned)missed);
        bb_stream_rt_send_gap(&s->st, (unsigned)missed, n, now - (jack_nframes_t)missed,
                              j->rt_inter);
    }
    if (j->tone_hz > 0.0f) // the tone keeps its time too
        j->tone_phase = fmod(j->tone_phase + 2.0 * M_PI * j->tone_hz / j->rate * missed, 2.0 * M_PI);
    return now;
}

BB_RT int join_rt_process(jack_nframes_t n, void *arg)
{
    struct join *j = arg;
    struct join_stream *s = bb_snap_get(&j->streams, JOIN_READER_RT);
    float *out[BB_MIX_CH];
    for (int c = 0; c < BB_MIX_CH; c++)
        out[c] = jack_port_get_buffer(j->out[c], n);
    if (!s || !s->active || n > BB_STREAM_MAX_PERIOD) {
        for (int c = 0; c < BB_MIX_CH; c++)
            memset(out[c], 0, n * sizeof(float));
        return 0;
    }
    const jack_nframes_t frame = keep_timeline(j, s, n);
    const uint64_t t_ns = bb_now_ns();
    if (!s->conv.on) // converting, the jitter buffer's clock is at the hub's rate
        bb_jbuf_clock(&s->st.jb, frame, t_ns);
    // Our channels, interleaved, into the send ring.
    const unsigned ch = s->st.tx_channels;
    for (unsigned c = 0; c < ch; c++) {
        const float *in = jack_port_get_buffer(j->in[c], n);
        for (unsigned i = 0; i < n; i++)
            j->rt_inter[i * ch + c] = in[i];
    }
    if (j->tone_hz > 0.0f) {
        const double step = 2.0 * M_PI * j->tone_hz / j->rate;
        for (unsigned i = 0; i < n; i++) {
            j->rt_inter[i * ch] += 0.25f * (float)sin(j->tone_phase);
            j->tone_phase += step;
        }
        j->tone_phase = fmod(j->tone_phase, 2.0 * M_PI);
    }
    if (s->conv.on) {
        join_conv_send(s, j->rt_inter, n);
        sem_post(&j->tx_wake);
        join_conv_read(s, out, n, t_ns);
        return 0;
    }
    bb_stream_rt_send(&s->st, j->rt_inter, n, frame);
    sem_post(&j->tx_wake);
    bb_jbuf_read(&s->st.jb, out, n);
    return 0;
}
