// SPDX-License-Identifier: GPL-2.0-or-later
// bbload.c: a load tool that simulates many musicians in one process, without
// JACK on their side, against a real hub (`bandbridge serve`).
//
//   bbload --hub HOST:PORT [--steady N] [--churn-rate EVENTS_PER_S] [--churn-max M]
//          [--seconds S] [--die-at T:K]... [--codec C] [--signal code|tone]
//          [--no-verify] [--jitter FRAMES] [--report FILE] [--seed X]
//          [--name-prefix P] [--settle S] [--modulus M] [--rt-prio N]
//          [--drift-ppm P] [--rx-rt-prio N] [-v]
//
// Musicians (each with its own UDP socket, so its own source address, and an
// identity derived from --seed, the name prefix, its kind and its index, so
// reruns are deterministic):
//   steady   <prefix>s<i>  join at the start and stay. Steady musician i < 4
//            sends on its one channel, at stream sample t, the value
//            ((t mod 32) << 5i) * 2^-20: exact in float, and any sum of up to
//            four of them is exact too. The hub puts everyone in everyone's
//            mix at 0 dB, centred (gain exactly 1.0 both sides), so every
//            sample of a steady musician's mix is the sum of the four codes,
//            each at its own offset: field i = (int)(v * 2^20) >> 5i & 31 must
//            advance by exactly 1 (mod 32) from one sample to the next. A
//            missing, repeated, faded or zero-filled block breaks that; a
//            block of a multiple of 32 frames cut out cleanly does not (the
//            code repeats every 32 samples, and the hub moves audio in blocks
//            of 64): --modulus 31 makes those visible too.
//   churners <prefix>c<i>  join and leave at --churn-rate events per second
//            (joins + leaves + deaths, Poisson, from --seed), at most
//            --churn-max at once; a third of departures are deaths (silence,
//            no LEAVE), the rest LEAVEs retried every 100 ms, 5 tries at
//            most. They send exact zeros: steady mixes must not change at all.
//   zombies  <prefix>z<i>  (--die-at T:K, repeatable) join at the start, send
//            zeros, and at T seconds K of them stop sending at once without a
//            LEAVE. They keep listening: the time from a zombie's last
//            datagram to the hub's LEAVE with code TIMEOUT is its drop time.
//
// Codecs and signals (--codec float|pcm16|pcm24|opus|opus-std, --signal
// code|tone): the code above is the default signal, and it is checked sample
// by sample only with --codec float. --signal tone makes every musician
// (steady, churner or zombie) send a sine at -12 dBFS of its own frequency
// (200 Hz + 10 Hz x its slot), so every input carries signal and the hub's
// decoders and mixer do real work. Any combination other than float + code
// (or --no-verify) is not checked: the mixes received are counted (frames,
// lost, late, by sequence number) but never decoded. So that bbload costs
// little next to the hub it loads, what it sends is encoded before the run:
// a tenth of a second per musician slot (4800 samples: a whole number of
// packets for every codec, of sine periods and of code periods, so the loop
// is seamless), sent round and round. Only float + code is computed as it
// goes (a --modulus of 31 does not divide the loop). Without checks, zombies
// or churn, the receive threads read their sockets in batches, every 10 ms,
// and the main thread passes every 10 ms instead of 2 (round-trip times are
// then up to 10 ms too long).
// The report then has a line `config codec=C signal=S verify=0|1 up_frames=N`.
//
// Threads: the main thread runs the sessions (JOIN retried every 200 ms,
// PING every 250 ms, churn, deaths, LEAVE retries, the end of the run); one
// sender thread sends every musician's AUDIO at real-time pace, with
// absolute CLOCK_MONOTONIC deadlines (no drift; when it wakes late it sends
// every packet that is due at once; --drift-ppm P makes that clock run P ppm
// fast, or slow when negative, like a sound card of its own, to exercise
// the hub's drift compensation); one receive thread per 32 musician
// slots polls their sockets (WELCOME, REJECT, the mixes, PING -> PONG, PONG
// -> round-trip time, LEAVE, LEAVE_ACK).
//
// Report (stdout, and --report FILE), one line each:
//   steady s<i> glitches=N lost=N late=N samples=N max_gap_ms=F   (per steady musician)
//   churn joins=N leaves=N deaths=N rejects=N timeouts=N
//   zombies count=K dropped=K max_ms=F median_ms=F
//   rtt_ms median=F max=F
//   sender rt=0|1 max_late_ms=F late_wakeups=N       (diagnostics)
//   config codec=C signal=code|tone verify=0|1 up_frames=N
//   note ...            (zero or more: why a check failed; for glitches, where
//                        they start and the sender's worst late wake-ups)
//   status=ok | status=fail | status=nohub
// Exit 0 (ok), 1 (fail), 2 (usage error, or the hub never answered).
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bb.h"
#include "codec.h"
#include "net.h"
#include "seal.h"
#include "session.h"
#include "stream.h"
#include "wire.h"
#include <sodium.h>

#define RATE            48000u
#define PERIOD          64u
#define NS              1000000000ull
#define MS              1000000ull
#define JOIN_RETRY_NS   (200 * MS)
#define PING_NS         (250 * MS)
#define LEAVE_RETRY_NS  (100 * MS)
#define LEAVE_TRIES     5
#define END_WAIT_NS     (1000 * MS)
#define CTL_TICK_NS     (2 * MS)
#define DEAD_LINGER_NS  (5000 * MS)  // a dead churner listens this long for its TIMEOUT
#define NOHUB_NS        (5000 * MS)
#define SLOTS_PER_RX    32
#define MAX_DIE_GROUPS  16
#define MAX_SLOTS       1024
#define MAX_CODES       4
#define RECV_BATCH      32
#define LOOP_SAMPLES    4800u        // 0.1 s: whole periods of every tone and code
#define TONE_GAIN       0.25118864f  // -12 dBFS

enum kind { STEADY, CHURNER, ZOMBIE };

enum mstate {
    M_IDLE = 0,      // created, nothing sent yet
    M_JOINING,       // JOIN sent, retried until WELCOME or REJECT
    M_LIVE,          // welcomed: sends audio and pings
    M_LEAVING,       // LEAVE sent, waiting for LEAVE_ACK
    M_LEFT,          // LEAVE acknowledged
    M_LEAVE_FAILED,  // no LEAVE_ACK after LEAVE_TRIES
    M_DEAD,          // stopped sending everything (death / zombie); still listens
    M_REJECTED,      // the hub refused the JOIN
    M_HUBLEFT,       // the hub sent LEAVE to a live musician (acknowledged)
};

/// Receive-side verification of a steady musician's mix [rx].
struct verify {
    bool     have_seq;
    uint32_t next_seq;
    bool     have_prev;
    uint32_t prev;            // last decoded value (fields packed)
    uint64_t samples, glitches, lost, late;
    uint64_t last_rx_ns, max_gap_ns;
    // The first runs of consecutive bad samples, reported as notes.
    struct glitch_run {
        uint64_t t_ns;        // arrival of the packet where it starts
        uint32_t seq;         // the hub's AUDIO seq there
        unsigned frame;       // first bad frame in that packet
        uint32_t prev, got;   // decoded values (5-bit fields packed) around it
        float    l, r;
        uint64_t len;         // bad samples in a row
    } runs[16];
    unsigned nruns;
    bool     in_run, recording;
};

struct mus {
    enum kind kind;
    int       index;
    int       code;           // field carried (steady 0..3), -1: sends zeros
    char      label[12];      // s0, c12, z3
    char      name[BB_NAME_MAX];
    uint8_t   id[BB_IDENTITY_SIZE];
    int       fd;

    // The handshake (handshake.h), as bandbridge join: used by the main
    // thread (HELLO, JOIN) and the receive thread (COOKIE, WELCOME,
    // REJECT), so under hs_lock.
    pthread_mutex_t      hs_lock;
    struct bb_hs_client  hs;
    bool                 have_cookie;
    int                  join_tries;
    /// Only the seal fields and session of a stream: every datagram of the
    /// session is sealed (bb_stream_seal/unseal, session.h). Keys set by
    /// the receive thread before LIVE is published.
    struct bb_stream     st;

    _Atomic int      state;   // enum mstate
    uint32_t         session; // [rx before LIVE is published, ro after]
    unsigned         up_frames, down_frames; // same
    _Atomic uint64_t welcome_ns;

    // [tx] sender thread
    bool             tx_started;
    uint64_t         tx_start_ns;
    uint64_t         tx_packets;
    _Atomic uint64_t last_tx_ns;   // [tx, ctl] last datagram sent

    // [ctl] main thread
    uint32_t join_seq, ping_seq, leave_seq;
    uint64_t next_join_ns, next_ping_ns, next_leave_ns;
    int      leave_tries;
    uint64_t death_ns;
    uint64_t finished_pass;   // sender pass when it stopped being LIVE (0: not yet)

    // [rx] receive thread
    struct verify    v;
    _Atomic uint64_t drop_ns;      // LEAVE TIMEOUT received
    _Atomic int      hub_leave;    // code of the hub's LEAVE + 1, 0 = none
    _Atomic uint64_t rx_packets;
    _Atomic int      reject_code;
    char             reject_reason[BB_REASON_MAX];

    _Atomic int      retire;       // [ctl sets] the rx thread closes fd and frees the slot
};

struct rxthread {
    pthread_t th;
    int       first, count;   // slots
    int       wake_fd;
};

