// SPDX-License-Identifier: GPL-2.0-or-later
// jbuf_rx.c: the jitter buffer's producer half, in the network receive
// thread: packets put in order before they are decoded, loss concealed
// when the frames are needed, and the arrival spread for the auto depth.
//
// Order. A packet is held in slot seq % nslots (preallocated, copied in)
// and decoded only when every packet before it has been decoded or given
// up, so a packet that overtakes another waits for it instead of turning
// it into a loss and then a late packet. next_seq is the first packet
// neither decoded nor given up. When it is missing and newer packets are
// held, it is given up (concealed: Opus PLC, or the PCM predictor of
// plc.h) at a packet's arrival, and only when:
//
//  (a) the ring holds fewer frames than the consumer's next read needs
//      (jb->need, published by each read: a period, or a period and the
//      depth while it buffers) and a margin: waiting longer would underrun
//      it. The margin is the depth, unless the path reordered packets in
//      the last REORDER_MEMORY packets (one filled a hole, or came after
//      its place was given up): then 0;
//  (b) a packet more than the depth newer is here already: the missing one
//      is later than the buffer can wait for, whatever the ring holds;
//  (c) the window would have to move past it (a packet nslots newer).
//
// One missing packet is given up at a time and the rule asked again: the
// frames of one concealed packet may be all the consumer needs, and the
// next missing one may still come. The consumer's side stays as it was:
// it reads decoded frames from the lock-free ring; the producer only
// reads the ring's fill and two atomics (need, target) to decide.
//
// So a packet reordered within the depth is played; the price is that
// while a lost packet is waited for, the frames after it are not in the
// ring yet: the margin for the next packet's lateness is what the ring
// holds beyond the next read, not the whole depth. Hence the margin of
// (a): on a path that does not reorder, a lost packet is concealed unless
// the ring holds the whole depth beyond the next read, so that loss alone
// does not take the depth's margin from the packets after it (a burst of
// losses is concealed at once, as a gap was before the reorder stage).
// On a path that reorders, the wait is worth it. The
// automatic depth counts a reordered packet's lateness like any other
// (below), so such a path gets the depth to wait for it.
//
// A packet behind next_seq was decoded (a duplicate) or given up (late);
// both are counted and dropped.
//
// Spread. Each stamped packet's arrival time in frames minus the sender's
// clock at its end (the packet's ts) is its offset; over a half window
// (AUTO_HALF_MS) the smallest offset is the packet that came soonest, and
// every packet's lateness is its offset less that. The depth wanted is the
// lateness that all but AUTO_EXCEPT_PER_MILLE per 1000 packets of the last
// two halves stayed within, published to the consumer with the lateness
// all of them stayed within (jbuf.c applies them). A lost packet has no
// arrival and adds nothing: loss never deepens the buffer. The first half is short (AUTO_FIRST_MS): until it ends the
// depth is 0. A disturbance leaves the statistics two halves later. A step
// in the path's delay is not spread either: each half has its own earliest
// packet (and clock drift moves the offsets by a few frames a half at
// most).
//
// An outage is not spread. A packet later than the deepest the automatic
// depth may go (MAX_AUTO_MS) is one no depth would have played in time: a
// link that went away, a machine that stalled for longer (this VM: 100 to
// 400 ms, a few times a minute). What such a stall queued comes at once,
// its packets late by everything from the stall down to nothing; all of
// them (each packet that arrives within half a packet's time of the last
// one left out) are left out of the spread with it, as loss is: otherwise
// the burst's tail, within the limit, would ask for the deepest depth, and
// the hold that follows a rebound would keep it there with each stall.
// Lateness is judged against the earliest packet of this half and the
// last, over every packet (so a step in the path's delay is learnt in one
// half, not taken for an outage for good).
#include "counter.h"
#include "jbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONCEAL    8     // conceal at most this many lost packets in a row
#define RESYNC_PACKETS 3000  // a jump of more packets than this restarts the stream
#define LATE_RESYNC    8     // this many late packets in a row restart the stream
#define MAX_AUTO_MS    20    // the auto depth never grows beyond this
#define REORDER_MS     40    // slots for at least this much stream (a power of two more)
#define REORDER_MEMORY 4096  // packets a sign of reordering waives rule (a)'s margin for
#define AUTO_HALF_MS   1000  // the spread's half window
#define AUTO_FIRST_MS  200   // the first one: a stream starts with a depth of 0
#define AUTO_EXCEPT_PER_MILLE 1 // packets per 1000 the auto depth need not cover
#define AUTO_MAX_PKTS  8192  // offsets kept per half; a half ends early when full

