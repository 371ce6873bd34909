// SPDX-License-Identifier: GPL-2.0-or-later
// hub_session.c: the hub's side of a musician's session, on the control
// thread: JOIN (checked, then a stream and a place in the client table),
// LEAVE, a musician's relayed OSC, pings, and the LEAVE sent when the hub
// drops a musician or stops. The receive thread queues these datagrams;
// hub_session_drain() takes them when the control loop sees its eventfd.
//
// A join is handled completely here: checks, codec and jitter-buffer
// set-up, the client table's admission (which publishes a graph with the
// musician), then the WELCOME goes out and the JACK thread is asked for
// the ports. Audio for the musician can start in the very next period;
// nothing ever waits for the process callback or for jackd.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "hub_session.h"
#include "hub_clients.h"
#include "hub_names.h"
#include "hub_jack.h"
#include "log.h"
#include "session.h"
#include "osc.h"

static void send_reject(struct hub *h, const struct bb_addr *to, enum bb_reject_code code,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void send_reject(struct hub *h, const struct bb_addr *to, enum bb_reject_code code,
                        const char *fmt, ...)
{
    char reason[BB_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    uint8_t buf[BB_MAX_DATAGRAM];
    int n = bb_session_reject(buf, sizeof buf, code, reason);
    if (n > 0)
        hub_net_send(&h->eng, to, buf, (size_t)n);
    char as[80];
    bb_info("refused a join from %s: %s", bb_addr_str(to, as, sizeof as), reason);
}

static void send_welcome(struct hub *h, const struct hub_client *c)
{
    struct bb_welcome w = {
        .rate = h->rate,
        .period = (uint16_t)h->period,
        .up_codec = (uint8_t)c->st.rx_codec,
        .up_frames = (uint16_t)c->st.rx_frames,
        .down_codec = (uint8_t)c->st.tx_codec,
        .down_frames = (uint16_t)c->st.tx_frames,
        .down_channels = BB_MIX_CH,
        .restored = c->restored,
    };
    snprintf(w.name, sizeof w.name, "%s", c->name);
    uint8_t buf[BB_MAX_DATAGRAM];
    int n = bb_session_welcome(buf, sizeof buf, c->session, &w);
    if (n > 0)
        hub_net_send(&h->eng, &c->addr, buf, (size_t)n);
}

static void send_leave(struct hub *h, const struct hub_client *c, enum bb_leave_code code,
                       const char *reason)
{
    uint8_t buf[BB_MAX_DATAGRAM];
    int n = bb_session_leave(buf, sizeof buf, c->session, code, reason);
    if (n > 0)
        hub_net_send(&h->eng, &c->addr, buf, (size_t)n);
}

// [ctl] The checks of a JOIN that need no resources: 1 if it was answered
// (refused, or its lost WELCOME repeated), 0 if it may be admitted, with
// the sanitised JOIN name in name and the name to show in shown.
static int join_refused(struct hub *h, const struct hub_event *ev, const struct bb_header *hd,
                        struct bb_join *jp, char name[BB_NAME_MAX], char shown[BB_NAME_MAX])
{
    char as[80];
    if (hd->version != BB_WIRE_VERSION) {
        send_reject(h, &ev->from, BB_REJECT_VERSION,
                    "protocol version mismatch: the hub speaks version %d, you sent %d; "
                    "use the same bandbridge release on both sides",
                    BB_WIRE_VERSION, hd->version);
        return 1;
    }
    struct bb_join j;
    int rc = bb_wire_read_join(ev->data, ev->len, &j);
    *jp = j;
    if (rc != BB_WIRE_OK) {
        atomic_fetch_add(&h->eng.stats.bad_packets, 1);
        send_reject(h, &ev->from, BB_REJECT_BAD_REQUEST, "malformed join: %s",
                    bb_wire_strerror(rc));
        return 1;
    }
    if (bb_sanitize_name(name, BB_NAME_MAX, j.name) == 0) {
        send_reject(h, &ev->from, BB_REJECT_BAD_REQUEST, "empty name");
        return 1;
    }
    unsigned k;
    if (strcmp(name, "main") == 0 || hub_parse_local(name, &k)) {
        // These name the main mix and the local inputs in OSC addresses.
        send_reject(h, &ev->from, BB_REJECT_NAME_TAKEN,
                    "the name '%s' is reserved by the hub; choose another with --name", name);
        return 1;
    }
    struct hub_client *old = hub_clients_find_identity(h, j.identity);
    if (old) {
        if (old->state != HUB_CLIENT_ACTIVE)
            return 1; // its previous session is fading out; the retry will get in
        if (bb_addr_equal(&old->addr, &ev->from)) {
            send_welcome(h, old); // our WELCOME was lost: say it again
            return 1;
        }
        send_reject(h, &ev->from, BB_REJECT_IDENTITY,
                    "this musician (%s) is already connected from %s", old->name,
                    bb_addr_str(&old->addr, as, sizeof as));
        return 1;
    }
    // Shown as an engineer renamed this identity, if so (and still
    // possible); "taken" compares the names shown, not the JOIN names.
    hub_state_shown_name(h, j.identity, name, shown);
    if (hub_find_name(h, shown)) {
        send_reject(h, &ev->from, BB_REJECT_NAME_TAKEN,
                    "the name '%s' is taken by another musician; choose another with --name",
                    shown);
        return 1;
    }
    if (j.rate != h->rate && !(j.flags & BB_JOIN_RESAMPLE)) { // join converts to our rate
        send_reject(h, &ev->from, BB_REJECT_RATE,
                    "sample rate mismatch: the hub runs at %u Hz, your JACK at %u Hz; "
                    "restart JACK at %u Hz",
                    h->rate, j.rate, h->rate);
        return 1;
    }
    if (j.codec >= BB_CODEC_COUNT) {
        send_reject(h, &ev->from, BB_REJECT_CODEC,
                    "this hub does not know codec %u (a newer bandbridge's?); it knows pcm16, "
                    "pcm24, float, opus, opus-ld and opus-std: choose one with --codec",
                    (unsigned)j.codec);
        return 1;
    }
    return 0;
}

static void handle_join(struct hub *h, const struct hub_event *ev, const struct bb_header *hd)
{
    char as[80], name[BB_NAME_MAX], shown[BB_NAME_MAX];
    struct bb_join j;
    if (join_refused(h, ev, hd, &j, name, shown))
        return;
    enum bb_codec codec = (enum bb_codec)j.codec;
    enum bb_codec down_codec = j.down_codec ? (enum bb_codec)j.down_codec : codec;
    unsigned up = bb_codec_wire_frames(codec, h->rate, j.channels);
    unsigned down = bb_codec_wire_frames(down_codec, h->rate, BB_MIX_CH);
    if (!up || !down) {
        send_reject(h, &ev->from, BB_REJECT_CODEC, "codec %s cannot carry %u channels at %u Hz",
                    bb_codec_name(up ? down_codec : codec), up ? BB_MIX_CH : j.channels, h->rate);
        return;
    }
    // Their old slot if it is free, else the first never used, else the first free.
    int slot = hub_clients_pick_slot(h, j.identity);
    if (slot < 0) {
        send_reject(h, &ev->from, BB_REJECT_FULL, "the hub is full (%u musicians)",
                    h->max_clients);
        return;
    }

    struct hub_client *c = hub_clients_new(slot);
    char err[160] = "out of memory";
    if (!c)
        goto fail;
    memcpy(c->identity, j.identity, BB_IDENTITY_SIZE);
    snprintf(c->name, sizeof c->name, "%s", shown);
    snprintf(c->join_name, sizeof c->join_name, "%s", name);
    uint32_t rnd = 0;
    while ((rnd & 0xFFFFFF) == 0)
        if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
            rnd = (uint32_t)bb_now_ns();
    c->session = (rnd << 8) | (uint32_t)slot;
    c->addr = ev->from;
    c->channels = j.channels;
    c->st.rx_codec = codec;
    c->st.tx_codec = down_codec;
    c->st.rx_frames = up;
    c->st.tx_frames = down;
    unsigned target = h->jitter_set ? h->jitter : (j.jitter == 0xFFFF ? BB_JBUF_AUTO : j.jitter);
    if (hub_client_stream_open(h, c, &j, target, err, sizeof err) < 0)
        goto fail;
    hub_clients_admit(h, c); // the stored mix applied, then published
    // Heard and sent its mix from the next period on; its JACK ports come
    // when the JACK thread has registered them (and connected them as
    // stored), however long jackd takes.
    send_welcome(h, c);
    hub_jack_add(h, c, c->rec);
    bb_info("%s joined from %s: %u channel%s, %s%s%s, jitter buffer %s%s%s", c->name,
            bb_addr_str(&c->addr, as, sizeof as), c->channels, c->channels == 1 ? "" : "s",
            bb_codec_name(codec), down_codec != codec ? " up, back " : "",
            down_codec != codec ? bb_codec_name(down_codec) : "",
            target == BB_JBUF_AUTO ? "auto" : "",
            target == BB_JBUF_AUTO ? "" : (snprintf(err, sizeof err, "%u frames", target), err),
            c->restored ? "; stored mix and routing restored" : "");
    if (strcmp(c->name, c->join_name) != 0)
        bb_info("%s joined as %s: shown as %s, the name an engineer gave them", c->name,
                c->join_name, c->name);
    return;
fail:
    bb_err("cannot accept %s: %s", name, err);
    if (c)
        hub_clients_free(c);
    send_reject(h, &ev->from, BB_REJECT_OTHER, "the hub could not set up the stream: %s", err);
}

static void handle_leave(struct hub *h, const struct hub_event *ev, const struct bb_header *hd)
{
    unsigned slot = hd->session & 0xFF;
    struct hub_client *c = hub_clients_slot(h, slot);
    if (!c || c->session != hd->session || !bb_addr_equal(&c->addr, &ev->from)) {
        atomic_fetch_add(&h->eng.stats.unknown_session, 1);
        return;
    }
    uint8_t buf[BB_WIRE_HEADER_SIZE];
    int n = bb_session_leave_ack(buf, sizeof buf, c->session, hd->seq);
    if (n > 0)
        hub_net_send(&h->eng, &c->addr, buf, (size_t)n);
    hub_clients_remove(h, c, HUB_WHY_LEFT);
}

// An OSC packet from a musician's own controller, relayed by their join:
// accepted only from the session's own address while the musician is in
// (the same check as a LEAVE), then handled by osc.c as theirs.
static void handle_osc(struct hub *h, const struct hub_event *ev, const struct bb_header *hd)
{
    unsigned slot = hd->session & 0xFF;
    struct hub_client *c = hub_clients_slot(h, slot);
    if (!c || c->session != hd->session || c->state != HUB_CLIENT_ACTIVE) {
        atomic_fetch_add(&h->eng.stats.unknown_session, 1);
        return;
    }
    if (!bb_addr_equal(&c->addr, &ev->from)) {
        atomic_fetch_add(&h->eng.stats.wrong_source, 1);
        return;
    }
    struct bb_osc o;
    if (bb_wire_read_osc(ev->data, ev->len, &o) != BB_WIRE_OK) {
        atomic_fetch_add(&h->eng.stats.bad_packets, 1);
        return;
    }
    hub_osc_relay(h, c, o.controller, o.packet, o.packet_len);
}

void hub_session_drain(struct hub *h)
{
    uint64_t v;
    if (read(h->eng.event_fd, &v, sizeof v) < 0 && errno != EAGAIN)
        bb_warn("event fd: %s", strerror(errno));
    static struct hub_event ev; // [ctl] only; too big for the stack of a small thread
    while (bb_ring_read(&h->eng.events, &ev, sizeof ev)) {
        struct bb_header hd;
        int rc = bb_wire_parse_header(ev.data, ev.len, &hd);
        if (rc != BB_WIRE_OK && rc != BB_WIRE_VERSION_BAD)
            continue;
        if (hd.type == BB_MSG_JOIN)
            handle_join(h, &ev, &hd);
        else if (hd.type == BB_MSG_LEAVE)
            handle_leave(h, &ev, &hd);
        else if (hd.type == BB_MSG_OSC && rc == BB_WIRE_OK)
            handle_osc(h, &ev, &hd);
    }
}

void hub_session_ping(struct hub *h, uint64_t now)
{
    uint8_t buf[64];
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        struct hub_client *c = h->slots[i];
        if (!c || c->state != HUB_CLIENT_ACTIVE)
            continue;
        struct bb_header hd = {.type = BB_MSG_PING, .session = c->session};
        struct bb_ping p = {.t_ns = now};
        int n = bb_wire_write_ping(buf, sizeof buf, &hd, &p);
        if (n > 0)
            hub_net_send(&h->eng, &c->addr, buf, (size_t)n);
    }
}

void hub_session_goodbye(struct hub *h)
{
    // Sent twice: it costs nothing and UDP loses.
    for (int rep = 0; rep < 2; rep++)
        for (int i = 0; i < BB_MAX_CLIENTS; i++)
            if (h->slots[i])
                send_leave(h, h->slots[i], BB_LEAVE_SHUTDOWN, "the hub is shutting down");
}

static void on_leaving(struct hub *h, struct hub_client *c, enum hub_why why, void *arg)
{
    (void)arg;
    if (why == HUB_WHY_SILENT)
        send_leave(h, c, BB_LEAVE_TIMEOUT, "the hub heard nothing from you for too long");
}

const struct hub_clients_observer hub_session_observer = {.leaving = on_leaving};
