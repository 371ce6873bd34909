// SPDX-License-Identifier: GPL-2.0-or-later
// hub_rt.c: the hub's JACK process callback and the buffers it owns.
//
// Everything here runs in the JACK process thread except hub_rt_init and
// hub_rt_cleanup. Per period: take the published graph (acknowledging its
// epoch), pull one period from every musician's jitter buffer straight into
// that musician's JACK output ports, mix every personal mix and the main
// mix, measure sources and mixes (meter.h), copy each personal mix into its
// send ring and wake the send thread. With a click (click.h) it is rendered
// once and added to the mixes that ask for it, each at its own ramped gain;
// with a recorder (recorder.h) every source and the main mix are copied
// into its ring, tagged with JACK's frame counter, for its writer thread.
// Nothing blocks, allocates, locks or logs; trouble is counted in atomics.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bb.h"
#include "click.h"
#include "counter.h"
#include "hub_engine.h"
#include "hub_load.h"
#include "recorder.h"

int hub_rt_init(struct hub_engine *e)
{
    e->mixer = aligned_alloc(64, (sizeof *e->mixer + 63) / 64 * 64);
    e->rt_src = calloc(BB_MAX_SOURCES, sizeof *e->rt_src);
    e->rt_out = calloc(2 * BB_MAX_MIXES, sizeof *e->rt_out);
    e->rt_chan = calloc((size_t)BB_MAX_CLIENTS * BB_MAX_CLIENT_CH, sizeof *e->rt_chan);
    // Mixes without ports, then every musician channel without a port yet
    // (each its own: they are mixed).
    e->rt_scratch = calloc((size_t)BB_MAX_PERIOD * (2 * BB_MAX_MIXES + BB_MAX_CLIENTS * BB_MAX_CLIENT_CH),
                           sizeof(float));
    e->rt_inter = calloc((size_t)BB_MAX_PERIOD * 2, sizeof(float));
    e->rt_click = calloc(BB_MAX_PERIOD, sizeof(float));
    // Every musician channel's chunk of a missed cycle, then one of silence.
    e->rt_missed = calloc(((size_t)BB_MAX_CLIENTS * BB_MAX_CLIENT_CH + 1) * HUB_MISSED_CHUNK,
                          sizeof(float));
    if (!e->mixer || !e->rt_src || !e->rt_chan || !e->rt_out || !e->rt_scratch || !e->rt_inter || !e->rt_missed ||
        !e->rt_click) {
        hub_rt_cleanup(e);
        return -1;
    }
    // Large enough to come from fresh mappings: first written in the callback.
    bb_touch_pages(e->rt_scratch, (size_t)BB_MAX_PERIOD *
                                      (2 * BB_MAX_MIXES + BB_MAX_CLIENTS * BB_MAX_CLIENT_CH) * sizeof(float));
    bb_touch_pages(e->rt_missed, ((size_t)BB_MAX_CLIENTS * BB_MAX_CLIENT_CH + 1) * HUB_MISSED_CHUNK * sizeof(float));
    // Gains ramp over 5 ms: long enough to be click free, short enough
    // that a fader feels immediate.
    bb_mixer_init(e->mixer, e->rate / 200);
    bb_meters_init(&e->meters);
    atomic_init(&e->rt_settled_epoch, 0);
    for (unsigned m = 0; m < BB_MAX_MIXES; m++) {
        atomic_init(&e->click_gain[m], 0.0f);
        e->rt_click_cur[m] = 0.0f;
    }
    atomic_init(&e->click_record, 0);
    return 0;
}

void hub_rt_cleanup(struct hub_engine *e)
{
    free(e->mixer);
    free(e->rt_src);
    free(e->rt_chan);
    free(e->rt_out);
    free(e->rt_scratch);
    free(e->rt_inter);
    free(e->rt_missed);
    free(e->rt_click);
    e->rt_click = NULL;
    e->rt_missed = NULL;
    e->mixer = NULL;
    e->rt_src = NULL;
    e->rt_chan = NULL;
    e->rt_out = NULL;
    e->rt_scratch = NULL;
    e->rt_inter = NULL;
}

