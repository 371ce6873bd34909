// SPDX-License-Identifier: GPL-2.0-or-later
// hub.c: `bandbridge serve`: options, JACK client, and the control thread.
//
// DESIGN. The control thread (the program's main thread) is the only writer
// of client state. It sleeps in poll() on three things: an eventfd the
// receive thread signals when it has queued a JOIN, a LEAVE or a relayed
// OSC packet (a musician's own controller, handed to osc.c), a signalfd
// for SIGINT/SIGTERM, the OSC socket, and a timeout that drives the zombie
// sweep (every 100 ms), pending removals and the OSC meters and leases
// (every 40 ms).
//
// A join is handled completely here: checks, codec and jitter-buffer
// set-up, JACK port registration, then a new graph is published with one
// atomic store and the WELCOME goes out. Audio for the musician can start
// in the very next period; nothing ever waits for the process callback.
//
// A leave (or a musician found silent for --timeout) is two graph
// publications: first the musician's channels and mix are ramped to
// silence (FADING), and once the callback reports that ramp finished, a
// graph without the musician is published (REMOVED). When every reader
// (callback, receive and send threads) has acknowledged that graph, the
// JACK ports are unregistered and the memory freed. The callback never
// waits for any of it, and never sees a port that is going away.
//
// A rename (hub_rename, asked for over OSC) is control-thread work only:
// the musician's JACK ports are renamed in place (jack_port_rename: same
// port, so the callback's handles and every JACK connection stay), and the
// name is read by no other thread, so no graph is published for it.
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "hub.h"
#include "hub_clients.h"

#include <jack/thread.h> // after jack.h (through hub.h): it needs jack_client_t
#include "log.h"
#include "nsm.h"
#include "osc.h"

#define SWEEP_NS      (100 * 1000000ull)
#define PING_NS       (1000 * 1000000ull)

static void graph_free(void *obj)
{
    struct hub_graph *g = obj;
    bb_mix_graph_free(g->mix);
    free(g);
}

static const struct hub_send default_send = {.gain_db = 0.0f, .pan = 0.0f, .sub = 1};

// [ctl] Builds the graph for the current client table and settings.
static struct hub_graph *build_graph(struct hub *h)
{
    struct hub_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    uint16_t src_id[BB_MAX_SOURCES], mix_id[BB_MAX_MIXES];
    unsigned nsrc = 0, nmix = 0, opus = 0;
    for (int slot = 0; slot < BB_MAX_CLIENTS; slot++) {
        struct hub_client *c = h->slots[slot];
        if (!c || c->state == HUB_CLIENT_REMOVED)
            continue;
        g->clients[g->nclients++] = c;
        g->by_slot[slot] = c;
        for (unsigned ch = 0; ch < c->channels; ch++) {
            g->src_client[nsrc] = c;
            g->src_index[nsrc] = (uint16_t)ch;
            src_id[nsrc++] = (uint16_t)BB_SRC_CLIENT(slot, ch);
        }
        g->mix_client[nmix] = c;
        mix_id[nmix++] = (uint16_t)slot;
        opus += bb_codec_is_opus(c->st.tx_codec);
    }
    g->tx_workers = opus >= HUB_TX_SPLIT_OPUS ? HUB_TX_WORKERS : 1;
    for (unsigned i = 0; i < h->local_inputs; i++) {
        g->src_client[nsrc] = NULL;
        g->src_index[nsrc] = (uint16_t)i;
        src_id[nsrc++] = (uint16_t)BB_SRC_LOCAL(i);
    }
    g->mix_client[nmix] = NULL;
    mix_id[nmix++] = BB_MIX_MAIN;

    g->mix = bb_mix_graph_new(nsrc, nmix);
    if (!g->mix) {
        free(g);
        return NULL;
    }
    memcpy(g->mix->src_id, src_id, nsrc * sizeof *src_id);
    memcpy(g->mix->mix_id, mix_id, nmix * sizeof *mix_id);
    for (unsigned m = 0; m < nmix; m++) {
        const struct hub_client *lc = g->mix_client[m];
        const struct hub_send *sends = lc ? lc->sends : h->main_sends;
        int any_solo = 0;
        for (unsigned s = 0; s < nsrc; s++)
            any_solo |= sends[src_id[s]].solo && sends[src_id[s]].sub;
        for (unsigned s = 0; s < nsrc; s++) {
            const struct hub_send *sd = &sends[src_id[s]];
            const struct hub_client *sc = g->src_client[s];
            float *gain = bb_mix_graph_gain(g->mix, m, s);
            int fading = (lc && lc->state != HUB_CLIENT_ACTIVE) ||
                         (sc && sc->state != HUB_CLIENT_ACTIVE);
            if (fading || !sd->sub || sd->mute || (any_solo && !sd->solo)) {
                gain[0] = gain[1] = 0.0f;
                continue;
            }
            float trim = sc ? sc->send_db : 0.0f; // the musician's own send level
            bb_pan_gains(bb_db_to_gain(sd->gain_db + trim), sd->pan, &gain[0], &gain[1]);
        }
    }
    return g;
}

// [ctl] Publishes a new graph if anything changed. Returns its epoch (0 if none).
uint64_t hub_publish(struct hub *h)
{
    if (!h->dirty)
        return 0;
    struct hub_graph *g = build_graph(h);
    if (!g) {
        bb_err("out of memory building the mixer graph; will retry");
        return 0;
    }
    uint64_t epoch = bb_snap_publish(&h->eng.graph, g);
    if (epoch == 0) {
        // Too many graphs waiting for readers: the callback is stalled.
        graph_free(g);
        return 0;
    }
    h->dirty = 0;
    return epoch;
}

