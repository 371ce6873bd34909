// SPDX-License-Identifier: GPL-2.0-or-later
// hub_main.c: `bandbridge serve`: options, start-up, the control loop and
// shutting down.
//
// DESIGN. The control thread (the program's main thread) is the only writer
// of client state. It sleeps in poll() on: an eventfd the receive thread
// signals when it has queued a JOIN, a LEAVE or a relayed OSC packet
// (hub_session.c), a signalfd for SIGINT/SIGTERM, the OSC socket, the
// session manager's socket, the JACK thread's reports (hub_jack.c), and a
// timeout that drives the zombie sweep (every 100 ms at most), pending
// removals (every 2 ms while one waits for the callback), the store's
// debounced writes and the OSC meters and leases (every 40 ms).
//
// It never waits on jackd (DESIGN.md rule 8): JACK ports, connections and
// the server's loss and return are the JACK thread's, asked for and
// reported through queues. Only start-up (opening the client) and
// shutting down (a bounded wait for the last connection snapshot and for
// the client to close) wait for it.
//
// PRIORITY. Once every other thread runs, it takes SCHED_FIFO two below the
// JACK client (bb_thread_below_network): the process callback and the
// network threads always go first, and no ordinary process (a compiler, an
// attacker's flood generator) keeps it waiting for a core. Its work per
// turn is bounded whoever sends what: OSC datagrams and messages per turn,
// and paced reads in a storm (osc_server.c), queued events per turn
// (hub_session_drain), joins per second (hub_net.c); the store's writes
// are debounced and block, which gives the CPU up.
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "hub.h"
#include "hub_clients.h"
#include "hub_graph.h"
#include "hub_jack.h"
#include "hub_session.h"
#include "log.h"
#include "nsm.h"
#include "osc.h"
#include "recorder_hub.h"

#define PING_NS (1000 * 1000000ull)
/// Barrier tags of the JACK thread's reports: what the control loop waits for.
enum { TAG_SNAPSHOT = 1, TAG_BACK, TAG_SAVE, TAG_SHUTDOWN };

// The OSC controllers hear of joins, leaves and renames (osc.c).
static void osc_joined(struct hub *h, struct hub_client *c, void *arg)
{
    (void)arg;
    hub_osc_notify_clients(h, c->slot, c->name, 1);
}

static void osc_leaving(struct hub *h, struct hub_client *c, enum hub_why why, void *arg)
{
    (void)why, (void)arg;
    hub_osc_notify_clients(h, c->slot, c->name, 0); // no longer listed in /clients
}

static void osc_renamed(struct hub *h, struct hub_client *c, const char *old, void *arg)
{
    (void)arg;
    hub_osc_notify_renamed(h, c->slot, old, c->name);
}

static const struct hub_clients_observer osc_observer = {
    .joined = osc_joined, .leaving = osc_leaving, .renamed = osc_renamed};

// [ctl] One debug line per musician per second: enough to see a stream's health.
static void log_stats(struct hub *h)
{
    struct hub_rt_times t;
    hub_rt_times(&h->eng, &t, 0);
    bb_debug("process callback: %llu cycles, median %.0f us, p99 %.0f us, worst %.0f us "
             "(period %.0f us)",
             (unsigned long long)t.cycles, t.median_us, t.p99_us, t.worst_us,
             1e6 * h->period / (h->rate ? h->rate : 48000));
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        struct hub_client *c = h->slots[i];
        if (!c)
            continue;
        char jb[256];
        bb_jbuf_stats_text(&c->st.jb.stats, jb, sizeof jb);
        bb_debug("%s: %s rtt %u us cycles %llu xruns %llu rt max %llu us", c->name, jb,
                 atomic_load(&c->st.rtt_us), (unsigned long long)atomic_load(&h->eng.stats.cycles),
                 (unsigned long long)atomic_load(&h->eng.stats.xruns),
                 (unsigned long long)atomic_load(&h->eng.stats.rt_ns_max) / 1000);
    }
}

// [ctl] Where the control loop's time goes (loop_prof.h): the parts of one
// turn (after poll returned), so that what makes an OSC answer late can be
// named. A turn's length goes into /stats (loop_max_us, loop_slow); every
// 10 s the longest slow turn of those 10 s is logged with its parts.
enum loop_part { LP_OSC, LP_NET, LP_JACK, LP_TICK, LP_SWEEP, LP_PING, LP_PUBLISH, LP_ADVANCE,
                 LP_STORE, LP_N };
