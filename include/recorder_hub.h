// SPDX-License-Identifier: GPL-2.0-or-later
// recorder_hub.h: the hub's control side of the take recorder (recorder.h)
// and the click (click.h): options, takes, tracks as musicians come and
// go, per-mix click levels, and what OSC and the log are told. Everything
// here runs on the control thread [ctl]; the process callback (hub_rt.c)
// sees only the engine's fields (hub_engine.h).
#ifndef BB_RECORDER_HUB_H
#define BB_RECORDER_HUB_H

#include <lo/lo.h>
#include <stddef.h>

#include "hub.h"

/// `serve --record DIR`: where takes go. Returns -1 for a name too long.
int  hub_rec_set_dir(const char *dir);
/// After the JACK client is open (the rate is known), before it is
/// activated: the click, and with --record the recorder with a track for
/// every local input and the main mix. Returns 0, or -1 with err.
int  hub_rec_setup(struct hub *h, char *err, size_t err_size);
/// After the JACK client closed: frees both (a running take is finished).
void hub_rec_free(struct hub *h);

/// Starts a take (label may be NULL). Returns 0, or -1 with *why.
int  hub_rec_start(struct hub *h, const char *label, const char **why);
/// Ends the take. Returns 0, or -1 with *why.
int  hub_rec_stop(struct hub *h, const char **why);
/// The JACK server went away (lost 1) or is back (0): a take ends with
/// the old server and a new one starts with the new (their frame counters
/// have nothing to do with each other).
void hub_rec_jack(struct hub *h, int lost);
/// Once a second: the writer's messages to the log, and a change of the
/// recording state to the controllers.
void hub_rec_tick(struct hub *h);
/// /record's answer: i:recording i:take s:dir h:frames_written.
lo_message hub_rec_state_msg(struct hub *h);
/// The recorder's counters as /stats keys (rec_*), appended to m.
void hub_rec_stats(struct hub *h, lo_message m);
/// One line for a log or a status: "recording take 3 (12.5 s) in DIR", ...
void hub_rec_summary(struct hub *h, char *buf, size_t size);

/// The click in mc's mix (NULL: the main mix) at db (-inf: off).
void  hub_click_set_mix(struct hub *h, struct hub_client *mc, float db);
float hub_click_mix_db(struct hub *h, const struct hub_client *mc);
/// The click is recorded as a track of its own (from the next take on
/// when none is running).
void  hub_click_set_record(struct hub *h, int on);
int   hub_click_record(struct hub *h);
/// The click's settings (tempo, metre, accent, level, recorded) into the
/// store, after a change; restored by hub_rec_setup. A mix's level is
/// stored by hub_click_set_mix.
void  hub_click_save(struct hub *h);

/// The click's settings as OSC /click/<...> carries them.
enum hub_click_param { K_ON, K_TEMPO, K_BEATS, K_ACCENT, K_LEVEL, K_MAIN, K_RECORD };
/// A new message with the value of click setting p.
lo_message hub_click_value(struct hub *h, enum hub_click_param p);
/// A new /status/latency message for musician c (latency.h).
lo_message hub_latency_msg(struct hub *h, const struct hub_client *c);

/// Opens and closes a musician's recorder tracks and their mix's click
/// level as they join and leave (hub_clients_observe).
extern const struct hub_clients_observer hub_rec_observer;

#endif