const struct hub_send *hub_clients_send(const struct hub *h, const struct hub_client *mc,
                                        unsigned src_id)
{
    return mc ? &mc->sends[src_id] : &h->main_sends[src_id];
}

void hub_clients_set_send(struct hub *h, struct hub_client *mc, unsigned src_id,
                          const struct hub_send *v)
{
    if (mc)
        mc->sends[src_id] = *v;
    else
        h->main_sends[src_id] = *v;
    h->dirty = 1;
    hub_state_mark(h, mc);
}

void hub_clients_set_send_db(struct hub *h, struct hub_client *c, float db)
{
    c->send_db = db;
    h->dirty = 1;
    hub_state_mark(h, c);
}

static void send_reject(struct hub *h, const struct bb_addr *to, enum bb_reject_code code,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void send_reject(struct hub *h, const struct bb_addr *to, enum bb_reject_code code,
                        const char *fmt, ...)
{
    struct bb_reject r = {.code = (uint8_t)code};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.reason, sizeof r.reason, fmt, ap);
    va_end(ap);
    struct bb_header hd = {.type = BB_MSG_REJECT};
    uint8_t buf[BB_MAX_DATAGRAM];
    int n = bb_wire_write_reject(buf, sizeof buf, &hd, &r);
    if (n > 0)
        hub_net_send(&h->eng, to, buf, (size_t)n);
    char as[80];
    bb_info("refused a join from %s: %s", bb_addr_str(to, as, sizeof as), r.reason);
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
    struct bb_header hd = {.type = BB_MSG_WELCOME, .session = c->session};
    uint8_t buf[BB_MAX_DATAGRAM];
    int n = bb_wire_write_welcome(buf, sizeof buf, &hd, &w);
    if (n > 0)
        hub_net_send(&h->eng, &c->addr, buf, (size_t)n);
}

static void send_leave(struct hub *h, const struct hub_client *c, enum bb_leave_code code,
                       const char *reason)
{
    struct bb_leave l = {.code = (uint8_t)code};
    snprintf(l.reason, sizeof l.reason, "%s", reason);
    struct bb_header hd = {.type = BB_MSG_LEAVE, .session = c->session};
    uint8_t buf[BB_MAX_DATAGRAM];
    int n = bb_wire_write_leave(buf, sizeof buf, &hd, &l);
    if (n > 0)
        hub_net_send(&h->eng, &c->addr, buf, (size_t)n);
}

static void client_free(struct hub *h, struct hub_client *c)
{
    for (unsigned ch = 0; ch < BB_MAX_CLIENT_CH; ch++)
        if (c->ports[ch] && h->jack)
            jack_port_unregister(h->jack, c->ports[ch]);
    for (unsigned i = 0; i < BB_MIX_CH; i++)
        if (c->mix_ports[i] && h->jack)
            jack_port_unregister(h->jack, c->mix_ports[i]);
    bb_stream_close(&c->st);
    free(c->rec);
    free(c);
}

static jack_port_t *register_port(struct hub *h, const char *name, unsigned long flags)
{
    if (!h->jack)
        return NULL; // JACK is away: registered when it comes back
    jack_port_t *p = jack_port_register(h->jack, name, JACK_DEFAULT_AUDIO_TYPE, flags, 0);
    if (!p)
        bb_warn("cannot register JACK port %s:%s", h->jack_name, name);
    return p;
}

// Ports that read well in a patchbay: bandbridge:alice_1, and with
// --mix-ports bandbridge:mix_alice_L. Every port is a round trip to the
// JACK server when it comes and when it goes (about 0.6 ms here, several
// under load), and the two mix ports are two thirds of a mono musician's:
// fifty musicians timing out at once are gone from JACK in a third of the
// time without them. The personal mixes are sent to the musicians either
// way; the ports are for an engineer who wants to hear or record them.
void hub_port_name(char *buf, size_t size, const char *name, unsigned channels, unsigned i)
{
    if (i < channels)
        snprintf(buf, size, "%s_%u", name, i + 1);
    else
        snprintf(buf, size, "mix_%s_%c", name, i == channels ? 'L' : 'R');
}

static void register_client_ports(struct hub *h, struct hub_client *c)
{
    char pn[BB_NAME_MAX + 16];
    for (unsigned ch = 0; ch < c->channels; ch++) {
        hub_port_name(pn, sizeof pn, c->name, c->channels, ch);
        c->ports[ch] = register_port(h, pn, JackPortIsOutput);
    }
    if (!h->mix_ports)
        return;
    for (unsigned i = 0; i < BB_MIX_CH; i++) {
        hub_port_name(pn, sizeof pn, c->name, c->channels, c->channels + i);
        c->mix_ports[i] = register_port(h, pn, JackPortIsOutput);
    }
}

static struct hub_client *find_identity(struct hub *h, const uint8_t *id)
{
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i] && memcmp(h->slots[i]->identity, id, BB_IDENTITY_SIZE) == 0)
            return h->slots[i];
    return NULL;
}

struct hub_client *hub_find_name(struct hub *h, const char *name)
{
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i] && h->slots[i]->state == HUB_CLIENT_ACTIVE &&
            strcmp(h->slots[i]->name, name) == 0)
            return h->slots[i];
    return NULL;
}

