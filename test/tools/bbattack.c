// SPDX-License-Identifier: GPL-2.0-or-later
// bbattack.c: the attacks of "A room only its band can enter" (issue 14's
// table), one per command, against a real hub, for test/it_attack.sh.
// Each prints what it sent and what came back, one line per measure, so
// that the test can say what was refused; the hub's side is read from
// its /stats and log by the test.
//
//   bbattack joins --hub H:P --count N [--name NAME] [--bind IP] [--wait S] [--keep S]
//                 [--room-cache FILE]
//       N fresh identities (a key pair each), each on its own socket: HELLO,
//       COOKIE, JOIN (the room password from BANDBRIDGE_PASSWORD: the test
//       chooses a wrong or a right one), retried every 300 ms for --wait
//       seconds (3); a session that gets in is kept alive with a PING
//       every 250 ms for --keep seconds (0). Prints
//       "joins count=N welcomed=W refused=R hints=H unanswered=U out=B in=B"
//       and "reason CODE TEXT" for the first refusal of each code.
//   bbattack insider --hub H:P --name NAME [--bind IP]
//       one musician with the password, float, one channel, sending zeros;
//       after SIGUSR1, samples of +-3e38, NaN and inf. Prints "insider
//       welcomed" when in; runs until SIGTERM.
//   bbattack spoof --hub-port P --victim-port V --count N        (root)
//       watches the loopback for a sealed datagram of the musician at
//       127.0.0.1:V to the hub and one of the hub to it, then forges, from
//       the musician's address: N replays, N with the counter moved ahead,
//       N cleartext AUDIO of 3e38 samples, N LEAVE, N PING with its session
//       id; from the hub's address to the musician: N replays of the hub's
//       datagram, N cleartext LEAVE, REJECT (cleartext and flagged
//       authenticated), PING and AUDIO. Prints "spoof to_hub=A to_musician=B".
//   bbattack rejects --hub-port P --seconds S                      (root)
//       for S seconds, every HELLO or JOIN seen going to the hub is answered
//       from the hub's address with three forged REJECTs (a cleartext
//       NAME_TAKEN, FULL and one flagged authenticated). Prints
//       "rejects seen=N forged=M".
//   bbattack amplify --hub H:P [--bind IP]
//       a datagram of every type 0..255 (version 2, 87 bytes), a HELLO, a
//       version-1 JOIN of 87 bytes, and short and foreign datagrams, each
//       from a socket of its own, all at once; replies counted for 1.5 s.
//       One line each: "udp NAME in=B out=B replies=R".
//   bbattack osc-amplify --osc H:P [--bind IP] ADDRESS...
//       each OSC address with no argument, an int 60, a float 2.5e27 and a
//       string, each from a socket of its own; replies counted for 1.5 s
//       (meters come 25 times a second). "osc ADDRESS/TYPES in=B out=B replies=R".
//   bbattack bundles --osc H:P --count N --size BYTES [--bind IP]
//       N bundles of BYTES each, time-tagged a year ahead, 5 ms apart. "bundles sent=N out=B in=B replies=R".
//   bbattack auth --osc H:P --count N [--bind IP]
//       N wrong /auth from one socket, as fast as the socket takes them.
//       "auth sent=N out=B in=B replies=R max_reply=B".
//   bbattack authport --osc H:P [--bind IP]
//       /auth with the right password (BANDBRIDGE_OSC_PASSWORD) from one
//       port, then /stats from that port and from another.
//       "authport auth=1|0 same_port=answered|refused other_port=answered|refused".
//   bbattack poll --osc H:P [--interval-ms 20] [--seconds S]
//       /info every interval until SIGTERM (or S seconds), each reply timed
//       (one lost when none came within 3 s) from just before the query was
//       sent to the reply's arrival in the kernel (SO_TIMESTAMPNS: not this
//       process's own wait for a core; stamped=0 when the kernel gives no
//       stamps, and the times are read_ times), and to its reading (read_).
//       "poll sent=N answered=N over50=K max_ms=F p99_ms=F median_ms=F
//       stamped=1 read_over50=K read_max_ms=F read_p99_ms=F read_median_ms=F".
// spoof and rejects watch the loopback through a socket filter (the
// kernel hands them only the datagrams they look for), and forge with
// IP_HDRINCL: both need root.
// Exit 0 when it ran (what it measured is for the test to judge), 2 on a
// usage or set-up error.
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/filter.h>
#include <lo/lo.h>
#include <math.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bb.h"
#include "codec.h"
#include "keypair.h"
#include "net.h"
#include "seal.h"
#include "session.h"
#include "stream.h"
#include "wire.h"
#include <sodium.h>

#define MS 1000000ull
#define NS 1000000000ull

static struct {
    struct bb_addr hub;       // --hub or --osc
    const char    *bind;      // --bind
    const char    *name;      // --name
    const char    *room_cache; // --room-cache: the room key for this password, kept
    int            count;
    int            size;
    double         wait_s, keep_s, seconds;
    int            hub_port, victim_port, interval_ms;
    char           password[BB_HS_PASSWORD_MAX];
} O = {.count = 1, .wait_s = 3, .interval_ms = 20};

static volatile sig_atomic_t g_stop, g_loud;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        g_loud = 1;
    else
        g_stop = 1;
}

static void die(const char *what)
{
    fprintf(stderr, "bbattack: %s\n", what);
    exit(2);
}

static int udp_socket(void)
{
    char err[160];
    int fd = bb_udp_open(O.bind, 0, O.hub.ss.ss_family, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "bbattack: %s\n", err);
        exit(2);
    }
    return fd;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ musicians */

