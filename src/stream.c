// SPDX-License-Identifier: GPL-2.0-or-later
// stream.c: one musician's audio between hub and join (stream.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counter.h"
#include "stream.h"

int bb_stream_open(struct bb_stream *s, const struct bb_stream_config *cfg, char *err,
                   size_t err_size)
{
    s->session = cfg->session;
    s->tx_codec = cfg->tx_codec;
    s->tx_channels = cfg->tx_channels;
    s->tx_frames = cfg->tx_frames;
    s->tx_kbps = cfg->kbps;
    s->tx_mono = cfg->allow_mono;
    s->rx_codec = cfg->rx_codec;
    s->rx_channels = cfg->rx_channels;
    s->rx_frames = cfg->rx_frames;
    atomic_store_explicit(&s->peer_jb_fill, BB_STREAM_PEER_UNKNOWN, memory_order_relaxed);
    s->enc = bb_encoder_new(cfg->tx_codec, cfg->rate, cfg->tx_channels, cfg->tx_frames, cfg->kbps,
                            err, err_size);
    if (!s->enc)
        goto fail;
    if (cfg->complexity >= 0)
        bb_encoder_set_complexity(s->enc, cfg->complexity);
    bb_encoder_allow_mono(s->enc, cfg->allow_mono);
    s->dec = bb_decoder_new(cfg->rx_codec, cfg->rate, cfg->rx_channels, cfg->rx_frames, err,
                            err_size);
    if (!s->dec)
        goto fail;
    // The send ring holds four of the largest periods and four packets:
    // the send thread may wake late by a few periods on a loaded machine.
    size_t ring = ((size_t)BB_STREAM_MAX_PERIOD * 4 + (size_t)cfg->tx_frames * 4) *
                  cfg->tx_channels * sizeof(float);
    if (bb_jbuf_init(&s->jb, cfg->rx_channels, cfg->rx_frames, BB_STREAM_MAX_PERIOD, cfg->rate,
                     cfg->jitter, s->dec) < 0 ||
        bb_ring_init(&s->tx, ring) < 0 ||
        !(s->tx_buf = calloc((size_t)cfg->tx_frames * cfg->tx_channels, sizeof(float)))) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    bb_jbuf_set_drift_comp(&s->jb, cfg->drift_comp);
    bb_jbuf_set_conceal_budget(&s->jb, cfg->conceal_budget);
    return 0;
fail:
    bb_stream_close(s);
    return -1;
}

void bb_stream_close(struct bb_stream *s)
{
    bb_jbuf_cleanup(&s->jb);
    bb_ring_cleanup(&s->tx);
    bb_encoder_free(s->enc);
    bb_decoder_free(s->dec);
    free(s->tx_buf);
    s->enc = NULL;
    s->dec = NULL;
    s->tx_buf = NULL;
}

BB_RT int bb_stream_rt_send(struct bb_stream *s, const float *inter, unsigned frames,
                            uint32_t clock)
{
    atomic_store_explicit(&s->tx_clock, clock - s->rt_written, memory_order_relaxed);
    const unsigned ch = s->tx_channels;
    if (frames)
        for (unsigned c = 0; c < ch; c++)
            s->tx_last[c] = inter[(frames - 1) * ch + c];
    if (!bb_ring_write(&s->tx, inter, frames * ch * (uint32_t)sizeof(float))) {
        bb_counter_add(&s->tx_overruns, 1);
        return -1;
    }
    s->rt_written += frames;
    return 0;
}

BB_RT void bb_stream_rt_send_gap(struct bb_stream *s, unsigned frames, unsigned period,
                                 uint32_t clock, float *scratch)
{
    const unsigned ch = s->tx_channels;
    float last[BB_MAX_CLIENT_CH];
    memcpy(last, s->tx_last, sizeof last);
    atomic_store_explicit(&s->tx_clock, clock - s->rt_written, memory_order_relaxed);
    for (unsigned done = 0; done < frames;) {
        unsigned k = frames - done < period ? frames - done : period;
        for (unsigned i = 0; i < k; i++) {
            float w = (float)(frames - 1 - (done + i)) / (float)frames;
            for (unsigned c = 0; c < ch; c++)
                scratch[i * ch + c] = last[c] * w;
        }
        if (bb_ring_write(&s->tx, scratch, k * ch * (uint32_t)sizeof(float)))
            s->rt_written += k;
        else
            bb_counter_add(&s->tx_overruns, 1);
        done += k;
    }
    memset(s->tx_last, 0, sizeof s->tx_last);
}

int bb_stream_set_keys(struct bb_stream *s, int cipher, const uint8_t tx_key[BB_SEAL_KEY_SIZE],
                       const uint8_t rx_key[BB_SEAL_KEY_SIZE])
{
    int rc = bb_seal_tx_init(&s->seal_tx, cipher, tx_key);
    if (bb_seal_rx_init(&s->seal_rx, cipher, rx_key) < 0)
        rc = -1;
#ifdef BB_BENCH_NO_SEAL
    // The benchmark's build without packet protection (make bench-noseal,
    // bench/run_bench.sh BENCH_ONLY=seal): the handshake as always, then
    // cleartext both ways, so that hub and join built alike measure what
    // sealing costs. Never a product option.
    s->sealed = 0;
#else
    s->sealed = 1;
#endif
    return rc;
}

