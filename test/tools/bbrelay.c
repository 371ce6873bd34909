// SPDX-License-Identifier: GPL-2.0-or-later
// bbrelay.c: a UDP impairment relay between `bandbridge join` (or any UDP
// client: Jamulus, JackTrip) and a hub, to hear and measure what real
// networks do to a session, reproducibly, on one machine.
//
//   bbrelay --listen 127.0.0.1:LPORT --hub 127.0.0.1:HPORT [options]
//
// Clients send to LPORT. Every distinct client source address gets its own
// upstream socket (connected to the hub), so the hub sees one source per
// client, as it would through a NAT; what the hub sends to that socket goes
// back to that client from LPORT. "up" is client -> hub, "down" is hub ->
// client. Every impairment option applies to both directions, or with an
// up- or down- prefix to one (--up-loss 5, --down-delay 20):
//
//   --delay MS             fixed one-way delay
//   --jitter MS            plus a uniform random delay in [-MS, +MS]
//                          (the sum is clamped at 0)
//   --tail P99MS[:ALPHA]   plus a heavy-tailed delay: Pareto (Lomax) with
//                          shape ALPHA (default 2) scaled so that its 99th
//                          percentile is P99MS; its median is ~P99/22
//   --jitter-keep-order    a packet never leaves before one that came in
//                          before it from the same client in the same
//                          direction (real paths mostly keep order, and
//                          JackTrip/Jamulus tests usually do): a packet
//                          jitter or the tail would let overtake waits for
//                          the one before it. Without it, jitter reorders
//                          packets naturally (reordered counts them).
//                          --reorder still holds packets back with it.
//   --loss PCT             random (Bernoulli) loss, percent
//   --burst MEANLEN        with --loss: Gilbert loss instead of Bernoulli, a
//                          two-state chain losing every packet in the bad
//                          state, mean bad run MEANLEN packets, long-run loss
//                          rate --loss (p_bg = 1/MEANLEN, p_gb = rate*p_bg/(1-rate))
//   --ge PGB:PBG[:H[:K]]   Gilbert-Elliott given directly, percent: p(good->bad),
//                          p(bad->good), loss in bad (H, default 100) and good
//                          (K, default 0) state; replaces --loss/--burst
//   --reorder PCT:MS       a packet is held back MS extra with probability PCT,
//                          so later ones overtake it
//   --dup PCT              a packet is sent twice (the copy right after it)
//   --outage START:DUR     drop everything from START to START+DUR seconds
//                          after bbrelay started (repeatable, up to 32)
//
// Global options:
//   --rebind T             at T seconds, every client's upstream socket is
//                          replaced by a new one (new source port): a NAT
//                          rebinding as the hub sees it (repeatable, up to 32)
//   --seed N               random seed (default 1): the same seed and the
//                          same packets in the same order give the same fate
//                          to every packet (each direction has its own stream)
//   --seconds S            exit after S seconds (default: until SIGINT/SIGTERM)
//   --stats S              every S seconds one "stats" line per direction
//   --rt-prio N            SCHED_FIFO priority of both threads (default 10,
//                          JACK's own; 0: none); without the right to it, none
//   --max-queue N          packets held at most (default 16384), and
//   --max-bytes N          their bytes (default 64 MiB); more are dropped
//                          (dropped_cap), so memory stays bounded
//   -q                     no start line
//
// Scheduling: each packet carries the kernel's arrival stamp (SO_TIMESTAMPNS,
// taken to CLOCK_MONOTONIC); the receive thread queues it in a min-heap by
// release time (ties in arrival order, so without
// jitter or reordering the order is kept: the release times of a direction
// are then monotonic); one sender thread sleeps on a timerfd armed at the
// earliest release time (absolute, timer slack 1 ns) and sends; both
// threads run SCHED_FIFO when allowed (rt=1 on the start line). Lateness
// (send time - release time, the release time counted from the kernel's
// arrival stamp: receive and send latency together) is kept in a 1 us
// histogram and printed as p50/p99/max.
//
// Output (stdout), key=value:
//   start: bbrelay listen=127.0.0.1:L hub=127.0.0.1:H seed=1 t0_ns=<CLOCK_MONOTONIC> rt=0|1
//   stats: stats t=2.0 dir=up <the counters of the exit line> late_p50_us=..
//          late_p99_us=.. late_max_us=.. (lateness over the interval,
//          counters cumulative)
//   exit, one line per direction:
//     dir=up in=N sent=N dropped_loss=N dropped_burst=N dropped_outage=N
//       dropped_cap=N duplicated=N held=N reordered=N unsent=N
//       late_p50_us=.. late_p99_us=.. late_max_us=..
//     relay clients=N rebinds=N seconds=..
//   in = packets received; sent = in - dropped_* + duplicated - unsent.
//   held: packets the reorder option held back; reordered: packets that left
//   after a packet that came in later (of the same client and direction):
//   what the receiver sees as out of order, whatever the cause (held back or
//   jitter); the copy of a duplicated packet is not counted again. unsent:
//   still queued at exit.
//
// Measured (test/it_relay.sh, 2-core VM at load 8..10, other jackds
// running): lateness p50 40..100 us, p99 0.2..1.1 ms, max 1..6 ms; a set
// delay comes out within 0.1 ms at the median (one-way, kernel stamps at
// both ends). Without SCHED_FIFO (--rt-prio 0) p99 was 1.4..1.6 ms and max
// 18 ms on the same machine.
// Exit status 0; 1 on a usage or socket error.
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { UP = 0, DOWN = 1, NDIR = 2 };
static const char *const dir_name[NDIR] = {"up", "down"};

