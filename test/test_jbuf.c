// SPDX-License-Identifier: GPL-2.0-or-later
// test_jbuf.c: jitter buffer: exact pass-through at the target depth, gap
// concealment and counters, underrun fade and refill, trimming a standing
// excess back to target, auto depth growth, a missed consumer cycle.
#include <math.h>
#include <string.h>

#include "check.h"
#include "codec.h"
#include "jbuf.h"

#define RATE 48000
#define F    64

static float sample(uint32_t i)
{
    return (float)((int)(i * 2654435761u >> 20) % 8000 - 4000) / 32768.0f;
}

// Encodes frames [first, first+F) of the test signal as one float packet.
static int packet(struct bb_encoder *e, uint32_t first, uint8_t *out)
{
    float pcm[F];
    for (uint32_t i = 0; i < F; i++)
        pcm[i] = sample(first + i);
    return bb_encode(e, pcm, out, 1024);
}

static int read_period(struct bb_jbuf *jb, float *buf, unsigned n)
{
    float *out[1] = {buf};
    return bb_jbuf_read(jb, out, n);
}

int main(void)
{
    char err[128];
    struct bb_encoder *enc = bb_encoder_new(BB_CODEC_FLOAT, RATE, 1, F, 0, err, sizeof err);
    struct bb_decoder *dec = bb_decoder_new(BB_CODEC_FLOAT, RATE, 1, F, err, sizeof err);
    CHECK(enc && dec);
    struct bb_jbuf jb;
    CHECK(bb_jbuf_init(&jb, 1, F, 256, RATE, 0, dec) == 0);
    uint8_t pkt[1024];
    float buf[256];

    // Nothing yet: silence, still buffering.
    CHECK(read_period(&jb, buf, F) == 0 && buf[0] == 0.0f);

    // In step: one packet per period comes out bit exact (after the fade-in period).
    uint32_t seq = 0, pos = 0;
    int exact = 1;
    for (int p = 0; p < 100; p++) {
        int n = packet(enc, pos, pkt);
        CHECK(bb_jbuf_receive(&jb, seq++, pkt, (size_t)n) == F);
        read_period(&jb, buf, F);
        if (p > 0)
            for (int i = 0; i < F; i++)
                exact &= buf[i] == sample(pos + (uint32_t)i);
        pos += F;
    }
    CHECK(exact);
    CHECK(atomic_load(&jb.stats.underruns) == 0);
    CHECK(atomic_load(&jb.stats.received) == 100);

    // Duplicate and late packets are counted and dropped.
    int n = packet(enc, pos - F, pkt);
    CHECK(bb_jbuf_receive(&jb, seq - 1, pkt, (size_t)n) == 0);
    CHECK(atomic_load(&jb.stats.dup) == 1);
    CHECK(bb_jbuf_receive(&jb, seq - 5, pkt, (size_t)n) == 0);
    CHECK(atomic_load(&jb.stats.late) == 1);

    // A lost packet is concealed (PCM: fade of the last frame) so the stream
    // keeps its length; the next packet is exact again.
    seq++; // lost
    pos += F;
    n = packet(enc, pos, pkt);
    CHECK(bb_jbuf_receive(&jb, seq++, pkt, (size_t)n) == 2 * F);
    CHECK(atomic_load(&jb.stats.lost) == 1);
    read_period(&jb, buf, F); // concealment
    CHECK(fabsf(buf[F - 1]) < 1e-6f);
    read_period(&jb, buf, F);
    exact = 1;
    for (int i = 0; i < F; i++)
        exact &= buf[i] == sample(pos + (uint32_t)i);
    CHECK(exact);
    pos += F;

    // Underrun: a period with nothing fades out from the last sample, no step.
    float last = buf[F - 1];
    CHECK(read_period(&jb, buf, F) == 0);
    CHECK(fabsf(buf[0] - last) <= fabsf(last) / (F - 1) * 1.01f + 1e-7f);
    CHECK(buf[F - 1] == 0.0f);
    CHECK(atomic_load(&jb.stats.underruns) == 1);

    // Back from the underrun: a burst of late packets is skipped to the
    // target depth when playing resumes.
    for (int k = 0; k < 3; k++) {
        n = packet(enc, pos, pkt);
        bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
        pos += F;
    }
    CHECK(read_period(&jb, buf, F) == 1);
    CHECK(atomic_load(&jb.stats.fill) == 3 * F);
    CHECK(bb_ring_read_space(&jb.ring) == 0);

    // Standing excess while playing: three packets arrive at once, then
    // one per period; the excess is cut back to target by the end of the
    // first whole 200 ms window that saw it (at most 400 ms), in one splice.
    for (int k = 0; k < 3; k++) {
        n = packet(enc, pos, pkt);
        bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
        pos += F;
    }
    int periods = 0;
    while (atomic_load(&jb.stats.trims) == 0 && periods < 1000) {
        n = packet(enc, pos, pkt);
        bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
        pos += F;
        read_period(&jb, buf, F);
        periods++;
    }
    CHECK(atomic_load(&jb.stats.trims) == 1);
    CHECK(periods <= 2 * (RATE / 5 / F + 1) + 1); // at the end of the first whole window
    // After the splice the output is the stream at the original latency.
    n = packet(enc, pos, pkt);
    bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
    read_period(&jb, buf, F);
    exact = 1;
    for (int i = 0; i < F; i++)
        exact &= buf[i] == sample(pos + (uint32_t)i);
    CHECK(exact);
    pos += F;

    // Hub and musician may run different periods: packets of 64, reads of 128.
    for (int p = 0; p < 20; p++) {
        for (int k = 0; k < 2; k++) {
            n = packet(enc, pos, pkt);
            bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
            pos += F;
        }
        read_period(&jb, buf, 128);
    }
    exact = 1;
    for (int i = 0; i < 128; i++)
        exact &= buf[i] == sample(pos - 128 + (uint32_t)i);
    CHECK(exact);
    CHECK(atomic_load(&jb.stats.underruns) == 1);

    // A sender that starts its numbering over is followed after a few packets.
    uint64_t rec = atomic_load(&jb.stats.received);
    for (uint32_t s2 = 0; s2 < 12; s2++) {
        n = packet(enc, pos, pkt);
        bb_jbuf_receive(&jb, s2, pkt, (size_t)n);
    }
    CHECK(atomic_load(&jb.stats.received) > rec);
    bb_jbuf_cleanup(&jb);

    // Auto mode: every underrun deepens the target by half a period.
    CHECK(bb_jbuf_init(&jb, 1, F, 256, RATE, BB_JBUF_AUTO, dec) == 0);
    CHECK(atomic_load(&jb.stats.target) == 0);
    seq = 0;
    for (int p = 0; p < 3; p++) {
        n = packet(enc, 0, pkt);
        bb_jbuf_receive(&jb, seq++, pkt, (size_t)n);
        read_period(&jb, buf, F);
    }
    read_period(&jb, buf, F); // underrun
    CHECK(atomic_load(&jb.stats.target) == F / 2);
    bb_jbuf_cleanup(&jb);

    // Stereo interleaving: channel order survives.
    struct bb_jbuf st;
    CHECK(bb_jbuf_init(&st, 2, F, 256, RATE, 0, NULL) == 0);
    float inter[2 * F], L[F], R[F];
    for (int i = 0; i < F; i++) {
        inter[2 * i] = 0.5f;
        inter[2 * i + 1] = -0.25f;
    }
    CHECK(bb_jbuf_push(&st, inter, F) == F);
    float *lr[2] = {L, R};
    bb_jbuf_read(&st, lr, F); // fades in
    CHECK(bb_jbuf_push(&st, inter, F) == F);
    bb_jbuf_read(&st, lr, F);
    CHECK(L[10] == 0.5f && R[10] == -0.25f);
    bb_jbuf_cleanup(&st);

    // A cycle the consumer missed: the frames it would have played are
    // dropped, so the stream keeps its place (the next period is the one
    // after the missed one, no underrun, no excess to trim later).
    struct bb_jbuf sk;
    CHECK(bb_jbuf_init(&sk, 1, F, 256, RATE, F, dec) == 0);
    uint32_t kseq = 0, kpos = 0, played = 0;
    int kexact = 1;
    for (int p = 0; p < 40; p++) {
        int len = packet(enc, kpos, pkt);
        bb_jbuf_receive(&sk, kseq++, pkt, (size_t)len);
        kpos += F;
        if (p == 20) { // the consumer misses this cycle
            bb_jbuf_skip(&sk, F);
            played += F;
            continue;
        }
        if (read_period(&sk, buf, F) && p > 3) {
            // at target depth F, period p plays the packet received at p - 1
            for (int i = 0; i < F; i++)
                kexact &= buf[i] == sample(played + (uint32_t)i);
        }
        if (p >= 1)
            played += F;
    }
    CHECK(kexact);
    CHECK(atomic_load(&sk.stats.skipped) == F);
    CHECK(atomic_load(&sk.stats.underruns) == 0 && atomic_load(&sk.stats.trims) == 0);
    CHECK(atomic_load(&sk.stats.fill) == 2 * F); // a period plus the target, as before
    bb_jbuf_skip(&sk, 100000); // more than it holds: drops what there is (the target)
    CHECK(atomic_load(&sk.stats.skipped) == F + F);
    bb_jbuf_cleanup(&sk);

    CHECK(bb_jbuf_init(&st, 0, F, 256, RATE, 0, NULL) < 0);
    bb_encoder_free(enc);
    bb_decoder_free(dec);
    return check_report("test_jbuf");
}
