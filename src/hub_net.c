// SPDX-License-Identifier: GPL-2.0-or-later
// hub_net.c: the hub's network threads.
//
// receive thread [rx]: owns receiving on the hub socket (recvmmsg: a burst in one call). It parses and
//   validates every datagram, looks its session up in the published graph
//   (never under a lock), feeds AUDIO into that musician's jitter buffer
//   (decoding there), answers PING at once so round-trip times are honest,
//   and hands JOIN, LEAVE and the OSC packets a musician's join relays
//   from their own controller (at most HUB_OSC_RELAY_RATE a second per
//   musician, so one tablet cannot crowd the joins out of the ring) to the
//   control thread through the event ring.
// send workers [tx]: woken by the process callback once per period, each
//   drains the send rings of its share of the musicians (slot % workers) a
//   packet at a time, encodes and sends: Opus encoding of many mixes is
//   spread over the cores instead of queueing behind one thread. Equal
//   mixes (by default everyone's: everyone at 0 dB) are encoded once per
//   group and sent to every member, each sealed with its own keys.
//
// Both acknowledge the graph epoch on every loop so the control thread
// knows when an old graph (and a departed musician) can be freed.
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "counter.h"
#include "hub_engine.h"
#include "hub_load.h"
#include "log.h"
#include "session.h"

void hub_net_send(struct hub_engine *e, const struct bb_addr *to, const uint8_t *buf, size_t len)
{
    if (sendto(e->sock, buf, len, MSG_DONTWAIT, (const struct sockaddr *)&to->ss, to->len) < 0)
        bb_counter_inc_shared(&e->stats.send_errors);
}

static struct hub_client *lookup(const struct hub_graph *g, uint32_t session)
{
    unsigned slot = session & 0xFF; // the hub puts the slot in the low byte
    if (slot >= BB_MAX_CLIENTS)
        return NULL;
    struct hub_client *c = g->by_slot[slot];
    return c && c->session == session ? c : NULL;
}

/// Relayed OSC datagrams a musician may send in one second; more are
/// dropped (counted in stats.osc_relay_dropped, not events_dropped).
#define HUB_OSC_RELAY_RATE 500

/// [rx] Relayed OSC datagrams counted in the current second, per slot.
struct osc_rate {
    uint32_t session;
    uint64_t second;
    unsigned count;
};
static struct osc_rate osc_rate[BB_MAX_CLIENTS];

static int osc_rate_ok(const struct hub_client *c, uint64_t now)
{
    struct osc_rate *r = &osc_rate[c->slot];
    uint64_t second = now / 1000000000ull;
    if (r->session != c->session || r->second != second) {
        r->session = c->session;
        r->second = second;
        r->count = 0;
    }
    return ++r->count <= HUB_OSC_RELAY_RATE;
}