static const char *const loop_part_name[LP_N] = {
    "osc", "joins/leaves", "jack reports", "osc tick", "sweep", "ping", "publish", "advance",
    "store"};
#define HUB_LOOP_SLOW_NS (20 * 1000000ull) ///< a turn longer than this is counted
#define HUB_LOOP_LOG_NS  (10 * 1000000000ull) ///< the longest slow turn is logged this often

// [ctl] The turn is over (at its last mark): into /stats, and the log when
// a window with a slow turn is over.
static void loop_turn_end(struct bb_loop_prof *prof)
{
    char report[640];
    if (bb_loop_prof_end(prof, report, sizeof report))
        bb_info("control loop: %s", report);
}

// What the control loop waits for from the JACK thread, and the session manager.
struct loop {
    struct bb_nsm *nsm;
    int            snapshot_asked; ///< a periodic snapshot is under way: ask no second one
    int            stopped;        ///< HUB_JACK_STOPPED seen
    int            final_conns;    ///< TAG_SHUTDOWN seen: the last snapshot is in
    uint64_t       save_by;        ///< an NSM save waits for the routing until then (0: none)
};

// How long an NSM save waits for the JACK thread's routing snapshot before
// it saves without it: a stopped jackd must not hold the session manager.
#define SAVE_WAIT_NS (1000 * 1000000ull)

// Everything to disk now, whatever the debounce says, and the answer.
static void nsm_save(struct hub *h, struct loop *lp)
{
    lp->save_by = 0;
    hub_state_sync(h, 1);
    int saved = h->store && bb_store_persistent(h->store);
    bb_nsm_reply(lp->nsm, BB_NSM_SAVE, saved, saved ? "saved" : "the database is not writable");
}

