// SPDX-License-Identifier: GPL-2.0-or-later
// fuzz_osc.c: fuzz harness for the hub's OSC dispatch (test/tools/fuzz.h:
// built into make check and by make fuzz): datagrams go through
// hub_osc_datagram(), what hub_osc_poll() does with each datagram it reads
// (allow-list, length, rate, the packet walker, the address table, the
// password, every handler), and hub_osc_relay(), the path of a musician's
// own controller, against a hub built without JACK: three musicians in
// their slots (streams open, no ports), a password, no store, the click.
//
// An input is a list of datagrams, each [source][u16 length, LE][bytes]:
//   source % 4 == 0  127.0.0.1: allowed, and this machine (verified)
//                1   0.0.0.0: allowed (--osc-allow 0.0.0.0/32) but not
//                    verified: no /error back to it may be longer than
//                    the datagram it answers (checked on what arrives)
//                2   127.0.0.2: outside the allow-list (refused)
//                3   relayed by musician (source >> 2) % 3's join,
//                    controller (source >> 4)
// Replies go to a socket of this process. Handlers send where a message
// says (a /subscribe's reply port, a lease's feedback), and other programs
// on this machine listen on ports a mutation may name (another hub's OSC
// port would take feedback for commands): so this harness defines
// sendto() and sendmsg() itself, which the program and liblo call instead
// of libc's, and sends only to its own socket; everything else is
// dropped as if sent. Relayed answers go nowhere (no hub socket).
// Between inputs the OSC surface's memory (sources, /auth, cookies, leases)
// and the musicians' names are put back, so an input does what it does alone.
#include <arpa/inet.h>
#include <errno.h>
#include <lo/lo.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/syscall.h>

#include "fuzz.h"
#include "hub.h"
#include "log.h"
#include "osc.h"
#include "recorder_hub.h"

#define PASSWORD "fuzz-room"
#define NMUS     3

static struct hub hub;
static int sink = -1; // where replies to UDP sources arrive
static uint16_t sink_port;
static const char *const names[NMUS] = {"alice", "bob", "carol"};

static uint16_t free_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    bb_fuzz_must(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0, "getsockname");
    return ntohs(sa.sin_port);
}

static int udp_bound(uint32_t addr)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(addr)};
    bb_fuzz_must(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "a UDP socket");
    return fd;
}

/// Whether a datagram to sa may leave this process: to the sink only.
static int to_sink(const struct sockaddr *sa, socklen_t sl)
{
    if (!sa || sink_port == 0)
        return 0;
    if (sa->sa_family == AF_INET && sl >= (socklen_t)sizeof(struct sockaddr_in))
        return ((const struct sockaddr_in *)(const void *)sa)->sin_port == htons(sink_port);
    if (sa->sa_family == AF_INET6 && sl >= (socklen_t)sizeof(struct sockaddr_in6))
        return ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port == htons(sink_port);
    return 0;
}

// glibc declares the address a transparent union under _GNU_SOURCE.
#ifdef __USE_GNU
#define SOCKADDR_OF(a) ((a).__sockaddr__)
#else
#define SOCKADDR_OF(a) (a)
#endif

ssize_t sendto(int fd, const void *buf, size_t len, int flags, __CONST_SOCKADDR_ARG to,
               socklen_t tl)
{
    const struct sockaddr *sa = SOCKADDR_OF(to);
    if (!to_sink(sa, tl))
        return (ssize_t)len; // dropped: see the head of this file
    return syscall(SYS_sendto, fd, buf, len, flags, sa, tl);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (!msg || !to_sink(msg->msg_name, msg->msg_namelen)) {
        size_t n = 0;
        for (size_t i = 0; msg && i < msg->msg_iovlen; i++)
            n += msg->msg_iov[i].iov_len;
        return (ssize_t)n;
    }
    return syscall(SYS_sendmsg, fd, msg, flags);
}

