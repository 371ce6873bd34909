// SPDX-License-Identifier: GPL-2.0-or-later
// osc_feedback.h: what the hub tells its OSC controllers unasked, owned by
// the control thread: leases (/subscribe, /meters/subscribe), every change
// fed back (coalesced), musician notices, and meters.
//
// Feedback works like the X32's /xremote: a controller registers for a
// lease of a few seconds and renews it; the lease is keyed by IP address
// and reply port (given, or the port the message came from: many tablet
// apps do not listen on the port they send from), or, for a musician's own
// controller, by slot, session and controller number. A lease taken with
// the style "slots" is fed musicians and mixes by slot number, so a widget
// at /mix/2/ch/3/fader moves when someone sets /mix/bob/ch/carol/gain.
#ifndef BB_OSC_FEEDBACK_H
#define BB_OSC_FEEDBACK_H

#include <lo/lo.h>
#include <stdint.h>

#include "osc_server.h"

#define OSC_LEASE_DEF    10 ///< seconds, as the X32's /xremote
#define OSC_LEASE_MAX    60
#define OSC_MAX_LEASES   16 ///< controllers on the OSC port registered at once
#define OSC_RELAY_LEASES 128 ///< relayed controllers registered at once
#define OSC_RELAY_PER_MUSICIAN 8 ///< ... of one musician

// ---- the hub's calls (hub.c) [ctl] ---------------------------------------

/// [ctl] Expires leases, sends the changes waiting and the meters when due.
void hub_osc_tick(struct hub *h, uint64_t now_ns);
/// [ctl] Musician name (in slot, 0-based) joined (joined = 1) or left (0):
/// tells every registered controller (/clients, /joined or /left, and
/// /slot/<n>/name to those that use slot numbers).
void hub_osc_notify_clients(struct hub *h, int slot, const char *name, int joined);
/// [ctl] The musician in slot (0-based) was renamed from old to name:
/// tells every registered controller, relayed ones included (/renamed
/// s:old s:new, /clients, and /slot/<n>/name to those that use slot
/// numbers), after the changes still waiting to be fed back.
void hub_osc_notify_renamed(struct hub *h, int slot, const char *old, const char *name);

// ---- for osc_server.c and osc_api.c [ctl] --------------------------------

/// The feedback state (no lease, nothing waiting), meters first due one
/// period after now; NULL when out of memory.
struct osc_feedback *osc_feedback_new(uint64_t now_ns);
void                 osc_feedback_free(struct osc_feedback *fb);
/// When hub_osc_tick() has work next (meters, or changes waiting).
uint64_t             osc_feedback_due_ns(const struct osc_feedback *fb);

/// A change, to every controller on the OSC port with a live feedback
/// lease: on path, or on slot_path for those of the style "slots" (NULL:
/// path). Coalesced: a later change of the same path replaces it, and all
/// go out ~30 times a second. Takes m.
void osc_feedback_change(struct hub *h, const char *path, const char *slot_path, lo_message m);
/// A change of parameter param of a source in mc's personal mix, to mc's
/// own (relayed) controllers: /mix/me/ch/<source>/<param>, the source as
/// name_src or slot_src (by the lease's style), and again as me (me_k)
/// when me is not "". m is not freed.
void osc_feedback_own_mix(struct hub *h, const struct hub_client *mc, const char *name_src,
                          const char *slot_src, const char *me, const char *param, lo_message m);

/// /subscribe (meters 0) or /meters/subscribe (1) from src: takes or
/// renews its lease for secs seconds with replies to port (src's
/// controller when relayed) and style slots (-1: unchanged), and answers;
/// or answers /error on path. A UDP reply port that has not shown it
/// receives (osc_verified) gets only /cookie i:COOKIE, and no lease.
void osc_subscribe(struct hub *h, const struct osc_src *src, const char *path, int secs,
                   uint16_t port, int slots, int meters);
/// /unsubscribe (both leases) or /meters/unsubscribe (meters 1).
void osc_unsubscribe(struct hub *h, const struct osc_src *src, const char *path, uint16_t port,
                     int meters);

/// A new /clients message: the names of the connected musicians.
lo_message osc_clients_msg(struct hub *h);
/// /slot/<slot+1>/name s:name ("" for an empty slot) to one controller.
void osc_send_slot_name(struct hub *h, const struct osc_peer *to, int slot);
/// The loudest of musician c's channels in the last meter snapshot
/// (linear peak and mean square).
void osc_client_level(const struct hub *h, const struct hub_client *c, float *peak, float *sq);

#endif