struct die_group {
    double   at_s;
    int      count;
    int      first;           // index of its first zombie
    bool     fired;
};

static struct {
    // options
    struct bb_addr hub;
    char           hub_text[256];
    int            steady;
    double         churn_rate;
    int            churn_max;
    double         seconds;
    double         settle;
    struct die_group die[MAX_DIE_GROUPS];
    int            ndie;
    unsigned       jitter;    // hub-side wish in JOIN
    const char    *report_path;
    uint64_t       seed;
    char           prefix[21];    // 20 characters at most: names fit BB_NAME_MAX
    int            verbose;
    int            rt_prio;       // SCHED_FIFO priority of the sender, 0 = none
    int            rx_rt_prio;    // SCHED_FIFO priority of the receive threads, 0 = none (default)
    unsigned       modulus;       // the code's period in samples (default 32)
    enum bb_codec  codec;         // both ways (default float)
    bool           tone;          // --signal tone
    bool           no_verify;     // --no-verify
    bool           stereo_mix;    // --stereo-mix: JOIN without BB_JOIN_MONO_OK
    bool           verify;        // float + code, and not --no-verify
    uint64_t       rx_batch_ns;   // receive threads pass at most this often (0: at once)
    uint64_t       ctl_tick_ns;   // the main thread's pass
    unsigned       up_frames;     // what the hub must propose for this codec
    double         drift_ppm;     // --drift-ppm: the sender's clock against ours
    char           password[BB_HS_PASSWORD_MAX]; // the room's: BANDBRIDGE_PASSWORD, else ""

    // Audio encoded before the run, LOOP_SAMPLES per slot (all but float + code).
    struct loop {
        uint8_t  *data;
        uint32_t *off;            // n + 1 offsets into data
        unsigned  n;              // packets
        bool      shared;         // data and off belong to another slot's loop
    }             *loops;         // [nslots] (NULL: computed as it goes)

    // musicians
    _Atomic(struct mus *) slots[MAX_SLOTS];
    int            nslots;
    int            churn_first;   // first churner slot
    struct mus   **all;           // every musician ever created [ctl]
    int            nall, cap_all;
    int            nzombies;
    int            ncode;         // steady musicians carrying a code (<= 4)

    struct rxthread *rx;
    int            nrx;
    pthread_t      tx_th;
    _Atomic int    running;
    _Atomic uint64_t sender_pass;
    int            sender_rt;
    _Atomic uint64_t sender_max_late_ns;
    _Atomic uint64_t sender_late_wakeups;
    struct { uint64_t at_ns, late_ns; } late_ev[16]; // [tx] worst late wake-ups (> 2 ms)
    unsigned         nlate_ev;                       // [tx]

    uint64_t         t0;
    _Atomic uint64_t verify_from_ns;  // 0 = not yet
    _Atomic uint64_t verify_end_ns;   // 0 = not yet
    _Atomic int      heard_hub;

    // churn counters
    _Atomic uint64_t c_joins, c_rejects, c_timeouts, c_live_dropped;
    uint64_t         c_leaves, c_deaths, c_skipped, c_leave_unacked;
    uint64_t         c_created;

