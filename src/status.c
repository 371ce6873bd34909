// SPDX-License-Identifier: GPL-2.0-or-later
// status.c: `bandbridge status` (status.h): asks the hub for /info, /record
// and /status every interval and shows the answer as a table.
//
// On a terminal the table is redrawn in place, fits 80 columns, and the
// terminal is in cbreak mode (keys without Enter, no echo) so that q
// quits; the mode is put back however the program ends: q, Ctrl-C, a
// signal, Ctrl-Z (and taken again on fg). Signals come through a
// signalfd into the same poll() as the hub's answers and the keys, so
// nothing is done in a signal handler. When the hub stops answering, the
// stale table goes and one line says so, until it answers again.
#include <getopt.h>
#include <lo/lo.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bb.h"
#include "cli.h"
#include "ctl.h"
#include "osc_arg.h"
#include "status.h"

#define STATUS_MAX BB_MAX_CLIENTS // rows: every musician a hub can hold
/// The widest line printed: one less than the terminal, so that the last
/// column never makes a terminal wrap early.
#define LINE_MAX_COLS 79

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
    int               have_load, load_pct, load_ceiling, shed_level; ///< /status/load
    int               have_load_cpu, load_rt, load_rx, load_tx; ///< ... its CPU figures
    char              shedding[64];
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
        memset(w, 0, sizeof *w);
        w->slot = bb_arg_i32(argv[0]);
        snprintf(w->name, sizeof w->name, "%s", bb_arg_str(argv[1]));
        // An IPv4 musician on the hub's dual-stack socket reads as
        // [::ffff:a.b.c.d]:port; shown as the a.b.c.d:port it is.
        const char *addr = bb_arg_str(argv[2]);
        if (strncmp(addr, "[::ffff:", 8) == 0 && strchr(addr, '.') && strstr(addr, "]:"))
            snprintf(w->addr, sizeof w->addr, "%.*s%s", (int)(strstr(addr, "]:") - addr - 8),
                     addr + 8, strstr(addr, "]:") + 1);
        else
            snprintf(w->addr, sizeof w->addr, "%s", addr);
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
    } else if (strcmp(path, "/status/load") == 0 && argc >= 4 && types[0] == 'i' &&
               types[1] == 'i' && types[2] == 'i' && types[3] == 's') {
        r->have_load = 1;
        r->load_pct = bb_arg_i32(argv[0]);
        r->load_ceiling = bb_arg_i32(argv[1]);
        r->shed_level = bb_arg_i32(argv[2]);
        snprintf(r->shedding, sizeof r->shedding, "%s", bb_arg_str(argv[3]));
        // The CPU figures after them (a hub that measured wall time only
        // has none); the wall-time figure last is for /stats readers.
        r->have_load_cpu = argc >= 7 && strncmp(types + 4, "iii", 3) == 0;
        if (r->have_load_cpu) {
            r->load_rt = bb_arg_i32(argv[4]);
            r->load_rx = bb_arg_i32(argv[5]);
            r->load_tx = bb_arg_i32(argv[6]);
        }
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

// ---- the terminal ----------------------------------------------------------

/// What the program found and changed; put back by term_restore().
struct term {
    int            keys;    ///< stdin is a terminal whose keys we read
    int            screen;  ///< stdout is a terminal we redraw
    int            raw;     ///< cbreak mode is on
    struct termios saved;
};

static void term_raw(struct term *t)
{
    if (!t->keys || t->raw)
        return;
    struct termios tio = t->saved;
    tio.c_lflag &= ~(tcflag_t)(ICANON | ECHO); // ISIG stays: Ctrl-C and Ctrl-Z work
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &tio) == 0)
        t->raw = 1;
    if (t->screen)
        fputs("\033[?25l", stdout); // no cursor blinking over the table
    fflush(stdout);
}

static void term_restore(struct term *t)
{
    if (t->raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
    t->raw = 0;
    if (t->screen)
        fputs("\033[?25h", stdout);
    fflush(stdout);
}

/// The signals that end the live view or stop it, as a signalfd (-1 if
/// none can be had: then they act as they always do).
static int term_signals(void)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGQUIT);
    sigaddset(&sigs, SIGTSTP);
    sigaddset(&sigs, SIGCONT);
    int fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd >= 0)
        sigprocmask(SIG_BLOCK, &sigs, NULL);
    return fd;
}

