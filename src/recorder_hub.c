// SPDX-License-Identifier: GPL-2.0-or-later
// recorder_hub.c: the hub's control side of the take recorder and the
// click (recorder_hub.h). Control thread only.
//
// TRACKS. A track id is the source id of what it records (a musician's
// channel, a local input: the recorder's ids and the mixer's agree, so the
// callback writes rt_src[s] as track src_id[s]), then the main mix (two
// mono tracks) and the click. Local inputs and the main mix are open for
// the hub's life; a musician's channels open at join (a file aligned to
// the take, silence before) and close at leave; a musician who comes back
// under the same name continues the same file (recorder.h).
//
// RING. The recorder sizes its ring for every track at once; with 547
// possible tracks 3 s would be 300 MB. It gets 64 MiB instead, which is
// 0.6 s of all of them at 48 kHz but 35 s of twelve open ones: the ring
// holds what the writer is behind, and only open tracks write into it.
//
// CLICK LEVELS. Each mix's click gain is one atomic the callback ramps to
// (hub_rt.c: 5 ms, as the mixer's gains), by mix id. A musician's level is
// kept in their stored record (store.h, click_db) and comes back when they
// join again; it is off for a musician the hub has not met.
//
// CLICK SETTINGS. Tempo, metre, accent, level, the main mix's click level
// and whether the click is recorded are hub-wide settings in the store,
// restored when the hub starts. Whether the click is on is not: a hub that
// starts clicking by itself after a restart would surprise the band.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "click.h"
#include "hub.h"
#include "latency.h"
#include "log.h"
#include "osc_feedback.h"
#include "recorder.h"
#include "recorder_hub.h"
#include "store.h"

#define REC_RING_BYTES (64u << 20)
// A level the store keeps for "off" (settings are finite numbers).
#define CLICK_OFF_DB -1000.0

// [ctl] The module's state: one hub per process.
static struct {
    char     dir[4096];  ///< --record DIR; "" = off
    int      resume;     ///< a take was running when JACK went away
    char     label[64];  ///< the running take's label, for the take after a restart
    int      recording;  ///< last state told to the controllers
    float    main_db;    ///< the click in the main mix
} rs = {.main_db = -INFINITY};

int hub_rec_set_dir(const char *dir)
{
    if (!*dir || strlen(dir) >= sizeof rs.dir)
        return -1;
    snprintf(rs.dir, sizeof rs.dir, "%s", dir);
    return 0;
}

static float db_gain(float db)
{
    return db < -120.0f ? 0.0f : powf(10.0f, db / 20.0f);
}

static void open_track(struct hub *h, unsigned id, const char *name)
{
    if (!h->eng.rec)
        return;
    int rc = bb_recorder_track_open(h->eng.rec, id, name);
    if (rc < 0)
        bb_warn("recorder: cannot open the track %s: %s", name, strerror(-rc));
}

// The click's settings as the store kept them (CLICK SETTINGS above).
static void click_restore(struct hub *h)
{
    struct bb_click_settings s;
    bb_click_get(h->eng.click, &s);
    double v;
    int any = 0;
    if (bb_store_get_setting(h->store, "click.bpm", &v))
        s.bpm = v, any = 1;
    if (bb_store_get_setting(h->store, "click.beats", &v))
        s.beats_per_bar = v >= 1.0 && v <= BB_CLICK_BEATS_MAX ? (unsigned)v : 0, any = 1;
    if (bb_store_get_setting(h->store, "click.accent_db", &v))
        s.accent = v > 0.0, s.accent_db = (float)v, any = 1;
    if (bb_store_get_setting(h->store, "click.level_db", &v))
        s.level_db = (float)v, any = 1;
    if (any && bb_click_set(h->eng.click, &s) < 0)
        bb_warn("click: the stored settings are out of range (the database was edited?); the "
                "defaults stay");
    else if (any)
        bb_info("click: %.3g BPM, %u beats a bar, accent %+.1f dB, level %.1f dB (stored)", s.bpm,
                s.beats_per_bar, s.accent ? s.accent_db : 0.0f, s.level_db);
    if (bb_store_get_setting(h->store, "click.main_db", &v))
        hub_click_set_mix(h, NULL, v <= CLICK_OFF_DB ? -INFINITY : (float)v);
    if (bb_store_get_setting(h->store, "click.record", &v))
        hub_click_set_record(h, v >= 0.5);
}