enum jstate { J_HELLO, J_JOIN, J_IN, J_REFUSED, J_HINT };

struct who {
    int                 fd;
    struct bb_hs_client hs;
    struct bb_stream    st;
    enum jstate         state;
    uint64_t            next_ns;
    unsigned            up_frames;
    uint32_t            seq;
};

static struct bb_room g_room;
static bool g_room_ok;
static uint64_t g_out, g_in;

static void who_send(struct who *w, const uint8_t *buf, int n)
{
    if (n > 0 && sendto(w->fd, buf, (size_t)n, 0, (const struct sockaddr *)&O.hub.ss, O.hub.len) >= 0)
        g_out += (uint64_t)n;
}

static void who_init(struct who *w)
{
    struct bb_keypair kp;
    crypto_sign_keypair(kp.pk, kp.sk);
    if (bb_hs_client_init(&w->hs, O.password, &kp) < 0)
        die("bad room password");
    w->fd = udp_socket();
    w->state = J_HELLO;
}

// HELLO until a COOKIE came, then the JOIN (retried).
static void who_try(struct who *w, int index)
{
    uint8_t buf[BB_MAX_DATAGRAM];
    if (w->state == J_HELLO) {
        who_send(w, buf, bb_session_hello(&w->hs, buf, sizeof buf));
        return;
    }
    struct bb_join j = {.rate = 48000, .period = 64, .channels = 1, .codec = BB_CODEC_FLOAT,
                        .jitter = 0xFFFF, .flags = BB_JOIN_MONO_OK};
    if (O.name && O.count == 1)
        snprintf(j.name, sizeof j.name, "%s", O.name);
    else
        snprintf(j.name, sizeof j.name, "%s%d", O.name ? O.name : "mallory", index);
    who_send(w, buf, bb_session_join(&w->hs, buf, sizeof buf, &j));
}

// --room-cache FILE: the room key derived for this password (Argon2id,
// seconds on a loaded machine) kept between runs against the same hub,
// as bandbridge join keeps it; a key of another salt is simply not used.
static void room_load(void)
{
    FILE *f = O.room_cache ? fopen(O.room_cache, "rb") : NULL;
    if (!f)
        return;
    g_room_ok = fread(&g_room, sizeof g_room, 1, f) == 1;
    fclose(f);
}

static void room_save(void)
{
    FILE *f = O.room_cache ? fopen(O.room_cache, "wb") : NULL;
    if (!f)
        return;
    fwrite(&g_room, sizeof g_room, 1, f);
    fclose(f);
}

static unsigned reason_seen; // bit per reject code printed

// One datagram from the hub.
static void who_rx(struct who *w, int index, uint8_t *buf, size_t len)
{
    struct bb_header hd;
    g_in += len;
    if (bb_wire_parse_header(buf, len < BB_WIRE_HEADER_SIZE ? len : BB_WIRE_HEADER_SIZE, &hd) !=
        BB_WIRE_OK)
        return;
    if (hd.type == BB_MSG_COOKIE && w->state == J_HELLO) {
        if (g_room_ok)
            bb_hs_client_set_room(&w->hs, &g_room);
        if (bb_session_on_cookie(&w->hs, buf, len) == 0) {
            if (w->hs.room_ok && (!g_room_ok || memcmp(&g_room, &w->hs.room, sizeof g_room))) {
                g_room = w->hs.room; // Argon2id once for every identity
                g_room_ok = true;
                room_save();
            }
            w->state = J_JOIN;
            who_try(w, index);
        }
    } else if (hd.type == BB_MSG_WELCOME && w->state == J_JOIN) {
        struct bb_welcome wl;
        struct bb_hs_keys keys;
        if (bb_session_on_welcome(&w->hs, buf, len, &wl, &keys) == 0) {
            w->st.session = hd.session;
            bb_stream_set_keys(&w->st, keys.cipher, keys.c2h, keys.h2c);
            bb_hs_keys_wipe(&keys);
            w->up_frames = wl.up_frames;
            w->state = J_IN;
        }
    } else if (hd.type == BB_MSG_REJECT && (w->state == J_JOIN || w->state == J_HELLO)) {
        struct bb_reject r;
        int auth = bb_session_on_reject(&w->hs, buf, len, &r);
        if (auth < 0)
            return;
        w->state = auth ? J_REFUSED : J_HINT;
        if (!(reason_seen & (1u << (r.code & 31)))) {
            reason_seen |= 1u << (r.code & 31);
            printf("reason %u %s %s\n", r.code, auth ? "authenticated" : "cleartext", r.reason);
        }
    }
}

static void raise_fd_limit(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)need + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)need + 64 ? rl.rlim_max : (rlim_t)need + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// Reads whatever every musician's socket holds.
static void who_poll(struct who *ws, int n, struct pollfd *pfd, int timeout_ms)
{
    for (int i = 0; i < n; i++)
        pfd[i] = (struct pollfd){.fd = ws[i].fd, .events = POLLIN};
    if (poll(pfd, (nfds_t)n, timeout_ms) <= 0)
        return;
    for (int i = 0; i < n; i++) {
        if (!(pfd[i].revents & (POLLIN | POLLERR)))
            continue;
        uint8_t buf[BB_MAX_SEALED + 1];
        ssize_t got;
        while ((got = recv(ws[i].fd, buf, sizeof buf, MSG_DONTWAIT)) > 0 || (got < 0 && errno == ECONNREFUSED))
            if (got > 0)
                who_rx(&ws[i], i, buf, (size_t)got);
    }
}