const char *hub_name_refused(struct hub *h, const char *name, const struct hub_client *self)
{
    size_t n = strlen(name);
    if (n == 0 || n >= BB_NAME_MAX)
        return "a name is 1 to 31 characters";
    char clean[BB_NAME_MAX];
    bb_sanitize_name(clean, sizeof clean, name);
    if (strcmp(clean, name) != 0)
        return "a name may only have letters, digits, '-', '_' and '.'";
    unsigned k;
    char tail;
    if (strcmp(name, "main") == 0 || sscanf(name, "in_%u%c", &k, &tail) == 1)
        return "main and in_<k> are reserved by the hub";
    if (strcmp(name, "me") == 0 || sscanf(name, "me_%u%c", &k, &tail) == 1)
        return "me and me_<k> are reserved: a musician's own controller says me";
    if (strspn(name, "0123456789.") == n)
        return "a name of digits and dots would read as a slot number (n or n.k)";
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        const struct hub_client *o = h->slots[i];
        if (!o || o == self)
            continue;
        // Still listed while leaving: its ports have that name until freed.
        if (strcmp(o->name, name) == 0)
            return "another musician has that name";
        // name = o's name + _<k>, or o's name = name + _<k>: a source
        // "bob_2" would mean two things.
        size_t on = strlen(o->name);
        const char *longer = n > on ? name : o->name, *shorter = n > on ? o->name : name;
        size_t sn = n > on ? on : n;
        if (strncmp(longer, shorter, sn) == 0 && longer[sn] == '_' && longer[sn + 1] &&
            strspn(longer + sn + 1, "0123456789") == strlen(longer + sn + 1))
            return "another musician's channel names would collide (name_<k>)";
    }
    return NULL;
}

// [ctl] Renames c's JACK ports (short names) from musician name old to nw:
// old_<k> -> nw_<k>, mix_old_L/R -> mix_nw_L/R. The same jack_port_t
// stays, so the callback's handles and every connection are untouched. If
// JACK refuses one, those renamed so far are renamed back; returns 0 or -1.
static int rename_ports(struct hub *h, struct hub_client *c, const char *old, const char *nw)
{
    jack_port_t *ports[BB_MAX_CLIENT_CH + BB_MIX_CH];
    char from[BB_MAX_CLIENT_CH + BB_MIX_CH][BB_NAME_MAX + 16];
    char to[BB_MAX_CLIENT_CH + BB_MIX_CH][BB_NAME_MAX + 16];
    unsigned n = 0;
    for (; n < c->channels + BB_MIX_CH; n++) {
        ports[n] = n < c->channels ? c->ports[n] : c->mix_ports[n - c->channels];
        hub_port_name(from[n], sizeof from[n], old, c->channels, n);
        hub_port_name(to[n], sizeof to[n], nw, c->channels, n);
    }
    if (!h->jack)
        return 0; // JACK is away: the ports come back under the new name
    for (unsigned i = 0; i < n; i++) {
        if (!ports[i] || jack_port_rename(h->jack, ports[i], to[i]) == 0)
            continue;
        bb_warn("JACK refused to rename %s:%s to %s", h->jack_name, from[i], to[i]);
        while (i-- > 0)
            if (ports[i] && jack_port_rename(h->jack, ports[i], from[i]) != 0)
                bb_warn("JACK refused to rename %s:%s back to %s", h->jack_name, to[i], from[i]);
        return -1;
    }
    return 0;
}

int hub_rename(struct hub *h, struct hub_client *c, const char *name, const char **why)
{
    if (c->state != HUB_CLIENT_ACTIVE) {
        *why = "no musician of that name is connected";
        return -1;
    }
    if (strcmp(name, c->name) == 0)
        return 0; // already so: nothing to do, nothing to announce
    if ((*why = hub_name_refused(h, name, c)))
        return -1;
    char old[BB_NAME_MAX];
    snprintf(old, sizeof old, "%s", c->name);
    // Connections made since the last snapshot, under the old port names,
    // so the stored ones are complete before they are renamed.
    hub_state_snapshot_client(h, c);
    if (rename_ports(h, c, old, name) < 0) {
        *why = "JACK refused to rename the musician's ports";
        return -1;
    }
    snprintf(c->name, sizeof c->name, "%s", name);
    hub_state_rename(h, c, old);
    bb_info("%s is now called %s (slot %d): ports, mixes and stored settings follow", old,
            c->name, c->slot + 1);
    hub_osc_notify_renamed(h, c->slot, old, c->name);
    return 0;
}