int bb_jbuf_rx_init(struct bb_jbuf *jb, unsigned fixed_target)
{
    struct bb_jbuf_rx *r = &jb->rx;
    unsigned want = (jb->rate * REORDER_MS / 1000 + fixed_target) / jb->frames + 2;
    r->nslots = 8;
    while (r->nslots < want && r->nslots < 1024)
        r->nslots *= 2;
    r->slot = calloc(r->nslots, sizeof *r->slot);
    r->pool = malloc((size_t)r->nslots * BB_MAX_DATAGRAM);
    r->bins = jb->rate * MAX_AUTO_MS / 1000 + 1;
    r->half_min = r->prev_min = INT64_MAX;
    r->cap_off = AUTO_MAX_PKTS;
    r->off = calloc(r->cap_off, sizeof *r->off);
    r->hist[0] = calloc(r->bins, sizeof(uint32_t));
    r->hist[1] = calloc(r->bins, sizeof(uint32_t));
    atomic_store(&jb->need, jb->frames);
    if (!r->slot || !r->pool || !r->off || !r->hist[0] || !r->hist[1])
        return -ENOMEM;
    if (jb->dec && !bb_codec_is_opus(bb_decoder_codec(jb->dec))) {
        int rc = bb_plc_init(&jb->plc, jb->channels, jb->frames, jb->rate);
        if (rc < 0)
            return rc;
        jb->pcm_plc = 1;
    }
    return 0;
}

void bb_jbuf_rx_cleanup(struct bb_jbuf *jb)
{
    struct bb_jbuf_rx *r = &jb->rx;
    free(r->slot);
    free(r->pool);
    free(r->off);
    free(r->hist[0]);
    free(r->hist[1]);
    memset(r, 0, sizeof *r);
    bb_plc_cleanup(&jb->plc);
    jb->pcm_plc = 0;
}

static struct bb_jbuf_slot *slot_of(struct bb_jbuf *jb, uint32_t seq)
{
    return &jb->rx.slot[seq & (jb->rx.nslots - 1)];
}

// Appends the decoded scratch to the ring (0 when it is full).
static int push_decoded(struct bb_jbuf *jb)
{
    uint32_t bytes = jb->frames * jb->channels * (uint32_t)sizeof(float);
    if (!bb_ring_write(&jb->ring, jb->decoded, bytes)) {
        bb_counter_add(&jb->stats.overflow, 1);
        return 0;
    }
    return (int)jb->frames;
}

// next_seq is held: decode it into the ring.
static int decode_next(struct bb_jbuf *jb)
{
    struct bb_jbuf_slot *s = slot_of(jb, jb->next_seq);
    s->state = BB_SLOT_DONE;
    jb->rx.held--;
    jb->next_seq++;
    jb->conceal_run = 0;
    if (!jb->dec)
        return 0;
    const uint8_t *data = jb->rx.pool + (size_t)(s - jb->rx.slot) * BB_MAX_DATAGRAM;
    if (bb_decode(jb->dec, data, s->len, jb->decoded) != (int)jb->frames) {
        bb_counter_add(&jb->stats.bad, 1);
        return 0;
    }
    if (jb->pcm_plc)
        bb_plc_feed(&jb->plc, jb->decoded);
    int n = push_decoded(jb);
    if (n > 0) {
        jb->rx.st_ok = 1;
        jb->rx.st_seq = s->seq;
    }
    return n;
}

// next_seq is missing: give it up. A short run is concealed so the
// stream keeps its length; beyond MAX_CONCEAL the consumer fades out and
// refills instead.
static int give_up_next(struct bb_jbuf *jb)
{
    struct bb_jbuf_slot *s = slot_of(jb, jb->next_seq);
    *s = (struct bb_jbuf_slot){.seq = jb->next_seq, .state = BB_SLOT_GONE};
    jb->next_seq++;
    bb_counter_add(&jb->stats.lost, 1);
    if (!jb->dec || jb->conceal_run >= MAX_CONCEAL)
        return 0;
    jb->conceal_run++;
    if (jb->pcm_plc)
        bb_plc_conceal(&jb->plc, jb->decoded);
    else if (bb_decode(jb->dec, NULL, 0, jb->decoded) <= 0)
        return 0;
    int n = push_decoded(jb);
    if (n > 0)
        jb->rx.st_ok = 0; // the ring's newest frames have no sender's time
    return n;
}

// Rules (a) and (b) of the head comment, for a missing next_seq while
// newer packets are held.
static int due(struct bb_jbuf *jb)
{
    const uint32_t frame_bytes = jb->channels * (uint32_t)sizeof(float);
    unsigned ahead = bb_ring_read_space(&jb->ring) / frame_bytes;
    unsigned need = atomic_load_explicit(&jb->need, memory_order_relaxed);
    unsigned target = atomic_load_explicit(&jb->stats.target, memory_order_relaxed);
    int reorders = (int32_t)(jb->rx.wait_until - jb->next_seq) > 0;
    if (ahead < need + (reorders ? 0 : target))
        return 1;
    uint32_t newer = jb->rx.newest - 1 - jb->next_seq; // packets from it to the newest
    return (uint64_t)newer * jb->frames > (uint64_t)need + target;
}