static int cmd_joins(void)
{
    raise_fd_limit(O.count);
    struct who *ws = calloc((size_t)O.count, sizeof *ws);
    struct pollfd *pfd = calloc((size_t)O.count, sizeof *pfd);
    if (!ws || !pfd)
        die("out of memory");
    for (int i = 0; i < O.count; i++)
        who_init(&ws[i]);
    uint64_t t0 = bb_now_ns(), end = t0 + (uint64_t)(O.wait_s * 1e9);
    uint64_t keep_end = 0;
    for (uint64_t now = t0; now < end || (keep_end && now < keep_end); now = bb_now_ns()) {
        bool pending = false;
        for (int i = 0; i < O.count; i++) {
            struct who *w = &ws[i];
            pending |= w->state == J_HELLO || w->state == J_JOIN;
            if (now < w->next_ns)
                continue;
            if ((w->state == J_HELLO || w->state == J_JOIN) && now < end) {
                who_try(w, i);
                w->next_ns = now + 300 * MS;
            } else if (w->state == J_IN && now < keep_end) {
                uint8_t buf[BB_STREAM_REPLY_SIZE];
                who_send(w, buf, bb_stream_ping(&w->st, buf, sizeof buf, now));
                w->next_ns = now + 250 * MS;
            }
        }
        int in = 0;
        for (int i = 0; i < O.count; i++)
            in += ws[i].state == J_IN;
        if (in && !keep_end && O.keep_s > 0)
            keep_end = now + (uint64_t)(O.keep_s * 1e9);
        if (!pending && (!keep_end || now >= keep_end) && now >= t0 + 500 * MS)
            break; // everyone answered; a last look for late datagrams below
        who_poll(ws, O.count, pfd, 20);
    }
    who_poll(ws, O.count, pfd, 200);
    int c[5] = {0};
    for (int i = 0; i < O.count; i++)
        c[ws[i].state]++;
    printf("joins count=%d welcomed=%d refused=%d hints=%d unanswered=%d out=%llu in=%llu\n",
           O.count, c[J_IN], c[J_REFUSED], c[J_HINT], c[J_HELLO] + c[J_JOIN],
           (unsigned long long)g_out, (unsigned long long)g_in);
    free(pfd);
    free(ws);
    return 0;
}

static void put_f32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(u >> (8 * i));
}

// One AUDIO packet of the insider: zeros, or (loud) +-3e38, NaN and inf.
static void insider_audio(struct who *w, bool loud)
{
    uint8_t out[BB_MAX_SEALED];
    uint8_t *pkt = out + BB_SEAL_COUNTER_SIZE;
    struct bb_header hd = {.type = BB_MSG_AUDIO, .session = w->st.session, .seq = w->seq,
                           .ts = w->seq * w->up_frames};
    int off = bb_wire_write_audio_head(pkt, BB_MAX_DATAGRAM, &hd, BB_CODEC_FLOAT, 1,
                                       (uint16_t)w->up_frames);
    if (off < 0)
        return;
    static const float wild[] = {3e38f, -3e38f, 3e38f, -3e38f, NAN, INFINITY, -INFINITY, 3e38f};
    for (unsigned f = 0; f < w->up_frames; f++)
        put_f32(pkt + off + 4 * f, loud ? wild[f % 8] : 0.0f);
    w->seq++;
    who_send(w, out, bb_stream_seal(&w->st, out, off + (int)w->up_frames * 4, BB_MAX_SEALED));
}

static int cmd_insider(void)
{
    struct who w = {0};
    struct pollfd pfd;
    O.count = 1;
    who_init(&w);
    uint64_t end = bb_now_ns() + 30 * NS;
    while (w.state != J_IN && !g_stop) {
        uint64_t now = bb_now_ns();
        if (now >= end || w.state == J_REFUSED) {
            printf("insider not let in\n");
            return 1;
        }
        if (now >= w.next_ns) {
            who_try(&w, 0);
            w.next_ns = now + 300 * MS;
        }
        who_poll(&w, 1, &pfd, 20);
    }
    printf("insider welcomed frames=%u\n", w.up_frames);
    fflush(stdout);
    // Real-time priority where allowed (as bbload's sender): on a loaded
    // machine a stall of a second would be the hub's silence timeout.
    struct sched_param sp = {.sched_priority = 10};
    if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
        fprintf(stderr, "bbattack: insider without real-time priority: %s\n", strerror(errno));
    // Real-time pace by absolute deadlines; a late wake-up sends what is due.
    uint64_t t0 = bb_now_ns(), sent = 0, next_ping = t0;
    while (!g_stop) {
        uint64_t now = bb_now_ns();
        uint64_t due = (now - t0) * 48000 / (NS * w.up_frames) + 1;
        for (; sent < due; sent++)
            insider_audio(&w, g_loud);
        if (now >= next_ping) {
            uint8_t buf[BB_STREAM_REPLY_SIZE];
            who_send(&w, buf, bb_stream_ping(&w.st, buf, sizeof buf, now));
            next_ping = now + 250 * MS;
        }
        // The hub's mix and pings are read and dropped (a PONG is not needed:
        // audio keeps the session alive).
        uint8_t buf[BB_MAX_SEALED + 1];
        while (recv(w.fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
        }
        sleep_ms(1);
    }
    printf("insider sent=%llu loud=%d\n", (unsigned long long)sent, (int)g_loud);
    return 0;
}

/* ------------------------------------------------------------ raw sockets */

static uint16_t csum_add(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xFFFF) + (s >> 16);
    return (uint16_t)s;
}

static int g_raw = -1;

