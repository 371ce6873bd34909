// SPDX-License-Identifier: GPL-2.0-or-later
// join_main.c: `bandbridge join`: options, the JACK client, the control loop.
//
// The control loop polls the receive thread's event fd, signals, the
// musician's OSC port and the session manager, and lets the session state
// machine (join_session.c) do the rest.
//
// PRIORITY. Unlike the hub's (bb_thread_below_network), this control thread
// stays an ordinary one: the audio is the network threads' and the
// callback's, and the hub hears the musician by that audio, not by this
// thread's PINGs. What it does can take a core for a while: the musician's
// OSC port is read 64 datagrams a turn without pacing, and a COOKIE with a
// new salt costs Argon2id (a fraction of a second of CPU); at a realtime
// priority either would hold off every ordinary program on that core.
#include <arpa/inet.h>
#include <getopt.h>
#include <sodium.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "identity.h"
#include "jack_meta.h"
#include "jack_open.h"
#include "keypair.h"
#include "seal.h"
#include "join.h"
#include <jack/thread.h> // after jack.h (through join.h): it needs jack_client_t
#include "join_session.h"
#include "log.h"
#include "join_nsm.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bandbridge join HOST[:PORT] --name NAME [options]\n"
            "Join a hub: send this machine's JACK inputs, play your personal mix.\n\n"
            "  -N, --name NAME       your name as the band sees it (required)\n"
            "  -c, --channels N      inputs to send (default 1, max %d)\n"
            "  -C, --codec CODEC     opus (default), opus-ld (half the codec delay,\n"
            "                        coarser bass), opus-std, pcm16, pcm24, float\n"
            "  -R, --down-codec CODEC  what the hub sends back, if not the same: e.g.\n"
            "                        --codec opus --down-codec pcm16 saves Opus's 64\n"
            "                        samples of delay on the way back (1.5 Mb/s down)\n"
            "  -k, --kbps N          Opus bit rate per channel (default 96)\n"
            "  -j, --jitter N|auto   jitter buffer depth in frames, both ways (default auto)\n"
            "  -T, --tone HZ         send a sine tone on channel 1 (a demo without a mic)\n"
            "  -I, --identity FILE   old identity file (default: per name, in the state dir);\n"
            "                        the identity key pair is FILE.key (default: key-NAME)\n"
            "  -P, --password-file FILE  the room password (first line); else the\n"
            "                        environment variable BANDBRIDGE_PASSWORD; under a\n"
            "                        session manager the file 'password' in its folder;\n"
            "                        none: the empty password of a hub started --open\n"
            "  -n, --jack-name NAME  JACK client name (default bandbridge-NAME)\n"
            "  -A, --no-auto-connect leave the JACK ports unconnected\n"
            "      --no-drift-comp   never resample the mix when the hub's clock drifts\n"
            "                        from ours (by default the drift is followed)\n"
            "  -s, --seconds S       leave after S seconds (default: run until stopped)\n"
            "  -o, --osc-port N      open UDP port N for your own OSC tablet or phone: what\n"
            "                        it sends goes to the hub over the session, for your\n"
            "                        own mix (/mix/me/...); answers come back the same way\n"
            "      --osc-bind ADDR   listen for OSC on this IPv4 address only (default: all)\n"
            "  -v, --verbose         more log lines;  -q, --quiet  warnings and errors only\n"
            "  -h, --help            this text\n",
            BB_MAX_CLIENT_CH);
}