// [ctl] Takes every report of the JACK thread.
static void jack_reports(struct hub *h, struct loop *lp)
{
    for (struct hub_jack_report *r; (r = hub_jack_take(h)); free(r)) {
        switch (r->type) {
        case HUB_JACK_GONE:
            hub_clients_gone(h, r->c);
            break;
        case HUB_JACK_CONNS:
            hub_state_conns(h, r);
            break;
        case HUB_JACK_LOST:
            bb_err("the JACK server went away; musicians keep their sessions, waiting for JACK");
            hub_rec_jack(h, 1);
            break;
        case HUB_JACK_BACK:
            // The ports are back; the connections stored are made next.
            h->period = r->period;
            hub_jack_connect(h, NULL, h->main_rec);
            for (int i = 0; i < BB_MAX_CLIENTS; i++)
                if (h->slots[i] && h->slots[i]->state == HUB_CLIENT_ACTIVE)
                    hub_jack_connect(h, h->slots[i], h->slots[i]->rec);
            hub_jack_barrier(h, TAG_BACK);
            break;
        case HUB_JACK_BARRIER:
            if (r->tag == TAG_SNAPSHOT)
                lp->snapshot_asked = 0;
            else if (r->tag == TAG_BACK) {
                bb_info("JACK is back (%u Hz, period %u): ports and connections restored",
                        h->rate, h->period);
                hub_rec_jack(h, 0); // a new take, if one was running
            } else if (r->tag == TAG_SHUTDOWN)
                lp->final_conns = 1;
            else if (r->tag == TAG_SAVE && lp->save_by)
                nsm_save(h, lp);
            break;
        case HUB_JACK_STOPPED:
            lp->stopped = 1;
            break;
        }
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bandbridge serve [options]\n"
            "Run the rehearsal hub: a JACK client that musicians join over UDP.\n\n"
            "  -p, --port N          UDP port for musicians (default %d, or the\n"
            "                        environment variable BANDBRIDGE_PORT)\n"
            "  -b, --bind ADDR       listen on this address only (default: all)\n"
            "  -n, --jack-name NAME  JACK client name (default bandbridge)\n"
            "  -i, --inputs N        local JACK inputs mixed as extra channels (default 2, max %d)\n"
            "  -m, --max-clients N   musicians at most (default %d)\n"
            "      --max-per-address N  musicians from one IP address at most (default 8,\n"
            "                        a band behind one NAT; 0: any number; this machine's\n"
            "                        own addresses are not counted)\n"
            "  -t, --timeout SEC     drop a musician silent this long (default 1.0)\n"
            "  -j, --jitter N|auto   hub-side jitter buffer depth in frames for every\n"
            "                        musician (default: what each musician asks for)\n"
            "      --mix-ports       also put every musician's personal mix on JACK\n"
            "                        ports bandbridge:mix_NAME_L/_R\n"
            "      --no-drift-comp   never resample a musician whose clock drifts from\n"
            "                        ours (by default the drift is followed; a slip of a\n"
            "                        packet every few seconds to minutes without)\n"
            "      --opus-complexity N  Opus complexity of the personal mixes the hub\n"
            "                        encodes, 0 (cheapest) to 10 (default 0)\n"
            "      --load-ceiling PCT  the share of a core any of the hub's audio threads\n"
            "                        may use (its own CPU time) before it sheds work and\n"
            "                        refuses joins (default %d; 0: none; a low one, e.g.\n"
            "                        1, forces both: for tests)\n"
            "  -o, --osc-port N      OSC control port (default: port+1; 0 = off)\n"
            "      --osc-bind ADDR   listen for OSC on this IPv4 address only (default: all)\n"
            "      --osc-allow CIDR  accept OSC only from these addresses, e.g. 127.0.0.0/8\n"
            "                        or 192.168.1.0/24, 'local' or 'any'; repeatable, up to\n"
            "                        %d (default: local = this machine and its networks)\n"
            "      --osc-password WORD  OSC controllers must send /auth WORD before anything\n"
            "                        but /info, from the same address and port; the\n"
            "                        environment variable BANDBRIDGE_OSC_PASSWORD is the\n"
            "                        same without showing it in ps\n"
            "      --osc-doc         print the OSC address table and exit\n"
            "      --record DIR      record takes into DIR (OSC /record/start, /record/stop):\n"
            "                        a file per musician channel, local input, main mix\n"
            "      --password-file FILE  the room password musicians must know (first\n"
            "                        line); or the environment variable\n"
            "                        BANDBRIDGE_PASSWORD. Default: one generated at the\n"
            "                        first start, printed once and kept next to the database\n"
            "      --show-password   print the kept room password and exit\n"
            "      --open            no room password (a trusted LAN): anyone who reaches\n"
            "                        the port may join; traffic is still encrypted\n"
            "  -d, --db PATH         state database (default: the state directory,\n"
            "                        hub-NAME.db); 'none' keeps nothing\n"
            "      --forget-after DAYS  forget stored musicians not seen for DAYS days\n"
            "                        (default 180; 0: never); they join again as new\n"
            "      --max-identities N  stored musicians at most; beyond, the longest unseen\n"
            "                        are forgotten (default 1000; 0: no cap)\n"
            "  -v, --verbose         more log lines;  -q, --quiet  warnings and errors only\n"
            "  -h, --help            this text\n",
            BB_DEFAULT_PORT, BB_MAX_LOCAL_CH, BB_MAX_CLIENTS, HUB_LOAD_CEILING_DEFAULT,
            HUB_OSC_MAX_ALLOW);
}

// Long options without a letter.
enum { OPT_PER_ADDRESS = 0x100, OPT_FORGET_AFTER, OPT_MAX_IDENTITIES };

// Options of the network, JACK and the streams.
// Returns 0, 1 for a bad value, -1 when it said why, 2 if o is not one of them.
static int set_stream_option(struct hub *h, int o, const char *arg, int *osc_set)
{
    unsigned v;
    (void)osc_set;
    switch (o) {
    case 'p':
        if (bb_parse_uint(arg, 1, 65535, &v) < 0)
            return 1;
        h->port = (uint16_t)v;
        break;
    case 'b':
        snprintf(h->bind, sizeof h->bind, "%s", arg);
        break;
    case 'n':
        if (!*arg || strlen(arg) >= sizeof h->jack_name)
            return 1;
        snprintf(h->jack_name, sizeof h->jack_name, "%s", arg);
        break;
    case 'i':
        if (bb_parse_uint(arg, 0, BB_MAX_LOCAL_CH, &h->local_inputs) < 0)
            return 1;
        break;
    case 'C':
        if (bb_parse_uint(arg, 0, 10, &h->mix_complexity) < 0)
            return 1;
        break;
    case 'L':
        if (bb_parse_uint(arg, 0, 1000, &h->load_ceiling) < 0)
            return 1;
        break;
    case 'M':
        h->mix_ports = 1;
        break;
    case 'F':
        h->drift_comp = 1; // the default; kept for older command lines
        break;
    case 'X':
        h->drift_comp = 0;
        break;
    case 'm':
        if (bb_parse_uint(arg, 1, BB_MAX_CLIENTS, &h->max_clients) < 0)
            return 1;
        break;
    case OPT_PER_ADDRESS:
        if (bb_parse_uint(arg, 0, BB_MAX_CLIENTS, &h->max_per_address) < 0)
            return 1;
        break;
    case 't': {
        char *end;
        double s = strtod(arg, &end);
        if (*end || !(s >= 0.05 && s <= 3600))
            return 1;
        h->timeout_ms = (unsigned)(s * 1000 + 0.5);
        break;
    }
    case 'j':
        h->jitter_set = 1;
        if (strcmp(arg, "auto") == 0)
            h->jitter = BB_JBUF_AUTO;
        else if (bb_parse_uint(arg, 0, 4800, &h->jitter) < 0)
            return 1;
        break;
    default:
        return 2;
    }
    return 0;
}