/// One UDP datagram 127.0.0.1:sport -> 127.0.0.1:dport, whatever our port.
static void forge(uint16_t sport, uint16_t dport, const uint8_t *payload, size_t len)
{
    uint8_t pkt[20 + 8 + BB_MAX_SEALED];
    if (len > BB_MAX_SEALED)
        return;
    size_t ulen = 8 + len, tot = 20 + ulen;
    uint8_t *ip = pkt, *udp = pkt + 20;
    memset(pkt, 0, 28);
    ip[0] = 0x45;
    ip[2] = (uint8_t)(tot >> 8);
    ip[3] = (uint8_t)tot;
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    uint32_t lo = htonl(INADDR_LOOPBACK);
    memcpy(ip + 12, &lo, 4);
    memcpy(ip + 16, &lo, 4);
    udp[0] = (uint8_t)(sport >> 8);
    udp[1] = (uint8_t)sport;
    udp[2] = (uint8_t)(dport >> 8);
    udp[3] = (uint8_t)dport;
    udp[4] = (uint8_t)(ulen >> 8);
    udp[5] = (uint8_t)ulen;
    memcpy(udp + 8, payload, len);
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = IPPROTO_UDP;
    pseudo[10] = (uint8_t)(ulen >> 8);
    pseudo[11] = (uint8_t)ulen;
    uint16_t c = (uint16_t)~csum_add(csum_add(0, pseudo, 12), udp, ulen);
    c = c ? c : 0xFFFF;
    udp[6] = (uint8_t)(c >> 8);
    udp[7] = (uint8_t)c;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = lo};
    sendto(g_raw, pkt, tot, 0, (struct sockaddr *)&to, sizeof to);
}

/// An AF_PACKET socket on the loopback that the kernel hands only the
/// bandbridge datagrams of types t1 and t2 to or from UDP port `port`
/// (IPv4, unfragmented): the loopback carries every musician's audio both
/// ways, more than a process waiting for a core on a loaded machine reads
/// before its buffer overflows.
static int sniffer(uint16_t port, uint8_t t1, uint8_t t2)
{
    int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (s < 0)
        die("AF_PACKET socket (root needed)");
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),               // ethertype
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 13),
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),               // protocol
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 11),
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),               // fragment offset
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1FFF, 9, 0),
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),              // IP header length
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 14),               // source port
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 2, 0),
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),               // destination port
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 4),
        BPF_STMT(BPF_LD | BPF_B | BPF_IND, 14 + 8 + 5),       // the datagram's type
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, t1, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, t2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0x40000),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    if (setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0)
        die("SO_ATTACH_FILTER");
    struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                             .sll_ifindex = (int)if_nametoindex("lo")};
    if (bind(s, (struct sockaddr *)&ll, sizeof ll) < 0)
        die("bind to lo");
    // Room for seconds of one musician's audio.
    int rcv = 8 << 20;
    setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
    g_raw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    int one = 1;
    if (g_raw < 0 || setsockopt(g_raw, IPPROTO_IP, IP_HDRINCL, &one, sizeof one) < 0)
        die("raw IP socket (root needed)");
    return s;
}

/// The next UDP datagram on the loopback (incoming copies only), its ports
/// and payload; 0, or -1 when none came within ms.
static int sniff(int s, int ms, uint16_t *sport, uint16_t *dport, uint8_t **data, size_t *len)
{
    static uint8_t frame[70000];
    uint64_t end = bb_now_ns() + (uint64_t)ms * MS;
    for (;;) {
        uint64_t now = bb_now_ns();
        if (now >= end)
            return -1;
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, (int)((end - now) / MS) + 1) <= 0)
            continue;
        struct sockaddr_ll from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(s, frame, sizeof frame, 0, (struct sockaddr *)&from, &fl);
        if (n < 14 + 28 || from.sll_pkttype == PACKET_OUTGOING)
            continue; // the loopback shows each packet twice
        uint8_t *ip = frame + 14;
        size_t ihl = (size_t)(ip[0] & 15) * 4;
        if (ip[9] != IPPROTO_UDP || (size_t)n < 14 + ihl + 8)
            continue;
        uint8_t *udp = ip + ihl;
        *sport = (uint16_t)(udp[0] << 8 | udp[1]);
        *dport = (uint16_t)(udp[2] << 8 | udp[3]);
        *data = udp + 8;
        *len = (size_t)n - 14 - ihl - 8;
        return 0;
    }
}

static int cleartext(uint8_t *buf, uint8_t type, uint16_t flags, uint32_t session, uint32_t seq,
                     const uint8_t *body, size_t blen)
{
    struct bb_header hd = {.version = BB_WIRE_VERSION, .type = type, .flags = flags,
                           .session = session, .seq = seq};
    int n = bb_wire_write_header(buf, BB_WIRE_HEADER_SIZE, &hd);
    if (n < 0)
        return -1;
    memmove(buf + n, body, blen); // body may already be in place
    return n + (int)blen;
}