// Decodes what is in order; gives up missing packets while they are due
// (force: all of them, until nothing is held).
static int drain(struct bb_jbuf *jb, int force)
{
    int pushed = 0;
    while (jb->rx.held > 0) {
        struct bb_jbuf_slot *s = slot_of(jb, jb->next_seq);
        if (s->state == BB_SLOT_HELD && s->seq == jb->next_seq)
            pushed += decode_next(jb);
        else if (force || due(jb))
            pushed += give_up_next(jb);
        else
            break;
    }
    return pushed;
}

// Moves next_seq on to first, decoding or giving up what is before it.
static int advance(struct bb_jbuf *jb, uint32_t first)
{
    int pushed = 0;
    while ((int32_t)(first - jb->next_seq) > 0) {
        struct bb_jbuf_slot *s = slot_of(jb, jb->next_seq);
        pushed += s->state == BB_SLOT_HELD && s->seq == jb->next_seq ? decode_next(jb)
                                                                      : give_up_next(jb);
    }
    return pushed;
}

// A packet behind next_seq: a duplicate when it was decoded, else late.
static void behind(struct bb_jbuf *jb, uint32_t seq, int32_t d)
{
    const struct bb_jbuf_slot *s = slot_of(jb, seq);
    if ((uint32_t)-d <= jb->rx.nslots && s->seq == seq && s->state == BB_SLOT_DONE) {
        bb_counter_add(&jb->stats.dup, 1);
    } else {
        bb_counter_add(&jb->stats.late, 1);
        jb->rx.wait_until = jb->next_seq + REORDER_MEMORY; // given up too soon
    }
}

// Holds the packet in its slot. Returns 0, or -1 for a duplicate.
static int hold(struct bb_jbuf *jb, uint32_t seq, const uint8_t *payload, size_t len)
{
    struct bb_jbuf_rx *r = &jb->rx;
    struct bb_jbuf_slot *s = slot_of(jb, seq);
    if (s->state == BB_SLOT_HELD && s->seq == seq)
        return -1;
    *s = (struct bb_jbuf_slot){.seq = seq, .len = (uint16_t)len, .state = BB_SLOT_HELD};
    memcpy(r->pool + (size_t)(s - r->slot) * BB_MAX_DATAGRAM, payload, len);
    if (r->held > 0 && (int32_t)(seq + 1 - r->newest) < 0) {
        // A newer packet came first: this one fills a hole.
        bb_counter_add(&jb->stats.reordered, 1);
        r->wait_until = jb->next_seq + REORDER_MEMORY;
    }
    if (r->held++ == 0 || (int32_t)(seq + 1 - r->newest) > 0)
        r->newest = seq + 1;
    return 0;
}

static int packet(struct bb_jbuf *jb, uint32_t seq, const uint8_t *payload, size_t len,
                  int copy)
{
    jb->rx.rx_ok = 0;
    if (len > BB_MAX_DATAGRAM) {
        bb_counter_add(&jb->stats.bad, 1);
        return 0;
    }
    if (!jb->have_seq) {
        if (copy)
            return 0;
        jb->have_seq = 1;
        jb->next_seq = seq;
        jb->rx.wait_until = seq; // no reordering seen yet
    }
    int pushed = 0;
    int32_t d = (int32_t)(seq - jb->next_seq);
    if (!copy && d < 0 && ++jb->late_run >= LATE_RESYNC)
        d = RESYNC_PACKETS + 1; // a run of "late" packets is a sender that started over
    if (d < -RESYNC_PACKETS || d > RESYNC_PACKETS) {
        if (copy)
            return 0;
        // The sender restarted its numbering: play what is held, follow it.
        pushed += drain(jb, 1);
        jb->next_seq = seq;
        d = 0;
    }
    if (d < 0) {
        if (!copy)
            behind(jb, seq, d);
        return pushed;
    }
    if (!copy)
        jb->late_run = 0;
    else if ((uint32_t)d >= jb->rx.nslots)
        return pushed; // a copy never moves the window: its packet comes after it
    if ((uint32_t)d >= jb->rx.nslots)
        pushed += advance(jb, seq - jb->rx.nslots + 1); // rule (c)
    if (hold(jb, seq, payload, len) < 0) {
        if (!copy)
            bb_counter_add(&jb->stats.dup, 1);
        return pushed;
    }
    if (copy) {
        bb_counter_add(&jb->stats.recovered, 1);
    } else {
        bb_counter_add(&jb->stats.received, 1);
        jb->rx.rx_ok = 1;
        jb->rx.rx_seq = seq;
    }
    return pushed + drain(jb, 0);
}