    // round-trip times
    pthread_mutex_t rtt_lock;
    double         *rtt;
    size_t          nrtt, cap_rtt;
} G;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vlog(const char *fmt, ...)
{
    if (!G.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bbload %8.3f ", (double)(bb_now_ns() - G.t0) / 1e9);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ------------------------------------------------------------ randomness */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t g_churn_rng;

static double rnd01(void)
{
    return (double)(splitmix64(&g_churn_rng) >> 11) * 0x1p-53;
}

/// Exponential inter-arrival time for a Poisson process of rate r per second.
static uint64_t next_interval_ns(double r)
{
    double u = rnd01();
    double s = -log(1.0 - u) / r;
    if (s > 3600)
        s = 3600;
    return (uint64_t)(s * 1e9);
}

/* ------------------------------------------------------------ musicians */

static struct mus *mus_new(enum kind k, int index, char *err, size_t err_size)
{
    struct mus *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    static const char kc[] = {'s', 'c', 'z'};
    m->kind = k;
    m->index = index;
    m->code = (k == STEADY && index < MAX_CODES) ? index : -1;
    snprintf(m->label, sizeof m->label, "%c%u", kc[k], (unsigned)index);
    snprintf(m->name, sizeof m->name, "%s%s", G.prefix, m->label);
    // Identity: from the seed, the name prefix, the kind and the index only,
    // so a rerun is the same band and another prefix is another band.
    uint64_t s = 0xCBF29CE484222325ull; // FNV-1a of the prefix
    for (const char *c = G.prefix; *c; c++)
        s = (s ^ (uint8_t)*c) * 0x100000001B3ull;
    s ^= G.seed ^ ((uint64_t)(k + 1) << 56) ^ (uint64_t)(unsigned)index * 0x100000001ull;
    uint64_t a = splitmix64(&s), b = splitmix64(&s);
    memcpy(m->id, &a, 8);
    memcpy(m->id + 8, &b, 8);
    // The identity key pair from the same seed: a rerun is the same band.
    uint8_t seed[32];
    uint64_t c = splitmix64(&s), d = splitmix64(&s);
    memcpy(seed, &a, 8);
    memcpy(seed + 8, &b, 8);
    memcpy(seed + 16, &c, 8);
    memcpy(seed + 24, &d, 8);
    struct bb_keypair kp;
    crypto_sign_seed_keypair(kp.pk, kp.sk, seed);
    pthread_mutex_init(&m->hs_lock, NULL);
    bb_hs_client_init(&m->hs, G.password, &kp);
    m->fd = bb_udp_open(NULL, 0, G.hub.ss.ss_family, err, err_size);
    if (m->fd < 0) {
        free(m);
        return NULL;
    }
    // A musician talks to the hub only: a connected socket sends without a
    // route lookup per datagram and receives from the hub only.
    if (connect(m->fd, (const struct sockaddr *)&G.hub.ss, G.hub.len) < 0) {
        snprintf(err, err_size, "connect: %s", strerror(errno));
        close(m->fd);
        free(m);
        return NULL;
    }
    if (G.nall == G.cap_all) {
        int cap = G.cap_all ? G.cap_all * 2 : 64;
        struct mus **n = realloc(G.all, (size_t)cap * sizeof *n);
        if (!n) {
            close(m->fd);
            free(m);
            snprintf(err, err_size, "out of memory");
            return NULL;
        }
        G.all = n;
        G.cap_all = cap;
    }
    G.all[G.nall++] = m;
    return m;
}

static void slot_set(int slot, struct mus *m)
{
    atomic_store_explicit(&G.slots[slot], m, memory_order_release);
    uint64_t one = 1;
    if (write(G.rx[slot / SLOTS_PER_RX].wake_fd, &one, sizeof one) < 0) {
        // the receive thread polls with a timeout anyway
    }
}

static int mstate(struct mus *m)
{
    return atomic_load_explicit(&m->state, memory_order_acquire);
}

static bool cas_state(struct mus *m, int from, int to)
{
    return atomic_compare_exchange_strong(&m->state, &from, to);
}

static void send_dgram(struct mus *m, const uint8_t *buf, int len)
{
    if (len <= 0)
        return;
    if (send(m->fd, buf, (size_t)len, MSG_DONTWAIT) >= 0)
        atomic_store_explicit(&m->last_tx_ns, bb_now_ns(), memory_order_relaxed);
}

/// [ctl] HELLO until a COOKIE came, then JOIN (back to HELLO after eight
/// JOINs unanswered), as bandbridge join does.
static void send_join(struct mus *m)
{
    struct bb_join j = {
        .rate = RATE,
        .period = PERIOD,
        .channels = 1,
        .codec = (uint8_t)G.codec,
        .kbps = 0,
        .jitter = (uint16_t)G.jitter,
        // As bandbridge join; never decoded here anyway.
        .flags = G.stereo_mix ? 0 : BB_JOIN_MONO_OK,
    };
    snprintf(j.name, sizeof j.name, "%s", m->name);
    uint8_t buf[BB_MAX_DATAGRAM];
    int n;
    pthread_mutex_lock(&m->hs_lock);
    if (m->have_cookie && m->join_tries >= 8)
        m->have_cookie = false;
    if (m->have_cookie) {
        n = bb_session_join(&m->hs, buf, sizeof buf, &j);
        m->join_tries++;
    } else {
        n = bb_session_hello(&m->hs, buf, sizeof buf);
    }
    m->join_seq++; // the receive thread sends a JOIN too (on a COOKIE)
    pthread_mutex_unlock(&m->hs_lock);
    send_dgram(m, buf, n);
}

static void send_ping(struct mus *m)
{
    uint8_t buf[BB_STREAM_REPLY_SIZE];
    m->ping_seq++;
    send_dgram(m, buf, bb_stream_ping(&m->st, buf, sizeof buf, bb_now_ns()));
}

static void send_leave(struct mus *m)
{
    uint8_t buf[BB_MAX_SEALED];
    m->leave_seq++;
    send_dgram(m, buf, bb_session_leave(&m->st, buf, sizeof buf, BB_LEAVE_QUIT,
                                        "bbload musician quit"));
}

static pthread_mutex_t room_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bb_room room;  // [room_lock]
static bool room_ok;         // [room_lock]

/// [main, before the run] Derives the room key once from a COOKIE, so that
/// Argon2id (seconds on a loaded 2-core machine) is not inside the run's
/// timeline (--die-at times, join latencies). A hub that does not answer
/// within 5 s is left to the run to find.
static void prewarm_room(void)
{
    struct bb_keypair kp;
    crypto_sign_keypair(kp.pk, kp.sk);
    struct bb_hs_client hs;
    int fd = bb_udp_open(NULL, 0, G.hub.ss.ss_family, (char[80]){0}, 80);
    if (fd < 0 || bb_hs_client_init(&hs, G.password, &kp) < 0 ||
        connect(fd, (const struct sockaddr *)&G.hub.ss, G.hub.len) < 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    uint8_t buf[BB_MAX_SEALED];
    for (int tries = 0; tries < 25 && !room_ok; tries++) {
        int n = bb_session_hello(&hs, buf, sizeof buf);
        if (n <= 0 || (send(fd, buf, (size_t)n, 0) < 0 && errno != ECONNREFUSED))
            break; // refused: the hub is not listening yet
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got > 0 && bb_session_on_cookie(&hs, buf, (size_t)got) == 0 && hs.room_ok) {
            if (G.verbose)
                fprintf(stderr, "bbload: room key derived before the run\n");
            room = hs.room;
            room_ok = true;
        }
    }
    bb_hs_client_wipe(&hs);
    close(fd);
}

/* ------------------------------------------------------------ sender */

static void put_f32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
}

static void send_audio(struct mus *m, int slot, uint8_t *out)
{
    // Written after the seal counter's room, sealed in place (session.h).
    uint8_t *pkt = out + BB_SEAL_COUNTER_SIZE;
    uint32_t t = (uint32_t)(m->tx_packets * m->up_frames);
    struct bb_header hd = {
        .type = BB_MSG_AUDIO, .session = m->session, .seq = (uint32_t)m->tx_packets, .ts = t};
    int off = bb_wire_write_audio_head(pkt, BB_MAX_DATAGRAM, &hd, (uint8_t)G.codec, 1,
                                       (uint16_t)m->up_frames);
    if (off < 0)
        return;
    const struct loop *lp = G.loops ? &G.loops[slot] : NULL;
    if (lp && lp->n) {
        // Encoded before the run: copy the next packet of the loop.
        unsigned i = (unsigned)(m->tx_packets % lp->n);
        uint32_t len = lp->off[i + 1] - lp->off[i];
        memcpy(pkt + off, lp->data + lp->off[i], len);
        m->tx_packets++;
        send_dgram(m, out, bb_stream_seal(&m->st, out, off + (int)len, BB_MAX_SEALED));
        return;
    }
    uint8_t *p = pkt + off;
    for (unsigned f = 0; f < m->up_frames; f++, p += 4) {
        float v = 0.0f;
        if (m->code >= 0)
            v = ldexpf((float)(((t + f) % G.modulus) << (5 * m->code)), -20);
        put_f32(p, v);
    }
    m->tx_packets++;
    send_dgram(m, out, bb_stream_seal(&m->st, out, off + (int)m->up_frames * 4, BB_MAX_SEALED));
}

// The sender's sample rate: RATE, or with --drift-ppm a sound card of its
// own, RATE * (1 + ppm) frames a second of ours. Ticks and packets both
// follow it.
static double send_rate(void)
{
    return RATE * (1.0 + G.drift_ppm * 1e-6);
}

static uint64_t tick_deadline(uint64_t k)
{
    if (G.drift_ppm != 0.0)
        return G.t0 + (uint64_t)((double)k * PERIOD * NS / send_rate());
    return G.t0 + k * PERIOD * NS / RATE;
}

// Ticks (or packets of frames) due by el ns of our clock.
static uint64_t ticks_due(uint64_t el, unsigned frames)
{
    if (G.drift_ppm != 0.0)
        return (uint64_t)((double)el * send_rate() / ((double)frames * NS));
    return el * RATE / ((uint64_t)frames * NS);
}

static void *tx_main(void *arg)
{
    (void)arg;
    uint8_t pkt[BB_MAX_SEALED];
    uint64_t k = 1;
    while (atomic_load(&G.running)) {
        uint64_t deadline = tick_deadline(k);
        struct timespec ts = {.tv_sec = (time_t)(deadline / NS), .tv_nsec = (long)(deadline % NS)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
        uint64_t now = bb_now_ns();
        uint64_t late = now > deadline ? now - deadline : 0;
        if (late > atomic_load_explicit(&G.sender_max_late_ns, memory_order_relaxed))
            atomic_store_explicit(&G.sender_max_late_ns, late, memory_order_relaxed);
        if (late > MS)
            atomic_fetch_add_explicit(&G.sender_late_wakeups, 1, memory_order_relaxed);
        if (late > 2 * MS) {
            // Keep the 16 worst, to set against glitches in the report.
            unsigned w = 0;
            if (G.nlate_ev < BB_ARRAY_LEN(G.late_ev)) {
                w = G.nlate_ev++;
            } else {
                for (unsigned i = 1; i < G.nlate_ev; i++)
                    if (G.late_ev[i].late_ns < G.late_ev[w].late_ns)
                        w = i;
                if (G.late_ev[w].late_ns >= late)
                    w = UINT32_MAX;
            }
            if (w != UINT32_MAX) {
                G.late_ev[w].at_ns = deadline;
                G.late_ev[w].late_ns = late;
            }
        }
        for (int s = 0; s < G.nslots; s++) {
            struct mus *m = atomic_load_explicit(&G.slots[s], memory_order_acquire);
            if (!m || mstate(m) != M_LIVE)
                continue;
            if (!m->tx_started) {
                // Its stream starts on this tick's deadline: from here on,
                // packet n is due at tx_start_ns + n * up_frames / rate.
                m->tx_started = true;
                m->tx_start_ns = deadline;
            }
            uint64_t el = now > m->tx_start_ns ? now - m->tx_start_ns : 0;
            uint64_t due = ticks_due(el, m->up_frames) + 1;
            while (m->tx_packets < due)
                send_audio(m, s, pkt);
        }
        atomic_fetch_add_explicit(&G.sender_pass, 1, memory_order_release);
        // Next deadline after now: late wake-ups do not shift the schedule.
        uint64_t kn = ticks_due(now - G.t0, PERIOD) + 1;
        k = kn > k ? kn : k + 1;
    }
    return NULL;
}

/* ------------------------------------------------------------ receiver */

static void rtt_add(double ms)
{
    pthread_mutex_lock(&G.rtt_lock);
    if (G.nrtt == G.cap_rtt) {
        size_t cap = G.cap_rtt ? G.cap_rtt * 2 : 1024;
        double *n = realloc(G.rtt, cap * sizeof *n);
        if (n) {
            G.rtt = n;
            G.cap_rtt = cap;
        }
    }
    if (G.nrtt < G.cap_rtt)
        G.rtt[G.nrtt++] = ms;
    pthread_mutex_unlock(&G.rtt_lock);
}

static float get_f32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/// Checks one AUDIO packet of a steady musician's mix.
static void verify_audio(struct mus *m, const struct bb_header *hd, const struct bb_audio *a,
                         uint64_t now)
{
    struct verify *v = &m->v;
    uint64_t from = atomic_load_explicit(&G.verify_from_ns, memory_order_acquire);
    uint64_t end = atomic_load_explicit(&G.verify_end_ns, memory_order_acquire);
    bool on = from && now >= from && (!end || now < end);

    if (v->have_seq) {
        int32_t d = (int32_t)(hd->seq - v->next_seq);
        if (d < 0) {
            if (on)
                v->late++;
            return; // its place has passed: dropped, like a jitter buffer would
        }
        if (d > 0) {
            if (on)
                v->lost += (uint64_t)d;
            v->have_prev = false; // the gap is counted as loss, not as glitches
        }
    }
    v->have_seq = true;
    v->next_seq = hd->seq + 1;
    if (!on) {
        v->have_prev = false;
        v->last_rx_ns = 0;
        return;
    }
    if (v->last_rx_ns && now - v->last_rx_ns > v->max_gap_ns)
        v->max_gap_ns = now - v->last_rx_ns;
    v->last_rx_ns = now;
    if (!G.verify) {
        v->samples += a->frames; // received, never decoded
        return;
    }

    const unsigned nc = (unsigned)G.ncode;
    const uint32_t mask = nc >= 6 ? 0xFFFFFFFFu : (1u << (5 * nc)) - 1;
    const uint8_t *p = a->payload;
    for (unsigned f = 0; f < a->frames; f++, p += 8) {
        float l = get_f32(p), r = get_f32(p + 4);
        v->samples++;
        double x = (double)l * 1048576.0;
        bool valid = l == r && x >= 0.0 && x < 1048576.0 && x == floor(x);
        uint32_t val = valid ? (uint32_t)x : 0;
        if (valid && (val & ~mask))
            valid = false; // bits nobody sends
        for (unsigned i = 0; valid && i < nc; i++)
            valid = ((val >> (5 * i)) & 31) < G.modulus;
        bool ok = valid;
        if (valid && v->have_prev) {
            // Every 5-bit field must be the previous one plus 1, mod --modulus.
            for (unsigned i = 0; i < nc && ok; i++) {
                uint32_t pf = (v->prev >> (5 * i)) & 31, cf = (val >> (5 * i)) & 31;
                ok = cf == (pf + 1) % G.modulus;
            }
        }
        if (!ok) {
            v->glitches++;
            if (!v->in_run) {
                v->in_run = true;
                v->recording = v->nruns < BB_ARRAY_LEN(v->runs);
                if (v->recording)
                    v->runs[v->nruns++] = (struct glitch_run){
                        .t_ns = now, .seq = hd->seq, .frame = f, .l = l, .r = r, .got = val,
                        .prev = v->have_prev ? v->prev : 0xFFFFFFFFu};
            }
            if (v->recording)
                v->runs[v->nruns - 1].len++;
        } else {
            v->in_run = false;
        }
        v->prev = val;
        v->have_prev = valid;
    }
}

/// [rx] A COOKIE: the JOIN at once. The room key is derived once for the
/// whole run (Argon2id costs 64 MiB and ~0.2 s: fifty musicians deriving
/// at the same time would not fit), then handed to every musician.
static void rx_cookie(struct mus *m, const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&room_lock);
    pthread_mutex_lock(&m->hs_lock);
    if (room_ok)
        bb_hs_client_set_room(&m->hs, &room);
    int rc = m->have_cookie ? BB_HS_STATE : bb_session_on_cookie(&m->hs, buf, len);
    if (rc == 0) {
        m->have_cookie = true;
        m->join_tries = 0;
        if (!room_ok && m->hs.room_ok) {
            room = m->hs.room;
            room_ok = true;
        }
    }
    pthread_mutex_unlock(&m->hs_lock);
    pthread_mutex_unlock(&room_lock);
    if (rc == 0) {
        vlog("%s: cookie", m->name);
        send_join(m);
    }
}

static void rx_datagram(struct mus *m, uint8_t *pkt, size_t len, uint64_t now)
{
    struct bb_header hd;
    const uint8_t *buf = pkt;
    if (bb_wire_parse_header(pkt, len < BB_WIRE_HEADER_SIZE ? len : BB_WIRE_HEADER_SIZE, &hd) !=
        BB_WIRE_OK)
        return;
    atomic_store_explicit(&G.heard_hub, 1, memory_order_relaxed);
    int st = mstate(m);
    switch (hd.type) {
    case BB_MSG_COOKIE:
        if (st == M_JOINING)
            rx_cookie(m, buf, len);
        return;
    case BB_MSG_WELCOME: {
        struct bb_welcome w;
        struct bb_hs_keys keys;
        if (st != M_JOINING)
            return;
        pthread_mutex_lock(&m->hs_lock);
        int rc = bb_session_on_welcome(&m->hs, buf, len, &w, &keys);
        if (rc == 0) {
            m->st.session = hd.session;
            bb_stream_set_keys(&m->st, keys.cipher, keys.c2h, keys.h2c); // before LIVE is published
            bb_hs_keys_wipe(&keys);
            m->have_cookie = false; // a rejoin is a new handshake
        }
        pthread_mutex_unlock(&m->hs_lock);
        if (rc < 0) {
            vlog("%s: a WELCOME that does not open (%s): ignored", m->name, bb_hs_strerror(rc));
            return;
        }
        if (w.rate != RATE || w.up_codec != G.codec || w.down_codec != G.codec ||
            w.down_channels != BB_MIX_CH || w.up_frames == 0 || w.down_frames == 0 ||
            (G.loops && w.up_frames != G.up_frames) || hd.session == 0) {
            atomic_store(&m->reject_code, 1000);
            snprintf(m->reject_reason, sizeof m->reject_reason,
                     "the hub proposed a stream bbload cannot send (rate %u, codec %u/%u, "
                     "frames %u/%u, %u channels down)",
                     w.rate, w.up_codec, w.down_codec, w.up_frames, w.down_frames,
                     w.down_channels);
            cas_state(m, M_JOINING, M_REJECTED);
            return;
        }
        m->session = hd.session;
        m->up_frames = w.up_frames;
        m->down_frames = w.down_frames;
        atomic_store(&m->welcome_ns, now);
        if (cas_state(m, M_JOINING, M_LIVE)) {
            if (m->kind == CHURNER)
                atomic_fetch_add(&G.c_joins, 1);
            vlog("%s welcomed (session %08x)", m->name, hd.session);
        }
        return;
    }
    case BB_MSG_REJECT: {
        struct bb_reject r;
        if (st != M_JOINING)
            return;
        pthread_mutex_lock(&m->hs_lock);
        int auth = bb_session_on_reject(&m->hs, buf, len, &r);
        pthread_mutex_unlock(&m->hs_lock);
        if (auth <= 0) {
            vlog("%s: unauthenticated REJECT (%s): retrying", m->name, auth == 0 ? r.reason : "-");
            return; // never final: a wrong password, or anyone on the path
        }
        snprintf(m->reject_reason, sizeof m->reject_reason, "%s", r.reason);
        atomic_store(&m->reject_code, r.code);
        if (cas_state(m, M_JOINING, M_REJECTED)) {
            if (m->kind == CHURNER)
                atomic_fetch_add(&G.c_rejects, 1);
            vlog("%s rejected (code %u): %s", m->name, r.code, r.reason);
        }
        return;
    }
    default:
        break;
    }
    // Everything else belongs to the session, and is sealed.
    if (st == M_IDLE || st == M_JOINING || st == M_REJECTED || hd.session != m->session)
        return;
    uint8_t *plain;
    int n = bb_stream_unseal(&m->st, pkt, len, &plain);
    if (n < 0 || bb_wire_parse_header(plain, (size_t)n, &hd) != BB_WIRE_OK)
        return;
    buf = plain;
    len = (size_t)n;
    bool alive = st == M_LIVE || st == M_LEAVING;
    switch (hd.type) {
    case BB_MSG_AUDIO: {
        atomic_fetch_add_explicit(&m->rx_packets, 1, memory_order_relaxed);
        if (m->kind != STEADY)
            return;
        struct bb_audio a;
        if (bb_wire_read_audio(buf, len, &a) != BB_WIRE_OK || a.codec != G.codec ||
            a.channels != BB_MIX_CH || a.frames != m->down_frames)
            return;
        verify_audio(m, &hd, &a, now);
        return;
    }
    case BB_MSG_PING: {
        struct bb_ping p;
        if (!alive || bb_wire_read_ping(buf, len, &p) != BB_WIRE_OK)
            return; // the dead answer nothing
        struct bb_header rh = {.type = BB_MSG_PONG, .session = m->session, .seq = hd.seq};
        p.jitter_frames = 0;
        p.lost = m->kind == STEADY ? (uint32_t)m->v.lost : 0;
        uint8_t out[BB_STREAM_REPLY_SIZE];
        int k = bb_wire_write_ping(out + BB_SEAL_COUNTER_SIZE, sizeof out - BB_SEAL_OVERHEAD,
                                   &rh, &p);
        send_dgram(m, out, k > 0 ? bb_stream_seal(&m->st, out, k, sizeof out) : -1);
        return;
    }
    case BB_MSG_PONG: {
        struct bb_ping p;
        if (bb_wire_read_ping(buf, len, &p) == BB_WIRE_OK && now > p.t_ns)
            rtt_add((double)(now - p.t_ns) / 1e6);
        return;
    }
    case BB_MSG_LEAVE: {
        struct bb_leave l;
        if (bb_wire_read_leave(buf, len, &l) != BB_WIRE_OK)
            return;
        int first = atomic_load(&m->hub_leave) == 0;
        if (first)
            atomic_store(&m->hub_leave, l.code + 1);
        if (l.code == BB_LEAVE_TIMEOUT && first) {
            uint64_t zero = 0;
            atomic_compare_exchange_strong(&m->drop_ns, &zero, now);
            if (m->kind == CHURNER) {
                atomic_fetch_add(&G.c_timeouts, 1);
                if (alive)
                    atomic_fetch_add(&G.c_live_dropped, 1);
            }
        }
        if (first)
            vlog("%s: hub LEAVE code %u (%s)%s", m->name, l.code, l.reason,
                 alive ? "" : ", not answered: dead");
        if (alive) {
            uint8_t out[BB_MAX_SEALED];
            send_dgram(m, out, bb_session_leave_ack(&m->st, out, sizeof out, hd.seq));
            if (!cas_state(m, M_LIVE, M_HUBLEFT))
                cas_state(m, M_LEAVING, M_LEFT);
        }
        return;
    }
    case BB_MSG_LEAVE_ACK:
        cas_state(m, M_LEAVING, M_LEFT);
        return;
    default:
        return;
    }
}

static void sleep_until(uint64_t t);

static void *rx_main(void *arg)
{
    struct rxthread *t = arg;
    struct pollfd pfd[SLOTS_PER_RX + 1];
    struct mus *who[SLOTS_PER_RX];
    static _Thread_local uint8_t bufs[RECV_BATCH][2048];
    struct mmsghdr msgs[RECV_BATCH];
    struct iovec iov[RECV_BATCH];
    struct sockaddr_storage from[RECV_BATCH];
    uint64_t last_pass = 0;

    while (atomic_load(&G.running)) {
        if (G.rx_batch_ns) {
            // Nothing is timed or checked on arrival: read every socket at
            // most once per rx_batch_ns, a few datagrams per system call.
            sleep_until(last_pass + G.rx_batch_ns);
            last_pass = bb_now_ns();
        }
        int n = 0;
        for (int i = 0; i < t->count; i++) {
            int slot = t->first + i;
            struct mus *m = atomic_load_explicit(&G.slots[slot], memory_order_acquire);
            if (!m)
                continue;
            if (atomic_load(&m->retire)) {
                // Finished musician: this thread owns the fd's end of life.
                close(m->fd);
                m->fd = -1;
                atomic_store_explicit(&G.slots[slot], NULL, memory_order_release);
                continue;
            }
            pfd[n] = (struct pollfd){.fd = m->fd, .events = POLLIN};
            who[n++] = m;
        }
        pfd[n] = (struct pollfd){.fd = t->wake_fd, .events = POLLIN};
        if (poll(pfd, (nfds_t)n + 1, 50) <= 0)
            continue;
        if (pfd[n].revents & POLLIN) {
            uint64_t v;
            if (read(t->wake_fd, &v, sizeof v) < 0) {
                // nothing to do
            }
        }
        for (int i = 0; i < n; i++) {
            // POLLERR: an ICMP error (no hub there) is pending on the
            // connected socket; reading clears it.
            if (!(pfd[i].revents & (POLLIN | POLLERR)))
                continue;
            for (int b = 0; b < RECV_BATCH; b++) {
                iov[b] = (struct iovec){.iov_base = bufs[b], .iov_len = sizeof bufs[b]};
                msgs[b] = (struct mmsghdr){.msg_hdr = {.msg_name = &from[b],
                                                       .msg_namelen = sizeof from[b],
                                                       .msg_iov = &iov[b],
                                                       .msg_iovlen = 1}};
            }
            int got = recvmmsg(pfd[i].fd, msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
            uint64_t now = bb_now_ns();
            for (int b = 0; b < got; b++) {
                struct bb_addr a;
                memcpy(&a.ss, &from[b], sizeof from[b]);
                a.len = msgs[b].msg_hdr.msg_namelen;
                size_t len = msgs[b].msg_len;
                if (!bb_addr_equal(&a, &G.hub) || len > BB_MAX_SEALED ||
                    (msgs[b].msg_hdr.msg_flags & MSG_TRUNC))
                    continue;
                rx_datagram(who[i], bufs[b], len, now);
            }
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ control */

static int free_churn_slot(void)
{
    for (int s = G.churn_first; s < G.nslots; s++)
        if (!atomic_load_explicit(&G.slots[s], memory_order_acquire))
            return s;
    return -1;
}

static int churners_existing(int *live_out)
{
    int exist = 0, live = 0;
    for (int s = G.churn_first; s < G.nslots; s++) {
        struct mus *m = atomic_load_explicit(&G.slots[s], memory_order_acquire);
        if (!m)
            continue;
        int st = mstate(m);
        if (st == M_IDLE || st == M_JOINING || st == M_LIVE || st == M_LEAVING)
            exist++;
        if (st == M_LIVE)
            live++;
    }
    *live_out = live;
    return exist;
}

static void start_join(struct mus *m, uint64_t now)
{
    atomic_store(&m->state, M_JOINING);
    send_join(m);
    m->next_join_ns = now + JOIN_RETRY_NS;
}

static void start_leave(struct mus *m, uint64_t now)
{
    if (!cas_state(m, M_LIVE, M_LEAVING))
        return;
    send_leave(m);
    m->leave_tries = 1;
    m->next_leave_ns = now + LEAVE_RETRY_NS;
}

static void kill_musician(struct mus *m, uint64_t now)
{
    if (cas_state(m, M_LIVE, M_DEAD))
        m->death_ns = now;
}

static void churn_event(uint64_t now)
{
    int live;
    int exist = churners_existing(&live);
    bool can_join = exist < G.churn_max;
    if (can_join && (live == 0 || rnd01() < 0.5)) {
        int slot = free_churn_slot();
        if (slot < 0) {
            G.c_skipped++;
            return;
        }
        char err[200];
        struct mus *m = mus_new(CHURNER, (int)G.c_created, err, sizeof err);
        if (!m) {
            fprintf(stderr, "bbload: cannot create a churner: %s\n", err);
            G.c_skipped++;
            return;
        }
        G.c_created++;
        slot_set(slot, m);
        start_join(m, now);
        return;
    }
    if (live == 0) {
        G.c_skipped++;
        return;
    }
    int pick = (int)(rnd01() * live);
    bool death = rnd01() < 1.0 / 3.0;
    for (int s = G.churn_first; s < G.nslots; s++) {
        struct mus *m = atomic_load_explicit(&G.slots[s], memory_order_acquire);
        if (!m || mstate(m) != M_LIVE)
            continue;
        if (pick-- > 0)
            continue;
        if (death) {
            kill_musician(m, now);
            G.c_deaths++;
            vlog("%s dies", m->name);
        } else {
            start_leave(m, now);
            G.c_leaves++;
            vlog("%s leaves", m->name);
        }
        return;
    }
}

/// One pass over every musician: retries, pings, finished churners.
static void ctl_pass(uint64_t now, bool ending)
{
    uint64_t pass = atomic_load_explicit(&G.sender_pass, memory_order_acquire);
    for (int s = 0; s < G.nslots; s++) {
        struct mus *m = atomic_load_explicit(&G.slots[s], memory_order_acquire);
        if (!m || atomic_load(&m->retire))
            continue;
        int st = mstate(m);
        switch (st) {
        case M_JOINING:
            if (!ending && now >= m->next_join_ns) {
                send_join(m);
                m->next_join_ns = now + JOIN_RETRY_NS;
            }
            break;
        case M_LIVE:
            if (now >= m->next_ping_ns) {
                send_ping(m);
                m->next_ping_ns = now + PING_NS;
            }
            break;
        case M_LEAVING:
            if (now >= m->next_leave_ns) {
                if (m->leave_tries >= LEAVE_TRIES) {
                    if (cas_state(m, M_LEAVING, M_LEAVE_FAILED)) {
                        if (m->kind == CHURNER)
                            G.c_leave_unacked++;
                        vlog("%s: no LEAVE_ACK after %d tries", m->name, LEAVE_TRIES);
                    }
                } else {
                    send_leave(m);
                    m->leave_tries++;
                    m->next_leave_ns = now + LEAVE_RETRY_NS;
                }
            }
            break;
        default:
            break;
        }
        // Churners whose story is over give their slot back (steady
        // musicians and zombies keep theirs: they are reported at the end).
        if (m->kind != CHURNER || ending)
            continue;
        st = mstate(m);
        bool over = st == M_LEFT || st == M_LEAVE_FAILED || st == M_REJECTED || st == M_HUBLEFT ||
                    (st == M_DEAD && (atomic_load(&m->drop_ns) || now - m->death_ns > DEAD_LINGER_NS));
        if (!over)
            continue;
        if (!m->finished_pass) {
            m->finished_pass = pass + 1;
            continue;
        }
        // Two sender passes later nobody can be sending on its socket.
        if (pass >= m->finished_pass + 2) {
            atomic_store(&m->retire, 1);
            uint64_t one = 1;
            if (write(G.rx[s / SLOTS_PER_RX].wake_fd, &one, sizeof one) < 0) {
                // polled with a timeout anyway
            }
        }
    }
}

static bool all_steady_live(uint64_t *last_welcome)
{
    *last_welcome = 0;
    for (int s = 0; s < G.steady; s++) {
        struct mus *m = atomic_load(&G.slots[s]);
        if (mstate(m) != M_LIVE)
            return false;
        uint64_t w = atomic_load(&m->welcome_ns);
        if (w > *last_welcome)
            *last_welcome = w;
    }
    return true;
}

static bool leaves_pending(void)
{
    for (int s = 0; s < G.nslots; s++) {
        struct mus *m = atomic_load_explicit(&G.slots[s], memory_order_acquire);
        if (m && !atomic_load(&m->retire) && mstate(m) == M_LEAVING)
            return true;
    }
    return false;
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / NS), .tv_nsec = (long)(t % NS)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !g_stop) {
    }
}

/* ------------------------------------------------------------ report */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

struct out {
    FILE *f[2];
    int   n;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
    for (int i = 0; i < o->n; i++) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(o->f[i], fmt, ap);
        va_end(ap);
    }
}

static const char *state_name(int st)
{
    static const char *names[] = {"idle", "joining", "live", "leaving", "left", "leave-unacked",
                                  "dead", "rejected", "dropped-by-hub"};
    return st >= 0 && st < (int)BB_ARRAY_LEN(names) ? names[st] : "?";
}

static int report(bool nohub)
{
    struct out o = {.f = {stdout}, .n = 1};
    FILE *rf = NULL;
    if (G.report_path) {
        rf = fopen(G.report_path, "w");
        if (!rf)
            fprintf(stderr, "bbload: cannot write %s: %s\n", G.report_path, strerror(errno));
        else
            o.f[o.n++] = rf;
    }
    bool ok = true, any_glitch = false;
    char notes[64][200];
    int nnotes = 0;
#define NOTE(...)                                                                  \
    do {                                                                           \
        if (nnotes < (int)BB_ARRAY_LEN(notes))                                     \
            snprintf(notes[nnotes++], sizeof notes[0], __VA_ARGS__);               \
    } while (0)

    uint64_t from = atomic_load(&G.verify_from_ns), end = atomic_load(&G.verify_end_ns);
    double vsec = from && end > from ? (double)(end - from) / 1e9 : 0.0;
    for (int s = 0; s < G.steady; s++) {
        struct mus *m = G.all[s];
        struct verify *v = &m->v;
        outf(&o, "steady %s glitches=%llu lost=%llu late=%llu samples=%llu max_gap_ms=%.1f\n",
             m->label, (unsigned long long)v->glitches, (unsigned long long)v->lost,
             (unsigned long long)v->late, (unsigned long long)v->samples,
             (double)v->max_gap_ns / 1e6);
        if (v->glitches || v->lost)
            ok = false;
        for (unsigned r = 0; r < v->nruns && r < (G.verbose ? BB_ARRAY_LEN(v->runs) : 4); r++) {
            const struct glitch_run *g = &v->runs[r];
            char prev[16];
            snprintf(prev, sizeof prev, g->prev == 0xFFFFFFFFu ? "none" : "%05x", g->prev);
            NOTE("glitch %s at +%.3f s: hub seq %u frame %u, %llu bad samples in a row; "
                 "value before %s, then %05x (L %.9g R %.9g)",
                 m->label, (double)(g->t_ns - G.t0) / 1e9, g->seq, g->frame,
                 (unsigned long long)g->len, prev, g->got, (double)g->l, (double)g->r);
        }
        if (v->glitches)
            any_glitch = true;
        if (!atomic_load(&m->welcome_ns)) {
            ok = false;
            if (atomic_load(&m->reject_code))
                NOTE("%s was rejected: %s", m->name, m->reject_reason);
            else
                NOTE("%s was never welcomed", m->name);
        } else if (atomic_load(&m->hub_leave)) {
            ok = false;
            NOTE("%s was sent LEAVE code %d by the hub", m->name, atomic_load(&m->hub_leave) - 1);
        }
        if ((double)v->samples < vsec * RATE * 0.5) {
            ok = false;
            NOTE("%s %s %llu samples, expected about %.0f", m->name,
                 G.verify ? "verified" : "received", (unsigned long long)v->samples, vsec * RATE);
        }
    }
    outf(&o, "churn joins=%llu leaves=%llu deaths=%llu rejects=%llu timeouts=%llu\n",
         (unsigned long long)atomic_load(&G.c_joins), (unsigned long long)G.c_leaves,
         (unsigned long long)G.c_deaths, (unsigned long long)atomic_load(&G.c_rejects),
         (unsigned long long)atomic_load(&G.c_timeouts));
    if (G.c_skipped || G.c_leave_unacked || atomic_load(&G.c_live_dropped))
        NOTE("churn: %llu events skipped (no live churner / no free slot), %llu LEAVEs never "
             "acknowledged, %llu live churners dropped by the hub",
             (unsigned long long)G.c_skipped, (unsigned long long)G.c_leave_unacked,
             (unsigned long long)atomic_load(&G.c_live_dropped));
    for (int i = 0; i < G.nall; i++) {
        struct mus *m = G.all[i];
        if (m->kind == CHURNER && atomic_load(&m->reject_code) && nnotes < 32)
            NOTE("%s rejected (code %d): %s", m->name, atomic_load(&m->reject_code),
                 m->reject_reason);
    }

    double *zt = calloc((size_t)G.nzombies + 1, sizeof *zt);
    size_t nz = 0;
    double zmax = 0.0;
    for (int i = 0; i < G.nall; i++) {
        struct mus *m = G.all[i];
        if (m->kind != ZOMBIE)
            continue;
        uint64_t d = atomic_load(&m->drop_ns);
        if (m->death_ns && d) {
            uint64_t last = atomic_load(&m->last_tx_ns);
            uint64_t t = last > m->death_ns ? last : m->death_ns;
            double ms = d > t ? (double)(d - t) / 1e6 : 0.0;
            if (zt)
                zt[nz] = ms;
            nz++;
            if (ms > zmax)
                zmax = ms;
        } else {
            ok = false;
            if (!m->death_ns)
                NOTE("zombie %s never died (state %s%s)", m->name, state_name(mstate(m)),
                     atomic_load(&m->reject_code) ? ", rejected" : "");
            else
                NOTE("zombie %s: no LEAVE TIMEOUT %.0f ms after its death", m->name,
                     (double)(end ? end - m->death_ns : 0) / 1e6);
        }
    }
    outf(&o, "zombies count=%d dropped=%zu max_ms=%.1f median_ms=%.1f\n", G.nzombies, nz, zmax,
         zt ? median(zt, nz) : 0.0);
    free(zt);

    pthread_mutex_lock(&G.rtt_lock);
    double rmax = 0.0;
    for (size_t i = 0; i < G.nrtt; i++)
        if (G.rtt[i] > rmax)
            rmax = G.rtt[i];
    outf(&o, "rtt_ms median=%.3f max=%.3f\n", median(G.rtt, G.nrtt), rmax);
    pthread_mutex_unlock(&G.rtt_lock);
    outf(&o, "sender rt=%d max_late_ms=%.3f late_wakeups=%llu\n", G.sender_rt,
         (double)atomic_load(&G.sender_max_late_ns) / 1e6,
         (unsigned long long)atomic_load(&G.sender_late_wakeups));
    outf(&o, "config codec=%s signal=%s verify=%d up_frames=%u\n", bb_codec_name(G.codec),
         G.tone ? "tone" : "code", G.verify ? 1 : 0, G.up_frames);
    if (any_glitch) {
        // Was it bbload itself? A sender late by more than the hub's jitter
        // buffer starves it.
        for (unsigned i = 0; i < G.nlate_ev; i++)
            for (unsigned j = i + 1; j < G.nlate_ev; j++)
                if (G.late_ev[j].at_ns < G.late_ev[i].at_ns) {
                    __typeof__(G.late_ev[0]) t = G.late_ev[i];
                    G.late_ev[i] = G.late_ev[j];
                    G.late_ev[j] = t;
                }
        for (unsigned i = 0; i < G.nlate_ev; i++)
            NOTE("sender woke %.3f ms late at +%.3f s", (double)G.late_ev[i].late_ns / 1e6,
                 (double)(G.late_ev[i].at_ns - G.t0) / 1e9);
    }
    if (from == 0 && G.steady > 0)
        NOTE("the steady musicians never were all welcomed: nothing verified");
    for (int i = 0; i < nnotes; i++)
        outf(&o, "note %s\n", notes[i]);
    outf(&o, "status=%s\n", nohub ? "nohub" : ok ? "ok" : "fail");
    if (rf)
        fclose(rf);
    return nohub ? 2 : ok ? 0 : 1;
#undef NOTE
}

/* ------------------------------------------------------------ options */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bbload --hub HOST:PORT [options]\n"
            "Simulate many musicians against a running `bandbridge serve`.\n\n"
            "  --hub HOST:PORT          the hub (required)\n"
            "  --steady N               steady musicians (default 4; the first 4 carry a code)\n"
            "  --churn-rate R           churn events (joins+leaves+deaths) per second (default 0)\n"
            "  --churn-max M            churners at most at once (default 8)\n"
            "  --seconds S              length of the run (default 10)\n"
            "  --die-at T:K             at T s, K extra zombies stop sending (repeatable)\n"
            "  --codec C                float (default), pcm16, pcm24, opus, opus-std; the\n"
            "                           mixes are checked bit-exact only with float + code\n"
            "  --signal code|tone       what musicians send: the checkable code (default), or\n"
            "                           tone: everyone a sine at -12 dBFS of its own frequency\n"
            "  --no-verify              never check the mixes (count them only)\n"
            "  --stereo-mix             JOIN without the mono flag: Opus mixes always\n"
            "                           encoded as two channels, even when centred\n"
            "  --jitter FRAMES          hub jitter buffer wish in JOIN (default auto)\n"
            "  --settle S               verify from S s after the last steady join (default 1)\n"
            "  --report FILE            also write the report here\n"
            "  --seed X                 identities and churn (default 1)\n"
            "  --name-prefix P          musician names are P s0, P c0, P z0 (default ld)\n"
            "  --rt-prio N              SCHED_FIFO priority of the sender thread (default 4, 0 = none)\n"
            "  --rx-rt-prio N           SCHED_FIFO priority of the receive threads (default 0: none)\n"
            "  --modulus M              code period, 2..32 (default 32); 31 also sees blocks of\n"
            "                           64 frames dropped or spliced out\n"
            "  --drift-ppm P            the sender's clock runs P ppm fast (negative: slow),\n"
            "                           -2000..2000 (default 0); the hub resamples it\n"
            "  -v, --verbose            events on stderr\n"
            "  -h, --help               this text\n"
            "Exit: 0 status=ok, 1 status=fail, 2 usage error or status=nohub.\n");
}