static int cmd_spoof(void)
{
    int s = sniffer((uint16_t)O.victim_port, BB_MSG_AUDIO, BB_MSG_AUDIO);
    uint16_t sp, dp, hub = (uint16_t)O.hub_port, vic = (uint16_t)O.victim_port;
    uint8_t *d;
    size_t len;
    uint8_t up[BB_MAX_SEALED], down[BB_MAX_SEALED];
    size_t up_len = 0, down_len = 0;
    uint64_t end = bb_now_ns() + 10 * NS;
    while ((!up_len || !down_len) && bb_now_ns() < end) {
        if (sniff(s, 200, &sp, &dp, &d, &len) < 0 || len < 60 || len > BB_MAX_SEALED ||
            memcmp(d, BB_WIRE_MAGIC, 4) != 0 || d[5] != BB_MSG_AUDIO)
            continue;
        if (sp == vic && dp == hub && !up_len)
            memcpy(up, d, up_len = len);
        else if (sp == hub && dp == vic && !down_len)
            memcpy(down, d, down_len = len);
    }
    if (!up_len || !down_len)
        die("no sealed AUDIO both ways between the musician and the hub seen");
    uint32_t session = (uint32_t)up[8] | (uint32_t)up[9] << 8 | (uint32_t)up[10] << 16 |
                       (uint32_t)up[11] << 24;
    uint8_t audio[4 + 64 * 4] = {BB_CODEC_FLOAT, 1, 64, 0};
    for (int f = 0; f < 64; f++)
        put_f32(audio + 4 + 4 * f, f & 1 ? -3e38f : 3e38f);
    static const uint8_t leave[] = {BB_LEAVE_QUIT, 4, 'q', 'u', 'i', 't'};
    static const uint8_t kicked[] = {BB_LEAVE_KICKED, 6, 'k', 'i', 'c', 'k', 'e', 'd'};
    static const uint8_t taken[] = {BB_REJECT_NAME_TAKEN, 5, 't', 'a', 'k', 'e', 'n'};
    uint8_t ping[16] = {0}, junk[60];
    randombytes_buf(junk, sizeof junk);
    uint64_t to_hub = 0, to_mus = 0;
    uint8_t b[BB_MAX_SEALED];
    for (int i = 0; i < O.count; i++) {
        forge(vic, hub, up, up_len); // a replay
        memcpy(b, up, up_len);
        uint64_t ctr;
        memcpy(&ctr, b + 20, 8);
        ctr += 100000 + (uint64_t)i; // ahead of the window: the tag is what fails
        memcpy(b + 20, &ctr, 8);
        forge(vic, hub, b, up_len);
        forge(vic, hub, b, (size_t)cleartext(b, BB_MSG_AUDIO, 0, session, (uint32_t)i, audio, sizeof audio));
        forge(vic, hub, b, (size_t)cleartext(b, BB_MSG_LEAVE, 0, session, (uint32_t)i, leave, sizeof leave));
        forge(vic, hub, b, (size_t)cleartext(b, BB_MSG_PING, 0, session, (uint32_t)i, ping, sizeof ping));
        to_hub += 5;
        forge(hub, vic, down, down_len);
        forge(hub, vic, b, (size_t)cleartext(b, BB_MSG_LEAVE, 0, session, (uint32_t)i, kicked, sizeof kicked));
        forge(hub, vic, b, (size_t)cleartext(b, BB_MSG_REJECT, 0, 0, (uint32_t)i, taken, sizeof taken));
        forge(hub, vic, b, (size_t)cleartext(b, BB_MSG_REJECT, BB_FLAG_AUTH, 0, (uint32_t)i, junk, sizeof junk));
        forge(hub, vic, b, (size_t)cleartext(b, BB_MSG_PING, 0, session, (uint32_t)i, ping, sizeof ping));
        forge(hub, vic, b, (size_t)cleartext(b, BB_MSG_AUDIO, 0, session, (uint32_t)i, audio, sizeof audio));
        to_mus += 6;
    }
    printf("spoof to_hub=%llu to_musician=%llu session=%08x\n", (unsigned long long)to_hub,
           (unsigned long long)to_mus, session);
    return 0;
}

static int cmd_rejects(void)
{
    int s = sniffer((uint16_t)O.hub_port, BB_MSG_HELLO, BB_MSG_JOIN);
    uint16_t sp, dp, hub = (uint16_t)O.hub_port;
    uint8_t *d, b[200], junk[60];
    size_t len;
    static const uint8_t taken[] = {BB_REJECT_NAME_TAKEN, 5, 't', 'a', 'k', 'e', 'n'};
    static const uint8_t full[] = {BB_REJECT_FULL, 4, 'f', 'u', 'l', 'l'};
    randombytes_buf(junk, sizeof junk);
    unsigned seen = 0, forged = 0;
    printf("rejects ready\n");
    uint64_t end = bb_now_ns() + (uint64_t)(O.seconds * 1e9);
    while (bb_now_ns() < end && !g_stop) {
        if (sniff(s, 100, &sp, &dp, &d, &len) < 0 || dp != hub || len < BB_WIRE_HEADER_SIZE ||
            memcmp(d, BB_WIRE_MAGIC, 4) != 0 || (d[5] != BB_MSG_HELLO && d[5] != BB_MSG_JOIN))
            continue;
        seen++;
        forge(hub, sp, b, (size_t)cleartext(b, BB_MSG_REJECT, 0, 0, seen, taken, sizeof taken));
        forge(hub, sp, b, (size_t)cleartext(b, BB_MSG_REJECT, 0, 0, seen, full, sizeof full));
        forge(hub, sp, b, (size_t)cleartext(b, BB_MSG_REJECT, BB_FLAG_AUTH, 0, seen, junk, sizeof junk));
        forged += 3;
    }
    printf("rejects seen=%u forged=%u\n", seen, forged);
    return 0;
}

/* ------------------------------------------------------------ amplification */

struct probe {
    char     name[96];
    int      fd;
    size_t   in;
    uint64_t out, replies, max_reply;
};

