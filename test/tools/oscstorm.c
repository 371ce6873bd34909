// SPDX-License-Identifier: GPL-2.0-or-later
// oscstorm.c: an OSC load tool for the hub (`bandbridge serve`): several
// controllers (tablets) move faders, pans and mutes as fast as asked.
//
//   oscstorm --hub HOST:PORT --mix NAME... --source NAME... [--controllers N]
//            [--rate R] [--seconds S] [--subscribe] [--seed X] [--final FILE] [-v]
//
// Each controller is its own liblo server on its own UDP port (so the hub
// sees separate tablets) and sends from that port. The addresses are every
// /mix/<mix>/ch/<source>/<gain|fader|pan|mute> of the --mix and --source
// names; message k picks one of them and a value valid for it (gain -40..+6
// dB f, fader 0..1 f, pan -1..1 f, mute 0|1 i) from a seeded xorshift64*,
// so a rerun sends the same messages in the same order. Messages go out
// round robin over the controllers, at --rate a second in all (R/N each),
// from one thread: message k is due at t0 + k/R (absolute CLOCK_MONOTONIC
// deadlines, clock_nanosleep TIMER_ABSTIME, so no drift). When the thread
// wakes late it sends what is due back to back, but never more than
// CATCHUP_NS worth: older deadlines are skipped (counted as skipped, and
// they lower the achieved rate), so a stall never turns into a burst. Between
// sends every controller drains its socket without blocking
// (lo_server_recv_noblock). One thread also means one global order: the
// hub, reading one socket, applies the messages in the order they were sent,
// which is what makes --final meaningful.
//
// --subscribe: every controller registers for feedback (/subscribe i:10 i:0)
// before the first message, waits up to 1 s for the acknowledgement, and
// renews every 5 s. The hub feeds every change back to every subscribed
// controller, a gain with its fader and a fader with its gain:
// feedback_expected is that count (2 per gain or fader message, 1 per pan
// or mute, times the controllers whose subscription was acknowledged).
//
// At the end every controller sends /info as a barrier (the hub answers in
// order, so once every /info answer is in, so is every answer to what was
// sent before it) and the tool waits up to 1 s for those answers and, with
// --subscribe, for feedback_expected feedback. Then it prints one line:
//
//   sent=N errors=N feedback=N replies=N seconds=F rate=F planned=N skipped=N
//   send_failed=N late_max_ms=F feedback_expected=N control=N subscribed=N
//
//   sent       storm messages sent (sendto succeeded)
//   errors     /error answers received (the first one is printed on stderr)
//   feedback   /mix/... and /send/... messages received (changes fed back)
//   replies    everything else received: /subscribe acknowledgements,
//              /clients, /joined, /left, /info, /error...
//   seconds    from the first deadline to the end of the last message's slot
//   rate       sent / seconds (achieved messages a second)
//   planned    rate x seconds asked for; skipped: deadlines dropped after a stall
//   control    other messages sent to the hub (/subscribe, renewals, /info):
//              the hub handles sent + control messages in all
//
// --final FILE writes, for every mix/source pair and each of its three
// settings (level: gain or fader, whichever was set last; pan; mute), the
// last address set and its value, "ADDRESS VALUE" a line: what a query of
// that address must answer after the storm.
//
// Exit: 0 if every storm message was sent and no /error arrived, 1 otherwise:
// also when the hub did not answer the /info barrier (then nobody knows
// whether an /error was on its way) or, with --subscribe, did not
// acknowledge every subscription, or when stopped by a signal; 2 on a usage
// error or when the sockets cannot be opened.
#include <errno.h>
#include <getopt.h>
#include <lo/lo.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "osc_arg.h"

#define NS           1000000000ull
#define MS           1000000ull
#define CATCHUP_NS   (20 * MS)  // at most 20 ms worth of messages back to back
#define RENEW_NS     (5000 * MS)
#define LEASE_S      10
#define WAIT_NS      (1000 * MS) // for acknowledgements, and stragglers at the end
#define MAX_CTL      16          // the hub registers 16 controllers at most
#define MAX_NAMES    64
#define NAME_MAX_LEN 40
#define RCVBUF       (4 << 20)   // feedback is 1.5 x 3 times the storm: room for a stall

enum param { P_GAIN, P_FADER, P_PAN, P_MUTE, P_COUNT };
static const char *const param_names[P_COUNT] = {"gain", "fader", "pan", "mute"};

struct ctl {
    lo_server srv;
    int       port;
    uint64_t  feedback, replies, errors;
    bool      sub_acked;   // an /subscribe acknowledgement arrived
    bool      info_acked;  // the /info barrier was answered
};