// Option o with its argument arg: 0 taken, 1 a bad value, 2 not one of
// these.
static int set_option(struct join *j, int o, const char *arg, int *down_set)
{
    char *end = NULL;
    unsigned v;
    switch (o) {
    case 'N':
        if (strlen(arg) >= BB_NAME_MAX || bb_sanitize_name(j->name, sizeof j->name, arg) == 0)
            return 1;
        if (strcmp(j->name, arg) != 0)
            bb_warn("name '%s' will be shown as '%s'", arg, j->name);
        break;
    case 'c':
        if (bb_parse_uint(arg, 1, BB_MAX_CLIENT_CH, &j->channels) < 0)
            return 1;
        break;
    case 'C':
        if (bb_codec_parse(arg, &j->codec) < 0)
            return 1;
        break;
    case 'R':
        if (bb_codec_parse(arg, &j->down_codec) < 0)
            return 1;
        *down_set = 1;
        break;
    case 'k':
        if (bb_parse_uint(arg, 6, 510, &j->kbps) < 0)
            return 1;
        break;
    case 'j':
        if (strcmp(arg, "auto") == 0) {
            j->jitter = BB_JBUF_AUTO;
            break;
        }
        if (bb_parse_uint(arg, 0, 4800, &j->jitter) < 0)
            return 1;
        break;
    case 'T':
        j->tone_hz = strtof(arg, &end);
        if (*end || !(j->tone_hz > 0.0f && j->tone_hz < 20000.0f))
            return 1;
        break;
    case 'I':
        snprintf(j->identity_path, sizeof j->identity_path, "%s", arg);
        snprintf(j->key_path, sizeof j->key_path, "%.4000s.key", arg);
        break;
    case 'P':
        snprintf(j->password_file, sizeof j->password_file, "%s", arg);
        break;
    case 'n':
        if (!*arg || strlen(arg) >= sizeof j->jack_name)
            return 1;
        snprintf(j->jack_name, sizeof j->jack_name, "%s", arg);
        break;
    case 'A':
        j->auto_connect = 0;
        break;
    case 'F':
        j->drift_comp = 1; // the default; kept for older command lines
        break;
    case 'X':
        j->drift_comp = 0;
        break;
    case 's':
        j->run_seconds = strtod(arg, &end);
        if (*end || !(j->run_seconds > 0))
            return 1;
        break;
    case 'o':
        if (bb_parse_uint(arg, 1, 65535, &v) < 0)
            return 1;
        j->osc_port = (uint16_t)v;
        break;
    case 'B': {
        struct in_addr a;
        if (strlen(arg) >= sizeof j->osc_bind || inet_pton(AF_INET, arg, &a) != 1)
            return 1;
        snprintf(j->osc_bind, sizeof j->osc_bind, "%s", arg);
        break;
    }
    default:
        return bb_cli_log_option(o) ? 0 : 2;
    }
    return 0;
}

// What option o takes, for the line that refuses a bad value; the codecs
// are listed in buf.
static const char *value_hint(int o, char *buf, size_t size)
{
    switch (o) {
    case 'C':
    case 'R':
        snprintf(buf, size, "one of");
        for (int c = 1; c < BB_CODEC_COUNT; c++)
            snprintf(buf + strlen(buf), size - strlen(buf), "%s %s", c > 1 ? "," : "",
                     bb_codec_name((enum bb_codec)c));
        return buf;
    case 'N':
        return "1 to 31 characters (letters, digits, -, _ and . are kept as they are)";
    case 'c':
        return "1 to " BB_STR(BB_MAX_CLIENT_CH);
    case 'k':
        return "6 to 510";
    case 'j':
        return "frames, 0 to 4800, or auto";
    case 'T':
        return "a frequency in Hz, above 0 and below 20000";
    case 'n':
        return "a non-empty name";
    case 's':
        return "seconds, more than 0";
    case 'o':
        return "a UDP port, 1 to 65535";
    case 'B':
        return "an IPv4 address such as 192.168.1.10";
    default:
        return NULL;
    }
}

static int parse_options(struct join *j, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, 0, 'N'},      {"channels", required_argument, 0, 'c'},
        {"codec", required_argument, 0, 'C'},     {"kbps", required_argument, 0, 'k'},
        {"down-codec", required_argument, 0, 'R'},
        {"jitter", required_argument, 0, 'j'},    {"tone", required_argument, 0, 'T'},
        {"identity", required_argument, 0, 'I'},  {"jack-name", required_argument, 0, 'n'},
        {"no-auto-connect", no_argument, 0, 'A'}, {"seconds", required_argument, 0, 's'},
        {"drift-comp", no_argument, 0, 'F'}, {"no-drift-comp", no_argument, 0, 'X'},
        {"osc-port", required_argument, 0, 'o'},  {"osc-bind", required_argument, 0, 'B'},
        {"verbose", no_argument, 0, 'v'},         {"quiet", no_argument, 0, 'q'},
        {"password-file", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    int down_set = 0;
    optind = 1;
    for (int o; (o = bb_cli_getopt("join", argc, argv, "N:c:C:R:k:j:T:I:n:As:o:P:vqh", opts)) != -1;) {
        if (o == '?')
            return -1; // said why
        if (o == 'h') {
            usage(stdout);
            exit(0);
        }
        int rc = set_option(j, o, optarg, &down_set);
        if (rc != 0) {
            char codecs[128];
            bb_cli_bad_value("join", opts, o, optarg, value_hint(o, codecs, sizeof codecs));
            return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "bandbridge join: name the hub: bandbridge join HOST[:PORT] --name NAME\n");
        return -1;
    }
    snprintf(j->host, sizeof j->host, "%s", argv[optind]);
    if (!j->name[0]) {
        fprintf(stderr, "bandbridge join: --name NAME is required\n");
        return -1;
    }
    if (j->osc_bind[0] && !j->osc_port) {
        fprintf(stderr, "bandbridge join: --osc-bind needs --osc-port\n");
        return -1;
    }
    if (!down_set)
        j->down_codec = j->codec;
    return 0;
}