static void add_musician(struct hub *h, int slot, const char *name, enum bb_codec codec,
                         unsigned channels)
{
    struct bb_join j = {.rate = 48000, .period = 64, .channels = (uint8_t)channels,
                        .codec = (uint8_t)codec, .jitter = 0xFFFF};
    snprintf(j.name, sizeof j.name, "%s", name);
    struct hub_client *c = hub_clients_new(slot);
    bb_fuzz_must(c != NULL, "a client");
    memset(c->identity, 0x40 + slot, sizeof c->identity);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->join_name, sizeof c->join_name, "%s", name);
    c->session = 0x123400u | (uint32_t)slot;
    c->channels = channels;
    c->st.rx_codec = c->st.tx_codec = codec;
    c->st.rx_frames = bb_codec_wire_frames(codec, 48000, channels);
    c->st.tx_frames = bb_codec_wire_frames(codec, 48000, BB_MIX_CH);
    char err[160];
    bb_fuzz_must(hub_client_stream_open(h, c, &j, BB_JBUF_AUTO, err, sizeof err) == 0, err);
    hub_clients_admit(h, c);
}

static void setup(void)
{
    struct hub *h = &hub;
    bb_log_set_level(BB_LOG_ERR); // a rename or an /auth per input would flood the output
    snprintf(h->jack_name, sizeof h->jack_name, "fuzz");
    h->rate = 48000;
    h->period = 64;
    h->local_inputs = 2;
    h->max_clients = BB_MAX_CLIENTS;
    h->drift_comp = 1;
    h->eng.sock = -1; // relayed answers are sent to nobody
    h->eng.event_fd = -1;
    snprintf(h->osc_password, sizeof h->osc_password, PASSWORD);
    bb_fuzz_must(hub_osc_parse_allow("127.0.0.1/32", &h->osc_allow_net[0], &h->osc_allow_mask[0]) == 0 &&
                     hub_osc_parse_allow("0.0.0.0/32", &h->osc_allow_net[1], &h->osc_allow_mask[1]) == 0,
                 "--osc-allow");
    h->osc_nallow = 2;
    hub_clients_init(h);
    hub_graph_init(h);
    char err[200];
    bb_fuzz_must(hub_rec_setup(h, err, sizeof err) == 0, err); // the click (no --record)
    add_musician(h, 0, names[0], BB_CODEC_FLOAT, 2);
    add_musician(h, 1, names[1], BB_CODEC_OPUS, 1);
    add_musician(h, 2, names[2], BB_CODEC_PCM16, 2);
    hub_publish(h);
    // The hub's OSC port: a free one on this machine.
    int probe = udp_bound(INADDR_LOOPBACK);
    h->osc_port = free_port(probe);
    close(probe);
    snprintf(h->osc_bind, sizeof h->osc_bind, "127.0.0.1");
    bb_fuzz_must(hub_osc_start(h, err, sizeof err) == 0 && h->osc, err);
    sink = udp_bound(INADDR_ANY); // 127.0.0.1, 127.0.0.2 and 0.0.0.0 all reach it
    sink_port = free_port(sink);
}

/// Puts back what an input may have changed that would change what the
/// next one does.
static void reset(struct hub *h, uint64_t now)
{
    struct hub_osc *o = h->osc;
    memset(o->authed, 0, sizeof o->authed);
    memset(o->verified, 0, sizeof o->verified);
    memset(o->sources, 0, sizeof o->sources);
    memset(&o->logwin, 0, sizeof o->logwin);
    o->refused_replies_win = o->refused_replies_ns = 0;
    o->win_start_ns = o->hold_until_ns = 0;
    o->win_count = 0;
    o->pacing = 0;
    osc_feedback_free(o->fb);
    o->fb = osc_feedback_new(now);
    bb_fuzz_must(o->fb != NULL, "the feedback");
    for (int i = 0; i < NMUS; i++)
        snprintf(h->slots[i]->name, sizeof h->slots[i]->name, "%s", names[i]);
}

