// SPDX-License-Identifier: GPL-2.0-or-later
// osc.h: the hub's OSC control surface (liblo), owned by the control thread.
// The address space is documented in bandbridge-osc(7).
#ifndef BB_OSC_H
#define BB_OSC_H

#include <lo/lo.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fader.h"    // bb_fader_to_db, bb_db_to_fader
#include "osc_bind.h" // bb_osc_server_open

struct hub;
struct hub_client;

/// [ctl] Opens the OSC UDP server on h->osc_port (nothing when 0), on
/// h->osc_bind when set. Returns 0 or -1 with err.
int  hub_osc_start(struct hub *h, char *err, size_t err_size);
void hub_osc_stop(struct hub *h);
/// [ctl] The server's socket for poll(), or -1 (no OSC, or pacing: while
/// more than 500 messages a second arrive, the socket is read every 4 ms,
/// a batch per loop turn; hub_osc_due_ms() says when).
int  hub_osc_fd(struct hub *h, uint64_t now_ns);
/// [ctl] Handles every pending OSC message (up to 256) without blocking.
void hub_osc_poll(struct hub *h, uint64_t now_ns);
/// [ctl] Milliseconds until hub_osc_tick() has work (meters, lease
/// expiry), or -1 for none.
int  hub_osc_due_ms(struct hub *h, uint64_t now_ns);
/// [ctl] Expires leases and sends the meters when due.
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

/// [ctl] An OSC packet (a message or a bundle) from controller number
/// controller of musician c, relayed by their `bandbridge join
/// --osc-port` over the session: the caller has checked that it came from
/// c's address with c's live session. Handled like a message on the OSC
/// port, limited to c's own mix; answers go back over the session.
void hub_osc_relay(struct hub *h, struct hub_client *c, unsigned controller, const uint8_t *pkt,
                   size_t len);

/// "192.168.1.0/24" or "10.0.0.7" (a /32) to network and mask in host
/// order. Returns 0 or -1.
int hub_osc_parse_cidr(const char *s, uint32_t *net, uint32_t *mask);

/// Prints the address table (`bandbridge serve --osc-doc`).
void hub_osc_doc(FILE *f);

#endif
