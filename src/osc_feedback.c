// SPDX-License-Identifier: GPL-2.0-or-later
// osc_feedback.c: leases, changes fed back, notices and meters
// (osc_feedback.h), run by the control thread.
//
// Changes are queued, not sent at once: a later change of the same
// address replaces the waiting one, and everything waiting goes out
// together ~30 times a second, in bundles that fit an Ethernet frame. A
// fader swept by a tablet, or a script's 1000 changes a second, is then a
// few bundles per controller and tick, not a datagram per change and
// controller (OSC-NOTES: coalescing). Notices (/clients, /joined, /left,
// /renamed) go out at once, to relayed controllers too.
//
// Meters go out 25 times a second, built once per style and tick: to the
// controllers on the OSC port in bundles that each fit an Ethernet frame
// (a tablet on Wi-Fi loses a fragmented datagram whole, and iOS drops UDP
// datagrams over 9216 bytes: a full hub's meters are 46 kB), and to
// relayed ones in bundles that each fit one datagram of the session
// (shared by every relayed lease), then one of their own (/meter/mix/me,
// /meter/ch/me).
#include <lo/lo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "log.h"
#include "meter.h"
#include "osc_feedback.h"

#define OSC_METER_CHUNKS 48                  ///< meter bundles of one relayed tick, at most
#define OSC_METER_BUNDLES 64                 ///< meter bundles of one tick on the OSC port, at most
#define OSC_METER_NS   (40ull * 1000000ull)  ///< 25 meter bundles a second
#define OSC_FB_PENDING 256                   ///< distinct addresses waiting, at most
#define OSC_FB_NS      (33ull * 1000000ull)  ///< feedback goes out ~30 times a second
#define OSC_FB_BUNDLE  1200                  ///< bytes: a bundle fits one Ethernet frame
#define OSC_FB_PATH    160                   ///< longest address queued (longer: sent at once)

/// A registered controller [ctl].
struct osc_lease {
    int             used;
    char            host[OSC_HOST_MAX]; ///< its IP address, as liblo prints it (relayed: the musician)
    uint16_t        port;               ///< where it listens (relayed: the controller number)
    struct osc_peer to;                 ///< host:port, or the relayed controller
    uint64_t        fb_until;           ///< feedback lease end (0: none)
    uint64_t        meter_until;        ///< meter lease end (0: none)
    int             slots;              ///< style: 1 = musicians by slot number, 0 = by name
};

/// Meter bundles of one relayed tick, each fitting one datagram [ctl].
struct osc_chunks {
    int      built; ///< for this tick
    unsigned n;
    size_t   len[OSC_METER_CHUNKS];
    uint8_t  data[OSC_METER_CHUNKS][BB_OSC_PACKET_MAX];
};

/// Meter bundles of one tick for the controllers on the OSC port, each of
/// at most OSC_FB_BUNDLE bytes [ctl].
struct meter_bundles {
    unsigned  n;
    lo_bundle b[OSC_METER_BUNDLES];
};

/// A change waiting to be fed back to the room's controllers [ctl].
struct osc_fb {
    char       path[OSC_FB_PATH];      ///< by name
    char       slot_path[OSC_FB_PATH]; ///< by slot number ("" = the same)
    lo_message m;
};

/// Every field [ctl].
struct osc_feedback {
    struct osc_fb        fb[OSC_FB_PENDING]; ///< changes not yet fed back, one per address
    unsigned             nfb;
    uint64_t             fb_due_ns;          ///< when they go out (0: none waiting)
    /// UDP leases first (OSC_MAX_LEASES), then relayed ones.
    struct osc_lease     leases[OSC_MAX_LEASES + OSC_RELAY_LEASES];
    uint64_t             next_meter_ns;
    struct bb_meter_slot meter;     ///< last levels taken from the callback
    struct osc_chunks    chunks[2]; ///< relayed meters of this tick, by name and by slot
    struct meter_bundles bundles[2]; ///< meters of this tick for the OSC port, by name and by slot
};

static void lease_drop(struct osc_lease *l)
{
    if (l->to.addr)
        lo_address_free(l->to.addr);
    memset(l, 0, sizeof *l);
    l->to.slot = -1;
}