#define MAX_CLIENTS 256
#define MAX_TIMES 32
#define MAX_PKT 65536
#define LATE_BINS 100000 // 1 us bins: 0..99.999 ms, above that only max

struct span {
    double start, dur; // seconds since t0
};

struct dirconf {
    double delay_ms, jitter_ms;
    double tail_p99_ms, tail_alpha, tail_scale_ms;
    bool keep_order;
    double loss;            // Bernoulli, probability
    double burst_len;       // Gilbert mean bad run (0: off)
    bool ge;                // Gilbert-Elliott active
    double pgb, pbg, h, k;  // probabilities
    double reorder_p, reorder_ms, dup_p;
    struct span outage[MAX_TIMES];
    int n_outage;
};

struct hist {
    uint32_t bin[LATE_BINS];
    uint64_t n, over;
    uint64_t max_ns;
};

struct dirstate {
    uint64_t rng[4];   // xoshiro256**: each direction its own stream
    bool ge_bad;
    uint64_t in, sent, drop_loss, drop_burst, drop_outage, drop_cap, dup, held, reordered;
    struct hist late, late_iv; // cumulative, and since the last stats line
};

struct client {
    struct sockaddr_in addr; // the client, as seen on the listen socket
    int up_fd;               // our socket towards the hub for this client
    uint64_t seq[NDIR];      // arrival counter
    uint64_t max_sent[NDIR]; // highest arrival number sent so far + 1
    uint64_t last_release[NDIR];
    uint64_t last_arrival[NDIR];
};

struct pkt {
    uint64_t release_ns, order, seq;
    int dir, client;
    bool dup; // the second copy: counted as duplicated, not again as reordered
    size_t len;
    unsigned char data[];
};

static struct dirconf conf[NDIR];
static struct dirstate st[NDIR];
static struct client clients[MAX_CLIENTS];
static int n_clients;
static struct sockaddr_in hub_addr, listen_addr;
static int listen_fd, timer_fd, event_fd;
static uint64_t t0_ns;
static struct pkt **heap;
static size_t heap_n, heap_cap = 16384;
static size_t queued_bytes, max_bytes = 64u << 20;
static uint64_t order_ctr;
static pthread_mutex_t lock; // heap, clients, counters (priority inheritance: see main)
static atomic_bool running = true;
static volatile sig_atomic_t got_signal;
static double rebind_at[MAX_TIMES];
static int n_rebind, rebinds_done, next_rebind;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// xoshiro256** seeded by splitmix64: small, fast and reproducible everywhere
// (rand() differs between C libraries, which would break --seed).
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t rng_next(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
    return r;
}
static void rng_seed(uint64_t s[4], uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        s[i] = z ^ (z >> 31);
    }
}
// Uniform in [0, 1).
static double rng_u(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1p-53; }