BB_RT static float *port_buf(jack_port_t *p, jack_nframes_t n)
{
    return p ? (float *)jack_port_get_buffer(p, n) : NULL;
}

// Personal mixes into their send rings (interleaved), one L/R buffer pair
// per mix in e->rt_out; clock is JACK's frame counter at their first frame.
BB_RT static void send_mixes(struct hub_engine *e, const struct hub_graph *g, unsigned nframes,
                             jack_nframes_t clock)
{
    const struct bb_mix_graph *mg = g->mix;
    for (unsigned m = 0; m < mg->nmix; m++) {
        struct hub_client *c = g->mix_client[m];
        if (!c)
            continue;
        const float *l = e->rt_out[2 * m], *r = e->rt_out[2 * m + 1];
        for (unsigned i = 0; i < nframes; i++) {
            e->rt_inter[2 * i] = l[i];
            e->rt_inter[2 * i + 1] = r[i];
        }
        bb_stream_rt_send(&c->st, e->rt_inter, nframes, clock);
    }
}

// A cycle JACK did not run us for (on a loaded machine a client is now and
// then "not finished" in time and loses its cycle) would move the hub's
// timeline by a period: the musicians' jitter buffers hold a period too
// much until a trim splices it out, and every mix stream is a period short,
// which the musician's own jitter buffer may meet with an underrun. When
// the musicians' audio for the missed frames is already in their jitter
// buffers (always, when the stall was the hub's alone, as with musicians on
// other machines), the personal mixes of the missed frames are rendered
// now, from there, and sent: nobody hears anything (the local inputs, which
// JACK never gave us for that cycle, are silent in those frames; the hub's
// own JACK outputs of that cycle are lost either way). When some stream
// does not have them yet (the same stall held its sender back: musicians
// on the hub's machine, whose bandbridge join sends a faded gap for the
// cycle it lost), it is read anyway: it underruns, and its jitter buffer's
// restart drops those frames as late when they come (jbuf.h), so that
// stream keeps its place too. (Rendering nothing instead, as before,
// slipped every stream by a period until a trim window without an
// underrun, seconds on a noisy machine: jack_iodelay's round trip sat a
// period high for 8-12 % of a minute.) A jump of more than
// HUB_RT_MAX_CATCHUP periods is a stall, not a lost cycle.
// The drift estimators (drift.h) see a slip in JACK's frame counter, so
// they do not take the excess for clock drift.
#define HUB_RT_MAX_CATCHUP 4 // periods rendered again at most
// Returns JACK's frame counter for this cycle (the drift estimators' clock).
BB_RT static jack_nframes_t hub_rt_keep_timeline(struct hub_engine *e, const struct hub_graph *g,
                                                 jack_nframes_t nframes)
{
    jack_nframes_t now = jack_last_frame_time(e->jack);
    int32_t missed = bb_rt_timeline_missed(&e->rt_timeline, now, nframes);
    if (missed <= 0)
        return now;
    atomic_store_explicit(&e->stats.skipped_cycles,
                          atomic_load_explicit(&e->stats.skipped_cycles, memory_order_relaxed) +
                              ((uint64_t)missed + nframes - 1) / nframes,
                          memory_order_relaxed);
    if (missed > (int32_t)(HUB_RT_MAX_CATCHUP * nframes))
        return now;
    atomic_store_explicit(&e->stats.rendered_cycles,
                          atomic_load_explicit(&e->stats.rendered_cycles, memory_order_relaxed) +
                              ((uint64_t)missed + nframes - 1) / nframes,
                          memory_order_relaxed);
    const struct bb_mix_graph *mg = g->mix;
    const float *zero = e->rt_missed + (size_t)BB_MAX_CLIENTS * BB_MAX_CLIENT_CH * HUB_MISSED_CHUNK;
    for (unsigned done = 0; done < (unsigned)missed;) {
        unsigned n = (unsigned)missed - done < HUB_MISSED_CHUNK ? (unsigned)missed - done
                                                                : HUB_MISSED_CHUNK;
        for (unsigned i = 0; i < g->nclients; i++) {
            struct hub_client *c = g->clients[i];
            float *bufs[BB_MAX_CLIENT_CH];
            for (unsigned ch = 0; ch < c->channels; ch++)
                bufs[ch] = e->rt_missed + (size_t)BB_SRC_CLIENT(c->slot, ch) * HUB_MISSED_CHUNK;
            bb_jbuf_read(&c->st.jb, bufs, n);
        }
        for (unsigned s = 0; s < mg->nsrc; s++) {
            const struct hub_client *c = g->src_client[s];
            e->rt_src[s] =
                c ? e->rt_missed + (size_t)BB_SRC_CLIENT(c->slot, g->src_index[s]) * HUB_MISSED_CHUNK
                  : zero;
        }
        for (unsigned m = 0; m < mg->nmix; m++) {
            e->rt_out[2 * m] = e->rt_scratch + (size_t)BB_MAX_PERIOD * (2 * m);
            e->rt_out[2 * m + 1] = e->rt_scratch + (size_t)BB_MAX_PERIOD * (2 * m + 1);
        }
        bb_mixer_process(e->mixer, mg, e->rt_src, e->rt_out, n);
        send_mixes(e, g, n, now - (jack_nframes_t)missed + done);
        done += n;
    }
    return now;
}