// Options of OSC, the store and the log.
// Returns 0, 1 for a bad value, -1 when it said why, 2 if o is not one of them.
static int set_control_option(struct hub *h, int o, const char *arg, int *osc_set)
{
    unsigned v;
    switch (o) {
    case 'o':
        if (bb_parse_uint(arg, 0, 65535, &v) < 0)
            return 1;
        h->osc_port = (uint16_t)v;
        *osc_set = 1;
        break;
    case 'd':
        if (!*arg || strlen(arg) >= sizeof h->db_path)
            return 1;
        snprintf(h->db_path, sizeof h->db_path, "%s", arg);
        break;
    case 'B': {
        uint32_t net, mask;
        if (strlen(arg) >= sizeof h->osc_bind || hub_osc_parse_cidr(arg, &net, &mask) < 0 ||
            strchr(arg, '/'))
            return 1;
        snprintf(h->osc_bind, sizeof h->osc_bind, "%s", arg);
        break;
    }
    case 'A':
        if (h->osc_nallow == HUB_OSC_MAX_ALLOW) {
            fprintf(stderr, "bandbridge serve: --osc-allow given more than %d times\n",
                    HUB_OSC_MAX_ALLOW);
            return -1;
        }
        if (hub_osc_parse_allow(arg, &h->osc_allow_net[h->osc_nallow],
                               &h->osc_allow_mask[h->osc_nallow]) < 0)
            return 1;
        h->osc_nallow++;
        break;
    case 'P':
        if (!*arg || strlen(arg) >= sizeof h->osc_password)
            return 1;
        snprintf(h->osc_password, sizeof h->osc_password, "%s", arg);
        break;
    case OPT_FORGET_AFTER:
        if (bb_parse_uint(arg, 0, 36500, &h->forget_days) < 0)
            return 1;
        break;
    case OPT_MAX_IDENTITIES:
        if (bb_parse_uint(arg, 0, 1000000, &h->max_identities) < 0)
            return 1;
        break;
    case 'R':
        if (hub_rec_set_dir(arg) < 0)
            return 1;
        break;
    case 'W':
        if (!*arg || strlen(arg) >= sizeof h->password_file)
            return 1;
        snprintf(h->password_file, sizeof h->password_file, "%s", arg);
        break;
    case 'O':
        h->open_room = 1;
        break;
    case 'S':
        h->show_password = 1;
        break;
    case 'D':
        hub_osc_doc(stdout);
        exit(0);
    case 'h':
        usage(stdout);
        exit(0);
    default:
        return bb_cli_log_option(o) ? 0 : 2;
    }
    return 0;
}

// What option o takes, for the line that refuses a bad value.
static const char *value_hint(int o)
{
    switch (o) {
    case 'p':
        return "a UDP port, 1 to 65535";
    case 'o':
        return "a UDP port, 1 to 65535, or 0 for no OSC";
    case 'n':
    case 'd':
    case 'P':
    case 'W':
        return "a non-empty word, shorter than the limit";
    case 'i':
        return "0 to " BB_STR(BB_MAX_LOCAL_CH);
    case 'm':
        return "1 to " BB_STR(BB_MAX_CLIENTS);
    case 'C':
        return "0 to 10";
    case 't':
        return "seconds, 0.05 to 3600";
    case 'j':
        return "frames, 0 to 4800, or auto";
    case 'B':
        return "an IPv4 address such as 192.168.1.10";
    case 'A':
        return "an IPv4 network such as 192.168.1.0/24, a single address, local or any";
    case 'R':
        return "a directory path";
    default:
        return NULL;
    }
}