int bb_jbuf_receive(struct bb_jbuf *jb, uint32_t seq, const uint8_t *payload, size_t len)
{
    return packet(jb, seq, payload, len, 0);
}

int bb_jbuf_receive_copy(struct bb_jbuf *jb, uint32_t seq, const uint8_t *payload, size_t len)
{
    return packet(jb, seq, payload, len, 1);
}

// ---- The arrival spread ---------------------------------------------------

// The lateness all but per_mille per 1000 packets of both halves stayed
// within (0: every packet).
static unsigned spread_quantile(const struct bb_jbuf_rx *r, unsigned per_mille)
{
    uint64_t total = (uint64_t)r->total[0] + r->total[1];
    uint64_t allowed = total * per_mille / 1000, above = 0;
    for (unsigned b = r->bins; b-- > 0;) {
        above += (uint64_t)r->hist[0][b] + r->hist[1][b];
        if (above > allowed)
            return b;
    }
    return 0;
}

static void close_half(struct bb_jbuf *jb, uint64_t t_ns)
{
    struct bb_jbuf_rx *r = &jb->rx;
    uint32_t *h = r->hist[r->cur];
    memset(h, 0, r->bins * sizeof *h);
    int64_t min = r->half_min;
    for (unsigned i = 0; i < r->n_off; i++) {
        int64_t l = r->off[i] - min;
        h[l < (int64_t)r->bins ? l : (int64_t)r->bins - 1]++;
    }
    r->total[r->cur] = r->n_off;
    r->cur ^= 1;
    r->n_off = 0;
    r->prev_min = r->half_min;
    r->half_min = INT64_MAX;
    r->half_ns = t_ns;
    unsigned q = spread_quantile(r, AUTO_EXCEPT_PER_MILLE);
    atomic_store_explicit(&jb->stats.spread, q, memory_order_relaxed);
    atomic_store_explicit(&jb->auto_want, q, memory_order_relaxed);
    atomic_store_explicit(&jb->auto_max, spread_quantile(r, 0), memory_order_relaxed);
}

static void spread_add(struct bb_jbuf *jb, uint64_t t_ns)
{
    struct bb_jbuf_rx *r = &jb->rx;
    if (!r->t0_ok) {
        r->t0_ok = 1;
        r->t0_ns = r->half_ns = t_ns;
    }
    int64_t arrival = (int64_t)((double)(int64_t)(t_ns - r->t0_ns) * 1e-9 * jb->rate);
    int64_t off = arrival - jb->ts_pos;
    int64_t base = r->half_min < r->prev_min ? r->half_min : r->prev_min;
    r->half_min = off < r->half_min ? off : r->half_min;
    if (t_ns < r->outage_until_ns || (base != INT64_MAX && off - base >= (int64_t)r->bins - 1)) {
        r->outage_until_ns = t_ns + (uint64_t)jb->frames * 500000000ull / jb->rate;
        r->outage_packets++;
    } else {
        r->off[r->n_off++] = off;
    }
    uint64_t half = (r->total[0] + r->total[1] ? AUTO_HALF_MS : AUTO_FIRST_MS) * 1000000ull;
    if (t_ns - r->half_ns >= half || r->n_off == r->cap_off)
        close_half(jb, t_ns);
}

// ---- Stamps -----------------------------------------------------------------

void bb_jbuf_stamp(struct bb_jbuf *jb, uint32_t ts_end, uint64_t t_ns)
{
    struct bb_jbuf_rx *r = &jb->rx;
    if (jb->ts_have)
        jb->ts_pos += (int32_t)(ts_end - jb->ts_last);
    jb->ts_have = 1;
    jb->ts_last = ts_end;
    if (r->rx_ok && slot_of(jb, r->rx_seq)->seq == r->rx_seq) {
        struct bb_jbuf_slot *s = slot_of(jb, r->rx_seq);
        s->ts_end = ts_end;
        s->stamped = 1;
    }
    // The newest frame in the ring is the sender's ts - 1, ts the newest
    // packet decoded: this one, or one held for it and stamped on arrival.
    int have = jb->ts_pushed;
    uint32_t ts = ts_end;
    if (!have && r->st_ok) {
        const struct bb_jbuf_slot *s = slot_of(jb, r->st_seq);
        have = s->seq == r->st_seq && s->stamped;
        ts = s->ts_end;
    }
    if (have) {
        uint64_t at = (uint64_t)ts << 32 | bb_ring_written(&jb->ring);
        atomic_store_explicit(&jb->ts_at, at, memory_order_release);
        atomic_store_explicit(&jb->ts_at_ok, 1, memory_order_release);
    }
    jb->ts_pushed = 0;
    r->st_ok = 0;
    r->rx_ok = 0;
    if (!jb->dl_off)
        bb_drift_arrived(&jb->drift, jb->ts_pos, t_ns);
    spread_add(jb, t_ns);
}