// The click into every mix whose gain is or was above 0 (the ramp down
// must finish). Rendered even when no mix takes it, so its grid follows
// JACK's frame counter whoever listens. Returns whether it sounded.
BB_RT static int add_click(struct hub_engine *e, const struct hub_graph *g, unsigned nframes,
                           jack_nframes_t frame)
{
    if (!e->click)
        return 0;
    int sounds = bb_click_render(e->click, frame, e->rt_click, nframes);
    // 5 ms from 0 to unity, as the mixer's gains.
    float step = 200.0f / (float)(e->rate ? e->rate : 48000);
    const struct bb_mix_graph *mg = g->mix;
    for (unsigned m = 0; m < mg->nmix; m++) {
        unsigned id = mg->mix_id[m];
        float target = atomic_load_explicit(&e->click_gain[id], memory_order_relaxed);
        float *cur = &e->rt_click_cur[id];
        if (target == 0.0f && *cur == 0.0f)
            continue;
        if (!sounds) { // silence: only the gain moves
            *cur = target;
            continue;
        }
        float left = *cur; // both sides take the same ramp
        bb_mix_add_ramped(e->rt_out[2 * m], e->rt_click, nframes, &left, target, step);
        bb_mix_add_ramped(e->rt_out[2 * m + 1], e->rt_click, nframes, cur, target, step);
    }
    return sounds;
}

// One period of every source, the main mix (and the click, when asked)
// into the recorder's ring; silence (NULL) costs nothing.
BB_RT static void record(struct hub_engine *e, const struct hub_graph *g, unsigned nframes,
                         jack_nframes_t frame, int click_sounds)
{
    struct bb_recorder *rec = e->rec;
    const struct bb_mix_graph *mg = g->mix;
    bb_recorder_rt_begin(rec, frame);
    for (unsigned s = 0; s < mg->nsrc; s++)
        bb_recorder_rt_write(rec, mg->src_id[s], e->rt_src[s], nframes);
    for (unsigned m = 0; m < mg->nmix; m++)
        if (!g->mix_client[m]) {
            bb_recorder_rt_write(rec, HUB_TRACK_MAIN_L, e->rt_out[2 * m], nframes);
            bb_recorder_rt_write(rec, HUB_TRACK_MAIN_R, e->rt_out[2 * m + 1], nframes);
        }
    if (atomic_load_explicit(&e->click_record, memory_order_relaxed))
        bb_recorder_rt_write(rec, HUB_TRACK_CLICK, click_sounds ? e->rt_click : NULL, nframes);
    bb_recorder_rt_end(rec);
}