/// Last value set for one setting of one mix/source pair (--final).
struct last {
    int   addr;  // index into G.addr, -1: never set
    float f;
    int   i;
};

static struct {
    // options
    const char *host, *port;
    int         nctl;
    double      rate, seconds;
    const char *mix[MAX_NAMES], *src[MAX_NAMES];
    int         nmix, nsrc;
    bool        subscribe, verbose;
    uint64_t    seed;
    const char *final_path;

    struct ctl    ctl[MAX_CTL];
    lo_address    hub;
    char        **addr;   // naddr = nmix * nsrc * P_COUNT; pair p, param q at p * P_COUNT + q
    int           naddr;
    struct last  *last;   // per pair: [0] level, [1] pan, [2] mute
    bool          first_error_shown;
    uint64_t      send_failed, control;
} G;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / NS), .tv_nsec = (long)(t % NS)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !g_stop) {
    }
}

// xorshift64* (Vigna): small, fast and deterministic.
static uint64_t rng_state;
static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}
/// Uniform in [0, 1].
static double rng_unit(void)
{
    return (double)(rng_next() >> 11) * (1.0 / 9007199254740991.0);
}

static void liblo_error(int num, const char *msg, const char *where)
{
    fprintf(stderr, "oscstorm: liblo error %d: %s%s%s\n", num, msg, where ? " at " : "",
            where ? where : "");
}

static int on_message(const char *path, const char *types, lo_arg **argv, int argc,
                      lo_message m, void *user)
{
    (void)m;
    struct ctl *c = user;
    if (strcmp(path, "/error") == 0) {
        c->errors++;
        c->replies++;
        if (!G.first_error_shown) {
            G.first_error_shown = true;
            bool ok = argc >= 2 && (types[0] == 's' || types[0] == 'S') &&
                      (types[1] == 's' || types[1] == 'S');
            fprintf(stderr, "oscstorm: first /error (controller port %d): %s: %s\n", c->port,
                    ok ? bb_arg_str(argv[0]) : "?",
                    ok ? bb_arg_str(argv[1]) : "(malformed /error)");
        }
    } else if (strncmp(path, "/mix/", 5) == 0 || strncmp(path, "/send/", 6) == 0) {
        c->feedback++;
    } else {
        c->replies++;
        if (strcmp(path, "/subscribe") == 0)
            c->sub_acked = true;
        else if (strcmp(path, "/info") == 0)
            c->info_acked = true;
    }
    return 0;
}

static void drain_all(void)
{
    for (int i = 0; i < G.nctl; i++)
        while (lo_server_recv_noblock(G.ctl[i].srv, 0) > 0) {
        }
}

static uint64_t sum(size_t off)
{
    uint64_t n = 0;
    for (int i = 0; i < G.nctl; i++)
        n += *(const uint64_t *)((const char *)&G.ctl[i] + off);
    return n;
}
#define SUM(field) sum(offsetof(struct ctl, field))

static void send_control(struct ctl *c, const char *path, const char *types, int a, int b)
{
    lo_message m = lo_message_new();
    if (types[0] == 'i')
        lo_message_add_int32(m, a);
    if (types[0] && types[1] == 'i')
        lo_message_add_int32(m, b);
    if (lo_send_message_from(G.hub, c->srv, path, m) < 0)
        fprintf(stderr, "oscstorm: cannot send %s to %s:%s: %s\n", path, G.host, G.port,
                lo_address_errstr(G.hub));
    else
        G.control++;
    lo_message_free(m);
}

static void subscribe_all(void)
{
    for (int i = 0; i < G.nctl; i++)
        send_control(&G.ctl[i], "/subscribe", "ii", LEASE_S, 0);
}

static int open_controllers(void)
{
    for (int i = 0; i < G.nctl; i++) {
        struct ctl *c = &G.ctl[i];
        c->srv = lo_server_new_with_proto(NULL, LO_UDP, liblo_error);
        if (!c->srv) {
            fprintf(stderr, "oscstorm: cannot open a UDP port for controller %d\n", i + 1);
            return -1;
        }
        c->port = lo_server_get_port(c->srv);
        int fd = lo_server_get_socket_fd(c->srv), sz = RCVBUF;
        // Root may go past rmem_max; anyone else gets what rmem_max allows.
        if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        lo_server_add_method(c->srv, NULL, NULL, on_message, c);
    }
    return 0;
}

