// SPDX-License-Identifier: GPL-2.0-or-later
// osc.h: the hub's OSC control surface (liblo), owned by the control thread.
// The address space is documented in bandbridge-osc(7).
#ifndef BB_OSC_H
#define BB_OSC_H

#include <stddef.h>

struct hub;

/// [ctl] Opens the OSC UDP server on h->osc_port (nothing when 0).
/// Returns 0 or -1 with err.
int  hub_osc_start(struct hub *h, char *err, size_t err_size);
void hub_osc_stop(struct hub *h);
/// [ctl] The server's socket for poll(), or -1.
int  hub_osc_fd(struct hub *h);
/// [ctl] Handles every pending OSC message without blocking.
void hub_osc_poll(struct hub *h);
/// [ctl] The musician list changed (join or leave).
void hub_osc_notify_clients(struct hub *h);

/// Fader law (0..1 to dB and back), the one X32 users know:
/// 0.75 is 0 dB, 1.0 is +10 dB, 0 is -inf.
float bb_fader_to_db(float pos);
float bb_db_to_fader(float db);

#endif