// JACK thread: the server went away. Only flag it and wake the control loop.
static void jack_shutdown_cb(void *arg)
{
    struct join *j = arg;
    atomic_store(&j->jack_gone, 1);
    uint64_t one = 1;
    if (write(j->event_fd, &one, sizeof one) < 0) {
        // the control loop polls with a timeout anyway
    }
}

static void connect_ports(struct join *j)
{
    const char **caps = jack_get_ports(j->jack, NULL, JACK_DEFAULT_AUDIO_TYPE,
                                       JackPortIsPhysical | JackPortIsOutput);
    const char **plays = jack_get_ports(j->jack, NULL, JACK_DEFAULT_AUDIO_TYPE,
                                        JackPortIsPhysical | JackPortIsInput);
    if (caps && j->tone_hz <= 0.0f)
        for (unsigned c = 0; c < j->channels && caps[c]; c++)
            jack_connect(j->jack, caps[c], jack_port_name(j->in[c]));
    if (plays)
        for (unsigned c = 0; c < BB_MIX_CH && plays[c]; c++)
            jack_connect(j->jack, jack_port_name(j->out[c]), plays[c]);
    jack_free(caps);
    jack_free(plays);
}

/// The handshake's secrets: the room password (--password-file, the
/// environment, or none: an open room) and the identity key pair, created
/// on first use; an old identity token is kept to be linked once
/// (keypair.h). 0 or -1 with err.
static int security_setup(struct join *j, char *err, size_t err_size)
{
    static char password[BB_HS_PASSWORD_MAX];
    const char *env = getenv("BANDBRIDGE_PASSWORD");
    if (j->password_file[0]) {
        if (bb_room_password_load(j->password_file, password, err, err_size) < 0)
            return -1;
    } else if (env) {
        if (strlen(env) >= sizeof password) {
            snprintf(err, err_size, "BANDBRIDGE_PASSWORD is too long (%zu bytes at most)",
                     sizeof password - 1);
            return -1;
        }
        snprintf(password, sizeof password, "%s", env);
    } else {
        bb_info("no room password given (--password-file or BANDBRIDGE_PASSWORD): "
                "only a hub started with --open will let us in");
    }
    if (!j->key_path[0] && bb_keypair_path(j->name, j->key_path, sizeof j->key_path, err,
                                           err_size) < 0)
        return -1;
    static struct bb_keypair kp;
    static struct bb_hs_client hs;
    if (bb_crypto_init() < 0) {
        snprintf(err, err_size, "cannot initialise libsodium");
        return -1;
    }
    if (bb_keypair_load_or_migrate(j->key_path, j->identity_path, &kp, j->identity,
                                   &j->have_old_identity, err, err_size) < 0)
        return -1;
    int rc = bb_hs_client_init(&hs, password, &kp);
    bb_keypair_wipe(&kp);
    sodium_memzero(password, sizeof password);
    if (rc < 0) {
        snprintf(err, err_size, "cannot set up the handshake: %s", bb_hs_strerror(rc));
        return -1;
    }
    j->hs = &hs;
    return 0;
}

/// What the command line and the session give: JACK name, hub address,
/// identity. Returns 0 or an exit status.
static int configure(struct join *j, struct join_nsm *n, int argc, char **argv)
{
    char err[300];
    if (parse_options(j, argc, argv) < 0) {
        join_nsm_fail(n, "bad command line");
        return 2;
    }
    if (n->nsm) {
        bb_nsm_jack_name(&n->op, j->jack_name, sizeof j->jack_name);
        if (!j->identity_path[0])
            snprintf(j->identity_path, sizeof j->identity_path, "%.4000s/identity", n->op.path);
        if (!j->key_path[0])
            snprintf(j->key_path, sizeof j->key_path, "%.4000s/key", n->op.path);
        if (join_nsm_save_args(n, argc, argv) < 0)
            bb_warn("cannot write %s: the session will need the command line again", n->args_path);
        bb_info("session manager: session '%s', client %s, files in %s", n->op.display_name,
                n->op.client_id, n->op.path);
    }
    if (!j->jack_name[0])
        snprintf(j->jack_name, sizeof j->jack_name, "bandbridge-%.31s", j->name);
    if (n->nsm && !j->password_file[0]) {
        snprintf(j->password_file, sizeof j->password_file, "%.4000s/password", n->op.path);
        if (access(j->password_file, R_OK) != 0 || getenv("BANDBRIDGE_PASSWORD"))
            j->password_file[0] = '\0';
    }
    if (bb_addr_parse(j->host, BB_DEFAULT_PORT, &j->hub, err, sizeof err) < 0 ||
        (!j->identity_path[0] &&
         bb_identity_path(j->name, j->identity_path, sizeof j->identity_path, err, sizeof err) < 0) ||
        security_setup(j, err, sizeof err) < 0) {
        bb_err("%s", err);
        join_nsm_fail(n, err);
        return 2;
    }
    return 0;
}