static void hist_add(struct hist *h, uint64_t ns)
{
    uint64_t us = ns / 1000;
    if (us < LATE_BINS)
        h->bin[us]++;
    else
        h->over++;
    h->n++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

// Percentile in us (upper edge of the bin), -1 without samples.
static double hist_pct(const struct hist *h, double p)
{
    if (!h->n)
        return -1;
    uint64_t want = (uint64_t)ceil(p * (double)h->n), acc = 0;
    if (want < 1)
        want = 1;
    for (int i = 0; i < LATE_BINS; i++) {
        acc += h->bin[i];
        if (acc >= want)
            return i + 1;
    }
    return (double)h->max_ns / 1000.0;
}

static void print_late(FILE *f, const struct hist *h)
{
    if (!h->n) {
        fprintf(f, " late_p50_us=none late_p99_us=none late_max_us=none");
        return;
    }
    fprintf(f, " late_p50_us=%.0f late_p99_us=%.0f late_max_us=%.0f", hist_pct(h, 0.5),
            hist_pct(h, 0.99), (double)h->max_ns / 1000.0);
}

// ---- heap (min by release time, then arrival order) ----
static bool pkt_before(const struct pkt *a, const struct pkt *b)
{
    return a->release_ns < b->release_ns || (a->release_ns == b->release_ns && a->order < b->order);
}
static void heap_push(struct pkt *p)
{
    size_t i = heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pkt_before(p, heap[parent]))
            break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = p;
}
static struct pkt *heap_pop(void)
{
    struct pkt *top = heap[0], *last = heap[--heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= heap_n)
            break;
        if (c + 1 < heap_n && pkt_before(heap[c + 1], heap[c]))
            c++;
        if (!pkt_before(heap[c], last))
            break;
        heap[i] = heap[c];
        i = c;
    }
    if (heap_n)
        heap[i] = last;
    return top;
}

// ---- option parsing ----
static void usage(FILE *f)
{
    fprintf(f,
            "usage: bbrelay --listen [HOST:]PORT --hub [HOST:]PORT [options]\n"
            "impairments (both directions, or prefixed up- / down-):\n"
            "  --delay MS  --jitter MS  --tail P99MS[:ALPHA]  --jitter-keep-order\n"
            "  --loss PCT  --burst MEANLEN  --ge PGB:PBG[:H[:K]]  --reorder PCT:MS\n"
            "  --dup PCT  --outage START:DUR (s, repeatable)\n"
            "global: --rebind T (s, repeatable)  --seed N  --seconds S  --stats S\n"
            "        --max-queue N  --max-bytes N  --rt-prio N  -q\n"
            "see the comment at the top of test/tools/bbrelay.c\n");
}

static double num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "bbrelay: bad value '%s' for %s (%g..%g)\n", s, opt, lo, hi);
        exit(1);
    }
    return v;
}

// "A:B[:C[:D]]" -> up to 4 numbers; returns how many.
static int nums(const char *opt, const char *s, double *v, int min, int max)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
        if (n == max) {
            n = max + 1;
            break;
        }
        v[n++] = num(opt, tok, 0, 1e9);
    }
    if (n < min || n > max) {
        fprintf(stderr, "bbrelay: %s wants %d to %d numbers separated by ':', got '%s'\n", opt,
                min, max, s);
        exit(1);
    }
    return n;
}

static void parse_addr(const char *opt, const char *s, struct sockaddr_in *a)
{
    char host[64] = "127.0.0.1";
    const char *port = s, *colon = strrchr(s, ':');
    if (colon) {
        snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
        port = colon + 1;
    }
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)num(opt, port, 1, 65535));
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
        fprintf(stderr, "bbrelay: %s: '%s' is not an IPv4 address\n", opt, host);
        exit(1);
    }
}

