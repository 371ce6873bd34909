// SPDX-License-Identifier: GPL-2.0-or-later
// join_session.c: the musician's session state machine (join_session.h).
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "join_session.h"
#include "keypair.h"
#include "latency.h"
#include "log.h"
#include "roomcache.h"
#include "session.h"

// A link that dropped (a Wi-Fi handover, a router restarting) comes back
// at a moment nobody knows: the musician is heard again as soon as a HELLO
// gets through after it, so after a lost hub one goes every REJOIN_FAST_MS
// (a datagram of a few dozen bytes) for REJOIN_FAST_S before the backoff
// takes over: with the backoff's steps (up to 2 s) the time back after an
// outage would be the timer's, not the link's.
#define REJOIN_FAST_MS 20
#define REJOIN_FAST_S  30

#define MS (1000000ull)
// When a hub that sends nothing is mentioned: the first time after a
// second (longer than a round trip across the world, shorter than a
// musician's patience), then every 5 s, and every 30 s after a minute.
#define NAG_FIRST_NS (1000 * MS)
#define NAG_LATER_NS (5000 * MS)
#define NAG_SLOW_NS  (30000 * MS)

static void stream_publish(struct join *j, struct join_stream *s)
{
    while (bb_snap_publish(&j->streams, s) == 0) {
        // Readers have not moved on from hundreds of streams: wait for them.
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

static void stream_free(void *obj)
{
    struct join_stream *s = obj;
    if (s->conv.on)
        join_conv_close(s);
    if (s->active)
        bb_stream_close(&s->st);
    free(s);
}

void join_session_streams_init(struct join *j)
{
    bb_snap_init(&j->streams, JOIN_READERS, stream_free);
    stream_publish(j, calloc(1, sizeof(struct join_stream)));
}

static struct join_stream *stream_new(struct join *j, uint32_t session,
                                      const struct bb_welcome *w, char *err, size_t err_size)
{
    enum bb_codec up = (enum bb_codec)w->up_codec;
    enum bb_codec down = (enum bb_codec)w->down_codec; // what we asked for, or an older hub's
    // The stream runs at the hub's rate; ours, if another, is converted here.
    if (w->down_channels != BB_MIX_CH || w->rate == 0 ||
        w->up_frames != bb_codec_wire_frames(up, w->rate, j->channels) ||
        w->down_frames != bb_codec_wire_frames(down, w->rate, BB_MIX_CH)) {
        snprintf(err, err_size, "the hub proposed a stream this version cannot play");
        return NULL;
    }
    struct join_stream *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    const struct bb_stream_config cfg = {
        .session = session,
        .rate = w->rate,
        .tx_codec = up,
        .tx_channels = j->channels,
        .tx_frames = w->up_frames,
        .kbps = j->kbps,
        .complexity = -1,
        .rx_codec = down,
        .rx_channels = BB_MIX_CH,
        .rx_frames = w->down_frames,
        .jitter = j->jitter,
        .drift_comp = j->drift_comp,
    };
    if (bb_stream_open(&s->st, &cfg, err, err_size) < 0) {
        free(s);
        return NULL;
    }
    s->active = 1;
    if (w->rate != j->rate && join_conv_open(s, j->rate, w->rate, j->period, err, err_size) < 0) {
        stream_free(s);
        return NULL;
    }
    return s;
}

static void send_join(struct join *j)
{
    struct bb_join m = {
        .rate = j->rate,
        .period = (uint16_t)j->period,
        .channels = (uint8_t)j->channels,
        .codec = (uint8_t)j->codec,
        .down_codec = (uint8_t)(j->down_codec != j->codec ? j->down_codec : 0),
        // bb_decode plays one-block Opus payloads; join_conv.c converts our
        // rate to the hub's (a hub that does not know the flag refuses
        // another rate, as before).
        .flags = BB_JOIN_MONO_OK | BB_JOIN_RESAMPLE,
        .kbps = (uint16_t)j->kbps,
        .jitter = (uint16_t)(j->jitter == BB_JBUF_AUTO ? 0xFFFF : j->jitter),
    };
    // The identity is the key pair the handshake signs with; this field
    // carries the old identity token, once, to link what the hub stored
    // under it (keypair.h), else zeros.
    if (j->have_old_identity)
        memcpy(m.identity, j->identity, BB_IDENTITY_SIZE);
    snprintf(m.name, sizeof m.name, "%s", j->name);
    uint8_t buf[BB_MAX_DATAGRAM];
    join_net_send(j, buf, bb_session_join(j->hs, buf, sizeof buf, &m));
}

static void send_hello(struct join *j)
{
    uint8_t buf[BB_MAX_DATAGRAM];
    join_net_send(j, buf, bb_session_hello(j->hs, buf, sizeof buf));
}

static void send_leave(struct join *j, struct join_stream *s)
{
    uint8_t buf[BB_MAX_SEALED];
    join_net_send(j, buf, bb_session_leave(&s->st, buf, sizeof buf, BB_LEAVE_QUIT, "musician quit"));
}

// ---------------------------------------------------------------- transitions

static void to_done(struct join_session *ss, int status)
{
    ss->state = JOIN_DONE;
    ss->status = status;
}

/// Back to JOINING after a session ended (hub lost, or ended by the hub):
/// the stream goes idle (silence) and JOIN is tried again after retry_ns.
static void to_rejoining(struct join *j, struct join_session *ss, uint64_t retry_ns)
{
    uint64_t now = bb_now_ns();
    ss->answered = 0;
    ss->silent_since_ns = now;
    ss->next_nag_ns = now + NAG_LATER_NS; // "lost the hub" was just said
    j->osc_session = 0;
    j->osc_st = NULL;
    stream_publish(j, calloc(1, sizeof(struct join_stream)));
    ss->cur = NULL;
    ss->state = JOIN_JOINING;
    ss->tries = 0;
    ss->have_cookie = 0; // a new handshake: fresh ephemeral keys
    ss->join_tries = 0;
    ss->retry_ns = retry_ns;
    ss->next_send_ns = now + retry_ns;
}

static void to_leaving(struct join *j, struct join_session *ss)
{
    ss->state = JOIN_LEAVING;
    j->osc_session = 0;
    j->osc_st = NULL;
    ss->leave_deadline_ns = bb_now_ns() + BB_SESSION_LEAVE_NS;
    ss->next_send_ns = 0;
}

static unsigned hub_period; // [ctl] the hub's JACK period, from the last WELCOME

// [ctl] The room key kept across runs (roomcache.h): its file for this
// hub (cache_path[0] == 0: none), and the salt whose key is in it.
static char    cache_path[4200];
static int     cache_tried;
static uint8_t cache_salt[BB_HS_SALT_SIZE];
static int     cache_has;

static const char *room_cache_path(struct join *j)
{
    if (!cache_tried) {
        char as[80];
        cache_tried = 1;
        if (bb_roomcache_path(bb_addr_str(&j->hub, as, sizeof as), cache_path,
                              sizeof cache_path) < 0)
            cache_path[0] = '\0';
    }
    return cache_path[0] ? cache_path : NULL;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/// Before a COOKIE's salt costs Argon2id: the key kept by an earlier run
/// for this hub, salt, limits and password, if there is one. 1 if used.
static int room_from_cache(struct join *j, const uint8_t *buf, size_t len)
{
    struct bb_hs_client *hs = j->hs;
    const char *path = room_cache_path(j);
    if (!path || len != BB_WIRE_HEADER_SIZE + BB_HS_COOKIE_MSG_SIZE || hs->join_sent)
        return 0;
    const uint8_t *b = buf + BB_WIRE_HEADER_SIZE, *salt = b + 64; // handshake.h: COOKIE
    uint32_t ops = le32(b + 80), mem = le32(b + 84);
    if (hs->room_ok && memcmp(hs->room.salt, salt, BB_HS_SALT_SIZE) == 0 &&
        hs->room.opslimit == ops && hs->room.memlimit_kib == mem)
        return 0; // this run has it
    struct bb_room r;
    if (!bb_roomcache_load(path, hs->password, salt, ops, mem, &r))
        return 0;
    bb_hs_client_set_room(hs, &r);
    sodium_memzero(&r, sizeof r);
    memcpy(cache_salt, salt, sizeof cache_salt);
    cache_has = 1;
    return 1;
}

/// After a WELCOME opened: the room key is the hub's; kept for the next run.
static void room_to_cache(struct join *j)
{
    const struct bb_hs_client *hs = j->hs;
    const char *path = room_cache_path(j);
    if (!path || !hs->room_ok ||
        (cache_has && memcmp(cache_salt, hs->room.salt, sizeof cache_salt) == 0))
        return;
    memcpy(cache_salt, hs->room.salt, sizeof cache_salt);
    cache_has = 1;
    if (bb_roomcache_save(path, hs->password, &hs->room) < 0)
        bb_warn("cannot keep the room key in %s: %s (the next run derives it again)", path,
                strerror(errno));
    else
        bb_debug("room key kept in %s", path);
}

static void on_cookie(struct join *j, struct join_session *ss, const uint8_t *buf, size_t len)
{
    if (ss->have_cookie)
        return;
    // May derive K_room (Argon2id, ~0.2 s of CPU) for a salt not seen yet,
    // unless an earlier run kept it.
    uint64_t t0 = bb_now_ns();
    int cached = room_from_cache(j, buf, len);
    int rc = bb_session_on_cookie(j->hs, buf, len);
    if (rc < 0) {
        if (rc != BB_HS_STATE)
            bb_warn("the hub's cookie is unusable: %s", bb_hs_strerror(rc));
        return;
    }
    ss->have_cookie = 1;
    ss->join_tries = 0;
    ss->next_send_ns = 0; // the JOIN at once
    // The time from here to the hub's WELCOME is the network's and the
    // hub's; what came before, the password's.
    bb_info("the hub answered; asking to join (room key ready in %.0f ms%s)",
            (double)(bb_now_ns() - t0) / 1e6, cached ? ", kept from an earlier run" : "");
}

/// An identity file of an older bandbridge was presented in the JOIN
/// (keypair.h) and the hub's WELCOME says it restored what it stored, now
/// under our key: the old file has done its work and is renamed
/// (<file>.migrated), so it is not sent again. A hub that stored nothing
/// for us leaves it, for another hub that may have.
static void retire_old_identity(struct join *j, const struct bb_welcome *w)
{
    char err[300];
    if (!j->have_old_identity || !w->restored)
        return;
    j->have_old_identity = 0;
    sodium_memzero(j->identity, sizeof j->identity);
    if (bb_keypair_retire_old(j->identity_path, err, sizeof err) < 0)
        bb_warn("identity: %s", err);
    else
        bb_info("identity: the hub moved what it stored under %s to our key (%s); the old "
                "file is now %s.migrated", j->identity_path, j->key_path, j->identity_path);
}

static void on_welcome(struct join *j, struct join_session *ss, const struct bb_header *hd,
                       const uint8_t *buf, size_t len)
{
    struct bb_welcome w;
    struct bb_hs_keys keys;
    char err[300];
    // Only the hub that read our last JOIN (it knows the room password)
    // can make one that opens; anything else is ignored.
    if (bb_session_on_welcome(j->hs, buf, len, &w, &keys) < 0)
        return;
    hub_period = w.period; // for -v's latency estimate
    struct join_stream *s = stream_new(j, hd->session, &w, err, sizeof err);
    if (!s) {
        bb_hs_keys_wipe(&keys);
        bb_err("%s", err);
        to_done(ss, 1);
        return;
    }
    bb_stream_set_keys(&s->st, keys.cipher, keys.c2h, keys.h2c); // before the stream is published
    bb_hs_keys_wipe(&keys);
    room_to_cache(j);
    ss->session = hd->session;
    j->osc_session = hd->session;
    j->osc_st = &s->st;
    if (ss->refused) // a refusal to retry (or a hint, or made up): we are in now
        ss->status = 0;
    ss->refused = ss->bad_password = 0;
    atomic_store(&j->last_heard_ns, bb_now_ns());
    stream_publish(j, s);
    ss->cur = s;
    ss->reported_first = 0;
    ss->state = JOIN_CONNECTED;
    ss->ever_joined = 1;
    ss->next_send_ns = 0; // a PING at once: the hub sends the mix after our first sealed datagram
    ss->warned = 0;
    retire_old_identity(j, &w);
    const struct bb_stream *st = &s->st;
    int two = st->rx_codec != st->tx_codec;
    char cs[48];
    snprintf(cs, sizeof cs, "%s%s%s", bb_codec_name(st->tx_codec), two ? " up, " : "",
             two ? bb_codec_name(st->rx_codec) : "");
    bb_info("joined as '%s': %s%s, %u frames per packet up, %u down; hub at %u Hz, period %u%s%s%s",
            w.name, cs, two ? " back" : "", st->tx_frames, st->rx_frames, w.rate, w.period,
            s->conv.on ? " (converted from and to ours)" : "", st->sealed ? "; sealed with " : "",
            st->sealed ? bb_seal_cipher_name(st->seal_tx.cipher) : "");
}

static void on_reject(struct join *j, struct join_session *ss, const uint8_t *buf, size_t len)
{
    struct bb_reject r;
    int auth = bb_session_on_reject(j->hs, buf, len, &r);
    if (auth < 0)
        return;
    if (!auth) {
        // Cleartext: the hub could not read our JOIN (a wrong password), or
        // anyone who sees our packets made it up. Never final.
        if (!ss->bad_password)
            bb_err("the hub refused: %s (unauthenticated). Is the room password right? "
                   "(--password-file FILE or BANDBRIDGE_PASSWORD); retrying", r.reason);
        ss->bad_password = ss->refused = 1;
        ss->status = 1;
    } else if (bb_session_reject_final(r.code)) {
        bb_err("the hub refused: %s", r.reason);
        to_done(ss, 1);
        return;
    } else {
        // Worth retrying (the hub full, the name taken: the other musician
        // may leave); a run that ends (--seconds) before we got in failed.
        if (!ss->warned)
            bb_warn("the hub refused: %s; retrying", r.reason);
        ss->warned = 1;
        ss->refused = 1; // status 1 unless we get in after all
        ss->status = 1;
    }
    if (ss->retry_ns < 1000 * MS)
        ss->retry_ns = 1000 * MS;
    ss->next_send_ns = bb_now_ns() + ss->retry_ns;
}

static void on_hub_leave(struct join *j, struct join_session *ss, const struct bb_header *hd,
                         const uint8_t *buf, size_t len)
{
    struct bb_leave l;
    if (bb_wire_read_leave(buf, len, &l) != BB_WIRE_OK)
        return;
    uint8_t ack[BB_MAX_SEALED];
    join_net_send(j, ack, bb_session_leave_ack(&ss->cur->st, ack, sizeof ack, hd->seq));
    bb_warn("the hub ended the session: %s; reconnecting", l.reason);
    to_rejoining(j, ss, 500 * MS);
}

// ---------------------------------------------------------------- entry points

void join_session_begin(struct join *j, struct join_session *ss)
{
    memset(ss, 0, sizeof *ss);
    ss->state = JOIN_JOINING;
    ss->start_ns = bb_now_ns();
    ss->next_send_ns = ss->start_ns;
    ss->retry_ns = 200 * MS;
    ss->next_report_ns = ss->start_ns + 1000 * MS;
    ss->silent_since_ns = ss->start_ns;
    ss->next_nag_ns = ss->start_ns + NAG_FIRST_NS;
    bb_addr_str(&j->hub, ss->hub_str, sizeof ss->hub_str);
}

void join_session_event(struct join *j, struct join_session *ss, const uint8_t *buf, size_t len)
{
    struct bb_header hd;
    if (bb_wire_parse_header(buf, len, &hd) != BB_WIRE_OK)
        return;
    int ours = hd.session == ss->session;
    if (ss->state == JOIN_JOINING)
        ss->answered = 1; // whatever it says, something answers there
    if (hd.type == BB_MSG_COOKIE && ss->state == JOIN_JOINING)
        on_cookie(j, ss, buf, len);
    else if (hd.type == BB_MSG_WELCOME && ss->state == JOIN_JOINING)
        on_welcome(j, ss, &hd, buf, len);
    else if (hd.type == BB_MSG_REJECT && ss->state == JOIN_JOINING)
        on_reject(j, ss, buf, len);
    else if (hd.type == BB_MSG_LEAVE && ours && ss->state == JOIN_CONNECTED)
        on_hub_leave(j, ss, &hd, buf, len);
    else if (hd.type == BB_MSG_LEAVE_ACK && ss->state == JOIN_LEAVING)
        to_done(ss, ss->status);
    else if (hd.type == BB_MSG_OSC && ours && ss->state == JOIN_CONNECTED)
        join_osc_from_hub(j, buf, len);
}

void join_session_quit(struct join *j, struct join_session *ss)
{
    if (ss->state != JOIN_CONNECTED) {
        to_done(ss, ss->status);
        return;
    }
    bb_info("leaving the hub");
    to_leaving(j, ss);
}

void join_session_jack_gone(struct join *j, struct join_session *ss)
{
    bb_err("the JACK server went away; leaving the hub");
    if (ss->state == JOIN_CONNECTED)
        for (int rep = 0; rep < 3; rep++)
            send_leave(j, ss->cur);
    to_done(ss, 1);
}

// [ctl] JOIN, PING or LEAVE, whichever the state sends, when due.
static void send_due(struct join *j, struct join_session *ss, uint64_t now)
{
    if (now < ss->next_send_ns)
        return;
    switch (ss->state) {
    case JOIN_JOINING:
        if (ss->tries == 0)
            ss->asked_ns = now;
        // A cookie whose JOINs go unanswered may be stale (a restarted
        // hub): start over with a HELLO.
        if (ss->have_cookie && ss->join_tries >= 8)
            ss->have_cookie = 0;
        if (ss->have_cookie) {
            send_join(j);
            ss->join_tries++;
        } else {
            send_hello(j);
        }
        if (now < ss->fast_until_ns)
            ss->retry_ns = REJOIN_FAST_MS * MS;
        else if (ss->tries >= 5 && ss->retry_ns < 2000 * MS)
            ss->retry_ns = ss->retry_ns * 3 / 2;
        ss->next_send_ns = now + ss->retry_ns;
        break;
    case JOIN_CONNECTED: {
        uint8_t buf[BB_STREAM_REPLY_SIZE];
        join_net_send(j, buf, bb_stream_ping(&ss->cur->st, buf, sizeof buf, now));
        ss->next_send_ns = now + BB_SESSION_PING_NS;
        break;
    }
    case JOIN_LEAVING:
        if (now >= ss->leave_deadline_ns) {
            to_done(ss, ss->status);
            return;
        }
        send_leave(j, ss->cur);
        ss->next_send_ns = now + BB_SESSION_LEAVE_RETRY_NS;
        break;
    case JOIN_DONE:
        break;
    }
}

// [ctl] What -v and the first sound say about the connected stream.
static void report(const struct join *j, struct join_session *ss, uint64_t now)
{
    struct join_stream *s = ss->cur;
    uint64_t first = atomic_load(&s->st.first_audio_ns);
    if (!ss->reported_first && first) {
        // How long a (re)join takes until the musician hears the band.
        bb_info("hearing the mix %.1f ms after asking to join", (double)(first - ss->asked_ns) / 1e6);
        ss->reported_first = 1;
    }
    if (now >= ss->next_report_ns) {
        char jb[256];
        bb_jbuf_stats_text(&s->st.jb.stats, jb, sizeof jb);
        bb_debug("mix from the hub: %s skipped cycles %llu", jb,
                 (unsigned long long)atomic_load(&s->skipped_cycles));
        // bandbridge(1), LATENCY: the hub's jitter buffer for our stream
        // as its last PONG measured it (ours stands in until one came).
        unsigned fill = atomic_load(&s->st.jb.stats.fill);
        uint32_t hub_fill = atomic_load(&s->st.peer_jb_fill);
        int known = hub_fill != BB_STREAM_PEER_UNKNOWN;
        struct bb_latency l = {.rtt_ms = atomic_load(&s->st.rtt_us) / 1000.0, .rate = j->rate,
                               .period_musician = j->period, .period_hub = hub_period,
                               .jb_hub = known ? hub_fill : fill, .jb_musician = fill,
                               .up = s->st.tx_codec, .down = s->st.rx_codec};
        bb_debug("round trip about %.1f ms (rtt %.1f ms, periods %u+%u, jitter buffers hub %u%s + "
                 "ours %u)",
                 bb_latency_ms(&l), l.rtt_ms, j->period, hub_period, l.jb_hub,
                 known ? "" : " (no PONG yet: ours)", fill);
        ss->next_report_ns = now + 1000 * MS;
    }
}

// [ctl] Nothing at all from the hub yet in this attempt: says so, with
// what usually causes it, now and then (NAG_*).
static void nag_silence(const struct join *j, struct join_session *ss, uint64_t now)
{
    if (ss->state != JOIN_JOINING || ss->answered || now < ss->next_nag_ns)
        return;
    const struct sockaddr_storage *a = &j->hub.ss;
    unsigned port = ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
                                                   : ((const struct sockaddr_in *)a)->sin_port);
    double waited = (double)(now - ss->silent_since_ns) / 1e9;
    bb_warn("no answer from the hub at %s for %.0f s: is the hub running? is UDP port %u "
            "forwarded to it by its router and open in its firewall? is the address right "
            "(HOST:PORT)? still trying",
            ss->hub_str, waited, port);
    ss->next_nag_ns = now + (waited < 60 ? NAG_LATER_NS : NAG_SLOW_NS);
}

// [ctl] --seconds ran out: leave, or, never having got in, stop with
// status 1 (refused) or 3 (never let in, no refusal); bandbridge(1), EXIT STATUS.
static void time_up(struct join *j, struct join_session *ss)
{
    if (ss->state == JOIN_CONNECTED) {
        to_leaving(j, ss);
        return;
    }
    if (ss->ever_joined) {
        to_done(ss, ss->status);
        return;
    }
    bb_err("--seconds ran out and the hub at %s never let us in (%s)", ss->hub_str,
           ss->refused ? "it refused" : ss->answered ? "no welcome" : "no answer");
    to_done(ss, ss->refused ? 1 : 3);
}

int join_session_tick(struct join *j, struct join_session *ss)
{
    uint64_t now = bb_now_ns();
    if (j->run_seconds > 0 && (ss->state == JOIN_JOINING || ss->state == JOIN_CONNECTED) &&
        now - ss->start_ns > (uint64_t)(j->run_seconds * 1e9))
        time_up(j, ss);
    nag_silence(j, ss, now);
    send_due(j, ss, now);
    if (ss->state == JOIN_CONNECTED) {
        report(j, ss, now);
        uint64_t heard = atomic_load(&j->last_heard_ns); // may be later than now
        if (heard < now && now - heard > BB_SESSION_HUB_LOST_NS) {
            bb_warn("lost the hub (nothing heard for 2 s); reconnecting");
            to_rejoining(j, ss, 0);
            ss->retry_ns = REJOIN_FAST_MS * MS;
            ss->fast_until_ns = now + REJOIN_FAST_S * 1000 * MS;
        }
    }
    if (ss->state == JOIN_DONE)
        return 0;
    int timeout = ss->next_send_ns > now ? (int)((ss->next_send_ns - now) / MS) + 1 : 0;
    return timeout > 100 ? 100 : timeout;
}