// Sends every probe's datagram at once (the caller filled fd and the
// bytes), then counts what comes back for ms.
static void probe_collect(struct probe *p, int n, int ms)
{
    struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
    if (!pfd)
        die("out of memory");
    uint64_t end = bb_now_ns() + (uint64_t)ms * MS;
    for (uint64_t now; (now = bb_now_ns()) < end;) {
        for (int i = 0; i < n; i++)
            pfd[i] = (struct pollfd){.fd = p[i].fd, .events = POLLIN};
        if (poll(pfd, (nfds_t)n, (int)((end - now) / MS) + 1) <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            uint8_t buf[70000];
            ssize_t got;
            while ((got = recv(p[i].fd, buf, sizeof buf, MSG_DONTWAIT)) > 0 ||
                   (got < 0 && errno == ECONNREFUSED)) {
                if (got <= 0)
                    continue;
                p[i].out += (uint64_t)got;
                p[i].replies++;
                if ((uint64_t)got > p[i].max_reply)
                    p[i].max_reply = (uint64_t)got;
            }
        }
    }
    free(pfd);
}

static void probe_send(struct probe *p, const void *buf, size_t len)
{
    p->fd = udp_socket();
    p->in = len;
    if (sendto(p->fd, buf, len, 0, (const struct sockaddr *)&O.hub.ss, O.hub.len) < 0)
        fprintf(stderr, "bbattack: %s: %s\n", p->name, strerror(errno));
}

static int cmd_amplify(void)
{
    enum { NT = 256, NP = NT + 5 };
    raise_fd_limit(NP);
    struct probe *p = calloc(NP, sizeof *p);
    if (!p)
        die("out of memory");
    uint8_t b[512];
    for (int t = 0; t < NT; t++) {
        snprintf(p[t].name, sizeof p[t].name, "type-%d", t);
        randombytes_buf(b, 87);
        cleartext(b, (uint8_t)t, t & 1 ? BB_FLAG_SEALED : 0, 0x1234501u, 1, b + 20, 67);
        probe_send(&p[t], b, 87);
    }
    // A real HELLO (answered: its COOKIE), and an old version's JOIN.
    struct bb_hs_client hs;
    struct bb_keypair kp;
    crypto_sign_keypair(kp.pk, kp.sk);
    bb_hs_client_init(&hs, "any", &kp);
    snprintf(p[NT].name, sizeof p[NT].name, "hello");
    probe_send(&p[NT], b, (size_t)bb_session_hello(&hs, b, sizeof b));
    snprintf(p[NT + 1].name, sizeof p[NT + 1].name, "join-v1");
    randombytes_buf(b, 87);
    memcpy(b, BB_WIRE_MAGIC, 4);
    b[4] = 1;
    b[5] = BB_MSG_JOIN;
    probe_send(&p[NT + 1], b, 87);
    snprintf(p[NT + 2].name, sizeof p[NT + 2].name, "short");
    probe_send(&p[NT + 2], BB_WIRE_MAGIC, 4);
    snprintf(p[NT + 3].name, sizeof p[NT + 3].name, "foreign");
    probe_send(&p[NT + 3], "GET / HTTP/1.0\r\n\r\n", 18);
    snprintf(p[NT + 4].name, sizeof p[NT + 4].name, "version-9-join");
    b[4] = 9;
    probe_send(&p[NT + 4], b, 87);
    probe_collect(p, NP, 1500);
    for (int i = 0; i < NP; i++)
        printf("udp %s in=%zu out=%llu replies=%llu\n", p[i].name, p[i].in,
               (unsigned long long)p[i].out, (unsigned long long)p[i].replies);
    free(p);
    return 0;
}

static size_t osc_bytes(lo_message m, const char *path, uint8_t *buf, size_t cap)
{
    size_t len = lo_message_length(m, path);
    if (len > cap)
        die("OSC message too long");
    lo_message_serialise(m, path, buf, &len);
    lo_message_free(m);
    return len;
}

static int cmd_osc_amplify(int argc, char **argv)
{
    int n = (argc - optind) * 4;
    if (n <= 0)
        die("osc-amplify: no address given");
    raise_fd_limit(n);
    struct probe *p = calloc((size_t)n, sizeof *p);
    if (!p)
        die("out of memory");
    static const char *const kinds[] = {"", "i", "f", "s"};
    for (int k = 0; k < n; k++) {
        const char *path = argv[optind + k / 4];
        lo_message m = lo_message_new();
        switch (k % 4) {
        case 1: lo_message_add_int32(m, 60); break;
        case 2: lo_message_add_float(m, 2.5e27f); break;
        case 3: lo_message_add_string(m, "x"); break;
        default: break;
        }
        uint8_t buf[1024];
        snprintf(p[k].name, sizeof p[k].name, "%s/%s", path, kinds[k % 4]);
        probe_send(&p[k], buf, osc_bytes(m, path, buf, sizeof buf));
    }
    probe_collect(p, n, 1500);
    for (int i = 0; i < n; i++)
        printf("osc %s in=%zu out=%llu replies=%llu\n", p[i].name, p[i].in,
               (unsigned long long)p[i].out, (unsigned long long)p[i].replies);
    free(p);
    return 0;
}

