// SPDX-License-Identifier: GPL-2.0-or-later
// test_jbuf_order.c: the jitter buffer's reorder stage (jbuf_rx.c):
// packets that overtake others within the depth are all played, bit
// exact (0 lost, 0 late, once the path has shown it reorders); a lost packet is given up when the next read
// needs it, without an underrun; one that comes after that is late; a
// duplicate of a held packet; a packet a window ahead moves it; the
// sender's time of the ring's newest frame follows the packet decoded
// last; redundant copies fill holes and are otherwise silent; numbers that
// wrap at 2^32.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec.h"
#include "jbuf.h"

#define RATE 48000
#define F    64

static struct bb_encoder *enc;
static struct bb_decoder *dec;

static float sample(uint32_t i)
{
    return (float)((int)(i * 2654435761u >> 20) % 8000 - 4000) / 32768.0f;
}

static void send_pkt(struct bb_jbuf *jb, uint32_t seq0, uint32_t k)
{
    float pcm[F];
    uint8_t pkt[1024];
    for (uint32_t i = 0; i < F; i++)
        pcm[i] = sample(k * F + i);
    int n = bb_encode(enc, pcm, pkt, sizeof pkt);
    bb_jbuf_receive(jb, seq0 + k, pkt, (size_t)n);
}

// A stream of `count` packets from seq0, one per read; order[k] is the
// packet sent in the k-th slot of time (a permutation, -1: nothing).
// Returns 1 when every read after the first `lead` played the stream bit
// exact at one latency; counts underruns on the way.
static int run(struct bb_jbuf *jb, uint32_t seq0, const int *order, int count, int lead)
{
    float buf[F];
    float *out[1] = {buf};
    int ok = 1;
    int64_t first = -1;
    for (int k = 0; k < count; k++) {
        if (order[k] >= 0)
            send_pkt(jb, seq0, (uint32_t)order[k]);
        int played = bb_jbuf_read(jb, out, F);
        if (k < lead)
            continue;
        if (first < 0)
            for (int64_t s = 0; s < (int64_t)count * F && first < 0; s += F)
                if (buf[0] == sample((uint32_t)s) && buf[F - 1] == sample((uint32_t)s + F - 1))
                    first = s - (int64_t)(k - lead) * F;
        int64_t at = first + (int64_t)(k - lead) * F;
        for (int i = 0; i < F; i++)
            if (!played || first < 0 || buf[i] != sample((uint32_t)(at + i)))
                ok = 0;
    }
    return ok;
}

static void reorder_within_depth(uint32_t seq0, unsigned target, int shift)
{
    enum { N = 2000 };
    static int order[N];
    // Every 10th packet overtaken by the `shift` after it.
    for (int k = 0; k < N; k++)
        order[k] = k;
    int swaps = 0;
    for (int k = 20; k + shift < N - 10; k += 10) {
        int moved = order[k];
        memmove(&order[k], &order[k + 1], (size_t)shift * sizeof *order);
        order[k + shift] = moved;
        swaps++;
    }
    // The first one finds a path that has not reordered yet: it is given
    // up (the margin of rule (a), see jbuf_rx.c) and comes late; from then
    // on every one is waited for.
    struct bb_jbuf jb;
    CHECK(bb_jbuf_init(&jb, 1, F, 256, RATE, target, dec) == 0);
    int exact = run(&jb, seq0, order, N, 40);
    printf("reorder by %d at depth %u: exact %d, reordered %llu lost %llu late %llu "
           "underruns %llu\n", shift, target, exact,
           (unsigned long long)atomic_load(&jb.stats.reordered),
           (unsigned long long)atomic_load(&jb.stats.lost),
           (unsigned long long)atomic_load(&jb.stats.late),
           (unsigned long long)atomic_load(&jb.stats.underruns));
    CHECK(exact);
    CHECK(atomic_load(&jb.stats.reordered) == (uint64_t)swaps - 1);
    CHECK(atomic_load(&jb.stats.lost) == 1 && atomic_load(&jb.stats.late) == 1);
    CHECK(atomic_load(&jb.stats.underruns) == 0 && atomic_load(&jb.stats.received) == N - 1);
    bb_jbuf_cleanup(&jb);
}

