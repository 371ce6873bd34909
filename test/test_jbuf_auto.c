// SPDX-License-Identifier: GPL-2.0-or-later
// test_jbuf_auto.c: the automatic depth from the arrival spread
// (jbuf_rx.c): a sender whose packets come with a known random delay
// (uniform over 0..J frames, so they also overtake each other) gets a
// depth within a period of J and few underruns; when the delay stops
// varying the depth comes down within 3 s; loss (packets that never come)
// does not deepen it; a sender whose period is four packets (they come in
// bursts) gets the depth of the burst; lateness that recurs every few
// seconds gets a depth that stays (no underrun at each recurrence), given
// back once it stops.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec.h"
#include "jbuf.h"

#define RATE  48000
#define F     64
#define T0_NS 1000000000000ull
#define TS0   777u

static struct bb_encoder *enc;
static struct bb_decoder *dec;

struct sim {
    struct bb_jbuf jb;
    double        *arrive;  ///< per packet: arrival time in frames, < 0: lost
    int           *order;   ///< packets by arrival
    int            n, next; ///< packets; the next in order to deliver
    uint32_t       cycle;
    double         wake_lo, wake_hi; ///< reads at cycle * F plus this much (frames);
                                     ///< both 0: 0.37 F
};

static uint32_t rng = 99;
static double urand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (rng >> 8) / 16777216.0;
}

static const double *cmp_base;
static int by_arrival(const void *a, const void *b)
{
    double x = cmp_base[*(const int *)a], y = cmp_base[*(const int *)b];
    return x < y ? -1 : x > y;
}

// Packets [from, to): sent at the end of their frames (burst packets at
// once at the end of the burst), plus a base delay and a uniform random
// one of up to jitter frames; lost with probability loss.
static void plan(struct sim *s, int from, int to, double jitter, double loss, int burst)
{
    for (int k = from; k < to; k++) {
        double sent = (double)((k / burst + 1) * burst) * F;
        double d = urand() * jitter;
        s->arrive[k] = urand() < loss ? -1.0 : sent + 100.0 + d;
    }
}

static void sim_init(struct sim *s, int n)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->arrive = calloc((size_t)n, sizeof *s->arrive);
    s->order = calloc((size_t)n, sizeof *s->order);
    CHECK(bb_jbuf_init(&s->jb, 1, F, 256, RATE, BB_JBUF_AUTO, dec) == 0);
}

static void sim_sort(struct sim *s)
{
    for (int k = 0; k < s->n; k++)
        s->order[k] = k;
    cmp_base = s->arrive;
    qsort(s->order, (size_t)s->n, sizeof *s->order, by_arrival);
    while (s->next < s->n && s->arrive[s->order[s->next]] < 0)
        s->next++;
}

// One consumer cycle at frame cycle * F + 0.37 F: what has arrived by
// then is delivered and stamped, then a period is read.
static void sim_cycle(struct sim *s)
{
    double now = s->cycle * (double)F +
                 (s->wake_hi > 0.0 ? s->wake_lo + urand() * (s->wake_hi - s->wake_lo) : 0.37 * F);
    uint8_t pkt[1024];
    float pcm[F], buf[F];
    float *out[1] = {buf};
    while (s->next < s->n && s->arrive[s->order[s->next]] <= now) {
        int k = s->order[s->next++];
        for (int i = 0; i < F; i++)
            pcm[i] = (float)sin(k * F + i);
        int len = bb_encode(enc, pcm, pkt, sizeof pkt);
        bb_jbuf_receive(&s->jb, (uint32_t)k, pkt, (size_t)len);
        uint64_t t = T0_NS + (uint64_t)(s->arrive[k] * 1e9 / RATE);
        bb_jbuf_stamp(&s->jb, TS0 + (uint32_t)(k + 1) * F, t);
    }
    bb_jbuf_clock(&s->jb, s->cycle * F, T0_NS + (uint64_t)(now * 1e9 / RATE));
    bb_jbuf_read(&s->jb, out, F);
    s->cycle++;
}