static void forward_event(struct hub_engine *e, const struct hub_event *ev)
{
    if (!bb_ring_write(&e->events, ev, sizeof *ev)) {
        bb_counter_inc_shared(&e->stats.events_dropped);
        return;
    }
    uint64_t one = 1;
    if (write(e->event_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        bb_counter_inc_shared(&e->stats.events_dropped);
}

/// [rx] The event for one datagram (a JOIN's handshake part unused).
static struct hub_event rx_event;

static void forward(struct hub_engine *e, const uint8_t *buf, size_t len, const struct bb_addr *from)
{
    struct hub_event *ev = &rx_event;
    ev->from = *from;
    ev->len = (uint16_t)len;
    ev->hs_status = 0;
    memcpy(ev->data, buf, len);
    forward_event(e, ev);
}

/// HELLO and JOIN datagrams one source address (IP and port) may send in a
/// second; more are dropped and counted (joins_limited). A join retries
/// both every 200 ms at most, so 20 leave room for a restart or two while
/// bounding the public-key work one source can cause.
#define HUB_JOIN_RATE 20
#define JOIN_RATE_SLOTS 1024

/// [rx] Joins counted per source in the current second, hashed by source.
static struct join_rate {
    struct bb_cookie_addr a;
    uint64_t second;
    unsigned count;
} join_rate[JOIN_RATE_SLOTS];

static int join_rate_ok(const struct bb_addr *from, uint64_t now)
{
    struct bb_cookie_addr a;
    if (bb_cookie_addr_of(&a, (const struct sockaddr *)&from->ss, from->len) < 0)
        return 0;
    uint32_t hash = 2166136261u; // FNV-1a: cheap; a collision only shares a budget
    for (size_t i = 0; i < sizeof a.bytes; i++)
        hash = (hash ^ a.bytes[i]) * 16777619u;
    struct join_rate *r = &join_rate[hash % JOIN_RATE_SLOTS];
    uint64_t second = now / 1000000000ull;
    if (memcmp(&r->a, &a, sizeof a) != 0 || r->second != second) {
        r->a = a;
        r->second = second;
        r->count = 0;
    }
    return ++r->count <= HUB_JOIN_RATE;
}

/// JOINs the hub opens in a second, from all sources together; more are
/// dropped and counted (joins_limited). Opening one is public-key work
/// (X25519, an Ed25519 signature), which the per-source rate bounds for
/// one address and port but not for one host using many ports; a band
/// that starts at once is a few dozen JOINs, and a dropped one is retried.
#define HUB_JOIN_OPENS_S 256

/// [rx] JOINs opened in the current second.
static struct {
    uint64_t second;
    unsigned count;
} join_opens;

static int join_open_ok(uint64_t now)
{
    uint64_t second = now / 1000000000ull;
    if (join_opens.second != second) {
        join_opens.second = second;
        join_opens.count = 0;
    }
    return ++join_opens.count <= HUB_JOIN_OPENS_S;
}

/// [rx] HELLO: a COOKIE, never longer than the HELLO, and no state kept.
/// JOIN: opened here, where the cookie jar lives, so that only a JOIN that
/// came back from its source (a valid cookie) costs public-key work; the
/// control thread gets it opened (or why not) to admit or refuse.
static void handshake(struct hub_engine *e, const struct bb_header *hd, const uint8_t *buf,
                      size_t len, const struct bb_addr *from, uint64_t now)
{
    if (!e->hs || !join_rate_ok(from, now)) {
        bb_counter_inc_shared(&e->stats.joins_limited);
        return;
    }
    if (hd->type == BB_MSG_HELLO) {
        uint8_t out[BB_WIRE_HEADER_SIZE + BB_HS_COOKIE_MSG_SIZE];
        int n = bb_session_cookie(e->hs, now / 1000000000ull, from, buf, len, out, sizeof out);
        if (n > 0 && (size_t)n <= len)
            hub_net_send(e, from, out, (size_t)n);
        else
            bb_counter_inc_shared(&e->stats.handshake_bad);
        return;
    }
    if (!join_open_ok(now)) {
        bb_counter_inc_shared(&e->stats.joins_limited);
        return;
    }
    struct hub_event *ev = &rx_event;
    int rc = bb_session_open_join(e->hs, now / 1000000000ull, from, buf, len, &ev->hs, &ev->join);
    // Only a JOIN that knows the password (or one the hub can tell the
    // musician about in a cleartext hint: a wrong password) goes on; a bad
    // cookie or a broken JOIN costs nothing more.
    if (rc < 0 && rc != BB_HS_AUTH) {
        bb_counter_inc_shared(&e->stats.handshake_bad);
        bb_hs_join_wipe(&ev->hs);
        return;
    }
    ev->from = *from;
    ev->len = (uint16_t)(len < sizeof ev->data ? len : sizeof ev->data);
    ev->hs_status = (int16_t)rc;
    memcpy(ev->data, buf, ev->len);
    forward_event(e, ev);
    bb_hs_join_wipe(&ev->hs);
}

/// [rx] The source of an authenticated datagram differs from the session's
/// address: the musician's NAT rebound or they moved. Only the receive
/// thread writes the address (hub_engine.h, addr_slot).
static void follow_source(struct hub_engine *e, struct hub_client *c, const struct bb_addr *from)
{
    unsigned next = (atomic_load_explicit(&c->addr_cur, memory_order_relaxed) & 1) ^ 1;
    c->addr_slot[next] = *from;
    atomic_store_explicit(&c->addr_cur, next, memory_order_release);
    bb_counter_inc_shared(&e->stats.addr_moves);
}

/// [rx] A datagram of c's session: opened (a forged or replayed one counts
/// for nothing: not as a keepalive, a LEAVE, nor a new address), then
/// handled.
static void session_datagram(struct hub_engine *e, struct hub_client *c, uint8_t *pkt,
                             size_t len, const struct bb_addr *from, uint64_t now)
{
    uint8_t *buf;
    int n = bb_stream_unseal(&c->st, pkt, len, &buf);
    if (n == -2) {
        bb_counter_inc_shared(&e->stats.replayed);
        return;
    }
    if (n < 0) {
        bb_counter_inc_shared(&e->stats.forged);
        bb_counter_inc_shared(&e->stats.bad_packets);
        return;
    }
    len = (size_t)n;
    struct bb_header hd;
    if (bb_wire_parse_header(buf, len, &hd) != BB_WIRE_OK) {
        bb_counter_inc_shared(&e->stats.bad_packets);
        return;
    }
    struct bb_addr now_at;
    hub_client_addr(c, &now_at);
    if (!bb_addr_equal(&now_at, from)) {
        if (!c->st.sealed) {
            bb_counter_inc_shared(&e->stats.wrong_source);
            return;
        }
        follow_source(e, c, from);
    }
    atomic_store_explicit(&c->confirmed, 1, memory_order_release);
    uint8_t reply[BB_STREAM_REPLY_SIZE];
    int rlen = 0;
    enum bb_stream_rx r = bb_stream_receive(&c->st, &hd, buf, len, now, reply, &rlen);
    if (r == BB_STREAM_RX_BAD)
        bb_counter_inc_shared(&e->stats.bad_packets);
    else if (r == BB_STREAM_RX_REPLY && rlen > 0)
        hub_net_send(e, from, reply, (size_t)rlen);
    if (r != BB_STREAM_RX_SESSION)
        return;
    switch (hd.type) {
    case BB_MSG_LEAVE_ACK:
        break;
    case BB_MSG_LEAVE:
        forward(e, buf, len, from); // authenticated: the control thread ends the session
        break;
    case BB_MSG_OSC: {
        // Checked here so that only the session's own packets reach the
        // ring; the control thread checks the session again (this graph
        // may be a little old).
        struct bb_osc o;
        if (bb_wire_read_osc(buf, len, &o) != BB_WIRE_OK) {
            bb_counter_inc_shared(&e->stats.bad_packets);
            return;
        }
        if (osc_rate_ok(c, now))
            forward(e, buf, len, from);
        else
            bb_counter_inc_shared(&e->stats.osc_relay_dropped); // unanswered (/stats)
        break;
    }
    default:
        bb_counter_inc_shared(&e->stats.bad_packets);
        return;
    }
    atomic_store_explicit(&c->st.last_heard_ns, now, memory_order_relaxed);
}

static void handle(struct hub_engine *e, const struct hub_graph *g, uint8_t *buf, size_t len,
                   const struct bb_addr *from)
{
    struct bb_header hd;
    // The header alone: a sealed datagram may be longer than a cleartext one.
    int rc = bb_wire_parse_header(buf, len < BB_WIRE_HEADER_SIZE ? len : BB_WIRE_HEADER_SIZE, &hd);
    if (rc == BB_WIRE_VERSION_BAD && hd.type == BB_MSG_JOIN && len <= BB_MAX_DATAGRAM) {
        if (join_rate_ok(from, bb_now_ns()))
            forward(e, buf, len, from); // the control thread rejects it in words
        else
            bb_counter_inc_shared(&e->stats.joins_limited);
        return;
    }
    if (rc != BB_WIRE_OK) {
        bb_counter_inc_shared(&e->stats.bad_packets);
        return;
    }
    uint64_t now = bb_now_ns();
    if (hd.type == BB_MSG_HELLO || hd.type == BB_MSG_JOIN) {
        if (len <= BB_MAX_DATAGRAM)
            handshake(e, &hd, buf, len, from, now);
        else
            bb_counter_inc_shared(&e->stats.bad_packets);
        return;
    }
    struct hub_client *c = g ? lookup(g, hd.session) : NULL;
    if (!c) {
        bb_counter_inc_shared(&e->stats.unknown_session);
        return;
    }
    session_datagram(e, c, buf, len, from, now);
}

/// Datagrams one receive call takes at most.
#define RX_BATCH 32

/// [rx] Receive buffers: one recvmmsg() fills up to RX_BATCH of them.
static struct rx_batch {
    struct mmsghdr   msg[RX_BATCH];
    struct iovec     iov[RX_BATCH];
    struct bb_addr   from[RX_BATCH];
    uint8_t          data[RX_BATCH][BB_MAX_SEALED + 1]; // + 1: oversize is seen
} rx_batch;

static void *rx_main(void *arg)
{
    struct hub_engine *e = arg;
    struct rx_batch *b = &rx_batch;
    bb_thread_below_jack(e->jack_prio, "receive");
    // The timeout bounds how long an old graph can wait for our ack.
    struct timeval tv = {.tv_sec = 0, .tv_usec = 20000};
    setsockopt(e->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (atomic_load(&e->running)) {
        for (int i = 0; i < RX_BATCH; i++) {
            b->iov[i] = (struct iovec){.iov_base = b->data[i], .iov_len = sizeof b->data[i]};
            b->msg[i].msg_hdr = (struct msghdr){.msg_name = &b->from[i].ss,
                                                .msg_namelen = sizeof b->from[i].ss,
                                                .msg_iov = &b->iov[i],
                                                .msg_iovlen = 1};
        }
        // One system call a wake-up: it blocks for the first datagram and
        // then takes whatever else is queued (musicians' packets come in
        // bursts, one per musician per period).
        int n = recvmmsg(e->sock, b->msg, RX_BATCH, MSG_WAITFORONE, NULL);
        const struct hub_graph *g = bb_snap_get(&e->graph, HUB_READER_RX);
        for (int i = 0; i < n; i++) {
            size_t len = b->msg[i].msg_len;
            if (len > BB_MAX_SEALED || (b->msg[i].msg_hdr.msg_flags & MSG_TRUNC)) {
                bb_counter_inc_shared(&e->stats.bad_packets);
                continue;
            }
            b->from[i].len = b->msg[i].msg_hdr.msg_namelen;
            handle(e, g, b->data[i], len, &b->from[i]);
        }
    }
    bb_snap_idle(&e->graph, HUB_READER_RX);
    return NULL;
}

/// [tx worker] The datagrams of one wake, sent with sendmmsg: one system
/// call a period for all its musicians instead of one each (perf of the
/// send thread at 8 musicians: syscall entry, fdget and sendto's own part
/// were about 8 % of it). Addresses point into the clients, which the
/// worker's graph keeps alive until the batch is flushed.
#define TX_BATCH 64
struct tx_batch {
    unsigned       n;
    struct mmsghdr msg[TX_BATCH];
    struct iovec   iov[TX_BATCH];
    struct bb_addr to[TX_BATCH]; ///< copies: a client's address may move (hub_client_addr)
    uint8_t        buf[TX_BATCH][BB_MAX_SEALED];
};

static void tx_flush(struct hub_engine *e, struct tx_batch *b)
{
    for (unsigned i = 0; i < b->n;) {
        int sent = sendmmsg(e->sock, b->msg + i, b->n - i, MSG_DONTWAIT);
        if (sent > 0) {
            i += (unsigned)sent;
        } else {
            bb_counter_inc_shared(&e->stats.send_errors); // this one failed: go on with the next
            i++;
        }
    }
    b->n = 0;
}

// [tx] Queues the datagram of n bytes made in b->buf[b->n] for c (n < 0:
// it could not be made). Nothing goes out before the musician proved,
// with an authenticated datagram from its address, that it holds the keys
// and is there: the hub is never a loud echo for a forged source. Its
// packets are taken all the same, so its send ring does not fill.
static void tx_queue(struct hub_engine *e, struct hub_client *c, int n, struct tx_batch *b)
{
    if (n < 0) {
        bb_counter_inc_shared(&e->stats.send_errors);
        return;
    }
    if (!atomic_load_explicit(&c->confirmed, memory_order_acquire))
        return;
    hub_client_addr(c, &b->to[b->n]);
    b->iov[b->n] = (struct iovec){.iov_base = b->buf[b->n], .iov_len = (size_t)n};
    b->msg[b->n] = (struct mmsghdr){.msg_hdr = {.msg_name = &b->to[b->n].ss,
                                                .msg_namelen = b->to[b->n].len,
                                                .msg_iov = &b->iov[b->n],
                                                .msg_iovlen = 1}};
    if (bb_encoder_last_mono(c->st.enc))
        bb_counter_inc_shared(&e->stats.mono_packets);
    if (++b->n == TX_BATCH)
        tx_flush(e, b);
}

// [tx] What the hub sheds at its ceiling (hub_load.h), applied to the
// packet c just pulled: its encoder's complexity, and a stereo mix made
// mono (left and right their mean) where the musician takes one-block
// payloads, which the encoder then sends (bb_encoder_allow_mono).
static void tx_shed(struct hub_engine *e, struct hub_client *c)
{
    int cx = atomic_load_explicit(&e->tx_complexity, memory_order_relaxed);
    if (cx != c->tx_complexity && bb_encoder_set_complexity(c->st.enc, cx) == 0)
        c->tx_complexity = cx;
    if (atomic_load_explicit(&e->shed, memory_order_relaxed) < HUB_SHED_STEREO || !c->st.tx_mono ||
        c->st.tx_channels != 2)
        return;
    float *x = c->st.tx_buf;
    for (unsigned i = 0; i < c->st.tx_frames; i++)
        x[2 * i] = x[2 * i + 1] = 0.5f * (x[2 * i] + x[2 * i + 1]);
}

static void send_client(struct hub_engine *e, struct hub_client *c, struct tx_batch *b)
{
    uint32_t ts;
    while (bb_stream_tx_pull(&c->st, &ts)) {
        tx_shed(e, c);
        tx_queue(e, c, bb_stream_tx_encode(&c->st, ts, b->buf[b->n], BB_MAX_SEALED), b);
    }
}

// [tx] A member's packets up to and including the one at ts (the lead's,
// whose frames are in lead->st.tx_buf and its encoding in payload): that
// one goes out with the lead's payload when its frames are the lead's to
// the bit and the member's encoder can take the lead's state, so that the
// member's encoder stays where its decoder is (bb_encoder_copy_state) and
// it may leave the group at any packet without a seam. Any other packet
// (frames that differ: its mix is ramping, its click; one from before ts:
// a wake it was not claimed in) is encoded on its own encoder.
static void send_member(struct hub_engine *e, struct hub_client *lead, struct hub_client *c,
                        uint32_t ts, const uint8_t *payload, int plen, struct tx_batch *b)
{
    const size_t bytes = (size_t)c->st.tx_frames * c->st.tx_channels * sizeof(float);
    uint32_t mts;
    while (bb_stream_tx_pull(&c->st, &mts)) {
        tx_shed(e, c);
        if (mts == ts && plen >= 0 && memcmp(c->st.tx_buf, lead->st.tx_buf, bytes) == 0 &&
            bb_encoder_copy_state(c->st.enc, lead->st.enc) == 0) {
            c->tx_complexity = lead->tx_complexity; // the state carries it
            tx_queue(e, c, bb_stream_tx_wrap(&c->st, ts, payload, (size_t)plen, b->buf[b->n],
                                             BB_MAX_SEALED), b);
            bb_counter_inc_shared(&e->stats.shared_packets);
            return;
        }
        tx_queue(e, c, bb_stream_tx_encode(&c->st, mts, b->buf[b->n], BB_MAX_SEALED), b);
        if ((int32_t)(mts - ts) >= 0)
            return;
    }
}

// [tx] A group (hub_engine.h, tx_lead): the lead's mix encoded once a
// packet, sent to every member sealed with the member's own keys. The
// members this worker could claim are added to claimed (released by the
// caller after the batch went out); one another worker holds (an older
// graph) is sent by it.
static void send_group(struct hub_engine *e, const struct hub_graph *g, struct hub_client *lead,
                       struct tx_batch *b, struct hub_client **claimed, unsigned *nclaimed)
{
    struct hub_client *member[BB_MAX_CLIENTS];
    unsigned nm = 0;
    for (int s = g->tx_next[lead->slot]; s >= 0; s = g->tx_next[s]) {
        struct hub_client *c = g->by_slot[s];
        if (!c || atomic_exchange_explicit(&c->tx_claim, 1, memory_order_acquire))
            continue;
        member[nm++] = c;
        claimed[(*nclaimed)++] = c;
    }
    uint8_t payload[BB_MAX_DATAGRAM];
    uint32_t ts;
    while (bb_stream_tx_pull(&lead->st, &ts)) {
        tx_shed(e, lead);
        int plen = bb_encode(lead->st.enc, lead->st.tx_buf, payload, sizeof payload);
        tx_queue(e, lead, plen < 0 ? -1 : bb_stream_tx_wrap(&lead->st, ts, payload, (size_t)plen,
                                                             b->buf[b->n], BB_MAX_SEALED), b);
        for (unsigned i = 0; i < nm; i++)
            send_member(e, lead, member[i], ts, payload, plen, b);
    }
    // Whatever a member has beyond the lead's packets.
    for (unsigned i = 0; i < nm; i++)
        send_client(e, member[i], b);
}

struct tx_worker {
    struct hub_engine *e;
    int             index;
    struct tx_batch batch; ///< [this worker]
};
static struct tx_worker tx_workers[HUB_TX_WORKERS];

/// [tx worker i] Lateness of this wake: from the callback's sem_post to the
/// last packet handed to the kernel, against the period (/stats tx_late,
/// tx_worst_us; bench/scale.sh). A wake by the 20 ms timeout is not one.
static void tx_lateness(struct hub_engine *e, int i)
{
    uint64_t woken = atomic_exchange_explicit(&e->stats.tx_woken_ns[i], 0, memory_order_acquire);
    if (!woken)
        return;
    uint64_t now = bb_now_ns(), dt = now > woken ? now - woken : 0;
    if (dt > atomic_load_explicit(&e->stats.tx_ns_max[i], memory_order_relaxed))
        atomic_store_explicit(&e->stats.tx_ns_max[i], dt, memory_order_relaxed);
    // The worst of any worker since the control thread last took it (hub_load.c).
    // Several workers write it: a compare-exchange, so no worker's worst is lost.
    uint64_t cur = atomic_load_explicit(&e->stats.tx_late_ns, memory_order_relaxed);
    while (dt < 1000000000ull && dt > cur &&
           !atomic_compare_exchange_weak_explicit(&e->stats.tx_late_ns, &cur, dt,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
    if (dt > atomic_load_explicit(&e->stats.tx_period_ns, memory_order_relaxed))
        bb_counter_inc(&e->stats.tx_late[i]);
}

static void *tx_main(void *arg)
{
    struct tx_worker *w = arg;
    struct hub_engine *e = w->e;
    bb_thread_below_jack(e->jack_prio, "send");
    while (atomic_load(&e->running)) {
        // Woken every period; the timeout bounds how long an old graph
        // waits for our acknowledgement when JACK is not running us.
        bb_sem_wait_ms(&e->tx_wake[w->index], 20);
        const struct hub_graph *g = bb_snap_get(&e->graph, HUB_READER_TX + (unsigned)w->index);
        if (!g)
            continue;
        // Worker w sends for slots w, w + n, ... of the n workers this
        // graph wakes. Two workers may hold different graphs for a moment
        // (one woken, one not): the claim keeps the send ring single-
        // consumer, and a client neither takes is sent at the next wake.
        // The claims are released after the batch is sent, so a client's
        // packets never overtake each other between two workers.
        unsigned n = g->tx_workers ? g->tx_workers : 1, nclaimed = 0;
        struct hub_client *claimed[BB_MAX_CLIENTS];
        for (unsigned i = 0; i < g->nclients; i++) {
            struct hub_client *c = g->clients[i];
            // A group's members go with their lead (send_group).
            if (g->tx_lead[c->slot] != c->slot || (unsigned)c->slot % n != (unsigned)w->index ||
                atomic_exchange_explicit(&c->tx_claim, 1, memory_order_acquire))
                continue;
            claimed[nclaimed++] = c;
            if (g->tx_next[c->slot] < 0)
                send_client(e, c, &w->batch);
            else
                send_group(e, g, c, &w->batch, claimed, &nclaimed);
        }
        tx_flush(e, &w->batch);
        for (unsigned i = 0; i < nclaimed; i++)
            atomic_store_explicit(&claimed[i]->tx_claim, 0, memory_order_release);
        tx_lateness(e, w->index);
        // Between wakes a worker holds no graph: one that is not woken
        // every period (one worker is enough for PCM) must not hold back
        // the freeing of old graphs and the departure of musicians.
        bb_snap_idle(&e->graph, HUB_READER_TX + (unsigned)w->index);
    }
    bb_snap_idle(&e->graph, HUB_READER_TX + (unsigned)w->index);
    return NULL;
}

void hub_net_tx_lateness(struct hub_engine *e, uint64_t *late, uint64_t *worst_ns)
{
    *late = *worst_ns = 0;
    for (int w = 0; w < HUB_TX_WORKERS; w++) {
        *late += atomic_load(&e->stats.tx_late[w]);
        uint64_t x = atomic_load(&e->stats.tx_ns_max[w]);
        *worst_ns = x > *worst_ns ? x : *worst_ns;
    }
}

// [ctl] Thread t's CPU-time clock into *c (hub_load.c reads it), 0 if none.
static void cpu_clock(pthread_t t, clockid_t *c)
{
    if (pthread_getcpuclockid(t, c) != 0)
        *c = 0;
}

int hub_net_start(struct hub_engine *e, const char *bind, uint16_t port, char *err,
                  size_t err_size)
{
    e->sock = bb_udp_open(bind, port, AF_UNSPEC, err, err_size);
    if (e->sock < 0 && errno == EADDRINUSE)
        snprintf(err, err_size, "UDP port %u is in use (another hub running?); pick another "
                 "with --port N, and musicians join HOST:N", port);
    else if (e->sock < 0 && errno == EACCES)
        snprintf(err, err_size, "UDP port %u is below 1024 and needs privileges; pick another "
                 "with --port N", port);
    if (e->sock < 0)
        return -1;
    if (bb_ring_init(&e->events, sizeof(struct hub_event) * 256) < 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    e->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e->event_fd < 0) {
        snprintf(err, err_size, "eventfd: %s", strerror(errno));
        return -1;
    }
    for (int w = 0; w < HUB_TX_WORKERS; w++)
        if (sem_init(&e->tx_wake[w], 0, 0) < 0) {
            snprintf(err, err_size, "sem_init: %s", strerror(errno));
            return -1;
        }
    atomic_store(&e->running, 1);
    // Named for top -H, perf and /proc/PID/task/*/comm (the bench's
    // per-thread figures); a failure to name costs nothing.
    int started = pthread_create(&e->rx_thread, NULL, rx_main, e) == 0;
    if (started) {
        pthread_setname_np(e->rx_thread, "bb-hub-rx");
        cpu_clock(e->rx_thread, &e->rx_cpu_clock);
    }
    for (int w = 0; started && w < HUB_TX_WORKERS; w++) {
        tx_workers[w].e = e;
        tx_workers[w].index = w;
        tx_workers[w].batch.n = 0;
        if (pthread_create(&e->tx_thread[w], NULL, tx_main, &tx_workers[w]) == 0) {
            char name[16];
            snprintf(name, sizeof name, "bb-hub-tx%d", w);
            pthread_setname_np(e->tx_thread[w], name);
            cpu_clock(e->tx_thread[w], &e->tx_cpu_clock[w]);
        } else {
            // Stop what did start before reporting.
            atomic_store(&e->running, 0);
            for (int k = 0; k < w; k++) {
                sem_post(&e->tx_wake[k]);
                pthread_join(e->tx_thread[k], NULL);
            }
            pthread_join(e->rx_thread, NULL);
            started = 0;
        }
    }
    if (!started) {
        snprintf(err, err_size, "cannot start network threads");
        atomic_store(&e->running, 0);
        return -1;
    }
    return 0;
}

void hub_net_stop(struct hub_engine *e)
{
    if (!atomic_exchange(&e->running, 0))
        return;
    pthread_join(e->rx_thread, NULL);
    for (int w = 0; w < HUB_TX_WORKERS; w++) {
        sem_post(&e->tx_wake[w]);
        pthread_join(e->tx_thread[w], NULL);
    }
}