static int parse_options(struct hub *h, int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, 0, 'p'},      {"bind", required_argument, 0, 'b'},
        {"jack-name", required_argument, 0, 'n'}, {"inputs", required_argument, 0, 'i'},
        {"max-clients", required_argument, 0, 'm'}, {"timeout", required_argument, 0, 't'},
        {"jitter", required_argument, 0, 'j'},    {"osc-port", required_argument, 0, 'o'},
        {"db", required_argument, 0, 'd'},
        {"osc-bind", required_argument, 0, 'B'}, {"osc-allow", required_argument, 0, 'A'},
        {"osc-password", required_argument, 0, 'P'}, {"osc-doc", no_argument, 0, 'D'},
        {"record", required_argument, 0, 'R'},
        {"load-ceiling", required_argument, 0, 'L'},
        {"opus-complexity", required_argument, 0, 'C'}, {"mix-ports", no_argument, 0, 'M'},
        {"drift-comp", no_argument, 0, 'F'}, {"no-drift-comp", no_argument, 0, 'X'},
        {"password-file", required_argument, 0, 'W'}, {"open", no_argument, 0, 'O'},
        {"show-password", no_argument, 0, 'S'},
        {"max-per-address", required_argument, 0, OPT_PER_ADDRESS},
        {"forget-after", required_argument, 0, OPT_FORGET_AFTER},
        {"max-identities", required_argument, 0, OPT_MAX_IDENTITIES},
        {"verbose", no_argument, 0, 'v'},         {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    int osc_set = 0;
    // A default port from the environment: for a hub a session manager or
    // a service starts without arguments.
    const char *env_port = getenv("BANDBRIDGE_PORT");
    if (env_port && *env_port && set_stream_option(h, 'p', env_port, &osc_set) != 0) {
        fprintf(stderr, "bandbridge serve: BANDBRIDGE_PORT=%s is not a UDP port (1 to 65535)\n",
                env_port);
        return -1;
    }
    optind = 1;
    for (int o; (o = bb_cli_getopt("serve", argc, argv, "p:b:n:i:m:t:j:o:d:vqh", opts)) != -1;) {
        if (o == '?')
            return -1; // said why
        int rc = set_stream_option(h, o, optarg, &osc_set);
        if (rc == 2)
            rc = set_control_option(h, o, optarg, &osc_set);
        if (rc == 1 || rc == 2)
            bb_cli_bad_value("serve", opts, o, optarg, value_hint(o));
        if (rc != 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "bandbridge serve: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (h->open_room && h->password_file[0]) {
        fprintf(stderr, "bandbridge serve: --open and --password-file exclude each other\n");
        return -1;
    }
    if (!osc_set)
        h->osc_port = h->port < 65535 ? (uint16_t)(h->port + 1) : 0;
    const char *pw = getenv("BANDBRIDGE_OSC_PASSWORD");
    if (!h->osc_password[0] && pw && *pw) {
        if (strlen(pw) >= sizeof h->osc_password) {
            fprintf(stderr, "bandbridge serve: BANDBRIDGE_OSC_PASSWORD is too long\n");
            return -1;
        }
        snprintf(h->osc_password, sizeof h->osc_password, "%s", pw);
    }
    return 0;
}

// How long shutting down waits for jackd: the last connection snapshot,
// then closing the client. A stopped jackd must not keep the hub alive.
#define SHUTDOWN_JACK_MS 1500

static void shutdown_hub(struct hub *h, struct loop *lp)
{
    struct hub_rt_times t;
    hub_rt_times(&h->eng, &t, 0);
    if (t.cycles)
        bb_info("process callback: %llu cycles, median %.0f us, p99 %.0f us, worst %.0f us "
                "(period %.0f us); %llu xruns reported by JACK; JACK skipped %llu of its "
                "periods (%llu rendered afterwards)",
                (unsigned long long)t.cycles, t.median_us, t.p99_us, t.worst_us,
                1e6 * h->period / (h->rate ? h->rate : 48000),
                (unsigned long long)atomic_load(&h->eng.stats.xruns),
                (unsigned long long)atomic_load(&h->eng.stats.skipped_cycles),
                (unsigned long long)atomic_load(&h->eng.stats.rendered_cycles));
    uint64_t tx_late, tx_worst;
    hub_net_tx_lateness(&h->eng, &tx_late, &tx_worst);
    if (t.cycles)
        bb_info("send workers: %llu wakes late (sent more than a period after the callback), "
                "worst %.0f us", (unsigned long long)tx_late, tx_worst / 1e3);
    // Tell every musician we are going; they keep retrying and come back
    // when the hub does.
    hub_session_goodbye(h);
    // The routing as it is now, then the client closed: waited for, but
    // not for ever.
    hub_jack_snapshot(h, NULL);
    hub_jack_barrier(h, TAG_SHUTDOWN);
    hub_jack_stop(h);
    uint64_t end = bb_now_ns() + SHUTDOWN_JACK_MS * 1000000ull;
    while (!lp->stopped && hub_jack_fd(h) >= 0 && bb_now_ns() < end) {
        struct pollfd pfd = {.fd = hub_jack_fd(h), .events = POLLIN};
        poll(&pfd, 1, (int)((end - bb_now_ns()) / 1000000u) + 1);
        jack_reports(h, lp);
    }
    if (!lp->final_conns && hub_jack_fd(h) >= 0)
        bb_warn("JACK did not answer within %u ms: connections made since the last snapshot "
                "are not stored", SHUTDOWN_JACK_MS);
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i])
            h->slots[i]->rec_dirty = 1; // last seen now
    hub_state_sync(h, 1);
    bb_store_close(h->store);
    h->store = NULL;
    int jack_stuck = hub_jack_join(h, lp->stopped ? 1000 : 0) < 0;
    hub_net_stop(&h->eng);
    hub_osc_stop(h);
    if (jack_stuck) {
        // The JACK thread is inside libjack and may hold musicians' ports:
        // nothing it might touch is freed. The process is ending anyway.
        bb_warn("the JACK server does not answer: leaving without closing the JACK client");
        return;
    }
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i]) {
            hub_clients_free(h->slots[i]);
            h->slots[i] = NULL;
        }
    hub_jack_free(h);
    hub_rec_free(h); // the callback is gone: the take is finished and closed
    bb_snap_cleanup(&h->eng.graph);
    hub_rt_cleanup(&h->eng);
    if (h->eng.sock >= 0)
        close(h->eng.sock);
    if (h->eng.event_fd >= 0)
        close(h->eng.event_fd);
    bb_ring_cleanup(&h->eng.events);
    free(h->main_rec);
}

