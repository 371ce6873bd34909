// SPDX-License-Identifier: GPL-2.0-or-later
// join.c: `bandbridge join`, the musician's JACK client.
//
// DESIGN. Four threads, each owning its part:
//   main [ctl]  the session state machine: JOIN retried with backoff until
//               WELCOME or REJECT, PING every 250 ms, hub declared lost
//               after 2 s of silence, LEAVE on SIGINT/SIGTERM. It builds a
//               `join_stream` (codec state, jitter buffer, send ring) for
//               every session and publishes it as a snapshot.
//   receive [rx] parses datagrams from the hub only, feeds AUDIO to the
//               jitter buffer (decoding there), answers PING, passes the
//               rest to main through a ring.
//   send [tx]   woken by the process callback, encodes and sends.
//   JACK [rt]   inputs (and the test tone) into the send ring, the
//               jitter buffer into the outputs. Without a session it plays
//               silence; it never waits for the network.
//
// OWN CONTROLLERS. With --osc-port the main thread also owns a liblo UDP
// server for the musician's own tablet or phone. Every message it hands
// out (one by one, out of bundles too) is serialised again and sent to the
// hub as an OSC datagram of the session, with the number (0..15) of the
// controller it came from; the hub limits it to this musician's own mix
// and answers the same way. What comes back reaches main through the
// receive thread's ring and goes out raw from the server's own socket, so
// the tablet hears from the port it sends to. A controller is a source
// address and port, or the reply port a /subscribe names (like the hub's
// own OSC port: many tablet apps do not listen where they send from).
// Without a session, messages are answered here: /error "not connected to
// the hub".
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <jack/jack.h>
#include <jack/thread.h>
#include <lo/lo.h>
#include <netdb.h>

#include "bb.h"
#include "codec.h"
#include "identity.h"
#include "jbuf.h"
#include "join.h"
#include "log.h"
#include "net.h"
#include "nsm.h"
#include "osc.h"
#include "osc_arg.h"
#include "ring.h"
#include "snap.h"
#include "wire.h"

enum { READER_RT, READER_RX, READER_TX, READERS };

#define HUB_LOST_NS   (2000 * 1000000ull)
#define PING_NS       (250 * 1000000ull)
#define JB_MAX_PERIOD 2048

/// Everything one session needs; immutable pointers, published as a snapshot.
struct join_stream {
    struct bb_snap_obj hdr;
    int                active;      ///< 0: no session, play silence
    uint32_t           session;
    enum bb_codec      codec;       ///< what we send
    enum bb_codec      down_codec;  ///< what the hub sends back
    unsigned           channels;    ///< channels we send
    unsigned           up_frames;   ///< frames per packet we send
    unsigned           down_frames; ///< frames per packet the hub sends
    struct bb_encoder *enc;         ///< [tx]
    struct bb_decoder *dec;         ///< [rx] through jb
    struct bb_jbuf     jb;          ///< producer [rx], consumer [rt]
    struct bb_ring     tx;          ///< interleaved input frames: producer [rt], consumer [tx]
    float             *tx_buf;      ///< [tx]
    uint32_t           tx_seq;      ///< [tx]
    uint32_t           tx_ts;       ///< [tx] frames taken from tx so far (mod 2^32)
    uint32_t           rt_written;  ///< [rt] frames written into tx so far (mod 2^32)
    /// [rt writes, tx reads] JACK's frame counter minus rt_written: a
    /// frame's place in tx plus this is our clock when it was captured, the
    /// AUDIO header's ts (bandbridge-wire(7)). It changes only when the
    /// stream and JACK's counter part (a stall, the ring full); a packet
    /// sent across such a change is a one-packet spike the hub's drift
    /// estimator drops.
    _Atomic uint32_t   tx_clock;
    _Atomic uint64_t   tx_overruns; ///< [rt]
    _Atomic uint64_t   first_audio_ns; ///< [rx] when the first mix packet arrived
    float              tx_last[BB_MAX_CLIENT_CH]; ///< [rt] last sample sent per channel
    jack_nframes_t     rt_next_frame; ///< [rt] frame time the next cycle should start at
    int                rt_have_frame; ///< [rt] rt_next_frame is set
    _Atomic uint64_t   skipped_cycles; ///< [rt] periods JACK did not run us for
};

struct join_event {
    uint16_t len;
    uint8_t  data[BB_MAX_DATAGRAM];
};

/// One of the musician's own OSC controllers [ctl].
struct join_ctl {
    int                     used;
    char                    host[64];  ///< its IP address, as liblo prints it
    uint16_t                port;      ///< where it hears answers
    struct sockaddr_storage sa;        ///< host:port
    socklen_t               sa_len;
    uint64_t                last_ns;   ///< last message from it (least recently used goes)
};

struct join {
    // options [ro]
    char           host[256];
    char           name[BB_NAME_MAX];
    char           jack_name[64];
    char           identity_path[4096];
    unsigned       channels;
    enum bb_codec  codec;
    enum bb_codec  down_codec;      ///< --down-codec (default: codec)
    unsigned       kbps;
    unsigned       jitter;          ///< frames or BB_JBUF_AUTO, both directions
    float          tone_hz;
    int            drift_comp;      ///< resample the hub's clock drift (off: --no-drift-comp)
    int            auto_connect;
    double         run_seconds;     ///< 0 = until signalled
    uint16_t       osc_port;        ///< --osc-port: the musician's own controllers; 0 = none
    char           osc_bind[64];    ///< --osc-bind: IPv4 address; empty = every address

    uint8_t        identity[BB_IDENTITY_SIZE];
    struct bb_addr hub;

    jack_client_t *jack;
    unsigned       rate, period;
    int            jack_prio;       ///< the JACK client's RT priority: network threads go below
    jack_port_t   *in[BB_MAX_CLIENT_CH];
    jack_port_t   *out[BB_MIX_CH];
    float         *rt_inter;        ///< [rt] interleave buffer
    double         tone_phase;      ///< [rt]