static int cmd_bundles(void)
{
    struct probe pr = {.name = "bundles"};
    pr.fd = udp_socket();
    uint8_t *buf = malloc((size_t)O.size + 1024);
    if (!buf)
        die("out of memory");
    uint64_t out = 0;
    for (int i = 0; i < O.count; i++) {
        lo_timetag tt;
        lo_timetag_now(&tt);
        tt.sec += 365u * 86400u; // a year ahead
        lo_bundle bd = lo_bundle_new(tt);
        size_t len = 16;
        while (len + 48 < (size_t)O.size) {
            lo_message m = lo_message_new();
            lo_message_add_float(m, -6.0f);
            lo_bundle_add_message(bd, "/mix/main/ch/in_1/gain", m);
            len += 4 + lo_message_length(m, "/mix/main/ch/in_1/gain");
        }
        size_t got = (size_t)O.size + 1024;
        lo_bundle_serialise(bd, buf, &got);
        lo_bundle_free_recursive(bd);
        if (sendto(pr.fd, buf, got, 0, (const struct sockaddr *)&O.hub.ss, O.hub.len) >= 0)
            out += got;
        // A few of these fill the hub's socket: 5 ms apart, the hub sees
        // (and counts) every one instead of the kernel dropping some unseen.
        sleep_ms(5);
    }
    probe_collect(&pr, 1, 1000);
    printf("bundles sent=%d out=%llu in=%llu replies=%llu\n", O.count, (unsigned long long)out,
           (unsigned long long)pr.out, (unsigned long long)pr.replies);
    free(buf);
    return 0;
}

static int cmd_auth(void)
{
    struct probe pr = {.name = "auth"};
    pr.fd = udp_socket();
    uint8_t buf[256];
    uint64_t out = 0;
    for (int i = 0; i < O.count; i++) {
        char pw[32];
        snprintf(pw, sizeof pw, "guess%06d", i);
        lo_message m = lo_message_new();
        lo_message_add_string(m, pw);
        size_t len = osc_bytes(m, "/auth", buf, sizeof buf);
        while (sendto(pr.fd, buf, len, 0, (const struct sockaddr *)&O.hub.ss, O.hub.len) < 0 &&
               errno == EAGAIN)
            sleep_ms(1);
        out += len;
        // 5,000 a second: faster, the kernel would drop what the hub's
        // socket cannot hold before the hub ever saw it (uncounted).
        if (i % 50 == 49)
            probe_collect(&pr, 1, 10);
    }
    probe_collect(&pr, 1, 1000);
    printf("auth sent=%d out=%llu in=%llu replies=%llu max_reply=%llu\n", O.count,
           (unsigned long long)out, (unsigned long long)pr.out, (unsigned long long)pr.replies,
           (unsigned long long)pr.max_reply);
    return 0;
}

// path from fd, then the first answer's address ("" when none in ms).
static void ask(int fd, const char *path, lo_message m, char *answer, size_t size, int ms)
{
    uint8_t buf[512];
    size_t len = osc_bytes(m, path, buf, sizeof buf);
    answer[0] = '\0';
    sendto(fd, buf, len, 0, (const struct sockaddr *)&O.hub.ss, O.hub.len);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) > 0) {
        uint8_t r[4096];
        ssize_t got = recv(fd, r, sizeof r - 1, 0);
        if (got > 0) {
            r[got] = 0;
            size_t n = strnlen((const char *)r, size - 1);
            memcpy(answer, r, n);
            answer[n] = '\0';
        }
    }
}

static int cmd_authport(void)
{
    const char *pw = getenv("BANDBRIDGE_OSC_PASSWORD");
    if (!pw || !*pw)
        die("authport: BANDBRIDGE_OSC_PASSWORD is not set");
    int a = udp_socket(), b = udp_socket();
    char r1[64], r2[64], r3[64];
    lo_message m = lo_message_new();
    lo_message_add_string(m, pw);
    ask(a, "/auth", m, r1, sizeof r1, 2000);
    ask(a, "/stats", lo_message_new(), r2, sizeof r2, 2000);
    ask(b, "/stats", lo_message_new(), r3, sizeof r3, 2000);
    printf("authport auth=%d same_port=%s other_port=%s\n", strcmp(r1, "/auth") == 0,
           strcmp(r2, "/stats") == 0 ? "answered" : "refused",
           strcmp(r3, "/stats") == 0 ? "answered" : "refused");
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t realtime_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * NS + (uint64_t)t.tv_nsec;
}

/// One datagram from fd into r (size), and when the kernel received it
/// (SO_TIMESTAMPNS, CLOCK_REALTIME; 0 when it did not say). Its length or -1.
static ssize_t recv_stamped(int fd, char *r, size_t size, uint64_t *kernel_rt)
{
    union {
        char buf[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = r, .iov_len = size};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf};
    ssize_t got = recvmsg(fd, &mh, 0);
    *kernel_rt = 0;
    for (struct cmsghdr *c = got >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec t;
            memcpy(&t, CMSG_DATA(c), sizeof t);
            *kernel_rt = (uint64_t)t.tv_sec * NS + (uint64_t)t.tv_nsec;
        }
    return got;
}