// Start-up: the session manager, JACK, the store, the network threads,
// OSC and the JACK thread. Returns 0, or -1 having said why.
static int start_hub(struct hub *h, struct loop *lp)
{
    char err[200];
    // Under a session manager (NSM, RaySession) the manager names the JACK
    // client and says where the files live: the database goes there.
    struct bb_nsm_open op;
    int nsm_failed;
    // The name announced is the executable the manager starts again with
    // no arguments (bandbridge-hub, main.c): a name of its own, so that
    // it never takes a join's place in the session (nsmd matches clients
    // by it).
    lp->nsm = bb_nsm_start("bandbridge-hub", "bandbridge-hub", &op, &nsm_failed);
    if (nsm_failed)
        return -1;
    if (lp->nsm) {
        bb_nsm_jack_name(&op, h->jack_name, sizeof h->jack_name);
        if (snprintf(h->db_path, sizeof h->db_path, "%s/hub.db", op.path) >= (int)sizeof h->db_path) {
            bb_nsm_reply(lp->nsm, BB_NSM_OPEN, 0, "session path too long");
            return -1;
        }
        bb_info("session manager: session '%s', client %s, files in %s", op.display_name,
                op.client_id, op.path);
    }
    // The store, which keeps the room password, then the room key
    // (Argon2id: a fraction of a second, more on a busy machine): once the
    // hub's ports show, it is ready for joins.
    if (strcmp(h->db_path, "none") != 0) {
        if (h->db_path[0] && bb_mkdirs_for(h->db_path) < 0)
            bb_warn("cannot create the directory of %s: %s", h->db_path, strerror(errno));
        h->store = bb_store_open(h->db_path[0] ? h->db_path : NULL, h->jack_name, 500);
        if (h->store)
            bb_info("state database: %s%s", bb_store_path(h->store),
                    bb_store_persistent(h->store) ? "" : " (not writable: memory only for now)");
    }
    if (hub_room_setup(h) < 0) {
        if (lp->nsm)
            bb_nsm_reply(lp->nsm, BB_NSM_OPEN, 0, "no room password");
        return -1;
    }
    if (hub_jack_open(h) < 0) {
        if (lp->nsm)
            bb_nsm_reply(lp->nsm, BB_NSM_OPEN, 0, "cannot open the JACK client");
        return -1;
    }
    if (hub_rec_setup(h, err, sizeof err) < 0) {
        bb_err("%s", err);
        return -1;
    }
    hub_state_start(h);
    h->dirty = 1;
    hub_publish(h); // an empty graph: local inputs and the main mix
    hub_load_init(&h->load, &h->eng, h->load_ceiling, (int)h->mix_complexity, hub_load_cores());
    if (hub_net_start(&h->eng, h->bind[0] ? h->bind : NULL, h->port, err, sizeof err) < 0) {
        bb_err("%s", err);
        return -1;
    }
    if (hub_osc_start(h, err, sizeof err) < 0) {
        bb_err("%s", err);
        return -1;
    }
    if (hub_jack_start(h, h->main_rec, err, sizeof err) < 0) {
        bb_err("%s", err);
        return -1;
    }
    // Every thread is started (none inherits this): the control thread
    // goes below the network threads, ahead of ordinary processes (bb.h).
    int prio = bb_thread_below_network(h->jack_prio, "control");
    if (prio)
        bb_debug("control thread: SCHED_FIFO %d (network threads %d, JACK's callback %d)", prio,
                 h->jack_prio - 1, h->jack_prio);
    if (lp->nsm) {
        bb_nsm_reply(lp->nsm, BB_NSM_OPEN, 1, "hub running");
        snprintf(err, sizeof err, "musicians join on UDP port %u", bb_udp_port(h->eng.sock));
        bb_nsm_message(lp->nsm, 0, err);
    }
    bb_info("hub '%s' listening on UDP port %u (%u Hz, period %u, %u local input%s)%s%s",
            h->jack_name, bb_udp_port(h->eng.sock), h->rate, h->period, h->local_inputs,
            h->local_inputs == 1 ? "" : "s", h->osc_port ? ", OSC on port " : "",
            h->osc_port ? (snprintf(err, sizeof err, "%u", h->osc_port), err) : "");

    return 0;
}

