// SPDX-License-Identifier: GPL-2.0-or-later
// session.h: the session around a stream, the same at hub and join.
//
// A session is a JOIN answered by a WELCOME (or a REJECT), kept alive by
// PINGs both ways and ended by a LEAVE answered by a LEAVE_ACK
// (bandbridge-wire(7)). This module writes every session datagram and
// holds the rules both ends must agree on: how often a peer pings, when it
// is taken for lost, which refusals are final. Datagrams are written into
// a caller's buffer and sent by the caller's socket; packet protection
// goes here, once for both ends.
#ifndef BB_SESSION_H
#define BB_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/// A connected join pings the hub this often (round-trip time, keepalive).
#define BB_SESSION_PING_NS     (250 * 1000000ull)
/// A join that heard nothing from its hub this long starts over.
#define BB_SESSION_HUB_LOST_NS (2000 * 1000000ull)
/// A LEAVE is repeated this often until its LEAVE_ACK, for at most
/// BB_SESSION_LEAVE_NS.
#define BB_SESSION_LEAVE_RETRY_NS (100 * 1000000ull)
#define BB_SESSION_LEAVE_NS       (500 * 1000000ull)

/// Each writes one datagram into buf (size bytes, BB_MAX_DATAGRAM is
/// always enough) and returns its length, or a negative bb_wire_status.
int bb_session_join(uint8_t *buf, size_t size, const struct bb_join *m);
int bb_session_welcome(uint8_t *buf, size_t size, uint32_t session, const struct bb_welcome *m);
int bb_session_reject(uint8_t *buf, size_t size, enum bb_reject_code code, const char *reason);
int bb_session_leave(uint8_t *buf, size_t size, uint32_t session, enum bb_leave_code code,
                     const char *reason);
int bb_session_leave_ack(uint8_t *buf, size_t size, uint32_t session, uint32_t seq);

/// Whether a join refused with code should give up: what retrying cannot
/// change (version, rate, name, codec, a malformed request). A full hub,
/// our own previous session or a code this version does not know are
/// worth waiting for.
int bb_session_reject_final(uint8_t code);

#endif
