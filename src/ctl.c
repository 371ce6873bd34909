// SPDX-License-Identifier: GPL-2.0-or-later
// ctl.c: `bandbridge ctl` and `bandbridge status`. ctl sends one OSC message to the hub and prints the
// reply's arguments on one line, so scripts can read and set any value:
//
//   bandbridge ctl /mix/bob/ch/alice/gain -6     set (prints nothing)
//   bandbridge ctl /mix/bob/ch/alice/gain        query: prints -6
//
// Arguments: an integer is sent as i, a number with '.' or 'e' as f,
// anything else as s. A set is answered by silence unless refused, so a set
// waits only a short while for an /error. Only the answer is printed:
// anything else that reaches the reply port (a lease's feedback) is not.
#include <getopt.h>
#include <lo/lo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb.h"
#include "ctl.h"
#include "osc_arg.h"

struct reply {
    int         done;
    int         error;
    const char *query; ///< the address sent
};

static void print_arg(char type, const lo_arg *a)
{
    switch (type) {
    case 'f':
        printf("%g", bb_arg_f32(a));
        break;
    case 'd':
        printf("%g", bb_arg_f64(a));
        break;
    case 'i':
        printf("%d", bb_arg_i32(a));
        break;
    case 'h':
        printf("%lld", (long long)bb_arg_i64(a));
        break;
    case 's':
    case 'S':
        printf("%s", bb_arg_str(a));
        break;
    case 'T':
        printf("1");
        break;
    case 'F':
        printf("0");
        break;
    default:
        printf("?");
    }
}

// Whether address a is the query's address q: the same, or the same but
// for leading zeros in a number (/slot/01/name is answered as
// /slot/1/name).
static int same_address(const char *a, const char *q)
{
    while (*a && *q) {
        if (*a >= '0' && *a <= '9' && *q >= '0' && *q <= '9' && a[-1] == '/') {
            // A component that starts with a digit in both (q starts with
            // '/', so a[-1] is there, and equals q[-1]): the numbers
            // compared without their leading zeros.
            const char *ea = a, *eq = q;
            while (*ea >= '0' && *ea <= '9')
                ea++;
            while (*eq >= '0' && *eq <= '9')
                eq++;
            while (*a == '0' && a + 1 < ea)
                a++;
            while (*q == '0' && q + 1 < eq)
                q++;
            if (ea - a != eq - q || strncmp(a, q, (size_t)(ea - a)) != 0)
                return 0;
            a = ea;
            q = eq;
            continue;
        }
        if (*a++ != *q++)
            return 0;
    }
    return *a == *q;
}

// Whether an /error's address (its first argument) is the query's: the
// hub and a join echo the address, cut to 196 bytes and "..." when longer;
// "?" when they could not read one (taken as ours: an /error is only ever
// an answer, never feedback).
static int error_is_ours(const char *echo, const char *query)
{
    size_t n = strlen(echo);
    if (strcmp(echo, "?") == 0 || strcmp(echo, query) == 0)
        return 1;
    return n > 3 && strcmp(echo + n - 3, "...") == 0 && strlen(query) > n - 3 &&
           strncmp(echo, query, n - 3) == 0;
}

// Only the answer to the query is printed: the reply port may be one that
// an earlier `ctl /subscribe` gave the hub (liblo picks it at random), and
// that lease's feedback, or a late answer to an earlier call, is ignored.
static int on_reply(const char *path, const char *types, lo_arg **argv, int argc, lo_message m,
                    void *user)
{
    (void)m;
    struct reply *r = user;
    if (strcmp(path, "/error") == 0) {
        int ok = argc >= 2 && (types[0] == 's' || types[0] == 'S') &&
                 (types[1] == 's' || types[1] == 'S');
        if (!ok || !error_is_ours(bb_arg_str(argv[0]), r->query))
            return 0;
        fprintf(stderr, "bandbridge ctl: %s: %s\n", bb_arg_str(argv[0]), bb_arg_str(argv[1]));
        r->error = 1;
        r->done = 1;
        return 0;
    }
    // An answer in several messages (/status: /status/client ... then
    // /status/end) is printed whole, each line with its address.
    size_t ql = strlen(r->query);
    int part = strncmp(path, r->query, ql) == 0 && path[ql] == '/';
    if (!part && !same_address(path, r->query))
        return 0; // not about the query
    if (part)
        printf("%s%s", path, argc ? " " : "");
    for (int i = 0; i < argc; i++) {
        if (i)
            putchar(' ');
        print_arg(types[i], argv[i]);
    }
    putchar('\n');
    if (!part || strcmp(path + ql, "/end") == 0)
        r->done = 1;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bandbridge ctl [--host HOST] [--port PORT] [--timeout S] ADDRESS [ARG...]\n"
               "Send one OSC message to a hub and print its reply (see bandbridge-osc(7)).\n"
               "  --host HOST   the hub (default 127.0.0.1)\n"
               "  --port PORT   its OSC port (default %d)\n"
               "  --timeout S   how long to wait for the answer to a query (default 1)\n",
            BB_DEFAULT_PORT + 1);
}