static void handle_join(struct hub *h, const struct hub_event *ev, const struct bb_header *hd)
{
    char as[80];
    if (hd->version != BB_WIRE_VERSION) {
        send_reject(h, &ev->from, BB_REJECT_VERSION,
                    "protocol version mismatch: the hub speaks version %d, you sent %d; "
                    "use the same bandbridge release on both sides",
                    BB_WIRE_VERSION, hd->version);
        return;
    }
    struct bb_join j;
    int rc = bb_wire_read_join(ev->data, ev->len, &j);
    if (rc != BB_WIRE_OK) {
        atomic_fetch_add(&h->eng.stats.bad_packets, 1);
        send_reject(h, &ev->from, BB_REJECT_BAD_REQUEST, "malformed join: %s",
                    bb_wire_strerror(rc));
        return;
    }
    char name[BB_NAME_MAX];
    if (bb_sanitize_name(name, sizeof name, j.name) == 0) {
        send_reject(h, &ev->from, BB_REJECT_BAD_REQUEST, "empty name");
        return;
    }
    unsigned k;
    char tail;
    if (strcmp(name, "main") == 0 || sscanf(name, "in_%u%c", &k, &tail) == 1) {
        // These name the main mix and the local inputs in OSC addresses.
        send_reject(h, &ev->from, BB_REJECT_NAME_TAKEN,
                    "the name '%s' is reserved by the hub; choose another with --name", name);
        return;
    }
    struct hub_client *old = find_identity(h, j.identity);
    if (old) {
        if (old->state != HUB_CLIENT_ACTIVE)
            return; // its previous session is fading out; the retry will get in
        if (bb_addr_equal(&old->addr, &ev->from)) {
            send_welcome(h, old); // our WELCOME was lost: say it again
            return;
        }
        send_reject(h, &ev->from, BB_REJECT_IDENTITY,
                    "this musician (%s) is already connected from %s", old->name,
                    bb_addr_str(&old->addr, as, sizeof as));
        return;
    }
    // Shown as an engineer renamed this identity, if so (and still
    // possible); "taken" compares the names shown, not the JOIN names.
    char shown[BB_NAME_MAX];
    hub_state_shown_name(h, j.identity, name, shown);
    if (hub_find_name(h, shown)) {
        send_reject(h, &ev->from, BB_REJECT_NAME_TAKEN,
                    "the name '%s' is taken by another musician; choose another with --name",
                    shown);
        return;
    }
    if (j.rate != h->rate) {
        send_reject(h, &ev->from, BB_REJECT_RATE,
                    "sample rate mismatch: the hub runs at %u Hz, your JACK at %u Hz; "
                    "restart JACK at %u Hz",
                    h->rate, j.rate, h->rate);
        return;
    }
    if (j.codec >= BB_CODEC_COUNT) {
        send_reject(h, &ev->from, BB_REJECT_CODEC,
                    "this hub does not know codec %u (a newer bandbridge's?); it knows pcm16, "
                    "pcm24, float, opus, opus-ld and opus-std: choose one with --codec",
                    (unsigned)j.codec);
        return;
    }
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
    // Slots stay within 1..--max-clients, the numbers controllers see.
    int slot = -1, unused = -1, free_slot = -1, count = 0;
    for (int i = 0; i < (int)h->max_clients; i++) {
        if (h->slots[i]) {
            count++;
            continue;
        }
        if (h->slot_known[i] && memcmp(h->slot_identity[i], j.identity, BB_IDENTITY_SIZE) == 0)
            slot = i;
        if (!h->slot_known[i] && unused < 0)
            unused = i;
        if (free_slot < 0)
            free_slot = i;
    }
    if (slot < 0)
        slot = unused >= 0 ? unused : free_slot;
    if (slot < 0 || count >= (int)h->max_clients) {
        send_reject(h, &ev->from, BB_REJECT_FULL, "the hub is full (%u musicians)",
                    h->max_clients);
        return;
    }

    struct hub_client *c = calloc(1, sizeof *c);
    char err[160] = "out of memory";
    if (!c)
        goto fail;
    c->slot = slot;
    c->state = HUB_CLIENT_ACTIVE;
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
    unsigned target = h->jitter_set ? h->jitter : (j.jitter == 0xFFFF ? BB_JBUF_AUTO : j.jitter);
    const struct bb_stream_config cfg = {
        .session = c->session,
        .rate = h->rate,
        .tx_codec = down_codec,
        .tx_channels = BB_MIX_CH,
        .tx_frames = down,
        .kbps = j.kbps,
        .complexity = (int)h->mix_complexity, // one encoder per musician: keep it cheap
        // A centred mix (left = right to the bit) is encoded once, if the
        // musician's decoder knows one-block payloads.
        .allow_mono = (j.flags & BB_JOIN_MONO_OK) != 0,
        .rx_codec = codec,
        .rx_channels = j.channels,
        .rx_frames = up,
        .jitter = target,
        .drift_comp = h->drift_comp,
    };
    if (bb_stream_open(&c->st, &cfg, err, sizeof err) < 0)
        goto fail;
    uint64_t now = bb_now_ns();
    c->joined_ns = now;
    atomic_store(&c->st.last_heard_ns, now);

    // Everyone hears everyone, themselves included, at 0 dB, centred.
    for (int s = 0; s < BB_MAX_SOURCES; s++)
        c->sends[s] = default_send;
    for (unsigned ch = 0; ch < BB_MAX_CLIENT_CH; ch++) {
        int id = BB_SRC_CLIENT(slot, ch);
        h->main_sends[id] = default_send;
        for (int i = 0; i < BB_MAX_CLIENTS; i++)
            if (h->slots[i])
                h->slots[i]->sends[id] = default_send;
    }
    h->slots[slot] = c;
    memcpy(h->slot_identity[slot], c->identity, BB_IDENTITY_SIZE);
    h->slot_known[slot] = 1;
    hub_state_join(h, c); // stored mixes, before the first graph with c
    register_client_ports(h, c);
    h->dirty = 1;
    hub_publish(h);
    send_welcome(h, c);
    hub_state_restore_conns(h, c);
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
    hub_osc_notify_clients(h, c->slot, c->name, 1);
    return;
fail:
    bb_err("cannot accept %s: %s", name, err);
    if (c)
        client_free(h, c);
    send_reject(h, &ev->from, BB_REJECT_OTHER, "the hub could not set up the stream: %s", err);
}

// [ctl] Starts a musician's departure. The graph that fades it out is
// published by advance_removals(), once for every departure of this loop
// turn: fifty zombies found in one sweep cost one graph, not fifty.
static void start_removal(struct hub *h, struct hub_client *c, const char *why)
{
    if (c->state != HUB_CLIENT_ACTIVE)
        return;
    hub_state_snapshot_client(h, c); // routing made since the last snapshot
    c->rec_dirty = 1;                // and its last-seen time
    c->state = HUB_CLIENT_FADING;
    c->fade_epoch = 0;
    c->leave_ns = bb_now_ns();
    bb_info("%s %s; fading out", c->name, why);
    hub_osc_notify_clients(h, c->slot, c->name, 0); // no longer listed in /clients
}