struct osc_feedback *osc_feedback_new(uint64_t now)
{
    struct osc_feedback *fb = calloc(1, sizeof *fb);
    if (!fb)
        return NULL;
    for (size_t i = 0; i < BB_ARRAY_LEN(fb->leases); i++)
        fb->leases[i].to.slot = -1;
    fb->next_meter_ns = now + OSC_METER_NS;
    return fb;
}

void osc_feedback_free(struct osc_feedback *fb)
{
    if (!fb)
        return;
    for (unsigned k = 0; k < fb->nfb; k++)
        lo_message_free(fb->fb[k].m);
    for (size_t i = 0; i < BB_ARRAY_LEN(fb->leases); i++)
        lease_drop(&fb->leases[i]);
    free(fb);
}

uint64_t osc_feedback_due_ns(const struct osc_feedback *fb)
{
    uint64_t t = fb->next_meter_ns;
    if (fb->fb_due_ns && fb->fb_due_ns < t)
        t = fb->fb_due_ns;
    return t;
}

// "192.168.1.20:9000", or "alice's controller 3" (for log lines).
static const char *lease_name(const struct osc_lease *l, char *buf, size_t size)
{
    if (l->to.slot >= 0)
        snprintf(buf, size, "%s's controller %u", l->host, l->to.controller);
    else
        snprintf(buf, size, "%s:%u", l->host, l->port);
    return buf;
}

// ---- changes and notices -------------------------------------------------

// Sends every waiting change to every room controller with a live feedback
// lease, in bundles of at most OSC_FB_BUNDLE bytes (each message in the
// lease's style), and forgets them.
static void feedback_flush(struct hub *h)
{
    struct osc_feedback *o = h->osc->fb;
    uint64_t now = bb_now_ns();
    for (int i = 0; i < OSC_MAX_LEASES && o->nfb; i++) {
        struct osc_lease *l = &o->leases[i];
        if (!l->used || l->fb_until <= now || !l->to.addr)
            continue;
        lo_bundle b = NULL;
        for (unsigned k = 0; k < o->nfb; k++) {
            const struct osc_fb *f = &o->fb[k];
            const char *path = l->slots && f->slot_path[0] ? f->slot_path : f->path;
            if (!b && !(b = lo_bundle_new(LO_TT_IMMEDIATE)))
                break;
            lo_bundle_add_message(b, path, lo_message_clone(f->m));
            if (lo_bundle_length(b) > OSC_FB_BUNDLE || k + 1 == o->nfb) {
                if (lo_send_bundle_from(l->to.addr, h->osc->srv, b) < 0)
                    bb_debug("OSC: cannot send feedback to %s:%u: %s", l->host, l->port,
                             lo_address_errstr(l->to.addr));
                lo_bundle_free_recursive(b);
                b = NULL;
            }
        }
        if (b)
            lo_bundle_free_recursive(b);
    }
    for (unsigned k = 0; k < o->nfb; k++)
        lo_message_free(o->fb[k].m);
    o->nfb = 0;
    o->fb_due_ns = 0;
}

// Sends m (not freed) at once to every controller with a live feedback
// lease: those on the OSC port, and relayed ones too when all is set.
static void feedback_now(struct hub *h, int all, const char *path, const char *slot_path,
                         lo_message m)
{
    uint64_t now = bb_now_ns();
    int n = all ? OSC_MAX_LEASES + OSC_RELAY_LEASES : OSC_MAX_LEASES;
    for (int i = 0; i < n; i++) {
        struct osc_lease *l = &h->osc->fb->leases[i];
        if (l->used && l->fb_until > now)
            osc_send(h, &l->to, l->slots && slot_path ? slot_path : path, m);
    }
}