/// A signal taken: 1 to quit, 0 to carry on (Ctrl-Z: the terminal is put
/// back, we stop, and on fg take it again).
static int term_signal(struct term *t, int sig_fd)
{
    struct signalfd_siginfo si;
    int quit = 0;
    while (read(sig_fd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGTSTP) {
            term_restore(t);
            raise(SIGSTOP);
        } else if (si.ssi_signo == SIGCONT) {
            term_raw(t);
        } else {
            quit = 1;
        }
    }
    return quit;
}

/// Waits for the hub's answers (dispatched to on_status), keys and
/// signals until deadline_ns, or until until() says so. Returns 1 when
/// asked to quit, else 0.
static int wait_events(lo_server srv, struct term *t, int sig_fd, uint64_t deadline_ns,
                       int (*until)(const struct status_reply *), const struct status_reply *r)
{
    for (;;) {
        if (until && until(r))
            return 0;
        uint64_t now = bb_now_ns();
        if (now >= deadline_ns)
            return 0;
        struct pollfd pfd[3] = {{.fd = lo_server_get_socket_fd(srv), .events = POLLIN},
                                {.fd = t->keys ? STDIN_FILENO : -1, .events = POLLIN},
                                {.fd = sig_fd, .events = POLLIN}};
        poll(pfd, 3, (int)((deadline_ns - now) / 1000000) + 1);
        if ((pfd[2].revents & POLLIN) && term_signal(t, sig_fd))
            return 1;
        if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            char keys[16];
            ssize_t n = read(STDIN_FILENO, keys, sizeof keys);
            if (n <= 0 && (pfd[1].revents & (POLLHUP | POLLERR)))
                return 1; // the terminal is gone
            for (ssize_t i = 0; i < n; i++)
                if (keys[i] == 'q' || keys[i] == 'Q')
                    return 1;
        }
        if (pfd[0].revents & POLLIN)
            while (lo_server_recv_noblock(srv, 0) > 0) {
            }
    }
}

// ---- one round -------------------------------------------------------------

static int round_over(const struct status_reply *r)
{
    return r->done && r->have_info;
}

/// One /status round: 0, 1 on an /error, 3 when the hub did not answer
/// within timeout_s, 4 when asked to quit meanwhile.
static int status_round(lo_server srv, lo_address addr, struct status_reply *r, double timeout_s,
                        struct term *t, int sig_fd)
{
    r->n = r->done = r->error = r->have_info = 0;
    r->rec_answered = 0;
    r->have_load = 0;
    bb_ctl_send_auth(addr, srv);
    // /record first: its answer comes before /status/end.
    lo_send_from(addr, srv, LO_TT_IMMEDIATE, "/record", "");
    if (lo_send_from(addr, srv, LO_TT_IMMEDIATE, "/status", "") < 0 ||
        lo_send_from(addr, srv, LO_TT_IMMEDIATE, "/info", "") < 0)
        return 3;
    if (wait_events(srv, t, sig_fd, bb_now_ns() + (uint64_t)(timeout_s * 1e9), round_over, r))
        return 4;
    if (!round_over(r))
        return 3;
    return r->error ? 1 : 0;
}

// ---- the table -------------------------------------------------------------

/// s in at most w columns: cut, with '~' where it was cut (at the end, or
/// for an address at the start, so that the port stays).
static const char *fit(char *buf, size_t size, const char *s, int w, int keep_end)
{
    int n = (int)strlen(s);
    if (n <= w)
        snprintf(buf, size, "%s", s);
    else if (keep_end)
        snprintf(buf, size, "~%s", s + n - (w - 1));
    else
        snprintf(buf, size, "%.*s~", w - 1, s);
    return buf;
}