static int build_addresses(void)
{
    G.naddr = G.nmix * G.nsrc * P_COUNT;
    G.addr = calloc((size_t)G.naddr, sizeof *G.addr);
    G.last = calloc((size_t)(G.nmix * G.nsrc * 3), sizeof *G.last);
    if (!G.addr || !G.last)
        return -1;
    for (int mi = 0; mi < G.nmix; mi++)
        for (int si = 0; si < G.nsrc; si++)
            for (int q = 0; q < P_COUNT; q++) {
                int k = (mi * G.nsrc + si) * P_COUNT + q;
                size_t n = strlen(G.mix[mi]) + strlen(G.src[si]) + 16;
                G.addr[k] = malloc(n);
                if (!G.addr[k])
                    return -1;
                snprintf(G.addr[k], n, "/mix/%s/ch/%s/%s", G.mix[mi], G.src[si], param_names[q]);
            }
    for (int k = 0; k < G.nmix * G.nsrc * 3; k++)
        G.last[k].addr = -1;
    return 0;
}

/// Sends storm message number k (its address and value drawn from the PRNG).
/// Returns its feedback weight (messages the hub feeds back per controller).
static int send_storm(uint64_t k, uint64_t *sent)
{
    struct ctl *c = &G.ctl[k % (uint64_t)G.nctl];
    int a = (int)(rng_next() % (uint64_t)G.naddr);
    int pair = a / P_COUNT, q = a % P_COUNT;
    double u = rng_unit();
    lo_message m = lo_message_new();
    struct last v = {.addr = a};
    switch (q) {
    case P_GAIN:
        v.f = (float)(-40.0 + 46.0 * u);
        break;
    case P_FADER:
        v.f = (float)u;
        break;
    case P_PAN:
        v.f = (float)(-1.0 + 2.0 * u);
        break;
    default:
        v.i = u >= 0.5;
        break;
    }
    if (q == P_MUTE)
        lo_message_add_int32(m, v.i);
    else
        lo_message_add_float(m, v.f);
    if (lo_send_message_from(G.hub, c->srv, G.addr[a], m) < 0) {
        if (G.send_failed++ == 0)
            fprintf(stderr, "oscstorm: cannot send %s to %s:%s: %s\n", G.addr[a], G.host, G.port,
                    lo_address_errstr(G.hub));
    } else {
        (*sent)++;
        int group = q == P_GAIN || q == P_FADER ? 0 : q == P_PAN ? 1 : 2;
        G.last[pair * 3 + group] = v;
    }
    lo_message_free(m);
    return q == P_GAIN || q == P_FADER ? 2 : 1;
}