/// Reads what came back; with check, every /error must be no longer than
/// req_len (a source that has not shown it receives is no reflector).
static void drain(int check, size_t req_len)
{
    uint8_t buf[65536];
    ssize_t n;
    while ((n = recv(sink, buf, sizeof buf, MSG_DONTWAIT)) >= 0)
        if (check && n >= 7 && memcmp(buf, "/error", 7) == 0)
            bb_fuzz_must((size_t)n <= req_len, "an /error to an unverified source is no "
                                               "longer than its datagram");
}

static void one(struct hub *h, unsigned source, const uint8_t *data, size_t len, uint64_t now)
{
    static uint8_t pkt[BB_FUZZ_MAX_INPUT];
    memcpy(pkt, data, len); // the walker may be handed a buffer it owns
    unsigned kind = source % 4;
    if (kind == 3) {
        struct hub_client *c = h->slots[(source >> 2) % NMUS];
        hub_osc_relay(h, c, source >> 4, pkt, len);
        return;
    }
    static const uint32_t from[3] = {0x7F000001u, 0x00000000u, 0x7F000002u};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(sink_port),
                             .sin_addr.s_addr = htonl(from[kind])};
    drain(0, 0);
    hub_osc_datagram(h, pkt, len, (const struct sockaddr *)&sa, sizeof sa, now);
    drain(kind == 1, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sink < 0)
        setup();
    struct hub *h = &hub;
    uint64_t now = bb_now_ns();
    reset(h, now);
    size_t p = 0;
    while (p + 3 <= size) {
        unsigned source = data[p];
        size_t len = (size_t)data[p + 1] | (size_t)data[p + 2] << 8;
        p += 3;
        if (len > size - p)
            len = size - p;
        one(h, source, data + p, len, now);
        p += len;
    }
    hub_osc_tick(h, now + 50000000ull); // feedback and meters to the leases taken
    drain(0, 0);
    return 0;
}

/* ---- seeds: every address of the table, from each kind of source ---- */

struct seed {
    uint8_t *buf;
    size_t   size, len;
};

/// Appends one datagram: message path with the arguments in types ('f',
/// 'i', 's'; values from vals in turn), or a bundle of two when path is NULL.
static void put(struct seed *s, unsigned source, const char *path, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    lo_message m = lo_message_new();
    for (const char *t = types; *t; t++) {
        if (*t == 'f')
            lo_message_add_float(m, (float)va_arg(ap, double));
        else if (*t == 'i')
            lo_message_add_int32(m, va_arg(ap, int));
        else
            lo_message_add_string(m, va_arg(ap, const char *));
    }
    va_end(ap);
    size_t n = 0;
    void *bytes;
    lo_bundle b = NULL;
    if (path) {
        bytes = lo_message_serialise(m, path, NULL, &n);
    } else {
        b = lo_bundle_new(LO_TT_IMMEDIATE);
        lo_bundle_add_message(b, "/auth", m);
        lo_message m2 = lo_message_new();
        lo_message_add_float(m2, -3.0f);
        lo_bundle_add_message(b, "/mix/alice/ch/bob/gain", m2);
        bytes = lo_bundle_serialise(b, NULL, &n);
    }
    if (bytes && s->len + 3 + n <= s->size) {
        s->buf[s->len] = (uint8_t)source;
        s->buf[s->len + 1] = (uint8_t)n;
        s->buf[s->len + 2] = (uint8_t)(n >> 8);
        memcpy(s->buf + s->len + 3, bytes, n);
        s->len += 3 + n;
    }
    free(bytes);
    if (b)
        lo_bundle_free_recursive(b);
    else
        lo_message_free(m);
}

#define AUTH(s, src) put(s, src, "/auth", "s", PASSWORD)