void hub_click_save(struct hub *h)
{
    struct bb_click_settings s;
    bb_click_get(h->eng.click, &s);
    bb_store_put_setting(h->store, "click.bpm", s.bpm);
    bb_store_put_setting(h->store, "click.beats", s.beats_per_bar);
    bb_store_put_setting(h->store, "click.accent_db", s.accent ? s.accent_db : 0.0);
    bb_store_put_setting(h->store, "click.level_db", s.level_db);
    bb_store_put_setting(h->store, "click.record", hub_click_record(h));
}

int hub_rec_setup(struct hub *h, char *err, size_t err_size)
{
    struct hub_engine *e = &h->eng;
    e->click = bb_click_new(h->rate);
    if (!e->click) {
        snprintf(err, err_size, "click: out of memory");
        return -1;
    }
    if (!rs.dir[0]) {
        click_restore(h);
        return 0;
    }
    size_t per_ms = (size_t)h->rate / 1000 * HUB_TRACKS * sizeof(float);
    unsigned ring_ms = (unsigned)(REC_RING_BYTES / (per_ms ? per_ms : 1));
    struct bb_recorder_config cfg = {.dir = rs.dir, .rate = h->rate, .max_tracks = HUB_TRACKS,
                                     .ring_ms = ring_ms < 3000 ? ring_ms : 3000};
    e->rec = bb_recorder_new_config(&cfg, err, err_size);
    if (!e->rec)
        return -1;
    // bench/run_bench.sh (phase rec): the writer's lag under a slow disk.
    const char *slow = getenv("BANDBRIDGE_TEST_SLOW_DISK_US");
    if (slow && *slow)
        bb_recorder_test_slow_disk(e->rec, (unsigned)strtoul(slow, NULL, 10));
    char name[BB_NAME_MAX + 8];
    for (unsigned k = 0; k < h->local_inputs; k++)
        open_track(h, BB_SRC_LOCAL(k), hub_state_source_name(h, BB_SRC_LOCAL(k), name, sizeof name));
    open_track(h, HUB_TRACK_MAIN_L, "main_L");
    open_track(h, HUB_TRACK_MAIN_R, "main_R");
    bb_info("recording: takes go to %s (start one with OSC /record/start)", rs.dir);
    click_restore(h); // the click's own track too, when it is recorded
    return 0;
}

void hub_rec_free(struct hub *h)
{
    char msg[512];
    while (h->eng.rec && bb_recorder_message(h->eng.rec, msg, sizeof msg))
        bb_info("%s", msg);
    if (h->eng.rec) {
        struct bb_recorder_stats st;
        bb_recorder_stats(h->eng.rec, &st);
        if (st.recording)
            bb_info("recording: finishing take %u (its files padded to the same length and closed)",
                    st.take);
    }
    bb_recorder_free(h->eng.rec); // finishes a running take
    h->eng.rec = NULL;
    bb_click_free(h->eng.click);
    h->eng.click = NULL;
}

static void tell_state(struct hub *h)
{
    struct bb_recorder_stats st = {0};
    if (h->eng.rec)
        bb_recorder_stats(h->eng.rec, &st);
    rs.recording = st.recording;
    if (h->osc) // none with --osc-port 0, and none any more while shutting down
        osc_feedback_change(h, "/record", NULL, hub_rec_state_msg(h));
}

int hub_rec_start(struct hub *h, const char *label, const char **why)
{
    if (!h->eng.rec) {
        *why = "recording is off: start the hub with --record DIR";
        return -1;
    }
    int rc = bb_recorder_start_take(h->eng.rec, label);
    if (rc == -EBUSY) {
        *why = "a take is running: /record/stop first";
        return -1;
    }
    if (rc < 0) {
        *why = "the recorder's writer is behind (disk too slow?): try again";
        return -1;
    }
    snprintf(rs.label, sizeof rs.label, "%s", label ? label : "");
    rs.resume = 0;
    bb_info("recording: take started%s%s", rs.label[0] ? ": " : "", rs.label);
    tell_state(h);
    return 0;
}

int hub_rec_stop(struct hub *h, const char **why)
{
    if (!h->eng.rec) {
        *why = "recording is off: start the hub with --record DIR";
        return -1;
    }
    if (bb_recorder_stop(h->eng.rec) < 0) {
        *why = "the recorder's writer is behind (disk too slow?): try again";
        return -1;
    }
    rs.resume = 0;
    tell_state(h);
    return 0;
}