// The round trip of each musician (bandbridge(1), LATENCY) and the
// recorder's state.
static void status_print_latency(FILE *f, const struct status_reply *r)
{
    int any = 0;
    for (int i = 0; i < r->n; i++)
        any |= r->rows[i].have_lat;
    if (any)
        fprintf(f, "%2s %-16s %8s %7s %13s %11s %7s\n", "#", "name", "lat ms", "rtt ms",
                "jbuf hub+mus", "periods", "codec");
    for (int i = 0; i < r->n; i++) {
        const struct status_row *w = &r->rows[i];
        if (!w->have_lat)
            continue;
        char per[24], nm[40], jb[32];
        snprintf(per, sizeof per, "%d+%d", w->period, w->hub_period);
        if (w->lat_peer_fill >= 0)
            snprintf(jb, sizeof jb, "%d+%d", w->lat_fill, w->lat_peer_fill);
        else // not measured yet: the hub's stands in (bandbridge(1), LATENCY)
            snprintf(jb, sizeof jb, "%d+?", w->lat_fill);
        fprintf(f, "%2d %-16s %8.1f %7.1f %13s %11s %7d\n", w->slot, fit(nm, sizeof nm, w->name, 16, 0),
                w->lat_ms, w->rtt_ms, jb, per, w->codec_frames);
    }
    if (r->have_load_cpu) { // at most 77 columns, then what it sheds on a line of its own
        fprintf(f, "hub load %d %% of a core: callback %d, receive %d, send %d; ceiling %d %%\n",
                r->load_pct, r->load_rt, r->load_rx, r->load_tx, r->load_ceiling);
        if (r->shed_level)
            fprintf(f, "shedding %s\n", r->shedding);
    } else if (r->have_load) // a hub older than its load measure says nothing
        fprintf(f, "hub load %d %% of its period (ceiling %d %%)%s%s\n", r->load_pct,
                r->load_ceiling, r->shed_level ? ", shedding " : "",
                r->shed_level ? r->shedding : "");
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
    char line[256];
    snprintf(line, sizeof line, "hub %s:%s  %d Hz, period %d  bandbridge %s  %d musician%s", host,
             port, r->rate, r->period, r->version, r->n, r->n == 1 ? "" : "s");
    fprintf(f, "%.*s\n", LINE_MAX_COLS, line);
    // 79 columns: name, address and codec are cut to fit (an address keeps
    // its end: most IPv4 ones and their port fit whole), the round trip is
    // in the latency table below.
    fprintf(f, "%2s %-10s %-19s %-10s %2s %9s %5s %5s %9s\n", "#", "name", "address", "codec",
            "ch", "jbuf", "loss%", "peak", "underruns");
    for (int i = 0; i < r->n; i++) {
        const struct status_row *w = &r->rows[i];
        char jb[24], pk[16], ls[16], nm[40], ad[64], cd[24];
        snprintf(jb, sizeof jb, "%d/%d", w->fill, w->target);
        if (w->peak_db <= -120.0f)
            snprintf(pk, sizeof pk, "-inf");
        else if (w->peak_db > -99.95f)
            snprintf(pk, sizeof pk, "%.1f", w->peak_db);
        else
            snprintf(pk, sizeof pk, "%.0f", w->peak_db); // 5 columns
        if (w->loss < 99.995f)
            snprintf(ls, sizeof ls, "%.2f", w->loss);
        else
            snprintf(ls, sizeof ls, "%.1f", w->loss);
        snprintf(line, sizeof line, "%2d %-10s %-19s %-10s %2d %9s %5s %5s %9lld", w->slot,
                 fit(nm, sizeof nm, w->name, 10, 0), fit(ad, sizeof ad, w->addr, 19, 1),
                 fit(cd, sizeof cd, w->codec, 10, 0), w->channels, jb, ls, pk, w->underruns);
        fprintf(f, "%.*s\n", LINE_MAX_COLS, line);
    }
    status_print_latency(f, r);
}

static void status_usage(FILE *f)
{
    fprintf(f, "usage: bandbridge status [--host HOST] [--port PORT] [--once] [--interval S]\n"
               "Show the musicians connected to a hub, refreshed every second: slot, name,\n"
               "address, codec, channels, jitter buffer fill/target (frames), loss, peak\n"
               "level and underruns, then each one's round trip (see bandbridge-osc(7),\n"
               "/status). On a terminal, q quits.\n"
               "  --host HOST     the hub (default 127.0.0.1)\n"
               "  --port PORT     its OSC port (default %d)\n"
               "  --once          print the table once and exit (for scripts)\n"
               "  --interval S    seconds between refreshes (default 1)\n"
               "Exit: 0, 1 when the hub refused, 3 when it did not answer (--once).\n",
            BB_DEFAULT_PORT + 1);
}