/// The hub both commands talk to: --host and --port.
struct hub_target {
    const char *host;
    char        port[8];
};

static void target_init(struct hub_target *t)
{
    t->host = "127.0.0.1";
    snprintf(t->port, sizeof t->port, "%d", BB_DEFAULT_PORT + 1);
}

// Takes option o if it is --host or --port; returns whether it did.
static int target_opt(struct hub_target *t, int o, const char *arg)
{
    if (o == 'H')
        t->host = arg;
    else if (o == 'p')
        snprintf(t->port, sizeof t->port, "%s", arg);
    return o == 'H' || o == 'p';
}

// A UDP server on a port of our own, where the hub's answers come. liblo
// (0.31) picks the port as 10000 + (rand() + time()) % 10000: unseeded,
// every call within the same second would get the same one, and so hear
// the feedback of a lease an earlier `ctl /subscribe` took there.
static lo_server reply_server(void)
{
    srand((unsigned)(getpid() ^ bb_now_ns()));
    return lo_server_new(NULL, NULL);
}

// With BANDBRIDGE_OSC_PASSWORD set, /auth goes first from the same socket:
// the hub grants a password to an address and port, and answers nothing
// but /info without it. It reads the socket in order, so no wait is needed;
// a wrong password's /error names /auth, not the query, and the query's
// own refusal is what gets printed.
static void send_auth(lo_address addr, lo_server srv)
{
    const char *pw = getenv("BANDBRIDGE_OSC_PASSWORD");
    if (pw && *pw)
        lo_send_from(addr, srv, LO_TT_IMMEDIATE, "/auth", "s", pw);
}