static void handle_leave(struct hub *h, const struct hub_event *ev, const struct bb_header *hd)
{
    unsigned slot = hd->session & 0xFF;
    struct hub_client *c = slot < BB_MAX_CLIENTS ? h->slots[slot] : NULL;
    if (!c || c->session != hd->session || !bb_addr_equal(&c->addr, &ev->from)) {
        atomic_fetch_add(&h->eng.stats.unknown_session, 1);
        return;
    }
    struct bb_header ack = {.type = BB_MSG_LEAVE_ACK, .session = c->session, .seq = hd->seq};
    uint8_t buf[BB_WIRE_HEADER_SIZE];
    int n = bb_wire_write_empty(buf, sizeof buf, &ack);
    if (n > 0)
        hub_net_send(&h->eng, &c->addr, buf, (size_t)n);
    start_removal(h, c, "left");
}

// An OSC packet from a musician's own controller, relayed by their join:
// accepted only from the session's own address while the musician is in
// (the same check as a LEAVE), then handled by osc.c as theirs.
static void handle_osc(struct hub *h, const struct hub_event *ev, const struct bb_header *hd)
{
    unsigned slot = hd->session & 0xFF;
    struct hub_client *c = slot < BB_MAX_CLIENTS ? h->slots[slot] : NULL;
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

static void drain_events(struct hub *h)
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

// [ctl] Moves departing musicians along: FADING -> REMOVED -> freed.
// Returns whether some removal is still in progress.
static int advance_removals(struct hub *h)
{
    int pending = 0, fade = 0, gone = 0, freeing = 0;
    uint64_t settled = atomic_load(&h->eng.rt_settled_epoch);
    int rt_running = atomic_load(&h->jack_running);
    // Batch the transitions, so each step costs one graph for everyone.
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        struct hub_client *c = h->slots[i];
        if (!c || c->state == HUB_CLIENT_ACTIVE)
            continue;
        pending = 1;
        if (c->state == HUB_CLIENT_FADING && c->fade_epoch == 0)
            fade = 1;
        else if (c->state == HUB_CLIENT_FADING && (settled >= c->fade_epoch || !rt_running))
            gone = 1, c->state = HUB_CLIENT_REMOVED, c->gone_epoch = 0;
        else if (c->state == HUB_CLIENT_REMOVED && c->gone_epoch == 0)
            gone = 1;
        else if (c->state == HUB_CLIENT_REMOVED && bb_snap_reached(&h->eng.graph, c->gone_epoch))
            freeing = 1;
    }
    if (fade || gone) {
        h->dirty = 1;
        uint64_t epoch = hub_publish(h); // 0: not now, retried next turn
        for (int i = 0; i < BB_MAX_CLIENTS; i++) {
            struct hub_client *c = h->slots[i];
            if (c && c->state == HUB_CLIENT_FADING && c->fade_epoch == 0)
                c->fade_epoch = epoch;
            else if (c && c->state == HUB_CLIENT_REMOVED && c->gone_epoch == 0)
                c->gone_epoch = epoch;
        }
    }
    if (freeing)
        hub_state_sync(h, 0); // their records are final: hand them to the store first
    for (int i = 0; freeing && i < BB_MAX_CLIENTS; i++) {
        struct hub_client *c = h->slots[i];
        if (!c || c->state != HUB_CLIENT_REMOVED || !c->gone_epoch ||
            !bb_snap_reached(&h->eng.graph, c->gone_epoch))
            continue;
        // Log after the ports are really gone: the time is the one to trust.
        char name[BB_NAME_MAX];
        snprintf(name, sizeof name, "%s", c->name);
        unsigned long long rx = atomic_load(&c->st.jb.stats.received),
                           lost = atomic_load(&c->st.jb.stats.lost),
                           late = atomic_load(&c->st.jb.stats.late),
                           under = atomic_load(&c->st.jb.stats.underruns);
        uint64_t leave_ns = c->leave_ns;
        h->slots[i] = NULL;
        client_free(h, c);
        bb_info("%s is gone: ports removed %.1f ms after the leave (received %llu, lost %llu, "
                "late %llu, underruns %llu)",
                name, (double)(bb_now_ns() - leave_ns) / 1e6, rx, lost, late, under);
    }
    bb_snap_collect(&h->eng.graph);
    return pending;
}

// [ctl] Every musician silent for longer than the timeout goes, all in one
// sweep. Returns when the next sweep is due: at the earliest moment a
// musician still heard could time out (plus 1 ms), at most SWEEP_NS away,
// so a silent musician is dropped right at its timeout, not up to a sweep
// period later.
static uint64_t sweep(struct hub *h, uint64_t now)
{
    uint64_t next = now + SWEEP_NS;
    uint64_t limit = (uint64_t)h->timeout_ms * 1000000ull;
    for (int i = 0; i < BB_MAX_CLIENTS; i++) {
        struct hub_client *c = h->slots[i];
        if (!c || c->state != HUB_CLIENT_ACTIVE)
            continue;
        uint64_t heard = atomic_load(&c->st.last_heard_ns); // the rx thread may be ahead of now
        if (heard < now && now - heard > limit) {
            send_leave(h, c, BB_LEAVE_TIMEOUT, "the hub heard nothing from you for too long");
            start_removal(h, c, "went silent");
        } else if (heard + limit + 1000000u < next) {
            next = heard + limit + 1000000u;
        }
    }
    return next > now ? next : now + 1000000u;
}

static void ping_all(struct hub *h, uint64_t now)
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