// The control loop; returns 0 when a signal asks the hub to stop.
static int control_loop(struct hub *h, int sig_fd, struct loop *lp)
{
    uint64_t next_sweep = bb_now_ns() + HUB_SWEEP_NS, next_ping = bb_now_ns() + PING_NS;
    int pending = 0;
    struct bb_loop_prof *prof = &h->loop_prof;
    bb_loop_prof_init(prof, loop_part_name, LP_N, HUB_LOOP_SLOW_NS, HUB_LOOP_LOG_NS, bb_now_ns());
    for (;;) {
        uint64_t now = bb_now_ns();
        struct pollfd pfd[5] = {{.fd = h->eng.event_fd, .events = POLLIN},
                                {.fd = sig_fd, .events = POLLIN},
                                {.fd = hub_osc_fd(h, now), .events = POLLIN},
                                {.fd = lp->nsm ? bb_nsm_fd(lp->nsm) : -1, .events = POLLIN},
                                {.fd = hub_jack_fd(h), .events = POLLIN}};
        int timeout = now >= next_sweep ? 0 : (int)((next_sweep - now) / 1000000) + 1;
        if (pending && timeout > 2)
            timeout = 2; // a removal in progress is checked every 2 ms
        if (lp->save_by && (lp->save_by <= now || (int)((lp->save_by - now) / 1000000) + 1 < timeout))
            timeout = lp->save_by <= now ? 0 : (int)((lp->save_by - now) / 1000000) + 1;
        int due = h->store ? bb_store_due_ms(h->store, now / 1000000) : -1;
        if (due >= 0 && due + 1 < timeout)
            timeout = due + 1;
        due = hub_osc_due_ms(h, now); // meters, 25 times a second
        if (due >= 0 && due < timeout)
            timeout = due;
        poll(pfd, 5, timeout); // negative fds are ignored
        bb_loop_prof_begin(prof, bb_now_ns());
        if (pfd[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sig_fd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGPIPE) {
                bb_info("signal %u: shutting down", si.ssi_signo);
                return 0;
            }
        }
        // OSC before the network's events: a change a controller sent while
        // a musician was leaving, in the same turn as the LEAVE, reaches the
        // musician's record (stored when the ports are gone) instead of being
        // refused. A JOIN and an OSC message for that musician cannot meet
        // here the other way round: a controller only learns of a musician
        // from what the JOIN's handling tells it (ports, /hub/ notifications).
        if (pfd[2].revents & POLLIN)
            hub_osc_poll(h, bb_now_ns());
        bb_loop_prof_mark(prof, LP_OSC, bb_now_ns());
        if (pfd[0].revents & POLLIN)
            hub_session_drain(h);
        bb_loop_prof_mark(prof, LP_NET, bb_now_ns());
        if (pfd[4].revents & POLLIN)
            jack_reports(h, lp);
        bb_loop_prof_mark(prof, LP_JACK, bb_now_ns());
        if ((pfd[3].revents & POLLIN) && bb_nsm_poll(lp->nsm, NULL) == BB_NSM_SAVE &&
            !lp->save_by) {
            // The routing as it is, then everything to disk (TAG_SAVE).
            hub_jack_snapshot(h, NULL);
            hub_jack_barrier(h, TAG_SAVE);
            lp->save_by = bb_now_ns() + SAVE_WAIT_NS;
        }
        now = bb_now_ns();
        if (lp->save_by && now >= lp->save_by) {
            bb_warn("JACK did not answer within 1 s: saved without the latest routing");
            nsm_save(h, lp);
        }
        hub_osc_tick(h, now);
        bb_loop_prof_mark(prof, LP_TICK, bb_now_ns());
        if (now >= next_sweep) {
            next_sweep = hub_clients_sweep(h, now);
            bb_log_flush(); // lines of a kind held back in a second that is over
        }
        bb_loop_prof_mark(prof, LP_SWEEP, bb_now_ns());
        if (now >= next_ping) {
            log_stats(h);
            struct hub_load_cpu cpu;
            hub_load_read_cpu(&h->eng, &cpu);
            hub_load_tick(&h->load, &h->eng, &cpu, h->period, h->rate, hub_active_count(h));
            hub_rec_tick(h); // the writer's news, at most about one a second

            hub_session_ping(h, now);
            if (!lp->snapshot_asked) { // one at a time, however slow jackd is
                hub_jack_snapshot(h, NULL);
                hub_jack_barrier(h, TAG_SNAPSHOT);
                lp->snapshot_asked = 1;
            }
            next_ping = now + PING_NS;
        }
        bb_loop_prof_mark(prof, LP_PING, bb_now_ns());
        hub_publish(h);
        bb_loop_prof_mark(prof, LP_PUBLISH, bb_now_ns());
        pending = hub_clients_advance(h);
        bb_loop_prof_mark(prof, LP_ADVANCE, bb_now_ns());
        hub_state_sync(h, 0);
        bb_loop_prof_mark(prof, LP_STORE, bb_now_ns());
        loop_turn_end(prof);
    }
}