static int write_final(void)
{
    FILE *f = fopen(G.final_path, "w");
    if (!f) {
        fprintf(stderr, "oscstorm: cannot write %s: %s\n", G.final_path, strerror(errno));
        return -1;
    }
    for (int k = 0; k < G.nmix * G.nsrc * 3; k++) {
        const struct last *l = &G.last[k];
        if (l->addr < 0)
            continue;
        if (l->addr % P_COUNT == P_MUTE)
            fprintf(f, "%s %d\n", G.addr[l->addr], l->i);
        else
            fprintf(f, "%s %.9g\n", G.addr[l->addr], (double)l->f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------ options */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: oscstorm --hub HOST:PORT --mix NAME... --source NAME... [options]\n"
            "Move mix settings of a running `bandbridge serve` over OSC, from several\n"
            "controllers at a steady rate: /mix/<mix>/ch/<source>/<gain|fader|pan|mute>.\n\n"
            "  --hub HOST:PORT      the hub's OSC port (required)\n"
            "  --mix NAME           a mix to change (repeatable; a musician or main)\n"
            "  --source NAME        a source to change in them (repeatable; a musician,\n"
            "                       name_k or in_k)\n"
            "  --controllers N      controllers, each on its own UDP port (default 3, 1..%d)\n"
            "  --rate R             messages a second in all, split evenly (default 1000)\n"
            "  --seconds S          length of the storm (default 10)\n"
            "  --subscribe          every controller registers for feedback (/subscribe i:%d\n"
            "                       i:0, renewed every 5 s) and counts what comes back\n"
            "  --seed X             the messages' PRNG seed (default 1)\n"
            "  --final FILE         write the last value set of every setting, \"ADDRESS VALUE\"\n"
            "  -v, --verbose        per-controller counts on stderr\n"
            "  -h, --help           this text\n"
            "Values: gain -40..+6 dB (f), fader 0..1 (f), pan -1..1 (f), mute 0|1 (i).\n"
            "Pacing: absolute deadlines; after a stall at most 20 ms worth of messages\n"
            "go out back to back, older ones are skipped (and lower the rate).\n"
            "Prints: sent= errors= feedback= replies= seconds= rate= planned= skipped=\n"
            "        send_failed= late_max_ms= feedback_expected= control= subscribed=\n"
            "Exit: 0 every message sent, no /error, the hub answered (/info after the storm;\n"
            "      with --subscribe every subscription acknowledged); 1 otherwise; 2 usage error.\n",
            MAX_CTL, LEASE_S);
}

static int bad(const char *opt, const char *val)
{
    fprintf(stderr, "oscstorm: bad value '%s' for --%s\n", val, opt);
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

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < NAME_MAX_LEN && !strchr(s, '/') && !strchr(s, ' ');
}

static int parse_options(int argc, char **argv)
{
    enum { O_HUB = 256, O_CTL, O_RATE, O_SECONDS, O_MIX, O_SOURCE, O_SUB, O_SEED, O_FINAL };
    static const struct option opts[] = {
        {"hub", required_argument, 0, O_HUB},         {"controllers", required_argument, 0, O_CTL},
        {"rate", required_argument, 0, O_RATE},       {"seconds", required_argument, 0, O_SECONDS},
        {"mix", required_argument, 0, O_MIX},         {"source", required_argument, 0, O_SOURCE},
        {"subscribe", no_argument, 0, O_SUB},         {"seed", required_argument, 0, O_SEED},
        {"final", required_argument, 0, O_FINAL},     {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    static char host[256], port[8];
    G.nctl = 3;
    G.rate = 1000;
    G.seconds = 10;
    G.seed = 1;
    for (int o; (o = getopt_long(argc, argv, "vh", opts, NULL)) != -1;) {
        double d;
        switch (o) {
        case O_HUB: {
            const char *colon = strrchr(optarg, ':');
            size_t n = colon ? (size_t)(colon - optarg) : 0;
            if (!colon || n == 0 || n >= sizeof host || parse_double(colon + 1, 1, 65535, &d) < 0 ||
                d != (double)(int)d)
                return bad("hub", optarg);
            memcpy(host, optarg, n);
            host[n] = '\0';
            snprintf(port, sizeof port, "%d", (int)d);
            G.host = host;
            G.port = port;
            break;
        }
        case O_CTL:
            if (parse_double(optarg, 1, MAX_CTL, &d) < 0 || d != (double)(int)d)
                return bad("controllers", optarg);
            G.nctl = (int)d;
            break;
        case O_RATE:
            if (parse_double(optarg, 1, 100000, &G.rate) < 0)
                return bad("rate", optarg);
            break;
        case O_SECONDS:
            if (parse_double(optarg, 0.001, 3600, &G.seconds) < 0)
                return bad("seconds", optarg);
            break;
        case O_MIX:
            if (G.nmix >= MAX_NAMES || !name_ok(optarg))
                return bad("mix", optarg);
            G.mix[G.nmix++] = optarg;
            break;
        case O_SOURCE:
            if (G.nsrc >= MAX_NAMES || !name_ok(optarg))
                return bad("source", optarg);
            G.src[G.nsrc++] = optarg;
            break;
        case O_SUB:
            G.subscribe = true;
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 0);
            if (errno || end == optarg || *end)
                return bad("seed", optarg);
            G.seed = s;
            break;
        }
        case O_FINAL:
            G.final_path = optarg;
            break;
        case 'v':
            G.verbose = true;
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
        fprintf(stderr, "oscstorm: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!G.host || !G.nmix || !G.nsrc) {
        fprintf(stderr, "oscstorm: --hub, at least one --mix and at least one --source are "
                        "required (--help)\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_options(argc, argv) < 0)
        return 2;
    // Splitmix the seed, so that seeds 1, 2, 3 start far apart (and never at 0).
    uint64_t z = G.seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    rng_state = (z ^ (z >> 31)) | 1;

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    G.hub = lo_address_new(G.host, G.port);
    if (!G.hub || build_addresses() < 0 || open_controllers() < 0) {
        fprintf(stderr, "oscstorm: cannot set up (address %s:%s, or out of memory)\n", G.host,
                G.port);
        return 2;
    }

    // Subscriptions first, acknowledged before the first change, so that
    // every change is fed back to every controller that asked.
    int subscribed = 0, want_sub = G.subscribe ? G.nctl : 0;
    if (G.subscribe) {
        subscribe_all();
        uint64_t until = now_ns() + WAIT_NS;
        for (;;) {
            drain_all();
            subscribed = 0;
            for (int i = 0; i < G.nctl; i++)
                subscribed += G.ctl[i].sub_acked;
            if (subscribed == G.nctl || now_ns() >= until || g_stop)
                break;
            sleep_until(now_ns() + MS);
        }
        if (subscribed < G.nctl)
            fprintf(stderr, "oscstorm: only %d of %d controllers' subscriptions acknowledged\n",
                    subscribed, G.nctl);
    }

    const uint64_t planned = (uint64_t)(G.rate * G.seconds + 0.5);
    const double step = (double)NS / G.rate;
    const uint64_t t0 = now_ns() + 2 * MS;
    uint64_t next_renew = t0 + RENEW_NS;
    uint64_t k = 0, sent = 0, skipped = 0, weight = 0, late_max = 0, last_slot_end = t0;
    while (k < planned && !g_stop) {
        uint64_t due = t0 + (uint64_t)((double)k * step);
        uint64_t now = now_ns();
        if (G.subscribe && now >= next_renew) {
            subscribe_all(); // a renewal: same lease, same reply port
            next_renew += RENEW_NS;
        }
        if (now < due) {
            drain_all();
            sleep_until(due);
            continue;
        }
        if (now - due > CATCHUP_NS) {
            // A stall: skip the deadlines older than CATCHUP_NS.
            uint64_t kk = (uint64_t)((double)(now - CATCHUP_NS - t0) / step) + 1;
            if (kk > planned)
                kk = planned;
            if (kk > k) {
                skipped += kk - k;
                k = kk;
                continue;
            }
        }
        if (now - due > late_max)
            late_max = now - due;
        uint64_t before = sent;
        int w = send_storm(k, &sent);
        if (sent > before)
            weight += (uint64_t)w;
        k++;
        last_slot_end = t0 + (uint64_t)((double)k * step);
        drain_all();
    }
    uint64_t t_end = now_ns();
    if (last_slot_end > t_end)
        t_end = last_slot_end;

    // The barrier: /info from every controller, answered after everything
    // sent before it; then up to 1 s for it and the feedback.
    for (int i = 0; i < G.nctl; i++)
        send_control(&G.ctl[i], "/info", "", 0, 0);
    const uint64_t fb_expected = weight * (uint64_t)subscribed;
    uint64_t until = now_ns() + WAIT_NS;
    for (;;) {
        drain_all();
        bool done = SUM(feedback) >= fb_expected;
        for (int i = 0; i < G.nctl; i++)
            done = done && G.ctl[i].info_acked;
        if (done || now_ns() >= until)
            break;
        sleep_until(now_ns() + MS);
    }
    int missing = 0;
    for (int i = 0; i < G.nctl; i++)
        missing += !G.ctl[i].info_acked;
    if (missing)
        fprintf(stderr, "oscstorm: %d of %d controllers got no answer to /info within 1 s\n",
                missing, G.nctl);

    double secs = (double)(t_end - t0) / 1e9;
    if (G.verbose)
        for (int i = 0; i < G.nctl; i++)
            fprintf(stderr, "oscstorm: controller %d (port %d): feedback=%llu replies=%llu "
                            "errors=%llu subscribed=%d\n",
                    i + 1, G.ctl[i].port, (unsigned long long)G.ctl[i].feedback,
                    (unsigned long long)G.ctl[i].replies, (unsigned long long)G.ctl[i].errors,
                    G.ctl[i].sub_acked);
    printf("sent=%llu errors=%llu feedback=%llu replies=%llu seconds=%.3f rate=%.1f "
           "planned=%llu skipped=%llu send_failed=%llu late_max_ms=%.2f feedback_expected=%llu "
           "control=%llu subscribed=%d\n",
           (unsigned long long)sent, (unsigned long long)SUM(errors),
           (unsigned long long)SUM(feedback), (unsigned long long)SUM(replies), secs,
           secs > 0 ? (double)sent / secs : 0.0, (unsigned long long)planned,
           (unsigned long long)skipped, (unsigned long long)G.send_failed,
           (double)late_max / 1e6, (unsigned long long)fb_expected,
           (unsigned long long)G.control, subscribed);
    fflush(stdout);

    int rc = G.send_failed == 0 && SUM(errors) == 0 && !missing && subscribed == want_sub &&
                     !g_stop
                 ? 0
                 : 1;
    if (G.final_path && write_final() < 0)
        rc = 1;
    for (int i = 0; i < G.nctl; i++)
        lo_server_free(G.ctl[i].srv);
    lo_address_free(G.hub);
    for (int i = 0; i < G.naddr; i++)
        free(G.addr[i]);
    free(G.addr);
    free(G.last);
    return rc;
}