static int jack_xrun_cb(void *arg)
{
    struct hub *h = arg;
    atomic_fetch_add(&h->eng.stats.xruns, 1);
    return 0;
}

static void jack_shutdown_cb(void *arg)
{
    struct hub *h = arg;
    atomic_store(&h->jack_running, 0);
    uint64_t one = 1;
    if (write(h->eng.event_fd, &one, sizeof one) < 0) {
        // nothing more we can do from this thread
    }
}

// [ctl] Opens the JACK client and registers the hub's own ports. quiet: a
// retry while JACK is away (no error line per attempt).
static int open_jack(struct hub *h, int quiet)
{
    jack_status_t st;
    h->jack = jack_client_open(h->jack_name, JackNoStartServer | JackUseExactName, &st);
    if (!h->jack) {
        if (st & JackNameNotUnique)
            bb_err("a JACK client named '%s' exists already; choose another with --jack-name",
                   h->jack_name);
        else if (!quiet)
            bb_err("cannot connect to the JACK server (is jackd running? status 0x%x)", st);
        return -1;
    }
    unsigned rate = jack_get_sample_rate(h->jack);
    h->period = jack_get_buffer_size(h->jack);
    if (h->rate && rate != h->rate) {
        bb_err("JACK came back at %u Hz instead of %u Hz; the musicians' streams cannot follow",
               rate, h->rate);
        jack_client_close(h->jack);
        h->jack = NULL;
        return -1;
    }
    h->rate = rate;
    if (!h->jack_prio)
        h->jack_prio = jack_client_real_time_priority(h->jack); // network threads go below
    if (h->period > BB_STREAM_MAX_PERIOD) {
        bb_err("JACK period %u is larger than the %u frames bandbridge supports", h->period,
               BB_STREAM_MAX_PERIOD);
        jack_client_close(h->jack);
        h->jack = NULL;
        return -1;
    }
    char pn[32];
    for (unsigned i = 0; i < h->local_inputs; i++) {
        snprintf(pn, sizeof pn, "in_%u", i + 1);
        h->eng.local_in[i] = register_port(h, pn, JackPortIsInput);
    }
    h->eng.main_out[0] = register_port(h, "main_L", JackPortIsOutput);
    h->eng.main_out[1] = register_port(h, "main_R", JackPortIsOutput);
    // The engine reads JACK's frame counter and sizes its ramps by the rate.
    h->eng.jack = h->jack;
    h->eng.rate = h->rate;
    h->eng.jack_prio = h->jack_prio;
    if (!h->eng.mixer && hub_rt_init(&h->eng) < 0) {
        bb_err("out of memory");
        return -1;
    }
    bb_mixer_init(h->eng.mixer, h->rate / 200);
    jack_set_process_callback(h->jack, hub_rt_process, &h->eng);
    jack_set_xrun_callback(h->jack, jack_xrun_cb, h);
    jack_on_shutdown(h->jack, jack_shutdown_cb, h);
    return 0;
}

// [ctl] JACK went away: forget the client and every port (they died with
// the server). The network side and every session stay up.
static void jack_lost(struct hub *h)
{
    bb_snap_idle(&h->eng.graph, HUB_READER_RT);
    if (h->jack)
        jack_client_close(h->jack);
    h->jack = NULL;
    h->eng.jack = NULL;
    memset(h->eng.local_in, 0, sizeof h->eng.local_in);
    memset(h->eng.main_out, 0, sizeof h->eng.main_out);
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i]) {
            memset(h->slots[i]->ports, 0, sizeof h->slots[i]->ports);
            memset(h->slots[i]->mix_ports, 0, sizeof h->slots[i]->mix_ports);
        }
}

