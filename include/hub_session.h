// SPDX-License-Identifier: GPL-2.0-or-later
// hub_session.h: JOIN, LEAVE, relayed OSC and pings on the control thread
// (hub_session.c).
#ifndef BB_HUB_SESSION_H
#define BB_HUB_SESSION_H

#include "hub.h"

/// [ctl] Handles the datagrams the receive thread queued (h->events), 256 at
/// most; when more wait, the event fd is signalled again for the next turn.
void hub_session_drain(struct hub *h);
/// [ctl] Pings every active musician (round-trip time; keeps NATs open).
void hub_session_ping(struct hub *h, uint64_t now);
/// [ctl] Tells every musician the hub is going.
void hub_session_goodbye(struct hub *h);
/// Sends a LEAVE to a musician the client table drops for silence; to
/// register with hub_clients_observe().
extern const struct hub_clients_observer hub_session_observer;

#endif
