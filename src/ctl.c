// SPDX-License-Identifier: GPL-2.0-or-later
// ctl.c: `bandbridge ctl`: sends one OSC message to the hub and prints the
// reply's arguments on one line, so scripts can read and set any value:
//
//   bandbridge ctl /mix/bob/ch/alice/gain -6     set (prints nothing)
//   bandbridge ctl /mix/bob/ch/alice/gain        query: prints -6
//
// Arguments: an integer is sent as i, a number with '.' or 'e' as f,
// anything else as s. A set is answered by silence unless refused, so a set
// waits only a short while for an /error.
#include <getopt.h>
#include <lo/lo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb.h"
#include "ctl.h"

struct reply {
    int done;
    int error;
};

static void print_arg(char type, lo_arg *a)
{
    switch (type) {
    case 'f':
        printf("%g", a->f);
        break;
    case 'd':
        printf("%g", a->d);
        break;
    case 'i':
        printf("%d", a->i);
        break;
    case 'h':
        printf("%lld", (long long)a->h);
        break;
    case 's':
    case 'S':
        printf("%s", &a->s);
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

static int on_reply(const char *path, const char *types, lo_arg **argv, int argc, lo_message m,
                    void *user)
{
    (void)m;
    struct reply *r = user;
    if (strcmp(path, "/error") == 0) {
        int ok = argc >= 2 && types[0] == 's' && types[1] == 's';
        fprintf(stderr, "bandbridge ctl: %s: %s\n", ok ? &argv[0]->s : "?",
                ok ? &argv[1]->s : "refused");
        r->error = 1;
        r->done = 1;
        return 0;
    }
    for (int i = 0; i < argc; i++) {
        if (i)
            putchar(' ');
        print_arg(types[i], argv[i]);
    }
    putchar('\n');
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

int bb_ctl_main(int argc, char **argv)
{
    static const struct option opts[] = {{"host", required_argument, 0, 'H'},
                                         {"port", required_argument, 0, 'p'},
                                         {"timeout", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *host = "127.0.0.1";
    char port[8];
    snprintf(port, sizeof port, "%d", BB_DEFAULT_PORT + 1);
    double timeout = 1.0;
    optind = 1;
    for (int o; (o = getopt_long(argc, argv, "+H:p:t:h", opts, NULL)) != -1;) {
        switch (o) {
        case 'H':
            host = optarg;
            break;
        case 'p':
            snprintf(port, sizeof port, "%s", optarg);
            break;
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
    struct reply r = {0, 0};
    lo_server srv = lo_server_new(NULL, NULL); // a port of our own: replies come here
    lo_address addr = lo_address_new(host, port);
    if (!srv || !addr) {
        fprintf(stderr, "bandbridge ctl: cannot open a UDP socket\n");
        return 3;
    }
    lo_server_add_method(srv, NULL, NULL, on_reply, &r);
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