void osc_feedback_change(struct hub *h, const char *path, const char *slot_path, lo_message m)
{
    struct osc_feedback *o = h->osc->fb;
    if (strlen(path) >= OSC_FB_PATH || (slot_path && strlen(slot_path) >= OSC_FB_PATH)) {
        feedback_now(h, 0, path, slot_path, m); // too long to queue: at once
        lo_message_free(m);
        return;
    }
    for (unsigned k = 0; k < o->nfb; k++)
        if (strcmp(o->fb[k].path, path) == 0) {
            lo_message_free(o->fb[k].m);
            o->fb[k].m = m;
            return;
        }
    if (o->nfb == OSC_FB_PENDING)
        feedback_flush(h);
    struct osc_fb *f = &o->fb[o->nfb++];
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->slot_path, sizeof f->slot_path, "%s", slot_path ? slot_path : "");
    f->m = m;
    if (!o->fb_due_ns)
        o->fb_due_ns = bb_now_ns() + OSC_FB_NS;
}

void osc_feedback_own_mix(struct hub *h, const struct hub_client *mc, const char *name_src,
                          const char *slot_src, const char *me, const char *param, lo_message m)
{
    uint64_t now = bb_now_ns();
    char path[OSC_FB_PATH];
    for (int i = OSC_MAX_LEASES; i < OSC_MAX_LEASES + OSC_RELAY_LEASES; i++) {
        struct osc_lease *l = &h->osc->fb->leases[i];
        if (!l->used || l->fb_until <= now || l->to.slot != mc->slot ||
            l->to.session != mc->session)
            continue;
        snprintf(path, sizeof path, "/mix/me/ch/%s/%s", l->slots ? slot_src : name_src, param);
        osc_send(h, &l->to, path, m);
        if (me[0]) {
            snprintf(path, sizeof path, "/mix/me/ch/%s/%s", me, param);
            osc_send(h, &l->to, path, m);
        }
    }
}

lo_message osc_clients_msg(struct hub *h)
{
    lo_message m = lo_message_new();
    for (int i = 0; i < BB_MAX_CLIENTS; i++)
        if (h->slots[i] && h->slots[i]->state == HUB_CLIENT_ACTIVE)
            lo_message_add_string(m, h->slots[i]->name);
    return m;
}

void osc_send_slot_name(struct hub *h, const struct osc_peer *to, int slot)
{
    char path[32];
    const struct hub_client *c = h->slots[slot];
    lo_message m = lo_message_new();
    lo_message_add_string(m, c && c->state == HUB_CLIENT_ACTIVE ? c->name : "");
    snprintf(path, sizeof path, "/slot/%d/name", slot + 1);
    osc_send(h, to, path, m);
    lo_message_free(m);
}

// The musician list changed at slot: /clients to every controller, and the
// slot's name to those that follow slots.
static void announce_slot(struct hub *h, int slot)
{
    lo_message m = osc_clients_msg(h);
    feedback_now(h, 1, "/clients", NULL, m);
    lo_message_free(m);
    uint64_t now = bb_now_ns();
    for (size_t i = 0; i < BB_ARRAY_LEN(h->osc->fb->leases); i++) {
        struct osc_lease *l = &h->osc->fb->leases[i];
        if (l->used && l->fb_until > now && l->slots)
            osc_send_slot_name(h, &l->to, slot);
    }
}

void hub_osc_notify_renamed(struct hub *h, int slot, const char *old, const char *name)
{
    if (!h->osc)
        return;
    struct osc_feedback *o = h->osc->fb;
    // Changes made under the old name go out first, under it.
    if (o->nfb)
        feedback_flush(h);
    for (size_t i = OSC_MAX_LEASES; i < BB_ARRAY_LEN(o->leases); i++) {
        struct osc_lease *l = &o->leases[i];
        if (l->used && l->to.slot == slot) // their own controllers, as logged
            snprintf(l->host, sizeof l->host, "%s", name);
    }
    lo_message m = lo_message_new();
    lo_message_add_string(m, old);
    lo_message_add_string(m, name);
    feedback_now(h, 1, "/renamed", NULL, m);
    lo_message_free(m);
    announce_slot(h, slot);
}

void hub_osc_notify_clients(struct hub *h, int slot, const char *name, int joined)
{
    if (!h->osc)
        return;
    struct osc_feedback *o = h->osc->fb;
    char ln[OSC_HOST_MAX + 32];
    for (size_t i = OSC_MAX_LEASES; !joined && i < BB_ARRAY_LEN(o->leases); i++) {
        struct osc_lease *l = &o->leases[i];
        if (l->used && l->to.slot == slot) { // the one leaving: their own controllers
            bb_info("OSC controller %s: leases end (the musician left)",
                    lease_name(l, ln, sizeof ln));
            lease_drop(l);
        }
    }
    announce_slot(h, slot);
    lo_message m = lo_message_new();
    lo_message_add_string(m, name);
    feedback_now(h, 1, joined ? "/joined" : "/left", NULL, m);
    lo_message_free(m);
}