// Meters: every source (pre-fader) and every mix output, by stable id;
// the control thread takes them ~25 times a second (meter.h).
BB_RT static void meter(struct hub_engine *e, const struct bb_mix_graph *mg, unsigned nframes)
{
    uint64_t mgen;
    struct bb_meter_slot *ms = bb_meters_rt_begin(&e->meters, &mgen);
    for (unsigned s = 0; s < mg->nsrc; s++) {
        unsigned id = mg->src_id[s];
        bb_meter_acc(&ms->src_peak[id], &ms->src_sq[id], e->rt_src[s], nframes);
    }
    for (unsigned m = 0; m < mg->nmix; m++) {
        unsigned id = mg->mix_id[m];
        for (int side = 0; side < 2; side++)
            bb_meter_acc(&ms->mix_peak[id][side], &ms->mix_sq[id][side], e->rt_out[2 * m + side],
                         nframes);
    }
    bb_meters_rt_end(&e->meters, ms, mgen, nframes);
}

// The CPU-time clock of the thread this callback runs on, for the control
// thread to read (hub_load.c). pthread_getcpuclockid computes it from the
// thread's id, which glibc and musl keep in the thread's descriptor: no
// system call. Compared every cycle, not only once: after a JACK server
// restart the callback runs on a new thread, whose descriptor (pthread_t)
// may be the old one's, reused, with another id.
static BB_RT void publish_cpu_clock(struct hub_engine *e)
{
    clockid_t c;
    if (pthread_getcpuclockid(pthread_self(), &c) == 0 && c != e->rt_cpu_clock_seen) {
        e->rt_cpu_clock_seen = c;
        atomic_store_explicit(&e->rt_cpu_clock, c, memory_order_relaxed);
    }
}