// One impairment option for the directions in mask (bit UP, bit DOWN).
static bool dir_option(const char *key, const char *val, unsigned mask, bool *used_val)
{
    double v[4];
    *used_val = true;
    for (int d = 0; d < NDIR; d++) {
        if (!(mask & (1u << d)))
            continue;
        struct dirconf *c = &conf[d];
        if (!strcmp(key, "delay"))
            c->delay_ms = num(key, val, 0, 60000);
        else if (!strcmp(key, "jitter"))
            c->jitter_ms = num(key, val, 0, 60000);
        else if (!strcmp(key, "tail")) {
            int n = nums(key, val, v, 1, 2);
            c->tail_p99_ms = v[0];
            c->tail_alpha = n > 1 ? v[1] : 2.0;
            if (c->tail_alpha < 0.5) {
                fprintf(stderr, "bbrelay: --tail ALPHA must be >= 0.5\n");
                exit(1);
            }
        } else if (!strcmp(key, "jitter-keep-order")) {
            c->keep_order = true;
            *used_val = false;
        } else if (!strcmp(key, "loss"))
            c->loss = num(key, val, 0, 100) / 100.0;
        else if (!strcmp(key, "burst"))
            c->burst_len = num(key, val, 1, 1e6);
        else if (!strcmp(key, "ge")) {
            int n = nums(key, val, v, 2, 4);
            for (int i = 0; i < n; i++)
                if (v[i] > 100) {
                    fprintf(stderr, "bbrelay: --ge values are percent (0..100)\n");
                    exit(1);
                }
            c->ge = true;
            c->pgb = v[0] / 100, c->pbg = v[1] / 100;
            c->h = n > 2 ? v[2] / 100 : 1.0;
            c->k = n > 3 ? v[3] / 100 : 0.0;
        } else if (!strcmp(key, "reorder")) {
            nums(key, val, v, 2, 2);
            if (v[0] > 100) {
                fprintf(stderr, "bbrelay: --reorder PCT is percent\n");
                exit(1);
            }
            c->reorder_p = v[0] / 100, c->reorder_ms = v[1];
        } else if (!strcmp(key, "dup"))
            c->dup_p = num(key, val, 0, 100) / 100.0;
        else if (!strcmp(key, "outage")) {
            nums(key, val, v, 2, 2);
            if (c->n_outage == MAX_TIMES) {
                fprintf(stderr, "bbrelay: at most %d outages\n", MAX_TIMES);
                exit(1);
            }
            c->outage[c->n_outage++] = (struct span){v[0], v[1]};
        } else
            return false;
    }
    return true;
}

// Derived parameters, once every option is known.
static void finish_conf(void)
{
    for (int d = 0; d < NDIR; d++) {
        struct dirconf *c = &conf[d];
        if (c->tail_p99_ms > 0) // Lomax: P(X > x) = (1 + x/s)^-a, so x99 = s (0.01^(-1/a) - 1)
            c->tail_scale_ms = c->tail_p99_ms / (pow(0.01, -1.0 / c->tail_alpha) - 1.0);
        if (c->burst_len > 0 && !c->ge) {
            if (c->loss <= 0 || c->loss >= 1) {
                fprintf(stderr, "bbrelay: --burst needs --loss between 0 and 100 (exclusive)\n");
                exit(1);
            }
            // Gilbert (loss 1 in bad, 0 in good): mean bad run 1/p_bg, long-run
            // share of bad packets p_gb / (p_gb + p_bg) = loss.
            c->ge = true;
            c->pbg = 1.0 / c->burst_len;
            c->pgb = c->loss * c->pbg / (1.0 - c->loss);
            c->h = 1.0, c->k = 0.0;
            if (c->pgb > 1) {
                fprintf(stderr, "bbrelay: --loss too high for that --burst length\n");
                exit(1);
            }
        }
        if (c->ge)
            c->loss = 0; // the chain is the loss model
    }
}