void hub_rec_jack(struct hub *h, int lost)
{
    if (!h->eng.rec)
        return;
    struct bb_recorder_stats st;
    bb_recorder_stats(h->eng.rec, &st);
    if (lost && st.recording) {
        bb_recorder_stop(h->eng.rec);
        rs.resume = 1;
        bb_warn("recording: the JACK server went away: take %u ends here; a new take starts "
                "when JACK is back", st.take);
    } else if (!lost && rs.resume) {
        const char *why = "";
        if (hub_rec_start(h, rs.label[0] ? rs.label : NULL, &why) == 0)
            bb_warn("recording: the JACK server restarted: this is a new take (the old "
                    "server's frame counter has nothing to do with the new one's)");
        else
            bb_err("recording: no new take after JACK's restart: %s", why);
    }
    tell_state(h);
}

void hub_rec_tick(struct hub *h)
{
    if (!h->eng.rec)
        return;
    char msg[512];
    while (bb_recorder_message(h->eng.rec, msg, sizeof msg))
        bb_info("%s", msg); // "recorder: ..."
    struct bb_recorder_stats st;
    bb_recorder_stats(h->eng.rec, &st);
    if ((int)st.recording != rs.recording)
        tell_state(h);
}

lo_message hub_rec_state_msg(struct hub *h)
{
    struct bb_recorder_stats st = {0};
    char dir[4096] = "";
    if (h->eng.rec) {
        bb_recorder_stats(h->eng.rec, &st);
        bb_recorder_take_dir(h->eng.rec, dir, sizeof dir);
    }
    lo_message m = lo_message_new();
    lo_message_add_int32(m, st.recording);
    lo_message_add_int32(m, (int32_t)st.take);
    lo_message_add_string(m, dir);
    lo_message_add_int64(m, (int64_t)st.frames_written);
    return m;
}

static void add_stat(lo_message m, const char *key, uint64_t v)
{
    lo_message_add_string(m, key);
    lo_message_add_int64(m, (int64_t)v);
}

void hub_rec_stats(struct hub *h, lo_message m)
{
    struct bb_recorder_stats st = {0};
    if (h->eng.rec)
        bb_recorder_stats(h->eng.rec, &st);
    add_stat(m, "rec_recording", st.recording);
    add_stat(m, "rec_take", st.take);
    add_stat(m, "rec_frames_written", st.frames_written);
    add_stat(m, "rec_frames_dropped", st.frames_dropped);
    add_stat(m, "rec_frames_lost", st.frames_lost);
    add_stat(m, "rec_disk_errors", st.disk_errors);
    add_stat(m, "rec_lag_frames", st.lag_frames);
    add_stat(m, "rec_max_lag_frames", st.max_lag_frames);
    add_stat(m, "rec_ring_fill_pct", st.ring_fill_pct);
}

void hub_rec_summary(struct hub *h, char *buf, size_t size)
{
    if (!h->eng.rec) {
        snprintf(buf, size, "recording off (serve --record DIR)");
        return;
    }
    struct bb_recorder_stats st;
    bb_recorder_stats(h->eng.rec, &st);
    char dir[4096];
    bb_recorder_take_dir(h->eng.rec, dir, sizeof dir);
    snprintf(buf, size, "%s take %u, %u files, %.1f s written, %llu dropped, %llu disk errors%s%s",
             st.recording ? "recording" : "stopped after", st.take, st.files_open,
             h->rate ? (double)st.frames_written / h->rate : 0.0,
             (unsigned long long)st.frames_dropped, (unsigned long long)st.disk_errors,
             dir[0] ? " in " : "", dir);
}

void hub_click_set_mix(struct hub *h, struct hub_client *mc, float db)
{
    if (db < -120.0f)
        db = -INFINITY;
    if (mc) {
        mc->click_db = db;
        if (mc->rec && mc->rec->click_db != db) { // kept with their mix
            mc->rec->click_db = db;
            hub_state_mark(h, mc);
        }
    } else {
        rs.main_db = db;
        bb_store_put_setting(h->store, "click.main_db", db > -120.0f ? db : CLICK_OFF_DB);
    }
    atomic_store_explicit(&h->eng.click_gain[mc ? (unsigned)mc->slot : BB_MIX_MAIN], db_gain(db),
                          memory_order_relaxed);
}