static int bad(const char *opt, const char *val)
{
    fprintf(stderr, "bbload: bad value '%s' for --%s\n", val, opt);
    return -1;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_options(int argc, char **argv)
{
    enum { O_HUB = 256, O_STEADY, O_RATE, O_MAX, O_SECONDS, O_DIE, O_CODEC, O_JITTER, O_REPORT,
           O_SEED, O_PREFIX, O_SETTLE, O_RTPRIO, O_MODULUS, O_SIGNAL, O_NOVERIFY, O_STEREO, O_DRIFT, O_RXRT };
    static const struct option opts[] = {
        {"hub", required_argument, 0, O_HUB},          {"steady", required_argument, 0, O_STEADY},
        {"churn-rate", required_argument, 0, O_RATE},  {"churn-max", required_argument, 0, O_MAX},
        {"seconds", required_argument, 0, O_SECONDS},  {"die-at", required_argument, 0, O_DIE},
        {"codec", required_argument, 0, O_CODEC},      {"jitter", required_argument, 0, O_JITTER},
        {"report", required_argument, 0, O_REPORT},    {"seed", required_argument, 0, O_SEED},
        {"name-prefix", required_argument, 0, O_PREFIX}, {"settle", required_argument, 0, O_SETTLE},
        {"rt-prio", required_argument, 0, O_RTPRIO},  {"modulus", required_argument, 0, O_MODULUS},
        {"signal", required_argument, 0, O_SIGNAL},    {"no-verify", no_argument, 0, O_NOVERIFY},
        {"stereo-mix", no_argument, 0, O_STEREO},      {"drift-ppm", required_argument, 0, O_DRIFT},
        {"rx-rt-prio", required_argument, 0, O_RXRT},
        {"verbose", no_argument, 0, 'v'},              {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    G.steady = 4;
    G.churn_max = 8;
    G.seconds = 10;
    G.settle = 1;
    G.jitter = 0xFFFF;
    G.seed = 1;
    G.rt_prio = 4; // beside the hub's network threads, below every JACK client (5)
    G.modulus = 32;
    G.codec = BB_CODEC_FLOAT;
    snprintf(G.prefix, sizeof G.prefix, "ld");
    bool have_hub = false;
    long l;
    optind = 1;
    for (int o; (o = getopt_long(argc, argv, "vh", opts, NULL)) != -1;) {
        switch (o) {
        case O_HUB: {
            char err[200];
            snprintf(G.hub_text, sizeof G.hub_text, "%s", optarg);
            if (bb_addr_parse(optarg, BB_DEFAULT_PORT, &G.hub, err, sizeof err) < 0) {
                fprintf(stderr, "bbload: --hub: %s\n", err);
                return -1;
            }
            have_hub = true;
            break;
        }
        case O_STEADY:
            if (parse_int(optarg, 0, BB_MAX_CLIENTS, &l) < 0)
                return bad("steady", optarg);
            G.steady = (int)l;
            break;
        case O_RATE:
            if (parse_double(optarg, 0, 10000, &G.churn_rate) < 0)
                return bad("churn-rate", optarg);
            break;
        case O_MAX:
            if (parse_int(optarg, 1, 256, &l) < 0)
                return bad("churn-max", optarg);
            G.churn_max = (int)l;
            break;
        case O_SECONDS:
            if (parse_double(optarg, 0.1, 86400, &G.seconds) < 0)
                return bad("seconds", optarg);
            break;
        case O_SETTLE:
            if (parse_double(optarg, 0, 3600, &G.settle) < 0)
                return bad("settle", optarg);
            break;
        case O_DIE: {
            char *colon = strchr(optarg, ':');
            if (!colon || G.ndie >= MAX_DIE_GROUPS)
                return bad("die-at", optarg);
            *colon = '\0';
            double t;
            int r1 = parse_double(optarg, 0, 86400, &t);
            int r2 = parse_int(colon + 1, 1, MAX_SLOTS, &l);
            *colon = ':';
            if (r1 < 0 || r2 < 0)
                return bad("die-at", optarg);
            G.die[G.ndie++] = (struct die_group){.at_s = t, .count = (int)l};
            break;
        }
        case O_CODEC:
            if (bb_codec_parse(optarg, &G.codec) < 0 ||
                !bb_codec_wire_frames(G.codec, RATE, 1))
                return bad("codec", optarg); // float, pcm16, pcm24, opus, opus-std
            break;
        case O_SIGNAL:
            if (strcmp(optarg, "tone") == 0)
                G.tone = true;
            else if (strcmp(optarg, "code") == 0)
                G.tone = false;
            else
                return bad("signal", optarg); // code or tone
            break;
        case O_NOVERIFY:
            G.no_verify = true;
            break;
        case O_STEREO:
            G.stereo_mix = true;
            break;
        case O_DRIFT:
            if (parse_double(optarg, -2000, 2000, &G.drift_ppm) < 0)
                return bad("drift-ppm", optarg);
            break;
        case O_JITTER:
            if (strcmp(optarg, "auto") == 0)
                G.jitter = 0xFFFF;
            else if (parse_int(optarg, 0, 4800, &l) < 0)
                return bad("jitter", optarg);
            else
                G.jitter = (unsigned)l;
            break;
        case O_REPORT:
            G.report_path = optarg;
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 0);
            if (errno || end == optarg || *end)
                return bad("seed", optarg);
            G.seed = v;
            break;
        }
        case O_PREFIX: {
            char clean[BB_NAME_MAX];
            if (strlen(optarg) > 20 ||
                (bb_sanitize_name(clean, sizeof clean, optarg), strcmp(clean, optarg) != 0))
                return bad("name-prefix", optarg); // 20 chars of [A-Za-z0-9._-] at most
            snprintf(G.prefix, sizeof G.prefix, "%s", optarg);
            break;
        }
        case O_MODULUS:
            if (parse_int(optarg, 2, 32, &l) < 0)
                return bad("modulus", optarg);
            G.modulus = (unsigned)l;
            break;
        case O_RTPRIO:
            if (parse_int(optarg, 0, 99, &l) < 0)
                return bad("rt-prio", optarg);
            G.rt_prio = (int)l;
            break;
        case O_RXRT:
            if (parse_int(optarg, 0, 99, &l) < 0)
                return bad("rx-rt-prio", optarg);
            G.rx_rt_prio = (int)l;
            break;
        case 'v':
            G.verbose = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bbload: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!have_hub) {
        fprintf(stderr, "bbload: --hub HOST:PORT is required\n");
        usage(stderr);
        return -1;
    }
    for (int i = 0; i < G.ndie; i++) {
        G.die[i].first = G.nzombies;
        G.nzombies += G.die[i].count;
        if (G.die[i].at_s >= G.seconds)
            fprintf(stderr, "bbload: warning: --die-at %.3g is not before the end of the run\n",
                    G.die[i].at_s);
        else if (G.die[i].at_s + 2.0 > G.seconds)
            fprintf(stderr, "bbload: warning: zombies dying at %.3g s may not be dropped before "
                            "the run ends at %.3g s\n", G.die[i].at_s, G.seconds);
    }
    G.verify = G.codec == BB_CODEC_FLOAT && !G.tone && !G.no_verify;
    // Steady musicians only, nothing checked: nothing needs the arrival time
    // to the millisecond, so receive in batches (about 7 datagrams a call)
    // and let the main thread (pings, join retries) pass less often: on a
    // virtual machine every wake-up costs more than the datagrams it reads.
    G.ctl_tick_ns = CTL_TICK_NS;
    if (!G.verify && G.nzombies == 0 && G.churn_rate == 0) {
        G.rx_batch_ns = 10 * MS;
        G.ctl_tick_ns = 10 * MS;
    }
    G.up_frames = bb_codec_wire_frames(G.codec, RATE, 1);
    int churn_slots = G.churn_rate > 0 ? G.churn_max * 2 + 8 : 0;
    if (G.steady + G.nzombies + churn_slots > MAX_SLOTS) {
        fprintf(stderr, "bbload: too many musicians (at most %d sockets)\n", MAX_SLOTS);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ audio loops */

/// Sample t (0 <= t < LOOP_SAMPLES) of what the musician in this slot sends.
static float loop_sample(int slot, unsigned t)
{
    if (G.tone) {
        double f = 200.0 + 10.0 * slot; // a multiple of 10 Hz: whole periods in 0.1 s
        return TONE_GAIN * (float)sin(2.0 * M_PI * f * (double)t / RATE);
    }
    if (slot < G.steady && slot < MAX_CODES)
        return ldexpf((float)((t % G.modulus) << (5 * slot)), -20);
    return 0.0f;
}

/// Encodes every slot's loop before the run (nothing for float + code, which
/// is computed as it goes). Silent slots share one loop.
static int build_loops(char *err, size_t err_size)
{
    if (G.codec == BB_CODEC_FLOAT && !G.tone)
        return 0;
    const unsigned fr = G.up_frames, n = LOOP_SAMPLES / fr;
    const size_t maxb = bb_codec_max_bytes(G.codec, 1, fr);
    const unsigned prime = n < 16 ? n : 16;
    int rc = -1, zero_slot = -1;
    struct bb_encoder *e = NULL;
    float *pcm = malloc(fr * sizeof *pcm);
    uint8_t *tmp = malloc(maxb);
    G.loops = calloc((size_t)G.nslots, sizeof *G.loops);
    if (!pcm || !tmp || !G.loops || n == 0 || LOOP_SAMPLES % fr) {
        snprintf(err, err_size, "out of memory (or %u frames do not divide %u)", fr,
                 LOOP_SAMPLES);
        goto out;
    }
    for (int s = 0; s < G.nslots; s++) {
        struct loop *lp = &G.loops[s];
        bool silent = !G.tone && !(s < G.steady && s < MAX_CODES);
        if (silent && zero_slot >= 0) {
            *lp = G.loops[zero_slot];
            lp->shared = true;
            continue;
        }
        e = bb_encoder_new(G.codec, RATE, 1, fr, 0, err, err_size);
        lp->off = malloc((n + 1) * sizeof *lp->off);
        lp->data = malloc(n * maxb);
        if (!e || !lp->off || !lp->data) {
            if (e)
                snprintf(err, err_size, "out of memory");
            goto out;
        }
        lp->off[0] = 0;
        // Pass 0 primes the encoder with the loop's last packets, so that its
        // state where the loop wraps round is about what it was at the start.
        for (int pass = 0; pass < 2; pass++) {
            for (unsigned i = pass ? 0 : n - prime; i < n; i++) {
                for (unsigned f = 0; f < fr; f++)
                    pcm[f] = loop_sample(s, i * fr + f);
                int len = bb_encode(e, pcm, tmp, maxb);
                if (len < 0) {
                    snprintf(err, err_size, "%s: the encoder failed", bb_codec_name(G.codec));
                    goto out;
                }
                if (pass) {
                    memcpy(lp->data + lp->off[i], tmp, (size_t)len);
                    lp->off[i + 1] = lp->off[i] + (uint32_t)len;
                }
            }
        }
        bb_encoder_free(e);
        e = NULL;
        uint8_t *shrunk = realloc(lp->data, lp->off[n] ? lp->off[n] : 1);
        if (shrunk)
            lp->data = shrunk;
        lp->n = n;
        if (silent)
            zero_slot = s;
    }
    rc = 0;
out:
    bb_encoder_free(e);
    free(pcm);
    free(tmp);
    return rc;
}

static void free_loops(void)
{
    for (int s = 0; G.loops && s < G.nslots; s++)
        if (!G.loops[s].shared) {
            free(G.loops[s].data);
            free(G.loops[s].off);
        }
    free(G.loops);
    G.loops = NULL;
}

/* ------------------------------------------------------------ main */

/// Starts a thread, SCHED_FIFO at prio when prio > 0 and allowed, else an
/// ordinary one. Returns whether it started.
static bool start_thread(pthread_t *th, void *(*fn)(void *), void *arg, int prio)
{
    if (prio > 0) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        struct sched_param sp = {.sched_priority = prio};
        pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
        pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
        pthread_attr_setschedparam(&attr, &sp);
        int rc = pthread_create(th, &attr, fn, arg);
        pthread_attr_destroy(&attr);
        if (rc == 0)
            return true;
    }
    return pthread_create(th, NULL, fn, arg) == 0;
}

int main(int argc, char **argv)
{
    if (parse_options(argc, argv) < 0)
        return 2;
    // The room password as bandbridge join takes it from the environment;
    // none is the empty password of a hub started --open.
    const char *pw = getenv("BANDBRIDGE_PASSWORD");
    if (bb_crypto_init() < 0 || (pw && strlen(pw) >= sizeof G.password)) {
        fprintf(stderr, "bbload: cannot set up the handshake\n");
        return 2;
    }
    snprintf(G.password, sizeof G.password, "%s", pw ? pw : "");
    pthread_mutex_init(&G.rtt_lock, NULL);
    g_churn_rng = G.seed * 0x2545F4914F6CDD1Dull + 0x1234567ull;
    G.ncode = G.steady < MAX_CODES ? G.steady : MAX_CODES;

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int churn_slots = G.churn_rate > 0 ? G.churn_max * 2 + 8 : 0;
    G.nslots = G.steady + G.nzombies + churn_slots;
    G.churn_first = G.steady + G.nzombies;
    G.nrx = (G.nslots + SLOTS_PER_RX - 1) / SLOTS_PER_RX;
    if (G.nrx == 0)
        G.nrx = 1;
    G.rx = calloc((size_t)G.nrx, sizeof *G.rx);
    if (!G.rx) {
        fprintf(stderr, "bbload: out of memory\n");
        return 2;
    }
    for (int i = 0; i < G.nrx; i++) {
        G.rx[i].first = i * SLOTS_PER_RX;
        G.rx[i].count = G.nslots - G.rx[i].first < SLOTS_PER_RX ? G.nslots - G.rx[i].first
                                                                : SLOTS_PER_RX;
        if (G.rx[i].count < 0)
            G.rx[i].count = 0;
        G.rx[i].wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (G.rx[i].wake_fd < 0) {
            fprintf(stderr, "bbload: eventfd: %s\n", strerror(errno));
            return 2;
        }
    }

    char err[200];
    if (build_loops(err, sizeof err) < 0) {
        fprintf(stderr, "bbload: encoding the audio to send: %s\n", err);
        return 2;
    }
    prewarm_room();
    G.t0 = bb_now_ns();
    for (int i = 0; i < G.steady; i++) {
        struct mus *m = mus_new(STEADY, i, err, sizeof err);
        if (!m) {
            fprintf(stderr, "bbload: %s\n", err);
            return 2;
        }
        atomic_store(&G.slots[i], m);
    }
    for (int i = 0; i < G.nzombies; i++) {
        struct mus *m = mus_new(ZOMBIE, i, err, sizeof err);
        if (!m) {
            fprintf(stderr, "bbload: %s (raise the open file limit?)\n", err);
            return 2;
        }
        atomic_store(&G.slots[G.steady + i], m);
    }

    atomic_store(&G.running, 1);
    // --rx-rt-prio: the receivers stand for the musicians' own machines,
    // which a busy hub machine does not slow down either (bench/scale.sh:
    // at a load of 20 their backlog reached seconds and the kernel dropped
    // the hub's mixes on their sockets).
    for (int i = 0; i < G.nrx; i++)
        if (!start_thread(&G.rx[i].th, rx_main, &G.rx[i], G.rx_rt_prio)) {
            fprintf(stderr, "bbload: cannot start a receive thread\n");
            return 2;
        }
    // The sender is the musicians' clock: the machines it stands for do not
    // stop when the hub's machine is busy, so it runs SCHED_FIFO when allowed
    // (default 6: above the hub's network threads and JACK client threads at
    // 5, below jackd's driver at 10), else as an ordinary thread.
    if (G.rt_prio > 0) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        struct sched_param sp = {.sched_priority = G.rt_prio};
        pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
        pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
        pthread_attr_setschedparam(&attr, &sp);
        G.sender_rt = pthread_create(&G.tx_th, &attr, tx_main, NULL) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!G.sender_rt && pthread_create(&G.tx_th, NULL, tx_main, NULL) != 0) {
        fprintf(stderr, "bbload: cannot start the sender thread\n");
        return 2;
    }

    uint64_t now = bb_now_ns();
    for (int s = 0; s < G.steady + G.nzombies; s++)
        start_join(atomic_load(&G.slots[s]), now);
    vlog("%d steady, %d zombies joining %s", G.steady, G.nzombies, G.hub_text);

    const uint64_t end_ns = G.t0 + (uint64_t)(G.seconds * 1e9);
    uint64_t next_churn = G.churn_rate > 0 ? now + next_interval_ns(G.churn_rate) : UINT64_MAX;
    // No datagram at all from the hub within 5 s (or the run): nobody is there.
    const uint64_t nohub_ns = G.t0 + NOHUB_NS < end_ns ? G.t0 + NOHUB_NS : end_ns;
    bool nohub = false;
    uint64_t tick = now;
    while (!g_stop) {
        tick += G.ctl_tick_ns;
        sleep_until(tick);
        now = bb_now_ns();
        if (tick + 50 * MS < now)
            tick = now; // a long stall: do not try to catch up
        if (!atomic_load(&G.heard_hub) && now >= nohub_ns) {
            nohub = true;
            break;
        }
        if (now >= end_ns)
            break;
        uint64_t lw;
        if (!atomic_load(&G.verify_from_ns) && G.steady > 0 && all_steady_live(&lw)) {
            uint64_t from = lw + (uint64_t)(G.settle * 1e9);
            atomic_store(&G.verify_from_ns, from > 0 ? from : 1);
            vlog("all %d steady musicians live; verifying from +%.3f s", G.steady,
                 (double)(from - G.t0) / 1e9);
        }
        for (int i = 0; i < G.ndie; i++) {
            struct die_group *d = &G.die[i];
            if (d->fired || now < G.t0 + (uint64_t)(d->at_s * 1e9))
                continue;
            d->fired = true;
            int died = 0;
            for (int z = 0; z < d->count; z++) {
                struct mus *m = atomic_load(&G.slots[G.steady + d->first + z]);
                if (mstate(m) == M_LIVE) {
                    kill_musician(m, now);
                    died++;
                }
            }
            struct timespec rt;
            clock_gettime(CLOCK_REALTIME, &rt);
            // The wall-clock time lets a script time what follows (ports going).
            vlog("%d of %d zombies die at realtime %lld.%06ld", died, d->count,
                 (long long)rt.tv_sec, rt.tv_nsec / 1000);
        }
        while (now >= next_churn) {
            churn_event(now);
            next_churn += next_interval_ns(G.churn_rate);
        }
        ctl_pass(now, false);
    }

    // The end: stop verifying first (the hub fades out whoever leaves, which
    // would change every mix), then LEAVE for every live musician.
    now = bb_now_ns();
    atomic_store(&G.verify_end_ns, now);
    if (!nohub) {
        for (int s = 0; s < G.nslots; s++) {
            struct mus *m = atomic_load_explicit(&G.slots[s], memory_order_acquire);
            if (m && !atomic_load(&m->retire))
                start_leave(m, now);
        }
        const uint64_t until = now + END_WAIT_NS;
        tick = now;
        while (leaves_pending() && now < until) {
            tick += CTL_TICK_NS;
            sleep_until(tick);
            now = bb_now_ns();
            ctl_pass(now, true);
        }
    }
    atomic_store(&G.running, 0);
    pthread_join(G.tx_th, NULL);
    for (int i = 0; i < G.nrx; i++) {
        uint64_t one = 1;
        if (write(G.rx[i].wake_fd, &one, sizeof one) < 0) {
            // it wakes up by its poll timeout
        }
        pthread_join(G.rx[i].th, NULL);
        close(G.rx[i].wake_fd);
    }
    int rc = report(nohub);
    for (int i = 0; i < G.nall; i++) {
        if (G.all[i]->fd >= 0)
            close(G.all[i]->fd);
        free(G.all[i]);
    }
    free(G.all);
    free(G.rx);
    free(G.rtt);
    free_loops();
    return rc;
}