// ---- sockets ----
static int udp_socket(const struct sockaddr_in *bind_to, const struct sockaddr_in *connect_to)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    // Bursts held back by a delay come out together: room for them in the
    // receiver's buffer is the receiver's business, ours is not to drop
    // what comes in while the sender thread runs.
    int sz = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    // The kernel's arrival stamp: what the receive thread reads late on a
    // loaded machine still gets the fate and the release time of the moment
    // it arrived (an outage edge, a delay).
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    if (bind_to && bind(fd, (const struct sockaddr *)bind_to, sizeof *bind_to) < 0) {
        close(fd);
        return -1;
    }
    if (connect_to && connect(fd, (const struct sockaddr *)connect_to, sizeof *connect_to) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int find_client(const struct sockaddr_in *a)
{
    for (int i = 0; i < n_clients; i++)
        if (clients[i].addr.sin_port == a->sin_port &&
            clients[i].addr.sin_addr.s_addr == a->sin_addr.s_addr)
            return i;
    if (n_clients == MAX_CLIENTS)
        return -1;
    int fd = udp_socket(NULL, &hub_addr);
    if (fd < 0) {
        perror("bbrelay: upstream socket");
        return -1;
    }
    struct client *c = &clients[n_clients];
    memset(c, 0, sizeof *c);
    c->addr = *a;
    c->up_fd = fd;
    return n_clients++;
}

// ---- the fate of one packet (receive thread, lock held) ----
static bool in_outage(const struct dirconf *c, double t)
{
    for (int i = 0; i < c->n_outage; i++)
        if (t >= c->outage[i].start && t < c->outage[i].start + c->outage[i].dur)
            return true;
    return false;
}

static void wake_sender(void)
{
    uint64_t one = 1;
    if (write(event_fd, &one, sizeof one) < 0) {
        // The counter can only overflow after 2^64 - 1 writes: never.
    }
}

static void queue_pkt(int d, int ci, const unsigned char *data, size_t len, uint64_t release,
                      uint64_t seq, bool dup)
{
    struct dirstate *s = &st[d];
    if (heap_n == heap_cap || queued_bytes + len > max_bytes) {
        s->drop_cap++;
        return;
    }
    struct pkt *p = malloc(sizeof *p + len);
    if (!p) {
        s->drop_cap++;
        return;
    }
    *p = (struct pkt){.release_ns = release, .order = order_ctr++, .seq = seq, .dir = d,
                      .client = ci, .len = len, .dup = dup};
    memcpy(p->data, data, len);
    queued_bytes += len;
    heap_push(p);
    if (heap[0] == p)
        wake_sender();
}

static void on_packet(int d, int ci, const unsigned char *data, size_t len, uint64_t now)
{
    struct dirconf *c = &conf[d];
    struct dirstate *s = &st[d];
    struct client *cl = &clients[ci];
    uint64_t seq = cl->seq[d]++;
    s->in++;
    // Arrival stamps of one socket come in order; their conversion between
    // clocks could put one a hair before the last (preempted between the
    // two clock reads): never let that reorder packets.
    if (now < cl->last_arrival[d])
        now = cl->last_arrival[d];
    cl->last_arrival[d] = now;
    if (in_outage(c, (double)(now - t0_ns) / 1e9)) {
        s->drop_outage++;
        return;
    }
    if (c->ge) {
        // Loss by the current state, then the state moves (per packet).
        bool lose = rng_u(s->rng) < (s->ge_bad ? c->h : c->k);
        if (s->ge_bad)
            s->ge_bad = !(rng_u(s->rng) < c->pbg);
        else
            s->ge_bad = rng_u(s->rng) < c->pgb;
        if (lose) {
            s->drop_burst++;
            return;
        }
    }
    if (c->loss > 0 && rng_u(s->rng) < c->loss) {
        s->drop_loss++;
        return;
    }
    double ms = c->delay_ms;
    if (c->jitter_ms > 0)
        ms += (2 * rng_u(s->rng) - 1) * c->jitter_ms;
    if (c->tail_scale_ms > 0) // inverse CDF of the Lomax distribution
        ms += c->tail_scale_ms * (pow(1 - rng_u(s->rng), -1.0 / c->tail_alpha) - 1);
    if (ms < 0)
        ms = 0;
    uint64_t release = now + (uint64_t)(ms * 1e6);
    if (c->keep_order) {
        if (release < cl->last_release[d])
            release = cl->last_release[d];
        cl->last_release[d] = release;
    }
    if (c->reorder_p > 0 && rng_u(s->rng) < c->reorder_p) {
        // Held back on its own: the packets after it keep their times and overtake it.
        release += (uint64_t)(c->reorder_ms * 1e6);
        s->held++;
    }
    queue_pkt(d, ci, data, len, release, seq, false);
    if (c->dup_p > 0 && rng_u(s->rng) < c->dup_p) {
        s->dup++;
        queue_pkt(d, ci, data, len, release, seq, true); // same time, next in order: right after it
    }
}

// ---- sender thread ----
static void *sender(void *arg)
{
    (void)arg;
    // Timer slack defaults to 50 us for normal threads: it alone would
    // spend a quarter of the accuracy we promise.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    pthread_mutex_lock(&lock);
    while (atomic_load(&running)) {
        if (heap_n == 0 || heap[0]->release_ns > mono_ns()) {
            struct itimerspec its = {0};
            if (heap_n) {
                uint64_t r = heap[0]->release_ns;
                its.it_value.tv_sec = (time_t)(r / 1000000000u);
                its.it_value.tv_nsec = (long)(r % 1000000000u);
            }
            timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
            pthread_mutex_unlock(&lock);
            struct pollfd pf[2] = {{timer_fd, POLLIN, 0}, {event_fd, POLLIN, 0}};
            poll(pf, 2, 100); // 100 ms: notice the end even when idle
            uint64_t x;
            if (pf[0].revents & POLLIN && read(timer_fd, &x, sizeof x) < 0) {
            }
            if (pf[1].revents & POLLIN && read(event_fd, &x, sizeof x) < 0) {
            }
            pthread_mutex_lock(&lock);
            continue;
        }
        struct pkt *p = heap_pop();
        queued_bytes -= p->len;
        struct dirstate *s = &st[p->dir];
        struct client *cl = &clients[p->client];
        uint64_t now = mono_ns();
        ssize_t r;
        if (p->dir == UP)
            r = send(cl->up_fd, p->data, p->len, MSG_DONTWAIT);
        else
            r = sendto(listen_fd, p->data, p->len, MSG_DONTWAIT, (struct sockaddr *)&cl->addr,
                       sizeof cl->addr);
        (void)r; // a refused or full destination is the receiver's loss, as on a network
        hist_add(&s->late, now - p->release_ns);
        hist_add(&s->late_iv, now - p->release_ns);
        s->sent++;
        if (p->seq + 1 < cl->max_sent[p->dir]) {
            if (!p->dup)
                s->reordered++; // something that came in after it has left already
        } else
            cl->max_sent[p->dir] = p->seq + 1;
        free(p);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void on_signal(int sig) { got_signal = sig; }

// recvmsg with the kernel's arrival time, on CLOCK_MONOTONIC (the stamp is
// CLOCK_REALTIME: moved by the offset between the clocks, read now). Without
// a stamp, the time it was read.
static ssize_t recv_stamped(int fd, void *buf, size_t size, struct sockaddr_in *from, uint64_t *at)
{
    struct iovec iov = {buf, size};
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(struct timespec))];
    } cm;
    struct msghdr mh = {.msg_name = from, .msg_namelen = from ? sizeof *from : 0,
                        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
                        .msg_controllen = sizeof cm.b};
    ssize_t r = recvmsg(fd, &mh, MSG_DONTWAIT);
    uint64_t mono = mono_ns();
    *at = mono;
    if (r < 0)
        return r;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
            continue;
        struct timespec ts, now;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t age = ((int64_t)now.tv_sec - ts.tv_sec) * 1000000000 + (now.tv_nsec - ts.tv_nsec);
        if (age >= 0 && (uint64_t)age < mono - t0_ns + 1000000000u)
            *at = mono - (uint64_t)age;
    }
    return r;
}