float hub_click_mix_db(struct hub *h, const struct hub_client *mc)
{
    (void)h;
    return mc ? mc->click_db : rs.main_db;
}

void hub_click_set_record(struct hub *h, int on)
{
    atomic_store_explicit(&h->eng.click_record, on, memory_order_relaxed);
    if (!h->eng.rec)
        return;
    if (on)
        open_track(h, HUB_TRACK_CLICK, "click");
    else
        bb_recorder_track_close(h->eng.rec, HUB_TRACK_CLICK);
}

int hub_click_record(struct hub *h)
{
    return atomic_load_explicit(&h->eng.click_record, memory_order_relaxed);
}

static void rec_joined(struct hub *h, struct hub_client *c, void *arg)
{
    (void)arg;
    // As they left it, or off for someone new.
    hub_click_set_mix(h, c, c->restored && c->rec ? c->rec->click_db : -INFINITY);
    char name[BB_NAME_MAX + 8];
    for (unsigned ch = 0; ch < c->channels; ch++) {
        unsigned id = BB_SRC_CLIENT(c->slot, ch);
        open_track(h, id, hub_state_source_name(h, (int)id, name, sizeof name));
    }
}

static void rec_leaving(struct hub *h, struct hub_client *c, enum hub_why why, void *arg)
{
    (void)why, (void)arg;
    atomic_store_explicit(&h->eng.click_gain[c->slot], 0.0f, memory_order_relaxed);
    if (h->eng.rec)
        for (unsigned ch = 0; ch < c->channels; ch++)
            bb_recorder_track_close(h->eng.rec, BB_SRC_CLIENT(c->slot, ch));
}

const struct hub_clients_observer hub_rec_observer = {.joined = rec_joined,
                                                      .leaving = rec_leaving};

// /status/latency after a musician's /status/client: the round trip
// (latency.h) from the depths measured at both ends: the hub's jitter
// buffer for the musician's stream, and the musician's for their mix, which
// their PONGs carry (bandbridge-wire(7)). Until their first PONG the hub's
// stands in for theirs, and the last field says -1.
lo_message hub_latency_msg(struct hub *h, const struct hub_client *c)
{
    unsigned jb = atomic_load(&c->st.jb.stats.fill);
    uint32_t peer = atomic_load(&c->st.peer_jb_fill);
    int known = peer != BB_STREAM_PEER_UNKNOWN;
    struct bb_latency l = {.rtt_ms = atomic_load(&c->st.rtt_us) / 1000.0, .rate = h->rate,
                           .period_musician = c->peer_period, .period_hub = h->period,
                           .jb_hub = jb, .jb_musician = known ? peer : jb,
                           .up = c->st.rx_codec, .down = c->st.tx_codec};
    lo_message m = lo_message_new();
    lo_message_add_int32(m, c->slot + 1);
    lo_message_add_string(m, c->name);
    lo_message_add_float(m, (float)l.rtt_ms);
    lo_message_add_int32(m, (int32_t)c->peer_period);
    lo_message_add_int32(m, (int32_t)h->period);
    lo_message_add_int32(m, (int32_t)jb);
    lo_message_add_int32(m, (int32_t)(bb_codec_delay(l.up) + bb_codec_delay(l.down)));
    lo_message_add_float(m, (float)bb_latency_ms(&l));
    lo_message_add_int32(m, known ? (int32_t)peer : -1);
    return m;
}


lo_message hub_click_value(struct hub *h, enum hub_click_param p)
{
    struct bb_click_settings s;
    bb_click_get(h->eng.click, &s);
    lo_message m = lo_message_new();
    switch (p) {
    case K_ON:
        lo_message_add_int32(m, s.on);
        break;
    case K_TEMPO:
        lo_message_add_float(m, (float)s.bpm);
        break;
    case K_BEATS:
        lo_message_add_int32(m, (int32_t)s.beats_per_bar);
        break;
    case K_ACCENT:
        lo_message_add_float(m, s.accent ? s.accent_db : 0.0f);
        break;
    case K_LEVEL:
        lo_message_add_float(m, s.level_db);
        break;
    case K_MAIN:
        lo_message_add_int32(m, hub_click_mix_db(h, NULL) > -120.0f);
        break;
    default:
        lo_message_add_int32(m, hub_click_record(h));
        break;
    }
    return m;
}