static void sim_free(struct sim *s)
{
    bb_jbuf_cleanup(&s->jb);
    free(s->arrive);
    free(s->order);
}

#define SECONDS(x) ((int)((x) * RATE / F))

static void settle_and_recover(double jitter)
{
    struct sim s;
    int n = SECONDS(22);
    sim_init(&s, n);
    plan(&s, 0, SECONDS(12), jitter, 0.0, 1);
    plan(&s, SECONDS(12), n, 0.0, 0.0, 1);
    sim_sort(&s);
    uint64_t under5 = 0;
    unsigned tmin = ~0u, tmax = 0;
    while (s.cycle < (uint32_t)SECONDS(12)) {
        if (s.cycle == (uint32_t)SECONDS(6))
            under5 = atomic_load(&s.jb.stats.underruns);
        sim_cycle(&s);
        if (s.cycle > (uint32_t)SECONDS(3)) {
            unsigned t = atomic_load(&s.jb.stats.target);
            tmin = t < tmin ? t : tmin;
            tmax = t > tmax ? t : tmax;
        }
    }
    uint64_t under_late = atomic_load(&s.jb.stats.underruns) - under5;
    double down = -1.0;
    while (s.cycle < (uint32_t)n - SECONDS(1)) {
        sim_cycle(&s);
        if (down < 0 && atomic_load(&s.jb.stats.target) <= F / 4)
            down = (double)s.cycle * F / RATE - 12.0;
    }
    printf("auto: jitter 0..%.0f frames: target %u..%u after 3 s, underruns %llu in all, "
           "%llu from 6 to 12 s, reordered %llu lost %llu late %llu; jitter gone: target "
           "%u after %.2f s\n", jitter, tmin, tmax,
           (unsigned long long)atomic_load(&s.jb.stats.underruns),
           (unsigned long long)under_late,
           (unsigned long long)atomic_load(&s.jb.stats.reordered),
           (unsigned long long)atomic_load(&s.jb.stats.lost),
           (unsigned long long)atomic_load(&s.jb.stats.late),
           atomic_load(&s.jb.stats.target), down);
    CHECK(tmin + F >= jitter && tmax <= jitter + F);
    CHECK(under_late <= 2);
    CHECK(down >= 0.0 && down <= 3.0);
    sim_free(&s);
}

// Hub and musician on one JACK server: the packet of a cycle comes while
// the other end's callback for that cycle may or may not have read yet
// (lo..hi frames from the end of its frames), and the reads themselves
// come late by 0..wake frames. A restart must keep what its own read was
// late by, or the next punctual read runs dry; and a calm lag learnt when
// the packets came before the reads is forgotten once it runs dry, not
// cut back to at every restart. Underruns after the first 2 s: few.
static void one_machine(double lo, double hi, double wake)
{
    struct sim s;
    rng = 777;
    sim_init(&s, SECONDS(12));
    for (int k = 0; k < s.n; k++)
        s.arrive[k] = (double)(k + 1) * F + lo + urand() * (hi - lo);
    s.wake_lo = 0.0;
    s.wake_hi = wake;
    sim_sort(&s);
    uint64_t under2 = 0;
    while (s.cycle < (uint32_t)s.n - 100) {
        if (s.cycle == (uint32_t)SECONDS(2))
            under2 = atomic_load(&s.jb.stats.underruns);
        sim_cycle(&s);
    }
    uint64_t under = atomic_load(&s.jb.stats.underruns) - under2;
    printf("auto: one machine, packets at +%.0f..%.0f frames, reads late 0..%.0f: target %u, "
           "underruns %llu after 2 s, trims %llu\n", lo, hi, wake, atomic_load(&s.jb.stats.target),
           (unsigned long long)under, (unsigned long long)atomic_load(&s.jb.stats.trims));
    CHECK(under <= 10);
    sim_free(&s);
}