static void print_dir(FILE *f, int d, bool final, double t)
{
    struct dirstate *s = &st[d];
    if (final)
        fprintf(f, "dir=%s", dir_name[d]);
    else
        fprintf(f, "stats t=%.1f dir=%s", t, dir_name[d]);
    fprintf(f,
            " in=%llu sent=%llu dropped_loss=%llu dropped_burst=%llu dropped_outage=%llu "
            "dropped_cap=%llu duplicated=%llu held=%llu reordered=%llu",
            (unsigned long long)s->in, (unsigned long long)s->sent,
            (unsigned long long)s->drop_loss, (unsigned long long)s->drop_burst,
            (unsigned long long)s->drop_outage, (unsigned long long)s->drop_cap,
            (unsigned long long)s->dup, (unsigned long long)s->held,
            (unsigned long long)s->reordered);
    if (final) {
        size_t unsent = 0;
        for (size_t i = 0; i < heap_n; i++)
            unsent += heap[i]->dir == d;
        fprintf(f, " unsent=%zu", unsent);
    }
    print_late(f, final ? &s->late : &s->late_iv);
    fputc('\n', f);
}

static void do_rebind(void)
{
    for (int i = 0; i < n_clients; i++) {
        int fd = udp_socket(NULL, &hub_addr);
        if (fd < 0) {
            perror("bbrelay: rebind socket");
            continue;
        }
        // The old port is closed: what the hub still sends there is lost,
        // as behind a NAT that forgot the mapping.
        close(clients[i].up_fd);
        clients[i].up_fd = fd;
    }
    rebinds_done++;
}