/// The poll's times, sorted: "max_ms=F p99_ms=F median_ms=F" with prefix.
static void print_times(const char *prefix, double *ms, size_t n)
{
    qsort(ms, n, sizeof *ms, cmp_double);
    printf(" %smax_ms=%.1f %sp99_ms=%.1f %smedian_ms=%.2f", prefix, n ? ms[n - 1] : 0.0, prefix,
           n ? ms[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0.0, prefix, n ? ms[n / 2] : 0.0);
}

// Each answer is timed twice: from just before the query was sent to when
// the kernel put the answer in our socket (the hub's answer, whatever this
// process's own wait for a core), and to when this process read it.
static int cmd_poll(void)
{
    int fd = udp_socket(), on = 1;
    int stamped = setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) == 0;
    size_t cap = 1 << 16, n = 0;
    double *ms = malloc(cap * sizeof *ms), *app = malloc(cap * sizeof *app);
    if (!ms || !app)
        die("out of memory");
    uint8_t q[64];
    size_t qlen = osc_bytes(lo_message_new(), "/info", q, sizeof q);
    uint64_t sent = 0, over = 0, app_over = 0, t0 = bb_now_ns(), next = t0;
    uint64_t end = O.seconds > 0 ? t0 + (uint64_t)(O.seconds * 1e9) : UINT64_MAX;
    while (!g_stop && bb_now_ns() < end) {
        uint64_t s = bb_now_ns(), s_rt = realtime_ns();
        sendto(fd, q, qlen, 0, (const struct sockaddr *)&O.hub.ss, O.hub.len);
        sent++;
        // Wait for the /info (anything else is dropped), up to 3 s: a late
        // answer is timed, not taken for the next query's.
        for (;;) {
            uint64_t now = bb_now_ns();
            if (now >= s + 3 * NS)
                break;
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, (int)((s + 3 * NS - now) / MS) + 1) <= 0)
                continue;
            char r[512];
            uint64_t k_rt;
            ssize_t got = recv_stamped(fd, r, sizeof r - 1, &k_rt);
            if (got > 5 && memcmp(r, "/info", 6) == 0) {
                double a = (double)(bb_now_ns() - s) / 1e6;
                double d = stamped && k_rt >= s_rt ? (double)(k_rt - s_rt) / 1e6 : a;
                over += d > 50.0;
                app_over += a > 50.0;
                // When the slow ones came (seconds since the start), to set
                // beside the hub's log of its slow control-loop turns.
                if ((d > 50.0 || a > 50.0) && over + app_over <= 30)
                    printf("slow at=%.1f s ms=%.1f read_ms=%.1f\n", (double)(s - t0) / 1e9, d, a);
                if (n < cap) {
                    ms[n] = d;
                    app[n++] = a;
                }
                break;
            }
        }
        next += (uint64_t)O.interval_ms * MS;
        uint64_t now = bb_now_ns();
        if (next > now)
            sleep_ms((unsigned)((next - now) / MS));
        else
            next = now;
    }
    printf("poll sent=%llu answered=%zu over50=%llu", (unsigned long long)sent, n,
           (unsigned long long)over);
    print_times("", ms, n);
    printf(" stamped=%d read_over50=%llu", stamped, (unsigned long long)app_over);
    print_times("read_", app, n);
    printf("\n");
    free(ms);
    free(app);
    return 0;
}

/* ------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr,
            "usage: bbattack joins|insider|spoof|rejects|amplify|osc-amplify|bundles|auth|"
            "authport|poll [options] (see the top of test/tools/bbattack.c)\n");
    exit(2);
}

static void set_target(const char *text)
{
    char err[160];
    if (bb_addr_parse(text, 0, &O.hub, err, sizeof err) < 0) {
        fprintf(stderr, "bbattack: %s: %s\n", text, err);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *cmd = argv[1];
    static const struct option opts[] = {
        {"hub", required_argument, 0, 'H'},        {"osc", required_argument, 0, 'H'},
        {"bind", required_argument, 0, 'b'},       {"name", required_argument, 0, 'n'},
        {"count", required_argument, 0, 'c'},      {"size", required_argument, 0, 'z'},
        {"wait", required_argument, 0, 'w'},       {"keep", required_argument, 0, 'k'},
        {"seconds", required_argument, 0, 's'},    {"hub-port", required_argument, 0, 'P'},
        {"victim-port", required_argument, 0, 'V'}, {"interval-ms", required_argument, 0, 'i'},
        {"room-cache", required_argument, 0, 'r'},
        {0, 0, 0, 0}};
    optind = 2;
    for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (o) {
        case 'H': set_target(optarg); break;
        case 'b': O.bind = optarg; break;
        case 'n': O.name = optarg; break;
        case 'c': O.count = atoi(optarg); break;
        case 'z': O.size = atoi(optarg); break;
        case 'w': O.wait_s = atof(optarg); break;
        case 'k': O.keep_s = atof(optarg); break;
        case 's': O.seconds = atof(optarg); break;
        case 'P': O.hub_port = atoi(optarg); break;
        case 'V': O.victim_port = atoi(optarg); break;
        case 'i': O.interval_ms = atoi(optarg); break;
        case 'r': O.room_cache = optarg; break;
        default: usage();
        }
    }
    if (O.count < 1)
        usage();
    const char *pw = getenv("BANDBRIDGE_PASSWORD");
    snprintf(O.password, sizeof O.password, "%s", pw ? pw : "");
    if (bb_crypto_init() < 0)
        die("libsodium cannot start");
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    bool target = O.hub.len > 0;
    room_load();
    if (!strcmp(cmd, "joins") && target)
        return cmd_joins();
    if (!strcmp(cmd, "insider") && target && O.name)
        return cmd_insider();
    if (!strcmp(cmd, "spoof") && O.hub_port && O.victim_port)
        return cmd_spoof();
    if (!strcmp(cmd, "rejects") && O.hub_port && O.seconds > 0)
        return cmd_rejects();
    if (!strcmp(cmd, "amplify") && target)
        return cmd_amplify();
    if (!strcmp(cmd, "osc-amplify") && target)
        return cmd_osc_amplify(argc, argv);
    if (!strcmp(cmd, "bundles") && target && O.size > 0)
        return cmd_bundles();
    if (!strcmp(cmd, "auth") && target)
        return cmd_auth();
    if (!strcmp(cmd, "authport") && target)
        return cmd_authport();
    if (!strcmp(cmd, "poll") && target)
        return cmd_poll();
    usage();
}