int main(void)
{
    char err[128];
    enc = bb_encoder_new(BB_CODEC_FLOAT, RATE, 1, F, 0, err, sizeof err);
    dec = bb_decoder_new(BB_CODEC_FLOAT, RATE, 1, F, err, sizeof err);
    CHECK(enc && dec);

    // A packet overtaken by the next one is a packet late: a depth of two
    // packets plays it; overtaken by three, a depth of four; across the
    // wrap of the sequence numbers too.
    reorder_within_depth(0, 2 * F, 1);
    reorder_within_depth(100, 4 * F, 3);
    reorder_within_depth(UINT32_MAX - 1000, 2 * F, 1);

    // A path that has not reordered: a lost packet is concealed while the
    // ring still holds a packet beyond the next read (no underrun when the
    // packet after it is late). It comes after all: late.
    struct bb_jbuf jb;
    float buf[F];
    float *out[1] = {buf};
    const uint32_t fb = sizeof(float);
    CHECK(bb_jbuf_init(&jb, 1, F, 256, RATE, 2 * F, dec) == 0);
    uint32_t k = 0;
    for (; k < 10; k++) {
        send_pkt(&jb, 0, k);
        bb_jbuf_read(&jb, out, F);
    }
    bb_jbuf_read(&jb, out, F); // packet 10 lost
    send_pkt(&jb, 0, 11);
    CHECK(atomic_load(&jb.stats.lost) == 1 && bb_ring_read_space(&jb.ring) == 3 * F * fb);
    send_pkt(&jb, 0, 10);
    CHECK(atomic_load(&jb.stats.late) == 1 && atomic_load(&jb.stats.dup) == 0);
    // Now it has: the next lost packet is held for until the read needs it,
    // then concealed, without an underrun.
    for (k = 12; k < 20; k++) {
        bb_jbuf_read(&jb, out, F);
        send_pkt(&jb, 0, k);
    }
    bb_jbuf_read(&jb, out, F);
    bb_jbuf_read(&jb, out, F); // packet 20 lost
    send_pkt(&jb, 0, 21);
    CHECK(atomic_load(&jb.stats.lost) == 1 && bb_ring_read_space(&jb.ring) == F * fb);
    bb_jbuf_read(&jb, out, F);
    send_pkt(&jb, 0, 22);
    CHECK(atomic_load(&jb.stats.lost) == 2 && bb_ring_read_space(&jb.ring) == 3 * F * fb);
    CHECK(bb_jbuf_read(&jb, out, F) == 1 && atomic_load(&jb.stats.underruns) == 0);
    // A duplicate of a packet that is held, and of one played.
    send_pkt(&jb, 0, 24);
    send_pkt(&jb, 0, 24);
    send_pkt(&jb, 0, 22);
    CHECK(atomic_load(&jb.stats.dup) == 2 && atomic_load(&jb.stats.late) == 1);
    // The packet 23 goes missing for good, and one a window ahead comes:
    // everything before the window's new start is decoded or given up (23),
    // and what is missing after that up to the depth (a read, 2F, and
    // the packet itself: three packets) before it.
    uint64_t lost = atomic_load(&jb.stats.lost);
    send_pkt(&jb, 0, 24 + jb.rx.nslots);
    CHECK(jb.next_seq == 24 + jb.rx.nslots - 3 && jb.rx.held == 1);
    CHECK(atomic_load(&jb.stats.lost) == lost + jb.rx.nslots - 3);
    bb_jbuf_cleanup(&jb);

    // The sender's time of the ring's newest frame: a packet held is
    // stamped when it comes, and places the frames when it is decoded.
    CHECK(bb_jbuf_init(&jb, 1, F, 256, RATE, 2 * F, dec) == 0);
    for (k = 0; k < 4; k++) {
        send_pkt(&jb, 0, k);
        bb_jbuf_stamp(&jb, 1000 + (k + 1) * F, k);
    }
    send_pkt(&jb, 0, 5);
    bb_jbuf_stamp(&jb, 1000 + 6 * F, 5);
    CHECK(atomic_load(&jb.ts_at) >> 32 == 1000 + 4 * F);
    send_pkt(&jb, 0, 4);
    bb_jbuf_stamp(&jb, 1000 + 5 * F, 6);
    uint64_t at = atomic_load(&jb.ts_at);
    CHECK(at >> 32 == 1000 + 6 * F && (uint32_t)at == 6 * F * sizeof(float));
    bb_jbuf_cleanup(&jb);

    // Redundant copies: a copy of a lost packet fills its hole (and the
    // stream is exact); copies of packets that came count nothing.
    CHECK(bb_jbuf_init(&jb, 1, F, 256, RATE, 2 * F, dec) == 0);
    uint8_t pkt[1024];
    float pcm[F];
    for (k = 0; k < 40; k++) {
        if (k == 20) { // lost with the copies it carried
            bb_jbuf_read(&jb, out, F);
            continue;
        }
        for (uint32_t c = 2; c >= 1; c--) { // two copies per packet, before it
            if (c > k)
                continue;
            for (uint32_t i = 0; i < F; i++)
                pcm[i] = sample((k - c) * F + i);
            int n = bb_encode(enc, pcm, pkt, sizeof pkt);
            bb_jbuf_receive_copy(&jb, k - c, pkt, (size_t)n);
        }
        send_pkt(&jb, 0, k);
        bb_jbuf_read(&jb, out, F);
    }
    CHECK(atomic_load(&jb.stats.recovered) == 1 && atomic_load(&jb.stats.lost) == 0);
    CHECK(atomic_load(&jb.stats.dup) == 0 && atomic_load(&jb.stats.late) == 0);
    CHECK(atomic_load(&jb.stats.received) == 39 && atomic_load(&jb.stats.underruns) == 0);
    int exact = 1;
    for (uint32_t i = 0; i < F; i++) // depth 2F: the last read played packet 37
        exact &= buf[i] == sample(37 * F + i);
    CHECK(exact);
    bb_jbuf_cleanup(&jb);

    bb_encoder_free(enc);
    bb_decoder_free(dec);
    return check_report("test_jbuf_order");
}
