// SPDX-License-Identifier: GPL-2.0-or-later
// ctl.c: `bandbridge ctl`, and what `bandbridge status` (status.c) shares
// with it: the hub's address, the reply port, /auth. ctl sends one OSC
// message to the hub and prints the reply's arguments on one line, so
// scripts can read and set any value:
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
#include "cli.h"
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

void bb_ctl_target_init(struct bb_ctl_target *t)
{
    t->host = "127.0.0.1";
    snprintf(t->port, sizeof t->port, "%d", BB_DEFAULT_PORT + 1);
}

int bb_ctl_target_opt(struct bb_ctl_target *t, int o, const char *arg)
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
lo_server bb_ctl_reply_server(void)
{
    srand((unsigned)(getpid() ^ bb_now_ns()));
    return lo_server_new(NULL, NULL);
}

// With BANDBRIDGE_OSC_PASSWORD set, /auth goes first from the same socket:
// the hub grants a password to an address and port, and answers nothing
// but /info without it. It reads the socket in order, so no wait is needed;
// a wrong password's /error names /auth, not the query, and the query's
// own refusal is what gets printed.
void bb_ctl_send_auth(lo_address addr, lo_server srv)
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
    struct bb_ctl_target tg;
    bb_ctl_target_init(&tg);
    const char *host = tg.host, *port = tg.port;
    double timeout = 1.0;
    optind = 1;
    for (int o; (o = bb_cli_getopt("ctl", argc, argv, "+H:p:t:h", opts)) != -1;) {
        if (bb_ctl_target_opt(&tg, o, optarg)) {
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
            return 2; // bb_cli_getopt said why
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "bandbridge ctl: name an OSC address, e.g. bandbridge ctl /info "
                        "(bandbridge ctl --help)\n");
        return 2;
    }
    if (argv[optind][0] != '/') {
        fprintf(stderr, "bandbridge ctl: '%s' is not an OSC address: they start with /, "
                        "e.g. /info (bandbridge-osc(7))\n", argv[optind]);
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
    lo_server srv = bb_ctl_reply_server();
    lo_address addr = lo_address_new(host, port);
    if (!srv || !addr) {
        fprintf(stderr, "bandbridge ctl: cannot open a UDP socket\n");
        return 3;
    }
    lo_server_add_method(srv, NULL, NULL, on_reply, &r);
    bb_ctl_send_auth(addr, srv);
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