/// What patchbays show (jack_meta.h): the same words as the hub's ports
/// ("alice (1)", "alice L"/"alice R" for two channels, "alice's mix L").
static void jack_meta(struct join *j)
{
    char pretty[BB_NAME_MAX + 32];
    snprintf(pretty, sizeof pretty, "bandbridge join %s", j->name);
    bb_jack_meta_client(j->jack, pretty);
    for (unsigned c = 0; c < j->channels; c++) {
        if (j->channels == 2)
            snprintf(pretty, sizeof pretty, "%s %c", j->name, c == 0 ? 'L' : 'R');
        else
            snprintf(pretty, sizeof pretty, "%s (%u)", j->name, c + 1);
        bb_jack_meta_port(j->jack, j->in[c], pretty, j->channels == 2 ? j->name : "", (int)c);
    }
    snprintf(pretty, sizeof pretty, "%s's mix", j->name);
    for (unsigned c = 0; c < BB_MIX_CH; c++) {
        char side[BB_NAME_MAX + 40];
        snprintf(side, sizeof side, "%s %c", pretty, c == 0 ? 'L' : 'R');
        bb_jack_meta_port(j->jack, j->out[c], side, pretty, 100 + (int)c);
    }
}

/// Opens the JACK client and registers the ports. Returns 0 or an exit status.
static int jack_open(struct join *j)
{
    enum bb_jack_fail fail;
    char why[300];
    j->jack = bb_jack_open(j->jack_name, 0, "--jack-name", &fail, why, sizeof why);
    if (!j->jack) {
        bb_err("%s", why);
        return 1;
    }
    j->rate = jack_get_sample_rate(j->jack);
    j->period = jack_get_buffer_size(j->jack);
    j->jack_prio = jack_client_real_time_priority(j->jack);
    if (j->period > BB_STREAM_MAX_PERIOD) {
        bb_err("JACK period %u is larger than the %u frames bandbridge supports", j->period,
               BB_STREAM_MAX_PERIOD);
        return 1;
    }
    // The stream runs at the hub's rate (ours is converted, join_conv.c),
    // which WELCOME tells: refuse here only what neither ours nor the
    // usual 48 kHz could carry (too many channels); the hub refuses the rest.
    if ((bb_codec_wire_frames(j->codec, j->rate, j->channels) == 0 &&
         bb_codec_wire_frames(j->codec, 48000, j->channels) == 0) ||
        (bb_codec_wire_frames(j->down_codec, j->rate, BB_MIX_CH) == 0 &&
         bb_codec_wire_frames(j->down_codec, 48000, BB_MIX_CH) == 0)) {
        int up_ok = bb_codec_wire_frames(j->codec, j->rate, j->channels) != 0;
        bb_err("codec %s cannot carry %u channels at %u Hz",
               bb_codec_name(up_ok ? j->down_codec : j->codec), up_ok ? BB_MIX_CH : j->channels,
               j->rate);
        return 2;
    }
    int ok = 1;
    char pn[32];
    for (unsigned c = 0; c < j->channels; c++) {
        snprintf(pn, sizeof pn, "in_%u", c + 1);
        j->in[c] = jack_port_register(j->jack, pn, JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
        ok &= j->in[c] != NULL;
    }
    j->out[0] = jack_port_register(j->jack, "out_L", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
    j->out[1] = jack_port_register(j->jack, "out_R", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
    j->rt_inter = calloc((size_t)BB_STREAM_MAX_PERIOD * BB_MAX_CLIENT_CH, sizeof(float));
    if (!ok || !j->out[0] || !j->out[1] || !j->rt_inter) {
        bb_err("cannot register JACK ports");
        return 1;
    }
    jack_meta(j);
    return 0;
}

/// The control loop: until the session state machine is DONE.
static int run(struct join *j, struct join_nsm *n, int sig_fd, int argc, char **argv)
{
    struct join_session ss;
    join_session_begin(j, &ss);
    while (ss.state != JOIN_DONE) {
        int timeout = join_session_tick(j, &ss);
        if (ss.state == JOIN_DONE)
            break;
        struct pollfd pfd[4] = {{.fd = j->event_fd, .events = POLLIN},
                                {.fd = sig_fd, .events = POLLIN},
                                {.fd = join_osc_fd(j), .events = POLLIN},
                                {.fd = n->nsm ? bb_nsm_fd(n->nsm) : -1, .events = POLLIN}};
        poll(pfd, 4, timeout); // negative fds are ignored
        if ((pfd[3].revents & POLLIN) && bb_nsm_poll(n->nsm, NULL) == BB_NSM_SAVE) {
            // The identity is on disk since the start; the command line is
            // written again (what this run was started with).
            int saved = join_nsm_save_args(n, argc, argv) == 0;
            bb_nsm_reply(n->nsm, BB_NSM_SAVE, saved, saved ? "saved" : "cannot write join.args");
        }
        if (pfd[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sig_fd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGPIPE)
                join_session_quit(j, &ss);
        }
        if (atomic_load(&j->jack_gone)) {
            join_session_jack_gone(j, &ss);
            jack_client_close(j->jack); // after a shutdown only closing is allowed
            j->jack = NULL;
            break;
        }
        if (pfd[0].revents & POLLIN) {
            uint64_t v;
            if (read(j->event_fd, &v, sizeof v) < 0) {
                // spurious wake-up
            }
        }
        if (pfd[2].revents & POLLIN)
            join_osc_poll(j);
        static struct join_event ev; // [ctl] only
        while (ss.state != JOIN_DONE && bb_ring_read(&j->events, &ev, sizeof ev))
            join_session_event(j, &ss, ev.data, ev.len);
        bb_snap_collect(&j->streams);
    }
    return ss.status;
}

int bb_join_main(int argc, char **argv)
{
    static struct join jn;
    struct join *j = &jn;
    j->channels = 1;
    j->codec = BB_CODEC_OPUS;
    j->jitter = BB_JBUF_AUTO;
    j->auto_connect = 1;
    j->drift_comp = 1;
    j->sock = -1;
    j->event_fd = -1;
    char err[300];

    // Signals first: a join waiting for its session's settings ends on one.
    int sig_fd = bb_cli_signals();
    static struct join_nsm n;
    int status = join_nsm_open(&n, sig_fd, &argc, &argv);
    if (status == 0)
        status = configure(j, &n, argc, argv);
    if (status != 0) {
        bb_nsm_free(n.nsm);
        if (sig_fd >= 0)
            close(sig_fd);
        return status < 0 ? 0 : status;
    }

    join_session_streams_init(j);
    int started = 0;
    if ((status = jack_open(j)) != 0)
        goto out;
    status = 1;
    if (join_net_start(j, err, sizeof err) < 0 || join_osc_start(j, err, sizeof err) < 0) {
        bb_err("%s", err);
        goto out;
    }
    started = 1;
    jack_set_process_callback(j->jack, join_rt_process, j);
    jack_on_shutdown(j->jack, jack_shutdown_cb, j);
    if (jack_activate(j->jack) != 0) {
        bb_err("cannot activate the JACK client");
        goto out;
    }
    if (j->auto_connect)
        connect_ports(j);
    join_nsm_opened(&n, "joining");
    char hs[80];
    bb_info("joining %s as '%s' (%u channel%s, %s, %u Hz, period %u)",
            bb_addr_str(&j->hub, hs, sizeof hs), j->name, j->channels,
            j->channels == 1 ? "" : "s", bb_codec_name(j->codec), j->rate, j->period);
    status = run(j, &n, sig_fd, argc, argv);
out:
    if (j->jack)
        jack_deactivate(j->jack);
    bb_snap_idle(&j->streams, JOIN_READER_RT);
    if (started)
        join_net_stop(j);
    join_nsm_fail(&n, "cannot start (see its log)");
    bb_nsm_free(n.nsm);
    if (j->jack) {
        jack_client_close(j->jack);
    }
    bb_snap_cleanup(&j->streams);
    free(j->rt_inter);
    if (j->sock >= 0)
        close(j->sock);
    if (j->event_fd >= 0)
        close(j->event_fd);
    bb_ring_cleanup(&j->events);
    join_osc_stop(j);
    if (sig_fd >= 0)
        close(sig_fd);
    return status;
}