int bb_stream_seal(struct bb_stream *s, uint8_t *pkt, int plain_len, size_t cap)
{
    if (plain_len < BB_WIRE_HEADER_SIZE)
        return -1;
    uint8_t *hdr = pkt + BB_SEAL_COUNTER_SIZE;
    if (!s->sealed) {
        memmove(pkt, hdr, (size_t)plain_len);
        return plain_len;
    }
    // The flag is part of the header, so of the AD: a receiver can tell a
    // sealed datagram from a cleartext one and nobody can change which.
    uint16_t flags = (uint16_t)(hdr[6] | hdr[7] << 8) | BB_FLAG_SEALED;
    hdr[6] = (uint8_t)flags;
    hdr[7] = (uint8_t)(flags >> 8);
    // bb_seal moves the header down by the counter's size first, then
    // writes the counter where the header's end was, then encrypts the body
    // where it lies: no copy of the payload.
    int n = bb_seal(&s->seal_tx, hdr, BB_WIRE_HEADER_SIZE, hdr + BB_WIRE_HEADER_SIZE,
                    (size_t)plain_len - BB_WIRE_HEADER_SIZE, pkt, cap);
    return n < 0 ? -1 : n;
}

int bb_stream_unseal(struct bb_stream *s, uint8_t *pkt, size_t len, uint8_t **out)
{
    if (!s->sealed) {
        *out = pkt;
        return len <= BB_MAX_DATAGRAM ? (int)len : -1;
    }
    if (len < BB_WIRE_HEADER_SIZE + BB_SEAL_OVERHEAD || !(pkt[6] & BB_FLAG_SEALED)) {
        bb_counter_add(&s->forged, 1);
        return -1;
    }
    uint8_t *body = pkt + BB_WIRE_HEADER_SIZE + BB_SEAL_COUNTER_SIZE;
    int n = bb_open(&s->seal_rx, pkt, BB_WIRE_HEADER_SIZE, len, body,
                    len - BB_WIRE_HEADER_SIZE - BB_SEAL_OVERHEAD, NULL);
    if (n == BB_SEAL_REPLAY || n == BB_SEAL_TOO_OLD) {
        bb_counter_add(&s->replayed, 1);
        return -2;
    }
    if (n < 0) {
        bb_counter_add(&s->forged, 1);
        return -1;
    }
    // The header back in front of the body: the wire readers take one
    // contiguous datagram.
    memmove(pkt + BB_SEAL_COUNTER_SIZE, pkt, BB_WIRE_HEADER_SIZE);
    *out = pkt + BB_SEAL_COUNTER_SIZE;
    return BB_WIRE_HEADER_SIZE + n;
}

int bb_stream_tx_pull(struct bb_stream *s, uint32_t *ts)
{
    const uint32_t bytes = s->tx_frames * s->tx_channels * (uint32_t)sizeof(float);
    if (bb_ring_read_space(&s->tx) < bytes)
        return 0;
    bb_ring_read(&s->tx, s->tx_buf, bytes);
    // ts: our clock at the packet's first frame.
    *ts = s->tx_ts + atomic_load_explicit(&s->tx_clock, memory_order_relaxed);
    s->tx_ts += s->tx_frames;
    return 1;
}

// The AUDIO header for the packet at ts into plain (room bytes): the
// payload's offset, or -1.
static int tx_head(struct bb_stream *s, uint32_t ts, uint8_t *plain, size_t room)
{
    struct bb_header hd = {.type = BB_MSG_AUDIO, .session = s->session, .seq = s->tx_seq, .ts = ts};
    s->tx_seq++;
    return bb_wire_write_audio_head(plain, room, &hd, (uint8_t)s->tx_codec,
                                    (uint8_t)s->tx_channels, (uint16_t)s->tx_frames);
}

int bb_stream_tx_encode(struct bb_stream *s, uint32_t ts, uint8_t *pkt, size_t size)
{
    if (size < BB_SEAL_OVERHEAD + BB_WIRE_HEADER_SIZE)
        return -1;
    // Written after the counter's room and sealed in place (bb_stream_seal).
    uint8_t *plain = pkt + BB_SEAL_COUNTER_SIZE;
    size_t room = size - BB_SEAL_OVERHEAD;
    int off = tx_head(s, ts, plain, room);
    int n = off > 0 ? bb_encode(s->enc, s->tx_buf, plain + off, room - (size_t)off) : -1;
    if (n < 0)
        return -1;
    bb_counter_add(&s->packets_out, 1);
    return bb_stream_seal(s, pkt, off + n, size);
}