// Lateness that recurs: every `every` seconds the sender stalls and the
// next `stall` packets come together with the one after them (a machine's
// late wake-up, a link's hiccup). Each time the depth has to rise again
// soon after it was lowered it is held longer, and it covers every packet
// of the spread: within a few recurrences it stays (from 25 to 50 s no
// recurrence underruns and the depth is never lowered); 12 s after the
// last stall it is back down.
static void recurring(double every, int stall)
{
    struct sim s;
    int quiet_from = SECONDS(50);
    sim_init(&s, SECONDS(64));
    for (int k = 0; k < s.n; k++)
        s.arrive[k] = (double)(k + 1) * F + 100.0;
    int each = SECONDS(every);
    for (int k0 = each; k0 + stall < quiet_from; k0 += each)
        for (int k = k0; k < k0 + stall; k++)
            s.arrive[k] = s.arrive[k0 + stall];
    sim_sort(&s);
    uint64_t under25 = 0;
    unsigned lowered = 0, prev = 0, high = 0;
    while (s.cycle < (uint32_t)quiet_from) {
        if (s.cycle == (uint32_t)SECONDS(25))
            under25 = atomic_load(&s.jb.stats.underruns);
        sim_cycle(&s);
        unsigned t = s.jb.target;
        if (s.cycle > (uint32_t)SECONDS(25)) {
            lowered += t < prev;
            high = t > high ? t : high;
        }
        prev = t;
    }
    uint64_t under = atomic_load(&s.jb.stats.underruns) - under25;
    while (s.cycle < (uint32_t)(quiet_from + SECONDS(12)))
        sim_cycle(&s);
    unsigned after = s.jb.target;
    printf("auto: %d packets late every %.1f s: from 25 to 50 s target up to %u, lowered %u "
           "times, underruns %llu; 12 s after the last: target %u\n", stall, every, high,
           lowered, (unsigned long long)under, after);
    CHECK(under == 0);
    CHECK(lowered == 0);
    CHECK(high >= (unsigned)(stall * F) - F && high <= (unsigned)((stall + 1) * F));
    CHECK(after < (unsigned)F);
    sim_free(&s);
}

// Outages are not spread: a stall of 300 ms every 3 s (what it queued
// comes at once: its packets late by 300 ms down to nothing) on a stream
// whose packets otherwise vary by up to 32 frames. Without the outage rule
// every stall's tail asked for the deepest depth (960 frames) and each
// rebound's hold kept it there; now the depth stays near the jitter. Then
// the path's delay steps up by 31 ms for good: packets beyond the limit for
// a half or two, then the new delay is the base and the spread is back.
static void stalls(void)
{
    struct sim s;
    int step_at = SECONDS(30), stall = SECONDS(0.3);
    sim_init(&s, SECONDS(40));
    rng = 777;
    plan(&s, 0, s.n, 32.0, 0.0, 1);
    for (int k0 = SECONDS(3); k0 + stall < step_at - SECONDS(2); k0 += SECONDS(3))
        for (int k = k0; k < k0 + stall; k++)
            s.arrive[k] = s.arrive[k0 + stall];
    for (int k = step_at; k < s.n; k++)
        s.arrive[k] += 1500.0;
    sim_sort(&s);
    unsigned high = 0;
    while (s.cycle < (uint32_t)step_at) {
        sim_cycle(&s);
        if (s.cycle > (uint32_t)SECONDS(5))
            high = s.jb.target > high ? s.jb.target : high;
    }
    uint64_t out_stalls = s.jb.rx.outage_packets;
    while (s.cycle < (uint32_t)(step_at + SECONDS(4)))
        sim_cycle(&s);
    uint64_t out_step = s.jb.rx.outage_packets - out_stalls;
    unsigned after_step = s.jb.target;
    while (s.cycle < (uint32_t)(step_at + SECONDS(8)))
        sim_cycle(&s);
    printf("auto: a 300 ms stall every 3 s over 0..32 frames of jitter: target up to %u, "
           "%llu packets left out as an outage's; a 31 ms step in the delay: %llu left out, "
           "target %u 4 s after it\n", high, (unsigned long long)out_stalls,
           (unsigned long long)out_step, after_step);
    CHECK(out_stalls >= 8u * (unsigned)stall - 8u * 15u);
    CHECK(high <= 2 * F);
    CHECK(out_step > 0 && out_step < (uint64_t)SECONDS(2.1));
    CHECK(after_step <= 2 * F);
    CHECK(s.jb.rx.outage_packets - out_stalls == out_step); // nothing after the step's halves
    sim_free(&s);
}