BB_RT int hub_rt_process(jack_nframes_t nframes, void *arg)
{
    struct hub_engine *e = arg;
    uint64_t t0 = bb_now_ns();
    const struct hub_graph *g = bb_snap_get(&e->graph, HUB_READER_RT);
    bb_counter_inc(&e->stats.cycles);
    publish_cpu_clock(e);
    e->rt_conceal_left = HUB_CONCEAL_CHANNELS;

    float *main_l = port_buf(e->main_out[0], nframes);
    float *main_r = port_buf(e->main_out[1], nframes);
    if (!g || nframes > BB_MAX_PERIOD) {
        if (main_l)
            memset(main_l, 0, nframes * sizeof(float));
        if (main_r)
            memset(main_r, 0, nframes * sizeof(float));
        bb_counter_inc(&e->stats.late_cycles);
        return 0;
    }
    const struct bb_mix_graph *mg = g->mix;
    float *junk = e->rt_scratch + (size_t)BB_MAX_PERIOD * 2 * BB_MAX_MIXES;
    const jack_nframes_t frame = hub_rt_keep_timeline(e, g, nframes);

    // Musicians' channels: jitter buffer -> their JACK ports (also the
    // mixer's source buffers).
    for (unsigned i = 0; i < g->nclients; i++) {
        struct hub_client *c = g->clients[i];
        float *bufs[BB_MAX_CLIENT_CH];
        for (unsigned ch = 0; ch < c->channels; ch++) {
            // Each port is loaded once a cycle: the JACK thread may store
            // it meanwhile, and the jitter buffer and the mixer must use the
            // same buffer.
            bufs[ch] = port_buf(c->ports[ch], nframes);
            if (!bufs[ch])
                bufs[ch] = junk + (size_t)BB_SRC_CLIENT(c->slot, ch) * BB_MAX_PERIOD;
            e->rt_chan[BB_SRC_CLIENT(c->slot, ch)] = bufs[ch];
        }
        bb_jbuf_clock(&c->st.jb, frame, t0);
        bb_jbuf_read(&c->st.jb, bufs, nframes);
    }
    for (unsigned s = 0; s < mg->nsrc; s++) {
        const struct hub_client *c = g->src_client[s];
        e->rt_src[s] = c ? e->rt_chan[BB_SRC_CLIENT(c->slot, g->src_index[s])]
                         : port_buf(e->local_in[g->src_index[s]], nframes);
    }
    for (unsigned m = 0; m < mg->nmix; m++) {
        const struct hub_client *c = g->mix_client[m];
        float *l = c ? port_buf(c->mix_ports[0], nframes) : main_l;
        float *r = c ? port_buf(c->mix_ports[1], nframes) : main_r;
        e->rt_out[2 * m] = l ? l : e->rt_scratch + (size_t)BB_MAX_PERIOD * (2 * m);
        e->rt_out[2 * m + 1] = r ? r : e->rt_scratch + (size_t)BB_MAX_PERIOD * (2 * m + 1);
    }

    bb_mixer_process(e->mixer, mg, e->rt_src, e->rt_out, nframes);
    if (bb_mixer_settled(e->mixer))
        atomic_store_explicit(&e->rt_settled_epoch, g->hdr.epoch, memory_order_release);
    int click_sounds = add_click(e, g, nframes, frame);
    if (e->rec)
        record(e, g, nframes, frame, click_sounds);

    // Meters, unless the hub sheds them at its ceiling (hub_load.h).
    if (atomic_load_explicit(&e->shed, memory_order_relaxed) < HUB_SHED_METERS)
        meter(e, mg, nframes);

    // Personal mixes go out through the send rings.
    send_mixes(e, g, nframes, frame);
    if (g->nclients) {
        uint64_t woken = bb_now_ns();
        atomic_store_explicit(&e->stats.tx_period_ns, (uint64_t)nframes * 1000000000u / e->rate,
                              memory_order_relaxed);
        for (unsigned w = 0; w < g->tx_workers; w++) {
            atomic_store_explicit(&e->stats.tx_woken_ns[w], woken, memory_order_release);
            sem_post(&e->tx_wake[w]);
        }
    }

    uint64_t dt = bb_now_ns() - t0;
    if (dt > atomic_load_explicit(&e->stats.rt_ns_max, memory_order_relaxed))
        atomic_store_explicit(&e->stats.rt_ns_max, dt, memory_order_relaxed);
    uint64_t b = dt / (1000u * HUB_HIST_US);
    _Atomic uint32_t *bucket = &e->stats.rt_hist[b < HUB_HIST_BUCKETS ? b : HUB_HIST_BUCKETS - 1];
    atomic_store_explicit(bucket, atomic_load_explicit(bucket, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return 0;
}

void hub_rt_times(struct hub_engine *e, struct hub_rt_times *out, int reset)
{
    // [ctl] A copy first: the callback keeps counting while we read.
    uint32_t hist[HUB_HIST_BUCKETS];
    uint64_t n = 0;
    for (int i = 0; i < HUB_HIST_BUCKETS; i++) {
        hist[i] = reset ? atomic_exchange(&e->stats.rt_hist[i], 0) : atomic_load(&e->stats.rt_hist[i]);
        n += hist[i];
    }
    out->cycles = n;
    out->median_us = out->p99_us = 0;
    uint64_t acc = 0;
    for (int i = 0; i < HUB_HIST_BUCKETS; i++) {
        uint64_t before = acc;
        acc += hist[i];
        double upper = (double)(i + 1) * HUB_HIST_US;
        if (before < (n + 1) / 2 && acc >= (n + 1) / 2)
            out->median_us = upper;
        if (before < n - n / 100 && acc >= n - n / 100)
            out->p99_us = upper;
    }
    uint64_t worst = reset ? atomic_exchange(&e->stats.rt_ns_max, 0) : atomic_load(&e->stats.rt_ns_max);
    out->worst_us = (double)worst / 1000.0;
}