// ---- leases --------------------------------------------------------------

// The lease of the sender with this reply port (UDP), or of the relayed
// controller that sent it (port ignored), or NULL.
static struct osc_lease *find_lease(struct osc_feedback *o, const struct osc_src *src,
                                    uint16_t port)
{
    if (src->relay) {
        for (int i = OSC_MAX_LEASES; i < OSC_MAX_LEASES + OSC_RELAY_LEASES; i++) {
            struct osc_lease *l = &o->leases[i];
            if (l->used && l->to.slot == src->peer.slot && l->to.session == src->peer.session &&
                l->to.controller == src->peer.controller)
                return l;
        }
        return NULL;
    }
    for (int i = 0; i < OSC_MAX_LEASES; i++)
        if (o->leases[i].used && o->leases[i].port == port &&
            strcmp(o->leases[i].host, src->host) == 0)
            return &o->leases[i];
    return NULL;
}

// A free lease for src, or NULL with the reason in *why.
static struct osc_lease *new_lease(struct osc_feedback *o, const struct osc_src *src,
                                   const char **why)
{
    int first = src->relay ? OSC_MAX_LEASES : 0;
    int end = src->relay ? OSC_MAX_LEASES + OSC_RELAY_LEASES : OSC_MAX_LEASES;
    int mine = 0;
    struct osc_lease *free_l = NULL;
    for (int i = first; i < end; i++) {
        struct osc_lease *l = &o->leases[i];
        if (!l->used && !free_l)
            free_l = l;
        else if (l->used && src->relay && l->to.slot == src->peer.slot)
            mine++;
    }
    if (src->relay && mine >= OSC_RELAY_PER_MUSICIAN) {
        *why = "too many controllers of this musician (8); let one expire or /unsubscribe";
        return NULL;
    }
    if (!free_l)
        *why = src->relay ? "too many relayed controllers on the hub; let one expire or /unsubscribe"
                          : "too many controllers (16); let one expire or /unsubscribe";
    return free_l;
}

// Takes a new lease for src (replies to port); NULL with the /error sent.
static struct osc_lease *lease_take(struct hub *h, const struct osc_src *src, const char *path,
                                    uint16_t port)
{
    const char *why = NULL;
    struct osc_lease *l = new_lease(h->osc->fb, src, &why);
    if (!l) {
        osc_reply_error(h, src, path, why);
        return NULL;
    }
    if (src->relay) {
        // Keyed by the session and the controller: the relay's peer.
        l->to = src->peer;
        snprintf(l->host, sizeof l->host, "%s", src->relay->name);
        l->port = src->peer.controller;
    } else {
        char ps[8];
        snprintf(ps, sizeof ps, "%u", port);
        lo_address to = lo_address_new(src->host, ps);
        if (!to) {
            osc_reply_error(h, src, path, "cannot reply to this address");
            return NULL;
        }
        l->to = (struct osc_peer){.addr = to, .slot = -1};
        snprintf(l->host, sizeof l->host, "%s", src->host);
        l->port = port;
    }
    l->used = 1;
    return l;
}