// The depth the arrival spread asks for (jb.target), without the edge pad
// (jbuf.c): loss must not move it.
static unsigned target_with_loss(double jitter, double loss, uint64_t *lost)
{
    struct sim s;
    rng = 4242; // the same delays with and without loss
    sim_init(&s, SECONDS(10));
    plan(&s, 0, s.n, jitter, loss, 1);
    sim_sort(&s);
    unsigned tmax = 0;
    while (s.cycle < (uint32_t)s.n - 100) {
        sim_cycle(&s);
        unsigned t = s.jb.target;
        tmax = t > tmax ? t : tmax;
    }
    *lost = atomic_load(&s.jb.stats.lost);
    sim_free(&s);
    return tmax;
}

int main(void)
{
    char err[128];
    enc = bb_encoder_new(BB_CODEC_FLOAT, RATE, 1, F, 0, err, sizeof err);
    dec = bb_decoder_new(BB_CODEC_FLOAT, RATE, 1, F, err, sizeof err);
    CHECK(enc && dec);

    settle_and_recover(192.0);
    settle_and_recover(48.0);
    one_machine(-14.0, 6.0, 30.0);
    one_machine(-2.0, 2.0, 5.0);
    one_machine(-20.0, 20.0, 20.0);
    recurring(3.5, 3);
    recurring(6.0, 2);
    stalls();

    uint64_t lost0, lost5;
    unsigned t0 = target_with_loss(64.0, 0.0, &lost0);
    unsigned t5 = target_with_loss(64.0, 0.05, &lost5);
    rng = 4242;
    uint64_t lost20;
    unsigned t20 = target_with_loss(64.0, 0.20, &lost20);
    printf("auto: jitter 0..64 frames: deepest target %u without loss, %u with 5 %% (%llu lost), "
           "%u with 20 %% (%llu lost)\n", t0, t5, (unsigned long long)lost5, t20,
           (unsigned long long)lost20);
    CHECK(lost0 == 0 && lost5 > 0 && lost20 > lost5);
    CHECK(t5 <= t0 + 4 && t20 <= t0 + 4);

    // A sender with a period of four packets sends them together: the
    // first of a burst is three packets "late" against the last. The
    // spread's depth (jb.target; the start's underruns may add the edge pad
    // for a while).
    struct sim s;
    sim_init(&s, SECONDS(6));
    plan(&s, 0, s.n, 0.0, 0.0, 4);
    sim_sort(&s);
    while (s.cycle < (uint32_t)SECONDS(1))
        sim_cycle(&s);
    uint64_t under1 = atomic_load(&s.jb.stats.underruns);
    while (s.cycle < (uint32_t)SECONDS(5))
        sim_cycle(&s);
    unsigned t = s.jb.target;
    uint64_t under = atomic_load(&s.jb.stats.underruns);
    printf("auto: bursts of 4 packets: target %u, underruns %llu in the first second, "
           "%llu after\n", t, (unsigned long long)under1, (unsigned long long)(under - under1));
    CHECK(under == under1);
    CHECK(t >= 3 * F - 2 && t <= 3 * F + 2);
    sim_free(&s);

    bb_encoder_free(enc);
    bb_decoder_free(dec);
    return check_report("test_jbuf_auto");
}