int bb_stream_tx_wrap(struct bb_stream *s, uint32_t ts, const uint8_t *payload, size_t len,
                      uint8_t *pkt, size_t size)
{
    if (size < BB_SEAL_OVERHEAD + BB_WIRE_HEADER_SIZE)
        return -1;
    uint8_t *plain = pkt + BB_SEAL_COUNTER_SIZE;
    size_t room = size - BB_SEAL_OVERHEAD;
    int off = tx_head(s, ts, plain, room);
    if (off <= 0 || len > room - (size_t)off)
        return -1;
    memcpy(plain + off, payload, len);
    bb_counter_add(&s->packets_out, 1);
    return bb_stream_seal(s, pkt, off + (int)len, size);
}

int bb_stream_tx_next(struct bb_stream *s, uint8_t *pkt, size_t size)
{
    uint32_t ts;
    if (size < BB_SEAL_OVERHEAD + BB_WIRE_HEADER_SIZE)
        return -1;
    if (!bb_stream_tx_pull(s, &ts))
        return 0;
    return bb_stream_tx_encode(s, ts, pkt, size);
}

enum bb_stream_rx bb_stream_receive(struct bb_stream *s, const struct bb_header *hd,
                                    const uint8_t *buf, size_t len, uint64_t now,
                                    uint8_t *reply, int *reply_len)
{
    enum bb_stream_rx r = BB_STREAM_RX_DONE;
    switch (hd->type) {
    case BB_MSG_AUDIO: {
        struct bb_audio a;
        if (bb_wire_read_audio(buf, len, &a) != BB_WIRE_OK || a.codec != s->rx_codec ||
            a.channels != s->rx_channels || a.frames != s->rx_frames)
            return BB_STREAM_RX_BAD;
        bb_jbuf_receive(&s->jb, hd->seq, a.payload, a.payload_len);
        bb_jbuf_stamp(&s->jb, hd->ts + a.frames, now);
        bb_counter_add(&s->packets_in, 1);
        if (!atomic_load_explicit(&s->first_audio_ns, memory_order_relaxed))
            atomic_store_explicit(&s->first_audio_ns, now, memory_order_relaxed);
        break;
    }
    case BB_MSG_PING: {
        // Answered here, at once, so that round-trip times are honest.
        struct bb_ping p;
        if (bb_wire_read_ping(buf, len, &p) != BB_WIRE_OK)
            return BB_STREAM_RX_BAD;
        struct bb_header rh = {.type = BB_MSG_PONG, .session = s->session, .seq = hd->seq};
        p.jitter_frames = atomic_load_explicit(&s->jb.stats.fill, memory_order_relaxed);
        p.lost = (uint32_t)atomic_load_explicit(&s->jb.stats.lost, memory_order_relaxed);
        int n = bb_wire_write_ping(reply + BB_SEAL_COUNTER_SIZE,
                                   BB_STREAM_REPLY_SIZE - BB_SEAL_OVERHEAD, &rh, &p);
        *reply_len = n > 0 ? bb_stream_seal(s, reply, n, BB_STREAM_REPLY_SIZE) : -1;
        r = *reply_len > 0 ? BB_STREAM_RX_REPLY : BB_STREAM_RX_DONE;
        break;
    }
    case BB_MSG_PONG: {
        struct bb_ping p;
        if (bb_wire_read_ping(buf, len, &p) != BB_WIRE_OK)
            return BB_STREAM_RX_BAD;
        if (now > p.t_ns)
            atomic_store_explicit(&s->rtt_us, (uint32_t)((now - p.t_ns) / 1000),
                                  memory_order_relaxed);
        // Kept below the unknown mark and within what /status/latency's
        // i32 carries: a fill that large is no depth anyway.
        atomic_store_explicit(&s->peer_jb_fill,
                              p.jitter_frames < INT32_MAX ? p.jitter_frames : INT32_MAX,
                              memory_order_relaxed);
        break;
    }
    default:
        return BB_STREAM_RX_SESSION;
    }
    atomic_store_explicit(&s->last_heard_ns, now, memory_order_relaxed);
    return r;
}

int bb_stream_ping(struct bb_stream *s, uint8_t *buf, size_t size, uint64_t now)
{
    struct bb_header hd = {.type = BB_MSG_PING, .session = s->session};
    struct bb_ping p = {.t_ns = now};
    if (size < BB_SEAL_OVERHEAD)
        return -1;
    int n = bb_wire_write_ping(buf + BB_SEAL_COUNTER_SIZE, size - BB_SEAL_OVERHEAD, &hd, &p);
    return n > 0 ? bb_stream_seal(s, buf, n, size) : -1;
}

BB_RT int32_t bb_rt_timeline_missed(struct bb_rt_timeline *t, uint32_t now, unsigned nframes)
{
    int32_t d = t->have_frame ? (int32_t)(now - t->next_frame) : 0;
    t->next_frame = now + nframes;
    t->have_frame = 1;
    int32_t held = t->held;
    t->held = 0;
    if (held > 0 && d == -held)
        return 0; // a late callback's read of the next cycle, then the step back
    if (d == (int32_t)nframes) {
        t->held = d; // a late read or a lost cycle: the next cycle tells
        return held;
    }
    return held + d;
}