void osc_subscribe(struct hub *h, const struct osc_src *src, const char *path, int secs,
                   uint16_t port, int slots, int meters)
{
    // Return routability: nothing but a 16-byte cookie goes to a port that
    // has not shown it receives, so a forged source address cannot point
    // a stream of feedback or meters at someone else.
    if (!src->relay && !osc_verified(h, src->host, port)) {
        osc_send_cookie(h, src, port);
        return;
    }
    struct osc_lease *l = find_lease(h->osc->fb, src, port);
    if (!l && !(l = lease_take(h, src, path, port)))
        return;
    int restyled = slots >= 0 && slots != l->slots;
    if (slots >= 0)
        l->slots = slots;
    uint64_t now = bb_now_ns(), until = now + (uint64_t)secs * 1000000000ull;
    uint64_t *lease = meters ? &l->meter_until : &l->fb_until;
    char ln[OSC_HOST_MAX + 32];
    if (*lease <= now)
        bb_info("OSC controller %s subscribed to %s (lease %d s)", lease_name(l, ln, sizeof ln),
                meters ? "meters" : "feedback", secs);
    int was_live = *lease > now;
    *lease = until;
    lo_message m = lo_message_new();
    lo_message_add_int32(m, secs);
    osc_send(h, &l->to, path, m);
    lo_message_free(m);
    if (!meters && (!was_live || restyled)) {
        m = osc_clients_msg(h); // a newcomer learns who is there
        osc_send(h, &l->to, "/clients", m);
        lo_message_free(m);
        if (l->slots) // and a fixed layout which slot is whose
            for (int i = 0; i < (int)h->max_clients && i < BB_MAX_CLIENTS; i++)
                osc_send_slot_name(h, &l->to, i);
    }
}

void osc_unsubscribe(struct hub *h, const struct osc_src *src, const char *path, uint16_t port,
                     int meters)
{
    struct osc_lease *l = find_lease(h->osc->fb, src, port);
    if (!l) {
        osc_reply_error(h, src, path, "not subscribed");
        return;
    }
    lo_message m = lo_message_new();
    lo_message_add_int32(m, 0);
    osc_send(h, &l->to, path, m);
    lo_message_free(m);
    char ln[OSC_HOST_MAX + 32];
    bb_info("OSC controller %s unsubscribed from %s", lease_name(l, ln, sizeof ln),
            meters ? "meters" : "everything");
    l->meter_until = 0;
    if (!meters)
        l->fb_until = 0;
    if (!l->fb_until && !l->meter_until)
        lease_drop(l);
}
// ---- meters ----------------------------------------------------------------

// The loudest of a musician's channels, from the last meter snapshot.
void osc_client_level(const struct hub *h, const struct hub_client *c, float *peak, float *sq)
{
    *peak = 0.0f;
    *sq = 0.0f;
    for (unsigned ch = 0; ch < c->channels; ch++) {
        int id = BB_SRC_CLIENT(c->slot, ch);
        *peak = fmaxf(*peak, h->osc->fb->meter.src_peak[id]);
        *sq = fmaxf(*sq, h->osc->fb->meter.src_sq[id]);
    }
}

/// Collects meter messages: into bundles that each fit one relayed
/// datagram, serialised into out; or that each fit an Ethernet frame, into
/// list (the OSC port); or, with neither, into one bundle, b.
struct meter_pack {
    lo_bundle             b;
    size_t                size; ///< serialised size of b
    struct osc_chunks    *out;
    struct meter_bundles *list;
};

static size_t pack_limit(const struct meter_pack *p)
{
    return p->out ? BB_OSC_PACKET_MAX : p->list ? OSC_FB_BUNDLE : SIZE_MAX;
}

static void pack_flush(struct meter_pack *p)
{
    if (!p->b || (!p->out && !p->list))
        return;
    if (p->list) {
        if (p->list->n < OSC_METER_BUNDLES && lo_bundle_count(p->b) > 0) {
            p->list->b[p->list->n++] = p->b;
            p->b = NULL;
            return;
        }
    } else if (p->out->n < OSC_METER_CHUNKS && lo_bundle_count(p->b) > 0) {
        size_t len = 0;
        lo_bundle_serialise(p->b, p->out->data[p->out->n], &len); // p->size <= its size
        p->out->len[p->out->n++] = len;
    }
    lo_bundle_free_recursive(p->b);
    p->b = NULL;
}

// Adds m (which the pack then owns) on path.
static void pack_add(struct meter_pack *p, const char *path, lo_message m)
{
    size_t add = 4 + lo_message_length(m, path);
    if (p->b && p->size + add > pack_limit(p))
        pack_flush(p);
    if (!p->b) {
        p->b = lo_bundle_new(LO_TT_IMMEDIATE);
        p->size = 16; // "#bundle" and the time tag
    }
    if (!p->b || p->size + add > pack_limit(p)) {
        lo_message_free(m);
        return;
    }
    lo_bundle_add_message(p->b, path, m);
    p->size += add;
}

