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
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "hub_session.h"
#include "cookie.h"
#include "hub_clients.h"
#include "hub_jack.h"
#include "log.h"
#include "session.h"
#include "store.h"
#include "osc.h"

/// [ctl] Refused joins are logged at most once a second (a flood of bad
/// joins must not flood the log): the first in full, the rest as a count.
static struct {
    uint64_t second;
    unsigned more;
} refused_log;

static void log_refusal(const struct bb_addr *to, const char *reason)
{
    uint64_t second = bb_now_ns() / 1000000000ull;
    if (second == refused_log.second) {
        refused_log.more++;
        return;
    }
    if (refused_log.more)
        bb_info("refused %u more join%s in the last second", refused_log.more,
                refused_log.more == 1 ? "" : "s");
    refused_log.second = second;
    refused_log.more = 0;
    char as[80];
    bb_info("refused a join from %s: %s", bb_addr_str(to, as, sizeof as), reason);
}

/// A refusal of an opened JOIN: authenticated (handshake.h), so the
/// musician may believe it and give up when it is final.
static void send_reject(struct hub *h, const struct hub_event *ev, enum bb_reject_code code,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void send_reject(struct hub *h, const struct hub_event *ev, enum bb_reject_code code,
                        const char *fmt, ...)
{
    char reason[BB_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    uint8_t buf[BB_MAX_DATAGRAM];
    int n = bb_session_reject_auth(h->eng.hs, &ev->hs, buf, sizeof buf, code, reason);
    if (n > 0)
        hub_net_send(&h->eng, &ev->from, buf, (size_t)n);
    log_refusal(&ev->from, reason);
}

/// A refusal of a JOIN the hub could not open (another version, a wrong
/// password): cleartext, so never final for the musician, and never longer
/// than the JOIN (no amplification towards a forged source).
static void send_hint(struct hub *h, const struct hub_event *ev, uint8_t version,
                      enum bb_reject_code code, const char *reason)
{
    uint8_t buf[BB_MAX_DATAGRAM];
    int n = bb_session_reject(buf, sizeof buf, ev->len, version, code, reason);
    if (n > 0 && (size_t)n <= ev->len)
        hub_net_send(&h->eng, &ev->from, buf, (size_t)n);
    log_refusal(&ev->from, reason);
}

static void send_datagram(struct hub *h, const struct hub_client *c, const uint8_t *buf, int n)
{
    if (n <= 0)
        return;
    struct bb_addr to;
    hub_client_addr(c, &to);
    hub_net_send(&h->eng, &to, buf, (size_t)n);
}

static void send_leave(struct hub *h, struct hub_client *c, enum bb_leave_code code,
                       const char *reason)
{
    uint8_t buf[BB_MAX_SEALED];
    send_datagram(h, c, buf, bb_session_leave(&c->st, buf, sizeof buf, code, reason));
}

/// [ctl] The last JOIN timestamp accepted per identity (handshake.h: a
/// captured JOIN replayed is refused). Bounded: the oldest entry goes; a
/// JOIN older than that needs a cookie (120-240 s) from its source anyway.
#define TS_ENTRIES 512
static struct {
    uint8_t  id[BB_IDENTITY_SIZE];
    uint64_t ts;
} join_ts[TS_ENTRIES];

static uint64_t *join_ts_of(const uint8_t id[BB_IDENTITY_SIZE])
{
    int oldest = 0;
    for (int i = 0; i < TS_ENTRIES; i++) {
        if (memcmp(join_ts[i].id, id, BB_IDENTITY_SIZE) == 0 && join_ts[i].ts)
            return &join_ts[i].ts;
        if (join_ts[i].ts < join_ts[oldest].ts)
            oldest = i;
    }
    memcpy(join_ts[oldest].id, id, BB_IDENTITY_SIZE);
    join_ts[oldest].ts = 0;
    return &join_ts[oldest].ts;
}

// [ctl] The WELCOME with the session keys into buf (BB_MAX_DATAGRAM): the
// stream seals with them from now on, so this comes before the stream is
// published. Its length, or -1 when the JOIN is a replay (dropped unanswered).
static int make_welcome(struct hub *h, const struct hub_event *ev, struct hub_client *c,
                        uint8_t *buf)
{
    // Whether stored settings come back: what hub_state_join finds when the
    // musician is admitted, after this WELCOME is made (a replayed JOIN is
    // never admitted). A join retires an old identity file on it.
    char nm[BB_NAME_MAX], jn[BB_NAME_MAX];
    c->restored = h->store && bb_store_get_names(h->store, c->identity, nm, jn);
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
    struct bb_hs_keys keys;
    uint64_t *last = join_ts_of(c->identity);
    int n = bb_session_welcome(h->eng.hs, &ev->hs, *last, buf, BB_MAX_DATAGRAM, c->session, &w,
                               &keys);
    if (n < 0)
        return -1;
    *last = ev->hs.timestamp;
    bb_stream_set_keys(&c->st, keys.cipher, keys.h2c, keys.c2h);
    bb_hs_keys_wipe(&keys);
    return n;
}

// [ctl] A JOIN the receive thread could not open for a reason worth telling
// (another version, a wrong password): 1 when so (answered in cleartext).
static int join_unopened(struct hub *h, const struct hub_event *ev, const struct bb_header *hd)
{
    char reason[BB_REASON_MAX];
    if (hd->version != BB_WIRE_VERSION) {
        // Short: it must fit in the reply to the shortest old JOIN.
        snprintf(reason, sizeof reason, "hub speaks protocol %d: upgrade bandbridge",
                 BB_WIRE_VERSION);
        send_hint(h, ev, hd->version, BB_REJECT_VERSION, reason);
        return 1;
    }
    if (ev->hs_status == 0)
        return 0;
    atomic_fetch_add(&h->eng.stats.handshake_bad, 1);
    send_hint(h, ev, BB_WIRE_VERSION, BB_REJECT_OTHER,
              "wrong room password (the hub could not read your join)");
    return 1;
}

// [ctl] The checks of an opened JOIN that need no resources: 1 if it was
// answered (refused) or dropped, 0 if it may be admitted, with the
// sanitised JOIN name in name and the name to show in shown.
static int join_refused(struct hub *h, const struct hub_event *ev, const uint8_t id[BB_IDENTITY_SIZE],
                        char name[BB_NAME_MAX], char shown[BB_NAME_MAX])
{
    char as[80];
    const struct bb_join *j = &ev->join;
    if (bb_sanitize_name(name, BB_NAME_MAX, j->name) == 0) {
        send_reject(h, ev, BB_REJECT_BAD_REQUEST, "empty name");
        return 1;
    }
    struct hub_client *old = hub_clients_find_identity(h, id);
    if (old) {
        if (old->state != HUB_CLIENT_ACTIVE)
            return 1; // its previous session is fading out; the retry will get in
        struct bb_addr oa;
        hub_client_addr(old, &oa);
        // A retried JOIN while the session never sent an authenticated
        // datagram: our WELCOME is on its way (the join takes one answering
        // any of its last few JOINs, handshake.h), or was lost; then the
        // session ends by the silence timeout and a retry gets in. Never
        // replaced here: the join may already be sending under its keys.
        if (!atomic_load(&old->confirmed) || memcmp(old->join_ec, ev->hs.e_c, 32) == 0)
            return 1; // or a retry of the JOIN that opened it, overtaken by the WELCOME
        // A new JOIN signed by this identity from where the confirmed
        // session is: the musician started over. The old session goes; the
        // join's retry gets in.
        if (bb_addr_equal(&oa, &ev->from)) {
            hub_clients_remove(h, old, HUB_WHY_LEFT);
            return 1;
        }
        send_reject(h, ev, BB_REJECT_IDENTITY, "this musician (%s) is already connected from %s",
                    old->name, bb_addr_str(&oa, as, sizeof as));
        return 1;
    }
    // Shown as an engineer renamed this identity, if so (and still
    // possible); "taken" compares the names shown, not the JOIN names.
    hub_state_shown_name(h, id, name, shown);
    // The rules of a rename (hub_clients.h): a name that can never be
    // used is final; one that clashes with a musician who is here may
    // come free, so the join retries.
    const char *why = hub_name_invalid(shown);
    if (why) {
        send_reject(h, ev, BB_REJECT_BAD_REQUEST,
                    "the name '%s' cannot be used (%s); choose another with --name", shown, why);
        return 1;
    }
    const struct hub_client *with;
    if (hub_name_clash(h, shown, NULL, &with)) {
        if (strcmp(with->name, shown) == 0)
            send_reject(h, ev, BB_REJECT_NAME_TAKEN,
                        "the name '%s' is taken by another musician; choose another with --name",
                        shown);
        else if (strcasecmp(with->name, shown) == 0)
            send_reject(h, ev, BB_REJECT_NAME_TAKEN,
                        "the name '%s' is taken by another musician ('%s'); choose another with "
                        "--name", shown, with->name);
        else
            send_reject(h, ev, BB_REJECT_NAME_TAKEN,
                        "the name '%s' clashes with %s's channel ports; choose another with "
                        "--name", shown, with->name);
        return 1;
    }
    if (j->rate != h->rate && !(j->flags & BB_JOIN_RESAMPLE)) { // join converts to our rate
        send_reject(h, ev, BB_REJECT_RATE,
                    "sample rate mismatch: the hub runs at %u Hz, your JACK at %u Hz; "
                    "restart JACK at %u Hz",
                    h->rate, j->rate, h->rate);
        return 1;
    }
    if (j->codec >= BB_CODEC_COUNT) {
        send_reject(h, ev, BB_REJECT_CODEC,
                    "this hub does not know codec %u (a newer bandbridge's?); it knows pcm16, "
                    "pcm24, float, opus, opus-ld and opus-std: choose one with --codec",
                    (unsigned)j->codec);
        return 1;
    }
    return 0;
}

// The host part of an address (family and IP, no port) into key; 1 when
// it is this machine (IPv4 127/8, ::1, or 127/8 mapped into IPv6).
static int host_key(const struct bb_addr *a, uint8_t key[17])
{
    struct bb_cookie_addr ca;
    if (bb_cookie_addr_of(&ca, (const struct sockaddr *)&a->ss, a->len) < 0) {
        memset(key, 0, 17);
        return 0;
    }
    memcpy(key, ca.bytes, 17);
    static const uint8_t v6_loop[16] = {[15] = 1};
    static const uint8_t v4_mapped[12] = {[10] = 0xFF, [11] = 0xFF};
    if (ca.bytes[0] == 4)
        return ca.bytes[1] == 127;
    return memcmp(ca.bytes + 1, v6_loop, 16) == 0 ||
           (memcmp(ca.bytes + 1, v4_mapped, 12) == 0 && ca.bytes[13] == 127);
}

// [ctl] Whether one more musician from `from` would pass --max-per-address:
// how many sessions a single IP address (a band behind one NAT, or one
// attacker with many ports) may hold. This machine's own addresses are
// not counted: whoever sends from them is already on the hub's machine.
static int address_has_room(struct hub *h, const struct bb_addr *from, unsigned *count)
{
    uint8_t key[17], other[17];
    *count = 0;
    if (!h->max_per_address || host_key(from, key))
        return 1;
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        struct hub_client *c = h->slots[i];
        if (!c)
            continue;
        struct bb_addr a;
        hub_client_addr(c, &a);
        host_key(&a, other);
        *count += memcmp(key, other, sizeof key) == 0;
    }
    return *count < h->max_per_address;
}

// [ctl] Migration (keypair.h): a musician of an older bandbridge presents,
// once, inside its signed and encrypted JOIN, the identity token the hub
// stored its state under. When the key's identity has nothing stored yet,
// that state is copied to it, so the mix, routing and name come back.
static void link_old_identity(struct hub *h, const struct bb_join *j,
                              const uint8_t id[BB_IDENTITY_SIZE])
{
    static const uint8_t zero[BB_IDENTITY_SIZE];
    if (!h->store || memcmp(j->identity, zero, sizeof zero) == 0 ||
        memcmp(j->identity, id, BB_IDENTITY_SIZE) == 0)
        return;
    static struct bb_stored_client rec; // [ctl] large
    if (bb_store_get_client(h->store, id, &rec) || !bb_store_get_client(h->store, j->identity, &rec))
        return;
    memcpy(rec.identity, id, BB_IDENTITY_SIZE);
    bb_store_put_client(h->store, &rec);
    bb_info("%s: the stored state of their old identity now belongs to their key", rec.name);
}

static void handle_join(struct hub *h, const struct hub_event *ev, const struct bb_header *hd)
{
    char as[80], name[BB_NAME_MAX], shown[BB_NAME_MAX];
    if (join_unopened(h, ev, hd))
        return;
    // The store and the client table key musicians by 16 bytes: those of
    // the identity key's hash (session.h).
    uint8_t id[BB_IDENTITY_SIZE];
    bb_session_identity_id(ev->hs.identity, id);
    link_old_identity(h, &ev->join, id);
    if (join_refused(h, ev, id, name, shown))
        return;
    struct bb_join j = ev->join;
    memcpy(j.identity, id, BB_IDENTITY_SIZE);
    enum bb_codec codec = (enum bb_codec)j.codec;
    enum bb_codec down_codec = j.down_codec ? (enum bb_codec)j.down_codec : codec;
    unsigned up = bb_codec_wire_frames(codec, h->rate, j.channels);
    unsigned down = bb_codec_wire_frames(down_codec, h->rate, BB_MIX_CH);
    if (!up || !down) {
        send_reject(h, ev, BB_REJECT_CODEC, "codec %s cannot carry %u channels at %u Hz",
                    bb_codec_name(up ? down_codec : codec), up ? BB_MIX_CH : j.channels, h->rate);
        return;
    }
    unsigned same;
    if (!address_has_room(h, &ev->from, &same)) {
        atomic_fetch_add(&h->eng.stats.joins_per_address, 1);
        send_reject(h, ev, BB_REJECT_FULL,
                    "%u musicians are connected from your address already, this hub's limit "
                    "(serve --max-per-address)", same);
        return;
    }
    char busy[200];
    if (!hub_load_admits(&h->load, hub_active_count(h), busy, sizeof busy)) {
        send_reject(h, ev, BB_REJECT_BUSY, "%s", busy);
        return;
    }
    // Their old slot if it is free, else the first never used, else the first free.
    int slot = hub_clients_pick_slot(h, j.identity);
    if (slot < 0) {
        send_reject(h, ev, BB_REJECT_FULL, "the hub is full (%u musicians)",
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
    c->addr_slot[0] = ev->from; // addr_cur 0: not published yet, no reader
    memcpy(c->join_ec, ev->hs.e_c, sizeof c->join_ec);
    c->channels = j.channels;
    c->st.rx_codec = codec;
    c->st.tx_codec = down_codec;
    c->st.rx_frames = up;
    c->st.tx_frames = down;
    unsigned target = h->jitter_set ? h->jitter : (j.jitter == 0xFFFF ? BB_JBUF_AUTO : j.jitter);
    if (hub_client_stream_open(h, c, &j, target, err, sizeof err) < 0)
        goto fail;
    uint8_t wbuf[BB_MAX_DATAGRAM];
    int wlen = make_welcome(h, ev, c, wbuf);
    if (wlen < 0) { // a replayed JOIN: nothing to say to whoever sent it
        hub_clients_free(c);
        return;
    }
    hub_clients_admit(h, c); // the stored mix applied, then published
    // Heard from the next period on, sent its mix once its first
    // authenticated datagram arrived (hub_net.c); its JACK ports come
    // when the JACK thread has registered them (and connected them as
    // stored), however long jackd takes.
    hub_net_send(&h->eng, &ev->from, wbuf, (size_t)wlen);
    hub_jack_add(h, c, c->rec);
    bb_info("%s joined from %s: %u channel%s, %s%s%s, jitter buffer %s%s%s%s%s", c->name,
            bb_addr_str(&ev->from, as, sizeof as), c->channels, c->channels == 1 ? "" : "s",
            bb_codec_name(codec), down_codec != codec ? " up, back " : "",
            down_codec != codec ? bb_codec_name(down_codec) : "",
            target == BB_JBUF_AUTO ? "auto" : "",
            target == BB_JBUF_AUTO ? "" : (snprintf(err, sizeof err, "%u frames", target), err),
            c->restored ? "; stored mix and routing restored" : "",
            c->st.sealed ? "; sealed with " : "",
            c->st.sealed ? bb_seal_cipher_name(c->st.seal_tx.cipher) : "");
    if (strcmp(c->name, c->join_name) != 0)
        bb_info("%s joined as %s: shown as %s, the name an engineer gave them", c->name,
                c->join_name, c->name);
    return;
fail:
    bb_err("cannot accept %s: %s", name, err);
    if (c)
        hub_clients_free(c);
    send_reject(h, ev, BB_REJECT_OTHER, "the hub could not set up the stream: %s", err);
}

// A LEAVE the receive thread opened: authenticated, from the session.
static void handle_leave(struct hub *h, const struct hub_event *ev, const struct bb_header *hd)
{
    unsigned slot = hd->session & 0xFF;
    struct hub_client *c = hub_clients_slot(h, slot);
    if (!c || c->session != hd->session) {
        atomic_fetch_add(&h->eng.stats.unknown_session, 1);
        return;
    }
    uint8_t buf[BB_MAX_SEALED];
    int n = bb_session_leave_ack(&c->st, buf, sizeof buf, hd->seq);
    if (n > 0)
        hub_net_send(&h->eng, &ev->from, buf, (size_t)n);
    hub_clients_remove(h, c, HUB_WHY_LEFT);
}

// An OSC packet from a musician's own controller, relayed by their join:
// authenticated by the receive thread (sealed with the session's key), then
// handled by osc.c as theirs while the musician is in.
static void handle_osc(struct hub *h, const struct hub_event *ev, const struct bb_header *hd)
{
    unsigned slot = hd->session & 0xFF;
    struct hub_client *c = hub_clients_slot(h, slot);
    if (!c || c->session != hd->session || c->state != HUB_CLIENT_ACTIVE) {
        atomic_fetch_add(&h->eng.stats.unknown_session, 1);
        return;
    }
    struct bb_osc o;
    if (bb_wire_read_osc(ev->data, ev->len, &o) != BB_WIRE_OK) {
        atomic_fetch_add(&h->eng.stats.bad_packets, 1);
        return;
    }
    hub_osc_relay(h, c, o.controller, o.packet, o.packet_len);
}

/// Events taken in one turn of the control loop at most (the ring holds
/// 256): the receive thread may refill the ring as fast as it is read (a
/// band's relayed OSC), and the turn must end for the OSC socket's turn.
#define HUB_DRAIN_MAX 256

void hub_session_drain(struct hub *h)
{
    uint64_t v;
    if (read(h->eng.event_fd, &v, sizeof v) < 0 && errno != EAGAIN)
        bb_warn("event fd: %s", strerror(errno));
    static struct hub_event ev; // [ctl] only; too big for the stack of a small thread
    for (unsigned n = 0;; n++) {
        if (n == HUB_DRAIN_MAX) {
            // The rest next turn: the event fd wakes the loop's poll at once.
            v = 1;
            if (write(h->eng.event_fd, &v, sizeof v) < 0 && errno != EAGAIN)
                bb_warn("event fd: %s", strerror(errno));
            break;
        }
        if (!bb_ring_read(&h->eng.events, &ev, sizeof ev))
            break;
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
    uint8_t buf[BB_STREAM_REPLY_SIZE];
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        struct hub_client *c = h->slots[i];
        if (!c || c->state != HUB_CLIENT_ACTIVE)
            continue;
        send_datagram(h, c, buf, bb_stream_ping(&c->st, buf, sizeof buf, now));
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