// ---- the program -----------------------------------------------------------

/// The live view, or one table (once): the exit status.
static int status_loop(lo_server srv, lo_address addr, struct status_reply *r, const char *host,
                       const char *port, int once, double interval, struct term *t, int sig_fd)
{
    int rc = 0, gone = 0;
    char since[16] = "";
    for (;;) {
        uint64_t t0 = bb_now_ns();
        rc = status_round(srv, addr, r, 1.0, t, sig_fd);
        if (rc == 4)
            return 0;
        if (rc == 3 && once)
            fprintf(stderr, "bandbridge status: no answer from %s:%s\n", host, port);
        if (rc == 0 && once)
            status_print(stdout, r, host, port);
        if (once || rc == 1) // a refusal does not change by asking again
            break;
        if (rc == 3 && !gone) {
            time_t now = time(NULL);
            struct tm tm;
            strftime(since, sizeof since, "%H:%M:%S", localtime_r(&now, &tm));
            if (!t->screen)
                fprintf(stderr, "bandbridge status: no answer from %s:%s since %s (is the hub "
                                "running, at this address and port?); still asking\n",
                        host, port, since);
        }
        gone = rc == 3;
        if (t->screen)
            fputs("\033[H\033[2J", stdout); // redrawn in place, nothing stale left
        if (rc == 0) {
            status_print(stdout, r, host, port);
            if (t->keys)
                puts("q quits");
            else if (!t->screen)
                putchar('\n');
        } else if (t->screen) {
            char line[256];
            snprintf(line, sizeof line, "hub %s:%s: no answer since %s", host, port, since);
            printf("%.*s\nIs it running, at this address and OSC port? Still asking every %g s%s\n",
                   LINE_MAX_COLS, line, interval, t->keys ? "; q quits." : ".");
        }
        fflush(stdout);
        if (wait_events(srv, t, sig_fd, t0 + (uint64_t)(interval * 1e9), NULL, r))
            return 0; // late answers are taken meanwhile
    }
    return rc;
}

int bb_status_main(int argc, char **argv)
{
    static const struct option opts[] = {{"host", required_argument, 0, 'H'},
                                         {"port", required_argument, 0, 'p'},
                                         {"once", no_argument, 0, '1'},
                                         {"interval", required_argument, 0, 'i'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct bb_ctl_target tg;
    bb_ctl_target_init(&tg);
    int once = 0;
    double interval = 1.0;
    optind = 1;
    for (int o; (o = bb_cli_getopt("status", argc, argv, "H:p:1i:h", opts)) != -1;) {
        if (bb_ctl_target_opt(&tg, o, optarg))
            continue;
        switch (o) {
        case '1':
            once = 1;
            break;
        case 'i':
            interval = atof(optarg);
            if (!(interval >= 0.1 && interval <= 3600)) {
                bb_cli_bad_value("status", opts, o, optarg, "0.1 to 3600 seconds");
                return 2;
            }
            break;
        case 'h':
            status_usage(stdout);
            return 0;
        default:
            return 2; // bb_cli_getopt said why
        }
    }
    if (optind != argc) {
        fprintf(stderr, "bandbridge status: unexpected argument '%s' (bandbridge status --help)\n",
                argv[optind]);
        return 2;
    }
    static struct status_reply r; // 64 rows: not on the stack
    lo_server srv = bb_ctl_reply_server();
    lo_address addr = lo_address_new(tg.host, tg.port);
    if (!srv || !addr) {
        fprintf(stderr, "bandbridge status: cannot open a UDP socket\n");
        return 3;
    }
    lo_server_add_method(srv, NULL, NULL, on_status, &r);
    struct term t = {0};
    int sig_fd = -1;
    if (!once) {
        t.screen = isatty(STDOUT_FILENO);
        t.keys = t.screen && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t.saved) == 0;
        sig_fd = term_signals();
        term_raw(&t);
    }
    int rc = status_loop(srv, addr, &r, tg.host, tg.port, once, interval, &t, sig_fd);
    term_restore(&t);
    if (sig_fd >= 0)
        close(sig_fd);
    lo_address_free(addr);
    lo_server_free(srv);
    return rc;
}