    int            sock;
    struct bb_snap streams;
    pthread_t      rx_thread, tx_thread;
    sem_t          tx_wake;         ///< [rt posts, tx waits]
    struct bb_ring events;          ///< join_event: producer [rx], consumer [ctl]
    int            event_fd;
    _Atomic int    running;
    _Atomic uint64_t last_heard_ns; ///< [rx]
    _Atomic uint32_t rtt_us;        ///< [rx]
    _Atomic uint64_t foreign;       ///< [rx] datagrams not from our hub or session
    _Atomic int      jack_gone;     ///< [jack shutdown callback sets, ctl reads]

    // the musician's own OSC controllers [ctl]
    lo_server        osc;           ///< NULL without --osc-port
    struct join_ctl  ctl[BB_OSC_CONTROLLERS];
    uint32_t         osc_session;   ///< the session while connected, else 0
    uint32_t         osc_seq;       ///< seq of the OSC datagrams we send
};

static void stream_free(void *obj)
{
    struct join_stream *s = obj;
    bb_jbuf_cleanup(&s->jb);
    bb_ring_cleanup(&s->tx);
    bb_encoder_free(s->enc);
    bb_decoder_free(s->dec);
    free(s->tx_buf);
    free(s);
}

static struct join_stream *stream_idle(void)
{
    return calloc(1, sizeof(struct join_stream));
}

static struct join_stream *stream_new(struct join *j, uint32_t session,
                                      const struct bb_welcome *w, char *err, size_t err_size)
{
    struct join_stream *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    s->active = 1;
    s->session = session;
    s->codec = (enum bb_codec)w->up_codec;
    s->down_codec = (enum bb_codec)w->down_codec; // what we asked for, or what an older hub sends
    s->channels = j->channels;
    s->up_frames = w->up_frames;
    s->down_frames = w->down_frames;
    if (w->down_channels != BB_MIX_CH ||
        w->up_frames != bb_codec_wire_frames(s->codec, j->rate, j->channels) ||
        w->down_frames != bb_codec_wire_frames(s->down_codec, j->rate, BB_MIX_CH)) {
        snprintf(err, err_size, "the hub proposed a stream this version cannot play");
        goto fail;
    }
    s->enc = bb_encoder_new(s->codec, j->rate, j->channels, s->up_frames, j->kbps, err, err_size);
    s->dec = bb_decoder_new(s->down_codec, j->rate, BB_MIX_CH, s->down_frames, err, err_size);
    if (!s->enc || !s->dec)
        goto fail;
    if (bb_jbuf_init(&s->jb, BB_MIX_CH, s->down_frames, JB_MAX_PERIOD, j->rate, j->jitter,
                     s->dec) < 0 ||
        bb_ring_init(&s->tx, ((size_t)JB_MAX_PERIOD * 4 + s->up_frames * 4) * j->channels *
                                 sizeof(float)) < 0 ||
        !(s->tx_buf = calloc((size_t)s->up_frames * j->channels, sizeof(float)))) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    bb_jbuf_set_drift_comp(&s->jb, j->drift_comp);
    return s;
fail:
    stream_free(s);
    return NULL;
}

// ---------------------------------------------------------------- realtime

// A cycle JACK did not run us for (a loaded machine now and then leaves a
// client "not finished") is accounted for as if it had run, as the hub
// does (hub_rt.c): the frames we would have played are dropped from the
// jitter buffer and a gap of the same length, faded out from the last
// sample, goes to the hub. Both streams keep their place, so the round
// trip stays what it was instead of growing by a period, or underrunning
// at the hub and growing its buffer.
#define JOIN_MAX_GAP 16 // periods; a longer jump is a restart, not a lost cycle
// Returns JACK's frame counter for this cycle (the drift estimator's clock).
BB_RT static jack_nframes_t keep_timeline(struct join *j, struct join_stream *s, jack_nframes_t n)
{
    jack_nframes_t now = jack_last_frame_time(j->jack);
    int32_t missed = s->rt_have_frame ? (int32_t)(now - s->rt_next_frame) : 0;
    s->rt_next_frame = now + n;
    s->rt_have_frame = 1;
    if (missed <= 0)
        return now;
    if (missed > (int32_t)(JOIN_MAX_GAP * n))
        return now; // a stall: the timeline slips (a trim takes the excess later)
    atomic_store_explicit(&s->skipped_cycles,
                          atomic_load_explicit(&s->skipped_cycles, memory_order_relaxed) +
                              (uint64_t)missed / n,
                          memory_order_relaxed);
    bb_jbuf_skip(&s->jb, (unsigned)missed);
    atomic_store_explicit(&s->tx_clock, (uint32_t)(now - (jack_nframes_t)missed) - s->rt_written,
                          memory_order_relaxed);
    const unsigned ch = s->channels;
    for (unsigned done = 0; done < (unsigned)missed;) {
        unsigned k = (unsigned)missed - done < n ? (unsigned)missed - done : n;
        for (unsigned i = 0; i < k; i++) {
            float w = (float)((unsigned)missed - 1 - (done + i)) / (float)missed;
            for (unsigned c = 0; c < ch; c++)
                j->rt_inter[i * ch + c] = s->tx_last[c] * w;
        }
        if (bb_ring_write(&s->tx, j->rt_inter, k * ch * (uint32_t)sizeof(float)))
            s->rt_written += k;
        else
            atomic_store_explicit(&s->tx_overruns, atomic_load(&s->tx_overruns) + 1,
                                  memory_order_relaxed);
        done += k;
    }
    memset(s->tx_last, 0, sizeof s->tx_last);
    if (j->tone_hz > 0.0f) // the tone keeps its time too
        j->tone_phase = fmod(j->tone_phase + 2.0 * M_PI * j->tone_hz / j->rate * missed, 2.0 * M_PI);
    return now;
}