static void add_level(struct meter_pack *p, const char *path, float peak, float sq,
                      unsigned frames)
{
    lo_message m = lo_message_new();
    lo_message_add_float(m, bb_meter_peak_db(peak));
    lo_message_add_float(m, bb_meter_rms_db(sq, frames));
    pack_add(p, path, m);
}

static lo_message mix_level(const struct bb_meter_slot *ms, unsigned id)
{
    lo_message m = lo_message_new();
    lo_message_add_float(m, bb_meter_peak_db(ms->mix_peak[id][0]));
    lo_message_add_float(m, bb_meter_peak_db(ms->mix_peak[id][1]));
    lo_message_add_float(m, bb_meter_rms_db(ms->mix_sq[id][0], ms->frames));
    lo_message_add_float(m, bb_meter_rms_db(ms->mix_sq[id][1], ms->frames));
    return m;
}

// Every source the graph has now, by name (slots = 0) or by slot number:
// then a musician is one meter, the loudest of its channels.
static void meter_sources(struct hub *h, const struct hub_graph *g, int slots,
                          struct meter_pack *p)
{
    const struct bb_meter_slot *ms = &h->osc->fb->meter;
    char name[BB_NAME_MAX + 8], path[BB_NAME_MAX + 24];
    for (unsigned s = 0; s < g->mix->nsrc; s++) {
        unsigned id = g->mix->src_id[s];
        if (!hub_state_source_name(h, (int)id, name, sizeof name)[0])
            continue;
        if (slots && id < (unsigned)BB_SRC_LOCAL(0)) {
            const struct hub_client *c = h->slots[id / BB_MAX_CLIENT_CH];
            if (id % BB_MAX_CLIENT_CH != 0 || !c)
                continue;
            float peak, sq;
            osc_client_level(h, c, &peak, &sq);
            snprintf(path, sizeof path, "/meter/ch/%d", c->slot + 1);
            add_level(p, path, peak, sq, ms->frames);
            continue;
        }
        snprintf(path, sizeof path, "/meter/ch/%s", name);
        add_level(p, path, ms->src_peak[id], ms->src_sq[id], ms->frames);
    }
}

// Every source and mix, for the controllers on the OSC port, in bundles
// that each fit an Ethernet frame.
static void meter_bundles(struct hub *h, const struct hub_graph *g, int slots,
                          struct meter_bundles *list)
{
    const struct bb_meter_slot *ms = &h->osc->fb->meter;
    struct meter_pack p = {NULL, 0, NULL, list};
    meter_sources(h, g, slots, &p);
    char path[BB_NAME_MAX + 24];
    for (unsigned k = 0; k < g->mix->nmix; k++) {
        unsigned id = g->mix->mix_id[k];
        const struct hub_client *c = g->mix_client[k];
        if (!c)
            snprintf(path, sizeof path, "/meter/mix/main");
        else if (slots)
            snprintf(path, sizeof path, "/meter/mix/%d", c->slot + 1);
        else
            snprintf(path, sizeof path, "/meter/mix/%s", c->name);
        pack_add(&p, path, mix_level(ms, id));
    }
    pack_flush(&p);
    if (p.b) // the list was full
        lo_bundle_free_recursive(p.b);
}

// A relayed meter lease: the sources (chunks shared by every relayed
// lease of that style), then one bundle of its own: /meter/mix/me, the
// musician's personal mix, and /meter/ch/me, their loudest channel.
static void send_relayed_meters(struct hub *h, const struct hub_graph *g, struct osc_lease *l)
{
    struct osc_feedback *o = h->osc->fb;
    const struct hub_client *c = h->slots[l->to.slot];
    if (!c || c->session != l->to.session || g->by_slot[c->slot] != c)
        return;
    struct osc_chunks *ch = &o->chunks[l->slots ? 1 : 0];
    if (!ch->built) { // the first relayed lease of this style in this tick
        struct meter_pack p = {NULL, 0, ch, NULL};
        meter_sources(h, g, l->slots, &p);
        pack_flush(&p);
        ch->built = 1;
    }
    for (unsigned i = 0; i < ch->n; i++)
        osc_relay_packet(h, &l->to, ch->data[i], ch->len[i]);
    struct meter_pack p = {NULL, 0, NULL, NULL}; // two short messages: one datagram
    pack_add(&p, "/meter/mix/me", mix_level(&o->meter, (unsigned)c->slot));
    float peak, sq;
    osc_client_level(h, c, &peak, &sq);
    add_level(&p, "/meter/ch/me", peak, sq, o->meter.frames);
    if (p.b && p.size <= BB_OSC_PACKET_MAX) {
        uint8_t buf[BB_OSC_PACKET_MAX];
        size_t len = 0;
        lo_bundle_serialise(p.b, buf, &len);
        osc_relay_packet(h, &l->to, buf, len);
    }
    if (p.b)
        lo_bundle_free_recursive(p.b);
}