// [ctl] JACK is back: the same ports, connected as they were.
static int jack_back(struct hub *h)
{
    if (open_jack(h, 1) < 0)
        return -1;
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i] && h->slots[i]->state != HUB_CLIENT_REMOVED)
            register_client_ports(h, h->slots[i]);
    h->dirty = 1;
    hub_publish(h);
    atomic_store(&h->jack_running, 1);
    if (jack_activate(h->jack) != 0) {
        bb_err("cannot activate the JACK client; will retry");
        jack_lost(h);
        atomic_store(&h->jack_running, 0);
        return -1;
    }
    hub_state_restore_conns(h, NULL);
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i] && h->slots[i]->state == HUB_CLIENT_ACTIVE)
            hub_state_restore_conns(h, h->slots[i]);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bandbridge serve [options]\n"
            "Run the rehearsal hub: a JACK client that musicians join over UDP.\n\n"
            "  -p, --port N          UDP port for musicians (default %d)\n"
            "  -b, --bind ADDR       listen on this address only (default: all)\n"
            "  -n, --jack-name NAME  JACK client name (default bandbridge)\n"
            "  -i, --inputs N        local JACK inputs mixed as extra channels (default 2, max %d)\n"
            "  -m, --max-clients N   musicians at most (default %d)\n"
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
            "  -d, --db PATH         state database (default: the state directory,\n"
            "                        hub-NAME.db); 'none' keeps nothing\n"
            "  -v, --verbose         more log lines;  -q, --quiet  warnings and errors only\n"
            "  -h, --help            this text\n",
            BB_DEFAULT_PORT, BB_MAX_LOCAL_CH, BB_MAX_CLIENTS, HUB_OSC_MAX_ALLOW);
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
        {"opus-complexity", required_argument, 0, 'C'}, {"mix-ports", no_argument, 0, 'M'},
        {"drift-comp", no_argument, 0, 'F'}, {"no-drift-comp", no_argument, 0, 'X'},
        {"verbose", no_argument, 0, 'v'},         {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    unsigned v;
    int osc_set = 0;
    optind = 1;
    for (int o; (o = getopt_long(argc, argv, "p:b:n:i:m:t:j:o:d:vqh", opts, NULL)) != -1;) {
        switch (o) {
        case 'p':
            if (bb_parse_uint(optarg, 1, 65535, &v) < 0)
                goto bad;
            h->port = (uint16_t)v;
            break;
        case 'b':
            snprintf(h->bind, sizeof h->bind, "%s", optarg);
            break;
        case 'n':
            if (!*optarg || strlen(optarg) >= sizeof h->jack_name)
                goto bad;
            snprintf(h->jack_name, sizeof h->jack_name, "%s", optarg);
            break;
        case 'i':
            if (bb_parse_uint(optarg, 0, BB_MAX_LOCAL_CH, &h->local_inputs) < 0)
                goto bad;
            break;
        case 'C':
            if (bb_parse_uint(optarg, 0, 10, &h->mix_complexity) < 0)
                goto bad;
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
            if (bb_parse_uint(optarg, 1, BB_MAX_CLIENTS, &h->max_clients) < 0)
                goto bad;
            break;
        case 't': {
            char *end;
            double s = strtod(optarg, &end);
            if (*end || !(s >= 0.05 && s <= 3600))
                goto bad;
            h->timeout_ms = (unsigned)(s * 1000 + 0.5);
            break;
        }
        case 'j':
            h->jitter_set = 1;
            if (strcmp(optarg, "auto") == 0)
                h->jitter = BB_JBUF_AUTO;
            else if (bb_parse_uint(optarg, 0, 4800, &h->jitter) < 0)
                goto bad;
            break;
        case 'o':
            if (bb_parse_uint(optarg, 0, 65535, &v) < 0)
                goto bad;
            h->osc_port = (uint16_t)v;
            osc_set = 1;
            break;
        case 'd':
            if (!*optarg || strlen(optarg) >= sizeof h->db_path)
                goto bad;
            snprintf(h->db_path, sizeof h->db_path, "%s", optarg);
            break;
        case 'B': {
            uint32_t net, mask;
            if (strlen(optarg) >= sizeof h->osc_bind || hub_osc_parse_cidr(optarg, &net, &mask) < 0 ||
                strchr(optarg, '/'))
                goto bad;
            snprintf(h->osc_bind, sizeof h->osc_bind, "%s", optarg);
            break;
        }
        case 'A':
            if (h->osc_nallow == HUB_OSC_MAX_ALLOW) {
                fprintf(stderr, "bandbridge serve: --osc-allow given more than %d times\n",
                        HUB_OSC_MAX_ALLOW);
                return -1;
            }
            if (hub_osc_parse_allow(optarg, &h->osc_allow_net[h->osc_nallow],
                                   &h->osc_allow_mask[h->osc_nallow]) < 0)
                goto bad;
            h->osc_nallow++;
            break;
        case 'P':
            if (!*optarg || strlen(optarg) >= sizeof h->osc_password)
                goto bad;
            snprintf(h->osc_password, sizeof h->osc_password, "%s", optarg);
            break;
        case 'D':
            hub_osc_doc(stdout);
            exit(0);
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
                fprintf(stderr, "bandbridge serve: bad value '%s' for --%s\n", optarg, op->name);
        return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "bandbridge serve: unexpected argument '%s'\n", argv[optind]);
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

static void shutdown_hub(struct hub *h)
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
    // Tell every musician we are going; they keep retrying and come back
    // when the hub does. Sent twice: it costs nothing and UDP loses.
    for (int rep = 0; rep < 2; rep++)
        for (int i = 0; i < BB_MAX_CLIENTS; i++)
            if (h->slots[i])
                send_leave(h, h->slots[i], BB_LEAVE_SHUTDOWN, "the hub is shutting down");
    hub_state_snapshot_conns(h);
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i])
            h->slots[i]->rec_dirty = 1; // last seen now
    hub_state_sync(h, 1);
    bb_store_close(h->store);
    h->store = NULL;
    if (h->jack) {
        jack_deactivate(h->jack);
        bb_snap_idle(&h->eng.graph, HUB_READER_RT);
    }
    hub_net_stop(&h->eng);
    hub_osc_stop(h);
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i]) {
            client_free(h, h->slots[i]);
            h->slots[i] = NULL;
        }
    if (h->jack)
        jack_client_close(h->jack);
    bb_snap_cleanup(&h->eng.graph);
    hub_rt_cleanup(&h->eng);
    if (h->eng.sock >= 0)
        close(h->eng.sock);
    if (h->eng.event_fd >= 0)
        close(h->eng.event_fd);
    bb_ring_cleanup(&h->eng.events);
    free(h->main_rec);
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
    h->drift_comp = 1;
    h->timeout_ms = 1000;
    h->jitter = 0;
    h->eng.sock = -1;
    h->eng.event_fd = -1;
    if (parse_options(h, argc, argv) < 0)
        return 2;
    for (int s = 0; s < BB_MAX_SOURCES; s++)
        h->main_sends[s] = default_send;

    // Signals become events of the control loop (no work in a handler).
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); // threads started below inherit the mask
    int sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

    bb_snap_init(&h->eng.graph, HUB_READERS, graph_free);
    char err[200];
    int status = 1;
    // Under a session manager (NSM, RaySession) the manager names the JACK
    // client and says where the files live: the database goes there.
    struct bb_nsm *nsm = NULL;
    const char *nsm_url = getenv("NSM_URL");
    if (nsm_url && *nsm_url) {
        nsm = bb_nsm_new(nsm_url, "bandbridge", "bandbridge", err, sizeof err);
        struct bb_nsm_open op;
        if (!nsm || bb_nsm_wait_open(nsm, 10000, &op) < 0) {
            bb_err("%s", nsm ? "the session manager did not open a session within 10 s" : err);
            bb_nsm_free(nsm);
            goto out;
        }
        snprintf(h->jack_name, sizeof h->jack_name, "%.63s", op.client_id);
        if (snprintf(h->db_path, sizeof h->db_path, "%s/hub.db", op.path) >= (int)sizeof h->db_path) {
            bb_nsm_reply(nsm, BB_NSM_OPEN, 0, "session path too long");
            goto out;
        }
        bb_info("session manager: session '%s', client %s, files in %s", op.display_name,
                op.client_id, op.path);
    }
    if (open_jack(h, 0) < 0) {
        if (nsm)
            bb_nsm_reply(nsm, BB_NSM_OPEN, 0, "cannot open the JACK client");
        goto out;
    }
    if (strcmp(h->db_path, "none") != 0) {
        if (h->db_path[0] && bb_mkdirs_for(h->db_path) < 0)
            bb_warn("cannot create the directory of %s: %s", h->db_path, strerror(errno));
        h->store = bb_store_open(h->db_path[0] ? h->db_path : NULL, h->jack_name, 500);
        if (h->store)
            bb_info("state database: %s%s", bb_store_path(h->store),
                    bb_store_persistent(h->store) ? "" : " (not writable: memory only for now)");
    }
    hub_state_start(h);
    h->dirty = 1;
    hub_publish(h); // an empty graph: local inputs and the main mix
    if (hub_net_start(&h->eng, h->bind[0] ? h->bind : NULL, h->port, err, sizeof err) < 0) {
        bb_err("%s", err);
        goto out;
    }
    if (hub_osc_start(h, err, sizeof err) < 0) {
        bb_err("%s", err);
        goto out;
    }
    atomic_store(&h->jack_running, 1);
    if (jack_activate(h->jack) != 0) {
        bb_err("cannot activate the JACK client");
        goto out;
    }
    hub_state_restore_conns(h, NULL);
    if (nsm)
        bb_nsm_reply(nsm, BB_NSM_OPEN, 1, "hub running");
    bb_info("hub '%s' listening on UDP port %u (%u Hz, period %u, %u local input%s)%s%s",
            h->jack_name, bb_udp_port(h->eng.sock), h->rate, h->period, h->local_inputs,
            h->local_inputs == 1 ? "" : "s", h->osc_port ? ", OSC on port " : "",
            h->osc_port ? (snprintf(err, sizeof err, "%u", h->osc_port), err) : "");

    uint64_t next_sweep = bb_now_ns() + SWEEP_NS, next_ping = bb_now_ns() + PING_NS;
    uint64_t next_jack_try = 0;
    int pending = 0, was_running = 1;
    for (;;) {
        uint64_t now = bb_now_ns();
        struct pollfd pfd[4] = {{.fd = h->eng.event_fd, .events = POLLIN},
                                {.fd = sig_fd, .events = POLLIN},
                                {.fd = hub_osc_fd(h, now), .events = POLLIN},
                                {.fd = nsm ? bb_nsm_fd(nsm) : -1, .events = POLLIN}};
        int timeout = now >= next_sweep ? 0 : (int)((next_sweep - now) / 1000000) + 1;
        if (pending && timeout > 2)
            timeout = 2; // a removal in progress is checked every 2 ms
        int due = h->store ? bb_store_due_ms(h->store, now / 1000000) : -1;
        if (due >= 0 && due + 1 < timeout)
            timeout = due + 1;
        due = hub_osc_due_ms(h, now); // meters, 25 times a second
        if (due >= 0 && due < timeout)
            timeout = due;
        poll(pfd, 4, timeout); // negative fds are ignored
        if (pfd[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sig_fd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGPIPE) {
                bb_info("signal %u: shutting down", si.ssi_signo);
                status = 0;
                break;
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
        if (pfd[0].revents & POLLIN)
            drain_events(h);
        if ((pfd[3].revents & POLLIN) && bb_nsm_poll(nsm, NULL) == BB_NSM_SAVE) {
            // Everything to disk now, whatever the debounce says.
            hub_state_snapshot_conns(h);
            hub_state_sync(h, 1);
            int saved = h->store && bb_store_persistent(h->store);
            bb_nsm_reply(nsm, BB_NSM_SAVE, saved, saved ? "saved" : "the database is not writable");
        }
        now = bb_now_ns();
        hub_osc_tick(h, now);
        if (was_running && !atomic_load(&h->jack_running)) {
            bb_err("the JACK server went away; musicians keep their sessions, waiting for JACK");
            jack_lost(h);
            was_running = 0;
            next_jack_try = now + 500 * 1000000ull;
        }
        if (!was_running && now >= next_jack_try) {
            if (jack_back(h) == 0) {
                bb_info("JACK is back (%u Hz, period %u): ports and connections restored",
                        h->rate, h->period);
                was_running = 1;
            } else {
                next_jack_try = now + 500 * 1000000ull;
            }
        }
        if (now >= next_sweep)
            next_sweep = sweep(h, now);
        if (now >= next_ping) {
            log_stats(h);
            ping_all(h, now);
            hub_state_snapshot_conns(h);
            next_ping = now + PING_NS;
        }
        hub_publish(h);
        pending = advance_removals(h);
        hub_state_sync(h, 0);
    }
out:
    shutdown_hub(h);
    bb_nsm_free(nsm);
    if (sig_fd >= 0)
        close(sig_fd);
    return status;
}