BB_RT static int process(jack_nframes_t n, void *arg)
{
    struct join *j = arg;
    struct join_stream *s = bb_snap_get(&j->streams, READER_RT);
    float *out[BB_MIX_CH];
    for (int c = 0; c < BB_MIX_CH; c++)
        out[c] = jack_port_get_buffer(j->out[c], n);
    if (!s || !s->active || n > JB_MAX_PERIOD) {
        for (int c = 0; c < BB_MIX_CH; c++)
            memset(out[c], 0, n * sizeof(float));
        return 0;
    }
    const jack_nframes_t frame = keep_timeline(j, s, n);
    bb_jbuf_clock(&s->jb, frame, bb_now_ns());
    // Our channels, interleaved, into the send ring.
    const unsigned ch = s->channels;
    for (unsigned c = 0; c < ch; c++) {
        const float *in = jack_port_get_buffer(j->in[c], n);
        for (unsigned i = 0; i < n; i++)
            j->rt_inter[i * ch + c] = in[i];
    }
    if (j->tone_hz > 0.0f) {
        const double step = 2.0 * M_PI * j->tone_hz / j->rate;
        for (unsigned i = 0; i < n; i++) {
            j->rt_inter[i * ch] += 0.25f * (float)sin(j->tone_phase);
            j->tone_phase += step;
        }
        j->tone_phase = fmod(j->tone_phase, 2.0 * M_PI);
    }
    atomic_store_explicit(&s->tx_clock, (uint32_t)frame - s->rt_written, memory_order_relaxed);
    if (bb_ring_write(&s->tx, j->rt_inter, n * ch * (uint32_t)sizeof(float)))
        s->rt_written += n;
    else
        atomic_store_explicit(&s->tx_overruns, atomic_load(&s->tx_overruns) + 1,
                              memory_order_relaxed);
    for (unsigned c = 0; c < ch; c++)
        s->tx_last[c] = j->rt_inter[(n - 1) * ch + c];
    sem_post(&j->tx_wake);
    bb_jbuf_read(&s->jb, out, n);
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

// ---------------------------------------------------------------- network

static void send_dgram(struct join *j, const uint8_t *buf, int len)
{
    if (len > 0)
        sendto(j->sock, buf, (size_t)len, MSG_DONTWAIT, (const struct sockaddr *)&j->hub.ss,
               j->hub.len);
}

// [rx] Hands a control datagram to main through the event ring.
static void to_main(struct join *j, const uint8_t *buf, size_t len)
{
    struct join_event ev = {.len = (uint16_t)len};
    memcpy(ev.data, buf, len);
    if (bb_ring_write(&j->events, &ev, sizeof ev)) {
        uint64_t one = 1;
        if (write(j->event_fd, &one, sizeof one) < 0) {
            // the control loop polls with a timeout anyway
        }
    }
}

static void rx_handle(struct join *j, struct join_stream *s, const uint8_t *buf, size_t len)
{
    struct bb_header hd;
    if (bb_wire_parse_header(buf, len, &hd) != BB_WIRE_OK) {
        atomic_fetch_add(&j->foreign, 1);
        return;
    }
    uint64_t now = bb_now_ns();
    switch (hd.type) {
    case BB_MSG_AUDIO: {
        struct bb_audio a;
        if (!s || !s->active || hd.session != s->session ||
            bb_wire_read_audio(buf, len, &a) != BB_WIRE_OK || a.codec != s->down_codec ||
            a.channels != BB_MIX_CH || a.frames != s->down_frames) {
            atomic_fetch_add(&j->foreign, 1);
            return;
        }
        bb_jbuf_receive(&s->jb, hd.seq, a.payload, a.payload_len);
        bb_jbuf_stamp(&s->jb, hd.ts + a.frames, now);
        if (!atomic_load_explicit(&s->first_audio_ns, memory_order_relaxed))
            atomic_store(&s->first_audio_ns, now);
        break;
    }
    case BB_MSG_PING: {
        struct bb_ping p;
        if (bb_wire_read_ping(buf, len, &p) != BB_WIRE_OK)
            return;
        struct bb_header rh = {.type = BB_MSG_PONG, .session = hd.session, .seq = hd.seq};
        uint8_t out[64];
        send_dgram(j, out, bb_wire_write_ping(out, sizeof out, &rh, &p));
        break;
    }
    case BB_MSG_PONG: {
        struct bb_ping p;
        if (bb_wire_read_ping(buf, len, &p) == BB_WIRE_OK && now > p.t_ns)
            atomic_store(&j->rtt_us, (uint32_t)((now - p.t_ns) / 1000));
        break;
    }
    case BB_MSG_WELCOME:
    case BB_MSG_REJECT:
    case BB_MSG_LEAVE:
    case BB_MSG_LEAVE_ACK:
        to_main(j, buf, len);
        break;
    case BB_MSG_OSC: {
        // For one of our own controllers: only from our session.
        struct bb_osc o;
        if (!s || !s->active || hd.session != s->session ||
            bb_wire_read_osc(buf, len, &o) != BB_WIRE_OK) {
            atomic_fetch_add(&j->foreign, 1);
            return;
        }
        to_main(j, buf, len);
        break;
    }
    default:
        atomic_fetch_add(&j->foreign, 1);
        return;
    }
    atomic_store(&j->last_heard_ns, now);
}

static void *rx_main(void *arg)
{
    struct join *j = arg;
    bb_thread_below_jack(j->jack_prio, "receive");
    uint8_t buf[2048];
    while (atomic_load(&j->running)) {
        struct pollfd pfd = {.fd = j->sock, .events = POLLIN};
        poll(&pfd, 1, 20);
        struct join_stream *s = bb_snap_get(&j->streams, READER_RX);
        for (int i = 0; i < 256; i++) {
            struct bb_addr from;
            from.len = sizeof from.ss;
            ssize_t n = recvfrom(j->sock, buf, sizeof buf, MSG_DONTWAIT,
                                 (struct sockaddr *)&from.ss, &from.len);
            if (n < 0)
                break;
            if (!bb_addr_equal(&from, &j->hub) || (size_t)n > BB_MAX_DATAGRAM) {
                atomic_fetch_add(&j->foreign, 1);
                continue;
            }
            rx_handle(j, s, buf, (size_t)n);
        }
    }
    bb_snap_idle(&j->streams, READER_RX);
    return NULL;
}

static void *tx_main(void *arg)
{
    struct join *j = arg;
    bb_thread_below_jack(j->jack_prio, "send");
    uint8_t pkt[BB_MAX_DATAGRAM];
    while (atomic_load(&j->running)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        sem_timedwait(&j->tx_wake, &ts);
        struct join_stream *s = bb_snap_get(&j->streams, READER_TX);
        if (!s || !s->active)
            continue;
        const uint32_t bytes = s->up_frames * s->channels * (uint32_t)sizeof(float);
        while (bb_ring_read_space(&s->tx) >= bytes) {
            bb_ring_read(&s->tx, s->tx_buf, bytes);
            // ts: our clock at the packet's first frame (tx_clock).
            uint32_t clock =
                s->tx_ts + atomic_load_explicit(&s->tx_clock, memory_order_relaxed);
            struct bb_header hd = {
                .type = BB_MSG_AUDIO, .session = s->session, .seq = s->tx_seq, .ts = clock};
            int off = bb_wire_write_audio_head(pkt, sizeof pkt, &hd, (uint8_t)s->codec,
                                               (uint8_t)s->channels, (uint16_t)s->up_frames);
            int n = off > 0 ? bb_encode(s->enc, s->tx_buf, pkt + off, sizeof pkt - (size_t)off)
                            : -1;
            s->tx_seq++;
            s->tx_ts += s->up_frames;
            if (n >= 0)
                send_dgram(j, pkt, off + n);
        }
    }
    bb_snap_idle(&j->streams, READER_TX);
    return NULL;
}

// ---------------------------------------------------------------- control

static void send_join(struct join *j)
{
    struct bb_join m = {
        .rate = j->rate,
        .period = (uint16_t)j->period,
        .channels = (uint8_t)j->channels,
        .codec = (uint8_t)j->codec,
        .down_codec = (uint8_t)(j->down_codec != j->codec ? j->down_codec : 0),
        .flags = BB_JOIN_MONO_OK, // bb_decode plays one-block Opus payloads
        .kbps = (uint16_t)j->kbps,
        .jitter = (uint16_t)(j->jitter == BB_JBUF_AUTO ? 0xFFFF : j->jitter),
    };
    memcpy(m.identity, j->identity, BB_IDENTITY_SIZE);
    snprintf(m.name, sizeof m.name, "%s", j->name);
    struct bb_header hd = {.type = BB_MSG_JOIN};
    uint8_t buf[BB_MAX_DATAGRAM];
    send_dgram(j, buf, bb_wire_write_join(buf, sizeof buf, &hd, &m));
}

static void send_simple(struct join *j, uint8_t type, uint32_t session)
{
    uint8_t buf[64];
    struct bb_header hd = {.type = type, .session = session};
    if (type == BB_MSG_PING) {
        struct bb_ping p = {.t_ns = bb_now_ns()};
        send_dgram(j, buf, bb_wire_write_ping(buf, sizeof buf, &hd, &p));
    } else if (type == BB_MSG_LEAVE) {
        struct bb_leave l = {.code = BB_LEAVE_QUIT};
        snprintf(l.reason, sizeof l.reason, "musician quit");
        send_dgram(j, buf, bb_wire_write_leave(buf, sizeof buf, &hd, &l));
    } else {
        send_dgram(j, buf, bb_wire_write_empty(buf, sizeof buf, &hd));
    }
}

static void publish(struct join *j, struct join_stream *s)
{
    while (bb_snap_publish(&j->streams, s) == 0) {
        // Readers have not moved on from hundreds of streams: wait for them.
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

// -v: the mix stream's jitter buffer and drift estimate, once a second
// (the hub prints the same for each musician's stream).
static void report_stream(struct join_stream *s)
{
    char jb[256];
    bb_jbuf_stats_text(&s->jb.stats, jb, sizeof jb);
    bb_debug("mix from the hub: %s skipped cycles %llu", jb,
             (unsigned long long)atomic_load(&s->skipped_cycles));
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

// ---------------------------------------------------------------- own controllers

static void osc_error_cb(int num, const char *msg, const char *path)
{
    // Whatever reaches the port: not worth more than a debug line.
    bb_debug("OSC port: error %d: %s%s%s", num, msg, path ? " at " : "", path ? path : "");
}

// [ctl] Sends one OSC packet to controller k from the OSC port's socket.
static void ctl_send(struct join *j, int k, const void *pkt, size_t len)
{
    const struct join_ctl *c = &j->ctl[k];
    if (c->used && sendto(lo_server_get_socket_fd(j->osc), pkt, len, MSG_DONTWAIT,
                          (const struct sockaddr *)&c->sa, c->sa_len) < 0)
        bb_debug("OSC port: cannot answer %s:%u: %s", c->host, c->port, strerror(errno));
}

// [ctl] Answers controller k with /error s:path s:why, here.
static void ctl_error(struct join *j, int k, const char *path, const char *why)
{
    // The address is echoed, but not all of a hostile 10 kB one.
    char p[200];
    if (strlen(path) < sizeof p)
        snprintf(p, sizeof p, "%s", path);
    else
        snprintf(p, sizeof p, "%.*s...", (int)sizeof p - 4, path);
    lo_message m = lo_message_new();
    lo_message_add_string(m, p);
    lo_message_add_string(m, why);
    uint8_t buf[512];
    size_t len = lo_message_length(m, "/error");
    if (len <= sizeof buf) {
        lo_message_serialise(m, "/error", buf, &len);
        ctl_send(j, k, buf, len);
    }
    lo_message_free(m);
}

// [ctl] The number of the controller at host:port; a new one takes a free
// number or the one heard from least recently. -1 if the address is not
// usable.
static int ctl_for(struct join *j, const char *host, uint16_t port)
{
    int k = -1, oldest = 0;
    uint64_t now = bb_now_ns();
    for (int i = 0; i < BB_OSC_CONTROLLERS; i++) {
        struct join_ctl *c = &j->ctl[i];
        if (c->used && c->port == port && strcmp(c->host, host) == 0) {
            c->last_ns = now;
            return i;
        }
        if (!c->used && k < 0)
            k = i;
        if (c->last_ns < j->ctl[oldest].last_ns)
            oldest = i;
    }
    if (k < 0)
        k = oldest;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    if (strlen(host) >= sizeof j->ctl[k].host || getaddrinfo(host, ps, &hints, &ai) != 0 || !ai ||
        ai->ai_addrlen > sizeof j->ctl[k].sa) {
        if (ai)
            freeaddrinfo(ai);
        return -1;
    }
    struct join_ctl *c = &j->ctl[k];
    if (c->used)
        bb_info("OSC controller %d is now %s:%u (%s:%u was heard from least recently)", k, host,
                port, c->host, c->port);
    else
        bb_info("OSC controller %d: %s:%u", k, host, port);
    c->used = 1;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    memcpy(&c->sa, ai->ai_addr, ai->ai_addrlen);
    c->sa_len = ai->ai_addrlen;
    c->last_ns = now;
    freeaddrinfo(ai);
    return k;
}

// The reply port a (meters/)(un)subscribe names, or 0: /subscribe
// [lease] [port] [style], /unsubscribe [port] (bandbridge-osc(7)).
static uint16_t reply_port(const char *path, const char *types, lo_arg **argv, int argc)
{
    int sub = strcmp(path, "/subscribe") == 0 || strcmp(path, "/meters/subscribe") == 0;
    int unsub = strcmp(path, "/unsubscribe") == 0 || strcmp(path, "/meters/unsubscribe") == 0;
    if (sub && argc > 0 && (types[argc - 1] == 's' || types[argc - 1] == 'S'))
        argc--; // the style
    int at = sub ? 1 : 0;
    if ((!sub && !unsub) || argc <= at)
        return 0;
    double v;
    if (bb_arg_number(types[at], argv[at], &v) < 0)
        return 0;
    return v >= 1 && v <= 65535 && v == (double)(int)v ? (uint16_t)v : 0;
}

// [ctl] A message from one of our own controllers: relayed to the hub as
// it is (the hub resolves /mix/me/...), or answered here.
static int osc_in(const char *path, const char *types, lo_arg **argv, int argc, lo_message msg,
                  void *user)
{
    struct join *j = user;
    lo_address from = lo_message_get_source(msg);
    const char *host = from ? lo_address_get_hostname(from) : NULL;
    const char *port = from ? lo_address_get_port(from) : NULL;
    if (!host || !port)
        return 0;
    uint16_t rp = reply_port(path, types, argv, argc);
    int k = ctl_for(j, host, rp ? rp : (uint16_t)atoi(port));
    if (k < 0)
        return 0;
    if (!j->osc_session) {
        ctl_error(j, k, path, "not connected to the hub");
        return 0;
    }
    uint8_t pkt[BB_OSC_PACKET_MAX], buf[BB_MAX_DATAGRAM];
    size_t len = lo_message_length(msg, path);
    if (len > sizeof pkt) {
        ctl_error(j, k, path, "too long to relay to the hub (1176 bytes at most)");
        return 0;
    }
    lo_message_serialise(msg, path, pkt, &len);
    struct bb_header hd = {.type = BB_MSG_OSC, .session = j->osc_session, .seq = j->osc_seq++};
    send_dgram(j, buf, bb_wire_write_osc(buf, sizeof buf, &hd, (uint8_t)k, pkt, len));
    return 0;
}

// [ctl] An OSC datagram of our session from the hub: raw to its controller.
static void osc_out(struct join *j, const struct join_event *ev)
{
    struct bb_osc o;
    if (!j->osc || bb_wire_read_osc(ev->data, ev->len, &o) != BB_WIRE_OK)
        return;
    ctl_send(j, o.controller, o.packet, o.packet_len);
}

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
            "  -I, --identity FILE   identity file (default: per name, in the state dir)\n"
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
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    int down_set = 0;
    optind = 1;
    for (int o; (o = getopt_long(argc, argv, "N:c:C:R:k:j:T:I:n:As:o:vqh", opts, NULL)) != -1;) {
        char *end = NULL;
        unsigned v;
        switch (o) {
        case 'N':
            if (strlen(optarg) >= BB_NAME_MAX || bb_sanitize_name(j->name, sizeof j->name, optarg) == 0)
                goto bad;
            if (strcmp(j->name, optarg) != 0)
                bb_warn("name '%s' will be shown as '%s'", optarg, j->name);
            break;
        case 'c':
            if (bb_parse_uint(optarg, 1, BB_MAX_CLIENT_CH, &j->channels) < 0)
                goto bad;
            break;
        case 'C':
            if (bb_codec_parse(optarg, &j->codec) < 0)
                goto bad;
            break;
        case 'R':
            if (bb_codec_parse(optarg, &j->down_codec) < 0)
                goto bad;
            down_set = 1;
            break;
        case 'k':
            if (bb_parse_uint(optarg, 6, 510, &j->kbps) < 0)
                goto bad;
            break;
        case 'j':
            if (strcmp(optarg, "auto") == 0) {
                j->jitter = BB_JBUF_AUTO;
                break;
            }
            if (bb_parse_uint(optarg, 0, 4800, &j->jitter) < 0)
                goto bad;
            break;
        case 'T':
            j->tone_hz = strtof(optarg, &end);
            if (*end || !(j->tone_hz > 0.0f && j->tone_hz < 20000.0f))
                goto bad;
            break;
        case 'I':
            snprintf(j->identity_path, sizeof j->identity_path, "%s", optarg);
            break;
        case 'n':
            if (!*optarg || strlen(optarg) >= sizeof j->jack_name)
                goto bad;
            snprintf(j->jack_name, sizeof j->jack_name, "%s", optarg);
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
            j->run_seconds = strtod(optarg, &end);
            if (*end || !(j->run_seconds > 0))
                goto bad;
            break;
        case 'o':
            if (bb_parse_uint(optarg, 1, 65535, &v) < 0)
                goto bad;
            j->osc_port = (uint16_t)v;
            break;
        case 'B': {
            struct in_addr a;
            if (strlen(optarg) >= sizeof j->osc_bind || inet_pton(AF_INET, optarg, &a) != 1)
                goto bad;
            snprintf(j->osc_bind, sizeof j->osc_bind, "%s", optarg);
            break;
        }
        case 'v':
            bb_log_set_level(BB_LOG_DEBUG);
            break;
        case 'q':
            bb_log_set_level(BB_LOG_WARN);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
        continue;
    bad:
        for (const struct option *op = opts; op->name; op++)
            if (op->val == o)
                fprintf(stderr, "bandbridge join: bad value '%s' for --%s\n", optarg, op->name);
        return -1;
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

enum join_state { JOINING, CONNECTED, LEAVING };

/// Under a session manager the command line is kept in the session, one
/// argument per line, so that a session can start `bandbridge join` again
/// without arguments (nsmd starts clients without any).
#define NSM_ARGS_FILE "join.args"
#define NSM_ARGS_MAX  64

/// [ctl] Writes argv[1..argc) to path, one per line. 0 or -1.
static int nsm_save_args(const char *path, int argc, char **argv)
{
    if (bb_mkdirs_for(path) < 0)
        return -1;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    for (int i = 1; i < argc; i++)
        fprintf(f, "%s\n", argv[i]);
    int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    return ok && rename(tmp, path) == 0 ? 0 : -1;
}

/// [ctl] Reads what nsm_save_args wrote into args[1..] (args[0] = argv0).
/// Returns the argument count, or 0 when there is no such file.
static int nsm_load_args(const char *path, const char *argv0, char *args[NSM_ARGS_MAX],
                         char buf[4096])
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, 4095, f);
    fclose(f);
    buf[n] = 0;
    int argc = 0;
    args[argc++] = (char *)argv0;
    for (char *line = buf; *line && argc < NSM_ARGS_MAX;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (*line)
            args[argc++] = line;
        if (!nl)
            break;
        line = nl + 1;
    }
    return argc;
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

    // Under a session manager: its client id is the JACK name, the session
    // keeps the identity and the command line (join.args: given again when
    // the session starts us without arguments).
    struct bb_nsm *nsm = NULL;
    struct bb_nsm_open op;
    char args_path[4200] = "", args_buf[4096];
    char *args[NSM_ARGS_MAX];
    const char *nsm_url = getenv("NSM_URL");
    if (nsm_url && *nsm_url) {
        nsm = bb_nsm_new(nsm_url, "bandbridge join", "bandbridge", err, sizeof err);
        if (!nsm || bb_nsm_wait_open(nsm, 10000, &op) < 0) {
            bb_err("%s", nsm ? "the session manager did not open a session within 10 s" : err);
            bb_nsm_free(nsm);
            return 1;
        }
        snprintf(args_path, sizeof args_path, "%s/%s", op.path, NSM_ARGS_FILE);
        if (argc <= 1) {
            argc = nsm_load_args(args_path, argv[0], args, args_buf);
            argv = args;
            if (argc <= 1) {
                bb_err("no hub and name: start bandbridge join once with them in this session");
                bb_nsm_reply(nsm, BB_NSM_OPEN, 0, "no hub and name given yet");
                bb_nsm_free(nsm);
                return 2;
            }
        }
    }
    if (parse_options(j, argc, argv) < 0) {
        if (nsm) {
            bb_nsm_reply(nsm, BB_NSM_OPEN, 0, "bad command line");
            bb_nsm_free(nsm);
        }
        return 2;
    }
    if (nsm) {
        snprintf(j->jack_name, sizeof j->jack_name, "%.63s", op.client_id);
        if (!j->identity_path[0])
            snprintf(j->identity_path, sizeof j->identity_path, "%.4000s/identity", op.path);
        if (nsm_save_args(args_path, argc, argv) < 0)
            bb_warn("cannot write %s: the session will need the command line again", args_path);
        bb_info("session manager: session '%s', client %s, files in %s", op.display_name,
                op.client_id, op.path);
    }
    if (!j->jack_name[0])
        snprintf(j->jack_name, sizeof j->jack_name, "bandbridge-%.31s", j->name);

    if (bb_addr_parse(j->host, BB_DEFAULT_PORT, &j->hub, err, sizeof err) < 0) {
        bb_err("%s", err);
        if (nsm) {
            bb_nsm_reply(nsm, BB_NSM_OPEN, 0, err);
            bb_nsm_free(nsm);
        }
        return 2;
    }
    if (!j->identity_path[0] &&
        bb_identity_path(j->name, j->identity_path, sizeof j->identity_path, err, sizeof err) < 0) {
        bb_err("%s", err);
        if (nsm) {
            bb_nsm_reply(nsm, BB_NSM_OPEN, 0, err);
            bb_nsm_free(nsm);
        }
        return 2;
    }
    if (bb_identity_load(j->identity_path, j->identity, err, sizeof err) < 0) {
        bb_err("%s", err);
        if (nsm) {
            bb_nsm_reply(nsm, BB_NSM_OPEN, 0, err);
            bb_nsm_free(nsm);
        }
        return 2;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    int sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

    int status = 1, nsm_replied = 0;
    bb_snap_init(&j->streams, READERS, stream_free);
    publish(j, stream_idle());
    jack_status_t st;
    j->jack = jack_client_open(j->jack_name, JackNoStartServer, &st);
    if (!j->jack) {
        bb_err("cannot connect to the JACK server (is jackd running? status 0x%x)", st);
        goto out;
    }
    j->rate = jack_get_sample_rate(j->jack);
    j->period = jack_get_buffer_size(j->jack);
    j->jack_prio = jack_client_real_time_priority(j->jack);
    if (j->period > JB_MAX_PERIOD) {
        bb_err("JACK period %u is larger than the %u frames bandbridge supports", j->period,
               JB_MAX_PERIOD);
        goto out;
    }
    if (bb_codec_wire_frames(j->codec, j->rate, j->channels) == 0 ||
        bb_codec_wire_frames(j->down_codec, j->rate, BB_MIX_CH) == 0) {
        int up_ok = bb_codec_wire_frames(j->codec, j->rate, j->channels) != 0;
        bb_err("codec %s cannot carry %u channels at %u Hz",
               bb_codec_name(up_ok ? j->down_codec : j->codec), up_ok ? BB_MIX_CH : j->channels,
               j->rate);
        status = 2;
        goto out;
    }
    char pn[32];
    for (unsigned c = 0; c < j->channels; c++) {
        snprintf(pn, sizeof pn, "in_%u", c + 1);
        j->in[c] = jack_port_register(j->jack, pn, JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
    }
    j->out[0] = jack_port_register(j->jack, "out_L", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
    j->out[1] = jack_port_register(j->jack, "out_R", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
    j->rt_inter = calloc((size_t)JB_MAX_PERIOD * BB_MAX_CLIENT_CH, sizeof(float));
    for (unsigned c = 0; c < j->channels; c++)
        if (!j->in[c])
            goto noports;
    if (!j->out[0] || !j->out[1] || !j->rt_inter) {
    noports:
        bb_err("cannot register JACK ports");
        goto out;
    }

    j->sock = bb_udp_open(NULL, 0, j->hub.ss.ss_family, err, sizeof err);
    j->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    // Room for bursts of relayed OSC (meters, feedback) besides the session's own.
    if (j->sock < 0 || j->event_fd < 0 || sem_init(&j->tx_wake, 0, 0) < 0 ||
        bb_ring_init(&j->events, sizeof(struct join_event) * 128) < 0) {
        bb_err("%s", j->sock < 0 ? err : "cannot set up the network side");
        goto out;
    }
    if (j->osc_port) {
        j->osc = bb_osc_server_open(j->osc_port, j->osc_bind, osc_error_cb, err, sizeof err);
        if (!j->osc) {
            bb_err("%s", err);
            goto out;
        }
        lo_server_add_method(j->osc, NULL, NULL, osc_in, j);
        bb_info("OSC port %u%s%s open for your own controllers: /mix/me/... is your mix",
                j->osc_port, j->osc_bind[0] ? " on " : "", j->osc_bind);
    }
    atomic_store(&j->running, 1);
    if (pthread_create(&j->rx_thread, NULL, rx_main, j) != 0 ||
        pthread_create(&j->tx_thread, NULL, tx_main, j) != 0) {
        bb_err("cannot start network threads");
        atomic_store(&j->running, 0);
        goto out;
    }
    pthread_setname_np(j->rx_thread, "bb-join-rx"); // for top -H, perf, /proc
    pthread_setname_np(j->tx_thread, "bb-join-tx");
    jack_set_process_callback(j->jack, process, j);
    jack_on_shutdown(j->jack, jack_shutdown_cb, j);
    if (jack_activate(j->jack) != 0) {
        bb_err("cannot activate the JACK client");
        goto stop;
    }
    if (j->auto_connect)
        connect_ports(j);
    if (nsm) {
        bb_nsm_reply(nsm, BB_NSM_OPEN, 1, "joining");
        nsm_replied = 1;
    }

    char hs[80];
    bb_info("joining %s as '%s' (%u channel%s, %s, %u Hz, period %u)",
            bb_addr_str(&j->hub, hs, sizeof hs), j->name, j->channels,
            j->channels == 1 ? "" : "s", bb_codec_name(j->codec), j->rate, j->period);

    enum join_state state = JOINING;
    uint32_t session = 0;
    uint64_t start = bb_now_ns(), next_send = start, retry_ns = 200 * 1000000ull;
    uint64_t leave_deadline = 0, asked_ns = 0;
    int tries = 0, warned_silent = 0, reported_first = 0;
    uint64_t next_report = start + 1000000000ull; // -v stream report
    struct join_stream *cur = NULL; // [ctl] the active stream, for reporting
    status = 0;
    for (;;) {
        uint64_t now = bb_now_ns();
        if (j->run_seconds > 0 && state != LEAVING &&
            now - start > (uint64_t)(j->run_seconds * 1e9)) {
            state = state == CONNECTED ? LEAVING : state;
            if (state != LEAVING)
                break;
            j->osc_session = 0;
            leave_deadline = now + 500 * 1000000ull;
            next_send = now;
        }
        if (now >= next_send) {
            if (state == JOINING) {
                if (tries == 0)
                    asked_ns = now;
                send_join(j);
                if (++tries == 5 && !warned_silent) {
                    bb_warn("no answer from the hub at %s yet; still trying", hs);
                    warned_silent = 1;
                }
                if (tries >= 5 && retry_ns < 2000 * 1000000ull)
                    retry_ns = retry_ns * 3 / 2;
                next_send = now + retry_ns;
            } else if (state == CONNECTED) {
                send_simple(j, BB_MSG_PING, session);
                next_send = now + PING_NS;
            } else {
                if (now >= leave_deadline)
                    break;
                send_simple(j, BB_MSG_LEAVE, session);
                next_send = now + 100 * 1000000ull;
            }
        }
        if (state == CONNECTED && !reported_first && cur &&
            atomic_load(&cur->first_audio_ns)) {
            // How long a (re)join takes until the musician hears the band.
            bb_info("hearing the mix %.1f ms after asking to join",
                    (double)(atomic_load(&cur->first_audio_ns) - asked_ns) / 1e6);
            reported_first = 1;
        }
        if (state == CONNECTED && cur && now >= next_report) {
            report_stream(cur);
            next_report = now + 1000000000ull;
        }
        uint64_t heard = atomic_load(&j->last_heard_ns); // may be later than now
        if (state == CONNECTED && heard < now && now - heard > HUB_LOST_NS) {
            bb_warn("lost the hub (nothing heard for 2 s); reconnecting");
            j->osc_session = 0;
            publish(j, stream_idle());
            cur = NULL;
            state = JOINING;
            tries = 0;
            retry_ns = 200 * 1000000ull;
            next_send = now;
        }

        struct pollfd pfd[4] = {{.fd = j->event_fd, .events = POLLIN},
                                {.fd = sig_fd, .events = POLLIN},
                                {.fd = j->osc ? lo_server_get_socket_fd(j->osc) : -1,
                                 .events = POLLIN},
                                {.fd = nsm ? bb_nsm_fd(nsm) : -1, .events = POLLIN}};
        int timeout = next_send > now ? (int)((next_send - now) / 1000000) + 1 : 0;
        poll(pfd, 4, timeout > 100 ? 100 : timeout); // negative fds are ignored
        if ((pfd[3].revents & POLLIN) && bb_nsm_poll(nsm, NULL) == BB_NSM_SAVE) {
            // The identity is on disk since the start; the command line is
            // written again (what this run was started with).
            int saved = nsm_save_args(args_path, argc, argv) == 0;
            bb_nsm_reply(nsm, BB_NSM_SAVE, saved, saved ? "saved" : "cannot write join.args");
        }
        if (pfd[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sig_fd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGPIPE) {
                if (state != CONNECTED)
                    break;
                bb_info("leaving the hub");
                state = LEAVING;
                j->osc_session = 0;
                leave_deadline = bb_now_ns() + 500 * 1000000ull;
                next_send = 0;
            }
        }
        if (atomic_load(&j->jack_gone)) {
            // Without JACK there is nothing to send or play: say goodbye so
            // the hub frees the place at once, and let the musician restart.
            bb_err("the JACK server went away; leaving the hub");
            if (state == CONNECTED)
                for (int rep = 0; rep < 3; rep++)
                    send_simple(j, BB_MSG_LEAVE, session);
            status = 1;
            jack_client_close(j->jack); // after a shutdown only closing is allowed
            j->jack = NULL;
            goto stop;
        }
        if (pfd[0].revents & POLLIN) {
            uint64_t v;
            if (read(j->event_fd, &v, sizeof v) < 0) {
                // spurious wake-up
            }
        }
        if (pfd[2].revents & POLLIN)
            for (int i = 0; i < 64 && lo_server_recv_noblock(j->osc, 0) > 0; i++) {
            }
        struct join_event ev;
        while (bb_ring_read(&j->events, &ev, sizeof ev)) {
            struct bb_header hd;
            if (bb_wire_parse_header(ev.data, ev.len, &hd) != BB_WIRE_OK)
                continue;
            if (hd.type == BB_MSG_WELCOME && state == JOINING) {
                struct bb_welcome w;
                if (bb_wire_read_welcome(ev.data, ev.len, &w) != BB_WIRE_OK)
                    continue;
                struct join_stream *s = stream_new(j, hd.session, &w, err, sizeof err);
                if (!s) {
                    bb_err("%s", err);
                    status = 1;
                    goto stop;
                }
                session = hd.session;
                j->osc_session = session;
                atomic_store(&j->last_heard_ns, bb_now_ns());
                publish(j, s);
                cur = s;
                reported_first = 0;
                state = CONNECTED;
                next_send = bb_now_ns() + PING_NS;
                warned_silent = 0;
                char cs[48];
                snprintf(cs, sizeof cs, "%s%s%s", bb_codec_name(s->codec),
                         s->down_codec != s->codec ? " up, " : "",
                         s->down_codec != s->codec ? bb_codec_name(s->down_codec) : "");
                bb_info("joined as '%s': %s%s, %u frames per packet up, %u down; hub at %u Hz, "
                        "period %u",
                        w.name, cs, s->down_codec != s->codec ? " back" : "", s->up_frames,
                        s->down_frames, w.rate, w.period);
            } else if (hd.type == BB_MSG_REJECT && state == JOINING) {
                struct bb_reject r;
                if (bb_wire_read_reject(ev.data, ev.len, &r) != BB_WIRE_OK)
                    continue;
                // Final: what retrying cannot change. Anything else (a full
                // hub, our own previous session, a code this version does
                // not know) is worth waiting for.
                int final = r.code == BB_REJECT_VERSION || r.code == BB_REJECT_RATE ||
                            r.code == BB_REJECT_NAME_TAKEN || r.code == BB_REJECT_CODEC ||
                            r.code == BB_REJECT_BAD_REQUEST;
                if (!final) {
                    if (!warned_silent)
                        bb_warn("the hub refused: %s; retrying", r.reason);
                    warned_silent = 1;
                    retry_ns = 1000 * 1000000ull;
                    next_send = bb_now_ns() + retry_ns;
                    continue;
                }
                bb_err("the hub refused: %s", r.reason);
                status = 1;
                goto stop;
            } else if (hd.type == BB_MSG_LEAVE && hd.session == session && state == CONNECTED) {
                struct bb_leave l;
                if (bb_wire_read_leave(ev.data, ev.len, &l) != BB_WIRE_OK)
                    continue;
                send_simple(j, BB_MSG_LEAVE_ACK, session);
                bb_warn("the hub ended the session: %s; reconnecting", l.reason);
                j->osc_session = 0;
                publish(j, stream_idle());
                cur = NULL;
                state = JOINING;
                tries = 0;
                retry_ns = 500 * 1000000ull;
                next_send = bb_now_ns() + retry_ns;
            } else if (hd.type == BB_MSG_LEAVE_ACK && state == LEAVING) {
                goto stop;
            } else if (hd.type == BB_MSG_OSC && hd.session == session && state == CONNECTED) {
                osc_out(j, &ev);
            }
        }
        bb_snap_collect(&j->streams);
    }
stop:
    if (j->jack)
        jack_deactivate(j->jack);
    bb_snap_idle(&j->streams, READER_RT);
    atomic_store(&j->running, 0);
    sem_post(&j->tx_wake);
    pthread_join(j->rx_thread, NULL);
    pthread_join(j->tx_thread, NULL);
out:
    if (nsm && !nsm_replied)
        bb_nsm_reply(nsm, BB_NSM_OPEN, 0, "cannot start (see its log)");
    bb_nsm_free(nsm);
    if (j->jack)
        jack_client_close(j->jack);
    bb_snap_cleanup(&j->streams);
    free(j->rt_inter);
    if (j->sock >= 0)
        close(j->sock);
    if (j->event_fd >= 0)
        close(j->event_fd);
    bb_ring_cleanup(&j->events);
    if (j->osc)
        lo_server_free(j->osc);
    if (sig_fd >= 0)
        close(sig_fd);
    return status;
}