static void send_meters(struct hub *h, uint64_t now)
{
    struct osc_feedback *o = h->osc->fb;
    const struct hub_graph *g = bb_snap_peek(&h->eng.graph);
    if (!g)
        return;
    struct meter_bundles *b = o->bundles;
    int built[2] = {0, 0};
    for (int k = 0; k < 2; k++)
        o->chunks[k].built = 0, o->chunks[k].n = 0, b[k].n = 0;
    char ln[OSC_HOST_MAX + 32];
    for (size_t i = 0; i < BB_ARRAY_LEN(o->leases); i++) {
        struct osc_lease *l = &o->leases[i];
        if (!l->used || l->meter_until <= now)
            continue;
        if (l->to.slot >= 0) {
            send_relayed_meters(h, g, l);
            continue;
        }
        int st = l->slots ? 1 : 0;
        if (!built[st]) {
            meter_bundles(h, g, st, &b[st]);
            built[st] = 1;
        }
        for (unsigned k = 0; k < b[st].n; k++)
            if (lo_send_bundle_from(l->to.addr, h->osc->srv, b[st].b[k]) < 0) {
                bb_debug("OSC: cannot send meters to %s: %s", lease_name(l, ln, sizeof ln),
                         lo_address_errstr(l->to.addr));
                break;
            }
    }
    for (int k = 0; k < 2; k++)
        for (unsigned i = 0; i < b[k].n; i++)
            lo_bundle_free_recursive(b[k].b[i]);
}

void hub_osc_tick(struct hub *h, uint64_t now)
{
    if (!h->osc)
        return;
    osc_server_tick(h, now);
    struct osc_feedback *o = h->osc->fb;
    if (o->fb_due_ns && now >= o->fb_due_ns)
        feedback_flush(h);
    if (now < o->next_meter_ns)
        return;
    o->next_meter_ns += OSC_METER_NS; // a steady rate, not "40 ms after we got round to it"
    if (o->next_meter_ns <= now)
        o->next_meter_ns = now + OSC_METER_NS;
    int meters = 0;
    char ln[OSC_HOST_MAX + 32];
    for (size_t i = 0; i < BB_ARRAY_LEN(o->leases); i++) {
        struct osc_lease *l = &o->leases[i];
        if (!l->used)
            continue;
        if (l->to.slot >= 0) {
            // A relayed lease ends with its musician's session.
            const struct hub_client *c = h->slots[l->to.slot];
            if (!c || c->session != l->to.session || c->state != HUB_CLIENT_ACTIVE) {
                bb_info("OSC controller %s: leases end (the musician left)",
                        lease_name(l, ln, sizeof ln));
                lease_drop(l);
                continue;
            }
        }
        if (l->fb_until && l->fb_until <= now) {
            bb_info("OSC controller %s: feedback lease expired", lease_name(l, ln, sizeof ln));
            l->fb_until = 0;
        }
        if (l->meter_until && l->meter_until <= now) {
            bb_info("OSC controller %s: meter lease expired", lease_name(l, ln, sizeof ln));
            l->meter_until = 0;
        }
        if (!l->fb_until && !l->meter_until)
            lease_drop(l);
        else
            meters |= l->meter_until != 0;
    }
    // Taken every tick, listened to or not, so a new subscriber's first
    // levels are as fresh as the others'.
    if (bb_meters_take(&h->eng.meters, &o->meter) && meters)
        send_meters(h, now);
}