size_t bb_fuzz_seed(unsigned i, uint8_t *buf, size_t size)
{
    struct seed s = {buf, size, 0};
    struct seed *sp = &s;
    switch (i) {
    case 0: put(sp, 0, "/info", ""); break;
    case 1: AUTH(sp, 0); put(sp, 0, "/status", ""); put(sp, 0, "/stats", ""); break;
    case 2:
        AUTH(sp, 0);
        put(sp, 0, "/mix/alice/ch/bob/gain", "f", -6.0);
        put(sp, 0, "/mix/main/ch/alice_1/pan", "f", 0.5);
        put(sp, 0, "/mix/2/ch/1.1/mute", "i", 1);
        put(sp, 0, "/mix/carol/ch/in_1/solo", "f", 1.0);
        put(sp, 0, "/mix/bob/ch/carol/sub", "i", 0);
        put(sp, 0, "/mix/bob/ch/carol/fader", "");
        break;
    case 3:
        AUTH(sp, 0);
        put(sp, 0, "/send/alice/fader", "f", 0.5);
        put(sp, 0, "/send/bob/gain", "f", -130.0);
        put(sp, 0, "/slot/1/name", "s", "dora");
        put(sp, 0, "/client/bob/rename", "s", "bobby");
        put(sp, 0, "/slot/3/name", "");
        break;
    case 4:
        AUTH(sp, 0);
        put(sp, 0, "/subscribe", "iis", 10, 0, "slots");
        put(sp, 0, "/meters/subscribe", "i", 5);
        put(sp, 0, "/mix/alice/ch/bob/gain", "f", 3.0);
        put(sp, 0, "/meters/unsubscribe", "");
        break;
    case 5:
        AUTH(sp, 0);
        put(sp, 0, "/slots", "");
        put(sp, 0, "/channels", "");
        put(sp, 0, "/clients", "");
        put(sp, 0, "/unsubscribe", "i", 9000);
        break;
    case 6:
        AUTH(sp, 0);
        put(sp, 0, "/click/tempo", "f", 120.0);
        put(sp, 0, "/click/on", "i", 1);
        put(sp, 0, "/click/beats", "f", 3.0);
        put(sp, 0, "/click/accent", "f", 6.0);
        put(sp, 0, "/click/level", "f", -12.0);
        put(sp, 0, "/click/main", "i", 1);
        put(sp, 0, "/click/record", "i", 1);
        put(sp, 0, "/mix/alice/click", "f", -6.0);
        put(sp, 0, "/mix/main/click", "");
        break;
    case 7:
        AUTH(sp, 0);
        put(sp, 0, "/record/start", "s", "take");
        put(sp, 0, "/record", "");
        put(sp, 0, "/record/stop", "");
        break;
    case 8: // an unverified source: a cookie, wrong passwords into the back-off
        put(sp, 1, "/subscribe", "i", 5);
        put(sp, 1, "/cookie", "ii", 12345, 0);
        put(sp, 1, "/auth", "s", "guess");
        put(sp, 1, "/auth", "s", "guess");
        put(sp, 1, "/auth", "s", "guess");
        put(sp, 1, "/auth", "s", PASSWORD);
        put(sp, 1, "/mix/alice/ch/bob/gain", "f", -6.0);
        break;
    case 9: put(sp, 2, "/info", ""); put(sp, 2, "/auth", "s", PASSWORD); break;
    case 10: // a musician's own controller
        put(sp, 3, "/mix/me/ch/bob/gain", "f", -3.0);
        put(sp, 3, "/mix/alice/ch/alice_2/pan", "f", -1.0);
        put(sp, 3 | 4, "/mix/bob/ch/alice/gain", "f", -3.0);
        put(sp, 3 | 16, "/subscribe", "i", 5);
        put(sp, 3, "/meters/subscribe", "");
        put(sp, 3 | 8, "/status", "");
        put(sp, 3, "/mix/me/click", "f", -20.0);
        break;
    case 11: // a bundle; unknown and misspelt addresses; wrong arguments
        put(sp, 0, NULL, "s", PASSWORD);
        put(sp, 0, "/nothing", "");
        put(sp, 0, "/mix/alice/xx/bob/gain", "f", 1.0);
        put(sp, 0, "/mix/alice/ch/bob/echo", "f", 1.0);
        put(sp, 0, "/mix/alice/ch/bob/gain", "s", "loud");
        put(sp, 0, "/mix/alice/ch/bob/gain", "f", 2.5e27);
        put(sp, 0, "/subscribe", "f", 2.5e27);
        break;
    default: return 0;
    }
    return s.len;
}
