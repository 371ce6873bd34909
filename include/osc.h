// SPDX-License-Identifier: GPL-2.0-or-later
// osc.h: the hub's OSC control surface (liblo), owned by the control
// thread, for hub.c: every function it calls, from the headers of the
// modules that define them. The address space is documented in
// bandbridge-osc(7).
//
//   osc.h         hub_osc_start, _stop, _due_ms: the three put together (osc.c)
//   osc_server.h  hub_osc_fd, _poll, _relay, hub_osc_parse_cidr: transport,
//                 access, relayed controllers
//   osc_feedback.h hub_osc_tick, _notify_clients, _notify_renamed: leases,
//                 feedback, meters
//   osc_api.h     hub_osc_doc: the address table and its handlers
//   osc_bind.h    bb_osc_server_open (join links it alone)
//   fader.h       bb_fader_to_db, bb_db_to_fader
#ifndef BB_OSC_H
#define BB_OSC_H

#include "fader.h"
#include "osc_api.h"
#include "osc_bind.h"
#include "osc_feedback.h"
#include "osc_server.h"

struct hub;

/// [ctl] Opens the OSC port (nothing when h->osc_port is 0): the server
/// with the address table as its dispatcher, and the feedback. Returns 0
/// or -1 with err.
int  hub_osc_start(struct hub *h, char *err, size_t err_size);
void hub_osc_stop(struct hub *h);
/// [ctl] Milliseconds until hub_osc_tick() has work (meters, lease
/// expiry, feedback), or until the socket is read again; -1 for none.
int  hub_osc_due_ms(struct hub *h, uint64_t now_ns);

#endif