int bb_ctl_main(int argc, char **argv)
{
    static const struct option opts[] = {{"host", required_argument, 0, 'H'},
                                         {"port", required_argument, 0, 'p'},
                                         {"timeout", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct hub_target tg;
    target_init(&tg);
    const char *host = tg.host, *port = tg.port;
    double timeout = 1.0;
    optind = 1;
    for (int o; (o = getopt_long(argc, argv, "+H:p:t:h", opts, NULL)) != -1;) {
        if (target_opt(&tg, o, optarg)) {
            host = tg.host;
            continue;
        }
        switch (o) {
        case 't':
            timeout = atof(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc || argv[optind][0] != '/') {
        usage(stderr);
        return 2;
    }
    const char *path = argv[optind++];
    lo_message m = lo_message_new();
    for (int i = optind; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        long iv = strtol(a, &end, 10);
        if (*a && !*end) {
            lo_message_add_int32(m, (int32_t)iv);
            continue;
        }
        double dv = strtod(a, &end);
        if (*a && !*end)
            lo_message_add_float(m, (float)dv);
        else
            lo_message_add_string(m, a);
    }
    int is_query = optind == argc;
    struct reply r = {0, 0, path};
    lo_server srv = reply_server();
    lo_address addr = lo_address_new(host, port);
    if (!srv || !addr) {
        fprintf(stderr, "bandbridge ctl: cannot open a UDP socket\n");
        return 3;
    }
    lo_server_add_method(srv, NULL, NULL, on_reply, &r);
    send_auth(addr, srv);
    if (lo_send_message_from(addr, srv, path, m) < 0) {
        fprintf(stderr, "bandbridge ctl: cannot send to %s:%s: %s\n", host, port,
                lo_address_errstr(addr));
        return 3;
    }
    // A set is silent unless refused: wait briefly for an /error only.
    int wait_ms = is_query ? (int)(timeout * 1000) : 200;
    uint64_t deadline = bb_now_ns() + (uint64_t)wait_ms * 1000000u;
    while (!r.done) {
        uint64_t now = bb_now_ns();
        if (now >= deadline)
            break;
        lo_server_recv_noblock(srv, (int)((deadline - now) / 1000000) + 1);
    }
    lo_message_free(m);
    lo_address_free(addr);
    lo_server_free(srv);
    if (r.error)
        return 1;
    if (!r.done && is_query) {
        fprintf(stderr, "bandbridge ctl: no answer from %s:%s\n", host, port);
        return 3;
    }
    return 0;
}

// ---- bandbridge status ----------------------------------------------------

#define STATUS_MAX 64

struct status_row {
    int   slot, channels, fill, target;
    char  name[40], addr[64], codec[16];
    float rtt_ms, loss, peak_db;
    long long underruns;
    int   have_lat, period, hub_period, lat_fill, codec_frames; ///< /status/latency
    int   lat_peer_fill; ///< the musician's own jitter buffer (their PONGs), -1 unknown
    float lat_ms;
};

struct status_reply {
    struct status_row rows[STATUS_MAX];
    int               n, done, error, have_info;
    int               rate, period;
    char              version[64];
    int               rec_answered, recording, take; ///< /record
    char              rec_dir[256];
};

static int on_status(const char *path, const char *types, lo_arg **argv, int argc, lo_message m,
                     void *user)
{
    (void)m;
    struct status_reply *r = user;
    if (strcmp(path, "/status/client") == 0 && argc >= 11 &&
        strncmp(types, "isssifiiffh", 11) == 0 && r->n < STATUS_MAX) {
        struct status_row *w = &r->rows[r->n++];
        w->slot = bb_arg_i32(argv[0]);
        snprintf(w->name, sizeof w->name, "%s", bb_arg_str(argv[1]));
        snprintf(w->addr, sizeof w->addr, "%s", bb_arg_str(argv[2]));
        snprintf(w->codec, sizeof w->codec, "%s", bb_arg_str(argv[3]));
        w->channels = bb_arg_i32(argv[4]);
        w->rtt_ms = bb_arg_f32(argv[5]);
        w->fill = bb_arg_i32(argv[6]);
        w->target = bb_arg_i32(argv[7]);
        w->loss = bb_arg_f32(argv[8]);
        w->peak_db = bb_arg_f32(argv[9]);
        w->underruns = (long long)bb_arg_i64(argv[10]);
    } else if (strcmp(path, "/status/latency") == 0 && argc >= 8 &&
               strncmp(types, "isfiiiif", 8) == 0) {
        // After its musician's /status/client: the same slot, the last row.
        for (int i = r->n - 1; i >= 0; i--)
            if (r->rows[i].slot == bb_arg_i32(argv[0])) {
                struct status_row *w = &r->rows[i];
                w->have_lat = 1;
                w->period = bb_arg_i32(argv[3]);
                w->hub_period = bb_arg_i32(argv[4]);
                w->lat_fill = bb_arg_i32(argv[5]);
                w->codec_frames = bb_arg_i32(argv[6]);
                w->lat_ms = bb_arg_f32(argv[7]);
                // A hub older than the measured depth sends eight fields.
                w->lat_peer_fill = argc >= 9 && types[8] == 'i' ? bb_arg_i32(argv[8]) : -1;
                break;
            }
    } else if (strcmp(path, "/record") == 0 && argc >= 3 && types[0] == 'i' && types[1] == 'i' &&
               types[2] == 's') {
        r->rec_answered = 1;
        r->recording = bb_arg_i32(argv[0]);
        r->take = bb_arg_i32(argv[1]);
        snprintf(r->rec_dir, sizeof r->rec_dir, "%s", bb_arg_str(argv[2]));
    } else if (strcmp(path, "/error") == 0 && argc >= 1 && types[0] == 's' &&
               strcmp(bb_arg_str(argv[0]), "/record") == 0) {
        // A hub older than the recorder: no recording line.
    } else if (strcmp(path, "/status/end") == 0) {
        r->done = 1;
    } else if (strcmp(path, "/info") == 0 && argc >= 3 && types[0] == 'i' && types[1] == 'i' &&
               types[2] == 's') {
        r->rate = bb_arg_i32(argv[0]);
        r->period = bb_arg_i32(argv[1]);
        snprintf(r->version, sizeof r->version, "%s", bb_arg_str(argv[2]));
        r->have_info = 1;
    } else if (strcmp(path, "/error") == 0) {
        int ok = argc >= 2 && types[0] == 's' && types[1] == 's';
        r->have_info = 1; // nothing more will come
        fprintf(stderr, "bandbridge status: %s: %s\n", ok ? bb_arg_str(argv[0]) : "?",
                ok ? bb_arg_str(argv[1]) : "refused");
        r->error = 1;
        r->done = 1;
    }
    return 0;
}

// One /status round: 0, 1 on an /error, 3 when the hub did not answer.
static int status_round(lo_server srv, lo_address addr, struct status_reply *r, double timeout)
{
    r->n = r->done = r->error = 0;
    send_auth(addr, srv);
    // /record first: its answer comes before /status/end.
    lo_send_from(addr, srv, LO_TT_IMMEDIATE, "/record", "");
    if (lo_send_from(addr, srv, LO_TT_IMMEDIATE, "/status", "") < 0 ||
        (!r->have_info && lo_send_from(addr, srv, LO_TT_IMMEDIATE, "/info", "") < 0))
        return 3;
    uint64_t deadline = bb_now_ns() + (uint64_t)(timeout * 1e9);
    while (!r->done || !r->have_info) {
        uint64_t now = bb_now_ns();
        if (now >= deadline)
            return 3;
        lo_server_recv_noblock(srv, (int)((deadline - now) / 1000000) + 1);
    }
    return r->error ? 1 : 0;
}

// The round trip of each musician (bandbridge(1), LATENCY) and the
// recorder's state, in 80 columns.
static void status_print_latency(FILE *f, const struct status_reply *r)
{
    int any = 0;
    for (int i = 0; i < r->n; i++)
        any |= r->rows[i].have_lat;
    if (any)
        fprintf(f, "%4s  %-16s %8s %7s %13s %11s %7s\n", "slot", "name", "lat ms", "rtt ms",
                "jbuf hub+mus", "periods", "codec");
    for (int i = 0; i < r->n; i++) {
        const struct status_row *w = &r->rows[i];
        if (!w->have_lat)
            continue;
        char per[24], jb[32];
        snprintf(per, sizeof per, "%d+%d", w->period, w->hub_period);
        if (w->lat_peer_fill >= 0)
            snprintf(jb, sizeof jb, "%d+%d", w->lat_fill, w->lat_peer_fill);
        else // not measured yet: the hub's stands in (bandbridge(1), LATENCY)
            snprintf(jb, sizeof jb, "%d+?", w->lat_fill);
        fprintf(f, "%4d  %-16.16s %8.1f %7.1f %13s %11s %7d\n", w->slot, w->name, w->lat_ms,
                w->rtt_ms, jb, per, w->codec_frames);
    }
    size_t dl = strlen(r->rec_dir); // its end, which names the take, fits the line
    if (r->rec_answered && !r->recording && r->take == 0)
        fprintf(f, "not recording\n");
    else if (r->rec_answered)
        fprintf(f, "%s %d%s%s\n", r->recording ? "recording take" : "not recording; last take",
                r->take, dl ? ": " : "", r->rec_dir + (dl > 48 ? dl - 48 : 0));
}

static void status_print(FILE *f, const struct status_reply *r, const char *host,
                         const char *port)
{
    fprintf(f, "hub %s:%s  %d Hz, period %d  bandbridge %s  %d musician%s\n", host, port, r->rate,
            r->period, r->version, r->n, r->n == 1 ? "" : "s");
    fprintf(f, "%4s  %-16s %-26s %-8s %2s %7s %11s %6s %7s %9s\n", "slot", "name", "address",
            "codec", "ch", "rtt ms", "jbuf fill", "loss %", "peak dB", "underruns");
    for (int i = 0; i < r->n; i++) {
        const struct status_row *w = &r->rows[i];
        char jb[24], pk[16];
        snprintf(jb, sizeof jb, "%d/%d", w->fill, w->target);
        if (w->peak_db <= -120.0f)
            snprintf(pk, sizeof pk, "-inf");
        else
            snprintf(pk, sizeof pk, "%.1f", w->peak_db);
        fprintf(f, "%4d  %-16s %-26s %-8s %2d %7.1f %11s %6.2f %7s %9lld\n", w->slot, w->name,
                w->addr, w->codec, w->channels, w->rtt_ms, jb, w->loss, pk, w->underruns);
    }
    status_print_latency(f, r);
}

static void status_usage(FILE *f)
{
    fprintf(f, "usage: bandbridge status [--host HOST] [--port PORT] [--once] [--interval S]\n"
               "Show the musicians connected to a hub, refreshed every second: slot, name,\n"
               "address, codec, channels, round trip, jitter buffer fill/target (frames),\n"
               "loss, peak level and underruns (see bandbridge-osc(7), /status).\n"
               "  --host HOST     the hub (default 127.0.0.1)\n"
               "  --port PORT     its OSC port (default %d)\n"
               "  --once          print the table once and exit (for scripts)\n"
               "  --interval S    seconds between refreshes (default 1)\n"
               "Exit: 0, 1 when the hub refused, 3 when it did not answer.\n",
            BB_DEFAULT_PORT + 1);
}

int bb_status_main(int argc, char **argv)
{
    static const struct option opts[] = {{"host", required_argument, 0, 'H'},
                                         {"port", required_argument, 0, 'p'},
                                         {"once", no_argument, 0, '1'},
                                         {"interval", required_argument, 0, 'i'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct hub_target tg;
    target_init(&tg);
    const char *host = tg.host, *port = tg.port;
    int once = 0;
    double interval = 1.0;
    optind = 1;
    for (int o; (o = getopt_long(argc, argv, "H:p:1i:h", opts, NULL)) != -1;) {
        if (target_opt(&tg, o, optarg)) {
            host = tg.host;
            continue;
        }
        switch (o) {
        case '1':
            once = 1;
            break;
        case 'i':
            interval = atof(optarg);
            if (!(interval >= 0.1 && interval <= 3600)) {
                fprintf(stderr, "bandbridge status: --interval: 0.1 to 3600 seconds\n");
                return 2;
            }
            break;
        case 'h':
            status_usage(stdout);
            return 0;
        default:
            status_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        status_usage(stderr);
        return 2;
    }
    static struct status_reply r; // 64 rows: not on the stack
    lo_server srv = reply_server();
    lo_address addr = lo_address_new(host, port);
    if (!srv || !addr) {
        fprintf(stderr, "bandbridge status: cannot open a UDP socket\n");
        return 3;
    }
    lo_server_add_method(srv, NULL, NULL, on_status, &r);
    int tty = isatty(STDOUT_FILENO), rc;
    for (;;) {
        uint64_t t0 = bb_now_ns();
        rc = status_round(srv, addr, &r, 1.0);
        if (rc == 3)
            fprintf(stderr, "bandbridge status: no answer from %s:%s\n", host, port);
        if (rc != 0 && once)
            break;
        if (rc == 0) {
            if (tty && !once)
                fputs("\033[H\033[2J", stdout); // a live table: redraw in place
            status_print(stdout, &r, host, port);
            if (!tty && !once)
                putchar('\n');
            fflush(stdout);
        }
        if (once)
            break;
        uint64_t next = t0 + (uint64_t)(interval * 1e9), now = bb_now_ns();
        while (now < next) { // answers that come late are drained here
            lo_server_recv_noblock(srv, (int)((next - now) / 1000000) + 1);
            now = bb_now_ns();
        }
    }
    lo_address_free(addr);
    lo_server_free(srv);
    return rc;
}