int main(int argc, char **argv)
{
    uint64_t seed = 1;
    int rt_prio = 10; // JACK's own default: the sender is as urgent as audio, no more
    double seconds = 0, stats_s = 0;
    bool quiet = false, have_listen = false, have_hub = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "-q")) {
            quiet = true;
            continue;
        }
        if (strncmp(a, "--", 2)) {
            usage(stderr);
            return 1;
        }
        const char *key = a + 2;
        unsigned mask = 3;
        if (!strncmp(key, "up-", 3))
            key += 3, mask = 1u << UP;
        else if (!strncmp(key, "down-", 5))
            key += 5, mask = 1u << DOWN;
        bool flag = !strcmp(key, "jitter-keep-order");
        if (!flag && !val) {
            fprintf(stderr, "bbrelay: %s needs a value\n", a);
            return 1;
        }
        bool used_val = false;
        if (mask == 3 && !strcmp(key, "listen"))
            parse_addr(a, val, &listen_addr), have_listen = true, used_val = true;
        else if (mask == 3 && !strcmp(key, "hub"))
            parse_addr(a, val, &hub_addr), have_hub = true, used_val = true;
        else if (mask == 3 && !strcmp(key, "seed"))
            seed = (uint64_t)num(a, val, 0, 1e18), used_val = true;
        else if (mask == 3 && !strcmp(key, "seconds"))
            seconds = num(a, val, 0, 1e9), used_val = true;
        else if (mask == 3 && !strcmp(key, "stats"))
            stats_s = num(a, val, 0.01, 1e9), used_val = true;
        else if (mask == 3 && !strcmp(key, "rt-prio"))
            rt_prio = (int)num(a, val, 0, 99), used_val = true;
        else if (mask == 3 && !strcmp(key, "max-bytes"))
            max_bytes = (size_t)num(a, val, 65536, 1e11), used_val = true;
        else if (mask == 3 && !strcmp(key, "max-queue"))
            heap_cap = (size_t)num(a, val, 1, 1e7), used_val = true;
        else if (mask == 3 && !strcmp(key, "rebind")) {
            if (n_rebind == MAX_TIMES) {
                fprintf(stderr, "bbrelay: at most %d rebinds\n", MAX_TIMES);
                return 1;
            }
            rebind_at[n_rebind++] = num(a, val, 0, 1e9), used_val = true;
        } else if (!dir_option(key, val, mask, &used_val)) {
            fprintf(stderr, "bbrelay: unknown option %s\n", a);
            usage(stderr);
            return 1;
        }
        if (used_val)
            i++;
    }
    if (!have_listen || !have_hub) {
        usage(stderr);
        return 1;
    }
    finish_conf();
    // Rebinds in time order, so one index walks them.
    for (int i = 1; i < n_rebind; i++)
        for (int j = i; j > 0 && rebind_at[j] < rebind_at[j - 1]; j--) {
            double t = rebind_at[j];
            rebind_at[j] = rebind_at[j - 1], rebind_at[j - 1] = t;
        }
    rng_seed(st[UP].rng, seed * 2 + 1);
    rng_seed(st[DOWN].rng, seed * 2 + 2);

    // The receive thread runs at normal priority and takes the lock for
    // every packet; preempted while holding it, it would hold up the
    // real-time sender: with priority inheritance it runs at the sender's
    // priority until it lets go.
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
    pthread_mutex_init(&lock, &ma);
    pthread_mutexattr_destroy(&ma);
    heap = calloc(heap_cap, sizeof *heap);
    listen_fd = udp_socket(&listen_addr, NULL);
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!heap || listen_fd < 0 || timer_fd < 0 || event_fd < 0) {
        perror("bbrelay: set-up (listen socket, timerfd, eventfd)");
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    // Real-time priority when the system allows it (rtprio limit): the
    // sender's wake-ups are the relay's accuracy. Not fatal without it.
    struct sched_param sp = {.sched_priority = rt_prio};
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
    pthread_attr_setschedparam(&attr, &sp);
    int rt = rt_prio > 0;
    if (!rt || pthread_create(&th, &attr, sender, NULL)) {
        rt = 0;
        if (pthread_create(&th, NULL, sender, NULL)) {
            fprintf(stderr, "bbrelay: cannot start the sender thread\n");
            return 1;
        }
    }
    pthread_attr_destroy(&attr);
    // The receive thread too: a packet read late is queued late, and a
    // delay of 0 then releases it late (its release time is the kernel's
    // arrival stamp, so the lateness shows it).
    if (rt && pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp))
        rt = 0;

    t0_ns = mono_ns();
    if (!quiet) {
        char l[32], h[32];
        inet_ntop(AF_INET, &listen_addr.sin_addr, l, sizeof l);
        inet_ntop(AF_INET, &hub_addr.sin_addr, h, sizeof h);
        printf("bbrelay listen=%s:%u hub=%s:%u seed=%llu t0_ns=%llu rt=%d\n", l,
               ntohs(listen_addr.sin_port), h, ntohs(hub_addr.sin_port),
               (unsigned long long)seed, (unsigned long long)t0_ns, rt);
        fflush(stdout);
    }

    static unsigned char buf[MAX_PKT];
    double next_stats = stats_s;
    while (!got_signal) {
        uint64_t now = mono_ns();
        double t = (double)(now - t0_ns) / 1e9;
        if (seconds > 0 && t >= seconds)
            break;
        if (stats_s > 0 && t >= next_stats) {
            pthread_mutex_lock(&lock);
            for (int d = 0; d < NDIR; d++) {
                print_dir(stdout, d, false, t);
                memset(&st[d].late_iv, 0, sizeof st[d].late_iv);
            }
            pthread_mutex_unlock(&lock);
            fflush(stdout);
            next_stats += stats_s;
        }
        if (next_rebind < n_rebind && t >= rebind_at[next_rebind]) {
            pthread_mutex_lock(&lock);
            do_rebind();
            pthread_mutex_unlock(&lock);
            next_rebind++;
        }
        // The poll set: the listen socket and each client's upstream socket.
        // Only this thread adds clients or replaces their sockets.
        struct pollfd pf[MAX_CLIENTS + 1];
        pf[0] = (struct pollfd){listen_fd, POLLIN, 0};
        int n = n_clients;
        for (int i = 0; i < n; i++)
            pf[i + 1] = (struct pollfd){clients[i].up_fd, POLLIN, 0};
        // Wake for the next stats line, rebind or the end, at the latest in 20 ms.
        int timeout = 20;
        if (poll(pf, (nfds_t)n + 1, timeout) <= 0)
            continue;
        if (pf[0].revents & POLLIN) {
            struct sockaddr_in from = {0};
            uint64_t at;
            ssize_t r = recv_stamped(listen_fd, buf, sizeof buf, &from, &at);
            if (r >= 0 && from.sin_family == AF_INET) {
                pthread_mutex_lock(&lock);
                int ci = find_client(&from);
                if (ci >= 0)
                    on_packet(UP, ci, buf, (size_t)r, at);
                pthread_mutex_unlock(&lock);
            }
        }
        for (int i = 0; i < n; i++) {
            if (!(pf[i + 1].revents & (POLLIN | POLLERR)))
                continue;
            uint64_t at;
            ssize_t r = recv_stamped(pf[i + 1].fd, buf, sizeof buf, NULL, &at);
            if (r < 0) // ICMP port unreachable from a hub not (yet) there: nothing came
                continue;
            pthread_mutex_lock(&lock);
            on_packet(DOWN, i, buf, (size_t)r, at);
            pthread_mutex_unlock(&lock);
        }
    }

    atomic_store(&running, false);
    wake_sender();
    pthread_join(th, NULL);
    for (int d = 0; d < NDIR; d++)
        print_dir(stdout, d, true, 0);
    printf("relay clients=%d rebinds=%d seconds=%.1f\n", n_clients, rebinds_done,
           (double)(mono_ns() - t0_ns) / 1e9);
    fflush(stdout);
    while (heap_n)
        free(heap_pop());
    free(heap);
    for (int i = 0; i < n_clients; i++)
        close(clients[i].up_fd);
    close(listen_fd);
    close(timer_fd);
    close(event_fd);
    return 0;
}