int bb_hub_main(int argc, char **argv)
{
    static struct hub hub; // large (per-source settings); one per process
    struct hub *h = &hub;
    snprintf(h->jack_name, sizeof h->jack_name, "bandbridge");
    h->port = BB_DEFAULT_PORT;
    h->local_inputs = 2;
    h->max_clients = BB_MAX_CLIENTS;
    h->mix_complexity = 0; // bandbridge(1): 22 % cheaper than 2, within 0.5 dB of it
    h->load_ceiling = HUB_LOAD_CEILING_DEFAULT;
    h->drift_comp = 1;
    h->timeout_ms = 1000;
    h->max_per_address = 8;
    h->forget_days = 180;
    h->max_identities = 1000;
    h->jitter = 0;
    h->eng.sock = -1;
    h->eng.event_fd = -1;
    if (parse_options(h, argc, argv) < 0)
        return 2;
    if (h->show_password)
        return hub_room_show(h);
    hub_clients_init(h);
    // The store first: a joining musician's stored mix is applied before
    // anyone is told of it.
    hub_clients_observe(h, &hub_state_observer);
    hub_clients_observe(h, &hub_session_observer);
    hub_clients_observe(h, &osc_observer);
    hub_clients_observe(h, &hub_rec_observer);
    // A file size limit must be a write error the recorder reports, not
    // the death of the hub (recorder.h).
    signal(SIGXFSZ, SIG_IGN);

    // Signals become events of the control loop (no work in a handler).
    int sig_fd = bb_cli_signals(); // threads started below inherit the mask

    hub_graph_init(h);
    struct loop lp = {0};
    int status = start_hub(h, &lp) < 0 ? 1 : control_loop(h, sig_fd, &lp);
    shutdown_hub(h, &lp);
    bb_nsm_free(lp.nsm);
    if (sig_fd >= 0)
        close(sig_fd);
    return status;
}
